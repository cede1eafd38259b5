//! The mail folders a mailbox's e-mails are read from: each configured folder (`schedules.messages.folders`)
//! and, with `schedules.messages.subfolders` (default on), every folder under it, each with its own delta
//! cursor.
//!
//! The tree is tracked through the mailbox's folder delta (`/mailFolders/delta`, its cursor in scope
//! [`FOLDERS_SCOPE`] of resource `message`): while a round lists no folder change, the subfolders are
//! the ones the state store holds cursors for (scope `folder:ROOT/ID`), so a quiet cycle costs one
//! request; when a folder was created, moved, renamed or removed (or on the first run, a resync, or a
//! configured folder without a cursor), the trees under the configured folders are read again with
//! `childFolders`. A subfolder no longer in any tree has its cursor forgotten; the messages it held are
//! not taken for deleted: the runner fetches the linked messages a cycle did not see, and only a 404 is
//! a removal. Junk E-mail, Deleted Items, Drafts and Outbox are never read, wherever they are
//! (`GraphTransport::mail_folder_tree` leaves them out).

use crate::transport::graph::DeltaResource;

use super::{Engine, SyncError, roster::RosterEntry};

/// The cursor scope of the folder delta (resource `message`).
pub const FOLDERS_SCOPE: &str = "folders";

/// The mail scopes of one mailbox.
#[derive(Debug, Default)]
pub struct MailScopes {
    /// (state scope name, delta resource, is a subfolder read for the first time).
    pub scopes: Vec<(String, DeltaResource, bool)>,
    /// Scopes of subfolders that are gone or left the configured trees: their cursors go.
    pub forget: Vec<String>,
    /// The folder delta's new cursor, persisted with the round (after the folders' own cursors).
    pub cursor: Option<(String, String)>,
}

/// The state scope of a configured folder.
pub fn root_scope(folder: &str) -> String {
    format!("folder:{folder}")
}

/// The state scope of a subfolder of the configured folder `root`.
pub fn sub_scope(root: &str, id: &str) -> String {
    format!("folder:{root}/{id}")
}

/// (configured folder, subfolder id) of a subfolder's state scope.
fn parse_sub_scope(scope: &str) -> Option<(&str, &str)> {
    scope.strip_prefix("folder:")?.split_once('/')
}

/// The configured folders and (with subfolders on) every folder under them.
pub async fn scopes(engine: &Engine, entry: &RosterEntry) -> Result<MailScopes, SyncError> {
    let roots = &engine.settings.mail_folders;
    let mut out = MailScopes {
        scopes: roots
            .iter()
            .map(|f| {
                (
                    root_scope(f),
                    DeltaResource::Messages { folder: f.clone() },
                    false,
                )
            })
            .collect(),
        ..MailScopes::default()
    };
    if !engine.settings.mail_subfolders {
        return Ok(out);
    }
    let mailbox = entry.graph_user();
    let stored = engine
        .state
        .list_cursors(entry.mailbox_id(), "message")
        .await
        .map_err(SyncError::state)?;
    let has = |scope: &str| stored.iter().any(|(s, _)| s == scope);
    let folder_link = stored
        .iter()
        .find(|(s, _)| s == FOLDERS_SCOPE)
        .map(|(_, v)| v.as_str());
    let changes = engine
        .graph
        .mail_folder_changes(mailbox, folder_link)
        .await
        .map_err(SyncError::graph)?;
    let known: Vec<(String, String)> = stored
        .iter()
        .filter_map(|(s, _)| parse_sub_scope(s))
        .filter(|(root, _)| roots.iter().any(|r| r == root))
        .map(|(root, id)| (root.to_owned(), id.to_owned()))
        .collect();
    let reread = changes.changed || changes.full || roots.iter().any(|r| !has(&root_scope(r)));
    let subs = if reread {
        let mut subs: Vec<(String, String)> = Vec::new();
        for root in roots {
            let tree = engine
                .graph
                .mail_folder_tree(mailbox, root)
                .await
                .map_err(SyncError::graph)?;
            for folder in tree.into_iter().skip(1) {
                // A folder configured on its own, or under two configured folders, is read once.
                if roots.contains(&folder.id) || subs.iter().any(|(_, s)| *s == folder.id) {
                    continue;
                }
                subs.push((root.clone(), folder.id));
            }
        }
        out.forget = stored
            .iter()
            .map(|(s, _)| s)
            .filter(|s| parse_sub_scope(s).is_some())
            .filter(|s| !subs.iter().any(|(r, id)| sub_scope(r, id) == **s))
            .cloned()
            .collect();
        subs
    } else {
        known
    };
    for (root, id) in subs {
        let scope = sub_scope(&root, &id);
        let first = !has(&scope);
        out.scopes
            .push((scope, DeltaResource::Messages { folder: id }, first));
    }
    out.cursor = Some((FOLDERS_SCOPE.to_owned(), changes.delta_link));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subfolder_scopes_name_their_configured_folder() {
        let scope = sub_scope("inbox", "AAMkAGI2-_=");
        assert_eq!(scope, "folder:inbox/AAMkAGI2-_=");
        assert_eq!(parse_sub_scope(&scope), Some(("inbox", "AAMkAGI2-_=")));
        assert_eq!(parse_sub_scope(&root_scope("inbox")), None);
        assert_eq!(parse_sub_scope(FOLDERS_SCOPE), None);
    }
}
