//! The emulator's data: the schema built from the seed's template fields (tables, typed fields, links,
//! catalogs) and the records, keyed by `id = station << 32 | serial`.
//!
//! Writes validate every value against its field definition and run inside a command-sized undo log, so a
//! command that fails on its third record leaves no trace of the first two.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::seed::{FieldKind, Seed, WritePolicy};

/// A CRM.interface error: `<return type="error" code=… table=… field=…>message</return>`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmError {
    pub code: &'static str,
    pub message: String,
    pub table: Option<String>,
    pub field: Option<String>,
}

impl CrmError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            table: None,
            field: None,
        }
    }

    pub fn at(mut self, table: &str, field: Option<&str>) -> Self {
        self.table = Some(table.to_owned());
        self.field = field.map(str::to_owned);
        self
    }
}

/// Field types, the seed's plus the system timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Bool,
    Date,
    Time,
    Catalog,
    Rep,
    Timestamp,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub kind: Kind,
    pub length: Option<usize>,
    pub required: bool,
    pub catalog: Option<usize>,
    pub readonly: bool,
    pub rep_name_of: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub parent: usize,
    /// (child field, parent field)
    pub fields: Vec<(String, String)>,
    pub inherit: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub short: String,
    pub key: Vec<String>,
    pub write: WritePolicy,
    pub fields: Vec<Field>,
    pub links: Vec<Link>,
    pub unique: Vec<Vec<String>>,
}

impl Table {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct CatalogValue {
    pub code: u32,
    pub texts: Vec<(String, String)>,
    pub extkey: String,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub name: String,
    pub number: u32,
    pub values: Vec<CatalogValue>,
}

impl Catalog {
    pub fn text(&self, code: u32, lang: &str) -> Option<&str> {
        let value = self.values.iter().find(|v| v.code == code)?;
        value
            .texts
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| value.texts.first())
            .map(|(_, t)| t.as_str())
    }

    /// Resolves an input value: `#code`, a bare code when `numeric`, an external key, or a text in any
    /// language (the request language first), case-insensitively.
    pub fn resolve(&self, raw: &str, lang: &str, numeric: bool) -> Option<u32> {
        let raw = raw.trim();
        if let Some(code) = raw.strip_prefix('#') {
            let code: u32 = code.parse().ok()?;
            return self.values.iter().any(|v| v.code == code).then_some(code);
        }
        if numeric && let Ok(code) = raw.parse::<u32>() {
            return self.values.iter().any(|v| v.code == code).then_some(code);
        }
        if let Some(v) = self.values.iter().find(|v| v.extkey == raw) {
            return Some(v.code);
        }
        let lower = raw.to_lowercase();
        let by_lang = self.values.iter().find(|v| {
            v.texts
                .iter()
                .any(|(l, t)| l == lang && t.to_lowercase() == lower)
        });
        by_lang
            .or_else(|| {
                self.values
                    .iter()
                    .find(|v| v.texts.iter().any(|(_, t)| t.to_lowercase() == lower))
            })
            .map(|v| v.code)
    }

