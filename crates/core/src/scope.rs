//! Which new Graph items a mailbox files at all, before any mapping: e-mail history before
//! `schedules.messages.since`, system-generated messages (meeting messages, automatic replies, delivery
//! reports) and correspondence with excluded addresses or domains (`sync.exclude`). Pure; the runner
//! applies the verdict to items that are not linked yet (a linked item keeps syncing).
//!
//! How a system message is recognised (the first rule that fires wins; docs/sync-rules.md):
//! - **meeting**: `@odata.type` `#microsoft.graph.eventMessage…` (request, response), a
//!   `meetingMessageType` other than `none`, or the message class `IPM.Schedule.Meeting.*`;
//! - **delivery report**: the message class `REPORT.*` (non-delivery, delivery, read and delay reports), a
//!   `Content-Type: multipart/report` header, or a sender whose local part is `mailer-daemon` or
//!   `postmaster` (or Exchange's `MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e`);
//! - **automatic reply**: the message class `IPM.Note.Rules.OofTemplate.*` or
//!   `IPM.Note.Rules.ReplyTemplate.*`, or an `Auto-Submitted` header other than `no` (RFC 3834).
//!
//! The message class is the MAPI property `PidTagMessageClass`, read as the single-value extended
//! property [`MESSAGE_CLASS_PROPERTY_ID`] (the transport expands it with message delta rounds); headers
//! count only when Graph returned `internetMessageHeaders`.

use std::fmt;

use jiff::Timestamp;
use serde_json::Value;

pub use crate::spec::mapping::SystemMessage;

/// The extended property id of `PidTagMessageClass` (`IPM.Note`, `IPM.Schedule.Meeting.Request`, …).
pub const MESSAGE_CLASS_PROPERTY_ID: &str = "String 0x001A";

/// Local parts of senders of delivery reports.
const REPORT_SENDERS: &[&str] = &[
    "mailer-daemon",
    "postmaster",
    "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e",
];

/// Why an item is outside the mailbox's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutOfScope {
    /// Received before `since`.
    Before {
        received: Timestamp,
        since: Timestamp,
    },
    /// A system-generated message of a skipped kind.
    System(SystemMessage),
    /// A participant matches `sync.exclude` (the matching address, and the entry).
    Excluded { address: String, entry: String },
}

impl OutOfScope {
    /// A stable snake_case code for reports and tests.
    pub fn code(&self) -> &'static str {
        match self {
            OutOfScope::Before { .. } => "before_since",
            OutOfScope::System(SystemMessage::Meeting) => "meeting_message",
            OutOfScope::System(SystemMessage::AutomaticReply) => "automatic_reply",
            OutOfScope::System(SystemMessage::DeliveryReport) => "delivery_report",
            OutOfScope::Excluded { .. } => "excluded",
        }
    }
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutOfScope::Before { received, since } => write!(
                f,
                "received {received}, before the mailbox's e-mail start {since} (schedules.messages.since): not filed"
            ),
            OutOfScope::System(kind) => write!(
                f,
                "{} (sync.skip_messages): not filed as an e-mail",
                match kind {
                    SystemMessage::Meeting => "a meeting request or response",
                    SystemMessage::AutomaticReply => "an automatic reply",
                    SystemMessage::DeliveryReport => "a delivery report",
                }
            ),
            OutOfScope::Excluded { address, entry } => write!(
                f,
                "participant {address} matches `{entry}` of sync.exclude: not synced"
            ),
        }
    }
}

/// The scope rules of one mailbox and resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Messages received before this instant are out (messages only).
    pub since: Option<Timestamp>,
    /// System-generated message kinds that are out (messages only).
    pub skip: Vec<SystemMessage>,
    /// Addresses and domains whose correspondence is out.
    pub exclude: Vec<String>,
    /// The mailbox owner's addresses, never matched against `exclude`.
    pub owner: Vec<String>,
}

impl Scope {
    /// `None` when the item is in scope, otherwise why not (the first rule that fires: `since`, system
    /// messages, exclusions).
    pub fn verdict(&self, item: &Value) -> Option<OutOfScope> {
        if let (Some(since), Some(received)) = (self.since, received(item))
            && received < since
        {
            return Some(OutOfScope::Before { received, since });
        }
        if !self.skip.is_empty()
            && let Some(kind) = system_message(item)
            && self.skip.contains(&kind)
        {
            return Some(OutOfScope::System(kind));
        }
        for address in participant_addresses(item) {
            if self.owner.iter().any(|o| o.eq_ignore_ascii_case(&address)) {
                continue;
            }
            if let Some(entry) = self.exclude.iter().find(|e| matches_entry(&address, e)) {
                return Some(OutOfScope::Excluded {
                    address,
                    entry: entry.clone(),
                });
            }
        }
        None
    }
}

