//! `connector.yaml`: the typed connector configuration with the setup guide's defaults.
//!
//! The types double as the source of `schemas/connector.schema.json` (field docs become schema text).
//! Secrets are never written in the file: `client_secret` and `crm.password` are references (`env:NAME`
//! or `file:PATH`) resolved at the edge (`graph_connector::secrets`) only when a transport needs them; a literal value is
//! accepted with a warning. [`check`] adds the diagnostics the schema cannot express.

use std::{
    borrow::Cow,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{diag::Diagnostic, spec::yaml::Document};

/// The connector configuration (`connector.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Microsoft Graph: the Entra app registration the connector signs in with.
    pub graph: GraphConfig,
    /// Aurea CRM: how to reach CRM.interface and as whom.
    #[serde(default)]
    pub crm: CrmConfig,
    /// Mailbox discovery.
    #[serde(default)]
    pub mailboxes: MailboxesConfig,
    /// How often each resource is synchronized, and over which time window.
    #[serde(default)]
    pub schedules: Schedules,
    /// Where the synchronization state (delta links, id maps) is kept.
    #[serde(default)]
    pub state: StateConfig,
    /// The connector's own status endpoint.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Which mapping specs to run.
    #[serde(default)]
    pub mappings: MappingsConfig,
}

/// Microsoft Graph settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Directory (tenant) ID of the Microsoft 365 tenant: a GUID, or a verified domain name such as
    /// `contoso.onmicrosoft.com`.
    pub tenant_id: String,
    /// Application (client) ID of the Entra app registration, a GUID.
    pub client_id: String,
    /// The client secret's *value* (not its ID), as a reference: `env:NAME` or `file:PATH`.
    pub client_secret: SecretRef,
    /// Administrator to notify about problems (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// Mailbox domains the connector manages; CRM reps with other domains are skipped.
    #[serde(default)]
    pub managed_domains: Vec<String>,
    /// Graph base URL; override to point at the emulator.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// OAuth token endpoint; default `https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Time zone used when a mailbox's own time zone cannot be read (Windows or IANA name).
    #[serde(default = "default_time_zone")]
    pub default_time_zone: String,
}

impl GraphConfig {
    /// The token endpoint: `token_url` or the Microsoft identity platform's for `tenant_id`.
    pub fn token_endpoint(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                self.tenant_id
            )
        })
    }
}

/// Which CRM transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrmTransport {
    /// Aurea CRM.interface over HTTP (production).
    #[default]
    Interface,
    /// An in-memory CRM (tests, dry runs).
    Memory,
}

/// Aurea CRM settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrmConfig {
    /// Transport: `interface` (CRM.interface over HTTP) or `memory`.
    #[serde(default)]
    pub transport: CrmTransport,
    /// CRM.interface URL (required with the `interface` transport).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// CRM master user the connector logs in as.
    #[serde(default = "default_crm_user")]
    pub user: String,
    /// The master user's password, as a reference: `env:NAME` or `file:PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Client name sent to CRM.interface; also the `ExtSystem` of the connector's external keys.
    #[serde(default = "default_crm_client")]
    pub client: String,
    /// CRM language (catalog texts, missing-attendees headers): `en` or `de`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Date format on the CRM wire.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// Time format on the CRM wire.
    #[serde(default = "default_time_format")]
    pub time_format: String,
    /// Timeout of one CRM request.
    #[serde(default = "default_crm_timeout")]
    pub timeout: Duration,
    /// The time zone CRM dates and times are kept in (Windows or IANA name); every mailbox's items are
    /// converted to it, so copies of one meeting in mailboxes of different zones map alike. Default:
    /// `graph.default_time_zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Names this CRM installation in the stamps the connector puts on Graph items (`NAMESPACE/TABLE:ID`),
    /// so a second installation (a test CRM pointed at the production tenant) never takes over the items
    /// of another. Letters, digits, `.`, `_`, `-`; at most 32 characters. Default: a short hash of
    /// `crm.url` and `graph.tenant_id` (set it to keep the stamps when the CRM's URL changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<String>,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            transport: CrmTransport::default(),
            url: None,
            user: default_crm_user(),
            password: None,
            client: default_crm_client(),
            language: default_language(),
            date_format: default_date_format(),
            time_format: default_time_format(),
            timeout: default_crm_timeout(),
            time_zone: None,
            installation: None,
        }
    }
}

