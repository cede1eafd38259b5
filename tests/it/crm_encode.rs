//! Golden tests of the XML the CRM client sends, one snapshot per command kind. A snapshot change is a
//! wire change: update `docs/crm-interface-assumptions.md` (and the emulator) with it.

use graph_connector::transport::crm::{
    Actor, BatchCommand, CatalogMode, Command, Condition, CursorFlags, Fields, Op, Query, RecordId,
    TableQuery, Value, WireFormats,
    encode::{EncodeOptions, Login, encode_request},
};
use jiff::civil::{date, time};

const LOGIN: Login<'static> = Login {
    user: "OCSU",
    password: "sandbox",
    client: "GraphApi",
    language: "en",
};

/// The request, one element per line for readable diffs (text never holds a raw `<`, so splitting at
/// `><` cannot cut a value), with the password redacted.
fn sent(actor: &Actor, commands: &[BatchCommand], options: &EncodeOptions) -> String {
    encode_request(&LOGIN, actor, commands, options)
        .expect("encodes")
        .replace("pwd=\"sandbox\"", "pwd=\"[redacted]\"")
        .replace("><", ">\n<")
}

fn one(command: Command) -> String {
    sent(
        &Actor::Master,
        &[BatchCommand::new(command)],
        &EncodeOptions::default(),
    )
}

fn appointment() -> Fields {
    let mut fields = Fields::new();
    fields.insert("GraphId".into(), "AAMkAGI2TG93AAA=".into());
    fields.insert("Contact".into(), "Appointment".into());
    fields.insert("Date".into(), Value::Date(date(2026, 11, 26)));
    fields.insert("Time".into(), Value::Time(time(9, 5, 0, 0)));
    fields.insert("Duration".into(), Value::Number(1.5));
    fields.insert("Private".into(), Value::Bool(false));
    fields.insert("Subject".into(), "Quarterly review".into());
    fields.insert("A031Location".into(), Value::Null);
    fields
}

#[test]
fn query_with_linked_tables_aliases_groups_and_flags() {
    let query = Query::table("Company")
        .fields(["Company", "Synonym"])
        .max_records(100)
        .child(
            TableQuery::new("Person").fields(["LastName"]).child(
                TableQuery::new("Contact")
                    .fields(["Subject"])
                    .flags(CursorFlags::WITH),
            ),
        )
        .child(
            TableQuery::new("Contact")
                .alias("CoContact")
                .fields(["StatNo", "SeqNo", "Date"])
                .flags(CursorFlags::READ_DELETED),
        )
        .filter(Condition::eq("Company", "Company", "ACME*"))
        .filter(Condition::Or(vec![
            Condition::new("Contact", "PeNo", Op::Eq, Value::Number(0.0)).alias("CoContact"),
            Condition::And(vec![
                Condition::new("Contact", "Date", Op::Ge, Value::Date(date(2026, 1, 1))),
                Condition::new("Contact", "Date", Op::Lt, Value::Date(date(2027, 1, 1))),
                Condition::new("Contact", "Subject", Op::Contains, "offer"),
                Condition::new("Contact", "Subject", Op::NotContains, "draft"),
                Condition::new("Contact", "Duration", Op::Gt, Value::Number(30.0)),
                Condition::new("Contact", "Duration", Op::Le, Value::Number(480.0)),
                Condition::new("Contact", "Private", Op::Ne, Value::Bool(true)),
            ]),
        ]));
    insta::assert_snapshot!(one(Command::Query(query)));
}

#[test]
fn insert() {
    insta::assert_snapshot!(one(Command::Insert {
        table: "Contact".into(),
        fields: appointment(),
    }));
}

#[test]
fn update_addresses_the_record_by_id() {
    let mut fields = Fields::new();
    fields.insert("Subject".into(), "Moved".into());
    fields.insert("ConnectorDeleted".into(), Value::Bool(true));
    insta::assert_snapshot!(one(Command::Update {
        table: "Contact".into(),
        id: RecordId::new(" 4294967394"),
        fields,
    }));
}

#[test]
fn delete() {
    insta::assert_snapshot!(one(Command::Delete {
        table: "Tasks".into(),
        id: RecordId::new("4294967300"),
    }));
}

#[test]
fn upsert_is_an_import_with_matchup_keys_first() {
    insta::assert_snapshot!(one(Command::Upsert {
        table: "Contact".into(),
        key: vec!["GraphId".into()],
        fields: appointment(),
    }));
}

#[test]
fn match_by_key() {
    let mut key = Fields::new();
    key.insert("E-mail1".into(), "frank@fabrikam.com".into());
    insta::assert_snapshot!(one(Command::Match {
        table: "Person".into(),
        key,
    }));
}

#[test]
fn read_catalog() {
    insta::assert_snapshot!(one(Command::ReadCatalog("Content Type (groupware)".into())));
}

#[test]
fn batch_with_break_impersonation_and_codes() {
    let mut participant = Fields::new();
    participant.insert("ExtSystem".into(), "2".into());
    participant.insert("ExtKey".into(), "AAMkAGI2TG93AAA=".into());
    let commands = [
        BatchCommand::new(Command::Upsert {
            table: "Contact".into(),
            key: vec!["GraphId".into()],
            fields: appointment(),
        }),
        BatchCommand::after_success(Command::Upsert {
            table: "ExtKey".into(),
            key: vec!["ExtSystem".into(), "ExtKey".into()],
            fields: participant,
        }),
    ];
    let options = EncodeOptions {
        catalog_mode: CatalogMode::Code,
        ..EncodeOptions::default()
    };
    insta::assert_snapshot!(sent(
        &Actor::RepEmail("ana@contoso.com".into()),
        &commands,
        &options
    ));
}

#[test]
fn external_keys_rep_name_and_configured_formats() {
    let options = EncodeOptions {
        catalog_mode: CatalogMode::ExtKey,
        formats: WireFormats {
            date: "%d.%m.%Y".into(),
            time: "%H:%M:%S".into(),
        },
    };
    let command = BatchCommand::new(Command::Insert {
        table: "Contact".into(),
        fields: appointment(),
    });
    insta::assert_snapshot!(sent(
        &Actor::RepName("Chloé Dubois".into()),
        &[command],
        &options
    ));
}

#[test]
fn hostile_text_is_escaped_never_markup() {
    let mut fields = Fields::new();
    fields.insert("Subject".into(), "</Subject><Rep>x</Rep> & \"co\"".into());
    fields.insert("Text".into(), "line1\r\nline2\ttab ]]> 'q' 😀 עברית".into());
    let query = Query::table("Contact")
        .fields(["Subject"])
        .filter(Condition::eq("Contact", "Subject", "a\"b'c<d>&e\tf\ng"));
    let commands = [
        BatchCommand::new(Command::Insert {
            table: "Contact".into(),
            fields,
        }),
        BatchCommand::new(Command::Query(query)),
    ];
    insta::assert_snapshot!(sent(
        &Actor::RepEmail("o'brien&co@contoso.com".into()),
        &commands,
        &EncodeOptions::default()
    ));
}
