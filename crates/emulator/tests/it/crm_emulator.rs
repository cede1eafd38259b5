//! The CRM.interface emulator over loopback HTTP with raw XML: the reference's documented examples, auth and
//! impersonation, custom and protected attributes, flags, operators, catalogs, `<break>`, faults, SQLite.

use std::time::Duration;

use graph_connector_emulator::crm::{
    self, CrmEmulator, EmulatorOptions, Faults, Seed, StoreOption,
};
use pretty_assertions::assert_eq;

/// Record ids of the default seed: station 1, serials in seed order.
const FABRIKAM: u64 = (1 << 32) | 1;

const NORTHWIND: u64 = (1 << 32) | 2;

async fn emulator() -> CrmEmulator {
    crm::spawn(EmulatorOptions::default())
        .await
        .expect("emulator starts")
}

fn request(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><request user="OCSU" pwd="sandbox" client="GraphApi" xml:lang="en">{inner}</request>"#
    )
}

async fn post(emu: &CrmEmulator, body: &str) -> String {
    let res = reqwest::Client::new()
        .post(emu.url())
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 200, "HTTP status");
    res.text().await.expect("body")
}

/// The response without the XML declaration.
fn strip(body: &str) -> &str {
    body.trim()
        .strip_prefix(r#"<?xml version="1.0" encoding="utf-8"?>"#)
        .unwrap_or(body)
        .trim()
}

/// Ids of the record elements named `tag`, in document order.
fn ids(body: &str, tag: &str) -> Vec<u64> {
    let re = regex::Regex::new(&format!(r#"<{tag} tableshort="[A-Z0-9]+" id="(\d+)""#)).unwrap();
    re.captures_iter(body)
        .map(|c| c[1].parse().unwrap())
        .collect()
}

/// The `code` attributes of every `<return type="error">`.
fn error_codes(body: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"<return type="error" code="([^"]+)""#).unwrap();
    re.captures_iter(body).map(|c| c[1].to_owned()).collect()
}

async fn insert_acme(emu: &CrmEmulator) -> (u64, u64) {
    let body = post(
        emu,
        &request(
            r#"<insert><fields><Company><Company>ACME Ltd</Company><Synonym>Acme</Synonym></Company></fields></insert>"#,
        ),
    )
    .await;
    let company = ids(&body, "Company")[0];
    assert_eq!(company, (1 << 32) | 3);
    let body = post(
        emu,
        &request(
            r#"<insert><fields><Person><CoGrp>1</CoGrp><CoNo>3</CoNo><FirstName>Ada</FirstName><LastName>Lovelace</LastName><E-mail1>ada@acme.example</E-mail1></Person></fields></insert>"#,
        ),
    )
    .await;
    let person = ids(&body, "Person")[0];
    (company, person)
}

#[tokio::test]
async fn reference_query_example_returns_nested_records_and_aliases() {
    let emu = emulator().await;
    let (company, person) = insert_acme(&emu).await;
    // one contact of the person (company fields inherited from the person), one of the company only
    let body = post(
        &emu,
        &request(
            r#"<insert><fields>
                <Contact><Contact>Letter</Contact><Date>2026-11-26</Date><Time>10:00</Time><Subject>Offer</Subject><RepID>ANA</RepID><PeGrp>1</PeGrp><PeNo>5</PeNo></Contact>
                <Contact><Contact>Telephone</Contact><Date>2026-11-27</Date><Subject>Call back</Subject><RepID>BEN</RepID><CoGrp>1</CoGrp><CoNo>3</CoNo></Contact>
            </fields></insert>"#,
        ),
    )
    .await;
    assert_eq!(error_codes(&body), Vec::<String>::new(), "{body}");
    assert_eq!(person, (1 << 32) | 5);
    // §3.1 verbatim (plus credentials and a custom attribute)
    let query = r#"<?xml version="1.0" encoding="utf-8"?>
<request user="OCSU" pwd="sandbox" xml:lang="en" myCorrelation="r-17">
  <query catexkeys="false">
    <tables>
      <table tablename="Company">
        <table tablename="Person">
          <table tablename="Contact" maxrecords="100"/>
        </table>
        <table tablename="Contact" alias="CoContact"/>
      </table>
    </tables>
    <condition>
      <cond tablename="Contact" alias="CoContact" fieldname="PeGrp" op="=" value="0"/>
      <cond tablename="Contact" alias="CoContact" fieldname="PeNo"  op="=" value="0"/>
      <cond tablename="Company" fieldname="Company" op="=" value="ACME*"/>
    </condition>
    <fields tablename="Company" fields="Company,Synonym"/>
    <fields tablename="Contact" fields="StatNo,SeqNo,Contact,Date,Time,Subject"/>
    <fields><field tablename="Person" fieldname="LastName"/></fields>
  </query>
</request>"#;
    let body = post(&emu, query).await;
    let expected = format!(
        r#"<response myCorrelation="r-17"><query><Company tableshort="FI" id="{company}"><Company>ACME Ltd</Company><Synonym>Acme</Synonym><Person tableshort="KP" id="{person}"><LastName>Lovelace</LastName><Contact tableshort="MA" id="4294967297"><StatNo>1</StatNo><SeqNo>1</SeqNo><Contact>Letter</Contact><Date>2026-11-26</Date><Time>10:00</Time><Subject>Offer</Subject></Contact></Person><CoContact tableshort="MA" id="4294967298"><StatNo>1</StatNo><SeqNo>2</SeqNo><Contact>Telephone</Contact><Date>2026-11-27</Date><Time/><Subject>Call back</Subject></CoContact></Company></query></response>"#
    );
    assert_eq!(strip(&body), expected);
    emu.shutdown().await;
}

#[tokio::test]
async fn reference_import_example_inserts_then_updates_by_matchup() {
    let emu = emulator().await;
    let import = request(
        r#"<import><fields><Company corr="c1"><Company matchup="true">ACME Ltd</Company><Synonym/></Company></fields></import>"#,
    );
    let first = post(&emu, &import).await;
    assert_eq!(
        strip(&first),
        r#"<response><import><Company tableshort="FI" id="4294967299" action="insert" corr="c1"/></import></response>"#
    );
    let second = post(&emu, &import).await;
    assert_eq!(
        strip(&second),
        r#"<response><import><Company tableshort="FI" id="4294967299" action="update" corr="c1"/></import></response>"#
    );
    assert_eq!(emu.count("Company", "Company", "ACME Ltd"), 1);
    // two records with the same key: ambiguous, nothing written
    post(
        &emu,
        &request(
            r#"<insert><fields><Company><Company>ACME Ltd</Company></Company></fields></insert>"#,
        ),
    )
    .await;
    let ambiguous = post(
        &emu,
        &request(
            r#"<import><fields><Company><Company matchup="true">ACME Ltd</Company><City>Nowhere</City></Company></fields></import>"#,
        ),
    )
    .await;
    assert_eq!(error_codes(&ambiguous), ["ambiguous-match"]);
    assert_eq!(emu.count("Company", "City", "Nowhere"), 0);
    // match-up compares text as query conditions do (ignoring case): both records match again
    let other_case = post(
        &emu,
        &request(
            r#"<import><fields><Company><Company matchup="true">acme ltd</Company></Company></fields></import>"#,
        ),
    )
    .await;
    assert_eq!(
        error_codes(&other_case),
        ["ambiguous-match"],
        "{other_case}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn insert_update_delete_match_round_trip() {
    let emu = emulator().await;
    let body = post(
        &emu,
        &request(
            r#"<insert corr="a"><fields><Tasks corr="t1"><RepID>ANA</RepID><Subject>Prepare offer</Subject><Status>#1</Status><DueDate>2026-12-01</DueDate><GraphId>AAMkTask1</GraphId></Tasks></fields></insert>"#,
        ),
    )
    .await;
    assert_eq!(
        strip(&body),
        r#"<response><insert corr="a"><Tasks tableshort="A1" id="4294967297" corr="t1"/></insert></response>"#
    );
    let id = 4294967297u64;
    let body = post(
        &emu,
        &request(&format!(
            r#"<update><fields><Tasks id=" {id}" corr="u1"><Status>Completed</Status><Complete>100</Complete></Tasks></fields></update>"#
        )),
    )
    .await;
    assert_eq!(
        strip(&body),
        format!(
            r#"<response><update><Tasks tableshort="A1" id="{id}" corr="u1"/></update></response>"#
        )
    );
    let body = post(
        &emu,
        &request(r#"<match><fields><Tasks corr="m"><GraphId matchup="true">AAMkTask1</GraphId></Tasks></fields></match>"#),
    )
    .await;
    assert!(
        body.contains(r#"<Tasks tableshort="A1" id="4294967297" corr="m">"#),
        "{body}"
    );
    assert!(
        body.contains("<Status>Completed</Status><Priority/><Complete>100</Complete>"),
        "{body}"
    );
    let body = post(
        &emu,
        &request(&format!(
            r#"<delete><fields><Tasks id="{id}" corr="d"/></fields></delete>"#
        )),
    )
    .await;
    assert_eq!(
        strip(&body),
        format!(
            r#"<response><delete><Tasks tableshort="A1" id="{id}" corr="d"/></delete></response>"#
        )
    );
    // deleted: gone for update, delete and match; still there for read-deleted
    for cmd in [
        format!(
            r#"<update><fields><Tasks id="{id}"><Complete>1</Complete></Tasks></fields></update>"#
        ),
        format!(r#"<delete><fields><Tasks id="{id}"/></fields></delete>"#),
    ] {
        assert_eq!(
            error_codes(&post(&emu, &request(&cmd)).await),
            ["not-found"]
        );
    }
    let body = post(
        &emu,
        &request(r#"<match><fields><Tasks><GraphId matchup="true">AAMkTask1</GraphId></Tasks></fields></match>"#),
    )
    .await;
    assert_eq!(strip(&body), "<response><match/></response>");
    let records = emu.records("Tasks");
    assert_eq!(records.len(), 1);
    assert!(records[0].deleted);
    assert_eq!(records[0].values["Status"], "3");
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_rejected_before_any_command_runs() {
    let emu = emulator().await;
    let insert = r#"<insert><fields><Company><Company>Evil</Company></Company></fields></insert>"#;
    for attrs in [
        r#"user="OCSU" pwd="wrong""#,
        r#"user="NOBODY" pwd="sandbox""#,
        r#"user="OCSU""#,
        "",
        r#"domain="CONTOSO" user="OCSU""#,
    ] {
        let body = post(&emu, &format!("<request {attrs}>{insert}</request>")).await;
        let codes = error_codes(&body);
        assert_eq!(codes, ["auth"], "attrs {attrs}: {body}");
        assert!(
            !body.contains("<insert"),
            "no command result after a failed login: {body}"
        );
    }
    assert_eq!(emu.count("Company", "Company", "Evil"), 0);
    // the auth ticket stub: base64 of user:password, usable once
    let ticket = "T0NTVTpzYW5kYm94"; // OCSU:sandbox
    let query = r#"<query><tables><table tablename="Rep"/></tables></query>"#;
    let first = post(
        &emu,
        &format!(r#"<request auth="{ticket}">{query}</request>"#),
    )
    .await;
    assert_eq!(ids(&first, "Rep").len(), 5, "{first}");
    let again = post(
        &emu,
        &format!(r#"<request auth="{ticket}">{query}</request>"#),
    )
    .await;
    assert_eq!(error_codes(&again), ["auth"]);
    // credentials on a command instead of the request
    let body = post(
        &emu,
        r#"<request><query user="AUDIT" pwd="audit-secret"><tables><table tablename="Rep"/></tables></query></request>"#,
    )
    .await;
    assert_eq!(ids(&body, "Rep").len(), 5, "{body}");
    emu.shutdown().await;
}

#[tokio::test]
async fn impersonation_only_for_the_master_user_and_client_first_match_wins() {
    let emu = emulator().await;
    let task = r#"<insert><fields><Tasks><RepID>ANA</RepID><Subject>x</Subject></Tasks></fields></insert>"#;
    let ok = post(
        &emu,
        &format!(
            r#"<request user="OCSU" pwd="sandbox" client="GraphApi" impersonate="user=NOPE;email=ben@contoso.com;rep=Ana Alvarez">{task}</request>"#
        ),
    )
    .await;
    assert_eq!(error_codes(&ok), Vec::<String>::new(), "{ok}");
    assert_eq!(emu.counters().users.get("OCSU as BEN"), Some(&1));
    for (attrs, code) in [
        (
            r#"user="OCSU" pwd="sandbox" client="Other" impersonate="rep=Ana Alvarez""#,
            "permission-denied",
        ),
        (
            r#"user="OCSU" pwd="sandbox" impersonate="rep=Ana Alvarez""#,
            "permission-denied",
        ),
        (
            r#"user="ANA" pwd="ana-secret" client="GraphApi" impersonate="rep=Ben Becker""#,
            "permission-denied",
        ),
        (
            r#"user="OCSU" pwd="sandbox" client="GraphApi" impersonate="email=stranger@example.org""#,
            "auth",
        ),
    ] {
        let body = post(&emu, &format!("<request {attrs}>{task}</request>")).await;
        assert_eq!(error_codes(&body), [code], "{attrs}: {body}");
    }
    // an impersonated rep may not write the Rep table (master only)
    let body = post(
        &emu,
        r#"<request user="OCSU" pwd="sandbox" client="GraphApi" impersonate="email=ana@contoso.com"><update><fields><Rep id="4294967297"><Name>Mallory</Name></Rep></fields></update></request>"#,
    )
    .await;
    assert_eq!(error_codes(&body), ["permission-denied"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn custom_attributes_are_echoed_and_protected_names_rejected() {
    let emu = emulator().await;
    let body = post(
        &emu,
        r#"<request xmlns:mp="http://www.update.com/xml/core/mp" user="OCSU" pwd="sandbox" session="s1"><query q="7" catbynum="true"><tables><table tablename="Company" maxrecords="1"/></tables><fields tablename="Company" fields="Company"/></query><import x="1"><fields><Company corr="c9" tablename="Company"><Company matchup="true">Fabrikam Inc</Company></Company></fields></import></request>"#,
    )
    .await;
    assert_eq!(
        strip(&body),
        format!(
            r#"<response xmlns:mp="http://www.update.com/xml/core/mp" session="s1"><query q="7"><Company tableshort="FI" id="{FABRIKAM}"><Company>Fabrikam Inc</Company></Company></query><import x="1"><Company tableshort="FI" id="{FABRIKAM}" action="update" corr="c9"/></import></response>"#
        )
    );
    for (inner, whole_request) in [
        (
            r#"<request user="OCSU" pwd="sandbox" code="1"><nop/></request>"#,
            true,
        ),
        (
            r#"<request user="OCSU" pwd="sandbox"><query label="x"><tables><table tablename="Rep"/></tables></query></request>"#,
            false,
        ),
        (
            r#"<request user="OCSU" pwd="sandbox"><insert><fields><Company upd="x"><Company>P</Company></Company></fields></insert></request>"#,
            false,
        ),
    ] {
        let body = post(&emu, inner).await;
        assert_eq!(error_codes(&body), ["protected-attribute"], "{body}");
        assert_eq!(
            strip(&body).starts_with("<response><return"),
            whole_request,
            "{body}"
        );
    }
    assert_eq!(emu.count("Company", "Company", "P"), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn write_errors_name_table_and_field_and_leave_nothing_behind() {
    let emu = emulator().await;
    let cases = [
        (
            r#"<Contact corr="1"><Contact>Visit</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><Subjct>x</Subjct></Contact>"#,
            r#"<return type="error" code="unknown-field" table="Contact" field="Subjct" index="1" corr="1">unknown field `Subjct` in table Contact</return>"#,
        ),
        (
            r#"<Contact><Contact>Visit</Contact><RepID>ANA</RepID></Contact>"#,
            r#"code="required-field-missing" table="Contact" field="Date""#,
        ),
        (
            r#"<Contact><Contact>Visit</Contact><Date>26.11.2026</Date><RepID>ANA</RepID></Contact>"#,
            r#"code="invalid-value" table="Contact" field="Date""#,
        ),
        (
            r#"<Contact><Contact>Fax</Contact><Date>2026-11-26</Date><RepID>ANA</RepID></Contact>"#,
            r#"code="invalid-value" table="Contact" field="Contact""#,
        ),
        (
            r#"<Contact><Contact>Visit</Contact><Date>2026-11-26</Date><RepID>ZZZ</RepID></Contact>"#,
            r#"code="invalid-value" table="Contact" field="RepID""#,
        ),
        (
            r#"<Contact><Contact>Visit</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><Upd>2026-01-01T00:00:00Z</Upd></Contact>"#,
            r#"code="invalid-value" table="Contact" field="Upd""#,
        ),
        (
            r#"<Contact><Contact>Visit</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><PeGrp>1</PeGrp><PeNo>99</PeNo></Contact>"#,
            r#"code="not-found" table="Contact" field="PeGrp""#,
        ),
        (
            r#"<Opportunity><Name>x</Name></Opportunity>"#,
            r#"code="unknown-table" table="Opportunity""#,
        ),
    ];
    for (record, expected) in cases {
        let body = post(
            &emu,
            &request(&format!("<insert><fields>{record}</fields></insert>")),
        )
        .await;
        assert!(body.contains(expected), "expected {expected} in {body}");
    }
    let long = "x".repeat(256);
    let body = post(
        &emu,
        &request(&format!(
            r#"<insert><fields><Contact><Contact>Visit</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><Subject>{long}</Subject></Contact></fields></insert>"#
        )),
    )
    .await;
    assert!(
        body.contains("at most 255 characters (found 256)"),
        "{body}"
    );
    // Ext. System + Ext. Key are unique among live XK records
    let xk = r#"<insert><fields><ExtKey><ExtSystem>GraphApi</ExtSystem><ExtKey>AAMk1</ExtKey><ContentType>text/x-vevent</ContentType><RecTable>MA</RecTable><RecId>4294967297</RecId></ExtKey></fields></insert>"#;
    assert_eq!(
        error_codes(&post(&emu, &request(xk)).await),
        Vec::<String>::new()
    );
    let body = post(&emu, &request(xk)).await;
    assert!(
        body.contains(r#"code="invalid-value" table="ExtKey" field="ExtSystem""#)
            && body.contains("must be unique"),
        "{body}"
    );
    // atomic per command: the second record fails, the first is not written
    let body = post(
        &emu,
        &request(
            r#"<insert><fields><Company><Company>First</Company></Company><Company><Synonym>no name</Synonym></Company></fields></insert>"#,
        ),
    )
    .await;
    assert!(
        body.contains(r#"code="required-field-missing" table="Company" field="Company" index="2""#),
        "{body}"
    );
    assert_eq!(emu.count("Company", "Company", "First"), 0);
    assert_eq!(emu.records("Contact").len(), 0);
    // read-only login
    let body = post(
        &emu,
        r#"<request user="AUDIT" pwd="audit-secret"><insert><fields><Company><Company>Audit</Company></Company></fields></insert></request>"#,
    )
    .await;
    assert_eq!(error_codes(&body), ["permission-denied"]);
    // unknown id, catalog table, malformed XML
    assert_eq!(
        error_codes(&post(&emu, &request(r#"<update><fields><Company id="999"><City>x</City></Company></fields></update>"#)).await),
        ["not-found"]
    );
    assert_eq!(
        error_codes(
            &post(
                &emu,
                &request(r#"<insert><fields><Catalog><Name>x</Name></Catalog></fields></insert>"#)
            )
            .await
        ),
        ["permission-denied"]
    );
    assert_eq!(
        error_codes(&post(&emu, "<request><query>").await),
        ["malformed"]
    );
    assert_eq!(emu.counters().errors, 15);
    emu.shutdown().await;
}

#[tokio::test]
async fn cursor_flags_with_exists_not_exists_and_read_deleted() {
    let emu = emulator().await;
    post(
        &emu,
        &request(
            r#"<insert><fields><Company><Company>Empty Co</Company></Company></fields></insert>"#,
        ),
    )
    .await;
    let empty = (1u64 << 32) | 3;
    let q = |flags: u32| {
        request(&format!(
            r#"<query><tables><table tablename="Company"><table tablename="Person" flags="{flags}"/></table></tables></query>"#
        ))
    };
    let body = post(&emu, &q(0)).await;
    assert_eq!(ids(&body, "Company"), [FABRIKAM, NORTHWIND, empty]);
    assert_eq!(ids(&body, "Person").len(), 4);
    let body = post(&emu, &q(256)).await;
    assert_eq!(ids(&body, "Company"), [FABRIKAM, NORTHWIND]);
    assert_eq!(ids(&body, "Person").len(), 4);
    let body = post(&emu, &q(256 | 512)).await;
    assert_eq!(ids(&body, "Company"), [FABRIKAM, NORTHWIND]);
    assert_eq!(ids(&body, "Person").len(), 0, "EXISTS returns no children");
    let body = post(&emu, &q(1024)).await;
    assert_eq!(ids(&body, "Company"), [empty]);
    post(
        &emu,
        &request(&format!(
            r#"<delete><fields><Company id="{empty}"/></fields></delete>"#
        )),
    )
    .await;
    let plain = request(r#"<query><tables><table tablename="Company"/></tables></query>"#);
    assert_eq!(
        ids(&post(&emu, &plain).await, "Company"),
        [FABRIKAM, NORTHWIND]
    );
    let deleted = post(
        &emu,
        &request(r#"<query><tables><table tablename="Company" flags="16384"/></tables></query>"#),
    )
    .await;
    assert_eq!(ids(&deleted, "Company"), [FABRIKAM, NORTHWIND, empty]);
    assert!(
        deleted.contains(&format!(r#"id="{empty}" deleted="true""#)),
        "{deleted}"
    );
    // TN rows of the default seed hang under their person, which inherits the company link
    let body = post(
        &emu,
        &request(
            r#"<query><tables><table tablename="TelNo"><table tablename="Person"/></table></tables><condition><cond tablename="TelNo" fieldname="Number" op="=" value="HANNA@northwind.de"/></condition><fields tablename="TelNo" fields="CoGrp,CoNo,Kind"/><fields tablename="Person" fields="LastName"/></query>"#,
        ),
    )
    .await;
    assert!(
        body.contains("<CoGrp>1</CoGrp><CoNo>2</CoNo><Kind>E-mail</Kind><Person tableshort=\"KP\" id=\"4294967299\"><LastName>Huber</LastName></Person>"),
        "{body}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn operators_wildcards_groups_and_maxrecords() {
    let emu = emulator().await;
    let persons = |condition: &str, extra: &str| {
        request(&format!(
            r#"<query><tables><table tablename="Person"{extra}/></tables><condition>{condition}</condition><fields tablename="Person" fields="LastName"/></query>"#
        ))
    };
    let names = |body: &str| -> Vec<String> {
        regex::Regex::new(r"<LastName>([^<]*)</LastName>")
            .unwrap()
            .captures_iter(body)
            .map(|c| c[1].to_owned())
            .collect()
    };
    let cases: &[(&str, &str, &[&str])] = &[
        (
            r#"<cond tablename="Person" fieldname="E-mail1" op="=" value="*@FABRIKAM.com"/>"#,
            "",
            &["Fischer", "Green"],
        ),
        (
            r#"<cond tablename="Person" fieldname="LastName" op="!=" value="Fischer"/>"#,
            "",
            &["Green", "Huber", "Jäger"],
        ),
        (
            r#"<cond tablename="Person" fieldname="LastName" op="&lt;&gt;" value="G*"/>"#,
            "",
            &["Fischer", "Huber", "Jäger"],
        ),
        (
            r#"<cond tablename="Person" fieldname="LastName" op="()" value="ge"/>"#,
            "",
            &["Jäger"],
        ),
        (
            r#"<cond tablename="Person" fieldname="FirstName" op=")(" value="an"/>"#,
            "",
            &["Green", "Jäger"],
        ),
        (
            r#"<cond tablename="Person" fieldname="PeNo" op="&gt;=" value="3"/>"#,
            "",
            &["Huber", "Jäger"],
        ),
        (
            r#"<cond tablename="Person" fieldname="PeNo" op="&lt;" value="2"/>"#,
            "",
            &["Fischer"],
        ),
        (
            r#"<cond tablename="Person" fieldname="PeNo" op="&lt;=" value="2"/>"#,
            "",
            &["Fischer", "Green"],
        ),
        (
            r#"<cond tablename="Person" fieldname="PeNo" op="&gt;" value="3"/>"#,
            "",
            &["Jäger"],
        ),
        (
            r#"<lop value="or"><cond tablename="Person" fieldname="LastName" op="=" value="Huber"/><lop value="and"><cond tablename="Person" fieldname="CoNo" op="=" value="1"/><cond tablename="Person" fieldname="FirstName" op="=" value="grace"/></lop></lop>"#,
            "",
            &["Green", "Huber"],
        ),
        (
            r#"<cond tablename="Person" fieldname="ID" op="=" value="4294967298"/>"#,
            "",
            &["Green"],
        ),
        ("", r#" maxrecords="3""#, &["Fischer", "Green", "Huber"]),
    ];
    for (condition, extra, expected) in cases {
        let body = post(&emu, &persons(condition, extra)).await;
        assert_eq!(names(&body), *expected, "{condition}: {body}");
    }
    let body = post(
        &emu,
        &persons(
            r#"<cond tablename="Person" fieldname="PeNo" op="~" value="1"/>"#,
            "",
        ),
    )
    .await;
    assert_eq!(error_codes(&body), ["malformed"]);
    let body = post(
        &emu,
        &persons(
            r#"<cond tablename="Person" fieldname="Nope" op="=" value="1"/>"#,
            "",
        ),
    )
    .await;
    assert_eq!(error_codes(&body), ["unknown-field"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn catalog_values_by_text_code_external_key_and_language() {
    let emu = emulator().await;
    post(
        &emu,
        &request(
            r#"<insert><fields>
              <Contact><Contact>#5</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><ShowAs>Gebucht</ShowAs></Contact>
              <Contact><Contact>1_1_7</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><ShowAs>free</ShowAs></Contact>
            </fields></insert>"#,
        ),
    )
    .await;
    let read = |attrs: &str, lang: &str| {
        format!(
            r#"<request user="OCSU" pwd="sandbox" xml:lang="{lang}"><query {attrs}><tables><table tablename="Contact"/></tables><fields tablename="Contact" fields="Contact,ShowAs"/></query></request>"#
        )
    };
    let expect = [
        ("", "en", "<Contact>E-mail</Contact><ShowAs>Busy</ShowAs>"),
        (
            "",
            "de",
            "<Contact>E-Mail</Contact><ShowAs>Gebucht</ShowAs>",
        ),
        (
            r#"catbynum="true""#,
            "en",
            "<Contact>5</Contact><ShowAs>3</ShowAs>",
        ),
        (
            r#"catexkeys="true""#,
            "en",
            "<Contact>1_1_5</Contact><ShowAs>1_2_3</ShowAs>",
        ),
        (
            r#"catformat="1""#,
            "en",
            "<Contact>[1_1_5] E-mail</Contact>",
        ),
        (
            r#"catformat="8""#,
            "de",
            "<Contact>1_1_7 | Termin</Contact>",
        ),
    ];
    for (attrs, lang, fragment) in expect {
        let body = post(&emu, &read(attrs, lang)).await;
        assert!(
            body.contains(fragment),
            "{attrs} {lang}: expected {fragment} in {body}"
        );
    }
    // conditions take text, #code or extkey
    for cond in [r#"value="E-mail""#, r##"value="#5""##, r#"extkey="1_1_5""#] {
        let body = post(
            &emu,
            &request(&format!(
                r#"<query><tables><table tablename="Contact"/></tables><condition><cond tablename="Contact" fieldname="Contact" op="=" {cond}/></condition></query>"#
            )),
        )
        .await;
        assert_eq!(ids(&body, "Contact"), [(1u64 << 32) | 1], "{cond}: {body}");
    }
    let catalog = |name: &str| {
        request(&format!(
            r#"<query><tables><table tablename="Catalog"/></tables><condition><cond tablename="Catalog" fieldname="Name" op="=" value="{name}"/></condition><fields tablename="Catalog" fields="Name,Code,Text,ExtKey"/></query>"#
        ))
    };
    // a command's own language wins over the request's
    let body = post(
        &emu,
        &request(
            r#"<query xml:lang="de"><tables><table tablename="Contact" maxrecords="1"/></tables><fields tablename="Contact" fields="Contact"/></query>"#,
        ),
    )
    .await;
    assert!(body.contains("<Contact>E-Mail</Contact>"), "{body}");
    let body = post(&emu, &catalog("Content Type (groupware)")).await;
    for mime in [
        "application/x-mmRecord",
        "text/x-mmAbsences",
        "text/x-mmPerson",
        "text/x-mmTasks",
        "text/x-vevent",
    ] {
        assert!(
            body.contains(&format!(r#"<Text lang="en">{mime}</Text>"#)),
            "{mime}: {body}"
        );
    }
    let body = post(&emu, &catalog("Ext. System (Rep)")).await;
    assert!(
        body.contains(r#"<Name>Ext. System (Rep)</Name><Code>2</Code><Text lang="en">GraphApi</Text><Text lang="de">GraphApi</Text><ExtKey>1_7_2</ExtKey>"#),
        "{body}"
    );
    assert_eq!(ids(&body, "Catalog").len(), 3);
    let body = post(&emu, &catalog("ShowAs")).await;
    assert!(
        body.contains(r#"<Code>3</Code><Text lang="en">Busy</Text><Text lang="de">Gebucht</Text>"#),
        "{body}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn break_stops_the_rest_after_an_error_and_nop_answers_nothing() {
    let emu = emulator().await;
    let brk = r#"<break if="/root/response/*[last()]//return[@type='error']"/>"#;
    let body = post(
        &emu,
        &request(&format!(
            r#"<insert corr="0"><fields><Company><Nope>x</Nope></Company></fields></insert>{brk}<insert corr="1"><fields><Company><Company>After</Company></Company></fields></insert>"#
        )),
    )
    .await;
    assert!(!body.contains(r#"corr="1""#), "{body}");
    assert_eq!(emu.count("Company", "Company", "After"), 0);
    let body = post(
        &emu,
        &request(&format!(
            r#"<insert corr="0"><fields><Company><Company>Before</Company></Company></fields></insert><nop/>{brk}<insert corr="1"><fields><Company><Company>After</Company></Company></fields></insert>"#
        )),
    )
    .await;
    assert_eq!(ids(&body, "Company").len(), 2, "{body}");
    assert!(!body.contains("<nop") && !body.contains("<break"), "{body}");
    assert_eq!(emu.count("Company", "Company", "After"), 1);
    let body = post(&emu, &request(r#"<break if="count(//return)"/><nop/>"#)).await;
    assert_eq!(error_codes(&body), ["malformed"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn upd_is_maintained_for_changed_since_queries() {
    let emu = emulator().await;
    let before = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    post(
        &emu,
        &request(r#"<insert><fields><Absences><RepID>EVA</RepID><Type>Vacation</Type><StartDate>2026-12-24</StartDate></Absences></fields></insert>"#),
    )
    .await;
    let since = |ts: &str| {
        request(&format!(
            r#"<query><tables><table tablename="Absences"/></tables><condition><cond tablename="Absences" fieldname="Upd" op="&gt;=" value="{ts}"/></condition><fields tablename="Absences" fields="Type,Created,Upd"/></query>"#
        ))
    };
    let body = post(&emu, &since(&before)).await;
    assert_eq!(ids(&body, "Absences").len(), 1, "{body}");
    let upd = regex::Regex::new(r"<Upd>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)</Upd>")
        .unwrap()
        .captures(&body)
        .expect("Upd in RFC 3339 with second precision")[1]
        .to_owned();
    assert!(upd >= before);
    assert_eq!(
        ids(
            &post(&emu, &since("2999-01-01T00:00:00Z")).await,
            "Absences"
        )
        .len(),
        0
    );
    assert_eq!(
        error_codes(&post(&emu, &since("yesterday")).await),
        ["invalid-value"]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn exotic_text_round_trips_unchanged() {
    let emu = emulator().await;
    let subjects = [
        r#"</Subject><Rep>x</Rep> & "co""#,
        "emoji 😀👍🏽 and CJK 会议 and RTL שלום עליכם مرحبا",
        "  leading and trailing spaces  ",
        "line\r\nbreaks\tand\ttabs\r",
    ];
    for s in subjects {
        let escaped = s
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\r', "&#13;");
        post(
            &emu,
            &request(&format!(
                r#"<insert><fields><Contact corr="{}"><Contact>Info</Contact><Date>2026-11-26</Date><RepID>ANA</RepID><Subject>{escaped}</Subject></Contact></fields></insert>"#,
                s.len()
            )),
        )
        .await;
    }
    let stored: Vec<String> = emu
        .records("Contact")
        .into_iter()
        .map(|r| r.values["Subject"].clone())
        .collect();
    assert_eq!(stored, subjects);
    let body = post(
        &emu,
        &request(r#"<query><tables><table tablename="Contact"/></tables><fields tablename="Contact" fields="Subject"/></query>"#),
    )
    .await;
    assert!(
        body.contains("<Subject>&lt;/Subject&gt;&lt;Rep&gt;x&lt;/Rep&gt; &amp; \"co\"</Subject>"),
        "{body}"
    );
    assert!(body.contains("line&#13;\nbreaks\tand\ttabs&#13;"), "{body}");
    assert_eq!(
        error_codes(&post(&emu, &request("<nop>&#1;</nop>")).await),
        ["malformed"]
    );
    let res = reqwest::Client::new()
        .post(emu.url())
        .body(vec![0xffu8, 0xfe])
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(body.contains("not UTF-8"), "{body}");
    emu.shutdown().await;
}

#[tokio::test]
async fn faults_occur_at_the_seeded_rate_and_are_counted() {
    let emu = crm::spawn(EmulatorOptions {
        faults: Faults {
            server_error_rate: 0.2,
            drop_before_rate: 0.1,
            drop_after_rate: 0.1,
            ..Faults::default()
        },
        rng_seed: 42,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let (mut ok, mut server_errors, mut dropped) = (0u64, 0u64, 0u64);
    for n in 0..200 {
        let body = request(&format!(
            r#"<import><fields><Company><Company matchup="true">Faulty {n}</Company></Company></fields></import>"#
        ));
        match client.post(emu.url()).body(body).send().await {
            Ok(res) if res.status().is_server_error() => {
                let text = res.text().await.unwrap();
                assert!(text.contains(r#"code="511""#), "{text}");
                server_errors += 1;
            }
            Ok(res) => match res.text().await {
                Ok(text) => {
                    assert!(text.contains(r#"action="insert""#), "{text}");
                    ok += 1;
                }
                Err(_) => dropped += 1,
            },
            Err(_) => dropped += 1,
        }
    }
    let counters = emu.counters();
    assert_eq!(counters.requests, 200);
    assert_eq!(counters.faults.server_errors, server_errors);
    assert_eq!(
        counters.faults.drops_before + counters.faults.drops_after,
        dropped
    );
    assert!(
        (20..=60).contains(&server_errors),
        "server errors {server_errors}"
    );
    assert!((8..=40).contains(&dropped), "dropped {dropped}");
    // writes that ran: the answered ones plus those dropped after applying
    let written = ok + counters.faults.drops_after;
    assert_eq!(counters.commands.get("import"), Some(&written));
    let stored = emu.records("Company").len() as u64 - 2;
    assert_eq!(stored, written);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_write_applied_before_the_connection_dropped_is_kept_once() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        drop_after_rate: 1.0,
        latency: Duration::from_millis(1),
        ..Faults::default()
    });
    let import = request(
        r#"<import><fields><Contact corr="x"><GraphId matchup="true">AAMkLost</GraphId><Contact>Appointment</Contact><Date>2026-11-26</Date><RepID>ANA</RepID></Contact></fields></import>"#,
    );
    let lost = reqwest::Client::new()
        .post(emu.url())
        .body(import.clone())
        .send()
        .await;
    let lost = match lost {
        Ok(res) => res.text().await.is_err(),
        Err(_) => true,
    };
    assert!(lost, "the answer must not arrive");
    assert_eq!(
        emu.count("Contact", "GraphId", "AAMkLost"),
        1,
        "the write was applied"
    );
    emu.set_faults(Faults::default());
    // the client's check-then-retry: match finds it, a re-sent import updates instead of duplicating
    let found = post(
        &emu,
        &request(r#"<match><fields><Contact><GraphId matchup="true">AAMkLost</GraphId></Contact></fields></match>"#),
    )
    .await;
    assert_eq!(ids(&found, "Contact"), [(1u64 << 32) | 1]);
    let again = post(&emu, &import).await;
    assert!(again.contains(r#"action="update""#), "{again}");
    assert_eq!(emu.count("Contact", "GraphId", "AAMkLost"), 1);
    let counters = emu.counters();
    assert_eq!(counters.faults.drops_after, 1);
    assert_eq!(counters.faults.latency, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn sqlite_store_keeps_records_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.sqlite");
    let options = || EmulatorOptions {
        store: StoreOption::Sqlite(path.clone()),
        ..EmulatorOptions::default()
    };
    let emu = crm::spawn(options()).await.unwrap();
    post(
        &emu,
        &request(r#"<insert><fields><Company><Company>Persistent AG</Company></Company></fields></insert>"#),
    )
    .await;
    emu.shutdown().await;
    let emu = crm::spawn(options()).await.unwrap();
    assert_eq!(emu.count("Company", "Company", "Persistent AG"), 1);
    assert_eq!(
        emu.records("Rep").len(),
        5,
        "seed records are stored too, not loaded twice"
    );
    let body = post(
        &emu,
        &request(r#"<insert><fields><Company><Company>Next</Company></Company></fields></insert>"#),
    )
    .await;
    assert_eq!(
        ids(&body, "Company"),
        [(1u64 << 32) | 4],
        "serials continue after a restart"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn seed_errors_name_the_item_and_field() {
    let mut seed = Seed::default_seed();
    seed.reps[1].insert(
        "EnableConnector".to_owned(),
        crm::seed::Scalar::Str("maybe".to_owned()),
    );
    let err = crm::spawn(EmulatorOptions {
        seed: Some(seed),
        ..EmulatorOptions::default()
    })
    .await
    .err()
    .expect("a bad seed is rejected");
    let msg = err.to_string();
    assert!(
        msg.contains("reps[1]") && msg.contains("EnableConnector") && msg.contains("true or false"),
        "{msg}"
    );
    let err = Seed::from_yaml("master: {user: X}\n", "my-seed.yaml").unwrap_err();
    assert!(
        err.starts_with("my-seed.yaml: invalid CRM emulator seed"),
        "{err}"
    );
}

/// A port already in use is named once, with its cause once (as `main` prints it: `{:#}`).
#[tokio::test]
async fn a_busy_port_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = crm::spawn(EmulatorOptions {
        listen: addr,
        ..EmulatorOptions::default()
    })
    .await
    .map(|_| ())
    .expect_err("the port is taken");
    let shown = format!("{:#}", anyhow::Error::from(err));
    assert!(
        shown.starts_with(&format!("cannot listen on {addr}: ")),
        "{shown}"
    );
    assert_eq!(shown.matches("os error").count(), 1, "{shown}");
}

/// Issue 9: a failed command answers its error and no record id, and ids come from a sequence that
/// only moves forward: the id a failed insert used is never given to the next record, also after a
/// restart of a persistent store.
#[tokio::test]
async fn regression_issue_9_a_failed_command_reports_no_id_and_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.sqlite");
    let options = || EmulatorOptions {
        store: StoreOption::Sqlite(path.clone()),
        ..EmulatorOptions::default()
    };
    let emu = crm::spawn(options()).await.unwrap();
    // two records, the second without its required name: nothing is written, no id is answered
    let failed = post(
        &emu,
        &request(
            r#"<insert corr="x"><fields><Company corr="a"><Company>Gone AG</Company></Company><Company corr="b"><Synonym>no name</Synonym></Company></fields></insert>"#,
        ),
    )
    .await;
    assert_eq!(
        strip(&failed),
        r#"<response><insert corr="x"><return type="error" code="required-field-missing" table="Company" field="Company" index="2" corr="b">permission denied (required field missing): field Company of table Company must have a value</return></insert></response>"#
    );
    assert_eq!(emu.count("Company", "Company", "Gone AG"), 0);
    let next = post(
        &emu,
        &request(
            r#"<insert><fields><Company><Company>Next AG</Company></Company></fields></insert>"#,
        ),
    )
    .await;
    let next = ids(&next, "Company")[0];
    assert!(
        next > (1 << 32) | 4,
        "the serials 3 and 4 the failed command took are not reused: {next}"
    );
    // the sequence survives a restart even when the last command failed
    let failed_again = post(
        &emu,
        &request(
            r#"<insert><fields><Company><Synonym>no name</Synonym></Company></fields></insert>"#,
        ),
    )
    .await;
    assert_eq!(error_codes(&failed_again), ["required-field-missing"]);
    emu.shutdown().await;
    let emu = crm::spawn(options()).await.unwrap();
    let after = post(
        &emu,
        &request(
            r#"<insert><fields><Company><Company>After AG</Company></Company></fields></insert>"#,
        ),
    )
    .await;
    assert!(
        ids(&after, "Company")[0] > next + 1,
        "{after}: the failed insert's serial stays used after a restart"
    );
    emu.shutdown().await;
}

/// Issue 9: CRM.interface's XML parser refuses a raw `<` in an attribute value (the reference says to
/// write `&lt;`) as a malformed request; the escaped form works.
#[tokio::test]
async fn regression_issue_9_a_raw_less_than_in_an_attribute_is_malformed() {
    let emu = emulator().await;
    let raw = request(
        r#"<query><tables><table tablename="Company"/></tables><condition><cond tablename="Company" fieldname="Company" op="<" value="Z"/></condition><fields tablename="Company" fields="Company"/></query>"#,
    );
    let body = post(&emu, &raw).await;
    assert_eq!(error_codes(&body), ["malformed"], "{body}");
    assert!(body.contains("holds a raw"), "{body}");
    assert!(!body.contains("<query"), "nothing ran: {body}");
    let escaped = post(&emu, &raw.replace(r#"op="<""#, r#"op="&lt;""#)).await;
    assert_eq!(error_codes(&escaped), Vec::<String>::new(), "{escaped}");
    assert!(escaped.contains("<Company>"), "{escaped}");
    emu.shutdown().await;
}

/// Issue 9: match-up keys and query conditions compare text by one rule (ignoring case, like the
/// CRM's queries), as do unique field sets: a duplicate appears in all of them or in none.
#[tokio::test]
async fn regression_issue_9_matchup_and_queries_compare_text_alike() {
    let emu = emulator().await;
    let inserted = post(
        &emu,
        &request(r#"<insert><fields><Company><Company>Globex GmbH</Company></Company></fields></insert>"#),
    )
    .await;
    let globex = ids(&inserted, "Company")[0];
    let query = post(
        &emu,
        &request(
            r#"<query><tables><table tablename="Company"/></tables><condition><cond tablename="Company" fieldname="Company" op="=" value="GLOBEX GMBH"/></condition></query>"#,
        ),
    )
    .await;
    assert_eq!(ids(&query, "Company"), [globex]);
    let matched = post(
        &emu,
        &request(r#"<match><fields><Company><Company matchup="true">globex gmbh</Company></Company></fields></match>"#),
    )
    .await;
    assert_eq!(ids(&matched, "Company"), [globex]);
    let import = post(
        &emu,
        &request(r#"<import><fields><Company><Company matchup="true">GLOBEX gmbh</Company><City>Springfield</City></Company></fields></import>"#),
    )
    .await;
    assert!(
        import.contains(&format!(r#"id="{globex}" action="update""#)),
        "{import}"
    );
    assert_eq!(
        emu.records("Company")
            .iter()
            .filter(|r| r.values.get("City").map(String::as_str) == Some("Springfield"))
            .count(),
        1
    );
    // XK: (Ext. System, Ext. Key) is unique by the same rule
    let xk = |key: &str| {
        format!(
            r#"<insert><fields><ExtKey><ExtSystem>GraphApi</ExtSystem><ExtKey>{key}</ExtKey><RecTable>MA</RecTable></ExtKey></fields></insert>"#
        )
    };
    assert_eq!(
        error_codes(&post(&emu, &request(&xk("AAMkAbC="))).await),
        Vec::<String>::new()
    );
    let twin = post(&emu, &request(&xk("aamkabc="))).await;
    assert!(twin.contains("must be unique"), "{twin}");
    emu.shutdown().await;
}

/// Issue 9: the reference's §3.1 query as written: `<fields tablename="Contact">` names both reads
/// of Contact, so the aliased company contact answers its fields as the sample response shows;
/// custom attributes on `<fields>` and `<field>` are echoed on the field elements they name.
#[tokio::test]
async fn regression_issue_9_fields_apply_to_aliased_reads_and_echo_custom_attributes() {
    let emu = emulator().await;
    insert_acme(&emu).await;
    post(
        &emu,
        &request(
            r#"<insert><fields><Contact><Contact>Letter</Contact><Date>2026-11-26</Date><Subject>Offer</Subject><RepID>ANA</RepID><CoGrp>1</CoGrp><CoNo>3</CoNo></Contact></fields></insert>"#,
        ),
    )
    .await;
    let body = post(
        &emu,
        &request(
            r#"<query><tables><table tablename="Company"><table tablename="Contact" alias="CoContact"/></table></tables>
                <condition><cond tablename="Company" fieldname="Company" op="=" value="ACME*"/></condition>
                <fields tablename="Company" fields="Company" tag="co"/>
                <fields tablename="Contact" fields="Contact,Subject"/>
                <fields tag="f"><field tablename="Company" fieldname="Synonym" mine="1"/></fields>
            </query>"#,
        ),
    )
    .await;
    assert_eq!(
        strip(&body),
        r#"<response><query><Company tableshort="FI" id="4294967299"><Company tag="co">ACME Ltd</Company><Synonym tag="f" mine="1">Acme</Synonym><CoContact tableshort="MA" id="4294967297"><Contact>Letter</Contact><Subject>Offer</Subject></CoContact></Company></query></response>"#
    );
    // fields named for an alias are that read's own
    let own = post(
        &emu,
        &request(
            r#"<query><tables><table tablename="Company"><table tablename="Contact" alias="CoContact"/></table></tables>
                <condition><cond tablename="Company" fieldname="Company" op="=" value="ACME*"/></condition>
                <fields tablename="Contact" fields="Contact,Subject"/>
                <fields tablename="Contact" alias="CoContact" fields="Date"/>
            </query>"#,
        ),
    )
    .await;
    assert!(
        own.contains(
            r#"<CoContact tableshort="MA" id="4294967297"><Date>2026-11-26</Date></CoContact>"#
        ),
        "{own}"
    );
    let protected = post(
        &emu,
        &request(r#"<query><tables><table tablename="Company"/></tables><fields tablename="Company" fields="Company" code="x"/></query>"#),
    )
    .await;
    assert_eq!(error_codes(&protected), ["protected-attribute"]);
    emu.shutdown().await;
}

/// Issue 10: nested reads multiply; a query with dozens of nested `<table>`s is refused with the
/// interface's error shape (`malformed`, too deep) and one whose answer would exceed the record cap
/// answers `limit-exceeded` and no records, instead of building hundreds of megabytes.
#[tokio::test]
async fn regression_issue_10_nested_tables_and_huge_answers_are_capped() {
    let emu = emulator().await;
    let depth = 40;
    let tables = format!(
        "{}{}",
        r#"<table tablename="Company"><table tablename="Person">"#.repeat(depth / 2),
        "</table></table>".repeat(depth / 2)
    );
    let deep = post(
        &emu,
        &request(&format!(
            r#"<query><tables>{tables}</tables><fields tablename="Company" fields="Company"/></query>"#
        )),
    )
    .await;
    assert_eq!(error_codes(&deep), ["malformed"], "{deep}");
    assert!(deep.contains("at most 8 levels"), "{deep}");

    // 120 activities of one rep: Rep > Contact > Rep > Contact reads all 120 under each of them
    // (14,400 elements at the fourth level): over the cap.
    let contacts: String = (0..120)
        .map(|n| format!("<Contact><Contact>Letter</Contact><Date>2026-11-26</Date><Subject>Bulk {n}</Subject><RepID>ANA</RepID></Contact>"))
        .collect();
    let body = post(
        &emu,
        &request(&format!("<insert><fields>{contacts}</fields></insert>")),
    )
    .await;
    assert_eq!(error_codes(&body), Vec::<String>::new());
    let tables = r#"<table tablename="Rep"><table tablename="Contact"><table tablename="Rep" alias="Again"><table tablename="Contact" alias="All"/></table></table></table>"#;
    let huge = post(
        &emu,
        &request(&format!(
            r#"<query corr="q"><tables>{tables}</tables><condition><cond tablename="Rep" fieldname="RepID" op="=" value="ANA"/></condition><fields tablename="Contact" fields="Subject"/></query>"#
        )),
    )
    .await;
    assert_eq!(
        error_codes(&huge),
        ["limit-exceeded"],
        "{}",
        &huge[..huge.len().min(400)]
    );
    assert!(
        huge.len() < 2_000,
        "the answer is the error alone: {} bytes",
        huge.len()
    );
    assert!(
        huge.contains(r#"<query corr="q"><return type="error" code="limit-exceeded""#),
        "{huge}"
    );
    emu.shutdown().await;
}
