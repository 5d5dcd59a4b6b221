-- 0006: leases (store.Leaser). A single SQLite file is usually served by
-- one process, but admin commands and a second server on the same file
-- share it too, so leases are real rows here as in PostgreSQL.

CREATE TABLE leases (
    name    TEXT    NOT NULL PRIMARY KEY,
    holder  TEXT    NOT NULL,
    expires INTEGER NOT NULL -- unix nanoseconds
) STRICT;
