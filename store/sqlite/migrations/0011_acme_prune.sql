-- 0010: ACME pruning and replacement marks (issue 13, items 5 and 7).

-- Pruning finds expired orders and authorizations, an order's
-- authorizations, and whether an order produced a certificate, by index.
CREATE INDEX acme_orders_expires ON acme_orders (expires);
CREATE INDEX acme_authzs_expires ON acme_authzs (expires);
CREATE INDEX IF NOT EXISTS acme_authzs_order ON acme_authzs (order_id);
CREATE INDEX acme_certificates_order ON acme_certificates (order_id);

-- A certificate counts as replaced only by an order that is being or was
-- issued (RFC 9773 §5); marks set at order creation by earlier versions
-- for orders that failed, expired or were never finalized are removed.
UPDATE acme_certificates SET replaced_by = ''
    WHERE replaced_by <> ''
      AND replaced_by NOT IN (SELECT id FROM acme_orders WHERE status IN ('processing', 'valid'));
