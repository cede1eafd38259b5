//! Every CRM.interface wire shape in one place: request building (quick-xml writer) and response parsing
//! (quick-xml reader). Pure: no I/O, no clock. Each guessed shape is tagged with its id (G1…G15) in
//! `docs/crm-interface-assumptions.md`; to match a real system, change it here.

use std::borrow::Cow;

use quick_xml::{
    Reader, Writer, XmlVersion,
    escape::resolve_predefined_entity,
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event, attributes::Attribute},
    name::QName,
};

use super::{
    Actor, BatchCommand, CatalogMode, CatalogValue, Command, Condition, CrmError, CrmErrorKind,
    Fields, Record, RecordId, Reply, TableQuery, Value, WireFormats, WriteAction, Written,
    types::forbidden_xml_char,
};

/// G1: the request body's content type.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";
/// G3: the custom attribute carrying the client's correlation value.
pub const CORR_ATTR: &str = "corr";
/// G7/G8: the attribute addressing a record in update and delete.
pub const ID_ATTR: &str = "id";
/// G15: the condition of the `<break>` sent before a command that depends on the previous one.
pub const BREAK_IF: &str = "/root/response/*[last()]//return[@type='error']";
/// G11: the pseudo table holding catalog values, and the fields read from it.
pub const CATALOG_TABLE: &str = "Catalog";
const CATALOG_FIELDS: &str = "Name,Code,Text,ExtKey";

/// The login carried on every `<request>` (G2).
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub client: &'a str,
    pub language: &'a str,
}

/// Settings of the encoder that come from the connector config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    pub formats: WireFormats,
    pub catalog_mode: CatalogMode,
}

/// Builds one `<request>` holding `commands`; command `n` carries `corr="n"`.
///
/// Fails before anything is sent when a value holds a character XML 1.0 cannot carry (error names table,
/// record and field) or a table/field name is not a valid XML name.
pub fn encode_request(
    login: &Login<'_>,
    actor: &Actor,
    commands: &[BatchCommand],
    options: &EncodeOptions,
) -> Result<String, CrmError> {
    for (n, command) in commands.iter().enumerate() {
        validate_command(n, &command.command)?;
    }
    for (what, text) in [
        ("user", login.user),
        ("password", login.password),
        ("client", login.client),
    ] {
        if forbidden_xml_char(text).is_some() {
            return Err(CrmError::new(
                CrmErrorKind::InvalidCharacter,
                format!("the CRM {what} holds a character XML cannot carry"),
            ));
        }
    }
    let mut xml = Xml::new();
    let mut attrs = vec![
        ("user", login.user.to_owned()),
        ("pwd", login.password.to_owned()),
        ("client", login.client.to_owned()),
        ("xml:lang", login.language.to_owned()),
    ];
    let impersonate = match actor {
        Actor::Master => None,
        Actor::RepEmail(email) => Some(("email", email)),
        Actor::RepName(name) => Some(("rep", name)),
    };
    if let Some((key, value)) = impersonate {
        // `;` separates the keys of the impersonate attribute: a value holding one could name another rep.
        if value.contains(';') || forbidden_xml_char(value).is_some() || value.trim().is_empty() {
            return Err(CrmError::new(
                CrmErrorKind::InvalidValue,
                format!(
                    "cannot impersonate `{value}`: expected a rep {key} without `;` or control characters"
                ),
            ));
        }
        attrs.push(("impersonate", format!("{key}={value}")));
    }
    xml.start("request", &attrs);
    for (n, command) in commands.iter().enumerate() {
        if command.after_success && n > 0 {
            xml.empty("break", &[("if", BREAK_IF.to_owned())]);
        }
        write_command(&mut xml, n, &command.command, options);
    }
    xml.end("request");
    Ok(xml.finish())
}

fn command_attrs(n: usize, options: &EncodeOptions) -> Vec<(&'static str, String)> {
    let mut attrs = vec![(CORR_ATTR, n.to_string())];
    match options.catalog_mode {
        CatalogMode::Text => {}
        CatalogMode::Code => attrs.push(("catbynum", "true".to_owned())),
        CatalogMode::ExtKey => attrs.push(("catexkeys", "true".to_owned())),
    }
    attrs
}

