//! Typed CRM errors: what went wrong, where (table, record, field), and whether a retry can help.

use std::fmt;

use crate::transport::Disposition;

/// What kind of failure a CRM operation met. The wire codes behind each kind are listed in
/// `docs/crm-interface-assumptions.md` (G4); [`CrmErrorKind::from_code`] is the one place mapping them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmErrorKind {
    /// Wrong user or password, or the impersonated rep does not exist (`auth`).
    Auth,
    /// The caller may not do this: impersonation by a non-master user or wrong client, missing rights.
    PermissionDenied,
    /// The info area does not exist (`unknown-table`).
    UnknownTable,
    /// The field does not exist in the info area (`unknown-field`).
    UnknownField,
    /// A required field was not given (`required-field-missing`).
    RequiredFieldMissing,
    /// No (undeleted) record with that id (`not-found`).
    NotFound,
    /// A value the CRM cannot store: bad date, unknown catalog value, too long, read-only field.
    InvalidValue,
    /// A custom attribute used a protected name (`protected-attribute`).
    ProtectedAttribute,
    /// An upsert's match key found several records; nothing was written (`ambiguous-match`).
    AmbiguousMatch,
    /// The CRM did not understand the request (`malformed`).
    Malformed,
    /// A server failure worth retrying: `511`, `500`, HTTP 5xx, timeout, dropped connection.
    Transient,
    /// A write was sent, its answer was lost, and it could not be confirmed or safely repeated.
    UnknownOutcome,
    /// A value contains a character XML 1.0 cannot carry; nothing was sent.
    InvalidCharacter,
    /// A table or field name that is not a valid XML name; nothing was sent.
    InvalidName,
    /// The answer did not have the expected shape.
    Protocol,
    /// The HTTP client could not be built or the URL is unusable.
    Config,
    /// An error code this client does not know (kept verbatim).
    Other(String),
}