/// Mailbox discovery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxesConfig {
    /// How often the list of mailboxes (CRM reps with the connector enabled) is refreshed.
    #[serde(default = "default_mailbox_refresh")]
    pub refresh: Duration,
}

impl Default for MailboxesConfig {
    fn default() -> Self {
        Self {
            refresh: default_mailbox_refresh(),
        }
    }
}

/// Per-resource schedules (the setup guide's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedules {
    /// E-mails: every 10 minutes, from the mailbox's first sync on, Inbox and Sent Items.
    #[serde(default)]
    pub messages: MessageSchedule,
    /// Appointments: every 10 minutes, 7 days past to 7 days future.
    #[serde(default = "Schedule::events")]
    pub events: Schedule,
    /// To Do tasks: every 10 minutes, 7 days past to 7 days future.
    #[serde(default = "Schedule::tasks")]
    pub tasks: Schedule,
    /// Contacts: every 1440 minutes (once a day), created in the contact folder `CRM contacts`.
    #[serde(default)]
    pub contacts: ContactSchedule,
}

impl Default for Schedules {
    fn default() -> Self {
        Self {
            messages: MessageSchedule::default(),
            events: Schedule::events(),
            tasks: Schedule::tasks(),
            contacts: ContactSchedule::default(),
        }
    }
}

/// One resource's schedule. Missing keys take the resource's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Whether this resource is synchronized at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Interval between two runs, e.g. `10m`.
    pub every: Duration,
    /// How far into the past items are synchronized (time-bound resources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past: Option<Duration>,
    /// How far into the future items are synchronized (time-bound resources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub future: Option<Duration>,
}

impl Schedule {
    fn every(minutes: u64) -> Self {
        Self {
            enabled: true,
            every: Duration::from_secs(minutes * 60),
            past: None,
            future: None,
        }
    }

    fn windowed(minutes: u64, days_past: u64, days_future: u64) -> Self {
        Self {
            past: Some(Duration::from_secs(days_past * 86_400)),
            future: Some(Duration::from_secs(days_future * 86_400)),
            ..Self::every(minutes)
        }
    }

    /// Appointments: every 10 minutes, window 7 days past / 7 days future.
    pub fn events() -> Self {
        Self::windowed(10, 7, 7)
    }

    /// Tasks: like appointments.
    pub fn tasks() -> Self {
        Self::windowed(10, 7, 7)
    }
}

/// The contact schedule: how often, and the contact folder the connector fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactSchedule {
    /// Whether contacts are synchronized at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Interval between two runs (default `1440m`).
    #[serde(default = "default_contact_interval")]
    pub every: Duration,
    /// The contact folder (display name) the connector creates contacts in, made once per mailbox
    /// when missing (default `CRM contacts`). Contacts in the default folder that the connector
    /// adopted (matched by e-mail address) stay there and keep syncing.
    #[serde(default = "default_contact_folder")]
    pub folder: String,
}

impl Default for ContactSchedule {
    fn default() -> Self {
        Self {
            enabled: true,
            every: default_contact_interval(),
            folder: default_contact_folder(),
        }
    }
}

fn default_contact_interval() -> Duration {
    Duration::from_secs(1440 * 60)
}

/// The contact folder the connector creates contacts in when `schedules.contacts.folder` is not given.
pub fn default_contact_folder() -> String {
    "CRM contacts".to_owned()
}

/// The e-mail schedule: how often, from when, and which mail folders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageSchedule {
    /// Whether e-mails are synchronized at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Interval between two runs (default `10m`).
    #[serde(default = "default_message_interval")]
    pub every: Duration,
    /// Where e-mail history starts: messages received before it are never filed (messages already
    /// linked still update). A date (`2026-01-01`, midnight UTC), an RFC 3339 time, or a duration
    /// (`30d`: that long before the mailbox's first sync). Default: the moment the mailbox is first
    /// synced, remembered per mailbox, so the first run imports no old mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
    /// Mail folders read, by well-known name (`inbox`, `sentitems`, `archive`) or folder id (default
    /// `[inbox, sentitems]`). Junk E-mail, Deleted Items, Drafts and Outbox are never read.
    #[serde(default = "default_mail_folders")]
    pub folders: Vec<String>,
    /// Also read every folder under the configured ones, at any depth, including folders created
    /// later (default `true`). Junk E-mail, Deleted Items, Drafts and Outbox are never read, even
    /// when they sit under a configured folder.
    #[serde(default = "yes")]
    pub subfolders: bool,
}

