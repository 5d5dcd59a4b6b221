-- 0020: a rolled-over generation's link certificate (RFC 4210 §4.4
-- "newWithOld"): the new key certified by the previous generation's key,
-- so that relying parties holding only the previous CA certificate can
-- still build a path to a leaf of the new key (ACME's alternate chain,
-- EST /cacerts). Empty for generation 1 and for CAs rolled over before.
ALTER TABLE cas ADD COLUMN link_der BYTEA NOT NULL DEFAULT ''::bytea;
ALTER TABLE ca_generations ADD COLUMN link_der BYTEA NOT NULL DEFAULT ''::bytea;
