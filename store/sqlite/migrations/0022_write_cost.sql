-- 0021: fewer pages written per issuance (measured: WAL frames per
-- certificate by table and index under ACME load, issue 19).
--
-- certificates_issuer (issuer, not_after) is a prefix of
-- certificates_issuer_status (issuer, not_after, serial, ...): every query
-- it served is served by the longer one.
DROP INDEX certificates_issuer;

-- Used nonces keyed by (expires, nonce): a nonce's expiry is part of the
-- nonce itself (acme/nonce.go: the first 8 bytes), so the pair is unique
-- exactly when the nonce is, new rows land at the right edge of one
-- B-tree (the old random text key touched a leaf page per insert, plus
-- the expires index), and pruning deletes a prefix range of the key.
CREATE TABLE acme_nonces_new (
    expires INTEGER NOT NULL,
    nonce   TEXT    NOT NULL,
    PRIMARY KEY (expires, nonce)
) STRICT, WITHOUT ROWID;
INSERT INTO acme_nonces_new (expires, nonce) SELECT expires, nonce FROM acme_nonces;
DROP TABLE acme_nonces;
ALTER TABLE acme_nonces_new RENAME TO acme_nonces;

-- The name search index without the per-document column sizes
-- (columnsize=0): they serve only ranking (bm25), which the ?name= search
-- does not use; one B-tree fewer per certificate.
DROP TABLE certificates_names;
CREATE VIRTUAL TABLE certificates_names USING fts5(serial UNINDEXED, subject, names, tokenize = 'trigram', columnsize = 0);
INSERT INTO certificates_names (serial, subject, names) SELECT serial, subject, names FROM certificates;
