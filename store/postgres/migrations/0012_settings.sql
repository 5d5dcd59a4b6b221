-- 0010: settings of the CA itself that every process must agree on, such
-- as the public URL written into certificates (store.Store.Setting).

CREATE TABLE settings (
    name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