impl Default for MessageSchedule {
    fn default() -> Self {
        Self {
            enabled: true,
            every: default_message_interval(),
            since: None,
            folders: default_mail_folders(),
            subfolders: true,
        }
    }
}

fn default_message_interval() -> Duration {
    Duration::from_secs(600)
}

/// The mail folders read when `schedules.messages.folders` is not given.
pub fn default_mail_folders() -> Vec<String> {
    vec!["inbox".to_owned(), "sentitems".to_owned()]
}

/// Mail folders the connector never reads (well-known names, compared without case, spaces, `-` or
/// `_`), whatever the configuration says: junk, deleted, unsent and unsendable mail is not correspondence.
pub const NEVER_READ_FOLDERS: &[&str] = &[
    "junkemail",
    "junk",
    "deleteditems",
    "drafts",
    "outbox",
    "recoverableitemsdeletions",
];

/// Whether `folder` names a folder the connector never reads.
pub fn never_read_folder(folder: &str) -> bool {
    let key: String = folder
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    NEVER_READ_FOLDERS.contains(&key.as_str())
}

/// `schedules.messages.since`: a fixed instant, or a duration before the mailbox's first sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Messages received at or after this instant.
    At(jiff::Timestamp),
    /// Messages received at most this long before the mailbox's first sync.
    Before(Duration),
}

impl Since {
    /// The instant for a mailbox first synced at `first_sync`.
    pub fn resolve(self, first_sync: jiff::Timestamp) -> jiff::Timestamp {
        match self {
            Since::At(t) => t,
            Since::Before(d) => jiff::SignedDuration::try_from(d.get())
                .ok()
                .and_then(|d| first_sync.checked_sub(d).ok())
                .unwrap_or(jiff::Timestamp::MIN),
        }
    }
}

impl FromStr for Since {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let digits = t.trim_end_matches(['s', 'm', 'h', 'd']);
        if digits.len() + 1 == t.len() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse::<Duration>()
                .map(Since::Before)
                .map_err(|e| e.to_string());
        }
        if let Ok(at) = t.parse::<jiff::Timestamp>() {
            return Ok(Since::At(at));
        }
        if let Ok(date) = t.parse::<jiff::civil::Date>() {
            return jiff::tz::TimeZone::UTC
                .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
                .map(Since::At)
                .map_err(|e| format!("`{t}` is out of range: {e}"));
        }
        Err(format!(
            "`{t}` is not a start for e-mails: expected a date (`2026-01-01`), an RFC 3339 time (`2026-01-01T08:00:00Z`) or a duration before the first sync (`30d`)"
        ))
    }
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Since::At(t) => write!(f, "{t}"),
            Since::Before(d) => write!(f, "{d}"),
        }
    }
}

impl Serialize for Since {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Since {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Since {
    fn schema_name() -> Cow<'static, str> {
        "Since".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(s|m|h|d)|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$",
            "description": "A date (`2026-01-01`, midnight UTC), an RFC 3339 time, or a duration before the mailbox's first sync (`30d`).",
            "examples": ["2026-01-01", "2026-01-01T08:00:00Z", "30d"]
        })
    }
}

/// Where the synchronization state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite:PATH` (relative to this file), `postgres://USER@HOST/DB` or `memory`.
    #[serde(default = "default_state_location")]
    pub location: StateLocation,
}

/// A parsed `state.location`: which backend holds the state, and where. Parsed once, when the config is
/// read, so every consumer matches on the backend instead of re-reading prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// `sqlite:PATH` (or `sqlite://PATH`): one file, created on first use.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`: a shared PostgreSQL database.
    Postgres(String),
    /// `memory`: nothing survives the process (dry runs, tests).
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
            "state location `{}` is not understood: expected `sqlite:PATH`, `postgres://USER@HOST:PORT/DATABASE` or `memory`",
            crate::redact::mask_url(text)
        ))
    }
}

impl FromStr for StateLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// The location as it may appear in messages and logs: a PostgreSQL password is masked.
impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask_password(url)),
            Self::Memory => f.write_str("memory"),
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

