-- 0009: failed-login token buckets shared by the instances of one store
-- (store.AuthFailureStore).

CREATE TABLE auth_failures (
    key    TEXT    NOT NULL PRIMARY KEY, -- "u:<user>" or "a:<address>"
    tokens REAL    NOT NULL,
    at     INTEGER NOT NULL              -- unix nanoseconds of the last draw
) STRICT, WITHOUT ROWID;
CREATE INDEX auth_failures_at ON auth_failures (at);
