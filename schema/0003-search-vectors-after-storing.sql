-- no-transaction
-- Revision 3: a body part's full-text vector is computed after the part is
-- stored, not inside the transaction that stores it.
--
-- to_tsvector was the largest single cost of an LMTP delivery (a trigger on
-- every new part: 3.1 of 7.6 CPU-seconds of PostgreSQL per 2,000
-- one-recipient deliveries in bench/lmtp.py). Each server process now fills
-- the missing vectors in small batches beside its other work
-- (fill_search_vectors below), and `aox tune database mostly-reading` fills
-- whatever is left after a big import. Search was already exact for a part
-- without a vector (it goes to the exact recheck), so nothing is missed
-- while a vector is pending; the search is only slower for those parts.
DROP TRIGGER IF EXISTS bodyparts_search_tsv ON bodyparts;
DROP FUNCTION IF EXISTS bodyparts_set_search_tsv();
-- The parts waiting for a vector, so finding them never scans the table.
-- A failed earlier run may have left an invalid index of this name behind.
DROP INDEX CONCURRENTLY IF EXISTS bodyparts_vector_pending;
CREATE INDEX CONCURRENTLY bodyparts_vector_pending ON bodyparts (hash)
    WHERE search_tsv IS NULL AND text IS NOT NULL;
-- The runtime role may not change stored content, so it fills vectors
-- through this function, which writes nothing but search_tsv. Parts another
-- process is filling, or vacuum is deleting, are skipped (SKIP LOCKED), so
-- concurrent fillers neither wait for nor repeat each other. Returns how
-- many parts it filled: fewer than p_batch means none is left for now.
CREATE OR REPLACE FUNCTION fill_search_vectors(p_batch integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH filled AS (
        UPDATE bodyparts SET search_tsv = bodypart_tsvector(text)
        WHERE hash IN (SELECT hash FROM bodyparts
                       WHERE search_tsv IS NULL AND text IS NOT NULL
                       LIMIT p_batch FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*)::integer FROM filled
$$;
