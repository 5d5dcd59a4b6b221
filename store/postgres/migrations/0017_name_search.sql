-- 0016: certificate name search (?name=) by index: pg_trgm's GIN indexes
-- serve the search's ILIKE '%needle%' on subject and names as they are.
-- pg_trgm is a contrib extension: where it is not installed or may not be
-- created, the search stays a scan (correct, slower) and the store says so
-- when it opens (postgres.Open).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm cannot be created (%): certificate name search scans', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX certificates_subject_trgm ON certificates USING gin (subject gin_trgm_ops);
        CREATE INDEX certificates_names_trgm ON certificates USING gin (names gin_trgm_ops);
    END IF;
END
$$;
