-- Revision 1: the whole mail store.
--
-- Every per-user table leads its keys with user_id (bigint) so the store can be
-- hash-partitioned by user or distributed with Citus (schema/README.md). The
-- exceptions are the routing tables read before a user is known (users' login
-- index, aliases) and the content-addressed bodyparts, keyed by their SHA-256.
--
-- This file runs as the owner role (aoxsuper); privileges for the runtime role
-- come from schema/privileges, never from GRANTs here.

CREATE TABLE mailstore (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    revision integer NOT NULL
);
INSERT INTO mailstore (revision) VALUES (0);

-- Users. Secrets are an argon2id PHC string (for PLAIN/LOGIN) and a SCRAM-SHA-256
-- verifier (SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>, PostgreSQL's own
-- format). Neither can be replayed by a client. NULL secrets mean "no local
-- password" (LDAP users), never "any password".
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login citext NOT NULL UNIQUE,
    password_hash text,
    scram_verifier text,
    ldap_dn text,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    CHECK (scram_verifier IS NULL OR scram_verifier LIKE 'SCRAM-SHA-256$%')
);

-- UIDVALIDITY values come from one sequence seeded with the install time, so a
-- mailbox (or a whole user) deleted and re-created never repeats one, even
-- within a second (RFC 9051 §2.3.1.1).
CREATE SEQUENCE mailbox_uidvalidity AS bigint MINVALUE 1 MAXVALUE 4294967295;
SELECT setval('mailbox_uidvalidity', extract(epoch FROM now())::bigint);

-- Mailboxes, with every counter STATUS and SELECT need (O(1) STATUS). The row is
-- also the lock object that orders modseqs in commit order; writers take it last.
-- Rows are never removed: a deleted mailbox keeps its uidnext/uidvalidity so a
-- mailbox re-created under the same name never reuses a UID (RFC 9051 §2.3.1.1).
-- A subscription to a name that does not exist is a deleted row with subscribed.
CREATE TABLE mailboxes (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    uidvalidity bigint NOT NULL DEFAULT nextval('mailbox_uidvalidity') CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uidnext bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
    highest_modseq bigint NOT NULL DEFAULT 1 CHECK (highest_modseq >= 1),
    -- changes with modseq <= this were pruned from mailbox_changes; a client
    -- resyncing from before it gets a full resync, never a silent miss.
    changes_pruned_to bigint NOT NULL DEFAULT 0,
    first_recent bigint NOT NULL DEFAULT 1,
    message_count bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    unseen_count bigint NOT NULL DEFAULT 0 CHECK (unseen_count >= 0),
    deleted_count bigint NOT NULL DEFAULT 0 CHECK (deleted_count >= 0),
    total_size bigint NOT NULL DEFAULT 0 CHECK (total_size >= 0),
    special_use text CHECK (special_use IN ('\All', '\Archive', '\Drafts', '\Flagged', '\Junk', '\Sent', '\Trash')),
    subscribed boolean NOT NULL DEFAULT false,
    deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id),
    UNIQUE (user_id, name),
    UNIQUE (id)
);

-- Delivery routing: an address (citext, so case never splits a mailbox) leads to
-- one user's mailbox. Read before the user is known, so keyed by the address.
CREATE TABLE aliases (
    address citext PRIMARY KEY CHECK (address LIKE '_%@_%'),
    user_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    is_primary boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (user_id, mailbox_id) REFERENCES mailboxes (user_id, id) ON DELETE CASCADE
);
CREATE INDEX aliases_user ON aliases (user_id, mailbox_id);

-- Per-user keyword dictionary: entries carry small int arrays of these ids.
CREATE TABLE keywords (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id integer NOT NULL,
    name citext NOT NULL,
    PRIMARY KEY (user_id, id),
    UNIQUE (user_id, name)
);

-- Threads, per user, named by the root's Message-ID.
CREATE TABLE threads (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    root_message_id text NOT NULL,
    PRIMARY KEY (user_id, id),
    UNIQUE (user_id, root_message_id)
);

