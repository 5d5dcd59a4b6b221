-- 0007: pre-signed OCSP responses shared by the instances (store.SharedOCSPStore):
-- each response is signed once, by whichever instance gets to it first.

CREATE TABLE ocsp_responses (
    issuer      TEXT COLLATE "C" NOT NULL,
    hash        TEXT COLLATE "C" NOT NULL, -- sha1, sha256
    serial      TEXT COLLATE "C" NOT NULL,
    revoked     BOOLEAN NOT NULL,          -- the status it was signed with
    revoked_at  BIGINT  NOT NULL,
    reason      INTEGER NOT NULL,
    produced_at BIGINT  NOT NULL,
    this_update BIGINT  NOT NULL,
    next_update BIGINT  NOT NULL,
    signed      BYTEA   NOT NULL,
    PRIMARY KEY (issuer, hash, serial)
);
CREATE INDEX ocsp_responses_next_update ON ocsp_responses (next_update);