impl Serialize for StateLocation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StateLocation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for StateLocation {
    fn schema_name() -> Cow<'static, str> {
        "StateLocation".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(memory|sqlite:.+|postgres(ql)?://.+)$",
            "description": "`sqlite:PATH` (relative to the config file), `postgres://USER@HOST/DB` or `memory`.",
            "examples": ["sqlite:graph-connector.db", "postgres://connector@db.internal/graph_connector", "memory"]
        })
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            location: default_state_location(),
        }
    }
}

/// The connector's status endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `HOST:PORT` to listen on; keep it on loopback unless a proxy in front guards it.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// How many mailboxes are read at once (each mailbox also keeps Graph's limit of 4 requests in
    /// flight).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    4
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            concurrency: default_concurrency(),
        }
    }
}

/// Which mappings to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingsConfig {
    /// Directory of the mapping specs (relative to this file).
    #[serde(default = "default_mappings_dir")]
    pub dir: PathBuf,
    /// Template overlay from `DIR/templates/NAME.yaml`, e.g. `isi` (default: base behaviour only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl Default for MappingsConfig {
    fn default() -> Self {
        Self {
            dir: default_mappings_dir(),
            template: None,
        }
    }
}

fn default_graph_url() -> String {
    "https://graph.microsoft.com/v1.0".into()
}
fn default_time_zone() -> String {
    "UTC".into()
}
fn default_crm_user() -> String {
    "OCSU".into()
}
fn default_crm_client() -> String {
    "GraphApi".into()
}
fn default_language() -> String {
    "en".into()
}
/// A wire format as configured (`YYYY-MM-DD`, `DD.MM.YYYY`, `HH:MM`, or a strftime pattern with `%`) as
/// a strftime pattern: `YYYY` → `%Y`, `MM` after an hour field → minutes (`%M`), otherwise month (`%m`),
/// `DD` → `%d`, `HH` → `%H`, `SS` → `%S`.
pub fn strftime_pattern(text: &str) -> String {
    if text.contains('%') {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut rest = text;
    let mut after_hour = false;
    while !rest.is_empty() {
        let (token, len) = if rest.starts_with("YYYY") {
            ("%Y", 4)
        } else if rest.starts_with("DD") {
            ("%d", 2)
        } else if rest.starts_with("HH") {
            after_hour = true;
            ("%H", 2)
        } else if rest.starts_with("MM") {
            (if after_hour { "%M" } else { "%m" }, 2)
        } else if rest.starts_with("SS") {
            ("%S", 2)
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            if c == '%' {
                out.push('%');
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        out.push_str(token);
        rest = &rest[len..];
    }
    out
}

fn default_date_format() -> String {
    "YYYY-MM-DD".into()
}
fn default_time_format() -> String {
    "HH:MM".into()
}
fn default_crm_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_mailbox_refresh() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_state_location() -> StateLocation {
    StateLocation::Sqlite(PathBuf::from("graph-connector.db"))
}
fn default_listen() -> String {
    "127.0.0.1:8089".into()
}
fn default_mappings_dir() -> PathBuf {
    PathBuf::from("mappings")
}
fn yes() -> bool {
    true
}

impl ConnectorConfig {
    /// The namespace of this installation's stamps on Graph items: `crm.installation`, or the first 12
    /// hex digits of the FNV-1a 64 hash of `crm.url` (lower case, no trailing `/`; `memory` for the
    /// in-process CRM) and `graph.tenant_id` (lower case), joined by `|`.
    pub fn installation(&self) -> String {
        if let Some(name) = self.crm.installation.as_deref().map(str::trim)
            && !name.is_empty()
        {
            return name.to_owned();
        }
        let url = match self.crm.transport {
            CrmTransport::Memory => "memory".to_owned(),
            CrmTransport::Interface => self
                .crm
                .url
                .as_deref()
                .unwrap_or("")
                .trim()
                .trim_end_matches('/')
                .to_lowercase(),
        };
        let text = format!("{url}|{}", self.graph.tenant_id.trim().to_lowercase());
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")[..12].to_owned()
    }

    /// Makes relative paths (mapping directory, `sqlite:` state file) relative to `base`, the
    /// directory of the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        if self.mappings.dir.is_relative() {
            self.mappings.dir = base.join(&self.mappings.dir);
        }
        if let StateLocation::Sqlite(path) = &mut self.state.location
            && !path.to_string_lossy().starts_with(':')
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }
}

/// A duration written as a number and a unit: `30s`, `10m`, `24h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// The standard library duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration: {reason}")]
pub struct DurationError {
    pub text: String,
    pub reason: &'static str,
}

/// What a duration looks like, for `expected:` lines.
pub const DURATION_EXPECTED: &str =
    "a whole number followed by a unit, e.g. `30s`, `10m`, `24h`, `7d`";

/// The schema pattern of [`Duration`]; also used to recognise duration errors in schema validation.
pub const DURATION_PATTERN: &str = "^[0-9]+(s|m|h|d)$";

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            text: text.to_string(),
            reason,
        };
        let text_trim = text.trim();
        let split = text_trim
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| err("missing unit (s, m, h or d)"))?;
        let (digits, unit) = text_trim.split_at(split);
        if digits.is_empty() {
            return Err(err("expected a whole number before the unit"));
        }
        let n: u64 = digits.parse().map_err(|_| err("number too large"))?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(err("unknown unit, expected s, m, h or d")),
        };
        n.checked_mul(scale)
            .map(Duration::from_secs)
            .ok_or_else(|| err("number too large"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        for (unit, scale) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if secs != 0 && secs.is_multiple_of(scale) {
                return write!(f, "{}{unit}", secs / scale);
            }
        }
        write!(f, "{secs}s")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A whole number and a unit: `s` seconds, `m` minutes, `h` hours, `d` days (e.g. `10m`)."
        })
    }
}

