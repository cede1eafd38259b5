//! The preview is what the CRM stores: records mapped from Graph items by the shipped mappings (base and
//! `isi`), written through the real CRM.interface client to the emulator, read back unchanged.

use std::path::Path;

use graph_connector::{
    emulator::crm::{self, EmulatorOptions},
    load::{load_set, read_directory},
    mapping::{FieldValue, context::Context, to_crm},
    transport::crm::{
        Actor, Condition, CrmTransport, Fields, Query, Value, WireFormats,
        client::{CrmClient, CrmClientConfig},
    },
};
use pretty_assertions::assert_eq;
use serde_json::json;

fn to_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(t) => Value::Text(t.clone()),
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::Int(n) => Value::Number(*n as f64),
        FieldValue::Number(n) => Value::Number(*n),
        FieldValue::Date(d) => Value::Date(*d),
        FieldValue::Time(t) => Value::Time(*t),
    }
}

#[tokio::test]
async fn mapped_records_are_stored_exactly_as_previewed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = root.join("mappings");
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(mappings.join("examples/event.json")).unwrap(),
    )
    .unwrap();
    let hostile = "</Subject><Rep>x</Rep> & \"co\" 'q' ]]> Jürgen 日本語 שלום 👩‍💻 \t tab  ";
    let message = json!({
        "id": "AAMkMsg1", "subject": hostile, "isDraft": false,
        "receivedDateTime": "2025-03-30T01:30:00Z", "importance": "high",
        "body": { "contentType": "html", "content": "<p>A &amp; B &lt;c&gt;</p><p>Grüße</p>" },
        "from": { "emailAddress": { "name": "Frank", "address": "frank@fabrikam.com" } },
        "toRecipients": [
            { "emailAddress": { "address": "ana@contoso.com" } },
            { "emailAddress": { "address": "stranger@example.org" } }
        ]
    });
    let task = json!({
        "id": "AAMkTask1", "title": hostile, "status": "waitingOnOthers", "importance": "low",
        "body": { "contentType": "text", "content": "line 1\r\nline 2 & <3>" },
        "dueDateTime": { "dateTime": "2025-04-01T00:00:00.0000000", "timeZone": "UTC" }
    });

    let emu = crm::spawn(EmulatorOptions::default()).await.unwrap();
    let master = emu.master();
    let mut config = CrmClientConfig::new(emu.url(), &master.user, master.password.into());
    config.client_name = master.client;
    let crm = CrmClient::new(config).unwrap();
    let ana = Actor::RepEmail("ana@contoso.com".into());
    let formats = WireFormats::default();

    let mut ctx = Context::new("W. Europe Standard Time").unwrap();
    ctx.directory = read_directory(&mappings.join("examples/directory.yaml")).unwrap();
    ctx.mailbox = Some("ana@contoso.com".into());
    let mut written = 0;
    for template in [None, Some("isi")] {
        let set = load_set(&mappings, template).unwrap();
        for (resource, item) in [("event", &event), ("message", &message), ("task", &task)] {
            let res = set.resource(resource).unwrap();
            let record = to_crm(&set, res, item, &ctx);
            assert_eq!(
                record.warnings,
                Vec::<String>::new(),
                "{resource} {template:?}"
            );
            let fields: Fields = record
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect();
            let id = crm
                .insert(&ana, &record.table, fields.clone())
                .await
                .unwrap_or_else(|e| panic!("{resource} under {template:?}: {e}"));
            written += 1;
            let query = Query::table(&record.table)
                .fields(fields.keys().map(String::as_str))
                .filter(Condition::eq(&record.table, "ID", id.as_str()));
            let stored = crm.query(&ana, &query).await.unwrap();
            assert_eq!(stored.len(), 1);
            for (name, value) in &fields {
                let want = value.to_wire(&formats);
                let got = stored[0].text(name).map(str::to_owned);
                // Numbers come back in plain decimal; compare them as numbers.
                if let (Value::Number(n), Some(g)) = (value, &got) {
                    assert_eq!(g.parse::<f64>().ok(), Some(*n), "{resource}.{name}");
                } else {
                    assert_eq!(got, want, "{resource}.{name} under {template:?}");
                }
            }
        }
    }
    assert_eq!(written, 6);
    emu.shutdown().await;
}
