-- 0014: the requests of dual control of the management API (api/):
-- pending until a second pki_admin approves them or they expire.
-- params: the act's parameters, JSON.

CREATE TABLE approvals (
    id           TEXT NOT NULL PRIMARY KEY,
    action       TEXT NOT NULL,
    params       BLOB NOT NULL,
    requested_by TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT NOT NULL,
    decided_by   TEXT NOT NULL,
    decided_at   INTEGER NOT NULL,
    result       TEXT NOT NULL
) STRICT;

CREATE INDEX approvals_status ON approvals (status, id);
