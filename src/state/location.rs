//! `state.location`: which backend holds the state and where, parsed from one string, and `open` that
//! turns it into a ready [`StateStore`] (migrations applied).
//!
//! The enum is self-contained on purpose: it will move into the config types, which must not depend on
//! the backends.

use std::{fmt, path::PathBuf, sync::Arc};

use super::{PostgresStore, SqliteStore, StateError, StateStore};

/// Where the state lives, as written in `state.location`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateLocation {
    /// `sqlite:PATH` or `sqlite://PATH`: a SQLite file, created on first use (its directory must exist).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`: a PostgreSQL database (libpq-style URL).
    Postgres(String),
    /// `memory`: an in-memory SQLite database that goes with the process (tests, dry runs).
    Memory,
}

impl StateLocation {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, `postgres://…`, `postgresql://…` or `memory` (also
    /// written `sqlite::memory:`, as sqlx spells it).
    pub fn parse(text: &str) -> Result<StateLocation, String> {
        let text = text.trim();
        if text == "memory" || text == "sqlite::memory:" {
            return Ok(StateLocation::Memory);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let rest = text.split_once("://").map_or("", |(_, rest)| rest);
            if rest.is_empty() {
                return Err(format!(
                    "state location `{text}` names no PostgreSQL server: expected `postgres://USER@HOST:PORT/DATABASE`"
                ));
            }
            return Ok(StateLocation::Postgres(text.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(format!(
                    "state location `{text}` has no file path: expected `sqlite:PATH`, e.g. `sqlite:state/connector.db`"
                ));
            }
            return Ok(StateLocation::Sqlite(PathBuf::from(path)));
        }
        Err(format!(
            "state location `{text}` is not understood: expected `sqlite:PATH`, `postgres://USER@HOST:PORT/DATABASE` or `memory`"
        ))
    }
}

/// The location as it may appear in messages and logs: a PostgreSQL password is masked.
impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StateLocation::Postgres(url) => f.write_str(&mask_password(url)),
            StateLocation::Memory => f.write_str("memory"),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; anything else unchanged.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

/// Opens the store at `location`, creating it (SQLite) and applying migrations as needed.
pub async fn open(location: &StateLocation) -> Result<Arc<dyn StateStore>, StateError> {
    Ok(match location {
        StateLocation::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StateLocation::Postgres(url) => Arc::new(PostgresStore::open(url).await?),
        StateLocation::Memory => Arc::new(SqliteStore::open_in_memory().await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            StateLocation::parse("sqlite:state/c.db"),
            Ok(StateLocation::Sqlite("state/c.db".into()))
        );
        assert_eq!(
            StateLocation::parse("sqlite://state/c.db"),
            Ok(StateLocation::Sqlite("state/c.db".into()))
        );
        assert_eq!(
            StateLocation::parse("sqlite:///var/lib/c.db"),
            Ok(StateLocation::Sqlite("/var/lib/c.db".into()))
        );
        assert_eq!(
            StateLocation::parse("postgresql://u@h/db"),
            Ok(StateLocation::Postgres("postgresql://u@h/db".into()))
        );
        assert_eq!(StateLocation::parse("memory"), Ok(StateLocation::Memory));
        assert_eq!(
            StateLocation::parse("sqlite::memory:"),
            Ok(StateLocation::Memory)
        );
        for bad in ["sqlite:", "postgres://", "mysql://h/db", "state.db", ""] {
            let err = StateLocation::parse(bad).unwrap_err();
            assert!(err.contains("expected"), "{bad}: {err}");
        }
    }

    #[test]
    fn display_masks_the_password() {
        let loc =
            StateLocation::Postgres("postgres://gc:s3cret@db:5432/state?sslmode=require".into());
        assert_eq!(
            loc.to_string(),
            "postgres://gc:***@db:5432/state?sslmode=require"
        );
        let loc = StateLocation::Postgres("postgres://gc@db/state".into());
        assert_eq!(loc.to_string(), "postgres://gc@db/state");
    }
}
