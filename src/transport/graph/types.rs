//! Serde types of the Graph v1.0 resources and envelopes the client reads and writes.
//!
//! They follow Microsoft's documented payloads (`../shared/graph-examples`) and are lenient where the
//! docs and the service are: every property is optional (Graph omits what `$select` leaves out and
//! delta items can be sparse), enum values match case-insensitively and keep unknown values verbatim,
//! booleans also accept `"true"`/`"false"` strings (a documented docs bug), and every property this
//! client does not model is kept in `other` so nothing a mapping may want is lost.

use std::fmt;

use jiff::{Timestamp, civil};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Declares a Graph enum: canonical wire spelling, case-insensitive parsing, unknown values kept.
macro_rules! graph_enum {
    ($(#[$meta:meta])* $name:ident { $($var:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $wire, "`")] $var,)+
            /// A value this client does not know, kept as received.
            Other(String),
        }

        impl $name {
            /// The canonical (Graph v1.0) spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$var => $wire,)+
                    Self::Other(s) => s,
                }
            }

            /// Parses case-insensitively (the docs print some values capitalised).
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($wire) {
                    return Self::$var;
                })+
                Self::Other(s.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

graph_enum!(
    /// `event.showAs`.
    FreeBusyStatus { Free => "free", Tentative => "tentative", Busy => "busy", Oof => "oof",
        WorkingElsewhere => "workingElsewhere", Unknown => "unknown" }
);
graph_enum!(
    /// `event.sensitivity`.
    Sensitivity { Normal => "normal", Personal => "personal", Private => "private", Confidential => "confidential" }
);
graph_enum!(
    /// `importance` of events, messages and tasks.
    Importance { Low => "low", Normal => "normal", High => "high" }
);
graph_enum!(
    /// `event.type`.
    EventType { SingleInstance => "singleInstance", Occurrence => "occurrence", Exception => "exception",
        SeriesMaster => "seriesMaster" }
);
graph_enum!(
    /// `attendee.type`.
    AttendeeType { Required => "required", Optional => "optional", Resource => "resource" }
);
graph_enum!(
    /// `responseStatus.response`.
    ResponseType { None => "none", Organizer => "organizer", TentativelyAccepted => "tentativelyAccepted",
        Accepted => "accepted", Declined => "declined", NotResponded => "notResponded" }
);
graph_enum!(
    /// `itemBody.contentType`.
    BodyType { Text => "text", Html => "html" }
);
graph_enum!(
    /// `todoTask.status`.
    TaskStatus { NotStarted => "notStarted", InProgress => "inProgress", Completed => "completed",
        WaitingOnOthers => "waitingOnOthers", Deferred => "deferred" }
);
graph_enum!(
    /// `recurrencePattern.type`.
    RecurrencePatternType { Daily => "daily", Weekly => "weekly", AbsoluteMonthly => "absoluteMonthly",
        RelativeMonthly => "relativeMonthly", AbsoluteYearly => "absoluteYearly", RelativeYearly => "relativeYearly" }
);
graph_enum!(
    /// `recurrenceRange.type`.
    RecurrenceRangeType { EndDate => "endDate", NoEnd => "noEnd", Numbered => "numbered" }
);
graph_enum!(
    /// Days in recurrences and working hours.
    DayOfWeek { Sunday => "sunday", Monday => "monday", Tuesday => "tuesday", Wednesday => "wednesday",
        Thursday => "thursday", Friday => "friday", Saturday => "saturday" }
);
graph_enum!(
    /// `recurrencePattern.index`.
    WeekIndex { First => "first", Second => "second", Third => "third", Fourth => "fourth", Last => "last" }
);
graph_enum!(
    /// `followupFlag.flagStatus`.
    FollowupFlagStatus { NotFlagged => "notFlagged", Complete => "complete", Flagged => "flagged" }
);
graph_enum!(
    /// `todoTaskList.wellknownListName`.
    WellknownListName { None => "none", DefaultList => "defaultList", FlaggedEmails => "flaggedEmails",
        UnknownFutureValue => "unknownFutureValue" }
);

/// Lenient deserializers for documented docs bugs.
pub mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};
    use serde_json::Value;

    /// `Option<bool>` that also accepts `"true"` / `"false"` (any case), as printed in some docs.
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(D::Error::custom(format!(
                "expected a boolean (or \"true\"/\"false\"), found {other}"
            ))),
        }
    }
}