/// A reference to a secret: `env:NAME` (environment variable) or `file:PATH` (file content, trimmed;
/// relative to the config file). Anything else is a literal secret, accepted with a warning.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

impl SecretRef {
    /// Whether this is a literal secret rather than an `env:` or `file:` reference.
    pub fn is_literal(&self) -> bool {
        !(self.0.starts_with("env:") || self.0.starts_with("file:"))
    }
}

/// Never prints a literal secret.
impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_literal() {
            f.write_str("SecretRef(<literal, redacted>)")
        } else {
            write!(f, "SecretRef({:?})", self.0)
        }
    }
}

impl JsonSchema for SecretRef {
    fn schema_name() -> Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "A secret reference: `env:NAME` or `file:PATH`. A literal value works but is reported as a warning.",
            "examples": ["env:GRAPH_CLIENT_SECRET", "file:/run/secrets/graph"]
        })
    }
}

fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A service URL must be `http(s)://` without user info: a password in a URL is a secret written
/// literally, and it would show wherever the URL does. Messages never repeat a URL's password.
fn check_url(doc: &Document, pointer: &str, value: &str) -> Option<Diagnostic> {
    let shown = crate::redact::mask_url(value);
    let expected = "an absolute `http://` or `https://` URL without user name or password";
    let url = match url::Url::parse(value) {
        Ok(url) => url,
        Err(err) => {
            return Some(
                doc.error(pointer, format!("`{shown}` is not a URL: {err}"))
                    .with_expected(expected),
            );
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Some(
            doc.error(
                pointer,
                format!("`{shown}` has the scheme `{}`", url.scheme()),
            )
            .with_expected(expected),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(
            doc.error(
                pointer,
                format!("`{shown}` carries a user name or password"),
            )
            .with_expected(expected)
            .with_hint(
                "credentials belong in the secret references (`crm.password: env:CRM_PASSWORD`), never in a URL",
            ),
        );
    }
    None
}

/// Checks the schema cannot express: literal secrets, GUIDs, URLs, the listen address, required
/// settings of the chosen transport. Returns warnings and errors located in `doc`.
pub fn check(doc: &Document, config: &ConnectorConfig) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let graph = &config.graph;
    // The token endpoint takes the tenant's GUID or one of its verified domain names.
    let tenant = &graph.tenant_id;
    let is_domain = tenant.contains('.')
        && tenant.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !is_guid(tenant) && !is_domain {
        out.push(
            doc.error(
                "/graph/tenant_id",
                format!("`{tenant}` is neither a tenant GUID nor a domain name"),
            )
            .with_expected(
                "the Directory (tenant) ID, a GUID like `8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f`, or a verified domain such as `contoso.onmicrosoft.com`",
            ),
        );
    }
    if !is_guid(&graph.client_id) {
        out.push(
            doc.error(
                "/graph/client_id",
                format!("`{}` is not a GUID", graph.client_id),
            )
            .with_expected(
                "the Application (client) ID of the app registration, a GUID like `3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43`",
            ),
        );
    }
    let mut secrets = vec![("/graph/client_secret", &graph.client_secret)];
    if let Some(password) = &config.crm.password {
        secrets.push(("/crm/password", password));
    }
    for (pointer, secret) in secrets {
        if secret.is_literal() {
            let mut d = doc
                .warning(pointer, "secret written literally in the config file")
                .with_expected("a reference: `env:NAME` or `file:PATH`")
                .with_hint("move the value to an environment variable or a file readable only by the connector");
            if pointer == "/graph/client_secret" && is_guid(&secret.0) {
                d = d.with_hint(
                    "this looks like the secret's ID (a GUID); Graph needs the secret's *value*, shown once when it was created",
                );
            }
            out.push(d);
        } else if let Some(name) = secret.0.strip_prefix("env:")
            && name.is_empty()
        {
            out.push(
                doc.error(
                    pointer,
                    "empty environment variable name in secret reference",
                )
                .with_expected("`env:NAME`"),
            );
        } else if secret.0 == "file:" {
            out.push(
                doc.error(pointer, "empty path in secret reference")
                    .with_expected("`file:PATH`"),
            );
        }
    }
    for (pointer, value) in [("/graph/graph_url", Some(&graph.graph_url))]
        .into_iter()
        .chain([
            ("/graph/token_url", graph.token_url.as_ref()),
            ("/crm/url", config.crm.url.as_ref()),
        ])
    {
        if let Some(value) = value {
            out.extend(check_url(doc, pointer, value));
        }
    }
    if crate::mapping::time::resolve_time_zone(&graph.default_time_zone).is_none() {
        out.push(
            doc.error(
                "/graph/default_time_zone",
                format!("unknown time zone `{}`", graph.default_time_zone),
            )
            .with_expected(
                "a Windows name such as `W. Europe Standard Time` or an IANA name such as `Europe/Berlin`",
            )
            .with_hint_opt(crate::diag::did_you_mean(
                &graph.default_time_zone,
                jiff::tz::db().available().map(|n| n.as_str().to_string()),
            )),
        );
    }
    if let Some(email) = &graph.admin_email
        && !email.contains('@')
    {
        out.push(
            doc.error(
                "/graph/admin_email",
                format!("`{email}` is not an e-mail address"),
            )
            .with_expected("an address like `admin@contoso.com`"),
        );
    }
    if config.crm.transport == CrmTransport::Interface && config.crm.url.is_none() {
        out.push(
            doc.diag_key(
                "/crm",
                crate::diag::Severity::Error,
                "missing `url` for the `interface` CRM transport",
            )
            .with_expected("`url: https://crm.example.com/crm.interface` (or `transport: memory`)"),
        );
    }
    if !matches!(config.crm.language.as_str(), "en" | "de") {
        out.push(
            doc.error(
                "/crm/language",
                format!("unsupported CRM language `{}`", config.crm.language),
            )
            .with_expected(crate::diag::one_of(["en", "de"])),
        );
    }
    match config.service.listen.parse::<SocketAddr>() {
        Ok(addr) if !addr.ip().is_loopback() => out.push(
            doc.warning(
                "/service/listen",
                format!("status endpoint listens on non-loopback address `{addr}`"),
            )
            .with_expected("a loopback address such as `127.0.0.1:8089`")
            .with_hint("the status endpoint has no authentication; put a proxy in front of it"),
        ),
        Ok(_) => {}
        Err(_) => out.push(
            doc.error(
                "/service/listen",
                format!("`{}` is not a socket address", config.service.listen),
            )
            .with_expected("`HOST:PORT` with an IP address, e.g. `127.0.0.1:8089`"),
        ),
    }
    for (name, every) in [
        ("events", &config.schedules.events.every),
        ("tasks", &config.schedules.tasks.every),
        ("contacts", &config.schedules.contacts.every),
    ] {
        if every.0.is_zero() {
            out.push(
                doc.error(
                    &format!("/schedules/{name}/every"),
                    "a schedule interval of zero",
                )
                .with_expected("at least `1m`")
                .with_hint(format!("to stop syncing {name}, set `enabled: false`")),
            );
        }
    }
    if config.schedules.messages.every.0.is_zero() {
        out.push(
            doc.error("/schedules/messages/every", "a schedule interval of zero")
                .with_expected("at least `1m`")
                .with_hint("to stop syncing messages, set `enabled: false`"),
        );
    }
    out.extend(check_mail_folders(doc, &config.schedules.messages.folders));
    out.extend(check_mail_subfolders(doc, &config.schedules.messages));
    out.extend(check_contact_folder(doc, &config.schedules.contacts.folder));
    if let Some(name) = &config.crm.installation {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.trim().is_empty() || name.len() > 32 || !name.chars().all(valid) {
            out.push(
                doc.error(
                    "/crm/installation",
                    format!("`{name}` cannot name a CRM installation in stamps"),
                )
                .with_expected(
                    "1 to 32 letters, digits, `.`, `_` or `-`, e.g. `production` or `test-crm`",
                ),
            );
        }
    }
    if config.mailboxes.refresh.0.is_zero() {
        out.push(
            doc.error("/mailboxes/refresh", "a refresh interval of zero")
                .with_expected("at least `1m`"),
        );
    }
    out
}

/// `schedules.contacts.folder`: a name Outlook takes for a folder (not empty, no more than 255
/// characters, no control characters), not the default folder itself.
fn check_contact_folder(doc: &Document, folder: &str) -> Vec<Diagnostic> {
    let pointer = "/schedules/contacts/folder";
    let expected = "a folder name such as `CRM contacts`";
    if folder.trim().is_empty() {
        return vec![
            doc.error(pointer, "an empty contact folder name")
                .with_expected(expected),
        ];
    }
    if folder.chars().count() > 255 || folder.chars().any(char::is_control) {
        return vec![
            doc.error(pointer, "a contact folder name Outlook does not take")
                .with_expected(format!(
                    "at most 255 characters, no control characters: {expected}"
                )),
        ];
    }
    if folder.trim().eq_ignore_ascii_case("contacts") {
        return vec![
            doc.error(pointer, "`Contacts` is the mailbox's default contact folder")
                .with_expected(expected)
                .with_hint("contacts the connector creates go to a folder of their own; Outlook contacts in the default folder are adopted by e-mail address and keep syncing"),
        ];
    }
    Vec::new()
}

/// `schedules.messages.subfolders` with the root of the folder tree among the folders reads the
/// whole mailbox (RSS feeds, conversation history, every archive): worth a warning.
fn check_mail_subfolders(doc: &Document, messages: &MessageSchedule) -> Vec<Diagnostic> {
    if !messages.subfolders {
        return Vec::new();
    }
    messages
        .folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.trim().eq_ignore_ascii_case("msgfolderroot"))
        .map(|(n, f)| {
            doc.warning(
                &format!("/schedules/messages/folders/{n}"),
                format!(
                    "mail folder `{f}` with `subfolders: true` reads every folder of the mailbox"
                ),
            )
            .with_expected("the folders that hold correspondence, e.g. `[inbox, sentitems]`")
            .with_hint("list the folders to read, or set `schedules.messages.subfolders: false`")
        })
        .collect()
}

