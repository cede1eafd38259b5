//! Mail and contact folders: the tree under `msgfolderroot`, `childFolders` listing and creating,
//! name clashes, deleting (into Deleted Items), the folder deltas, and contact folders made by POST.

use graph_connector_emulator::graph::ItemKind;
use serde_json::{Value, json};

use super::{ANA, IMMUTABLE, assert_graph_error, call, get, start, token};

fn names(list: &Value) -> Vec<String> {
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["displayName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn child_folders_are_created_listed_and_counted() {
    let emu = start().await;
    let tok = token(&emu).await;
    let inbox = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox").await;
    let inbox_id = inbox.body["id"].as_str().unwrap().to_owned();
    assert_eq!(inbox.body["childFolderCount"], 0);

    let made = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/mailFolders/inbox/childFolders",
        &[],
        Some(json!({"displayName": "Customers"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    // A mailFolder as Graph returns it: the keys and their JSON types.
    let f = &made.body;
    assert!(
        f["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/childFolders/$entity")
    );
    assert_eq!(f["displayName"], "Customers");
    assert_eq!(f["parentFolderId"], inbox_id.as_str());
    assert!(f["id"].as_str().unwrap().starts_with("AAMk"));
    for key in [
        "childFolderCount",
        "unreadItemCount",
        "totalItemCount",
        "sizeInBytes",
    ] {
        assert!(f[key].is_u64(), "{key}: {f}");
    }
    assert_eq!(f["isHidden"], false);
    let customers = f["id"].as_str().unwrap().to_owned();

    // Deeper: a child of the child.
    let deeper = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/mailFolders/{customers}/childFolders"),
        &[],
        Some(json!({"displayName": "Fabrikam"})),
    )
    .await;
    assert_eq!(deeper.status, 201);
    assert_eq!(deeper.body["parentFolderId"], customers.as_str());

    // The same name twice in one folder is refused; in another folder it is fine.
    let again = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/mailFolders/inbox/childFolders",
        &[],
        Some(json!({"displayName": "customers"})),
    )
    .await;
    assert_graph_error(&again, 409, "ErrorFolderExists");
    let no_name = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/mailFolders/inbox/childFolders",
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(no_name.status, 400);

    let kids = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/mailFolders/inbox/childFolders",
    )
    .await;
    assert_eq!(names(&kids.body), ["Customers"]);
    assert_eq!(kids.body["value"][0]["childFolderCount"], 1);
    let inbox = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox").await;
    assert_eq!(inbox.body["childFolderCount"], 1);

    // `/mailFolders` lists the top level only; the root's children are the same list.
    let top = get(&emu, &tok, "/users/ana@contoso.com/mailFolders").await;
    let top_names = names(&top.body);
    assert!(top_names.contains(&"Inbox".to_owned()) && top_names.contains(&"Projects".to_owned()));
    assert!(
        !top_names.contains(&"Customers".to_owned()),
        "{top_names:?}"
    );
    let root = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/mailFolders/msgfolderroot/childFolders",
    )
    .await;
    assert_eq!(names(&root.body), top_names);
    assert_eq!(top.body["value"][0]["parentFolderId"], {
        let r = get(
            &emu,
            &tok,
            "/users/ana@contoso.com/mailFolders/msgfolderroot",
        )
        .await;
        r.body["id"].clone()
    });

    // Messages can be filed into the subfolder and moved between folders, keeping their id.
    let id = emu
        .add_item(
            ANA,
            ItemKind::Message,
            Some(&customers),
            json!({"subject": "Order"}),
        )
        .unwrap();
    let listed = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/mailFolders/{customers}/messages"),
    )
    .await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    let moved = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/messages/{id}/move"),
        &[IMMUTABLE],
        Some(json!({"destinationId": deeper.body["id"]})),
    )
    .await;
    assert_eq!(moved.status, 201, "{}", moved.body);
    assert_eq!(moved.body["id"], id.as_str());
    assert_eq!(moved.body["parentFolderId"], deeper.body["id"]);
}

