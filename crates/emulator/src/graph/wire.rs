//! The wire layer the handlers stand on: the emulator state they share, the request context, the
//! role checks and the fault answers. Handlers depend on this module and `http`; `router` depends on
//! the handlers; nothing here depends on a handler or on `router`.

use std::{sync::Mutex, time::Duration};

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{
    clock::Clock,
    http::{Req, Resp},
    render::View,
    store::{Store, TokenInfo},
    throttle::{RetryAfter, Throttle},
};

/// Delta behaviour knobs (defaults follow what Graph does in the wild).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeltaSettings {
    /// Page size when the client sends no `Prefer: odata.maxpagesize` / `$top`.
    pub default_page_size: usize,
    /// Each page after the first repeats the last item of the previous page.
    pub repeat_last_item: bool,
    /// The first request of a round answers an empty page with a nextLink.
    pub empty_first_page: bool,
    /// How many newer sync-state generations may exist before an old deltaLink gives 410.
    pub retained_generations: u64,
    /// How many newer generations (rounds of the same folder, list or calendar completed since
    /// this round started) a nextLink survives: Graph's nextLinks of an unfinished round go stale
    /// once newer generations exist, so the default is 0.
    pub retained_next_link_generations: u64,
}

impl Default for DeltaSettings {
    fn default() -> Self {
        DeltaSettings {
            default_page_size: 10,
            repeat_last_item: true,
            empty_first_page: true,
            retained_generations: 16,
            retained_next_link_generations: 0,
        }
    }
}

/// What every request sees: the tenant, the throttle, the clock and the settings.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub throttle: Mutex<Throttle>,
    pub clock: Clock,
    pub gate: watch::Sender<bool>,
    /// Woken after writes so the notification dispatcher looks for changes.
    pub changed: tokio::sync::Notify,
    pub delta: DeltaSettings,
    pub token_lifetime: Duration,
    /// `EmulatorOptions::allow_http_loopback_webhooks`.
    pub allow_http_loopback_webhooks: bool,
    pub base: String,
}

impl Shared {
    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base)
    }
}

/// The permission families Graph checks app roles by.
#[derive(Clone, Copy, PartialEq)]
pub enum Family {
    Directory,
    MailboxSettings,
    Mail,
    MailSend,
    Calendar,
    Contacts,
    Tasks,
}

/// Whether the token carries a role that allows this read or write.
pub fn has_role(token: &TokenInfo, family: Family, write: bool) -> bool {
    let ok: &[&str] = match (family, write) {
        (Family::Directory, _) => &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "User.ReadBasic.All",
        ],
        (Family::MailboxSettings, false) => &["MailboxSettings.Read", "MailboxSettings.ReadWrite"],
        (Family::MailboxSettings, true) => &["MailboxSettings.ReadWrite"],
        (Family::Mail, false) => &[
            "Mail.ReadBasic",
            "Mail.ReadBasic.All",
            "Mail.Read",
            "Mail.ReadWrite",
        ],
        (Family::Mail, true) => &["Mail.ReadWrite"],
        (Family::MailSend, _) => &["Mail.Send"],
        (Family::Calendar, false) => &[
            "Calendars.ReadBasic",
            "Calendars.Read",
            "Calendars.ReadWrite",
        ],
        (Family::Calendar, true) => &["Calendars.ReadWrite"],
        (Family::Contacts, false) => &["Contacts.Read", "Contacts.ReadWrite"],
        (Family::Contacts, true) => &["Contacts.ReadWrite"],
        (Family::Tasks, false) => &["Tasks.Read.All", "Tasks.ReadWrite.All"],
        (Family::Tasks, true) => &["Tasks.ReadWrite.All"],
    };
    token
        .roles
        .iter()
        .any(|r| ok.iter().any(|o| o.eq_ignore_ascii_case(r)))
}

/// Whether the app reads this family only through a *.ReadBasic role.
pub fn basic_only(token: &TokenInfo, family: Family) -> bool {
    let (basic, full): (&[&str], &[&str]) = match family {
        Family::Mail => (
            &["Mail.ReadBasic", "Mail.ReadBasic.All"],
            &["Mail.Read", "Mail.ReadWrite"],
        ),
        Family::Calendar => (
            &["Calendars.ReadBasic"],
            &["Calendars.Read", "Calendars.ReadWrite"],
        ),
        _ => return false,
    };
    let has = |names: &[&str]| {
        token
            .roles
            .iter()
            .any(|r| names.iter().any(|n| n.eq_ignore_ascii_case(r)))
    };
    has(basic) && !has(full)
}

/// One admitted mailbox request: who asks, what, when, and how the answer should look.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub token: &'a TokenInfo,
    pub req: &'a Req,
    pub now: Timestamp,
    pub view: View,
}

/// A 429/503/504 fault response with the chosen `Retry-After` variant.
pub fn fault_response(status: u16, retry: RetryAfter) -> Resp {
    let mut r = match status {
        429 => Resp::json(
            429,
            json!({"error": {"code": "TooManyRequests", "innerError": {"code": "429", "message": "Please retry after", "status": "429"}, "message": "Please retry again later."}}),
        ),
        503 => Resp::error(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        504 => Resp::error(
            504,
            "UnknownError",
            "The gateway did not receive a timely response from the mailbox server.",
        ),
        500 => Resp::error(
            500,
            "generalException",
            "An unspecified error has occurred.",
        ),
        502 => Resp::error(502, "UnknownError", "Bad gateway."),
        other => Resp::error(other, "UnknownError", "Injected fault."),
    };
    if let Some(h) = retry.header() {
        r = r.with_header("Retry-After", h);
    }
    r
}

/// A collection answer: `@odata.context` of `context` and the values.
pub(super) fn list_response(ctx: &Ctx, context: &str, values: Vec<Value>) -> Resp {
    Resp::ok(
        json!({"@odata.context": format!("{}/$metadata#{context}", ctx.shared.graph_base()), "value": values}),
    )
}