    pub fn describe(&self, lang: &str) -> String {
        self.values
            .iter()
            .map(|v| format!("{} (#{})", self.text(v.code, lang).unwrap_or(""), v.code))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Name of the pseudo table holding catalog values.
pub const CATALOG_TABLE: &str = "Catalog";

#[derive(Debug, Clone)]
pub struct Schema {
    pub station: u32,
    pub languages: Vec<String>,
    pub tables: Vec<Table>,
    pub catalogs: Vec<Catalog>,
}

impl Schema {
    pub fn from_seed(seed: &Seed) -> Result<Schema, String> {
        if seed.station == 0 || seed.station > 9999 {
            return Err(format!(
                "seed: station must be 1..=9999, found {}",
                seed.station
            ));
        }
        let mut catalogs = Vec::new();
        for cat in &seed.catalogs {
            if catalogs.iter().any(|c: &Catalog| c.name == cat.name) {
                return Err(format!("seed: catalog `{}` is defined twice", cat.name));
            }
            let mut values: Vec<CatalogValue> = Vec::new();
            for v in &cat.values {
                if values.iter().any(|x| x.code == v.code) {
                    return Err(format!(
                        "seed: catalog `{}` has code {} twice",
                        cat.name, v.code
                    ));
                }
                values.push(CatalogValue {
                    code: v.code,
                    texts: v
                        .texts
                        .iter()
                        .map(|(l, t)| (l.clone(), t.clone()))
                        .collect(),
                    extkey: v
                        .extkey
                        .clone()
                        .unwrap_or_else(|| format!("{}_{}_{}", seed.station, cat.number, v.code)),
                });
            }
            values.sort_by_key(|v| v.code);
            catalogs.push(Catalog {
                name: cat.name.clone(),
                number: cat.number,
                values,
            });
        }
        let mut tables = Vec::new();
        for t in &seed.tables {
            if t.name == CATALOG_TABLE
                || seed.tables.iter().filter(|x| x.name == t.name).count() > 1
            {
                return Err(format!(
                    "seed: table `{}` is defined twice or uses a reserved name",
                    t.name
                ));
            }
            let mut fields = Vec::new();
            for f in &t.fields {
                let catalog = match (&f.kind, &f.catalog) {
                    (FieldKind::Catalog, Some(name)) => Some(
                        catalogs
                            .iter()
                            .position(|c| &c.name == name)
                            .ok_or_else(|| {
                                format!(
                                    "seed: field `{}.{}` names catalog `{name}`, which is not in `catalogs`",
                                    t.name, f.name
                                )
                            })?,
                    ),
                    (FieldKind::Catalog, None) => {
                        return Err(format!(
                            "seed: field `{}.{}` has type catalog but no `catalog:`",
                            t.name, f.name
                        ));
                    }
                    _ => None,
                };
                if matches!(f.name.as_str(), "Created" | "Upd" | "id") {
                    return Err(format!(
                        "seed: field `{}.{}` uses a reserved system field name",
                        t.name, f.name
                    ));
                }
                fields.push(Field {
                    name: f.name.clone(),
                    kind: match f.kind {
                        FieldKind::Text => Kind::Text,
                        FieldKind::Number => Kind::Number,
                        FieldKind::Bool => Kind::Bool,
                        FieldKind::Date => Kind::Date,
                        FieldKind::Time => Kind::Time,
                        FieldKind::Catalog => Kind::Catalog,
                        FieldKind::Rep => Kind::Rep,
                    },
                    length: f.length,
                    required: f.required,
                    catalog,
                    readonly: f.readonly || t.key.contains(&f.name) || f.rep_name_of.is_some(),
                    rep_name_of: f.rep_name_of.clone(),
                });
            }
            for system in ["Created", "Upd"] {
                fields.push(Field {
                    name: system.to_owned(),
                    kind: Kind::Timestamp,
                    length: None,
                    required: false,
                    catalog: None,
                    readonly: true,
                    rep_name_of: None,
                });
            }
            for k in &t.key {
                match fields.iter().find(|f| &f.name == k) {
                    Some(f) if f.kind == Kind::Number => {}
                    _ => {
                        return Err(format!(
                            "seed: key field `{}.{k}` must be a number field of the table",
                            t.name
                        ));
                    }
                }
            }
            if !t.key.is_empty() && t.key.len() != 2 {
                return Err(format!(
                    "seed: table `{}`: `key` names two fields (station, serial)",
                    t.name
                ));
            }
            tables.push(Table {
                name: t.name.clone(),
                short: t.short.clone(),
                key: t.key.clone(),
                write: t.write,
                unique: t.unique.clone(),
                fields,
                links: Vec::new(),
            });
        }
        for (ti, t) in seed.tables.iter().enumerate() {
            for l in &t.links {
                let parent = tables
                    .iter()
                    .position(|x| x.name == l.parent)
                    .ok_or_else(|| {
                        format!(
                            "seed: table `{}` links to `{}`, which is not a table",
                            t.name, l.parent
                        )
                    })?;
                for (c, p) in l.fields.iter().chain(&l.inherit) {
                    if tables[ti].field(c).is_none() || tables[parent].field(p).is_none() {
                        return Err(format!(
                            "seed: link `{}` → `{}` names field `{c}` → `{p}`, which does not exist",
                            t.name, l.parent
                        ));
                    }
                }
                tables[ti].links.push(Link {
                    parent,
                    fields: l
                        .fields
                        .iter()
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect(),
                    inherit: l
                        .inherit
                        .iter()
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect(),
                });
            }
            for set in &t.unique {
                if let Some(f) = set.iter().find(|f| tables[ti].field(f).is_none()) {
                    return Err(format!(
                        "seed: table `{}`: unique names field `{f}`, which does not exist",
                        t.name
                    ));
                }
            }
            for f in &tables[ti].fields {
                if let Some(src) = &f.rep_name_of
                    && tables[ti].field(src).map(|x| x.kind) != Some(Kind::Rep)
                {
                    return Err(format!(
                        "seed: field `{}.{}`: rep_name_of names `{src}`, which is not a rep field",
                        t.name, f.name
                    ));
                }
            }
        }
        let text = |name: &str, kind: Kind| Field {
            name: name.to_owned(),
            kind,
            length: None,
            required: false,
            catalog: None,
            readonly: true,
            rep_name_of: None,
        };
        tables.push(Table {
            name: CATALOG_TABLE.to_owned(),
            short: "KA".to_owned(),
            key: Vec::new(),
            write: WritePolicy::None,
            fields: vec![
                text("Name", Kind::Text),
                text("Number", Kind::Number),
                text("Code", Kind::Number),
                text("Text", Kind::Text),
                text("ExtKey", Kind::Text),
                text("Created", Kind::Timestamp),
                text("Upd", Kind::Timestamp),
            ],
            links: Vec::new(),
            unique: Vec::new(),
        });
        if !tables.iter().any(|t| t.name == "Rep") {
            return Err(
                "seed: a table named `Rep` is required (reps and impersonation)".to_owned(),
            );
        }
        Ok(Schema {
            station: seed.station,
            languages: seed.languages.clone(),
            tables,
            catalogs,
        })
    }

    pub fn table(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }
}

/// One stored record. Values are canonical strings (see `parse_value`); unset fields are absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: u64,
    pub values: BTreeMap<String, String>,
    pub created: Timestamp,
    pub upd: Timestamp,
    pub deleted: bool,
}

impl Record {
    pub fn get(&self, field: &str) -> &str {
        self.values.get(field).map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone, Default)]
pub struct TableData {
    pub records: BTreeMap<u64, Record>,
    pub next_serial: u32,
}

/// Formats a system timestamp: UTC RFC 3339, second precision (`2026-11-26T10:00:00Z`).
pub fn format_ts(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a timestamp in a condition: RFC 3339, or a date (midnight UTC).
pub fn parse_ts(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts);
    }
    let date = parse_date(raw)?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()
}

