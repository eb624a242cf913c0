-- no-transaction
-- Revision 2: mailbox_entries shaped for STORE, MOVE and SEARCH over a
-- million entries (measured in bench/imap.sh; see schema/README.md).
--
-- Half of every page is left free, so STORE on every entry of a page can put
-- each row's new version beside the old one (a HOT update: no index entry,
-- and the dead version is pruned on the next visit). At fillfactor 85 only
-- about one row in six found room, and STORE 1:* on 500,000 entries took
-- 6.5 s instead of 3. It applies to pages written from now on; existing
-- entries take it when the table is rewritten (VACUUM FULL mailbox_entries).
ALTER TABLE mailbox_entries SET (fillfactor = 50);
-- The message index carries each entry's place, so a search that starts from
-- the matching messages (trigram or full-text) finds their UIDs in the index
-- alone, without visiting an entry's page for each hit. A failed earlier
-- run may have left an invalid index of this name behind; start afresh.
DROP INDEX CONCURRENTLY IF EXISTS mailbox_entries_message_place;
CREATE INDEX CONCURRENTLY mailbox_entries_message_place
    ON mailbox_entries (user_id, message_id) INCLUDE (mailbox_id, uid);
DROP INDEX CONCURRENTLY IF EXISTS mailbox_entries_message;
-- Mailbox rows are never deleted (only marked), and every writer locks the
-- mailbox row before it adds or moves entries, so this key only checked
-- what the row lock already guarantees, once per row: 12 µs per entry,
-- 1.2 s of a 100,000-message MOVE (which changes mailbox_id) and of every
-- 100,000 entries an import or delivery adds.
ALTER TABLE mailbox_entries DROP CONSTRAINT IF EXISTS mailbox_entries_user_id_mailbox_id_fkey;