fn write_command(xml: &mut Xml, n: usize, command: &Command, options: &EncodeOptions) {
    let attrs = command_attrs(n, options);
    let corr = (CORR_ATTR, n.to_string());
    let formats = &options.formats;
    match command {
        Command::Query(query) => {
            xml.start("query", &attrs);
            xml.start("tables", &[]);
            write_table(xml, &query.root);
            xml.end("tables");
            if let Some(condition) = &query.condition {
                xml.start("condition", &[]);
                match condition {
                    Condition::And(all) => {
                        all.iter().for_each(|c| write_condition(xml, c, formats))
                    }
                    other => write_condition(xml, other, formats),
                }
                xml.end("condition");
            }
            write_fields(xml, &query.root);
            xml.end("query");
        }
        Command::ReadCatalog(name) => {
            xml.start("query", &attrs);
            xml.start("tables", &[]);
            xml.empty("table", &[("tablename", CATALOG_TABLE.to_owned())]);
            xml.end("tables");
            xml.start("condition", &[]);
            xml.empty(
                "cond",
                &[
                    ("tablename", CATALOG_TABLE.to_owned()),
                    ("fieldname", "Name".to_owned()),
                    ("op", "=".to_owned()),
                    ("value", name.clone()),
                ],
            );
            xml.end("condition");
            xml.empty(
                "fields",
                &[
                    ("tablename", CATALOG_TABLE.to_owned()),
                    ("fields", CATALOG_FIELDS.to_owned()),
                ],
            );
            xml.end("query");
        }
        Command::Insert { table, fields } => {
            write_record_command(xml, "insert", &attrs, table, &[corr], &[], fields, formats);
        }
        Command::Update { table, id, fields } => {
            let record_attrs = [(ID_ATTR, id.to_string()), corr];
            write_record_command(
                xml,
                "update",
                &attrs,
                table,
                &record_attrs,
                &[],
                fields,
                formats,
            );
        }
        Command::Delete { table, id } => {
            let record_attrs = [(ID_ATTR, id.to_string()), corr];
            let empty = Fields::new();
            write_record_command(
                xml,
                "delete",
                &attrs,
                table,
                &record_attrs,
                &[],
                &empty,
                formats,
            );
        }
        Command::Upsert { table, key, fields } => {
            write_record_command(xml, "import", &attrs, table, &[corr], key, fields, formats);
        }
        Command::Match { table, key } => {
            let names: Vec<String> = key.keys().cloned().collect();
            write_record_command(xml, "match", &attrs, table, &[corr], &names, key, formats);
        }
    }
}

/// G6–G10: `<verb><fields><Table …><Field matchup="true">…</Field><Field>…</Field></Table></fields></verb>`.
#[allow(clippy::too_many_arguments)]
fn write_record_command(
    xml: &mut Xml,
    verb: &str,
    attrs: &[(&str, String)],
    table: &str,
    record_attrs: &[(&str, String)],
    key: &[String],
    fields: &Fields,
    formats: &WireFormats,
) {
    xml.start(verb, attrs);
    xml.start("fields", &[]);
    if fields.is_empty() {
        xml.empty(table, record_attrs);
    } else {
        xml.start(table, record_attrs);
        let key_fields = key.iter().filter_map(|k| fields.get_key_value(k));
        let other_fields = fields.iter().filter(|(name, _)| !key.contains(name));
        for (name, value) in key_fields {
            xml.leaf(
                name,
                &[("matchup", "true".to_owned())],
                value.to_wire(formats),
            );
        }
        for (name, value) in other_fields {
            xml.leaf(name, &[], value.to_wire(formats));
        }
        xml.end(table);
    }
    xml.end("fields");
    xml.end(verb);
}

fn write_table(xml: &mut Xml, table: &TableQuery) {
    let mut attrs = vec![("tablename", table.table.clone())];
    if let Some(alias) = &table.alias {
        attrs.push(("alias", alias.clone()));
    }
    if let Some(n) = table.max_records {
        attrs.push(("maxrecords", n.to_string()));
    }
    if table.flags.0 != 0 {
        attrs.push(("flags", table.flags.0.to_string()));
    }
    if table.children.is_empty() {
        xml.empty("table", &attrs);
    } else {
        xml.start("table", &attrs);
        table.children.iter().for_each(|c| write_table(xml, c));
        xml.end("table");
    }
}

fn write_fields(xml: &mut Xml, table: &TableQuery) {
    if !table.fields.is_empty() {
        let mut attrs = vec![("tablename", table.table.clone())];
        if let Some(alias) = &table.alias {
            attrs.push(("alias", alias.clone()));
        }
        attrs.push(("fields", table.fields.join(",")));
        xml.empty("fields", &attrs);
    }
    table.children.iter().for_each(|c| write_fields(xml, c));
}

