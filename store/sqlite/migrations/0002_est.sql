-- 0002: EST (RFC 7030) HTTP Basic credentials. The password is never
-- stored: hash holds an argon2id or bcrypt hash in PHC string format.

CREATE TABLE est_users (
    user       TEXT    NOT NULL PRIMARY KEY,
    service    TEXT    NOT NULL, -- the profile the credentials may enrol in
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