-- Deduplicated MIME leaf content, addressed by the SHA-256 of the decoded bytes
-- (so base64 and quoted-printable copies of one attachment are one row). Shared
-- across users on purpose: the savings are in big attachments mailed to many.
-- text is what search reads (text parts, the text of HTML). search_tsv is a
-- bounded full-text pre-filter, set by a trigger that `aox tune database
-- mostly-writing` switches off for big imports (to_tsvector is most of the cost
-- of storing a part) and `mostly-reading` switches on again after filling the
-- gaps. The search compiler never trusts it alone: a part whose search_tsv is
-- NULL, or whose text is longer than the bound (text_beyond_tsv), is checked by
-- its exact recheck, so no part drops out of a search silently.
CREATE TABLE bodyparts (
    hash bytea PRIMARY KEY CHECK (octet_length(hash) = 32),
    bytes bigint NOT NULL CHECK (bytes >= 0),
    data bytea NOT NULL,
    text text,
    search_tsv tsvector,
    text_beyond_tsv boolean GENERATED ALWAYS AS (length(coalesce(text, '')) > 200000) STORED,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Compressed media gains nothing from pglz; keep it out of line uncompressed.
ALTER TABLE bodyparts ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX bodyparts_search ON bodyparts USING gin (search_tsv);

-- The one place the text-search configuration is named, for both sides.
CREATE FUNCTION bodypart_tsvector(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple'::regconfig, left(coalesce(t, ''), 200000))
$$;

CREATE FUNCTION bodyparts_set_search_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.text IS NOT NULL THEN
        NEW.search_tsv := bodypart_tsvector(NEW.text);
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER bodyparts_search_tsv BEFORE INSERT ON bodyparts
    FOR EACH ROW EXECUTE FUNCTION bodyparts_set_search_tsv();

-- One row per stored message content, per user. COPY within a user's mailboxes
-- adds entries, never messages. raw_sha256 is the hash of the bytes as they
-- arrived (evidence, import idempotence). When normalisation changed anything,
-- the original is kept either as original_delta, a small line edit of the served
-- form (LF line ends, an added Message-ID, a refolded header: usually a few
-- bytes), or, when no small edit reproduces it, as bytes in bodyparts named by
-- original_hash. `aox export --original` gives back exactly what arrived.
CREATE TABLE messages (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    raw_sha256 bytea NOT NULL CHECK (octet_length(raw_sha256) = 32),
    original_hash bytea REFERENCES bodyparts (hash),
    original_delta bytea,
    rfc822_size bigint NOT NULL CHECK (rfc822_size >= 0),
    header_date timestamptz,
    message_id_header text,
    thread_id bigint,
    envelope text NOT NULL,
    bodystructure text NOT NULL,
    body text NOT NULL,
    wrapped boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id),
    UNIQUE (id)
);
-- aox import's "already stored?" check and EMAILID-by-content lookups.
CREATE INDEX messages_raw_sha256 ON messages (user_id, raw_sha256);
CREATE INDEX messages_thread ON messages (user_id, thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX messages_original ON messages (original_hash) WHERE original_hash IS NOT NULL;

-- The MIME tree of a message, as wire-ready pieces: serving BODY[] is a
-- concatenation of header blocks and (re-encoded) leaves in part order. part is
-- the IMAP part number ('' is the top-level header, '2.1' a nested part).
CREATE TABLE message_parts (
    user_id bigint NOT NULL,
    message_id bigint NOT NULL,
    part text NOT NULL,
    position integer NOT NULL,
    header bytea NOT NULL,
    bodypart_hash bytea REFERENCES bodyparts (hash),
    content_type text NOT NULL,
    transfer_encoding text NOT NULL,
    encoded_bytes bigint NOT NULL CHECK (encoded_bytes >= 0),
    lines bigint NOT NULL CHECK (lines >= 0),
    PRIMARY KEY (user_id, message_id, part),
    FOREIGN KEY (user_id, message_id) REFERENCES messages (user_id, id) ON DELETE CASCADE
);
-- The vacuum's sweep of unreferenced bodyparts is an anti-join on this.
CREATE INDEX message_parts_bodypart ON message_parts (bodypart_hash) WHERE bodypart_hash IS NOT NULL;

-- Narrow envelope text for SEARCH FROM/TO/CC/BCC/SUBJECT/HEADER: one row per
-- message instead of aox's 30 EAV rows, with trigram indexes that serve ILIKE
-- '%x%' (IMAP's substring semantics) for patterns of three or more characters.
CREATE TABLE message_search (
    user_id bigint NOT NULL,
    message_id bigint NOT NULL,
    subject text NOT NULL DEFAULT '',
    from_text text NOT NULL DEFAULT '',
    to_text text NOT NULL DEFAULT '',
    cc_text text NOT NULL DEFAULT '',
    bcc_text text NOT NULL DEFAULT '',
    headers text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, message_id),
    FOREIGN KEY (user_id, message_id) REFERENCES messages (user_id, id) ON DELETE CASCADE
);
CREATE INDEX message_search_subject ON message_search USING gin (subject gin_trgm_ops);
CREATE INDEX message_search_from ON message_search USING gin (from_text gin_trgm_ops);
CREATE INDEX message_search_to ON message_search USING gin (to_text gin_trgm_ops);
CREATE INDEX message_search_cc ON message_search USING gin (cc_text gin_trgm_ops);

-- What IMAP sees: (user, mailbox, uid) -> message and its per-mailbox state.
-- Deliberately narrow, and deliberately without indexes on flags or modseq so
-- flag updates stay HOT (fillfactor leaves room on the page); deltas come from
-- mailbox_changes instead. internaldate and rfc822_size are copied here so
-- SEARCH SINCE/LARGER and SORT need no join.
CREATE TABLE mailbox_entries (
    user_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    uid bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    message_id bigint NOT NULL,
    modseq bigint NOT NULL,
    seen boolean NOT NULL DEFAULT false,
    answered boolean NOT NULL DEFAULT false,
    flagged boolean NOT NULL DEFAULT false,
    deleted boolean NOT NULL DEFAULT false,
    draft boolean NOT NULL DEFAULT false,
    keywords integer[] NOT NULL DEFAULT '{}',
    internaldate timestamptz NOT NULL,
    rfc822_size bigint NOT NULL,
    PRIMARY KEY (user_id, mailbox_id, uid),
    FOREIGN KEY (user_id, mailbox_id) REFERENCES mailboxes (user_id, id),
    FOREIGN KEY (user_id, message_id) REFERENCES messages (user_id, id)
) WITH (fillfactor = 85);
-- Which mailboxes hold a message: EMAILID lookups, and vacuum's anti-join.
CREATE INDEX mailbox_entries_message ON mailbox_entries (user_id, message_id);
ALTER TABLE mailbox_entries SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- Append-only change log for CONDSTORE/QRESYNC/IDLE: one row per (transaction,
-- kind, UID range), so STORE 1:* costs one row. Read by range scans on modseq.
CREATE TABLE mailbox_changes (
    user_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    modseq bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('new', 'flags', 'expunged')),
    uid_low bigint NOT NULL,
    uid_high bigint NOT NULL CHECK (uid_high >= uid_low),
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, mailbox_id, modseq, kind, uid_low),
    FOREIGN KEY (user_id, mailbox_id) REFERENCES mailboxes (user_id, id)
);

