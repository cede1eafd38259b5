//! `MemoryCrm`: an in-memory fake of the CRM with the semantics of CRM.interface (and of the emulator),
//! for engine tests that need no HTTP. It reads the emulator's seed format, so both start from the same
//! sandbox CRM, and it is checked against the emulator by the contract suite (`tests/it/crm_contract.rs`).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use indexmap::IndexMap;
use jiff::{
    Timestamp,
    civil::{Date, Time},
};
use serde::Deserialize;

use super::{
    Actor, BatchCommand, BoxFuture, CREATED_FIELD, CatalogMode, CatalogValue, Command, Cond,
    Condition, CrmError, CrmErrorKind, CrmTransport, CursorFlags, Fields, Health, ID_FIELD, Op,
    Query, Record, RecordId, Reply, TableQuery, UPD_FIELD, Value, WireFormats, WriteAction,
    Written, format_timestamp, types::forbidden_xml_char,
};

/// The emulator's built-in seed: the sandbox CRM the whole project agrees on.
const SANDBOX_SEED: &str = include_str!("../../emulator/crm/default-seed.yaml");

/// Credentials a [`MemoryCrm`] handle logs in with, like the client's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLogin {
    pub user: String,
    pub password: String,
    pub client: String,
}

/// Wire-level settings the fake honours like the client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryOptions {
    pub language: String,
    pub formats: WireFormats,
    pub catalog_mode: CatalogMode,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            language: "en".to_owned(),
            formats: WireFormats::default(),
            catalog_mode: CatalogMode::Text,
        }
    }
}

type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// A handle on a shared in-memory CRM, logged in with some credentials. Clones share the data.
#[derive(Clone)]
pub struct MemoryCrm {
    store: Arc<Mutex<Store>>,
    login: MemoryLogin,
    options: MemoryOptions,
}

impl std::fmt::Debug for MemoryCrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCrm")
            .field("user", &self.login.user)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl MemoryCrm {
    /// The sandbox CRM (the emulator's default seed), logged in as its master user.
    pub fn sandbox() -> Self {
        Self::from_seed_yaml(SANDBOX_SEED, "built-in seed").expect("the built-in seed is valid")
    }

    /// A CRM built from seed YAML in the emulator's format (`docs/crm-emulator.md`), logged in as its
    /// master user.
    pub fn from_seed_yaml(text: &str, origin: &str) -> Result<Self, String> {
        let seed: SeedDoc =
            serde_saphyr::from_str(text).map_err(|e| format!("{origin}: invalid CRM seed: {e}"))?;
        let login = MemoryLogin {
            user: seed.master.user.clone(),
            password: seed.master.password.clone(),
            client: seed.master.client.clone(),
        };
        let store = Store::from_seed(seed).map_err(|e| format!("{origin}: {e}"))?;
        Ok(Self {
            store: Arc::new(Mutex::new(store)),
            login,
            options: MemoryOptions::default(),
        })
    }

    /// Another handle on the same data, logging in with `login`.
    pub fn connect(&self, login: MemoryLogin) -> Self {
        Self {
            login,
            ..self.clone()
        }
    }

    /// The same handle with other wire options.
    pub fn with_options(mut self, options: MemoryOptions) -> Self {
        self.options = options;
        self
    }

    /// The master user's credentials.
    pub fn master_login(&self) -> MemoryLogin {
        let store = self.lock();
        MemoryLogin {
            user: store.master.user.clone(),
            password: store.master.password.clone(),
            client: store.master.client.clone(),
        }
    }

    /// Replaces the clock stamping `Created`/`Upd` (tests use a fixed or stepping clock).
    pub fn set_clock(&self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) {
        self.lock().clock = Arc::new(clock);
    }

    /// Undeleted records of `table` whose `field` is exactly `value` (stored form). For test assertions.
    pub fn count_where(&self, table: &str, field: &str, value: &str) -> usize {
        let store = self.lock();
        let Some(t) = store.table_index(table) else {
            return 0;
        };
        store.data[t]
            .values()
            .filter(|r| !r.deleted && r.values.get(field).map(String::as_str) == Some(value))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CrmTransport for MemoryCrm {
    fn execute<'a>(
        &'a self,
        actor: &'a Actor,
        commands: &'a [BatchCommand],
    ) -> BoxFuture<'a, Result<Vec<Result<Reply, CrmError>>, CrmError>> {
        Box::pin(async move {
            // The wire would refuse these before sending; so does the fake.
            for command in commands {
                check_chars(&command.command)?;
            }
            let mut store = self.lock();
            let session = store.login(&self.login, actor)?;
            let ctx = Ctx {
                options: &self.options,
                session: &session,
            };
            let mut out = Vec::with_capacity(commands.len());
            let mut stopped = false;
            for command in commands {
                if stopped || (command.after_success && out.last().is_some_and(Result::is_err)) {
                    stopped = true;
                    out.push(Ok(Reply::Skipped));
                    continue;
                }
                out.push(store.run(&command.command, &ctx));
            }
            Ok(out)
        })
    }

    fn health_check(&self) -> BoxFuture<'_, Result<Health, CrmError>> {
        Box::pin(async move {
            let mut store = self.lock();
            store.login(&self.login, &Actor::Master)?;
            let rep = store.table_index(super::REP_TABLE);
            Ok(Health {
                user: self.login.user.clone(),
                reps_visible: rep.is_some_and(|t| store.data[t].values().any(|r| !r.deleted)),
            })
        })
    }
}

