//! The YAML seed: tenant, app registrations, users and the Outlook items in their mailboxes.
//!
//! Items are written in Graph's own JSON shapes (camelCase, as `GET` returns them) plus a few
//! emulator keys (`folder`, `exceptions`, `cancelledOccurrences`), so a seed reads like a
//! captured mailbox. The format is documented in `docs/graph-emulator.md`.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Error;

/// The sandbox seed shared with the CRM emulator (see the team brief): tenant contoso.com, one app,
/// ANA, BEN, CHL (no mailbox), DIE, EVA (outside the managed domain).
pub const DEFAULT_SEED_YAML: &str = include_str!("default-seed.yaml");

/// A Graph emulator seed: the emulated tenant, its app registrations and its users with the items in
/// their mailboxes (format: docs/graph-emulator.md).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The Entra tenant.
    pub tenant: TenantSeed,
    /// App registrations (the connector's Entra app).
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    /// Directory users, with their mailboxes.
    #[serde(default)]
    pub users: Vec<UserSeed>,
}

/// The Entra tenant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    /// Tenant GUID.
    pub id: String,
    /// Verified domains; the token endpoint accepts any of them in place of the GUID.
    pub domains: Vec<String>,
}

/// An app registration with its client secrets and admin-consented application roles.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Display name in the portal.
    #[serde(default = "default_app_name")]
    pub display_name: String,
    /// Client secrets.
    #[serde(default)]
    pub secrets: Vec<SecretSeed>,
    /// Granted application permissions, e.g. `Mail.ReadWrite` (carried in the token's `roles`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// A disabled app gets no tokens.
    #[serde(default)]
    pub disabled: bool,
    /// Exchange application access policy: when set, only these mailboxes (UPN or id) are
    /// reachable; others answer 403 "Access to OData is disabled.".
    #[serde(default)]
    pub access_policy_allow: Option<Vec<String>>,
}

fn default_app_name() -> String {
    "graph-connector".to_owned()
}

/// A client secret: its id (shown in the portal, often pasted by mistake), value and expiry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSeed {
    /// Secret id (a GUID; not the secret).
    pub id: String,
    /// Secret value (what the client sends).
    pub value: String,
    /// RFC 3339 instant; absent = never expires.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A directory user, optionally with an Exchange Online mailbox and its items.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSeed {
    /// Object id, a GUID.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Sign-in name (`ana@contoso.com`), unique in the tenant.
    pub user_principal_name: String,
    /// Primary SMTP address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Other addresses (`smtp:alias@contoso.com`, `X500:…`); Graph lists `SMTP:<mail>` first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_addresses: Vec<String>,
    /// Whether the account can sign in.
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    #[serde(default = "member")]
    pub user_type: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    #[serde(default)]
    pub office_location: Option<String>,
    /// Whether the user has an Exchange Online mailbox (false → 404 MailboxNotEnabledForRESTAPI).
    #[serde(default = "yes")]
    pub mailbox: bool,
    /// Windows (or IANA) time zone name returned by mailboxSettings.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Mail folders besides the well-known ones.
    #[serde(default)]
    pub mail_folders: Vec<FolderSeed>,
    /// Contact folders besides the root.
    #[serde(default)]
    pub contact_folders: Vec<FolderSeed>,
    /// Graph message JSON plus `folder` (well-known name or display name, default `inbox`).
    #[serde(default)]
    pub messages: Vec<Value>,
    /// Graph event JSON plus `exceptions` (list of `{originalStart: "YYYY-MM-DD", ...overrides}`)
    /// and `cancelledOccurrences` (list of `YYYY-MM-DD`) for series masters.
    #[serde(default)]
    pub events: Vec<Value>,
    /// Graph contact JSON plus `folder` (display name of a contact folder; default the root).
    #[serde(default)]
    pub contacts: Vec<Value>,
    /// To Do lists with their tasks.
    #[serde(default)]
    pub todo_lists: Vec<TodoListSeed>,
}

fn yes() -> bool {
    true
}
fn member() -> String {
    "Member".to_owned()
}
fn utc() -> String {
    "UTC".to_owned()
}

