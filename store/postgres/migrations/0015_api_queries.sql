-- 0014: The API's queries run in the store, not over pages in memory.
-- Certificate listings page by the row value (not_after, serial), which this
-- index serves in order without a sort; audit queries filter by actor,
-- action or time in seq order (the primary key) and page by seq.
CREATE INDEX certificates_expiry ON certificates (not_after, serial);
DROP INDEX certificates_not_after;
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_time ON audit_log (time);
