-- 0020: certificates_issuer (issuer, not_after) is a prefix of
-- certificates_issuer_status (issuer, not_after, serial, ...), which serves
-- every query it served; one index fewer to write per certificate.
DROP INDEX IF EXISTS certificates_issuer;
