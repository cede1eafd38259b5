//! Speed of the CRM.interface encoder and decoder: 1,000 upserts in one request, a 1,000-record answer.

use criterion::{Criterion, criterion_group, criterion_main};
use graph_connector::transport::crm::{
    Actor, BatchCommand, Command, Fields, Query, Value,
    encode::{EncodeOptions, Login, decode_response, encode_request},
};
use std::hint::black_box;

const LOGIN: Login<'static> = Login {
    user: "OCSU",
    password: "sandbox",
    client: "GraphApi",
    language: "en",
};

fn upserts(n: usize) -> Vec<BatchCommand> {
    (0..n)
        .map(|i| {
            let mut fields = Fields::new();
            fields.insert("GraphId".into(), format!("AAMkAGI2TG93-{i:06}").into());
            fields.insert("Contact".into(), "Appointment".into());
            fields.insert("Date".into(), Value::Date(jiff::civil::date(2026, 11, 26)));
            fields.insert("RepID".into(), "ANA".into());
            fields.insert("Subject".into(), format!("Review <{i}> & \"co\" 😀").into());
            fields.insert("Text".into(), "line\r\n".repeat(50).into());
            BatchCommand::new(Command::Upsert {
                table: "Contact".into(),
                key: vec!["GraphId".into()],
                fields,
            })
        })
        .collect()
}

fn answer(n: usize) -> String {
    let mut body =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><response><query corr=\"0\">");
    for i in 0..n {
        body.push_str(&format!(
            "<Contact tableshort=\"MA\" id=\"{}\"><GraphId>AAMkAGI2TG93-{i:06}</GraphId><Subject>Review &lt;{i}&gt; &amp; \"co\" 😀</Subject><Date>2026-11-26</Date><Text>{}</Text></Contact>",
            4_294_967_296u64 + i as u64,
            "line&#13;\n".repeat(50)
        ));
    }
    body.push_str("</query></response>");
    body
}

fn bench(c: &mut Criterion) {
    let commands = upserts(1_000);
    let options = EncodeOptions::default();
    c.bench_function("encode 1000 upserts", |b| {
        b.iter(|| encode_request(&LOGIN, &Actor::Master, black_box(&commands), &options).unwrap())
    });
    let body = answer(1_000);
    let query = [BatchCommand::new(Command::Query(
        Query::table("Contact").fields(["GraphId", "Subject", "Date", "Text"]),
    ))];
    c.bench_function("decode 1000 records", |b| {
        b.iter(|| decode_response(black_box(&body), &query).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
