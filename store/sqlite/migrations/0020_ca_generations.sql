-- 0020: an issuing CA can be rolled over (vccpki ca rollover): a new key
-- and certificate under the same name. cas.generation numbers the key the
-- row holds now (1 for every CA made before); each earlier generation
-- moves to ca_generations with the time it stopped issuing. Retired
-- generations keep signing CRLs and OCSP answers for the certificates
-- they issued, which the store attributes by the certificates' issuer
-- column: "<name>" for generation 1, "<name>_<n>" for generation n.
ALTER TABLE cas ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
CREATE TABLE ca_generations (
    name       TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    role       TEXT    NOT NULL,
    parent     TEXT    NOT NULL,
    key_id     TEXT    NOT NULL REFERENCES keys (id),
    der        BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER NOT NULL,
    PRIMARY KEY (name, generation)
) STRICT;