pub fn parse_date(raw: &str) -> Option<jiff::civil::Date> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i16 = raw[0..4].parse().ok()?;
    let m: i8 = raw[5..7].parse().ok()?;
    let d: i8 = raw[8..10].parse().ok()?;
    jiff::civil::Date::new(y, m, d).ok()
}

fn valid_time(raw: &str) -> bool {
    let parts: Vec<&str> = raw.split(':').collect();
    let two = |s: &str, max: u32| {
        s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().unwrap() <= max
    };
    match parts.as_slice() {
        [h, m] => two(h, 23) && two(m, 59),
        [h, m, s] => two(h, 23) && two(m, 59) && two(s, 59),
        _ => false,
    }
}

/// How catalog values are written in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatMode {
    Text,
    Code,
    ExtKey,
    /// `catformat` 1..=9
    Format(u8),
}

/// Per-command value context.
#[derive(Debug, Clone)]
pub struct ValueCtx {
    pub lang: String,
    pub cat: CatMode,
}

/// The records of every table plus the undo log of the running command.
#[derive(Debug, Clone)]
pub struct Db {
    pub schema: std::sync::Arc<Schema>,
    pub data: Vec<TableData>,
    last_ts: Option<Timestamp>,
    /// (table, id, the record before the command) per write of the running command.
    undo: Vec<(usize, u64, Option<Record>)>,
    touched: Vec<(usize, u64)>,
    /// Tables whose serial the running command advanced (kept even when it fails).
    advanced: Vec<usize>,
}