/// `@removed` on a delta item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    /// `deleted` for Outlook items; `changed` only in directory delta.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `itemBody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    #[serde(default)]
    pub content_type: Option<BodyType>,
    #[serde(default)]
    pub content: Option<String>,
}

/// `emailAddress`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `recipient`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    #[serde(default)]
    pub email_address: Option<EmailAddress>,
}

/// `dateTimeTimeZone`: a wall-clock time (no offset) in a named zone (Windows or IANA name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    pub date_time: civil::DateTime,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `physicalAddress`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalAddress {
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country_or_region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
}

/// `outlookGeoCoordinates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeoCoordinates {
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub altitude: Option<f64>,
    #[serde(default)]
    pub altitude_accuracy: Option<f64>,
}

/// `location`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub location_type: Option<String>,
    #[serde(default)]
    pub location_uri: Option<String>,
    #[serde(default)]
    pub location_email_address: Option<String>,
    #[serde(default)]
    pub unique_id: Option<String>,
    #[serde(default)]
    pub unique_id_type: Option<String>,
    #[serde(default)]
    pub address: Option<PhysicalAddress>,
    #[serde(default)]
    pub coordinates: Option<GeoCoordinates>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `responseStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseStatus {
    #[serde(default)]
    pub response: Option<ResponseType>,
    #[serde(default)]
    pub time: Option<Timestamp>,
}

/// `attendee`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    #[serde(default, rename = "type")]
    pub kind: Option<AttendeeType>,
    #[serde(default)]
    pub status: Option<ResponseStatus>,
    #[serde(default)]
    pub email_address: Option<EmailAddress>,
}

/// `recurrencePattern`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrencePattern {
    #[serde(default, rename = "type")]
    pub kind: Option<RecurrencePatternType>,
    #[serde(default)]
    pub interval: Option<i32>,
    #[serde(default)]
    pub month: Option<i32>,
    #[serde(default)]
    pub day_of_month: Option<i32>,
    #[serde(default)]
    pub days_of_week: Option<Vec<DayOfWeek>>,
    #[serde(default)]
    pub first_day_of_week: Option<DayOfWeek>,
    #[serde(default)]
    pub index: Option<WeekIndex>,
}

/// `recurrenceRange`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrenceRange {
    #[serde(default, rename = "type")]
    pub kind: Option<RecurrenceRangeType>,
    #[serde(default)]
    pub start_date: Option<civil::Date>,
    #[serde(default)]
    pub end_date: Option<civil::Date>,
    #[serde(default)]
    pub recurrence_time_zone: Option<String>,
    #[serde(default)]
    pub number_of_occurrences: Option<i32>,
}

/// `patternedRecurrence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternedRecurrence {
    #[serde(default)]
    pub pattern: Option<RecurrencePattern>,
    #[serde(default)]
    pub range: Option<RecurrenceRange>,
}

/// `singleValueLegacyExtendedProperty`: where the CRM record id is stamped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleValueExtendedProperty {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// `linkedResource` of a To Do task: where the CRM record id is stamped (`externalId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// `followupFlag` of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowupFlag {
    #[serde(default)]
    pub flag_status: Option<FollowupFlagStatus>,
    #[serde(default)]
    pub start_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub due_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub completed_date_time: Option<DateTimeTimeZone>,
}

