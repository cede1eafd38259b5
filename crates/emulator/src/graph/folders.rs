//! Mail and contact folders: the folder tree (`msgfolderroot` and its children), `childFolders`,
//! creating, deleting and renaming folders, and the folder deltas.
//!
//! As in Exchange, `GET /mailFolders` lists only the folders directly under the root ("Top of
//! Information Store"); deeper folders are reached through `childFolders`. `GET /mailFolders/delta`
//! covers every folder of the mailbox (flat, each with its `parentFolderId`), the root itself aside.
//! Deleting a mail folder moves it (with what it holds) into Deleted Items, as Outlook does; the
//! test helper `purge_mail_folder` removes it for good. Deleting a contact folder removes it and
//! its contacts. Well-known folders cannot be deleted.

use serde_json::{Map, Value, json};

use super::{
    delta,
    http::{Resp, err, with_context},
    store::{Folder, Store},
    wire::{Ctx, list_response},
};

/// `mailFolder` JSON (the properties Graph returns by default).
pub(super) fn mail_folder_json(store: &Store, ui: usize, f: &Folder) -> Value {
    let mb = store.mailbox(ui);
    let (total, unread) = mb
        .items
        .values()
        .filter(|i| !i.deleted && i.container == f.id)
        .fold((0, 0), |(t, u), i| {
            (
                t + 1,
                u + usize::from(i.data.get("isRead") == Some(&Value::Bool(false))),
            )
        });
    let children = mb.mail_children(&f.id).count();
    json!({"id": f.id, "displayName": f.display_name, "parentFolderId": f.parent, "childFolderCount": children, "unreadItemCount": unread, "totalItemCount": total, "sizeInBytes": total * 4096, "isHidden": false})
}

/// `contactFolder` JSON.
pub(super) fn contact_folder_json(f: &Folder) -> Value {
    json!({"id": f.id, "displayName": f.display_name, "parentFolderId": f.parent})
}

fn removed_folder(odata_type: &str, id: &str) -> Value {
    json!({"@odata.type": odata_type, "id": id, "@removed": {"reason": "deleted"}})
}

fn display_name(ctx: &Ctx) -> Result<String, Resp> {
    match ctx
        .req
        .body
        .as_ref()
        .and_then(|b| b.get("displayName"))
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err(err::bad_request("displayName is required.")),
    }
}

fn folder_exists() -> Resp {
    Resp::error(
        409,
        "ErrorFolderExists",
        "A folder with the specified name already exists.",
    )
}

fn one_folder(ctx: &Ctx, store: &Store, ui: usize, path: &str, body: Value) -> Map<String, Value> {
    let Value::Object(mut o) = body else {
        unreachable!("folders render as objects")
    };
    if let Some(sel) = &ctx.view.select {
        o.retain(|k, _| k == "id" || sel.iter().any(|s| s.eq_ignore_ascii_case(k)));
    }
    let context = format!(
        "{}/$metadata#users('{}')/{path}/$entity",
        ctx.shared.graph_base(),
        store.users[ui].id
    );
    let Value::Object(o) = with_context(&context, o) else {
        unreachable!("with_context keeps an object")
    };
    o
}

/// `GET /mailFolders` (the root's children) and `POST /mailFolders` (a new top-level folder).
pub(super) fn mail_folders(store: &mut Store, ctx: &Ctx, ui: usize) -> Resp {
    let root = store.mailbox(ui).mail_root().id.clone();
    match ctx.req.method.as_str() {
        "GET" => {
            let user = store.users[ui].id.clone();
            children(
                store,
                ctx,
                ui,
                &root,
                &format!("users('{user}')/mailFolders"),
            )
        }
        "POST" => create_mail_child(store, ctx, ui, &root, "mailFolders"),
        _ => err::method_not_allowed(),
    }
}

fn children(store: &Store, ctx: &Ctx, ui: usize, parent: &str, context: &str) -> Resp {
    let folders: Vec<Value> = store
        .mailbox(ui)
        .mail_children(parent)
        .map(|f| mail_folder_json(store, ui, f))
        .collect();
    list_response(ctx, context, folders)
}

fn create_mail_child(store: &mut Store, ctx: &Ctx, ui: usize, parent: &str, path: &str) -> Resp {
    let name = match display_name(ctx) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let Some(id) = store.create_mail_folder(ui, parent, &name) else {
        return folder_exists();
    };
    let mb = store.mailbox(ui);
    let f = mb.mail_folder(&id).expect("just created").clone();
    let body = mail_folder_json(store, ui, &f);
    Resp::json(201, Value::Object(one_folder(ctx, store, ui, path, body)))
}

/// `GET /mailFolders/delta`: every folder of the mailbox but the root, flat.
pub(super) fn mail_folders_delta(store: &mut Store, ctx: &Ctx, ui: usize) -> Resp {
    let entries = store
        .mailbox(ui)
        .mail_folders
        .iter()
        .filter(|f| f.well_known != Some("msgfolderroot"))
        .map(|f| {
            let v = if f.deleted {
                removed_folder("#microsoft.graph.mailFolder", &f.id)
            } else {
                mail_folder_json(store, ui, f)
            };
            (f.seq, v)
        })
        .collect();
    delta::collection_delta(
        store,
        ui,
        ctx.req,
        "folders:mail",
        entries,
        "Collection(mailFolder)",
        &ctx.shared.delta,
        &ctx.shared.graph_base(),
    )
}