impl Db {
    pub fn new(schema: Schema) -> Db {
        let mut db = Db {
            data: vec![TableData::default(); schema.tables.len()],
            schema: std::sync::Arc::new(schema),
            last_ts: None,
            undo: Vec::new(),
            touched: Vec::new(),
            advanced: Vec::new(),
        };
        db.fill_catalog_table();
        db
    }

    fn fill_catalog_table(&mut self) {
        let ti = self
            .schema
            .table(CATALOG_TABLE)
            .expect("catalog table exists");
        let station = u64::from(self.schema.station);
        let epoch = Timestamp::UNIX_EPOCH;
        let mut serial = 0u64;
        let mut records = BTreeMap::new();
        for cat in &self.schema.catalogs {
            for v in &cat.values {
                serial += 1;
                let mut values = BTreeMap::new();
                values.insert("Name".to_owned(), cat.name.clone());
                values.insert("Number".to_owned(), cat.number.to_string());
                values.insert("Code".to_owned(), v.code.to_string());
                values.insert("ExtKey".to_owned(), v.extkey.clone());
                for (lang, text) in &v.texts {
                    values.insert(format!("Text:{lang}"), text.clone());
                }
                let id = station << 32 | serial;
                records.insert(
                    id,
                    Record {
                        id,
                        values,
                        created: epoch,
                        upd: epoch,
                        deleted: false,
                    },
                );
            }
        }
        self.data[ti] = TableData {
            records,
            next_serial: serial as u32,
        };
    }

    /// The write timestamp: `now` cut to whole seconds (the wire precision of `Created`/`Upd`), never
    /// earlier than the previous write's, so `Upd >= T` finds every write made at or after `T`.
    pub fn stamp(&mut self, now: Timestamp) -> Timestamp {
        let secs = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let ts = match self.last_ts {
            Some(last) if secs < last => last,
            _ => secs,
        };
        self.last_ts = Some(ts);
        ts
    }

