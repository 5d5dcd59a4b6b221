-- 0009: failed-login token buckets shared by the instances (store.AuthFailureStore).

CREATE TABLE auth_failures (
    key    TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- "u:<user>" or "a:<address>"
    tokens DOUBLE PRECISION NOT NULL,
    at     BIGINT NOT NULL                        -- unix nanoseconds of the last draw
);
CREATE INDEX auth_failures_at ON auth_failures (at);
