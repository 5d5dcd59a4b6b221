-- The column's name as in PostgreSQL (where USER is reserved), so that
-- both engines run the same statements (store/sqlstore).
ALTER TABLE est_users RENAME COLUMN user TO user_name;
