//! Pure encoding of the client's Graph requests: paths, `$filter`s, create bodies and stamps.
//!
//! No I/O here, so every URL and body the client sends is snapshot-tested (`client.rs` only sends).

use serde_json::{Map, Value, json};

use super::{
    CRM_STAMP_APPLICATION, CRM_STAMP_PROPERTY_ID, CreateTarget, ItemKind, ItemRef, StampScope,
    delta::stamp_expand,
    error::GraphError,
    http::{seg, with_query},
};

/// The list id a task needs.
pub fn list_of(list: &Option<String>) -> Result<&str, GraphError> {
    list.as_deref().ok_or_else(|| {
        GraphError::Invalid("a To Do task needs its list id; none was given".to_owned())
    })
}

/// OData string literal (`'` doubled).
pub fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `/users/{id}/events/{id}` and friends.
pub fn item_path(item: &ItemRef) -> Result<String, GraphError> {
    let user = seg(&item.mailbox);
    let id = seg(&item.id);
    Ok(match item.kind {
        ItemKind::Event => format!("/users/{user}/events/{id}"),
        ItemKind::Message => format!("/users/{user}/messages/{id}"),
        ItemKind::Contact => format!("/users/{user}/contacts/{id}"),
        ItemKind::Task => format!(
            "/users/{user}/todo/lists/{}/tasks/{id}",
            seg(list_of(&item.list_id)?)
        ),
    })
}

/// `$expand` that brings the CRM stamp with an item of `kind`.
pub fn expand_for(kind: ItemKind) -> String {
    match kind {
        ItemKind::Task => "linkedResources".to_owned(),
        ItemKind::Message => super::delta::message_expand(),
        _ => stamp_expand(),
    }
}

/// GET of one item with its stamp expanded.
pub fn get_url(item: &ItemRef) -> Result<String, GraphError> {
    Ok(with_query(
        &item_path(item)?,
        &[("$expand", &expand_for(item.kind))],
    ))
}

/// `POST /users/{mailbox}/translateExchangeIds` and its body.
pub fn translate_ids(
    mailbox: &str,
    ids: &[String],
    from: super::ExchangeIdType,
    to: super::ExchangeIdType,
) -> (String, Value) {
    (
        format!("/users/{}/translateExchangeIds", seg(mailbox)),
        json!({"inputIds": ids, "sourceIdType": from.as_str(), "targetIdType": to.as_str()}),
    )
}

/// Where a create goes.
pub fn create_path(target: &CreateTarget) -> Result<String, GraphError> {
    let user = seg(&target.mailbox);
    Ok(match (target.kind, &target.container) {
        (ItemKind::Event, None) => format!("/users/{user}/events"),
        (ItemKind::Event, Some(cal)) => format!("/users/{user}/calendars/{}/events", seg(cal)),
        (ItemKind::Contact, None) => format!("/users/{user}/contacts"),
        (ItemKind::Contact, Some(f)) => format!("/users/{user}/contactFolders/{}/contacts", seg(f)),
        (ItemKind::Message, None) => format!("/users/{user}/messages"),
        (ItemKind::Message, Some(f)) => format!("/users/{user}/mailFolders/{}/messages", seg(f)),
        (ItemKind::Task, list) => format!("/users/{user}/todo/lists/{}/tasks", seg(list_of(list)?)),
    })
}

/// The `linkedResources` entry that stamps a To Do task.
pub fn task_stamp(crm_id: &str) -> Value {
    json!({
        "applicationName": CRM_STAMP_APPLICATION,
        "displayName": format!("CRM record {crm_id}"),
        "externalId": crm_id,
    })
}

/// The PATCH that stamps an event, message or contact.
pub fn stamp_patch(crm_id: &str) -> Value {
    json!({"singleValueExtendedProperties": [{"id": CRM_STAMP_PROPERTY_ID, "value": crm_id}]})
}

/// A create body: the mapping's Graph JSON plus the CRM stamp and, for events, the `transactionId`.
pub fn create_body(
    kind: ItemKind,
    body: &Value,
    crm_stamp: Option<&str>,
    transaction_id: Option<&str>,
) -> Result<Value, GraphError> {
    let Value::Object(fields) = body else {
        return Err(GraphError::Invalid(format!(
            "a new {} must be a JSON object, found {body}",
            kind.as_str()
        )));
    };
    let mut fields: Map<String, Value> = fields.clone();
    if let Some(crm_id) = crm_stamp {
        let key = if kind == ItemKind::Task {
            "linkedResources"
        } else {
            "singleValueExtendedProperties"
        };
        let mut entries = fields
            .remove(key)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        if kind == ItemKind::Task {
            entries.retain(|r| r["applicationName"].as_str() != Some(CRM_STAMP_APPLICATION));
            entries.push(task_stamp(crm_id));
        } else {
            entries.retain(|p| p["id"].as_str() != Some(CRM_STAMP_PROPERTY_ID));
            entries.push(json!({"id": CRM_STAMP_PROPERTY_ID, "value": crm_id}));
        }
        fields.insert(key.into(), Value::Array(entries));
    }
    if kind == ItemKind::Event
        && let Some(tid) = transaction_id
    {
        fields.insert("transactionId".into(), Value::String(tid.to_owned()));
    }
    Ok(Value::Object(fields))
}

