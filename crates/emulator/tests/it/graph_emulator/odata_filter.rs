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

/// Issue 9: the name in an extended property id is case-sensitive (two names differing in case
/// are two properties), and the documented string operators on the value are taken: `eq`, `ne`,
/// `startswith`, `contains` (the value compares without case).
#[tokio::test]
async fn regression_issue_9_property_names_are_case_sensitive_and_string_operators_work() {
    let emu = start().await;
    let tok = token(&emu).await;
    let prop = "String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name CrmRecordId";
    let other = "String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name crmrecordid";
    let created = call(&emu, &tok, "POST", "/users/ana@contoso.com/contacts", &[super::IMMUTABLE],
        Some(json!({"givenName": "Ida", "singleValueExtendedProperties": [{"id": prop, "value": "KP-42"}, {"id": other, "value": "lower"}]}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let stored = emu.item(ANA, &id).unwrap();
    assert_eq!(
        stored["singleValueExtendedProperties"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "names differing in case are two properties"
    );
    let expanded = call(&emu, &tok, "GET", &format!("/users/ana@contoso.com/contacts/{id}?$expand=singleValueExtendedProperties($filter=id eq '{}')", prop.to_uppercase().replace("CRMRECORDID", "CrmRecordId")), &[super::IMMUTABLE], None).await;
    assert_eq!(
        expanded.body["singleValueExtendedProperties"],
        json!([{"id": prop, "value": "KP-42"}]),
        "GUID and keywords ignore case, the name does not"
    );
    let contacts = "/users/ana@contoso.com/contacts?$top=50&$filter=singleValueExtendedProperties";
    let found = |filter: String| {
        let (emu, tok) = (&emu, &tok);
        async move {
            let c = call(
                emu,
                tok,
                "GET",
                &format!("{contacts}/Any({filter})"),
                &[super::IMMUTABLE],
                None,
            )
            .await;
            assert_eq!(c.status, 200, "{filter}: {}", c.body);
            c.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let mine = vec![id.clone()];
    assert_eq!(
        found(format!("ep: ep/id eq '{prop}' and ep/value eq 'kp-42'")).await,
        mine
    );
    assert_eq!(
        found(format!(
            "ep: ep/id eq '{prop}' and startswith(ep/value, 'KP-')"
        ))
        .await,
        mine
    );
    assert_eq!(
        found(format!(
            "ep: ep/id eq '{prop}' and contains(ep/value, 'p-4')"
        ))
        .await,
        mine
    );
    assert_eq!(
        found(format!("ep: ep/id eq '{prop}' and ep/value ne 'KP-1'")).await,
        mine
    );
    assert!(
        found(format!("ep: ep/id eq '{prop}' and ep/value ne 'KP-42'"))
            .await
            .is_empty()
    );
    assert!(
        found(
            "ep: ep/id eq 'String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name CRMRECORDID'"
                .to_owned()
        )
        .await
        .is_empty(),
        "the name is case-sensitive"
    );
    let endswith = call(
        &emu,
        &tok,
        "GET",
        &format!("{contacts}/Any(ep: ep/id eq '{prop}' and endswith(ep/value, '42'))"),
        &[],
        None,
    )
    .await;
    assert_graph_error(&endswith, 400, "ErrorInvalidUrlQueryFilter");
}

/// Issue 10: a deeply nested `$filter` is refused with Graph's 400 error envelope instead of
/// overflowing the emulator's stack; the emulator keeps serving.
#[tokio::test]
async fn regression_issue_10_a_deeply_nested_filter_is_refused_with_a_graph_error() {
    let emu = start().await;
    let tok = token(&emu).await;
    let nested = format!("{}givenName eq 'x'{}", "(".repeat(2_000), ")".repeat(2_000));
    let chain = vec!["givenName eq 'x'"; 500].join(" and ");
    for filter in [&nested, &chain] {
        let contacts = get(
            &emu,
            &tok,
            &format!("/users/ana@contoso.com/contacts?$filter={filter}"),
        )
        .await;
        assert_graph_error(&contacts, 400, "ErrorInvalidUrlQueryFilter");
        assert!(
            contacts.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Recursion depth exceeded allowed limit."),
            "{}",
            contacts.body
        );
        let users = get(
            &emu,
            &tok,
            &format!("/users?$filter={}", filter.replace("givenName", "mail")),
        )
        .await;
        assert_eq!(users.status, 400, "{}", users.body);
        assert!(users.body["error"]["code"].is_string());
    }
    let still = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/contacts?$filter=givenName eq 'Frank'",
    )
    .await;
    assert_eq!(still.status, 200);
}
