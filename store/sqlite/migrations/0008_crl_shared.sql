-- 0008: the newest signed CRL of each issuer and shard, shared by the
-- instances of one store (store.SharedCRLStore).

CREATE TABLE crls (
    issuer      TEXT    NOT NULL,
    shard       INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    entries     INTEGER NOT NULL,
    from_change INTEGER NOT NULL, -- change feed seq read before building
    der         BLOB    NOT NULL,
    PRIMARY KEY (issuer, shard)
) STRICT, WITHOUT ROWID;