impl CrmErrorKind {
    /// Maps a `<return type="error" code="…">` code to a kind (assumption G4).
    pub fn from_code(code: &str) -> Self {
        match code {
            "auth" => Self::Auth,
            "permission-denied" => Self::PermissionDenied,
            "unknown-table" => Self::UnknownTable,
            "unknown-field" => Self::UnknownField,
            "required-field-missing" => Self::RequiredFieldMissing,
            "not-found" => Self::NotFound,
            "invalid-value" => Self::InvalidValue,
            "protected-attribute" => Self::ProtectedAttribute,
            "ambiguous-match" => Self::AmbiguousMatch,
            "malformed" => Self::Malformed,
            "511" | "500" => Self::Transient,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire code of this kind (used by the memory fake and in messages).
    pub fn code(&self) -> &str {
        match self {
            Self::Auth => "auth",
            Self::PermissionDenied => "permission-denied",
            Self::UnknownTable => "unknown-table",
            Self::UnknownField => "unknown-field",
            Self::RequiredFieldMissing => "required-field-missing",
            Self::NotFound => "not-found",
            Self::InvalidValue => "invalid-value",
            Self::ProtectedAttribute => "protected-attribute",
            Self::AmbiguousMatch => "ambiguous-match",
            Self::Malformed => "malformed",
            Self::Transient => "511",
            Self::UnknownOutcome => "unknown-outcome",
            Self::InvalidCharacter => "invalid-character",
            Self::InvalidName => "invalid-name",
            Self::Protocol => "protocol",
            Self::Config => "config",
            Self::Other(code) => code,
        }
    }
}

/// A failed CRM operation. `table`, `record` and `field` name the place when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmError {
    pub kind: CrmErrorKind,
    pub table: Option<String>,
    /// Record id, or the client's correlation value for a record that has no id yet.
    pub record: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl CrmError {
    pub fn new(kind: CrmErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            table: None,
            record: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    pub fn record(mut self, record: impl Into<String>) -> Self {
        self.record = Some(record.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// True for failures where repeating the same request can succeed (server failure, timeout,
    /// dropped connection). Validation, auth and permission errors are final.
    pub fn is_retryable(&self) -> bool {
        self.kind == CrmErrorKind::Transient
    }

    /// What the sync runner does about this error (see [`Disposition`]). An `Auth` failure is the master
    /// user's login (every request logs in as the master user), so it parks every mailbox.
    pub fn disposition(&self) -> Disposition {
        match self.kind {
            CrmErrorKind::Transient | CrmErrorKind::UnknownOutcome => Disposition::Retry,
            CrmErrorKind::Auth | CrmErrorKind::PermissionDenied | CrmErrorKind::Config => {
                Disposition::ParkMailbox
            }
            CrmErrorKind::UnknownTable
            | CrmErrorKind::UnknownField
            | CrmErrorKind::RequiredFieldMissing
            | CrmErrorKind::NotFound
            | CrmErrorKind::InvalidValue
            | CrmErrorKind::ProtectedAttribute
            | CrmErrorKind::AmbiguousMatch
            | CrmErrorKind::Malformed
            | CrmErrorKind::InvalidCharacter
            | CrmErrorKind::InvalidName
            | CrmErrorKind::Protocol
            | CrmErrorKind::Other(_) => Disposition::FailItem,
        }
    }
}

impl fmt::Display for CrmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message may quote the CRM's answer, which a hostile endpoint can fill with the request
        // (`pwd="…"`): secret-looking values never print.
        let message = crate::redact::redact_patterns(&self.message);
        write!(f, "crm {}: {message}", self.kind.code())?;
        let mut place = Vec::new();
        if let Some(table) = &self.table {
            place.push(format!("table `{table}`"));
        }
        if let Some(record) = &self.record {
            place.push(format!("record `{record}`"));
        }
        if let Some(field) = &self.field {
            place.push(format!("field `{field}`"));
        }
        if !place.is_empty() {
            write!(f, " ({})", place.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for CrmError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_place() {
        let err = CrmError::new(CrmErrorKind::UnknownField, "unknown field Subjct")
            .table("Contact")
            .field("Subjct");
        assert_eq!(
            err.to_string(),
            "crm unknown-field: unknown field Subjct (table `Contact`, field `Subjct`)"
        );
        assert!(!err.is_retryable());
        assert!(CrmError::new(CrmErrorKind::from_code("511"), "x").is_retryable());
    }

    #[test]
    fn every_kind_has_a_disposition() {
        use CrmErrorKind::*;
        use Disposition::*;
        let cases = [
            (Transient, Retry),
            (UnknownOutcome, Retry),
            (Auth, ParkMailbox),
            (PermissionDenied, ParkMailbox),
            (Config, ParkMailbox),
            (UnknownTable, FailItem),
            (UnknownField, FailItem),
            (RequiredFieldMissing, FailItem),
            (NotFound, FailItem),
            (InvalidValue, FailItem),
            (ProtectedAttribute, FailItem),
            (AmbiguousMatch, FailItem),
            (Malformed, FailItem),
            (InvalidCharacter, FailItem),
            (InvalidName, FailItem),
            (Protocol, FailItem),
            (Other("teapot".into()), FailItem),
        ];
        for (kind, expected) in cases {
            let err = CrmError::new(kind.clone(), "x");
            assert_eq!(err.disposition(), expected, "{kind:?}");
            // Retry and `is_retryable` agree except for a lost answer, which only a later cycle may retry.
            if kind != UnknownOutcome {
                assert_eq!(err.is_retryable(), expected == Retry, "{kind:?}");
            }
        }
        // The wire codes come out the same way.
        assert_eq!(
            CrmError::new(CrmErrorKind::from_code("500"), "x").disposition(),
            Retry
        );
        assert_eq!(
            CrmError::new(CrmErrorKind::from_code("auth"), "x").disposition(),
            ParkMailbox
        );
        assert_eq!(
            CrmError::new(CrmErrorKind::from_code("not-found"), "x").disposition(),
            FailItem
        );
    }
}