/// G5: `<cond>`; and/or groups as `<lop value="and|or">`.
fn write_condition(xml: &mut Xml, condition: &Condition, formats: &WireFormats) {
    match condition {
        Condition::Cond(cond) => {
            let mut attrs = vec![("tablename", cond.table.clone())];
            if let Some(alias) = &cond.alias {
                attrs.push(("alias", alias.clone()));
            }
            attrs.push(("fieldname", cond.field.clone()));
            attrs.push(("op", cond.op.wire().to_owned()));
            attrs.push(("value", cond.value.to_wire(formats).unwrap_or_default()));
            xml.empty("cond", &attrs);
        }
        Condition::And(all) | Condition::Or(all) => {
            let value = if matches!(condition, Condition::And(_)) {
                "and"
            } else {
                "or"
            };
            xml.start("lop", &[("value", value.to_owned())]);
            all.iter().for_each(|c| write_condition(xml, c, formats));
            xml.end("lop");
        }
    }
}

/// G14 and names: checks everything a command would put on the wire.
fn validate_command(n: usize, command: &Command) -> Result<(), CrmError> {
    let table = command.table();
    check_name(table, table, None)?;
    let record = match command {
        Command::Update { id, .. } | Command::Delete { id, .. } => id.to_string(),
        _ => format!("corr {n}"),
    };
    let check_fields = |fields: &Fields| -> Result<(), CrmError> {
        for (field, value) in fields {
            check_name(field, table, Some(&record))?;
            if let Value::Number(n) = value
                && !n.is_finite()
            {
                return Err(CrmError::new(
                    CrmErrorKind::InvalidValue,
                    format!("number {n} cannot be stored; expected a finite decimal number"),
                )
                .table(table)
                .record(record.clone())
                .field(field));
            }
            if let Value::Text(text) = value
                && let Some(c) = forbidden_xml_char(text)
            {
                return Err(CrmError::new(
                    CrmErrorKind::InvalidCharacter,
                    format!(
                        "value holds the character U+{:04X}, which XML 1.0 cannot carry; expected printable text, tab or line breaks",
                        c as u32
                    ),
                )
                .table(table)
                .record(record.clone())
                .field(field));
            }
        }
        Ok(())
    };
    match command {
        Command::Insert { fields, .. } | Command::Update { fields, .. } => check_fields(fields),
        Command::Upsert { key, fields, .. } => {
            if key.is_empty() {
                return Err(CrmError::new(
                    CrmErrorKind::InvalidValue,
                    "an upsert needs at least one match-key field",
                )
                .table(table));
            }
            for k in key {
                if fields
                    .get(k)
                    .is_none_or(|v| v.to_wire(&WireFormats::default()).is_none())
                {
                    return Err(CrmError::new(
                        CrmErrorKind::InvalidValue,
                        "match-key field has no value; expected every key field among the fields",
                    )
                    .table(table)
                    .record(record)
                    .field(k));
                }
            }
            check_fields(fields)
        }
        Command::Match { key, .. } => check_fields(key),
        Command::Delete { .. } => Ok(()),
        Command::ReadCatalog(name) => match forbidden_xml_char(name) {
            Some(_) => Err(CrmError::new(
                CrmErrorKind::InvalidCharacter,
                "catalog name holds a character XML cannot carry",
            )),
            None => Ok(()),
        },
        Command::Query(query) => {
            let mut tables = vec![&query.root];
            while let Some(t) = tables.pop() {
                check_name(&t.table, &t.table, None)?;
                if let Some(alias) = &t.alias {
                    check_name(alias, &t.table, None)?;
                }
                for field in &t.fields {
                    check_name(field, &t.table, None)?;
                }
                tables.extend(&t.children);
            }
            let mut conds = query.condition.iter().collect::<Vec<_>>();
            while let Some(c) = conds.pop() {
                match c {
                    Condition::Cond(cond) => {
                        if let Value::Text(text) = &cond.value
                            && forbidden_xml_char(text).is_some()
                        {
                            return Err(CrmError::new(
                                CrmErrorKind::InvalidCharacter,
                                "condition value holds a character XML cannot carry",
                            )
                            .table(&cond.table)
                            .field(&cond.field));
                        }
                    }
                    Condition::And(all) | Condition::Or(all) => conds.extend(all),
                }
            }
            Ok(())
        }
    }
}