-- Expunge tombstones: the entry as it was (flags and keywords too, so undelete
-- restores them), who expunged it, when and why. vacuum purges rows past
-- undelete-time; legal holds keep their content alive regardless.
CREATE TABLE expunged_entries (
    user_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    uid bigint NOT NULL,
    message_id bigint NOT NULL,
    modseq bigint NOT NULL,
    seen boolean NOT NULL,
    answered boolean NOT NULL,
    flagged boolean NOT NULL,
    deleted boolean NOT NULL,
    draft boolean NOT NULL,
    keywords integer[] NOT NULL,
    internaldate timestamptz NOT NULL,
    rfc822_size bigint NOT NULL,
    expunged_at timestamptz NOT NULL DEFAULT now(),
    expunged_by bigint,
    reason text NOT NULL,
    PRIMARY KEY (user_id, mailbox_id, uid),
    FOREIGN KEY (user_id, mailbox_id) REFERENCES mailboxes (user_id, id),
    FOREIGN KEY (user_id, message_id) REFERENCES messages (user_id, id)
);
CREATE INDEX expunged_entries_message ON expunged_entries (user_id, message_id);
CREATE INDEX expunged_entries_at ON expunged_entries USING brin (expunged_at);

-- RFC 4314 rights, keyed by the mailbox owner (the shard key).
CREATE TABLE acl (
    user_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    identifier citext NOT NULL,
    rights text NOT NULL CHECK (rights ~ '^[a-z0-9]*$'),
    PRIMARY KEY (user_id, mailbox_id, identifier),
    FOREIGN KEY (user_id, mailbox_id) REFERENCES mailboxes (user_id, id) ON DELETE CASCADE
);

-- RFC 9208 quotas; usage is the sum of the user's mailbox counters.
CREATE TABLE quotas (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    storage_limit bigint CHECK (storage_limit >= 0),
    message_limit bigint CHECK (message_limit >= 0)
);

