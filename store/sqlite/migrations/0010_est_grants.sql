-- 0010: operators' grants widening the names an EST client certificate
-- may enrol for (vccpki est grant). names: newline-separated identifiers.

CREATE TABLE est_grants (
    profile    TEXT NOT NULL,
    serial     TEXT NOT NULL,
    names      TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (profile, serial)
) STRICT;
