-- 0008: the newest signed CRL of each issuer and shard, shared by the
-- instances (store.SharedCRLStore).

CREATE TABLE crls (
    issuer      TEXT COLLATE "C" NOT NULL,
    shard       INTEGER NOT NULL,
    number      BIGINT  NOT NULL,
    this_update BIGINT  NOT NULL,
    next_update BIGINT  NOT NULL,
    entries     INTEGER NOT NULL,
    from_change BIGINT  NOT NULL, -- change feed seq read before building
    der         BYTEA   NOT NULL,
    PRIMARY KEY (issuer, shard)
);