fn check_chars(command: &Command) -> Result<(), CrmError> {
    let fields = match command {
        Command::Insert { fields, .. }
        | Command::Update { fields, .. }
        | Command::Upsert { fields, .. } => fields,
        Command::Match { key, .. } => key,
        _ => return Ok(()),
    };
    for (name, value) in fields {
        if let Value::Text(text) = value
            && forbidden_xml_char(text).is_some()
        {
            return Err(CrmError::new(
                CrmErrorKind::InvalidCharacter,
                "value holds a character XML 1.0 cannot carry",
            )
            .table(command.table())
            .field(name));
        }
    }
    Ok(())
}

// ---- seed (the emulator's format; only what the fake needs, unknown keys ignored) ----

#[derive(Deserialize)]
struct SeedDoc {
    #[serde(default = "one")]
    station: u32,
    master: MasterSeed,
    #[serde(default)]
    logins: Vec<LoginSeed>,
    catalogs: Vec<CatalogSeed>,
    tables: Vec<TableSeed>,
    #[serde(default)]
    reps: Vec<IndexMap<String, Scalar>>,
    #[serde(default)]
    companies: Vec<CompanySeed>,
    #[serde(default)]
    records: IndexMap<String, Vec<IndexMap<String, Scalar>>>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize, Clone)]
struct MasterSeed {
    user: String,
    password: String,
    client: String,
}

#[derive(Deserialize, Clone)]
struct LoginSeed {
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize)]
struct CatalogSeed {
    name: String,
    number: u32,
    values: Vec<CatalogValueSeed>,
}

#[derive(Deserialize)]
struct CatalogValueSeed {
    code: u32,
    #[serde(default)]
    extkey: Option<String>,
    #[serde(flatten)]
    texts: IndexMap<String, String>,
}

#[derive(Deserialize)]
struct TableSeed {
    name: String,
    short: String,
    #[serde(default)]
    key: Vec<String>,
    #[serde(default)]
    write: Option<String>,
    fields: Vec<FieldSeed>,
    #[serde(default)]
    links: Vec<LinkSeed>,
}

#[derive(Deserialize)]
struct FieldSeed {
    name: String,
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    length: Option<usize>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    catalog: Option<String>,
    #[serde(default)]
    readonly: bool,
    #[serde(default)]
    rep_name_of: Option<String>,
}

#[derive(Deserialize, Clone)]
struct LinkSeed {
    parent: String,
    fields: IndexMap<String, String>,
    #[serde(default)]
    inherit: IndexMap<String, String>,
}

#[derive(Deserialize)]
struct CompanySeed {
    #[serde(default)]
    persons: Vec<IndexMap<String, Scalar>>,
    #[serde(flatten)]
    fields: IndexMap<String, Scalar>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn to_value(&self) -> Value {
        match self {
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Int(n) => Value::Number(*n as f64),
            Scalar::Float(f) => Value::Number(*f),
            Scalar::Str(s) => Value::Text(s.clone()),
        }
    }
}

// ---- store ----

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Text,
    Number,
    Bool,
    Date,
    Time,
    Catalog,
    Rep,
}

struct FieldDef {
    kind: Kind,
    length: Option<usize>,
    required: bool,
    catalog: Option<usize>,
    readonly: bool,
    rep_name_of: Option<String>,
}

struct TableDef {
    name: String,
    short: String,
    key: Vec<String>,
    write: String,
    fields: IndexMap<String, FieldDef>,
    links: Vec<LinkSeed>,
}

struct CatalogDef {
    name: String,
    values: Vec<CatalogValue>,
}

struct Rec {
    /// Canonical stored values: text, numbers as written, `true`/`false`, ISO dates, `HH:MM:SS`, codes.
    values: IndexMap<String, String>,
    deleted: bool,
    created: Timestamp,
    upd: Timestamp,
}

struct Store {
    station: u32,
    master: MasterSeed,
    logins: Vec<LoginSeed>,
    tables: Vec<TableDef>,
    catalogs: Vec<CatalogDef>,
    data: Vec<BTreeMap<u64, Rec>>,
    next_serial: Vec<u64>,
    clock: Clock,
}

/// Who is acting, after login.
struct Session {
    is_master: bool,
    impersonating: bool,
    read_only: bool,
}

struct Ctx<'a> {
    options: &'a MemoryOptions,
    session: &'a Session,
}

fn err(kind: CrmErrorKind, message: impl Into<String>) -> CrmError {
    CrmError::new(kind, message)
}

const DATE_ISO: &str = "%Y-%m-%d";
const TIME_ISO: &str = "%H:%M:%S";

