-- graph-connector state store, schema version 2 (SQLite): what the planner needs to know about a link
-- besides its hashes. Keep in step with ../postgres/0002_link_roles.sql.
-- authoritative: this copy writes the record's fields (1) or only adds its rep as participant (0).
-- published:     the record is ConnectorPublished (organizer not a synced rep): Graph -> CRM only.
-- origin:        `graph` (the record came from, or was adopted for, the Graph item) or `crm` (the connector
--                created the Graph item from the record).
ALTER TABLE links ADD COLUMN authoritative INTEGER NOT NULL DEFAULT 1;
ALTER TABLE links ADD COLUMN published INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN origin TEXT NOT NULL DEFAULT 'graph';
