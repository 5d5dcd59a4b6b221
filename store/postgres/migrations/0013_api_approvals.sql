-- 0013: the requests of dual control of the management API (api/):
-- pending until a second pki_admin approves them or they expire.
-- params: the act's parameters, JSON.

CREATE TABLE approvals (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    action       TEXT NOT NULL,
    params       BYTEA NOT NULL,
    requested_by TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    decided_by   TEXT NOT NULL,
    decided_at   BIGINT NOT NULL,
    result       TEXT NOT NULL
);

CREATE INDEX approvals_status ON approvals (status, id);