/// A table or field name must be an XML name (it becomes an element name on the wire).
fn check_name(name: &str, table: &str, record: Option<&str>) -> Result<(), CrmError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        return Ok(());
    }
    let mut err = CrmError::new(
        CrmErrorKind::InvalidName,
        format!("`{name}` is not a valid CRM XML name; expected a letter then letters, digits, `-`, `_` or `.`"),
    )
    .table(table);
    if let Some(record) = record {
        err = err.record(record).field(name);
    }
    Err(err)
}

/// Escapes text content: `&`, `<`, `>` and CR (a literal CR would be turned into LF by any XML parser).
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape_with(text, false)
}

/// Escapes an attribute value: also quotes, and tab/LF/CR (attribute normalization would turn them
/// into spaces).
pub fn escape_attr(text: &str) -> Cow<'_, str> {
    escape_with(text, true)
}

fn escape_with(text: &str, attr: bool) -> Cow<'_, str> {
    let needs = |c: char| match c {
        '&' | '<' | '>' | '\r' => true,
        '"' | '\'' | '\t' | '\n' => attr,
        _ => false,
    };
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A thin layer over quick-xml's writer that escapes every attribute and text itself.
struct Xml {
    writer: Writer<Vec<u8>>,
}

impl Xml {
    fn new() -> Self {
        let mut writer = Writer::new(Vec::new());
        writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
            .expect("writing to a Vec cannot fail");
        Self { writer }
    }

    fn element<'a>(name: &'a str, attrs: &'a [(&'a str, String)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (key, value) in attrs {
            start.push_attribute(Attribute {
                key: QName(key),
                value: escape_attr(value),
            });
        }
        start
    }

    fn write(&mut self, event: Event<'_>) {
        self.writer
            .write_event(event)
            .expect("writing to a Vec cannot fail");
    }

    fn start(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.write(Event::Start(Self::element(name, attrs)));
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.write(Event::Empty(Self::element(name, attrs)));
    }

    fn end(&mut self, name: &str) {
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// `<name>text</name>`, or `<name/>` for no value (G12: empty element = no value).
    fn leaf(&mut self, name: &str, attrs: &[(&str, String)], text: Option<String>) {
        match text {
            None => self.empty(name, attrs),
            Some(text) => {
                self.start(name, attrs);
                self.write(Event::Text(BytesText::from_escaped(escape_text(&text))));
                self.end(name);
            }
        }
    }

    fn finish(self) -> String {
        String::from_utf8(self.writer.into_inner()).expect("the writer only writes UTF-8")
    }
}

/// A parsed XML element (the answers are small; a tree keeps the interpretation simple).
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn is_error(&self) -> bool {
        self.name == "return" && self.attr("type") == Some("error")
    }

    fn is_record(&self) -> bool {
        self.attr("tableshort").is_some() || self.attr(ID_ATTR).is_some()
    }
}

fn protocol(message: impl Into<String>) -> CrmError {
    CrmError::new(CrmErrorKind::Protocol, message)
}