/// When a message arrived: `receivedDateTime`, else `sentDateTime`, else `createdDateTime`.
pub fn received(item: &Value) -> Option<Timestamp> {
    ["receivedDateTime", "sentDateTime", "createdDateTime"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str)?.parse().ok())
}

/// The kind of system-generated message `item` is, if any (see the module doc for the rules).
pub fn system_message(item: &Value) -> Option<SystemMessage> {
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
    let class = message_class(item).unwrap_or("").to_ascii_lowercase();
    let odata = text("@odata.type").to_ascii_lowercase();
    let meeting_type = text("meetingMessageType");
    if odata.starts_with("#microsoft.graph.eventmessage")
        || (!meeting_type.is_empty() && !meeting_type.eq_ignore_ascii_case("none"))
        || class.starts_with("ipm.schedule.meeting.")
    {
        return Some(SystemMessage::Meeting);
    }
    let header = |name: &str| {
        item.get("internetMessageHeaders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|h| {
                h.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|h| h.get("value").and_then(Value::as_str))
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let sender_local = ["from", "sender"].iter().find_map(|k| {
        let address = item
            .pointer(&format!("/{k}/emailAddress/address"))?
            .as_str()?;
        Some(address.split('@').next()?.trim().to_ascii_lowercase())
    });
    if class.starts_with("report.")
        || header("Content-Type").is_some_and(|v| v.starts_with("multipart/report"))
        || sender_local.is_some_and(|l| REPORT_SENDERS.contains(&l.as_str()))
    {
        return Some(SystemMessage::DeliveryReport);
    }
    if class.starts_with("ipm.note.rules.ooftemplate")
        || class.starts_with("ipm.note.rules.replytemplate")
        || header("Auto-Submitted").is_some_and(|v| !v.is_empty() && v != "no")
    {
        return Some(SystemMessage::AutomaticReply);
    }
    None
}

/// `PidTagMessageClass` when the item was read with it expanded.
pub fn message_class(item: &Value) -> Option<&str> {
    item.get("singleValueExtendedProperties")?
        .as_array()?
        .iter()
        .find(|p| {
            p.get("id")
                .and_then(Value::as_str)
                .is_some_and(is_message_class_id)
        })?
        .get("value")?
        .as_str()
}

/// `String 0x001A` in any spelling Graph answers with (`String 0x1a`).
fn is_message_class_id(id: &str) -> bool {
    let mut parts = id.split_whitespace();
    let (Some(kind), Some(tag), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let tag = tag.trim_start_matches("0x").trim_start_matches("0X");
    kind.eq_ignore_ascii_case("string") && u32::from_str_radix(tag, 16) == Ok(0x1a)
}

/// Every participant address of a message or event: sender, recipients, reply-to, organizer, attendees.
pub fn participant_addresses(item: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: &Value| {
        if let Some(a) = v.pointer("/emailAddress/address").and_then(Value::as_str) {
            let a = a.trim();
            if !a.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
                out.push(a.to_owned());
            }
        }
    };
    for key in ["from", "sender", "organizer"] {
        if let Some(v) = item.get(key) {
            push(v);
        }
    }
    for key in [
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "replyTo",
        "attendees",
    ] {
        for v in item
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(v);
        }
    }
    out
}

/// Whether `address` matches one `sync.exclude` entry: the whole address, or its domain (`example.org`,
/// `@example.org`; subdomains of the domain match too). Case is ignored.
pub fn matches_entry(address: &str, entry: &str) -> bool {
    let address = address.trim().to_lowercase();
    let entry = entry.trim().to_lowercase();
    if entry.is_empty() {
        return false;
    }
    if let Some(domain) = entry.strip_prefix('@') {
        return domain_matches(&address, domain);
    }
    if entry.contains('@') {
        return address == entry;
    }
    domain_matches(&address, &entry)
}

