-- 0001: the initial schema, the PostgreSQL twin of store/sqlite's 0001.
-- Times are BIGINT unix nanoseconds UTC and names are JSON text, exactly as
-- in SQLite, so both stores keep full precision and compare alike. Text
-- keys use the "C" collation: ordering by serial or ID must not depend on
-- the database's locale.

CREATE TABLE certificates (
    serial            TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- lowercase hex
    issuer            TEXT COLLATE "C" NOT NULL,
    profile           TEXT COLLATE "C" NOT NULL,
    requester         TEXT   NOT NULL,
    subject           TEXT   NOT NULL,
    names             TEXT   NOT NULL,             -- JSON array of strings
    not_before        BIGINT NOT NULL,
    not_after         BIGINT NOT NULL,
    der               BYTEA  NOT NULL,
    crl_shard         INTEGER NOT NULL,
    revoked_at        BIGINT,                      -- NULL while not revoked
    revocation_reason INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX certificates_revoked ON certificates (issuer, serial) WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_issuer ON certificates (issuer, not_after);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_profile ON certificates (profile, not_after);

CREATE TABLE crl_numbers (
    issuer TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    last   BIGINT NOT NULL
);

-- One hash chain for every instance sharing the database: appends take a
-- transaction-level advisory lock (store/postgres/audit.go) before reading
-- the tail, so seq is gapless and in commit order.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY, -- 1, 2, 3, ...; assigned by the store, never by a sequence
    time      BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    object    TEXT   NOT NULL,
    result    TEXT   NOT NULL,
    prev_hash BYTEA  NOT NULL,
    hash      BYTEA  NOT NULL
);

-- Append-only, as in SQLite: a bug or a careless operator cannot rewrite
-- the log through SQL without dropping these first; the hash chain catches
-- the rest.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE keys (
    id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm TEXT  NOT NULL,
    sealed    BYTEA NOT NULL -- opaque; the store never sees plain key material
);

CREATE TABLE cas (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    role       TEXT   NOT NULL,
    parent     TEXT   NOT NULL, -- '' for the root
    key_id     TEXT COLLATE "C" NOT NULL REFERENCES keys (id),
    der        BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX cas_created_at ON cas (created_at, name);
