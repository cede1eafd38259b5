//! Secret resolution at the edge: turns a config `SecretRef` (`env:NAME`, `file:PATH` or a literal) into the
//! secret itself. The only place that reads secrets; the core's config types hold references only.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::{config::SecretRef, limits::MAX_SECRET_FILE_BYTES};

/// Why a secret reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set (expected by secret reference `env:{0}`)")]
    MissingEnv(String),
    #[error("cannot read secret file `{path}`: {source}")]
    File {
        path: PathBuf,
        source: crate::load::ReadError,
    },
    #[error("secret reference `{0}` resolves to an empty value")]
    Empty(String),
}

/// Resolves a secret reference; `file:` paths are relative to `base` (the config file's directory).
pub fn resolve_secret(secret: &SecretRef, base: &Path) -> Result<SecretString, SecretError> {
    let value = if let Some(name) = secret.0.strip_prefix("env:") {
        std::env::var(name).map_err(|_| SecretError::MissingEnv(name.to_string()))?
    } else if let Some(path) = secret.0.strip_prefix("file:") {
        let path = base.join(path);
        crate::load::read_text(&path, MAX_SECRET_FILE_BYTES)
            .map_err(|source| SecretError::File { path, source })?
            .trim()
            .to_string()
    } else {
        secret.0.clone()
    };
    if value.is_empty() {
        let shown = if secret.is_literal() {
            "<literal>".to_string()
        } else {
            secret.0.clone()
        };
        return Err(SecretError::Empty(shown));
    }
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_resolve_from_env_and_file_and_literal() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.txt"), "from-file\n").unwrap();
        let s = resolve_secret(&SecretRef("file:s.txt".into()), dir.path()).unwrap();
        assert_eq!(s.expose_secret(), "from-file");
        let s = resolve_secret(&SecretRef("literal".into()), dir.path()).unwrap();
        assert_eq!(s.expose_secret(), "literal");
        let err = resolve_secret(
            &SecretRef("env:GRAPH_CONNECTOR_TEST_SURELY_UNSET".into()),
            dir.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
        assert_eq!(
            format!("{:?}", SecretRef("hunter2".into())),
            "SecretRef(<literal, redacted>)"
        );
    }
}
