-- 0003: the time-stamp authority (RFC 3161).

CREATE TABLE timestamp_tokens (
    serial   BIGINT PRIMARY KEY,
    gen_time BIGINT NOT NULL,
    hash     TEXT   NOT NULL,
    imprint  BYTEA  NOT NULL,
    policy   TEXT   NOT NULL
);

-- The next serial not yet reserved by any TSA instance: reservations are
-- an UPDATE of this row, so concurrent instances get disjoint blocks.
CREATE TABLE timestamp_serials (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    next BIGINT  NOT NULL
);