#[tokio::test]
async fn the_folder_delta_lists_every_folder_and_reports_changes() {
    let emu = start().await;
    let tok = token(&emu).await;
    let first = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/delta").await;
    let all = names(&first.body);
    assert!(all.contains(&"Junk Email".to_owned()) && all.contains(&"Projects".to_owned()));
    assert!(
        !all.contains(&"Top of Information Store".to_owned()),
        "{all:?}"
    );
    let link = first.body["@odata.deltaLink"].as_str().unwrap().to_owned();

    // Nothing changed: an empty round.
    let quiet = get(&emu, &tok, &link).await;
    assert_eq!(names(&quiet.body), Vec::<String>::new());
    let link = quiet.body["@odata.deltaLink"].as_str().unwrap().to_owned();

    // A nested folder is in the (flat) delta with its parent.
    let inbox = emu.container_id(ANA, "inbox").unwrap();
    let sub = emu.create_mail_folder(ANA, "inbox", "Customers").unwrap();
    let next = get(&emu, &tok, &link).await;
    assert_eq!(names(&next.body), ["Customers"]);
    assert_eq!(next.body["value"][0]["parentFolderId"], inbox.as_str());
    let link = next.body["@odata.deltaLink"].as_str().unwrap().to_owned();

    // DELETE moves it into Deleted Items (an update); a purge reports it removed.
    let deleted = call(
        &emu,
        &tok,
        "DELETE",
        &format!("/users/ana@contoso.com/mailFolders/{sub}"),
        &[],
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let next = get(&emu, &tok, &link).await;
    assert_eq!(
        next.body["value"][0]["parentFolderId"],
        emu.container_id(ANA, "deleteditems").unwrap().as_str()
    );
    let link = next.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    emu.purge_mail_folder(ANA, &sub).unwrap();
    let next = get(&emu, &tok, &link).await;
    assert_eq!(next.body["value"][0]["id"], sub.as_str());
    assert_eq!(next.body["value"][0]["@removed"]["reason"], "deleted");
    let gone = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/mailFolders/{sub}"),
    )
    .await;
    assert_eq!(gone.status, 404);

    // Well-known folders cannot be deleted.
    let refused = call(
        &emu,
        &tok,
        "DELETE",
        "/users/ana@contoso.com/mailFolders/inbox",
        &[],
        None,
    )
    .await;
    assert_graph_error(&refused, 400, "ErrorDeleteDistinguishedFolder");
}

#[tokio::test]
async fn contact_folders_are_created_by_name_once() {
    let emu = start().await;
    let tok = token(&emu).await;
    let made = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/contactFolders",
        &[],
        Some(json!({"displayName": "CRM contacts"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let default = emu.container_id(ANA, "contacts").unwrap();
    assert_eq!(made.body["displayName"], "CRM contacts");
    assert_eq!(made.body["parentFolderId"], default.as_str());
    assert!(
        made.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/contactFolders/$entity")
    );
    let id = made.body["id"].as_str().unwrap().to_owned();

    let twice = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/contactFolders",
        &[],
        Some(json!({"displayName": "crm contacts"})),
    )
    .await;
    assert_graph_error(&twice, 409, "ErrorFolderExists");

    // Listed under the default folder, both ways.
    let list = get(&emu, &tok, "/users/ana@contoso.com/contactFolders").await;
    assert_eq!(names(&list.body), ["Partners", "CRM contacts"]);
    let kids = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/contactFolders/contacts/childFolders",
    )
    .await;
    assert_eq!(names(&kids.body), ["Partners", "CRM contacts"]);
    let none = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/contactFolders/{id}/childFolders"),
    )
    .await;
    assert_eq!(names(&none.body), Vec::<String>::new());

    // A contact created in it lands there.
    let contact = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/contactFolders/{id}/contacts"),
        &[IMMUTABLE],
        Some(json!({"givenName": "Grace", "surname": "Green"})),
    )
    .await;
    assert_eq!(contact.status, 201);
    assert_eq!(contact.body["parentFolderId"], id.as_str());

    // Renamed, then deleted: the folder delta says so, and its contacts are gone.
    let delta = get(&emu, &tok, "/users/ana@contoso.com/contactFolders/delta").await;
    let link = delta.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let renamed = call(
        &emu,
        &tok,
        "PATCH",
        &format!("/users/ana@contoso.com/contactFolders/{id}"),
        &[],
        Some(json!({"displayName": "Customers"})),
    )
    .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["displayName"], "Customers");
    let next = get(&emu, &tok, &link).await;
    assert_eq!(names(&next.body), ["Customers"]);
    let link = next.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let deleted = call(
        &emu,
        &tok,
        "DELETE",
        &format!("/users/ana@contoso.com/contactFolders/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let next = get(&emu, &tok, &link).await;
    assert_eq!(next.body["value"][0]["@removed"]["reason"], "deleted");
    let cid = contact.body["id"].as_str().unwrap();
    assert!(emu.item(ANA, cid).is_none());
    let default_delete = call(
        &emu,
        &tok,
        "DELETE",
        "/users/ana@contoso.com/contactFolders/contacts",
        &[],
        None,
    )
    .await;
    assert_graph_error(&default_delete, 400, "ErrorDeleteDistinguishedFolder");
}
