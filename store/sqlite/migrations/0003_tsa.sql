-- 0002: the time-stamp authority (RFC 3161).

-- One row per token handed out. The serial is the TSTInfo serialNumber; it
-- is the rowid, so that inserts of increasing serials append to the table.
CREATE TABLE timestamp_tokens (
    serial   INTEGER PRIMARY KEY,
    gen_time INTEGER NOT NULL, -- unix nanoseconds UTC, as in the token's genTime
    hash     TEXT    NOT NULL, -- sha256, sha384, sha512
    imprint  BLOB    NOT NULL, -- the hashed message
    policy   TEXT    NOT NULL  -- dotted decimal OID
) STRICT;

-- No index on imprint, on purpose: imprints are random, so such an index
-- makes every record of a commit dirty its own page (a WAL frame of 4 KiB
-- each), which halved the records per second the group committer reaches.
-- vccpki tsa lookup --imprint scans instead (an operator's rare query).

-- The next serial not yet reserved by any TSA instance sharing this store.
CREATE TABLE timestamp_serials (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    next INTEGER NOT NULL
) STRICT;