/// The first page of a lookup by CRM stamp.
pub fn find_url(scope: &StampScope, crm_id: &str) -> Result<String, GraphError> {
    let user = seg(&scope.mailbox);
    let value = odata_string(crm_id);
    let (path, filter, expand) = match scope.kind {
        ItemKind::Task => (
            format!(
                "/users/{user}/todo/lists/{}/tasks",
                seg(list_of(&scope.list_id)?)
            ),
            format!("linkedResources/any(r:r/externalId eq {value})"),
            "linkedResources".to_owned(),
        ),
        kind => {
            let collection = match kind {
                ItemKind::Event => "events",
                ItemKind::Message => "messages",
                _ => "contacts",
            };
            (
                format!("/users/{user}/{collection}"),
                format!(
                    "singleValueExtendedProperties/Any(ep: ep/id eq '{CRM_STAMP_PROPERTY_ID}' and ep/value eq {value})"
                ),
                stamp_expand(),
            )
        }
    };
    Ok(with_query(
        &path,
        &[("$filter", &filter), ("$expand", &expand)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::graph::{DeltaResource, DeltaScope, delta::start_url};

    fn item(kind: ItemKind) -> ItemRef {
        ItemRef {
            mailbox: "ana@contoso.com".into(),
            kind,
            id: "AAMkAD+x/y==".into(),
            list_id: Some("AAMkList==".into()),
        }
    }

    #[test]
    fn the_stamp_property_uses_the_fixed_guid() {
        use crate::transport::graph::CRM_STAMP_GUID;
        assert_eq!(
            CRM_STAMP_PROPERTY_ID,
            format!("String {{{CRM_STAMP_GUID}}} Name CrmRecordId")
        );
        assert!(uuid::Uuid::parse_str(CRM_STAMP_GUID).is_ok());
    }

    #[test]
    fn request_urls() {
        let mut urls = Vec::new();
        for kind in [
            ItemKind::Event,
            ItemKind::Message,
            ItemKind::Contact,
            ItemKind::Task,
        ] {
            urls.push(get_url(&item(kind)).unwrap());
            let scope = StampScope {
                mailbox: "ana@contoso.com".into(),
                kind,
                list_id: Some("AAMkList==".into()),
            };
            urls.push(find_url(&scope, "MA-1'2").unwrap());
        }
        for resource in [
            DeltaResource::Messages {
                folder: "inbox".into(),
            },
            DeltaResource::Events {
                start: "2025-01-01T00:00:00Z".parse().unwrap(),
                end: "2026-01-01T00:00:00Z".parse().unwrap(),
            },
            DeltaResource::Contacts {
                folder: "AAMkFolder==".into(),
            },
            DeltaResource::Tasks {
                list: "AAMkList==".into(),
            },
        ] {
            let scope = DeltaScope {
                mailbox: "6a1f0c3e-1111-4a7b-9c2d-000000000001".into(),
                resource,
            };
            urls.push(start_url(&scope).unwrap());
        }
        insta::assert_yaml_snapshot!(urls);
    }

    #[test]
    fn create_bodies_carry_the_stamp_and_transaction_id() {
        let event = json!({"subject": "Visit", "singleValueExtendedProperties": [
            {"id": CRM_STAMP_PROPERTY_ID, "value": "stale"}, {"id": "String 0x4001001E", "value": "keep"}]});
        let task = json!({"title": "Call", "linkedResources": [{"applicationName": "Other", "externalId": "x"}]});
        let bodies = json!({
            "event": create_body(ItemKind::Event, &event, Some("MA-7"), Some("tid-1")).unwrap(),
            "contact": create_body(ItemKind::Contact, &json!({"givenName": "Frank"}), Some("KP-1"), Some("ignored")).unwrap(),
            "task": create_body(ItemKind::Task, &task, Some("A1-9"), None).unwrap(),
            "unstamped": create_body(ItemKind::Message, &json!({"subject": "s"}), None, None).unwrap(),
            "stamp_patch": stamp_patch("MA-7"),
        });
        insta::assert_json_snapshot!(bodies);
        let err = create_body(ItemKind::Event, &json!([1]), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a new event must be a JSON object, found [1]"
        );
    }
}