/// `/mailFolders/{id}` and `/mailFolders/{id}/childFolders`; `None` for the routes below a folder
/// that are not about folders (messages).
pub(super) fn mail_folder_route(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    folder: &Folder,
    key: &str,
    rest: &[&str],
) -> Option<Resp> {
    let m = ctx.req.method.as_str();
    Some(match rest {
        [] if m == "GET" => {
            let body = mail_folder_json(store, ui, folder);
            Resp::ok(Value::Object(one_folder(
                ctx,
                store,
                ui,
                "mailFolders",
                body,
            )))
        }
        [] if m == "DELETE" => {
            if folder.well_known.is_some() {
                return Some(Resp::error(
                    400,
                    "ErrorDeleteDistinguishedFolder",
                    "Distinguished folders cannot be deleted.",
                ));
            }
            store.delete_mail_folder(ui, &folder.id);
            Resp::no_content()
        }
        ["childfolders"] if m == "GET" => {
            let context = format!(
                "users('{}')/mailFolders('{key}')/childFolders",
                store.users[ui].id
            );
            children(store, ctx, ui, &folder.id, &context)
        }
        ["childfolders"] if m == "POST" => create_mail_child(
            store,
            ctx,
            ui,
            &folder.id,
            &format!("mailFolders('{key}')/childFolders"),
        ),
        ["childfolders"] => err::method_not_allowed(),
        [] => err::method_not_allowed(),
        _ => return None,
    })
}

/// `GET /contactFolders` (the folders under the default one) and `POST /contactFolders`.
pub(super) fn contact_folders(store: &mut Store, ctx: &Ctx, ui: usize) -> Resp {
    match ctx.req.method.as_str() {
        "GET" => {
            let mb = store.mailbox(ui);
            let root = mb.contact_folders[0].id.clone();
            let folders: Vec<Value> = mb
                .contact_folders
                .iter()
                .filter(|f| !f.deleted && f.parent == root)
                .map(contact_folder_json)
                .collect();
            list_response(
                ctx,
                &format!("users('{}')/contactFolders", store.users[ui].id),
                folders,
            )
        }
        "POST" => {
            let name = match display_name(ctx) {
                Ok(n) => n,
                Err(r) => return r,
            };
            let Some(id) = store.create_contact_folder(ui, &name) else {
                return folder_exists();
            };
            let f = store
                .mailbox(ui)
                .contact_folder(&id)
                .expect("created")
                .clone();
            let body = contact_folder_json(&f);
            Resp::json(
                201,
                Value::Object(one_folder(ctx, store, ui, "contactFolders", body)),
            )
        }
        _ => err::method_not_allowed(),
    }
}

/// `GET /contactFolders/delta`: the folders under the default one.
pub(super) fn contact_folders_delta(store: &mut Store, ctx: &Ctx, ui: usize) -> Resp {
    let mb = store.mailbox(ui);
    let entries = mb.contact_folders[1..]
        .iter()
        .map(|f| {
            let v = if f.deleted {
                removed_folder("#microsoft.graph.contactFolder", &f.id)
            } else {
                contact_folder_json(f)
            };
            (f.seq, v)
        })
        .collect();
    delta::collection_delta(
        store,
        ui,
        ctx.req,
        "folders:contacts",
        entries,
        "Collection(contactFolder)",
        &ctx.shared.delta,
        &ctx.shared.graph_base(),
    )
}

/// `/contactFolders/{id}` (GET, PATCH `displayName`, DELETE) and its `childFolders`; `None` for
/// the routes about contacts.
pub(super) fn contact_folder_route(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    folder: &Folder,
    rest: &[&str],
) -> Option<Resp> {
    let m = ctx.req.method.as_str();
    Some(match rest {
        [] if m == "GET" => {
            let body = contact_folder_json(folder);
            Resp::ok(Value::Object(one_folder(
                ctx,
                store,
                ui,
                "contactFolders",
                body,
            )))
        }
        [] if m == "PATCH" => {
            let name = match display_name(ctx) {
                Ok(n) => n,
                Err(r) => return Some(r),
            };
            if folder.well_known.is_some() {
                return Some(err::access_denied());
            }
            if !store.rename_contact_folder(ui, &folder.id, &name) {
                return Some(folder_exists());
            }
            let f = store
                .mailbox(ui)
                .contact_folder(&folder.id)
                .expect("live")
                .clone();
            let body = contact_folder_json(&f);
            Resp::ok(Value::Object(one_folder(
                ctx,
                store,
                ui,
                "contactFolders",
                body,
            )))
        }
        [] if m == "DELETE" => {
            if folder.well_known.is_some() {
                return Some(Resp::error(
                    400,
                    "ErrorDeleteDistinguishedFolder",
                    "Distinguished folders cannot be deleted.",
                ));
            }
            store.delete_contact_folder(ui, &folder.id, ctx.now);
            Resp::no_content()
        }
        ["childfolders"] if m == "GET" => {
            let folders: Vec<Value> = store
                .mailbox(ui)
                .contact_folders
                .iter()
                .filter(|f| !f.deleted && f.parent == folder.id)
                .map(contact_folder_json)
                .collect();
            list_response(ctx, "contactFolders", folders)
        }
        [] | ["childfolders"] => err::method_not_allowed(),
        _ => return None,
    })
}