/// An extra mail or contact folder.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FolderSeed {
    /// Folder name.
    pub display_name: String,
    /// Mail folders only: the folder it is in, by well-known name (`inbox`) or the display name of
    /// a folder listed before it. Default: the top level (beside Inbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A To Do list with its tasks (Graph todoTask JSON).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TodoListSeed {
    /// List name.
    pub display_name: String,
    /// `defaultList`, `flaggedEmails` or `none`.
    #[serde(default = "none_list")]
    pub wellknown_list_name: String,
    /// Graph todoTask JSON.
    #[serde(default)]
    pub tasks: Vec<Value>,
}

fn none_list() -> String {
    "none".to_owned()
}

impl Seed {
    /// The built-in sandbox seed.
    pub fn sandbox() -> Seed {
        Seed::from_yaml(DEFAULT_SEED_YAML, "<built-in default seed>")
            .expect("the built-in graph seed parses")
    }

    /// Parses a seed; `origin` names the file in error messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Seed, Error> {
        crate::seed_limits::check_expansion(text).map_err(|message| Error::Seed {
            origin: origin.to_owned(),
            message,
        })?;
        let seed: Seed = serde_saphyr::from_str(text).map_err(|e| Error::Seed {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        seed.check(origin)?;
        Ok(seed)
    }

    /// Reads and parses a seed file (a regular file of at most 32 MiB).
    pub fn from_file(path: &Path) -> Result<Seed, Error> {
        use std::io::Read;
        const MAX_SEED_FILE: u64 = 32 * 1024 * 1024;
        let bad = |message: String| Error::Seed {
            origin: path.display().to_string(),
            message,
        };
        let file = std::fs::File::open(path)
            .and_then(|f| f.metadata().map(|m| (f, m)))
            .map_err(|e| bad(format!("cannot read the file: {e}")))?;
        if !file.1.is_file() {
            return Err(bad("not a regular file; expected a seed file".into()));
        }
        let mut text = String::new();
        file.0
            .take(MAX_SEED_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("cannot read the file: {e}")))?;
        if text.len() as u64 > MAX_SEED_FILE {
            return Err(bad("larger than 32 MiB; expected a smaller seed".into()));
        }
        Seed::from_yaml(&text, &path.display().to_string())
    }

    fn check(&self, origin: &str) -> Result<(), Error> {
        let bad = |message: String| Error::Seed {
            origin: origin.to_owned(),
            message,
        };
        if uuid::Uuid::parse_str(&self.tenant.id).is_err() {
            return Err(bad(format!(
                "tenant.id: expected a GUID, found `{}`",
                self.tenant.id
            )));
        }
        if self.tenant.domains.is_empty() {
            return Err(bad("tenant.domains: expected at least one domain".into()));
        }
        for (n, app) in self.apps.iter().enumerate() {
            if uuid::Uuid::parse_str(&app.client_id).is_err() {
                return Err(bad(format!(
                    "apps[{n}].client_id: expected a GUID, found `{}`",
                    app.client_id
                )));
            }
            for (k, secret) in app.secrets.iter().enumerate() {
                if let Some(exp) = &secret.expires
                    && exp.parse::<jiff::Timestamp>().is_err()
                {
                    return Err(bad(format!(
                        "apps[{n}].secrets[{k}].expires: expected an RFC 3339 instant such as 2027-01-01T00:00:00Z, found `{exp}`"
                    )));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (n, user) in self.users.iter().enumerate() {
            if uuid::Uuid::parse_str(&user.id).is_err() {
                return Err(bad(format!(
                    "users[{n}].id: expected a GUID, found `{}`",
                    user.id
                )));
            }
            if !seen.insert(user.user_principal_name.to_lowercase()) {
                return Err(bad(format!(
                    "users[{n}].userPrincipalName: `{}` is used twice",
                    user.user_principal_name
                )));
            }
            if super::calendar::zone(&user.time_zone).is_none() {
                return Err(bad(format!(
                    "users[{n}].timeZone: expected a Windows or IANA time zone name, found `{}`",
                    user.time_zone
                )));
            }
            let has_items = !user.messages.is_empty()
                || !user.events.is_empty()
                || !user.contacts.is_empty()
                || !user.todo_lists.is_empty();
            if !user.mailbox && has_items {
                return Err(bad(format!(
                    "users[{n}] ({}): items need `mailbox: true`",
                    user.user_principal_name
                )));
            }
        }
        Ok(())
    }
}