impl Store {
    fn from_seed(seed: SeedDoc) -> Result<Store, String> {
        let catalogs: Vec<CatalogDef> = seed
            .catalogs
            .iter()
            .map(|c| CatalogDef {
                name: c.name.clone(),
                values: c
                    .values
                    .iter()
                    .map(|v| CatalogValue {
                        code: v.code.to_string(),
                        texts: v.texts.clone(),
                        ext_key: Some(v.extkey.clone().unwrap_or_else(|| {
                            format!("{}_{}_{}", seed.station, c.number, v.code)
                        })),
                    })
                    .collect(),
            })
            .collect();
        let mut tables = Vec::new();
        for t in &seed.tables {
            let mut fields = IndexMap::new();
            for f in &t.fields {
                let catalog = match &f.catalog {
                    Some(name) => Some(catalogs.iter().position(|c| &c.name == name).ok_or_else(
                        || format!("field {}.{}: unknown catalog `{name}`", t.name, f.name),
                    )?),
                    None => None,
                };
                fields.insert(
                    f.name.clone(),
                    FieldDef {
                        kind: f.kind,
                        length: f.length,
                        required: f.required,
                        catalog,
                        readonly: f.readonly,
                        rep_name_of: f.rep_name_of.clone(),
                    },
                );
            }
            tables.push(TableDef {
                name: t.name.clone(),
                short: t.short.clone(),
                key: t.key.clone(),
                write: t.write.clone().unwrap_or_else(|| "all".to_owned()),
                fields,
                links: t.links.clone(),
            });
        }
        let n = tables.len();
        let mut store = Store {
            station: seed.station,
            master: seed.master,
            logins: seed.logins,
            tables,
            catalogs,
            data: (0..n).map(|_| BTreeMap::new()).collect(),
            next_serial: vec![1; n],
            clock: Arc::new(Timestamp::now),
        };
        let options = MemoryOptions::default();
        let session = Session {
            is_master: true,
            impersonating: false,
            read_only: false,
        };
        let ctx = Ctx {
            options: &options,
            session: &session,
        };
        let row = |row: &IndexMap<String, Scalar>| -> Fields {
            row.iter().map(|(k, v)| (k.clone(), v.to_value())).collect()
        };
        for r in &seed.reps {
            store
                .insert("Rep", &row(r), &ctx)
                .map_err(|e| format!("seed record of Rep: {e}"))?;
        }
        for company in &seed.companies {
            let written = store
                .insert("Company", &row(&company.fields), &ctx)
                .map_err(|e| format!("seed company: {e}"))?;
            let t = store.table_index("Company").expect("Company exists");
            let serial = serial_of(&written.id);
            let co = &store.data[t][&serial].values;
            let (co_grp, co_no) = (
                co.get("CoGrp").cloned().unwrap_or_default(),
                co.get("CoNo").cloned().unwrap_or_default(),
            );
            for person in &company.persons {
                let mut fields = row(person);
                fields.insert("CoGrp".into(), Value::Text(co_grp.clone()));
                fields.insert("CoNo".into(), Value::Text(co_no.clone()));
                store
                    .insert("Person", &fields, &ctx)
                    .map_err(|e| format!("seed person: {e}"))?;
            }
        }
        // Like the emulator: other records after companies and persons, so that links to them (a TN row's
        // person) inherit their fields (the person's CoGrp/CoNo).
        for (table, rows) in &seed.records {
            for r in rows {
                store
                    .insert(table, &row(r), &ctx)
                    .map_err(|e| format!("seed record of {table}: {e}"))?;
            }
        }
        Ok(store)
    }

    fn table_index(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }

    fn table(&self, name: &str) -> Result<usize, CrmError> {
        self.table_index(name).ok_or_else(|| {
            err(CrmErrorKind::UnknownTable, format!("unknown table {name}")).table(name)
        })
    }

    fn login(&mut self, login: &MemoryLogin, actor: &Actor) -> Result<Session, CrmError> {
        let is_master = login.user == self.master.user && login.password == self.master.password;
        let other = self
            .logins
            .iter()
            .find(|l| l.user == login.user && l.password == login.password)
            .cloned();
        if !is_master && other.is_none() {
            return Err(err(
                CrmErrorKind::Auth,
                format!(
                    "login failed for user {}: wrong user or password",
                    login.user
                ),
            ));
        }
        let read_only = other.as_ref().is_some_and(|l| l.read_only);
        if *actor == Actor::Master {
            return Ok(Session {
                is_master,
                impersonating: false,
                read_only,
            });
        }
        if !is_master || login.client != self.master.client {
            return Err(err(
                CrmErrorKind::PermissionDenied,
                format!(
                    "user {} with client {} may not impersonate; only the master user with its client may",
                    login.user, login.client
                ),
            ));
        }
        let rep_table = self.table(super::REP_TABLE)?;
        let found = self.data[rep_table].values().any(|r| {
            !r.deleted
                && match actor {
                    Actor::RepEmail(email) => r
                        .values
                        .get("E-mail1")
                        .is_some_and(|e| e.eq_ignore_ascii_case(email)),
                    Actor::RepName(name) => r
                        .values
                        .get("Name")
                        .is_some_and(|n| n.to_lowercase() == name.to_lowercase()),
                    Actor::Master => true,
                }
        });
        if !found {
            return Err(err(
                CrmErrorKind::Auth,
                format!("impersonation target {actor:?} is not a rep"),
            ));
        }
        Ok(Session {
            is_master: true,
            impersonating: true,
            read_only: false,
        })
    }

