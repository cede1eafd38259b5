-- graph-connector state store, schema version 1 (PostgreSQL).
-- Times are integer milliseconds since the Unix epoch (UTC). Every row a mailbox owns carries `mailbox`
-- (the Entra user object id), so one database can serve several connector instances.
-- Keep in step with ../sqlite/0001_init.sql: same tables, columns and constraints.

-- Graph item <-> CRM record, with the content hash of each side at the last sync.
CREATE TABLE links (
    mailbox         TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    graph_id        TEXT    NOT NULL,
    correlation_key TEXT,
    change_key      TEXT,
    crm_table       TEXT    NOT NULL,
    crm_id          TEXT    NOT NULL,
    graph_hash      TEXT    NOT NULL,
    crm_hash        TEXT    NOT NULL,
    mapping_version TEXT    NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (mailbox, resource, graph_id),
    UNIQUE (mailbox, resource, crm_table, crm_id)
);
CREATE INDEX links_by_crm ON links (crm_table, crm_id);
CREATE INDEX links_by_correlation ON links (resource, correlation_key);

-- Delta cursors; `scope` is a folder id or a time window.
CREATE TABLE cursors (
    mailbox  TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope    TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (mailbox, resource, scope)
);

-- One row per mailbox: the last outcome, shown by the status endpoint and `sync` reports.
CREATE TABLE mailbox_status (
    mailbox       TEXT    NOT NULL PRIMARY KEY,
    address       TEXT    NOT NULL,
    last_success  BIGINT,
    last_error_at BIGINT,
    last_error    TEXT,
    last_fix      TEXT,
    counts        TEXT    NOT NULL
);

-- Write journal: the intent is recorded before a write and resolved after it.
CREATE TABLE write_journal (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox      TEXT    NOT NULL,
    resource     TEXT    NOT NULL,
    direction    TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    target       TEXT,
    match_key    TEXT    NOT NULL,
    payload_hash TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    resolved_at  BIGINT,
    status       TEXT,
    result_id    TEXT,
    detail       TEXT
);
CREATE INDEX write_journal_pending ON write_journal (mailbox, resolved_at);

-- Audit log of every change: hashes, never content.
CREATE TABLE audit_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time            BIGINT  NOT NULL,
    mailbox         TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    direction       TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    graph_id        TEXT,
    crm_id          TEXT,
    mapping_version TEXT    NOT NULL,
    before_hash     TEXT,
    after_hash      TEXT
);
CREATE INDEX audit_log_by_mailbox ON audit_log (mailbox, id);
