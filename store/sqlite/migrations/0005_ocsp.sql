-- 0002: certificate status for the OCSP responder and CRL shards.

-- Every issuance and revocation appends a row here, in the writing
-- transaction, so that a server following seq > N sees what any process
-- committed (vccpki revoke runs in its own process) in commit order.
-- SQLite has one writer at a time, so seq order is commit order.
CREATE TABLE certificate_changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, also after pruning
    serial TEXT    NOT NULL,
    at     INTEGER NOT NULL                   -- unix nanoseconds, for pruning (an hourly
                                              -- scan; no index, so issuance pays one B-tree less)
) STRICT;

CREATE TRIGGER certificate_changes_insert AFTER INSERT ON certificates
BEGIN
    INSERT INTO certificate_changes (serial, at)
    VALUES (NEW.serial, CAST(unixepoch('subsec') * 1000000000 AS INTEGER));
END;
CREATE TRIGGER certificate_changes_revoke AFTER UPDATE OF revoked_at ON certificates
BEGIN
    INSERT INTO certificate_changes (serial, at)
    VALUES (NEW.serial, CAST(unixepoch('subsec') * 1000000000 AS INTEGER));
END;

-- A CRL shard walks the revoked certificates of one issuer and shard in
-- serial order; the index covers every column it reads.
CREATE INDEX certificates_revoked_shard ON certificates
    (issuer, crl_shard, serial, revoked_at, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;

-- The OCSP responder pre-signs a response for every valid certificate of
-- an issuer, paging through them by (not_after, serial) from "now"; the
-- index covers every column it reads, so the walk never touches the pages
-- of the (large) DER column.
CREATE INDEX certificates_issuer_status ON certificates
    (issuer, not_after, serial, crl_shard, revoked_at, revocation_reason);