fn parse_tree(body: &str) -> Result<Node, CrmError> {
    let mut reader = Reader::from_str(body);
    let mut stack: Vec<Node> = vec![Node::default()];
    let bad = |e: &dyn std::fmt::Display| protocol(format!("answer is not well-formed XML: {e}"));
    loop {
        let event = reader.read_event().map_err(|e| bad(&e))?;
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let mut node = Node {
                    name: start.name().as_ref().to_owned(),
                    ..Node::default()
                };
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| bad(&e))?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| bad(&e))?;
                    node.attrs
                        .push((attr.key.as_ref().to_owned(), value.into_owned()));
                }
                if is_empty {
                    stack.last_mut().expect("root").children.push(node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().expect("reader checks end names");
                stack
                    .last_mut()
                    .ok_or_else(|| protocol("unbalanced end tag"))?
                    .children
                    .push(node);
            }
            Event::Text(text) => {
                let top = stack.last_mut().expect("root");
                top.text.push_str(&text.xml10_content());
            }
            Event::CData(data) => {
                let top = stack.last_mut().expect("root");
                top.text.push_str(&data.xml10_content());
            }
            Event::GeneralRef(reference) => {
                let top = stack.last_mut().expect("root");
                if let Some(c) = reference.resolve_char_ref().map_err(|e| bad(&e))? {
                    top.text.push(c);
                } else {
                    let name = reference.xml10_content();
                    let resolved = resolve_predefined_entity(&name)
                        .ok_or_else(|| protocol(format!("unknown entity `&{name};` in answer")))?;
                    top.text.push_str(resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err(protocol("answer ends before its elements are closed"));
    }
    let mut root = stack.pop().expect("root");
    root.children
        .pop()
        .filter(|_| root.children.is_empty())
        .ok_or_else(|| protocol("answer has no single root element"))
}

fn error_from(node: &Node) -> CrmError {
    let code = node.attr("code").unwrap_or("500");
    let mut err = CrmError::new(CrmErrorKind::from_code(code), node.text.trim());
    if err.message.is_empty() {
        err.message = format!("the CRM answered error code `{code}`");
    }
    err.table = node.attr("table").map(str::to_owned);
    err.field = node.attr("field").map(str::to_owned);
    err
}

/// Parses a `<response>` to the request built from `commands` (same slice, same order).
///
/// `Err` when the whole request failed (auth, server failure, malformed answer). Otherwise one entry per
/// command: its reply, its error, or [`Reply::Skipped`] when a `<break>` stopped the request before it.
pub fn decode_response(
    body: &str,
    commands: &[BatchCommand],
) -> Result<Vec<Result<Reply, CrmError>>, CrmError> {
    let root = parse_tree(body)?;
    if root.name != "response" {
        return Err(protocol(format!(
            "expected a <response> document, found <{}>",
            root.name
        )));
    }
    if let Some(err) = root.children.iter().find(|n| n.is_error()) {
        return Err(error_from(err));
    }
    let mut results: Vec<Option<Result<Reply, CrmError>>> = vec![None; commands.len()];
    let mut next = 0;
    for node in root.children.iter().filter(|n| !n.is_error()) {
        let n = match node.attr(CORR_ATTR).map(str::parse::<usize>) {
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                return Err(protocol(format!(
                    "result <{}> has a correlation value this client did not send",
                    node.name
                )));
            }
            None => {
                while next < commands.len() && results[next].is_some() {
                    next += 1;
                }
                next
            }
        };
        let Some(command) = commands.get(n) else {
            return Err(protocol(format!(
                "answer holds more results than the {} commands sent",
                commands.len()
            )));
        };
        results[n] = Some(decode_result(node, n, &command.command));
    }
    let mut out = Vec::with_capacity(commands.len());
    for (n, result) in results.into_iter().enumerate() {
        match result {
            Some(result) => out.push(result),
            None if commands[1..=n].iter().any(|c| c.after_success) => out.push(Ok(Reply::Skipped)),
            None => {
                return Err(protocol(format!(
                    "the answer has no result for command {n} ({})",
                    commands[n].command.table()
                )));
            }
        }
    }
    Ok(out)
}

fn decode_result(node: &Node, n: usize, command: &Command) -> Result<Reply, CrmError> {
    if let Some(err) = node.children.iter().find(|c| c.is_error()) {
        let mut err = error_from(err);
        err.table = err.table.or_else(|| Some(command.table().to_owned()));
        err.record = Some(match command {
            Command::Update { id, .. } | Command::Delete { id, .. } => id.to_string(),
            _ => format!("corr {n}"),
        });
        return Err(err);
    }
    let records = node.children.iter().filter(|c| !c.is_error());
    match command {
        // Every record element is a root record, whatever its name (alias or table).
        Command::Query(query) => records
            .map(|r| decode_record(r, &query.root))
            .collect::<Result<_, _>>()
            .map(Reply::Records),
        Command::Match { table, .. } => {
            let shape = TableQuery::new(table);
            records
                .map(|r| decode_record(r, &shape))
                .collect::<Result<_, _>>()
                .map(Reply::Records)
        }
        Command::ReadCatalog(_) => records
            .map(decode_catalog_value)
            .collect::<Result<_, _>>()
            .map(Reply::Catalog),
        Command::Insert { table, .. }
        | Command::Update { table, .. }
        | Command::Delete { table, .. }
        | Command::Upsert { table, .. } => {
            let record = node
                .children
                .iter()
                .find(|c| c.is_record())
                .ok_or_else(|| protocol(format!("<{}> answer names no record", node.name)))?;
            let id = record
                .attr(ID_ATTR)
                .map(RecordId::new)
                .filter(|id| !id.as_str().is_empty())
                .ok_or_else(|| {
                    protocol(format!("<{}> answer has a record without id", node.name))
                })?;
            let action = match command {
                Command::Insert { .. } => WriteAction::Insert,
                Command::Update { .. } => WriteAction::Update,
                Command::Delete { .. } => WriteAction::Delete,
                _ => match record.attr("action") {
                    Some("insert") => WriteAction::Insert,
                    Some("update") => WriteAction::Update,
                    other => {
                        return Err(protocol(format!(
                            "import answer has action {other:?}; expected `insert` or `update`"
                        )));
                    }
                },
            };
            Ok(Reply::Written(Written {
                table: table.clone(),
                id,
                action,
            }))
        }
    }
}

/// G5: `<Name tableshort="MA" id="…"><Field>…</Field>…<Child …>…</Child></Name>`.
fn decode_record(node: &Node, shape: &TableQuery) -> Result<Record, CrmError> {
    let id = node
        .attr(ID_ATTR)
        .map(RecordId::new)
        .ok_or_else(|| protocol(format!("record <{}> has no id", node.name)))?;
    let mut record = Record {
        table: shape.table.clone(),
        alias: shape.alias.clone(),
        tableshort: node.attr("tableshort").unwrap_or_default().to_owned(),
        id,
        fields: Fields::new(),
        children: Vec::new(),
        deleted: node.attr("deleted") == Some("true"),
    };
    for child in &node.children {
        if child.is_record() {
            let child_shape = shape
                .children
                .iter()
                .find(|c| c.element_name() == child.name)
                .cloned()
                .unwrap_or_else(|| TableQuery::new(&child.name));
            record.children.push(decode_record(child, &child_shape)?);
        } else {
            let value = if child.text.is_empty() {
                Value::Null
            } else {
                Value::Text(child.text.clone())
            };
            record.fields.insert(child.name.clone(), value);
        }
    }
    Ok(record)
}

/// G11: `<Catalog tableshort="KA" id="…"><Name/><Code/><Text lang="en"/>…<ExtKey/></Catalog>`.
fn decode_catalog_value(node: &Node) -> Result<CatalogValue, CrmError> {
    let leaf = |name: &str| {
        node.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.text.clone())
    };
    let code = leaf("Code").ok_or_else(|| protocol("catalog value without <Code>"))?;
    let texts = node
        .children
        .iter()
        .filter(|c| c.name == "Text")
        .map(|c| {
            (
                c.attr("lang").unwrap_or_default().to_owned(),
                c.text.clone(),
            )
        })
        .collect();
    Ok(CatalogValue {
        code,
        texts,
        ext_key: leaf("ExtKey").filter(|k| !k.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::crm::Query;

    /// The request the master user sends for `commands`, default options.
    fn encode_as_master(commands: &[BatchCommand]) -> Result<String, CrmError> {
        encode_request(
            &login(),
            &Actor::Master,
            commands,
            &EncodeOptions::default(),
        )
    }

    fn login() -> Login<'static> {
        Login {
            user: "OCSU",
            password: "p",
            client: "GraphApi",
            language: "en",
        }
    }

    #[test]
    fn hostile_subject_round_trips_as_text() {
        let subject = "</Subject><Rep>x</Rep> & \"co\"\r\n\t 'q' ]]>";
        let mut fields = Fields::new();
        fields.insert("Subject".into(), Value::from(subject));
        let commands = [BatchCommand::new(Command::Insert {
            table: "Contact".into(),
            fields,
        })];
        let xml = encode_as_master(&commands).unwrap();
        let tree = parse_tree(&xml).unwrap();
        let insert = &tree.children[0];
        let record = &insert.children[0].children[0];
        assert_eq!(record.children.len(), 1);
        assert_eq!(record.children[0].text, subject);
    }

    #[test]
    fn attribute_values_keep_whitespace() {
        let query =
            Query::table("Contact").filter(Condition::eq("Contact", "Subject", "a\tb\nc\r\"d'<&>"));
        let commands = [BatchCommand::new(Command::Query(query))];
        let xml = encode_as_master(&commands).unwrap();
        let tree = parse_tree(&xml).unwrap();
        let cond = &tree.children[0].children[1].children[0];
        assert_eq!(cond.attr("value"), Some("a\tb\nc\r\"d'<&>"));
    }

    #[test]
    fn impersonation_cannot_name_a_second_rep() {
        let commands = [BatchCommand::new(Command::ReadCatalog("ShowAs".into()))];
        let actor = Actor::RepEmail("eve@example.org;rep=Ana Alvarez".into());
        let err =
            encode_request(&login(), &actor, &commands, &EncodeOptions::default()).unwrap_err();
        assert_eq!(err.kind, CrmErrorKind::InvalidValue);
    }

    #[test]
    fn control_characters_are_rejected_naming_the_field() {
        let mut fields = Fields::new();
        fields.insert("Text".into(), Value::from("bell\u{7}"));
        let commands = [BatchCommand::new(Command::Update {
            table: "Contact".into(),
            id: RecordId::new("42"),
            fields,
        })];
        let err = encode_as_master(&commands).unwrap_err();
        assert_eq!(err.kind, CrmErrorKind::InvalidCharacter);
        assert_eq!(err.table.as_deref(), Some("Contact"));
        assert_eq!(err.record.as_deref(), Some("42"));
        assert_eq!(err.field.as_deref(), Some("Text"));
    }

    proptest::proptest! {
        /// Any text XML 1.0 can carry survives the writer and a conforming reader, as element text and
        /// as attribute value.
        #[test]
        fn any_carriable_text_round_trips(text in "(\\PC|[\t\n\r\u{85}\u{2028}]|&|<|>|\"|'|]]>| )*") {
            let mut fields = Fields::new();
            fields.insert("Subject".into(), Value::from(text.as_str()));
            let query = Query::table("Contact").filter(Condition::eq("Contact", "Subject", text.as_str()));
            let commands = [
                BatchCommand::new(Command::Insert { table: "Contact".into(), fields }),
                BatchCommand::new(Command::Query(query)),
            ];
            let xml = encode_as_master(&commands).unwrap();
            let tree = parse_tree(&xml).unwrap();
            let subject = tree.children[0].children[0].children[0].children.first().map(|n| n.text.clone());
            let cond = &tree.children[1].children[1].children[0];
            proptest::prop_assert_eq!(subject.unwrap_or_default(), text.clone());
            proptest::prop_assert_eq!(cond.attr("value"), Some(text.as_str()));
        }
    }

    #[test]
    fn ids_are_trimmed_and_children_nested() {
        let query = Query::table("Company").child(TableQuery::new("Contact").alias("CoContact"));
        let commands = [BatchCommand::new(Command::Query(query))];
        let body = r#"<response><query corr="0"><Company tableshort="FI" id=" 4294967297"><Company>ACME &amp; Co</Company><CoContact tableshort="MA" id="4294967394"><Subject/></CoContact></Company></query></response>"#;
        let out = decode_response(body, &commands).unwrap();
        let records = out
            .into_iter()
            .next()
            .unwrap()
            .unwrap()
            .into_records()
            .unwrap();
        assert_eq!(records[0].id.as_str(), "4294967297");
        assert_eq!(records[0].text("Company"), Some("ACME & Co"));
        let child = &records[0].children[0];
        assert_eq!(
            (child.table.as_str(), child.alias.as_deref()),
            ("Contact", Some("CoContact"))
        );
        assert_eq!(child.fields.get("Subject"), Some(&Value::Null));
    }

    #[test]
    fn errors_are_typed_and_breaks_skip() {
        let commands = [
            BatchCommand::new(Command::Delete {
                table: "Contact".into(),
                id: RecordId::new("7"),
            }),
            BatchCommand::after_success(Command::ReadCatalog("ShowAs".into())),
        ];
        let body = r#"<response><delete corr="0"><return type="error" code="not-found">no record 7</return></delete></response>"#;
        let out = decode_response(body, &commands).unwrap();
        let err = out[0].clone().unwrap_err();
        assert_eq!(err.kind, CrmErrorKind::NotFound);
        assert_eq!(err.record.as_deref(), Some("7"));
        assert_eq!(out[1], Ok(Reply::Skipped));
        let transient = decode_response(
            r#"<response><delete corr="0"><return type="error" code="511">busy</return></delete></response>"#,
            &commands[..1],
        )
        .unwrap();
        assert!(transient[0].as_ref().unwrap_err().is_retryable());
        let auth = decode_response(
            r#"<response><return type="error" code="auth">bad</return></response>"#,
            &commands,
        );
        assert_eq!(auth.unwrap_err().kind, CrmErrorKind::Auth);
    }
}
