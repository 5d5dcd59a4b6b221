-- 0007: pre-signed OCSP responses shared by the instances of one store
-- (store.SharedOCSPStore): each response is signed once, by whichever
-- instance gets to it first. Times are unix nanoseconds.

CREATE TABLE ocsp_responses (
    issuer      TEXT    NOT NULL,
    hash        TEXT    NOT NULL, -- sha1, sha256
    serial      TEXT    NOT NULL,
    revoked     INTEGER NOT NULL, -- 0 or 1: the status it was signed with
    revoked_at  INTEGER NOT NULL,
    reason      INTEGER NOT NULL,
    produced_at INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    signed      BLOB    NOT NULL,
    PRIMARY KEY (issuer, hash, serial)
) STRICT, WITHOUT ROWID;
CREATE INDEX ocsp_responses_next_update ON ocsp_responses (next_update);
