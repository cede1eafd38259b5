//! The SQLite backend, the default: one file (created on first use, WAL mode, fully synchronous commits)
//! or an in-memory database for tests. Writes take the write lock up front (`BEGIN IMMEDIATE`) so that
//! concurrent writers wait for each other instead of failing.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Sqlite, SqliteConnection, Transaction,
    migrate::Migrator,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

use super::{
    StateError, StateErrorKind, StateLocation, sql,
    store_impl::{impl_state_store, impl_write_helpers},
};

static MIGRATOR: Migrator = sqlx::migrate!("src/state/migrations/sqlite");

/// A state store in SQLite.
pub struct SqliteStore {
    pool: SqlitePool,
    location: String,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies migrations. The file's
    /// directory must exist.
    pub async fn open(path: &Path) -> Result<SqliteStore, StateError> {
        let location = StateLocation::Sqlite(path.to_owned()).to_string();
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Err(StateError::new(
                StateErrorKind::Open,
                format!(
                    "state store at {location}: directory `{}` does not exist: create it or point state.location at an existing directory",
                    dir.display()
                ),
            ));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| open_error(&location, e))?;
        SqliteStore::migrate(pool, location).await
    }

    /// An empty in-memory store; it lives as long as the value.
    pub async fn open_in_memory() -> Result<SqliteStore, StateError> {
        let location = StateLocation::Memory.to_string();
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| open_error(&location, e))?;
        // One connection that never idles out: an in-memory database dies with its last connection.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| open_error(&location, e))?;
        SqliteStore::migrate(pool, location).await
    }

    async fn migrate(pool: SqlitePool, location: String) -> Result<SqliteStore, StateError> {
        if let Err(err) = MIGRATOR.run(&pool).await {
            let applied: Option<i64> = sqlx::query_scalar(sql::APPLIED_VERSION)
                .fetch_one(&pool)
                .await
                .ok()
                .flatten();
            pool.close().await;
            return Err(sql::migrate_error(&location, err, applied, known_version()));
        }
        Ok(SqliteStore { pool, location })
    }

    /// A write transaction holding SQLite's write lock from its start.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StateError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| sql::db_error(&self.location, "*", "begin a transaction", e))
    }
}

/// The highest schema version this binary knows.
fn known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

fn open_error(location: &str, err: sqlx::Error) -> StateError {
    StateError::new(
        StateErrorKind::Open,
        format!("state store at {location}: cannot open the database: {err}"),
    )
    .with_source(err)
}

impl_write_helpers!(SqliteStore, SqliteConnection);
impl_state_store!(SqliteStore);