/// `internetMessageHeader`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternetMessageHeader {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// `event` (also the sparse occurrences of calendarView delta and `@removed` stubs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "@odata.etag")]
    pub etag: Option<String>,
    #[serde(default, rename = "@removed", skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default, rename = "iCalUId")]
    pub ical_uid: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<ItemBody>,
    #[serde(default)]
    pub body_preview: Option<String>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub has_attachments: Option<bool>,
    #[serde(default)]
    pub web_link: Option<String>,
    #[serde(default)]
    pub start: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub end: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub original_start: Option<Timestamp>,
    #[serde(default)]
    pub original_start_time_zone: Option<String>,
    #[serde(default)]
    pub original_end_time_zone: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_all_day: Option<bool>,
    #[serde(default)]
    pub show_as: Option<FreeBusyStatus>,
    #[serde(default)]
    pub sensitivity: Option<Sensitivity>,
    #[serde(default)]
    pub importance: Option<Importance>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub locations: Option<Vec<Location>>,
    #[serde(default)]
    pub attendees: Option<Vec<Attendee>>,
    #[serde(default)]
    pub organizer: Option<Recipient>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_organizer: Option<bool>,
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub response_requested: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub allow_new_time_proposals: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_cancelled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_reminder_on: Option<bool>,
    #[serde(default)]
    pub reminder_minutes_before_start: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_online_meeting: Option<bool>,
    #[serde(default)]
    pub online_meeting: Option<Value>,
    #[serde(default)]
    pub online_meeting_provider: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub hide_attendees: Option<bool>,
    #[serde(default, rename = "type")]
    pub kind: Option<EventType>,
    #[serde(default)]
    pub series_master_id: Option<String>,
    #[serde(default)]
    pub recurrence: Option<PatternedRecurrence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
    /// Properties this client does not model, kept for mappings.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Event {
    /// A sparse calendarView occurrence (`id`, `type`, `seriesMasterId`, `start`, `end`) completed with
    /// its series master's properties (subject, body, attendees…); the occurrence's own fields win and
    /// the recurrence is dropped. Exceptions come in full from Graph and need no completion.
    pub fn completed_from_master(&self, master: &Event) -> Event {
        let mut out = master.clone();
        out.id.clone_from(&self.id);
        out.etag = self.etag.clone().or(out.etag);
        out.change_key = self.change_key.clone().or(out.change_key);
        out.kind = self.kind.clone().or(Some(EventType::Occurrence));
        out.series_master_id = self.series_master_id.clone().or_else(|| master.id.clone());
        out.start = self.start.clone().or(out.start);
        out.end = self.end.clone().or(out.end);
        out.original_start = self.original_start.or(out.original_start);
        out.recurrence = None;
        out.removed = None;
        for (k, v) in &self.other {
            out.other.insert(k.clone(), v.clone());
        }
        out
    }
}

