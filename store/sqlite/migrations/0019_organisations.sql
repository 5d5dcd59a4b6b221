-- 0017: organisations (tenants). The operator organisation 'vcc' exists
-- from the start and owns everything that existed before: every org
-- column defaults to it. An issuing CA not listed in organisation_cas
-- belongs to the operator.

CREATE TABLE organisations (
    name       TEXT    NOT NULL PRIMARY KEY, -- DNS-label-like slug
    display    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
) STRICT;

INSERT INTO organisations (name, display, created_at, created_by)
    VALUES ('vcc', 'VCC (operator)', 0, 'migration');

-- The issuing CAs an organisation owns; a CA has one owner.
CREATE TABLE organisation_cas (
    ca_name TEXT NOT NULL PRIMARY KEY,
    org     TEXT NOT NULL REFERENCES organisations (name)
) STRICT;
CREATE INDEX organisation_cas_org ON organisation_cas (org, ca_name);

ALTER TABLE acme_eab_keys ADD COLUMN org TEXT NOT NULL DEFAULT 'vcc';
ALTER TABLE acme_accounts ADD COLUMN org TEXT NOT NULL DEFAULT 'vcc';
ALTER TABLE est_users ADD COLUMN org TEXT NOT NULL DEFAULT 'vcc';
ALTER TABLE audit_log ADD COLUMN org TEXT NOT NULL DEFAULT 'vcc';
CREATE INDEX audit_log_org ON audit_log (org, seq);