/// `schedules.messages.folders`: at least one, none the connector never reads, no repeats.
fn check_mail_folders(doc: &Document, folders: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if folders.is_empty() {
        out.push(
            doc.error("/schedules/messages/folders", "no mail folder to read")
                .with_expected("at least one folder, e.g. `[inbox, sentitems]`")
                .with_hint("to stop syncing messages, set `enabled: false`"),
        );
    }
    for (n, folder) in folders.iter().enumerate() {
        let pointer = format!("/schedules/messages/folders/{n}");
        if folder.trim().is_empty() {
            out.push(
                doc.error(&pointer, "an empty mail folder name")
                    .with_expected(
                        "a well-known folder name (`inbox`, `sentitems`, `archive`) or a folder id",
                    ),
            );
        } else if never_read_folder(folder) {
            out.push(
                doc.error(
                    &pointer,
                    format!("mail folder `{folder}` is never read: junk, deleted, unsent and unsendable mail is not correspondence"),
                )
                .with_expected("a folder other than Junk E-mail, Deleted Items, Drafts and Outbox, e.g. `inbox`, `sentitems` or `archive`"),
            );
        } else if folders[..n]
            .iter()
            .any(|f| f.trim().eq_ignore_ascii_case(folder.trim()))
        {
            out.push(
                doc.warning(&pointer, format!("mail folder `{folder}` is listed twice"))
                    .with_expected("each folder once"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!("10m".parse::<Duration>().unwrap(), Duration::from_secs(600));
        assert_eq!("7d".parse::<Duration>().unwrap().to_string(), "7d");
        assert_eq!(Duration::from_secs(1440 * 60).to_string(), "1d");
        assert_eq!(Duration::from_secs(90).to_string(), "90s");
        assert_eq!(
            "10".parse::<Duration>().unwrap_err().to_string(),
            "`10` is not a duration: missing unit (s, m, h or d)"
        );
        assert_eq!(
            "10w".parse::<Duration>().unwrap_err().reason,
            "unknown unit, expected s, m, h or d"
        );
        assert!("m".parse::<Duration>().is_err());
    }

    #[test]
    fn since_is_a_date_a_time_or_a_duration_before_the_first_sync() {
        let first: jiff::Timestamp = "2026-12-07T06:00:00Z".parse().unwrap();
        let at = |t: &str| t.parse::<Since>().unwrap().resolve(first).to_string();
        assert_eq!(at("2026-01-01"), "2026-01-01T00:00:00Z");
        assert_eq!(at("2026-01-01T08:30:00+01:00"), "2026-01-01T07:30:00Z");
        assert_eq!(at("30d"), "2026-11-07T06:00:00Z");
        assert_eq!("7d".parse::<Since>().unwrap().to_string(), "7d");
        for bad in ["yesterday", "2026", "2026-13-01", "10w", ""] {
            let err = bad.parse::<Since>().unwrap_err();
            assert!(
                err.contains("expected") || err.contains("unit"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn never_read_folders_are_recognised_in_any_spelling() {
        for name in [
            "junkemail",
            "Junk E-mail",
            "Deleted Items",
            "deleteditems",
            "DRAFTS",
            "Outbox",
        ] {
            assert!(never_read_folder(name), "{name}");
        }
        for name in ["inbox", "sentitems", "archive", "AAMkAGI2"] {
            assert!(!never_read_folder(name), "{name}");
        }
    }

    #[test]
    fn the_installation_namespace_depends_on_the_crm_and_the_tenant() {
        let config = |url: &str, tenant: &str, name: Option<&str>| -> ConnectorConfig {
            serde_json::from_value(serde_json::json!({
                "graph": {"tenant_id": tenant, "client_id": "c", "client_secret": "env:S"},
                "crm": {"url": url, "installation": name},
            }))
            .unwrap()
        };
        let prod = config("https://crm.contoso.com/crm.interface", "t1", None).installation();
        assert_eq!(prod.len(), 12);
        assert_eq!(
            prod,
            config("https://CRM.contoso.com/crm.interface/", "T1", None).installation()
        );
        assert_ne!(
            prod,
            config("https://crm-test.contoso.com/crm.interface", "t1", None).installation()
        );
        assert_ne!(
            prod,
            config("https://crm.contoso.com/crm.interface", "t2", None).installation()
        );
        assert_eq!(
            config("https://x", "t1", Some("production")).installation(),
            "production"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let mut config: ConnectorConfig = serde_json::from_value(serde_json::json!({
            "graph": {"tenant_id": "t", "client_id": "c", "client_secret": "env:S"}
        }))
        .unwrap();
        config.resolve_paths(Path::new("/etc/gc"));
        assert_eq!(config.mappings.dir, Path::new("/etc/gc/mappings"));
        assert_eq!(
            config.state.location,
            StateLocation::Sqlite(PathBuf::from("/etc/gc/graph-connector.db"))
        );
    }

    #[test]
    fn wire_formats_become_strftime_patterns() {
        assert_eq!(strftime_pattern("YYYY-MM-DD"), "%Y-%m-%d");
        assert_eq!(strftime_pattern("DD.MM.YYYY"), "%d.%m.%Y");
        assert_eq!(strftime_pattern("HH:MM"), "%H:%M");
        assert_eq!(strftime_pattern("HH:MM:SS"), "%H:%M:%S");
        assert_eq!(strftime_pattern("%d/%m/%Y"), "%d/%m/%Y");
    }

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
