//! The contact folder the connector creates contacts in (`schedules.contacts.folder`, default
//! `CRM contacts`), and the contact scopes read: the default contact folder (Outlook contacts adopted
//! by e-mail address stay there and keep syncing) and that folder.
//!
//! The folder is found by the id remembered in the state store (resource `contact`, scope
//! [`FOLDER_SCOPE`]), else by its display name, else created — once: a rerun after a crash between the
//! create and the state write finds it by name, and the transport's create answers an existing folder
//! of that name instead of making a second one. A folder the user renamed stays the connector's (its id
//! is remembered). A folder the user deleted is made again when contacts are to be created; its scope's
//! cursor is forgotten and the contacts linked there are fetched: only a 404 is a removal, which for
//! contacts unlinks (docs/sync-rules.md), so a deleted contact is created again only when its CRM
//! person changes, like any contact the user deleted.

use crate::transport::graph::DeltaResource;

use super::{CycleOptions, Engine, Mode, ResourceSpec, SyncError, roster::RosterEntry};

/// The cursor scope (resource `contact`) that remembers the id of the connector's contact folder.
pub const FOLDER_SCOPE: &str = "crm-folder";

/// The contact scopes of one mailbox.
#[derive(Debug, Default)]
pub struct ContactScopes {
    /// (state scope name, delta resource): the default folder first.
    pub scopes: Vec<(String, DeltaResource)>,
    /// Where new contacts go (`None`: the default folder; a dry run never creates the folder).
    pub create_in: Option<String>,
    /// The scope of a connector folder that is gone: its cursor goes.
    pub forget: Vec<String>,
}

fn scope_of(folder: &str) -> String {
    format!("folder:{folder}")
}

/// Finds (or makes) the connector's contact folder and lists the scopes to read.
pub async fn scopes(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    options: CycleOptions,
) -> Result<ContactScopes, SyncError> {
    let mailbox = entry.graph_user();
    let name = engine.settings.contact_folder.trim();
    let remembered = engine
        .state
        .get_cursor(entry.mailbox_id(), &spec.name, FOLDER_SCOPE)
        .await
        .map_err(SyncError::state)?;
    let folders = engine
        .graph
        .contact_folders(mailbox)
        .await
        .map_err(SyncError::graph)?;
    // `contact_folders` gives the default folder without a parent, the folders under it with one.
    let mut default = folders
        .iter()
        .find(|f| f.parent_folder_id.is_none())
        .map(|f| f.id.clone());
    let children: Vec<_> = folders
        .iter()
        .filter(|f| f.parent_folder_id.is_some())
        .collect();
    let mut out = ContactScopes::default();
    let mut own = match &remembered {
        Some(id) if children.iter().any(|f| f.id == *id) => Some(id.clone()),
        _ => children
            .iter()
            .find(|f| {
                f.display_name
                    .as_deref()
                    .is_some_and(|d| d.trim().eq_ignore_ascii_case(name))
            })
            .map(|f| f.id.clone()),
    };
    if let Some(gone) = remembered.as_ref().filter(|r| own.as_ref() != Some(*r)) {
        tracing::info!(mailbox = %entry.address(), folder = %gone, "the connector's contact folder is gone");
        out.forget.push(scope_of(gone));
    }
    let writes = options.mode == Mode::Apply;
    if own.is_none() && writes && spec.policy.crm_to_graph() {
        let made = engine
            .graph
            .create_contact_folder(mailbox, name)
            .await
            .map_err(SyncError::graph)?;
        default = default.or(made.parent_folder_id.clone());
        own = Some(made.id);
    }
    if let Some(id) = own.as_ref().filter(|id| remembered.as_ref() != Some(*id))
        && writes
    {
        engine
            .state
            .put_cursor(entry.mailbox_id(), &spec.name, FOLDER_SCOPE, id)
            .await
            .map_err(SyncError::state)?;
    }
    for folder in default.iter().chain(own.iter()) {
        if out.scopes.iter().any(|(s, _)| *s == scope_of(folder)) {
            continue;
        }
        out.scopes.push((
            scope_of(folder),
            DeltaResource::Contacts {
                folder: folder.clone(),
            },
        ));
    }
    out.create_in = own;
    Ok(out)
}