fn domain_matches(address: &str, domain: &str) -> bool {
    let Some((_, own)) = address.rsplit_once('@') else {
        return false;
    };
    own == domain || own.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        Scope {
            since: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            skip: SystemMessage::ALL.to_vec(),
            exclude: vec![
                "hr@contoso.com".into(),
                "@family.example".into(),
                "clinic.example".into(),
            ],
            owner: vec!["ana@contoso.com".into(), "ana.alvarez@contoso.com".into()],
        }
    }

    fn mail(extra: Value) -> Value {
        let mut m = json!({
            "subject": "Offer",
            "receivedDateTime": "2026-12-02T08:00:00Z",
            "from": {"emailAddress": {"address": "grace@fabrikam.com"}},
            "toRecipients": [{"emailAddress": {"address": "ana@contoso.com"}}],
        });
        if let (Value::Object(m), Value::Object(x)) = (&mut m, extra) {
            m.extend(x);
        }
        m
    }

    #[test]
    fn ordinary_mail_after_since_is_in_scope() {
        assert_eq!(scope().verdict(&mail(json!({}))), None);
        assert_eq!(Scope::default().verdict(&mail(json!({}))), None);
    }

    #[test]
    fn mail_received_before_since_is_out() {
        let v = scope().verdict(&mail(json!({"receivedDateTime": "2026-11-30T23:59:59Z"})));
        assert_eq!(v.map(|v| v.code()), Some("before_since"));
        // No time at all: in scope.
        let mut m = mail(json!({}));
        m.as_object_mut().unwrap().remove("receivedDateTime");
        assert_eq!(scope().verdict(&m), None);
    }

    #[test]
    fn system_messages_are_recognised() {
        let class = |c: &str| json!({"singleValueExtendedProperties": [{"id": "String {5f6c2b1a-8d3e-4c7f-9a2b-3e4d5c6b7a81} Name CrmRecordId", "value": "x"}, {"id": "String 0x1a", "value": c}]});
        let cases = [
            (
                json!({"@odata.type": "#microsoft.graph.eventMessageRequest"}),
                Some(SystemMessage::Meeting),
            ),
            (
                json!({"meetingMessageType": "meetingAccepted"}),
                Some(SystemMessage::Meeting),
            ),
            (json!({"meetingMessageType": "none"}), None),
            (
                class("IPM.Schedule.Meeting.Resp.Tent"),
                Some(SystemMessage::Meeting),
            ),
            (
                class("IPM.Note.Rules.OofTemplate.Microsoft"),
                Some(SystemMessage::AutomaticReply),
            ),
            (
                class("REPORT.IPM.Note.NDR"),
                Some(SystemMessage::DeliveryReport),
            ),
            (
                class("REPORT.IPM.Note.IPNRN"),
                Some(SystemMessage::DeliveryReport),
            ),
            (class("IPM.Note"), None),
            (
                json!({"internetMessageHeaders": [{"name": "auto-submitted", "value": "auto-replied"}]}),
                Some(SystemMessage::AutomaticReply),
            ),
            (
                json!({"internetMessageHeaders": [{"name": "Auto-Submitted", "value": "no"}]}),
                None,
            ),
            (
                json!({"from": {"emailAddress": {"address": "MAILER-DAEMON@fabrikam.com"}}}),
                Some(SystemMessage::DeliveryReport),
            ),
            (json!({"@odata.type": "#microsoft.graph.message"}), None),
        ];
        for (extra, want) in cases {
            let m = mail(extra.clone());
            assert_eq!(system_message(&m), want, "{extra}");
        }
        let mut only_meetings = scope();
        only_meetings.skip = vec![SystemMessage::Meeting];
        assert_eq!(
            only_meetings.verdict(&mail(class("IPM.Note.Rules.OofTemplate.Microsoft"))),
            None
        );
    }

    #[test]
    fn excluded_addresses_and_domains_keep_correspondence_out() {
        let v = |to: &str| {
            scope().verdict(&mail(
                json!({"ccRecipients": [{"emailAddress": {"address": to}}]}),
            ))
        };
        assert_eq!(
            v("HR@contoso.com"),
            Some(OutOfScope::Excluded {
                address: "HR@contoso.com".into(),
                entry: "hr@contoso.com".into()
            })
        );
        assert!(v("mum@family.example").is_some());
        assert!(v("dr@mail.clinic.example").is_some());
        assert!(v("someone@notclinic.example").is_none());
        assert!(v("sales@contoso.com").is_none());
        // The owner's own addresses never match.
        let mut own = scope();
        own.exclude = vec!["contoso.com".into()];
        assert_eq!(own.verdict(&mail(json!({}))), None);
        let event = json!({"organizer": {"emailAddress": {"address": "boss@family.example"}}});
        assert!(scope().verdict(&event).is_some());
    }
}