    /// The value of `field` as compared and shown (catalog `Text` in the request language).
    pub fn value<'a>(&self, table: usize, rec: &'a Record, field: &str, lang: &str) -> &'a str {
        if field == "Text" && self.schema.tables[table].name == CATALOG_TABLE {
            let fallback = self
                .schema
                .languages
                .first()
                .map(String::as_str)
                .unwrap_or("en");
            return rec
                .values
                .get(&format!("Text:{lang}"))
                .or_else(|| rec.values.get(&format!("Text:{fallback}")))
                .map(String::as_str)
                .unwrap_or("");
        }
        rec.get(field)
    }

    /// Formats a stored value for output.
    pub fn format(&self, field: &Field, stored: &str, ctx: &ValueCtx) -> String {
        match field.kind {
            Kind::Catalog if !stored.is_empty() => {
                let cat = &self.schema.catalogs[field.catalog.expect("catalog field")];
                let code: u32 = stored.parse().unwrap_or_default();
                let text = cat.text(code, &ctx.lang).unwrap_or_default();
                let key = cat
                    .values
                    .iter()
                    .find(|v| v.code == code)
                    .map(|v| v.extkey.as_str())
                    .unwrap_or_default();
                match ctx.cat {
                    CatMode::Text => text.to_owned(),
                    CatMode::Code => code.to_string(),
                    CatMode::ExtKey => key.to_owned(),
                    CatMode::Format(n) => match n {
                        1 => format!("[{key}] {text}"),
                        2 => format!("{text} [{key}]"),
                        3 => format!("({key}) {text}"),
                        4 => format!("{text} ({key})"),
                        5 => format!("{key}-{text}"),
                        6 => format!("{key}|{text}"),
                        7 => format!("{key} - {text}"),
                        8 => format!("{key} | {text}"),
                        _ => format!("{key} {text}"),
                    },
                }
            }
            _ => stored.to_owned(),
        }
    }

    /// Parses an input value into its canonical stored form (`None` = clear the field).
    pub fn parse_value(
        &self,
        table: usize,
        field: &Field,
        raw: &str,
        ctx: &ValueCtx,
    ) -> Result<Option<String>, CrmError> {
        let tname = &self.schema.tables[table].name;
        let bad = |expected: String| {
            CrmError::new(
                "invalid-value",
                format!(
                    "invalid value `{}` for field {} of table {tname}: expected {expected}",
                    shorten(raw),
                    field.name
                ),
            )
            .at(tname, Some(&field.name))
        };
        if raw.is_empty() {
            return Ok(None);
        }
        let value = match field.kind {
            Kind::Text => {
                if let Some(max) = field.length {
                    let n = raw.chars().count();
                    if n > max {
                        return Err(bad(format!("at most {max} characters (found {n})")));
                    }
                }
                raw.to_owned()
            }
            Kind::Number => {
                let t = raw.trim();
                if let Ok(n) = t.parse::<i64>() {
                    n.to_string()
                } else if t.parse::<f64>().is_ok_and(f64::is_finite) && !t.contains(['e', 'E']) {
                    t.to_owned()
                } else {
                    return Err(bad("a plain decimal number".to_owned()));
                }
            }
            Kind::Bool => match raw.trim() {
                "true" | "1" | "t" => "true".to_owned(),
                "false" | "0" | "f" => "false".to_owned(),
                _ => return Err(bad("true or false".to_owned())),
            },
            Kind::Date => {
                if parse_date(raw.trim()).is_none() {
                    return Err(bad("a date YYYY-MM-DD".to_owned()));
                }
                raw.trim().to_owned()
            }
            Kind::Time => {
                if !valid_time(raw.trim()) {
                    return Err(bad("a time HH:MM or HH:MM:SS".to_owned()));
                }
                raw.trim().to_owned()
            }
            Kind::Catalog => {
                let cat = &self.schema.catalogs[field.catalog.expect("catalog field")];
                match cat.resolve(raw, &ctx.lang, ctx.cat == CatMode::Code) {
                    Some(code) => code.to_string(),
                    None => {
                        return Err(bad(format!(
                            "a value of catalog `{}` (text, #code or external key): {}",
                            cat.name,
                            cat.describe(&ctx.lang)
                        )));
                    }
                }
            }
            Kind::Rep => {
                let rep = self
                    .find_rep(raw.trim())
                    .ok_or_else(|| bad("the RepID of an existing rep".to_owned()))?;
                rep.get("RepID").to_owned()
            }
            Kind::Timestamp => {
                return Err(bad("nothing: system fields are read-only".to_owned()));
            }
        };
        Ok(Some(value))
    }

    pub fn rep_table(&self) -> usize {
        self.schema.table("Rep").expect("schema has Rep")
    }

    pub fn find_rep(&self, rep_id: &str) -> Option<&Record> {
        self.data[self.rep_table()]
            .records
            .values()
            .find(|r| !r.deleted && r.get("RepID") == rep_id)
    }

    /// Records of `child` linked to `parent_rec` of table `parent` (link number `link_id` among the
    /// links between the two tables, either direction).
    pub fn children<'a>(
        &'a self,
        parent: usize,
        parent_rec: &'a Record,
        child: usize,
        link_id: usize,
    ) -> Result<Vec<&'a Record>, CrmError> {
        let pairs: Vec<(String, String)>;
        if let Some(link) = self.schema.tables[child]
            .links
            .iter()
            .filter(|l| l.parent == parent)
            .nth(link_id)
        {
            // child field == parent field
            pairs = link.fields.clone();
        } else if let Some(link) = self.schema.tables[parent]
            .links
            .iter()
            .filter(|l| l.parent == child)
            .nth(link_id)
        {
            // the "parent" in the query is the linked child in the schema: reversed
            pairs = link
                .fields
                .iter()
                .map(|(c, p)| (p.clone(), c.clone()))
                .collect();
        } else {
            return Err(CrmError::new(
                "malformed",
                format!(
                    "no link {link_id} between tables {} and {}",
                    self.schema.tables[parent].name, self.schema.tables[child].name
                ),
            ));
        }
        if pairs.iter().any(|(_, p)| is_unset(parent_rec.get(p))) {
            return Ok(Vec::new());
        }
        Ok(self.data[child]
            .records
            .values()
            .filter(|r| {
                pairs
                    .iter()
                    .all(|(c, p)| r.get(c).eq_ignore_ascii_case(parent_rec.get(p)))
            })
            .collect())
    }

    /// Starts a command: later writes can be undone with `rollback`.
    pub fn begin(&mut self) {
        self.undo.clear();
        self.touched.clear();
        self.advanced.clear();
    }

    /// Undoes every write since `begin`. Serials are not given back: ids come from a sequence that
    /// only moves forward, so an id a failed command used is never given to another record.
    pub fn rollback(&mut self) {
        while let Some((table, id, previous)) = self.undo.pop() {
            let data = &mut self.data[table];
            match previous {
                Some(rec) => {
                    data.records.insert(id, rec);
                }
                None => {
                    data.records.remove(&id);
                }
            }
        }
        self.touched.clear();
    }

    /// Ends a command; returns the (table, id) pairs written.
    pub fn commit(&mut self) -> Vec<(usize, u64)> {
        self.undo.clear();
        std::mem::take(&mut self.touched)
    }

    /// The tables whose serial the last command advanced, committed or not (to persist them).
    pub fn take_advanced(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.advanced)
    }

    fn save(&mut self, table: usize, rec: Record) {
        let data = &mut self.data[table];
        let previous = data.records.insert(rec.id, rec.clone());
        self.undo.push((table, rec.id, previous));
        self.touched.push((table, rec.id));
    }

    /// Applies parsed changes to a new or existing record: derived fields, links and inherited fields,
    /// required fields. Returns the new record's id.
    pub fn write(
        &mut self,
        table: usize,
        existing: Option<u64>,
        changes: Vec<(String, Option<String>)>,
        now: Timestamp,
    ) -> Result<u64, CrmError> {
        let schema = self.schema.clone();
        let t = &schema.tables[table];
        let ts = self.stamp(now);
        let mut rec = match existing {
            Some(id) => self.data[table]
                .records
                .get(&id)
                .cloned()
                .filter(|r| !r.deleted)
                .ok_or_else(|| {
                    CrmError::new(
                        "not-found",
                        format!("no record with id {id} in table {}", t.name),
                    )
                    .at(&t.name, None)
                })?,
            None => {
                // The serial is taken now, whatever happens to the write: a failed insert's id is
                // never handed to a later record.
                self.data[table].next_serial += 1;
                if !self.advanced.contains(&table) {
                    self.advanced.push(table);
                }
                let serial = self.data[table].next_serial;
                let id = u64::from(self.schema.station) << 32 | u64::from(serial);
                let mut values = BTreeMap::new();
                if let [stat, seq] = t.key.as_slice() {
                    values.insert(stat.clone(), self.schema.station.to_string());
                    values.insert(seq.clone(), serial.to_string());
                }
                Record {
                    id,
                    values,
                    created: ts,
                    upd: ts,
                    deleted: false,
                }
            }
        };
        for (name, value) in changes {
            match value {
                Some(v) => rec.values.insert(name, v),
                None => rec.values.remove(&name),
            };
        }
        rec.upd = ts;
        for f in &t.fields {
            if let Some(src) = &f.rep_name_of {
                let name = self
                    .find_rep(rec.get(src))
                    .map(|r| r.get("Name").to_owned())
                    .unwrap_or_default();
                if name.is_empty() {
                    rec.values.remove(&f.name);
                } else {
                    rec.values.insert(f.name.clone(), name);
                }
            }
        }
        for link in &t.links {
            if link.fields.iter().all(|(c, _)| is_unset(rec.get(c))) {
                continue;
            }
            let parent_t = &self.schema.tables[link.parent];
            let parent = self.data[link.parent].records.values().find(|p| {
                !p.deleted
                    && link
                        .fields
                        .iter()
                        .all(|(c, pf)| rec.get(c).eq_ignore_ascii_case(p.get(pf)))
            });
            let Some(parent) = parent else {
                let key = link
                    .fields
                    .iter()
                    .map(|(c, _)| format!("{c}={}", rec.get(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(CrmError::new(
                    "not-found",
                    format!(
                        "{} links to a {} with {key}, which does not exist",
                        t.name, parent_t.name
                    ),
                )
                .at(&t.name, link.fields.first().map(|(c, _)| c.as_str())));
            };
            let inherited: Vec<(String, String)> = link
                .inherit
                .iter()
                .map(|(c, p)| (c.clone(), parent.get(p).to_owned()))
                .collect();
            for (c, v) in inherited {
                if v.is_empty() {
                    rec.values.remove(&c);
                } else {
                    rec.values.insert(c, v);
                }
            }
        }
        for set in &t.unique {
            if set.iter().any(|f| rec.get(f).is_empty()) {
                continue;
            }
            if let Some(other) = self.data[table].records.values().find(|o| {
                o.id != rec.id && !o.deleted && set.iter().all(|f| text_eq(o.get(f), rec.get(f)))
            }) {
                let values = set
                    .iter()
                    .map(|f| format!("{f}={}", rec.get(f)))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(CrmError::new(
                    "invalid-value",
                    format!(
                        "duplicate {} record: record {} already has {values} (must be unique)",
                        t.name, other.id
                    ),
                )
                .at(&t.name, set.first().map(String::as_str)));
            }
        }
        if let Some(missing) = t
            .fields
            .iter()
            .find(|f| f.required && rec.get(&f.name).is_empty())
        {
            return Err(CrmError::new(
                "required-field-missing",
                format!(
                    "permission denied (required field missing): field {} of table {} must have a value",
                    missing.name, t.name
                ),
            )
            .at(&t.name, Some(&missing.name)));
        }
        let id = rec.id;
        self.save(table, rec);
        Ok(id)
    }

    /// Marks a record deleted (kept, visible to queries with flag 16384). Deleting a deleted record is
    /// `not-found`, like updating it.
    pub fn delete(&mut self, table: usize, id: u64, now: Timestamp) -> Result<(), CrmError> {
        let name = self.schema.tables[table].name.clone();
        let Some(mut rec) = self.data[table]
            .records
            .get(&id)
            .cloned()
            .filter(|r| !r.deleted)
        else {
            return Err(CrmError::new(
                "not-found",
                format!("no record with id {id} in table {name}"),
            )
            .at(&name, None));
        };
        rec.deleted = true;
        rec.upd = self.stamp(now);
        self.save(table, rec);
        Ok(())
    }
}

/// Empty or zero: a link field that points nowhere.
/// The CRM's one rule for comparing stored text (query conditions, match-up keys, unique field
/// sets): equal ignoring case, like SQL Server's default collation (G9 in
/// docs/crm-interface-assumptions.md).
pub fn text_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

pub fn is_unset(v: &str) -> bool {
    v.is_empty() || v == "0"
}

fn shorten(raw: &str) -> String {
    if raw.chars().count() > 60 {
        format!("{}…", raw.chars().take(60).collect::<String>())
    } else {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::seed::Seed;

    fn db() -> (Db, usize) {
        let db = Db::new(Schema::from_seed(&Seed::default_seed()).unwrap());
        let company = db.schema.table("Company").unwrap();
        (db, company)
    }

    fn name(value: &str) -> Vec<(String, Option<String>)> {
        vec![("Company".to_owned(), Some(value.to_owned()))]
    }

    #[test]
    fn rollback_undoes_inserts_updates_deletes_but_never_gives_back_a_serial() {
        let (mut db, t) = db();
        let now = Timestamp::UNIX_EPOCH;
        db.begin();
        let kept = db.write(t, None, name("Kept"), now).unwrap();
        db.commit();
        assert_eq!(kept, 1 << 32 | 1);
        assert_eq!(db.data[t].records[&kept].get("CoNo"), "1");
        let before = db.data[t].clone();
        db.begin();
        let gone = db.write(t, None, name("Gone"), now).unwrap();
        db.write(t, Some(kept), name("Changed"), now).unwrap();
        db.delete(t, kept, now).unwrap();
        assert_eq!(gone, 1 << 32 | 2);
        db.rollback();
        assert_eq!(db.data[t].records, before.records);
        assert_eq!(db.data[t].next_serial, 2, "a serial is never given back");
        assert_eq!(db.take_advanced(), vec![t]);
        db.begin();
        assert_eq!(db.write(t, None, name("Next"), now).unwrap(), 1 << 32 | 3);
    }

    #[test]
    fn write_stamps_never_go_backwards_and_cut_to_seconds() {
        let (mut db, _) = db();
        let late: Timestamp = "2026-11-26T10:00:05.900Z".parse().unwrap();
        let early: Timestamp = "2026-11-26T10:00:01Z".parse().unwrap();
        assert_eq!(format_ts(db.stamp(late)), "2026-11-26T10:00:05Z");
        assert_eq!(format_ts(db.stamp(early)), "2026-11-26T10:00:05Z");
    }

    #[test]
    fn values_are_validated_by_type() {
        let (db, _) = db();
        let contact = db.schema.table("Contact").unwrap();
        let ctx = ValueCtx {
            lang: "en".to_owned(),
            cat: CatMode::Text,
        };
        let parse = |field: &str, raw: &str| {
            let def = db.schema.tables[contact].field(field).unwrap();
            db.parse_value(contact, def, raw, &ctx)
        };
        assert_eq!(
            parse("Date", "2026-02-28").unwrap().as_deref(),
            Some("2026-02-28")
        );
        assert!(parse("Date", "2026-02-30").is_err());
        assert_eq!(parse("Time", "09:30").unwrap().as_deref(), Some("09:30"));
        assert!(parse("Time", "24:00").is_err());
        assert_eq!(parse("Duration", "007").unwrap().as_deref(), Some("7"));
        assert_eq!(parse("Duration", "-3.5").unwrap().as_deref(), Some("-3.5"));
        assert!(parse("Duration", "1e3").is_err());
        assert_eq!(parse("Private", "1").unwrap().as_deref(), Some("true"));
        assert_eq!(parse("ShowAs", "#3").unwrap().as_deref(), Some("3"));
        assert_eq!(parse("ShowAs", "GEBUCHT").unwrap().as_deref(), Some("3"));
        assert_eq!(parse("Subject", "").unwrap(), None);
        let err = parse("ShowAs", "Maybe").unwrap_err();
        assert_eq!(err.code, "invalid-value");
        assert!(err.message.contains("Busy (#3)"), "{}", err.message);
    }
}
