//! The PostgreSQL backend: one shared state for installations that outgrow one host. The URL is a
//! libpq-style `postgres://…`; a schema other than `public` is chosen with
//! `?options=-c%20search_path%3DSCHEMA` (the schema must exist).

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgConnection, Postgres, Transaction,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

use super::{
    StateError, StateErrorKind, StateLocation, sql,
    store_impl::{impl_state_store, impl_write_helpers},
};

static MIGRATOR: Migrator = sqlx::migrate!("src/state/migrations/postgres");

/// A state store in PostgreSQL.
pub struct PostgresStore {
    pool: PgPool,
    location: String,
}

impl PostgresStore {
    /// Connects to the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<PostgresStore, StateError> {
        let location = StateLocation::Postgres(url.to_owned()).to_string();
        let options = PgConnectOptions::from_str(url).map_err(|err| {
            StateError::new(
                StateErrorKind::Open,
                format!(
                    "state store at {location}: not a PostgreSQL URL: {err}: expected `postgres://USER@HOST:PORT/DATABASE`"
                ),
            )
            .with_source(err)
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(|err| {
                StateError::new(
                    StateErrorKind::Open,
                    format!(
                        "state store at {location}: cannot connect: {err}: check that PostgreSQL runs there and accepts this user"
                    ),
                )
                .with_source(err)
            })?;
        if let Err(err) = MIGRATOR.run(&pool).await {
            let applied: Option<i64> = sqlx::query_scalar(sql::APPLIED_VERSION)
                .fetch_one(&pool)
                .await
                .ok()
                .flatten();
            pool.close().await;
            return Err(sql::migrate_error(&location, err, applied, known_version()));
        }
        Ok(PostgresStore { pool, location })
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StateError> {
        self.pool
            .begin()
            .await
            .map_err(|e| sql::db_error(&self.location, "*", "begin a transaction", e))
    }
}

/// The highest schema version this binary knows.
fn known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

impl_write_helpers!(PostgresStore, PgConnection);
impl_state_store!(PostgresStore);
