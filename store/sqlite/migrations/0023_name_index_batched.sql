-- 0023: the name search index (0018, 0022) filled in batches, off the
-- issuance path (issue 19). The FTS5 trigram insert in the certificate's own
-- transaction flushed a new level-0 segment per group commit and drove
-- automerge: 0.2-0.3 ms of server CPU per certificate under ACME load.
-- Instead, inserting a certificate appends its serial to
-- certificates_names_pending (one right-edge B-tree insert), and the
-- serving process moves pending rows into certificates_names about once a
-- second and at Close, in one transaction per batch (store/sqlite/
-- nameindex.go). The search reads both (nameIndex in sqlite.go), so results
-- stay exact. Every certificate already stored is in certificates_names.
CREATE TABLE certificates_names_pending (
    id     INTEGER PRIMARY KEY,
    serial TEXT    NOT NULL
) STRICT;
DROP TRIGGER certificates_names_insert;
CREATE TRIGGER certificates_names_pending_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificates_names_pending (serial) VALUES (new.serial);
END;
-- A renamed certificate (never in practice) is queued again; the indexer
-- moves each serial still in certificates once per batch, so a serial
-- queued twice is indexed once.
DROP TRIGGER certificates_names_update;
CREATE TRIGGER certificates_names_update AFTER UPDATE OF serial, subject, names ON certificates BEGIN
    DELETE FROM certificates_names WHERE serial = old.serial;
    INSERT INTO certificates_names_pending (serial) VALUES (new.serial);
END;
