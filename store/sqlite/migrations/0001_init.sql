-- 0001: the initial schema.
-- Times are INTEGER unix nanoseconds UTC and names are JSON text, so that the
-- same schema maps directly onto PostgreSQL BIGINT/TEXT. STRICT makes SQLite
-- refuse a value of the wrong type instead of silently storing it.

CREATE TABLE certificates (
    serial            TEXT    NOT NULL PRIMARY KEY, -- lowercase hex
    issuer            TEXT    NOT NULL,
    profile           TEXT    NOT NULL,
    requester         TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    names             TEXT    NOT NULL,             -- JSON array of strings
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    der               BLOB    NOT NULL,
    crl_shard         INTEGER NOT NULL,
    revoked_at        INTEGER,                      -- NULL while not revoked
    revocation_reason INTEGER NOT NULL DEFAULT 0
) STRICT;

-- CRL building walks the revoked certificates of one issuer in serial order;
-- a partial index keeps that walk sorted and small (few certificates are
-- ever revoked) and costs nothing on insert.
CREATE INDEX certificates_revoked ON certificates (issuer, serial) WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_issuer ON certificates (issuer, not_after);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_profile ON certificates (profile, not_after);

CREATE TABLE crl_numbers (
    issuer TEXT    NOT NULL PRIMARY KEY,
    last   INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY, -- 1, 2, 3, ...; assigned by the store, never by AUTOINCREMENT
    time      INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    object    TEXT    NOT NULL,
    result    TEXT    NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
) STRICT;

-- The audit log is append-only. These triggers stop a bug (or a careless
-- operator) from rewriting it; someone with write access to the file can drop
-- them, which is what the hash chain is for.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE keys (
    id        TEXT NOT NULL PRIMARY KEY,
    algorithm TEXT NOT NULL,
    sealed    BLOB NOT NULL -- opaque; the store never sees plain key material
) STRICT;

CREATE TABLE cas (
    name       TEXT    NOT NULL PRIMARY KEY,
    role       TEXT    NOT NULL,
    parent     TEXT    NOT NULL, -- '' for the root
    key_id     TEXT    NOT NULL REFERENCES keys (id),
    der        BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX cas_created_at ON cas (created_at, name);