    fn run(&mut self, command: &Command, ctx: &Ctx<'_>) -> Result<Reply, CrmError> {
        if command.is_write() {
            self.check_write(command.table(), ctx)?;
        }
        match command {
            Command::Query(query) => self.query(query, ctx).map(Reply::Records),
            Command::ReadCatalog(name) => Ok(Reply::Catalog(
                self.catalogs
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name))
                    .map(|c| c.values.clone())
                    .unwrap_or_default(),
            )),
            Command::Insert { table, fields } => {
                self.insert(table, fields, ctx).map(Reply::Written)
            }
            Command::Update { table, id, fields } => {
                let t = self.table(table)?;
                let serial = self.live_serial(t, id)?;
                self.write(t, Some(serial), fields, ctx).map(Reply::Written)
            }
            Command::Delete { table, id } => {
                let t = self.table(table)?;
                let serial = self.live_serial(t, id)?;
                let now = (self.clock)();
                let rec = self.data[t].get_mut(&serial).expect("live record");
                rec.deleted = true;
                rec.upd = now;
                Ok(Reply::Written(Written {
                    table: table.clone(),
                    id: id.clone(),
                    action: WriteAction::Delete,
                }))
            }
            Command::Upsert { table, key, fields } => {
                let t = self.table(table)?;
                let key_fields: Fields = key
                    .iter()
                    .filter_map(|k| fields.get(k).map(|v| (k.clone(), v.clone())))
                    .collect();
                let found = self.matches(t, &key_fields, ctx)?;
                match found.as_slice() {
                    [] => self.write(t, None, fields, ctx).map(Reply::Written),
                    [serial] => self
                        .write(t, Some(*serial), fields, ctx)
                        .map(Reply::Written),
                    more => Err(err(
                        CrmErrorKind::AmbiguousMatch,
                        format!(
                            "the match key finds {} records; nothing written",
                            more.len()
                        ),
                    )
                    .table(table)),
                }
            }
            Command::Match { table, key } => {
                let t = self.table(table)?;
                let found = self.matches(t, key, ctx)?;
                let fields: Vec<String> = self.tables[t].fields.keys().cloned().collect();
                Ok(Reply::Records(
                    found
                        .iter()
                        .map(|s| self.to_record(t, *s, &fields, None, ctx))
                        .collect(),
                ))
            }
        }
    }

    fn check_write(&self, table: &str, ctx: &Ctx<'_>) -> Result<(), CrmError> {
        let t = self.table(table)?;
        let policy = self.tables[t].write.as_str();
        let denied = ctx.session.read_only
            || policy == "none"
            || (policy == "master" && (!ctx.session.is_master || ctx.session.impersonating));
        if denied {
            return Err(err(
                CrmErrorKind::PermissionDenied,
                format!("permission denied: this login may not write table {table}"),
            )
            .table(table));
        }
        Ok(())
    }

    fn live_serial(&self, t: usize, id: &RecordId) -> Result<u64, CrmError> {
        let table = &self.tables[t].name;
        let serial = id
            .as_str()
            .parse::<u64>()
            .ok()
            .filter(|n| n >> 32 == u64::from(self.station))
            .map(|n| n & 0xFFFF_FFFF);
        match serial {
            Some(s) if self.data[t].get(&s).is_some_and(|r| !r.deleted) => Ok(s),
            _ => Err(err(
                CrmErrorKind::NotFound,
                format!("no record {id} in table {table}"),
            )
            .table(table)
            .record(id.as_str())),
        }
    }

    fn id_of(&self, serial: u64) -> RecordId {
        RecordId::new(&((u64::from(self.station) << 32) | serial).to_string())
    }

    fn insert(&mut self, table: &str, fields: &Fields, ctx: &Ctx<'_>) -> Result<Written, CrmError> {
        let t = self.table(table)?;
        self.write(t, None, fields, ctx)
    }

    /// Inserts (`serial` None) or updates one record; validates everything before changing anything.
    fn write(
        &mut self,
        t: usize,
        serial: Option<u64>,
        fields: &Fields,
        ctx: &Ctx<'_>,
    ) -> Result<Written, CrmError> {
        let def = &self.tables[t];
        let mut parsed: IndexMap<String, String> = IndexMap::new();
        for (name, value) in fields {
            let field = self.field(t, name)?;
            if field.readonly || def.key.contains(name) {
                return Err(err(
                    CrmErrorKind::InvalidValue,
                    format!("field {name} of table {} is read-only", def.name),
                )
                .table(&def.name)
                .field(name));
            }
            match self.parse_value(t, name, field, value, ctx, true)? {
                Some(v) => parsed.insert(name.clone(), v),
                None => parsed.insert(name.clone(), String::new()),
            };
        }
        let mut values = match serial {
            Some(s) => self.data[t][&s].values.clone(),
            None => IndexMap::new(),
        };
        values.extend(parsed);
        // Links, like the emulator: a record whose link fields are set must point to a live parent record
        // (`not-found` otherwise); then it inherits the parent's fields (e.g. CoGrp/CoNo of the person).
        let unset = |v: &str| v.is_empty() || v == "0";
        let get = |values: &IndexMap<String, String>, f: &str| -> String {
            values.get(f).cloned().unwrap_or_default()
        };
        for link in &def.links {
            if link.fields.keys().all(|c| unset(&get(&values, c))) {
                continue;
            }
            let Some(p) = self.table_index(&link.parent) else {
                continue;
            };
            let parent = self.data[p].values().find(|r| {
                !r.deleted
                    && link
                        .fields
                        .iter()
                        .all(|(c, pf)| get(&values, c).eq_ignore_ascii_case(&get(&r.values, pf)))
            });
            let Some(parent) = parent else {
                let key = link
                    .fields
                    .keys()
                    .map(|c| format!("{c}={}", get(&values, c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let first = link.fields.keys().next().map_or("", String::as_str);
                return Err(err(
                    CrmErrorKind::NotFound,
                    format!(
                        "{} links to a {} with {key}, which does not exist",
                        def.name, link.parent
                    ),
                )
                .table(&def.name)
                .field(first));
            };
            for (c, pf) in &link.inherit {
                values.insert(c.clone(), get(&parent.values, pf));
            }
        }
        if serial.is_none() {
            for (name, field) in &def.fields {
                if field.required && values.get(name).is_none_or(String::is_empty) {
                    return Err(err(
                        CrmErrorKind::RequiredFieldMissing,
                        format!("required field {name} of table {} is missing", def.name),
                    )
                    .table(&def.name)
                    .field(name));
                }
            }
        }
        for (name, field) in &def.fields {
            if let Some(source) = &field.rep_name_of {
                let rep = values.get(source).and_then(|id| self.rep_name(id));
                values.insert(name.clone(), rep.unwrap_or_default());
            }
        }
        let now = (self.clock)();
        let (serial, action) = match serial {
            Some(s) => (s, WriteAction::Update),
            None => {
                let s = self.next_serial[t];
                self.next_serial[t] += 1;
                if let [station, seq] = def.key.as_slice() {
                    values.insert(station.clone(), self.station.to_string());
                    values.insert(seq.clone(), s.to_string());
                }
                (s, WriteAction::Insert)
            }
        };
        let table = def.name.clone();
        let rec = self.data[t].entry(serial).or_insert_with(|| Rec {
            values: IndexMap::new(),
            deleted: false,
            created: now,
            upd: now,
        });
        rec.values = values;
        rec.upd = now;
        Ok(Written {
            table,
            id: self.id_of(serial),
            action,
        })
    }

    fn rep_name(&self, rep_id: &str) -> Option<String> {
        let t = self.table_index(super::REP_TABLE)?;
        self.data[t]
            .values()
            .find(|r| !r.deleted && r.values.get("RepID").is_some_and(|v| v == rep_id))
            .and_then(|r| r.values.get("Name").cloned())
    }

    fn field(&self, t: usize, name: &str) -> Result<&FieldDef, CrmError> {
        let def = &self.tables[t];
        def.fields.get(name).ok_or_else(|| {
            err(
                CrmErrorKind::UnknownField,
                format!("unknown field {name} in table {}", def.name),
            )
            .table(&def.name)
            .field(name)
        })
    }

    /// Parses a written (or compared) value to its stored form; `None` = no value.
    fn parse_value(
        &self,
        t: usize,
        name: &str,
        field: &FieldDef,
        value: &Value,
        ctx: &Ctx<'_>,
        check_length: bool,
    ) -> Result<Option<String>, CrmError> {
        let formats = &ctx.options.formats;
        let Some(raw) = value.to_wire(formats) else {
            return Ok(None);
        };
        let table = &self.tables[t].name;
        let bad = |expected: &str| {
            err(
                CrmErrorKind::InvalidValue,
                format!("invalid value for field {name} of table {table}: expected {expected}"),
            )
            .table(table)
            .field(name)
        };
        let stored = match field.kind {
            Kind::Text => {
                if let Some(max) = field.length
                    && check_length
                    && raw.chars().count() > max
                {
                    return Err(bad(&format!("at most {max} characters")));
                }
                raw
            }
            Kind::Number => {
                let t = raw.trim();
                if let Ok(n) = t.parse::<i64>() {
                    n.to_string()
                } else if t.parse::<f64>().is_ok_and(f64::is_finite) && !t.contains(['e', 'E']) {
                    t.to_owned()
                } else {
                    return Err(bad("a plain decimal number"));
                }
            }
            // Like the emulator: `1`/`0` and `t`/`f` are accepted too.
            Kind::Bool => match raw.trim() {
                "true" | "1" | "t" => "true".to_owned(),
                "false" | "0" | "f" => "false".to_owned(),
                _ => return Err(bad("true or false")),
            },
            Kind::Date => formats
                .parse_date(raw.trim())
                .ok_or_else(|| bad("a date in the configured format"))?
                .strftime(DATE_ISO)
                .to_string(),
            Kind::Time => formats
                .parse_time(raw.trim())
                .or_else(|| Time::strptime(TIME_ISO, raw.trim()).ok())
                .ok_or_else(|| bad("a time in the configured format"))?
                .strftime(TIME_ISO)
                .to_string(),
            Kind::Catalog => {
                let catalog = &self.catalogs[field.catalog.expect("catalog field has a catalog")];
                let found = resolve_catalog(
                    &catalog.values,
                    raw.trim(),
                    &ctx.options.language,
                    ctx.options.catalog_mode == CatalogMode::Code,
                );
                found
                    .ok_or_else(|| bad(&format!("a value of catalog `{}`", catalog.name)))?
                    .code
                    .clone()
            }
            Kind::Rep => {
                let rep = self.table_index(super::REP_TABLE).and_then(|rt| {
                    self.data[rt].values().find_map(|r| {
                        let id = r.values.get("RepID")?;
                        (!r.deleted && id.eq_ignore_ascii_case(raw.trim())).then(|| id.clone())
                    })
                });
                rep.ok_or_else(|| bad("the RepID of an existing rep"))?
            }
        };
        Ok(Some(stored))
    }

    /// The stored form of a record's field as it travels on the wire.
    fn output(&self, t: usize, serial: u64, name: &str, ctx: &Ctx<'_>) -> Value {
        let rec = &self.data[t][&serial];
        let stored = match name {
            ID_FIELD => return Value::Text(self.id_of(serial).to_string()),
            UPD_FIELD => return Value::Text(format_timestamp(rec.upd)),
            CREATED_FIELD => return Value::Text(format_timestamp(rec.created)),
            _ => rec.values.get(name).cloned().unwrap_or_default(),
        };
        if stored.is_empty() {
            return Value::Null;
        }
        let formats = &ctx.options.formats;
        let text = match self.tables[t].fields.get(name).map(|f| (f.kind, f.catalog)) {
            Some((Kind::Date, _)) => Date::strptime(DATE_ISO, &stored)
                .map(|d| d.strftime(&formats.date).to_string())
                .unwrap_or(stored),
            Some((Kind::Time, _)) => Time::strptime(TIME_ISO, &stored)
                .map(|d| d.strftime(&formats.time).to_string())
                .unwrap_or(stored),
            Some((Kind::Catalog, Some(c))) => {
                let value = self.catalogs[c].values.iter().find(|v| v.code == stored);
                match (value, ctx.options.catalog_mode) {
                    (Some(v), CatalogMode::Text) => v
                        .texts
                        .get(&ctx.options.language)
                        .or_else(|| v.texts.values().next())
                        .cloned()
                        .unwrap_or(stored),
                    (Some(v), CatalogMode::ExtKey) => v.ext_key.clone().unwrap_or(stored),
                    _ => stored,
                }
            }
            _ => stored,
        };
        Value::Text(text)
    }

    fn matches(&self, t: usize, key: &Fields, ctx: &Ctx<'_>) -> Result<Vec<u64>, CrmError> {
        let mut wanted = Vec::new();
        for (name, value) in key {
            let field = self.field(t, name)?;
            let v = self
                .parse_value(t, name, field, value, ctx, false)?
                .unwrap_or_default();
            wanted.push((name, v));
        }
        Ok(self.data[t]
            .iter()
            .filter(|(_, r)| {
                !r.deleted
                    && wanted
                        .iter()
                        .all(|(n, v)| r.values.get(*n).map(String::as_str).unwrap_or("") == v)
            })
            .map(|(s, _)| *s)
            .collect())
    }

    fn to_record(
        &self,
        t: usize,
        serial: u64,
        fields: &[String],
        alias: Option<&str>,
        ctx: &Ctx<'_>,
    ) -> Record {
        Record {
            table: self.tables[t].name.clone(),
            alias: alias.map(str::to_owned),
            tableshort: self.tables[t].short.clone(),
            id: self.id_of(serial),
            fields: fields
                .iter()
                .map(|f| (f.clone(), self.output(t, serial, f, ctx)))
                .collect(),
            children: Vec::new(),
            deleted: self.data[t][&serial].deleted,
        }
    }

    fn check_query_names(&self, tq: &TableQuery) -> Result<(), CrmError> {
        let t = self.table(&tq.table)?;
        for f in &tq.fields {
            if ![ID_FIELD, UPD_FIELD, CREATED_FIELD].contains(&f.as_str()) {
                self.field(t, f)?;
            }
        }
        tq.children
            .iter()
            .try_for_each(|c| self.check_query_names(c))
    }

    fn query(&self, query: &Query, ctx: &Ctx<'_>) -> Result<Vec<Record>, CrmError> {
        self.check_query_names(&query.root)?;
        if let Some(c) = &query.condition {
            self.check_condition(c)?;
            // Like the emulator (G5): each top-level item names one table (alias); groups do not span tables.
            let items = match c {
                Condition::And(all) => all.iter().collect(),
                other => vec![other],
            };
            for item in items {
                let mut used = Vec::new();
                tables_of(item, &mut used);
                used.dedup();
                if used.len() > 1 {
                    return Err(err(
                        CrmErrorKind::Malformed,
                        "a <lop> group must only name fields of one table (alias); split it per table",
                    ));
                }
            }
        }
        let t = self.table(&query.root.table)?;
        let candidates: Vec<u64> = self.data[t].keys().copied().collect();
        self.read_level(t, &query.root, candidates, query.condition.as_ref(), ctx)
    }

    fn check_condition(&self, condition: &Condition) -> Result<(), CrmError> {
        match condition {
            Condition::Cond(cond) => {
                let t = self.table(&cond.table)?;
                if ![ID_FIELD, UPD_FIELD, CREATED_FIELD].contains(&cond.field.as_str()) {
                    self.field(t, &cond.field)?;
                }
                Ok(())
            }
            Condition::And(all) | Condition::Or(all) => {
                all.iter().try_for_each(|c| self.check_condition(c))
            }
        }
    }

    fn read_level(
        &self,
        t: usize,
        tq: &TableQuery,
        candidates: Vec<u64>,
        condition: Option<&Condition>,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<Record>, CrmError> {
        let read_deleted = tq.flags.contains(CursorFlags::READ_DELETED);
        let mut out = Vec::new();
        for serial in candidates {
            if tq.max_records.is_some_and(|m| out.len() >= m as usize) {
                break;
            }
            let rec = &self.data[t][&serial];
            if rec.deleted && !read_deleted {
                continue;
            }
            if let Some(c) = condition
                && !self.eval(c, t, tq, serial, ctx)
            {
                continue;
            }
            let mut record = self.to_record(t, serial, &tq.fields, tq.alias.as_deref(), ctx);
            let mut keep = true;
            for child in &tq.children {
                let ct = self.table(&child.table)?;
                let linked = self.linked(t, serial, ct);
                let children = self.read_level(ct, child, linked, condition, ctx)?;
                if child.flags.contains(CursorFlags::NOT_EXISTS) {
                    keep &= children.is_empty();
                } else if child.flags.contains(CursorFlags::WITH)
                    || child.flags.contains(CursorFlags::EXISTS)
                {
                    keep &= !children.is_empty();
                }
                if !child.flags.contains(CursorFlags::EXISTS)
                    && !child.flags.contains(CursorFlags::NOT_EXISTS)
                {
                    record.children.extend(children);
                }
            }
            if keep {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Serials of records of table `ct` linked to record `serial` of table `pt`, following the seed's links
    /// in either direction (like the emulator). An empty or zero link field points nowhere.
    fn linked(&self, pt: usize, serial: u64, ct: usize) -> Vec<u64> {
        let parent = &self.data[pt][&serial].values;
        let get = |values: &IndexMap<String, String>, f: &str| -> String {
            values.get(f).cloned().unwrap_or_default()
        };
        let set = |v: &str| !v.is_empty() && v != "0";
        // (field of the child record, field of the parent record) pairs that must be equal.
        let pairs: Vec<(String, String)> = if let Some(link) = self.tables[ct]
            .links
            .iter()
            .find(|l| l.parent == self.tables[pt].name)
        {
            link.fields
                .iter()
                .map(|(c, p)| (c.clone(), p.clone()))
                .collect()
        } else if let Some(link) = self.tables[pt]
            .links
            .iter()
            .find(|l| l.parent == self.tables[ct].name)
        {
            link.fields
                .iter()
                .map(|(c, p)| (p.clone(), c.clone()))
                .collect()
        } else {
            return Vec::new();
        };
        self.data[ct]
            .iter()
            .filter(|(_, r)| {
                pairs.iter().all(|(c, p)| {
                    let (cv, pv) = (get(&r.values, c), get(parent, p));
                    set(&cv) && cv.eq_ignore_ascii_case(&pv)
                })
            })
            .map(|(s, _)| *s)
            .collect()
    }

    /// Evaluates `condition` for one record; comparisons on other tables of the query count as true.
    fn eval(
        &self,
        condition: &Condition,
        t: usize,
        tq: &TableQuery,
        serial: u64,
        ctx: &Ctx<'_>,
    ) -> bool {
        match condition {
            Condition::And(all) => all.iter().all(|c| self.eval(c, t, tq, serial, ctx)),
            Condition::Or(all) => {
                let own: Vec<&Condition> = all.iter().filter(|c| self.concerns(c, tq)).collect();
                own.is_empty() || own.iter().any(|c| self.eval(c, t, tq, serial, ctx))
            }
            Condition::Cond(cond) => {
                if !self.concerns(condition, tq) {
                    return true;
                }
                self.compare(cond, t, serial, ctx)
            }
        }
    }

    fn concerns(&self, condition: &Condition, tq: &TableQuery) -> bool {
        match condition {
            Condition::Cond(c) => c.table == tq.table && c.alias == tq.alias,
            Condition::And(all) | Condition::Or(all) => all.iter().any(|c| self.concerns(c, tq)),
        }
    }

    fn compare(&self, cond: &Cond, t: usize, serial: u64, ctx: &Ctx<'_>) -> bool {
        let rec = &self.data[t][&serial];
        let field = self.tables[t].fields.get(&cond.field);
        let (have, kind) = match cond.field.as_str() {
            ID_FIELD => (self.id_of(serial).to_string(), Kind::Number),
            UPD_FIELD => (format_timestamp(rec.upd), Kind::Text),
            CREATED_FIELD => (format_timestamp(rec.created), Kind::Text),
            name => (
                rec.values.get(name).cloned().unwrap_or_default(),
                field.map_or(Kind::Text, |f| f.kind),
            ),
        };
        // A boolean without a value is false (like the emulator).
        let have = if kind == Kind::Bool && have.is_empty() {
            "false".to_owned()
        } else {
            have
        };
        let raw = cond.value.to_wire(&ctx.options.formats).unwrap_or_default();
        let wildcard = raw.contains('*') && matches!(cond.op, Op::Eq | Op::Ne);
        let want = match field {
            Some(f) if !wildcard && !raw.is_empty() => self
                .parse_value(t, &cond.field, f, &cond.value, ctx, false)
                .ok()
                .flatten()
                .unwrap_or(raw),
            _ => raw,
        };
        let (have_l, want_l) = (have.to_lowercase(), want.to_lowercase());
        // Numbers without a value compare as 0 (so `PeGrp = 0` finds company-only records).
        let number = |v: &str| {
            if v.is_empty() {
                Ok(0.0)
            } else {
                v.parse::<f64>()
            }
        };
        let ordering = || match (kind, number(&have), number(&want)) {
            (Kind::Number, Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(have_l.cmp(&want_l)),
        };
        use std::cmp::Ordering::*;
        match cond.op {
            Op::Eq if wildcard => wildcard_match(&want_l, &have_l),
            Op::Ne if wildcard => !wildcard_match(&want_l, &have_l),
            Op::Eq => ordering() == Some(Equal),
            Op::Ne => ordering() != Some(Equal),
            Op::Lt => ordering() == Some(Less),
            Op::Gt => ordering() == Some(Greater),
            Op::Le => matches!(ordering(), Some(Less | Equal)),
            Op::Ge => matches!(ordering(), Some(Greater | Equal)),
            Op::Contains => have_l.contains(&want_l),
            Op::NotContains => !have_l.contains(&want_l),
        }
    }
}

/// Like the emulator (G11): `#code` always, a bare code when `numeric` (catbynum), an external key, or a
/// text in any language (the request language first), case-insensitively.
fn resolve_catalog<'a>(
    values: &'a [CatalogValue],
    raw: &str,
    language: &str,
    numeric: bool,
) -> Option<&'a CatalogValue> {
    if let Some(code) = raw.strip_prefix('#') {
        return values.iter().find(|v| v.code == code);
    }
    if numeric && raw.parse::<u32>().is_ok() {
        return values.iter().find(|v| v.code == raw);
    }
    if let Some(v) = values.iter().find(|v| v.ext_key.as_deref() == Some(raw)) {
        return Some(v);
    }
    let lower = raw.to_lowercase();
    let text_in = |v: &&CatalogValue, lang: Option<&str>| {
        v.texts
            .iter()
            .any(|(l, t)| lang.is_none_or(|lang| l == lang) && t.to_lowercase() == lower)
    };
    values
        .iter()
        .find(|v| text_in(v, Some(language)))
        .or_else(|| values.iter().find(|v| text_in(v, None)))
}

fn tables_of<'a>(condition: &'a Condition, out: &mut Vec<(&'a str, Option<&'a str>)>) {
    match condition {
        Condition::Cond(c) => {
            let key = (c.table.as_str(), c.alias.as_deref());
            if !out.contains(&key) {
                out.push(key);
            }
        }
        Condition::And(all) | Condition::Or(all) => all.iter().for_each(|c| tables_of(c, out)),
    }
}

fn serial_of(id: &RecordId) -> u64 {
    id.as_str().parse::<u64>().unwrap_or(0) & 0xFFFF_FFFF
}

/// `*` matches any run of characters; everything else literally.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) {
        return false;
    }
    let mut rest = &text[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("acme*", "acme ltd"));
        assert!(wildcard_match("*ltd", "acme ltd"));
        assert!(wildcard_match("a*e*d", "acme ltd"));
        assert!(!wildcard_match("b*", "acme"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("ab*ab", "ab"));
    }

    #[test]
    fn sandbox_seed_loads() {
        let crm = MemoryCrm::sandbox();
        assert_eq!(crm.count_where("Rep", "RepID", "ANA"), 1);
        assert_eq!(
            crm.count_where("Person", "E-mail1", "frank@fabrikam.com"),
            1
        );
    }
}
