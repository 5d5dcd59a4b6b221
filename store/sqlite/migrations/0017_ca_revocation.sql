-- 0017: issuing CAs can be revoked (vccpki ca revoke). A CA record keeps
-- its row; revoked_at (nanoseconds, 0 = not revoked) and the RFC 5280
-- §5.3.1 reason code put its certificate on its parent's CRL.
ALTER TABLE cas ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cas ADD COLUMN revocation_reason INTEGER NOT NULL DEFAULT 0;
