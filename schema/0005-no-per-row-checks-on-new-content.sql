-- Revision 5: storing a message runs no per-row check that cannot fail.
--
-- A foreign key is a trigger that runs a query (and takes a row lock) for
-- every row written. A profile of `aox import` put these checks at a
-- quarter of the database's CPU: a message writes about eight of them, six
-- on the three keys below. Those six could never fail:
--
-- - message_parts and message_search rows are written only by the
--   transaction that writes their messages row, for ids it has just drawn
--   from the sequence (store::inject::copy_messages). What the keys still
--   gave was ON DELETE CASCADE; that is now one statement-level trigger on
--   messages that deletes the children of every deleted message in one
--   statement per table.
-- - message_parts → bodyparts: a writer that reuses a stored part locks it
--   FOR KEY SHARE in the lookup that finds it, one statement for the whole
--   batch; the key's check took the same lock once per referring row.
--   Vacuum deletes only parts it can lock FOR UPDATE (SKIP LOCKED), so it
--   passes a part a writer is reusing; a writer that meets vacuum's lock
--   first waits, finds the part gone and stores it again.
--
-- The runtime role may not lock bodyparts rows itself (locking needs UPDATE
-- privilege, and it may never change stored content), so the lookup is this
-- function: of the hashes given, those stored, each locked FOR KEY SHARE
-- until the caller's transaction ends.
CREATE OR REPLACE FUNCTION lock_bodyparts(p_hashes bytea[]) RETURNS SETOF bytea
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT hash FROM bodyparts WHERE hash = ANY(p_hashes) FOR KEY SHARE
$$;

-- The keys that can fail stay: an entry's message (a COPY or MOVE refers
-- to messages it did not write, which vacuum may be deleting), a message's
-- user, a kept original's part. Every statement here can run again on a
-- database that has some of it already (an older revision's upgrade path
-- passes through this step).
ALTER TABLE message_parts DROP CONSTRAINT IF EXISTS message_parts_user_id_message_id_fkey;
ALTER TABLE message_parts DROP CONSTRAINT IF EXISTS message_parts_bodypart_hash_fkey;
ALTER TABLE message_search DROP CONSTRAINT IF EXISTS message_search_user_id_message_id_fkey;

CREATE OR REPLACE FUNCTION delete_message_children() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM message_parts p USING gone g WHERE p.user_id = g.user_id AND p.message_id = g.id;
    DELETE FROM message_search s USING gone g WHERE s.user_id = g.user_id AND s.message_id = g.id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS messages_delete_children ON messages;
CREATE TRIGGER messages_delete_children AFTER DELETE ON messages
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_message_children();

-- The stored flag for "text longer than the vector's bound" counted the
-- characters of every new text part (5% of the database's CPU in an
-- import). The search compiler tests octet_length(text) instead, which
-- PostgreSQL reads from the value's header without decompressing it; a
-- text of more than 200,000 characters has more than 200,000 bytes, so no
-- part the flag marked is missed, and a few shorter multi-byte texts also
-- go to the exact recheck.
ALTER TABLE bodyparts DROP COLUMN IF EXISTS text_beyond_tsv;

-- ANALYZE read and summarised every wide column it sampled; no plan filters
-- on these, so their statistics were half the cost of the ANALYZE that ends
-- an import, for nothing.
ALTER TABLE messages
    ALTER COLUMN envelope SET STATISTICS 0,
    ALTER COLUMN bodystructure SET STATISTICS 0,
    ALTER COLUMN body SET STATISTICS 0,
    ALTER COLUMN original_delta SET STATISTICS 0;
ALTER TABLE message_parts ALTER COLUMN header SET STATISTICS 0;
ALTER TABLE message_search ALTER COLUMN headers SET STATISTICS 0;