/// `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "@odata.etag")]
    pub etag: Option<String>,
    #[serde(default, rename = "@removed", skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub received_date_time: Option<Timestamp>,
    #[serde(default)]
    pub sent_date_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub has_attachments: Option<bool>,
    #[serde(default)]
    pub internet_message_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body_preview: Option<String>,
    #[serde(default)]
    pub importance: Option<Importance>,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub conversation_index: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_delivery_receipt_requested: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_read_receipt_requested: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_read: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_draft: Option<bool>,
    #[serde(default)]
    pub web_link: Option<String>,
    #[serde(default)]
    pub inference_classification: Option<String>,
    #[serde(default)]
    pub body: Option<ItemBody>,
    #[serde(default)]
    pub unique_body: Option<ItemBody>,
    #[serde(default)]
    pub sender: Option<Recipient>,
    #[serde(default)]
    pub from: Option<Recipient>,
    #[serde(default)]
    pub to_recipients: Option<Vec<Recipient>>,
    #[serde(default)]
    pub cc_recipients: Option<Vec<Recipient>>,
    #[serde(default)]
    pub bcc_recipients: Option<Vec<Recipient>>,
    #[serde(default)]
    pub reply_to: Option<Vec<Recipient>>,
    #[serde(default)]
    pub flag: Option<FollowupFlag>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    #[serde(default)]
    pub internet_message_headers: Option<Vec<InternetMessageHeader>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
    /// Properties this client does not model, kept for mappings.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `contact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "@odata.etag")]
    pub etag: Option<String>,
    #[serde(default, rename = "@removed", skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    #[serde(default)]
    pub birthday: Option<Timestamp>,
    #[serde(default)]
    pub file_as: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub initials: Option<String>,
    #[serde(default)]
    pub middle_name: Option<String>,
    #[serde(default)]
    pub nick_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub generation: Option<String>,
    #[serde(default)]
    pub yomi_given_name: Option<String>,
    #[serde(default)]
    pub yomi_surname: Option<String>,
    #[serde(default)]
    pub yomi_company_name: Option<String>,
    #[serde(default)]
    pub email_addresses: Option<Vec<EmailAddress>>,
    #[serde(default)]
    pub im_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub office_location: Option<String>,
    #[serde(default)]
    pub profession: Option<String>,
    #[serde(default)]
    pub business_home_page: Option<String>,
    #[serde(default)]
    pub assistant_name: Option<String>,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub home_phones: Option<Vec<String>>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Option<Vec<String>>,
    #[serde(default)]
    pub spouse_name: Option<String>,
    #[serde(default)]
    pub personal_notes: Option<String>,
    #[serde(default)]
    pub children: Option<Vec<String>>,
    #[serde(default)]
    pub home_address: Option<PhysicalAddress>,
    #[serde(default)]
    pub business_address: Option<PhysicalAddress>,
    #[serde(default)]
    pub other_address: Option<PhysicalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
    /// Properties this client does not model, kept for mappings.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `todoTask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoTask {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "@odata.etag")]
    pub etag: Option<String>,
    #[serde(default, rename = "@removed", skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<ItemBody>,
    #[serde(default)]
    pub importance: Option<Importance>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_reminder_on: Option<bool>,
    #[serde(default)]
    pub status: Option<TaskStatus>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub body_last_modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub has_attachments: Option<bool>,
    #[serde(default)]
    pub due_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub start_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub reminder_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub completed_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub recurrence: Option<PatternedRecurrence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_resources: Option<Vec<LinkedResource>>,
    /// Properties this client does not model, kept for mappings.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `todoTaskList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoTaskList {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_owner: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_shared: Option<bool>,
    #[serde(default)]
    pub wellknown_list_name: Option<WellknownListName>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `mailFolder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailFolder {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
    /// How many folders are directly in it (`None` when Graph did not say: look).
    #[serde(default)]
    pub child_folder_count: Option<u64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `contactFolder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactFolder {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `user` (directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Option<Vec<String>>,
    #[serde(default)]
    pub office_location: Option<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
    /// `SMTP:primary@…`, `smtp:alias@…` and other address types (returned only when selected).
    #[serde(default)]
    pub proxy_addresses: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `localeInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocaleInfo {
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `timeZoneBase` / `customTimeZone` of working hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeZoneBase {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `workingHours` (also `GET /mailboxSettings/workingHours`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkingHours {
    #[serde(default)]
    pub days_of_week: Option<Vec<DayOfWeek>>,
    #[serde(default)]
    pub start_time: Option<civil::Time>,
    #[serde(default)]
    pub end_time: Option<civil::Time>,
    #[serde(default)]
    pub time_zone: Option<TimeZoneBase>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `automaticRepliesSetting` (also `GET /mailboxSettings/automaticRepliesSetting`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticRepliesSetting {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub external_audience: Option<String>,
    #[serde(default)]
    pub scheduled_start_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub scheduled_end_date_time: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub internal_reply_message: Option<String>,
    #[serde(default)]
    pub external_reply_message: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `userPurpose` (an object `{value}` inside mailboxSettings and as its own resource).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPurpose {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `mailboxSettings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxSettings {
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub language: Option<LocaleInfo>,
    #[serde(default)]
    pub working_hours: Option<WorkingHours>,
    #[serde(default)]
    pub automatic_replies_setting: Option<AutomaticRepliesSetting>,
    #[serde(default)]
    pub user_purpose: Option<UserPurpose>,
    #[serde(default)]
    pub date_format: Option<String>,
    #[serde(default)]
    pub time_format: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `subscription` (change notifications; read here so the corpus stays covered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub change_type: Option<String>,
    #[serde(default)]
    pub client_state: Option<String>,
    #[serde(default)]
    pub notification_url: Option<String>,
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    #[serde(default)]
    pub expiration_date_time: Option<Timestamp>,
    #[serde(default)]
    pub application_id: Option<String>,
    #[serde(default)]
    pub creator_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An OData collection page (`value` plus paging links).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection<T> {
    #[serde(
        default,
        rename = "@odata.context",
        skip_serializing_if = "Option::is_none"
    )]
    pub context: Option<String>,
    #[serde(
        default,
        rename = "@odata.nextLink",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
    #[serde(
        default,
        rename = "@odata.deltaLink",
        skip_serializing_if = "Option::is_none"
    )]
    pub delta_link: Option<String>,
    #[serde(
        default,
        rename = "@odata.count",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<i64>,
    pub value: Vec<T>,
}

