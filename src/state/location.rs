//! `state.location`: which backend holds the state and where, parsed from one string, and `open` that
//! turns it into a ready [`StateStore`] (migrations applied).
//!
//! The enum is a config type of the core (`config::StateLocation`), parsed once when the config is read;
//! this module adds what needs the backends.

use std::sync::Arc;

pub use graph_connector_core::config::StateLocation;

use super::{PostgresStore, SqliteStore, StateError, StateStore};

/// Opens the store at `location`, creating it (SQLite) and applying migrations as needed.
pub async fn open(location: &StateLocation) -> Result<Arc<dyn StateStore>, StateError> {
    Ok(match location {
        StateLocation::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StateLocation::Postgres(url) => Arc::new(PostgresStore::open(url).await?),
        StateLocation::Memory => Arc::new(SqliteStore::open_in_memory().await?),
    })
}
