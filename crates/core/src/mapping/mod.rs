//! Mapping evaluation (Graph item ⇄ CRM record) and mailbox selection. Pure: no I/O, no clock.
//!
//! Entry points:
//! - [`to_crm`]: Graph item JSON + [`Context`] → [`CrmRecord`] (table, typed fields, warnings);
//! - [`to_graph`]: CRM fields + [`Context`] → [`GraphBody`] (the JSON body for a Graph write);
//! - [`selected`]: whether a Graph item passes the resource's Graph-side selection;
//! - [`filter::matches`]: whether a CRM record passes the resource's CRM-side filter.
//!
//! Bad data never panics: an unparsable date, an unknown enum value or a missing property becomes a
//! warning on the record (and the field is left out or gets the catalog default).

pub mod context;
pub mod convert;
pub mod filter;
pub mod forward;
pub mod html;
pub mod kinds;
pub mod mailboxes;
pub mod participants;
pub mod reverse;
pub mod time;
pub mod value;

pub use context::{Context, ContextError, Directory, DirectoryEntry};
pub use forward::{selected, to_crm};
pub use kinds::{FieldKind, field_kinds};
pub use reverse::{GraphBody, to_graph};
pub use value::{CrmRecord, FieldValue};
