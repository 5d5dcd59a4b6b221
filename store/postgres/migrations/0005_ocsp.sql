-- 0005: certificate status for the OCSP responder and CRL shards.

-- Every issuance and revocation appends a row here, in the writing
-- transaction. A sequence would not do: numbers are taken at insert and
-- transactions commit in any order, so a follower that has read seq 11
-- could later miss a seq 10 committed after it. Instead the trigger takes
-- the next number from the one row of certificate_changes_last, whose row
-- lock it holds until commit: numbers are gapless and commit in order,
-- across every instance.
CREATE TABLE certificate_changes (
    seq    BIGINT PRIMARY KEY,
    serial TEXT COLLATE "C" NOT NULL,
    at     BIGINT NOT NULL -- unix nanoseconds, for pruning
);
CREATE TABLE certificate_changes_last (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO certificate_changes_last (id, last) VALUES (1, 0);

CREATE FUNCTION certificate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT;
BEGIN
    UPDATE certificate_changes_last SET last = last + 1 WHERE id = 1 RETURNING last INTO n;
    INSERT INTO certificate_changes (seq, serial, at)
    VALUES (n, NEW.serial, (extract(epoch FROM clock_timestamp()) * 1000000000)::BIGINT);
    RETURN NULL;
END;
$$;
CREATE TRIGGER certificate_changes_insert AFTER INSERT ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificate_changed();
CREATE TRIGGER certificate_changes_revoke AFTER UPDATE OF revoked_at ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificate_changed();

CREATE INDEX certificates_revoked_shard ON certificates
    (issuer, crl_shard, serial) INCLUDE (revoked_at, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_issuer_status ON certificates
    (issuer, not_after, serial) INCLUDE (crl_shard, revoked_at, revocation_reason);