/// `innerError` of a Graph error (the key is spelled `requestId` in one docs version).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InnerError {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default, rename = "request-id", alias = "requestId")]
    pub request_id: Option<String>,
    #[serde(default, rename = "client-request-id", alias = "clientRequestId")]
    pub client_request_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The `error` object of a Graph error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, alias = "innererror")]
    pub inner_error: Option<InnerError>,
}

/// A Graph error body `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// 200 body of the token endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default)]
    pub ext_expires_in: Option<u64>,
    pub access_token: String,
}

/// Error body of the token endpoint (branch on `error` / `error_codes`, never on the text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub error_uri: Option<String>,
}

/// One sub-request of `POST /$batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequestItem {
    pub id: String,
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
}

/// `POST /$batch` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequestBody {
    pub requests: Vec<BatchRequestItem>,
}

/// One sub-response of `POST /$batch` (they come back in any order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponseItem {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: Option<Map<String, Value>>,
    #[serde(default)]
    pub body: Option<Value>,
}

/// `POST /$batch` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponseBody {
    pub responses: Vec<BatchResponseItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_case_insensitively_and_keep_unknown_values() {
        assert_eq!(AttendeeType::parse("Required"), AttendeeType::Required);
        assert_eq!(ResponseType::parse(""), ResponseType::Other(String::new()));
        assert_eq!(
            serde_json::to_string(&DayOfWeek::parse("Monday")).unwrap(),
            "\"monday\""
        );
    }

    #[test]
    fn sparse_occurrences_are_completed_from_the_master() {
        let master: Event = serde_json::from_value(serde_json::json!({
            "id": "M", "subject": "Weekly", "type": "seriesMaster",
            "start": {"dateTime": "2026-11-02T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-02T10:30:00", "timeZone": "UTC"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1}},
            "attendees": [{"type": "required", "emailAddress": {"address": "frank@fabrikam.com"}}]
        }))
        .unwrap();
        let occurrence: Event = serde_json::from_value(serde_json::json!({
            "id": "O1", "type": "occurrence", "seriesMasterId": "M",
            "start": {"dateTime": "2026-11-09T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-09T10:30:00", "timeZone": "UTC"}
        }))
        .unwrap();
        let full = occurrence.completed_from_master(&master);
        assert_eq!(full.id.as_deref(), Some("O1"));
        assert_eq!(full.kind, Some(EventType::Occurrence));
        assert_eq!(full.subject.as_deref(), Some("Weekly"));
        assert_eq!(full.start, occurrence.start);
        assert_eq!(full.attendees.as_ref().map(Vec::len), Some(1));
        assert!(full.recurrence.is_none());
    }

    #[test]
    fn string_booleans_are_tolerated() {
        let m: Message = serde_json::from_str(r#"{"id":"a","isRead":"true"}"#).unwrap();
        assert_eq!(m.is_read, Some(true));
        let err = serde_json::from_str::<Message>(r#"{"id":"a","isRead":"yes"}"#).unwrap_err();
        assert!(err.to_string().contains("expected a boolean"), "{err}");
    }
}
