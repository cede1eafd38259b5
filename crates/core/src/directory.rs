//! Who is who: the CRM reps and the tenant's mailbox users that mailbox selection works on.
//!
//! Plain data shared by the core (`mapping::mailboxes::select`) and the transports that read it (the CRM
//! reads reps, Graph reads users and probes their mailboxes), so the core never imports a transport.

use std::fmt;

/// A record id: the CRM's `id` attribute, trimmed, kept opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(String);

impl RecordId {
    pub fn new(id: &str) -> Self {
        Self(id.trim().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rep (ID) with its connector flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rep {
    pub id: RecordId,
    pub rep_id: String,
    pub name: String,
    pub email: Option<String>,
    pub enable_connector: bool,
    pub sync_emails: bool,
    pub sync_appointments: bool,
    pub sync_tasks: bool,
    pub sync_contacts: bool,
}

/// How a mailbox's time zone was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZoneSource {
    /// `mailboxSettings.timeZone`.
    MailboxSettings,
    /// The configured default (mailboxSettings was refused: MailboxSettings.Read is missing).
    ConfiguredDefault,
}

/// Whether a user can be synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxState {
    /// An Exchange Online mailbox; its time zone (Windows or IANA name).
    Ready {
        time_zone: String,
        source: TimeZoneSource,
    },
    /// No Exchange Online mailbox (404 `MailboxNotEnabledForRESTAPI`): the one-line diagnosis.
    NoMailbox { diagnosis: String },
    /// The app may not read this mailbox (403, e.g. outside an application access policy).
    Denied { diagnosis: String },
}

/// A user of a managed domain and its mailbox state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxUser {
    pub id: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub account_enabled: Option<bool>,
    pub mailbox: MailboxState,
    /// Graph `proxyAddresses` as returned (`SMTP:primary@…`, `smtp:alias@…`, `X500:…`); a rep's e-mail
    /// matches any SMTP one.
    pub proxy_addresses: Vec<String>,
}

impl MailboxUser {
    /// Every SMTP address of the user: `mail`, then the SMTP proxy addresses (prefix `smtp:` in any case
    /// removed; other address types left out), without repeats (case ignored).
    pub fn smtp_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let proxies = self.proxy_addresses.iter().filter_map(|p| {
            let (kind, address) = p.split_once(':')?;
            kind.eq_ignore_ascii_case("smtp").then_some(address)
        });
        for address in self.mail.as_deref().into_iter().chain(proxies) {
            let address = address.trim();
            if !address.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(address)) {
                out.push(address.to_owned());
            }
        }
        out
    }
}
