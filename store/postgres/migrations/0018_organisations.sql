-- 0016: organisations (tenants). The operator organisation 'vcc' exists
-- from the start and owns everything that existed before: every org
-- column defaults to it. An issuing CA not listed in organisation_cas
-- belongs to the operator.

CREATE TABLE organisations (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- DNS-label-like slug
    display    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL
);

INSERT INTO organisations (name, display, created_at, created_by)
    VALUES ('vcc', 'VCC (operator)', 0, 'migration');

-- The issuing CAs an organisation owns; a CA has one owner.
CREATE TABLE organisation_cas (
    ca_name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org     TEXT COLLATE "C" NOT NULL REFERENCES organisations (name)
);
CREATE INDEX organisation_cas_org ON organisation_cas (org, ca_name);

-- A constant default is catalogue-only in PostgreSQL 11+: no row is
-- rewritten, so audit_log's append-only trigger does not fire.
ALTER TABLE acme_eab_keys ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'vcc';
ALTER TABLE acme_accounts ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'vcc';
ALTER TABLE est_users ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'vcc';
ALTER TABLE audit_log ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'vcc';
CREATE INDEX audit_log_org ON audit_log (org, seq);
