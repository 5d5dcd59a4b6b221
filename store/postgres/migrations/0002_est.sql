-- 0002: EST (RFC 7030) HTTP Basic credentials; only a slow hash is kept.
-- "user" is a reserved word in PostgreSQL, hence user_name.

CREATE TABLE est_users (
    user_name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    service    TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
