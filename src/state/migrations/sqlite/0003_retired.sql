-- graph-connector state store, schema version 3 (SQLite): a mailbox whose user left the tenant is retired.
-- Keep in step with ../postgres/0003_retired.sql.
-- retired_at: when a cycle found the mailbox's user gone from the directory (milliseconds since the epoch);
--             NULL while the mailbox exists. Its links stay until `graph-connector retired --clean-up`.
ALTER TABLE mailbox_status ADD COLUMN retired_at INTEGER;
