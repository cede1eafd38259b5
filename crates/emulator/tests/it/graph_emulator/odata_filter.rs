//! `$expand` and `$filter` over extended properties and linked resources, and the filters Graph refuses.

use serde_json::json;

use super::{ANA, assert_graph_error, call, get, start, token};

#[tokio::test]
async fn extended_properties_and_linked_resources_can_be_expanded_and_filtered() {
    let emu = start().await;
    let tok = token(&emu).await;
    let prop = "String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name CrmRecordId";
    let created = call(&emu, &tok, "POST", "/users/ana@contoso.com/contacts", &[], Some(json!({"givenName": "Grace", "surname": "Green", "singleValueExtendedProperties": [{"id": prop.to_uppercase().replace("STRING", "String").replace("NAME CRMRECORDID", "Name CrmRecordId"), "value": "KP-7"}]}))).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap();
    assert!(
        created.body.get("singleValueExtendedProperties").is_none(),
        "only with $expand"
    );
    let expanded = get(&emu, &tok, &format!("/users/ana@contoso.com/contacts/{id}?$expand=singleValueExtendedProperties($filter=id eq '{prop}')")).await;
    assert_eq!(
        expanded.body["singleValueExtendedProperties"],
        json!([{"id": prop, "value": "KP-7"}])
    );
    let found = get(&emu, &tok, &format!("/users/ana@contoso.com/contacts?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and ep/value eq 'KP-7')")).await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["value"][0]["id"], id);

    let list = emu.container_id(ANA, "Follow-ups").unwrap();
    let tasks = get(&emu, &tok, &format!("/users/ana@contoso.com/todo/lists/{list}/tasks?$filter=linkedResources/any(r: r/externalId eq 'A1-100-7')")).await;
    assert_eq!(tasks.body["value"].as_array().unwrap().len(), 1);
    assert!(tasks.body["value"][0]["linkedResources"][0]["id"].is_string());

    // Open extensions on a To Do task: create, expand, filter on existence.
    let task = tasks.body["value"][0]["id"].as_str().unwrap().to_owned();
    let base = format!("/users/ana@contoso.com/todo/lists/{list}/tasks");
    let ext = call(&emu, &tok, "POST", &format!("{base}/{task}/extensions"), &[], Some(json!({"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "com.acme.crm", "recordId": "A1-100-7"}))).await;
    assert_eq!(ext.status, 201, "{}", ext.body);
    assert_eq!(
        ext.body["id"],
        "Microsoft.OutlookServices.OpenTypeExtension.com.acme.crm"
    );
    let dup = call(
        &emu,
        &tok,
        "POST",
        &format!("{base}/{task}/extensions"),
        &[],
        Some(json!({"extensionName": "com.acme.crm"})),
    )
    .await;
    assert_eq!(dup.status, 409);
    let got = get(
        &emu,
        &tok,
        &format!("{base}/{task}?$expand=extensions($filter=id eq 'com.acme.crm')"),
    )
    .await;
    assert_eq!(got.body["extensions"][0]["recordId"], "A1-100-7");
    let found = get(
        &emu,
        &tok,
        &format!("{base}?$filter=extensions/any(e: e/id eq 'com.acme.crm')"),
    )
    .await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(
            &emu,
            &tok,
            "DELETE",
            &format!("{base}/{task}/extensions/com.acme.crm"),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(
            &emu,
            &tok,
            &format!("{base}?$filter=extensions/any(e: e/id eq 'com.acme.crm')")
        )
        .await
        .body["value"],
        json!([])
    );
}

#[tokio::test]
async fn an_extended_property_filter_must_name_the_property_id() {
    let emu = start().await;
    let tok = token(&emu).await;
    let prop = "String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name CrmRecordId";
    let created = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/contacts",
        &[],
        Some(json!({"givenName": "Hanna", "singleValueExtendedProperties": [{"id": prop, "value": "KP-9"}]})),
    )
    .await;
    assert_eq!(created.status, 201);
    let contacts = "/users/ana@contoso.com/contacts?$filter=singleValueExtendedProperties";
    let value_only = get(
        &emu,
        &tok,
        &format!("{contacts}/Any(ep: ep/value eq 'KP-9')"),
    )
    .await;
    assert_graph_error(&value_only, 400, "ErrorInvalidUrlQueryFilter");
    let message = value_only.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("must test the property id") && message.contains("ep/id eq"),
        "{message}"
    );
    let or = get(
        &emu,
        &tok,
        &format!("{contacts}/Any(ep: ep/id eq '{prop}' or ep/value eq 'KP-9')"),
    )
    .await;
    assert_eq!(or.status, 400);
    // The forms Graph takes: id and value (what the client sends), or the id alone.
    for ok in [
        format!("{contacts}/Any(ep: ep/id eq '{prop}' and ep/value eq 'KP-9')"),
        format!("{contacts}/Any(ep: ep/id eq '{prop}')"),
    ] {
        let c = get(&emu, &tok, &ok).await;
        assert_eq!(c.status, 200, "{ok}: {}", c.body);
        assert_eq!(c.body["value"].as_array().unwrap().len(), 1, "{ok}");
    }
}
