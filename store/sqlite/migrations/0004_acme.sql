-- 0002: the ACME front end's state (store.ACMEStore). Times are INTEGER unix
-- nanoseconds UTC; data columns are the front end's JSON, opaque here.

CREATE TABLE acme_secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- Used nonces (RFC 8555 §6.5): a nonce is MAC-checked by the front end and
-- then inserted here; the primary key makes the second use fail.
CREATE TABLE acme_nonces (
    nonce   TEXT    NOT NULL PRIMARY KEY,
    expires INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX acme_nonces_expires ON acme_nonces (expires);

CREATE TABLE acme_accounts (
    id          TEXT    NOT NULL PRIMARY KEY,
    thumbprint  TEXT    NOT NULL UNIQUE,
    jwk         BLOB    NOT NULL,
    status      TEXT    NOT NULL,
    contact     TEXT    NOT NULL, -- JSON array
    eab_key_id  TEXT    NOT NULL, -- '' without binding
    service     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE acme_eab_keys (
    key_id     TEXT    NOT NULL PRIMARY KEY,
    hmac       BLOB    NOT NULL,
    service    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    account_id TEXT    NOT NULL -- '' while unused
) STRICT;

CREATE TABLE acme_orders (
    id         TEXT    NOT NULL PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES acme_accounts (id),
    status     TEXT    NOT NULL,
    expires    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    replaces   TEXT    NOT NULL,
    data       BLOB    NOT NULL
) STRICT;
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at, id);

CREATE TABLE acme_authzs (
    id         TEXT    NOT NULL PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES acme_accounts (id),
    order_id   TEXT    NOT NULL REFERENCES acme_orders (id),
    status     TEXT    NOT NULL,
    identifier TEXT    NOT NULL, -- 'dns:name', 'dns:*.name', 'ip:address'
    expires    INTEGER NOT NULL,
    data       BLOB    NOT NULL
) STRICT;
CREATE INDEX acme_authzs_pending ON acme_authzs (account_id, expires) WHERE status = 'pending';
-- Revocation by an account holding authorizations for a certificate's names.
CREATE INDEX acme_authzs_valid ON acme_authzs (account_id, identifier, expires) WHERE status = 'valid';

CREATE TABLE acme_certificates (
    serial      TEXT NOT NULL PRIMARY KEY REFERENCES certificates (serial),
    account_id  TEXT NOT NULL REFERENCES acme_accounts (id),
    order_id    TEXT NOT NULL REFERENCES acme_orders (id),
    replaced_by TEXT NOT NULL -- order ID; '' while not replaced
) STRICT;
