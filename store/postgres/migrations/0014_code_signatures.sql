-- 0014: the signature registry (sign/): every server-side artifact
-- signature and every client-side one registered through the API.
-- digest and signature_digest: hex SHA-256.

CREATE TABLE vcc_code_signatures (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    artifact_type    TEXT NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    digest           TEXT COLLATE "C" NOT NULL,
    signature_digest TEXT COLLATE "C" NOT NULL UNIQUE,
    profile          TEXT NOT NULL,
    signer_serial    TEXT COLLATE "C" NOT NULL,
    signer_subject   TEXT NOT NULL,
    timestamp_serial TEXT NOT NULL,
    source           TEXT NOT NULL,
    actor            TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);

CREATE INDEX vcc_code_signatures_digest ON vcc_code_signatures (digest, id);
CREATE INDEX vcc_code_signatures_name ON vcc_code_signatures (name, id);
CREATE INDEX vcc_code_signatures_signer ON vcc_code_signatures (signer_serial, id);

-- The server-held signing key of each signing profile (POST /api/v1/sign):
-- the key is in keys (sealed) or a token; der is its certificate.
CREATE TABLE vcc_signing_keys (
    profile    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    key_id     TEXT NOT NULL,
    serial     TEXT NOT NULL,
    der        BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
