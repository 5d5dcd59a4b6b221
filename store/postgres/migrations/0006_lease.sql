-- 0006: leases (store.Leaser): background work that must run once across
-- every instance sharing the database goes to whoever holds its lease.
-- A holder that dies stops renewing; once expires has passed another
-- instance takes over.

CREATE TABLE leases (
    name    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder  TEXT   NOT NULL,
    expires BIGINT NOT NULL -- unix nanoseconds
);
