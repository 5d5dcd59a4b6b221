-- 0004: the ACME front end's state (store.ACMEStore), as in SQLite.

CREATE TABLE acme_secrets (
    name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Used nonces (RFC 8555 §6.5); the primary key makes a second use fail on
-- every instance.
CREATE TABLE acme_nonces (
    nonce   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    expires BIGINT NOT NULL
);
CREATE INDEX acme_nonces_expires ON acme_nonces (expires);

CREATE TABLE acme_accounts (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    thumbprint  TEXT COLLATE "C" NOT NULL UNIQUE,
    jwk         BYTEA  NOT NULL,
    status      TEXT   NOT NULL,
    contact     TEXT   NOT NULL, -- JSON array
    eab_key_id  TEXT   NOT NULL, -- '' without binding
    service     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE acme_eab_keys (
    key_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    hmac       BYTEA  NOT NULL,
    service    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    account_id TEXT   NOT NULL -- '' while unused
);

CREATE TABLE acme_orders (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES acme_accounts (id),
    status     TEXT   NOT NULL,
    expires    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    replaces   TEXT   NOT NULL,
    data       BYTEA  NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at, id);

CREATE TABLE acme_authzs (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES acme_accounts (id),
    order_id   TEXT COLLATE "C" NOT NULL REFERENCES acme_orders (id),
    status     TEXT   NOT NULL,
    identifier TEXT COLLATE "C" NOT NULL,
    expires    BIGINT NOT NULL,
    data       BYTEA  NOT NULL
);
CREATE INDEX acme_authzs_order ON acme_authzs (order_id);
CREATE INDEX acme_authzs_pending ON acme_authzs (account_id, expires) WHERE status = 'pending';
CREATE INDEX acme_authzs_valid ON acme_authzs (account_id, identifier, expires) WHERE status = 'valid';

CREATE TABLE acme_certificates (
    serial      TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES certificates (serial),
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES acme_accounts (id),
    order_id    TEXT COLLATE "C" NOT NULL REFERENCES acme_orders (id),
    replaced_by TEXT NOT NULL -- order ID; '' while not replaced
);