-- Retention: 'retain' keeps matching mail from EXPUNGE for days (NULL: forever),
-- 'delete' lets vacuum expunge matching mail older than days. search is the
-- IMAP search language; NULL user/mailbox means everyone/every mailbox.
CREATE TABLE retention_policies (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action text NOT NULL CHECK (action IN ('retain', 'delete')),
    days integer CHECK (days >= 0),
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    mailbox_id bigint REFERENCES mailboxes (id) ON DELETE CASCADE,
    search text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    CHECK (action = 'retain' OR days IS NOT NULL)
);

-- Legal holds: while a hold stands, the content it names is never destroyed.
-- user_id/mailbox_id are the scope as recorded, not foreign keys: a hold is a
-- record that outlives what it named, and held content is protected by
-- held_messages and its trigger, not by these columns.
CREATE TABLE legal_holds (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_name text NOT NULL UNIQUE,
    user_id bigint,
    mailbox_id bigint,
    search text,
    confidential boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    released_at timestamptz,
    released_by text
);

CREATE TABLE held_messages (
    hold_id bigint NOT NULL REFERENCES legal_holds (id),
    user_id bigint NOT NULL,
    message_id bigint NOT NULL,
    PRIMARY KEY (user_id, message_id, hold_id)
);

-- Large text values (extracted body text, header blocks, precomputed
-- ENVELOPE/BODYSTRUCTURE) are compressed on every store; lz4 costs a fraction
-- of pglz's CPU. A server built without lz4 keeps the default.
DO $$
BEGIN
    ALTER TABLE bodyparts ALTER COLUMN text SET COMPRESSION lz4;
    ALTER TABLE message_search ALTER COLUMN headers SET COMPRESSION lz4;
    ALTER TABLE message_parts ALTER COLUMN header SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN bodystructure SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN envelope SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; keeping pglz';
END;
$$;

-- Holds are enforced here, not only in Rust: even the owner's hand-written
-- DELETE fails on held content.
CREATE FUNCTION refuse_held_message_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM held_messages h JOIN legal_holds l ON l.id = h.hold_id
               WHERE h.user_id = OLD.user_id AND h.message_id = OLD.id
                 AND l.released_at IS NULL) THEN
        RAISE EXCEPTION 'message % of user % is under legal hold', OLD.id, OLD.user_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER messages_legal_hold BEFORE DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION refuse_held_message_delete();

-- Messages stored wrapped because they could not be parsed, for `aox reparse`.
CREATE TABLE unparsed_messages (
    user_id bigint NOT NULL,
    message_id bigint NOT NULL,
    error text NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, message_id),
    FOREIGN KEY (user_id, message_id) REFERENCES messages (user_id, id) ON DELETE CASCADE
);

-- Append-only audit trail: deliveries, expunges, moves, undeletes, purges, holds.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    user_id bigint,
    mailbox_id bigint,
    uid bigint,
    raw_sha256 bytea,
    detail text
);
CREATE INDEX audit_log_at ON audit_log USING brin (at);
CREATE INDEX audit_log_user ON audit_log (user_id, at) WHERE user_id IS NOT NULL;

-- Expunge for the runtime role, which has no DELETE on mailbox_entries: moves the
-- given UID ranges (only \Deleted ones when only_deleted) to the tombstones in
-- one set-based statement and returns the UIDs moved. SECURITY DEFINER runs it
-- as the owner; search_path is pinned so a caller cannot substitute tables.
CREATE FUNCTION expunge_entries(p_user bigint, p_mailbox bigint, p_lows bigint[], p_highs bigint[],
                                p_only_deleted boolean, p_modseq bigint, p_by bigint, p_reason text)
RETURNS SETOF bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH gone AS (
        DELETE FROM mailbox_entries e
        USING unnest(p_lows, p_highs) AS r(lo, hi)
        WHERE e.user_id = p_user AND e.mailbox_id = p_mailbox
          AND e.uid BETWEEN r.lo AND r.hi
          AND (NOT p_only_deleted OR e.deleted)
        RETURNING e.*
    )
    INSERT INTO expunged_entries (user_id, mailbox_id, uid, message_id, modseq, seen, answered,
                                  flagged, deleted, draft, keywords, internaldate, rfc822_size,
                                  expunged_by, reason)
    SELECT user_id, mailbox_id, uid, message_id, p_modseq, seen, answered, flagged, deleted, draft,
           keywords, internaldate, rfc822_size, p_by, p_reason
    FROM gone
    RETURNING uid
$$;
