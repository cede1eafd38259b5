//! CRM.interface request execution: authentication and impersonation, custom-attribute echo, the commands
//! (`query`, `insert`, `update`, `delete`, `import`, `match`, `break`, `nop`) run in order, each atomic.
//!
//! The shapes follow docs/crm-interface-assumptions.md (the team's wire decisions) and the reference; this
//! module never uses the client's encoder, so it stays an independent check of it.

mod query;

use std::collections::HashSet;

use base64::Engine as _;
use jiff::Timestamp;

use super::{
    seed::{Login, Master, WritePolicy},
    store::{
        CATALOG_TABLE, CatMode, CrmError, Db, Field, Kind, Record, ValueCtx, is_unset, text_eq,
    },
    xml::{Element, parse},
    xpath,
};

/// Session attributes: allowed on `<request>` and on any command; never echoed.
const SESSION: &[&str] = &[
    "user",
    "pwd",
    "domain",
    "auth",
    "impersonate",
    "lang",
    "xml:lang",
    "client",
];
/// Request and command attributes the interface processes itself; never echoed.
const PROCESSED: &[&str] = &[
    "ixslt",
    "oxslt",
    "log",
    "logmode",
    "noerrorlog",
    "catbynum",
    "catexkeys",
    "catformat",
    "dateformatin",
    "__iflags",
    "if",
    "transaction",
];
/// Internal names: not echoed.
const INTERNAL: &[&str] = &[
    "tablename",
    "table",
    "tid",
    "fieldname",
    "field",
    "fields",
    "fid",
    "fnr",
    "name",
];
/// Protected names: an error when used as custom attributes.
const PROTECTED: &[&str] = &["text", "code", "value", "label", "upd", "null", "locked"];

/// The cursor flag bits the emulator acts on.
const WITH: u32 = 256;
const EXISTS: u32 = 512;
const NOT_EXISTS: u32 = 1024;
const READ_DELETED: u32 = 16384;

/// What one request did, for counters and persistence.
#[derive(Debug, Default)]
pub struct Outcome {
    pub response: String,
    /// Command kinds run (`query`, `insert`, …).
    pub commands: Vec<String>,
    /// Who sent it: login, or `MASTER as REPID` when impersonating.
    pub user: Option<String>,
    /// `<return type="error">` elements in the response.
    pub errors: usize,
    /// (table, id) of every record written.
    pub touched: Vec<(usize, u64)>,
    /// Tables whose id sequence moved (also by commands that failed), for persistence.
    pub advanced: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Session {
    label: String,
    /// Master user, not impersonating.
    master: bool,
    read_only: bool,
    lang: String,
}

/// The emulated CRM.interface: data plus the login configuration.
#[derive(Debug)]
pub struct Engine {
    pub db: Db,
    pub master: Master,
    pub logins: Vec<Login>,
    used_tickets: HashSet<String>,
}

fn error_element(e: &CrmError, index: Option<usize>, echo: &[(String, String)]) -> Element {
    let mut el = Element::new("return")
        .with_attr("type", "error")
        .with_attr("code", e.code);
    if let Some(t) = &e.table {
        el.set_attr("table", t);
    }
    if let Some(f) = &e.field {
        el.set_attr("field", f);
    }
    if let Some(i) = index {
        el.set_attr("index", i.to_string());
    }
    for (k, v) in echo {
        if el.attr(k).is_none() {
            el.set_attr(k, v);
        }
    }
    el.with_text(e.message.clone())
}

/// Custom attributes of an element (echoed), after rejecting protected names.
fn custom_attrs(el: &Element, also_processed: &[&str]) -> Result<Attrs, CrmError> {
    let mut out = Vec::new();
    for (k, v) in &el.attrs {
        if PROTECTED.contains(&k.as_str()) {
            return Err(CrmError::new(
                "protected-attribute",
                format!(
                    "attribute `{k}` on <{}> is a protected name (text code value label upd null locked) and cannot be a custom attribute",
                    el.name
                ),
            ));
        }
        if SESSION.contains(&k.as_str())
            || PROCESSED.contains(&k.as_str())
            || INTERNAL.contains(&k.as_str())
            || also_processed.contains(&k.as_str())
        {
            continue;
        }
        out.push((k.clone(), v.clone()));
    }
    Ok(out)
}

fn normalize_lang(raw: &str) -> String {
    let raw = raw.trim().to_ascii_lowercase();
    let code = raw.trim_end_matches(|c: char| c.is_ascii_digit());
    match (code, raw.as_str()) {
        ("", "0") => "de".to_owned(),
        ("", "1") => "en".to_owned(),
        ("", _) => "en".to_owned(),
        (c, _) => c.to_owned(),
    }
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v.map(str::trim), Some("true" | "1"))
}

impl Engine {
    pub fn new(db: Db, master: Master, logins: Vec<Login>) -> Engine {
        Engine {
            db,
            master,
            logins,
            used_tickets: HashSet::new(),
        }
    }

    /// Runs one request document and returns the response document.
    pub fn handle(&mut self, body: &str, now: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        let mut response = Element::new("response");
        let finish = |response: Element, mut out: Outcome| {
            out.errors = count_errors(&response);
            out.response = response.to_document();
            out
        };
        let request = match parse(body) {
            Ok(r) if r.name == "request" => r,
            Ok(r) => {
                let e = CrmError::new(
                    "malformed",
                    format!("expected a <request> root element, found <{}>", r.name),
                );
                response.push(error_element(&e, None, &[]));
                return finish(response, out);
            }
            Err(msg) => {
                response.push(error_element(&CrmError::new("malformed", msg), None, &[]));
                return finish(response, out);
            }
        };
        match custom_attrs(&request, &[]) {
            Ok(echo) => response.attrs = echo,
            Err(e) => {
                response.push(error_element(&e, None, &[]));
                return finish(response, out);
            }
        }
        let request_session = if has_credentials(&request.attrs) {
            match self.authenticate(&request.attrs) {
                Ok(s) => {
                    out.user = Some(s.label.clone());
                    Some(s)
                }
                Err(e) => {
                    response.push(error_element(&e, None, &[]));
                    return finish(response, out);
                }
            }
        } else if request.children.iter().any(|c| has_credentials(&c.attrs)) {
            None
        } else {
            let e = CrmError::new(
                "auth",
                "no credentials: expected user and pwd (or auth) on <request> or on the commands",
            );
            response.push(error_element(&e, None, &[]));
            return finish(response, out);
        };
        for cmd in &request.children {
            match cmd.name.as_str() {
                "nop" => continue,
                "break" => {
                    let Some(expr) = cmd.attr("if") else {
                        continue;
                    };
                    let fired = match xpath::compile(expr) {
                        Ok(path) => {
                            // the answers so far under an internal <root> (reference §3), without copying
                            let mut root = Element::new("root");
                            root.push(std::mem::take(&mut response));
                            let fired = path.matches(&root);
                            response = root.children.pop().expect("response was pushed");
                            fired
                        }
                        Err(msg) => {
                            let mut el = Element::new("break");
                            el.push(error_element(&CrmError::new("malformed", msg), None, &[]));
                            response.push(el);
                            break;
                        }
                    };
                    if fired {
                        // G15: no result element; the skipped commands answer nothing either
                        break;
                    }
                    continue;
                }
                _ => {}
            }
            out.commands.push(cmd.name.clone());
            let mut result = Element::new(cmd.name.clone());
            if let Err(e) = self.run_command(
                &request,
                cmd,
                request_session.as_ref(),
                &mut result,
                &mut out,
                now,
            ) {
                // A failed command wrote nothing: its answer is the error alone, no record ids.
                result.children.clear();
                result.push(error_element(&e.error, e.index, &e.echo));
            }
            response.push(result);
        }
        finish(response, out)
    }
}

/// The answer to a body that is not a request at all.
pub fn malformed_outcome(message: &str) -> Outcome {
    let mut response = Element::new("response");
    response.push(error_element(&malformed(message), None, &[]));
    Outcome {
        response: response.to_document(),
        errors: 1,
        ..Outcome::default()
    }
}

/// A command failure: the error plus the failing record's position and custom attributes.
#[derive(Debug)]
struct CommandError {
    error: CrmError,
    index: Option<usize>,
    echo: Vec<(String, String)>,
}

impl From<CrmError> for Box<CommandError> {
    fn from(error: CrmError) -> Self {
        Box::new(CommandError {
            error,
            index: None,
            echo: Vec::new(),
        })
    }
}

type CmdResult<T> = Result<T, Box<CommandError>>;

/// The custom attributes the answer to the `index`-th (1-based) record echoes; a bad attribute is
/// that record's error, echoing nothing.
fn record_echo(
    rec: &Element,
    also_processed: &[&str],
    index: usize,
) -> CmdResult<Vec<(String, String)>> {
    custom_attrs(rec, also_processed).map_err(|e| at_record(e, index, &[]))
}

/// `error` as the answer to the `index`-th (1-based) record, echoing its custom attributes.
fn at_record(error: CrmError, index: usize, echo: &[(String, String)]) -> Box<CommandError> {
    Box::new(CommandError {
        error,
        index: Some(index),
        echo: echo.to_vec(),
    })
}

fn has_credentials(attrs: &[(String, String)]) -> bool {
    attrs
        .iter()
        .any(|(k, _)| matches!(k.as_str(), "user" | "auth" | "domain"))
}

fn count_errors(el: &Element) -> usize {
    let own = usize::from(el.name == "return" && el.attr("type") == Some("error"));
    own + el.children.iter().map(count_errors).sum::<usize>()
}

fn malformed(msg: impl Into<String>) -> CrmError {
    CrmError::new("malformed", msg)
}

fn value_ctx(request: &Element, cmd: &Element, session: &Session) -> Result<ValueCtx, CrmError> {
    let get = |name: &str| cmd.attr(name).or_else(|| request.attr(name));
    let cat = if let Some(f) = get("catformat") {
        match f.trim().parse::<u8>() {
            Ok(n @ 1..=9) => CatMode::Format(n),
            _ => {
                return Err(malformed(format!(
                    "catformat `{f}`: expected a number 1..9"
                )));
            }
        }
    } else {
        match (truthy(get("catbynum")), truthy(get("catexkeys"))) {
            (true, true) => {
                return Err(malformed(
                    "catbynum and catexkeys are exclusive: set at most one to true",
                ));
            }
            (true, false) => CatMode::Code,
            (false, true) => CatMode::ExtKey,
            (false, false) => CatMode::Text,
        }
    };
    // a command's own language wins over the session's
    let lang = cmd
        .attr("xml:lang")
        .or_else(|| cmd.attr("lang"))
        .map(normalize_lang)
        .unwrap_or_else(|| session.lang.clone());
    Ok(ValueCtx { lang, cat })
}

impl Engine {
    fn authenticate(&mut self, attrs: &[(String, String)]) -> Result<Session, CrmError> {
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let lang = get("xml:lang")
            .or_else(|| get("lang"))
            .map(normalize_lang)
            .unwrap_or_else(|| self.master.language.clone());
        if get("domain").is_some() {
            return Err(CrmError::new(
                "auth",
                "domain (single sign-on) logins are not supported by the emulator: send user and pwd",
            ));
        }
        let (user, pwd) = if let Some(ticket) = get("auth") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(ticket.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
                .ok_or_else(|| {
                    CrmError::new(
                        "auth",
                        "auth ticket not understood: the emulator expects base64 of `user:password`",
                    )
                })?;
            if !self.used_tickets.insert(ticket.trim().to_owned()) {
                return Err(CrmError::new(
                    "auth",
                    "auth ticket already used: tickets are one-time",
                ));
            }
            decoded
        } else {
            (
                get("user").unwrap_or_default().to_owned(),
                get("pwd").unwrap_or_default().to_owned(),
            )
        };
        let login_failed = || CrmError::new("auth", "login failed: wrong user or password");
        let is_master = user.eq_ignore_ascii_case(&self.master.user);
        let mut session = if is_master {
            if pwd != self.master.password {
                return Err(login_failed());
            }
            Session {
                label: self.master.user.clone(),
                master: true,
                read_only: false,
                lang,
            }
        } else {
            let login = self
                .logins
                .iter()
                .find(|l| l.user.eq_ignore_ascii_case(&user))
                .filter(|l| l.password == pwd)
                .ok_or_else(login_failed)?;
            Session {
                label: login.user.clone(),
                master: false,
                read_only: login.read_only,
                lang,
            }
        };
        if let Some(target) = get("impersonate") {
            if !is_master || get("client") != Some(self.master.client.as_str()) {
                return Err(CrmError::new(
                    "permission-denied",
                    format!(
                        "impersonation is only allowed for the master user with client `{}`",
                        self.master.client
                    ),
                ));
            }
            let rep_id = self.impersonation_target(target)?;
            session.label = format!("{} as {rep_id}", self.master.user);
            session.master = false;
        }
        Ok(session)
    }

    /// `user=LOGIN;rep=REPNAME;email=ADDR`: the first part naming an existing rep wins.
    fn impersonation_target(&self, target: &str) -> Result<String, CrmError> {
        let reps = &self.db.data[self.db.rep_table()].records;
        for part in target.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                CrmError::new(
                    "auth",
                    format!(
                        "impersonate part `{part}`: expected user=LOGIN, rep=REPNAME or email=ADDR"
                    ),
                )
            })?;
            let field = match key.trim() {
                "user" => "Login",
                "rep" => "Name",
                "email" => "E-mail1",
                other => {
                    return Err(CrmError::new(
                        "auth",
                        format!("impersonate key `{other}`: expected user, rep or email"),
                    ));
                }
            };
            let value = value.trim();
            if let Some(rep) = reps.values().find(|r| {
                !r.deleted && !value.is_empty() && r.get(field).eq_ignore_ascii_case(value)
            }) {
                return Ok(rep.get("RepID").to_owned());
            }
        }
        Err(CrmError::new(
            "auth",
            format!("impersonation target not found: no rep matches `{target}`"),
        ))
    }

    fn run_command(
        &mut self,
        request: &Element,
        cmd: &Element,
        request_session: Option<&Session>,
        result: &mut Element,
        out: &mut Outcome,
        now: Timestamp,
    ) -> CmdResult<()> {
        result.attrs = custom_attrs(cmd, &[])?;
        let session = if has_credentials(&cmd.attrs) {
            let mut merged = request.attrs.clone();
            for (k, v) in &cmd.attrs {
                merged.retain(|(x, _)| x != k);
                merged.push((k.clone(), v.clone()));
            }
            if cmd.attr("user").is_some() && cmd.attr("auth").is_none() {
                merged.retain(|(x, _)| x != "auth");
            }
            let s = self.authenticate(&merged)?;
            out.user.get_or_insert_with(|| s.label.clone());
            s
        } else {
            request_session.cloned().ok_or_else(|| {
                CrmError::new(
                    "auth",
                    "no credentials: expected user and pwd (or auth) on <request> or on the command",
                )
            })?
        };
        let ctx = value_ctx(request, cmd, &session)?;
        self.db.begin();
        let res = match cmd.name.as_str() {
            "query" => self.query(cmd, &ctx, result),
            "insert" | "update" | "delete" | "import" => {
                self.write_command(cmd, &session, &ctx, result, now)
            }
            "match" => self.match_command(cmd, &ctx, result),
            "metainfo" => Err(malformed("the metainfo command is not supported by the emulator").into()),
            other => Err(malformed(format!(
                "unknown command <{other}>: expected query, insert, update, delete, import, match, break or nop"
            ))
            .into()),
        };
        match res {
            Ok(()) => out.touched.extend(self.db.commit()),
            Err(_) => self.db.rollback(),
        }
        out.advanced.extend(self.db.take_advanced());
        res
    }

    fn table_index(&self, name: Option<&str>) -> Result<usize, CrmError> {
        let name = name.ok_or_else(|| malformed("expected a tablename"))?;
        self.db.schema.table(name).ok_or_else(|| {
            CrmError::new(
                "unknown-table",
                format!(
                    "unknown table `{name}`: expected one of {}",
                    self.db
                        .schema
                        .tables
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .at(name, None)
        })
    }

    fn field_def(&self, table: usize, name: &str) -> Result<&Field, CrmError> {
        let t = &self.db.schema.tables[table];
        t.field(name).ok_or_else(|| {
            CrmError::new(
                "unknown-field",
                format!("unknown field `{name}` in table {}", t.name),
            )
            .at(&t.name, Some(name))
        })
    }

    fn check_write(&self, table: usize, session: &Session) -> Result<(), CrmError> {
        let t = &self.db.schema.tables[table];
        let denied = |why: &str| {
            Err(CrmError::new(
                "permission-denied",
                format!(
                    "permission denied: {} may not write table {}: {why}",
                    session.label, t.name
                ),
            )
            .at(&t.name, None))
        };
        if session.read_only {
            return denied("the login is read-only");
        }
        match t.write {
            WritePolicy::All => Ok(()),
            WritePolicy::Master if session.master => Ok(()),
            WritePolicy::Master => denied("only the master user (not impersonating) writes it"),
            WritePolicy::None => denied("the table is read-only"),
        }
    }

    /// Parses the field elements of one record: (field, parsed value, matchup).
    fn record_fields(
        &self,
        table: usize,
        rec: &Element,
        ctx: &ValueCtx,
        allow_readonly_matchup: bool,
    ) -> Result<Vec<(String, Option<String>, bool)>, CrmError> {
        let mut out = Vec::new();
        for f in &rec.children {
            if !f.children.is_empty() {
                return Err(malformed(format!(
                    "field <{}> of <{}> contains elements: nested records are not supported, set links by fields",
                    f.name, rec.name
                )));
            }
            let def = self.field_def(table, &f.name)?;
            let matchup = truthy(f.attr("matchup"));
            if def.readonly && !(matchup && allow_readonly_matchup) {
                let t = &self.db.schema.tables[table].name;
                return Err(CrmError::new(
                    "invalid-value",
                    format!("field {} of table {t} is read-only", def.name),
                )
                .at(t, Some(&def.name)));
            }
            let value = if def.readonly {
                // a read-only match-up key (StatNo, Upd…) is compared as given
                Some(f.text.trim().to_owned()).filter(|v| !v.is_empty())
            } else {
                self.db.parse_value(table, def, &f.text, ctx)?
            };
            out.push((f.name.clone(), value, matchup));
        }
        Ok(out)
    }

    fn record_id(&self, table: usize, rec: &Element) -> Result<u64, CrmError> {
        let t = &self.db.schema.tables[table].name;
        let raw = rec.attr("id").ok_or_else(|| {
            malformed(format!(
                "<{}> needs an id attribute naming the record",
                rec.name
            ))
        })?;
        raw.trim().parse::<u64>().map_err(|_| {
            CrmError::new(
                "not-found",
                format!("`{raw}` is not a record id of table {t}"),
            )
            .at(t, None)
        })
    }

    fn write_command(
        &mut self,
        cmd: &Element,
        session: &Session,
        ctx: &ValueCtx,
        result: &mut Element,
        now: Timestamp,
    ) -> CmdResult<()> {
        let fields = cmd
            .children
            .iter()
            .find(|c| c.name == "fields")
            .ok_or_else(|| malformed(format!("<{}> needs a <fields> element", cmd.name)))?;
        for (i, rec) in fields.children.iter().enumerate() {
            let echo = record_echo(rec, &["id"], i + 1)?;
            let wrap = |error: CrmError| at_record(error, i + 1, &echo);
            let table = self.table_index(Some(&rec.name)).map_err(wrap)?;
            self.check_write(table, session).map_err(wrap)?;
            let short = self.db.schema.tables[table].short.clone();
            let (id, action) = match cmd.name.as_str() {
                "insert" => {
                    let fields = self.record_fields(table, rec, ctx, false).map_err(wrap)?;
                    let changes = fields.into_iter().map(|(n, v, _)| (n, v)).collect();
                    (
                        self.db.write(table, None, changes, now).map_err(wrap)?,
                        None,
                    )
                }
                "update" => {
                    let id = self.record_id(table, rec).map_err(wrap)?;
                    let fields = self.record_fields(table, rec, ctx, false).map_err(wrap)?;
                    let changes = fields.into_iter().map(|(n, v, _)| (n, v)).collect();
                    (
                        self.db.write(table, Some(id), changes, now).map_err(wrap)?,
                        None,
                    )
                }
                "delete" => {
                    let id = self.record_id(table, rec).map_err(wrap)?;
                    self.db.delete(table, id, now).map_err(wrap)?;
                    (id, None)
                }
                _ => {
                    let fields = self.record_fields(table, rec, ctx, true).map_err(wrap)?;
                    let keys: Vec<(String, Option<String>)> = fields
                        .iter()
                        .filter(|(_, _, m)| *m)
                        .map(|(n, v, _)| (n.clone(), v.clone()))
                        .collect();
                    let existing = if keys.is_empty() {
                        Vec::new()
                    } else {
                        self.find_matching(table, &keys)
                    };
                    let changes: Vec<(String, Option<String>)> = fields
                        .into_iter()
                        .filter(|(n, _, _)| {
                            !self.db.schema.tables[table]
                                .field(n)
                                .is_some_and(|f| f.readonly)
                        })
                        .map(|(n, v, _)| (n, v))
                        .collect();
                    match existing.as_slice() {
                        [] => (
                            self.db.write(table, None, changes, now).map_err(wrap)?,
                            Some("insert"),
                        ),
                        [one] => (
                            self.db
                                .write(table, Some(*one), changes, now)
                                .map_err(wrap)?,
                            Some("update"),
                        ),
                        many => {
                            return Err(wrap(
                                CrmError::new(
                                    "ambiguous-match",
                                    format!(
                                        "{} records of table {} match the match-up fields ({}): ids {}; nothing was written",
                                        many.len(),
                                        rec.name,
                                        keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", "),
                                        many.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                                    ),
                                )
                                .at(&rec.name, None),
                            ));
                        }
                    }
                }
            };
            let mut el = Element::new(rec.name.clone())
                .with_attr("tableshort", short)
                .with_attr("id", id.to_string());
            if let Some(action) = action {
                el.set_attr("action", action);
            }
            for (k, v) in echo {
                el.set_attr(k, v);
            }
            result.push(el);
        }
        Ok(())
    }

    /// Ids of live records whose fields equal all `keys`, compared as query conditions compare text
    /// (G9: ignoring case; no value = unset).
    fn find_matching(&self, table: usize, keys: &[(String, Option<String>)]) -> Vec<u64> {
        self.db.data[table]
            .records
            .values()
            .filter(|r| !r.deleted)
            .filter(|r| {
                keys.iter().all(|(k, v)| {
                    let stored = match k.as_str() {
                        "Created" | "Upd" => std::borrow::Cow::Owned(field_text(r, k)),
                        _ => std::borrow::Cow::Borrowed(r.get(k)),
                    };
                    match v {
                        None => is_unset(&stored),
                        Some(v) => text_eq(&stored, v),
                    }
                })
            })
            .map(|r| r.id)
            .collect()
    }

    fn match_command(
        &mut self,
        cmd: &Element,
        ctx: &ValueCtx,
        result: &mut Element,
    ) -> CmdResult<()> {
        let fields = cmd
            .children
            .iter()
            .find(|c| c.name == "fields")
            .ok_or_else(|| malformed("<match> needs a <fields> element"))?;
        for (i, rec) in fields.children.iter().enumerate() {
            let echo = record_echo(rec, &[], i + 1)?;
            let wrap = |error: CrmError| at_record(error, i + 1, &echo);
            let table = self.table_index(Some(&rec.name)).map_err(wrap)?;
            let given = self.record_fields(table, rec, ctx, true).map_err(wrap)?;
            let mut keys: Vec<(String, Option<String>)> = given
                .iter()
                .filter(|(_, _, m)| *m)
                .map(|(n, v, _)| (n.clone(), v.clone()))
                .collect();
            if keys.is_empty() {
                keys = given
                    .into_iter()
                    .filter(|(_, v, _)| v.is_some())
                    .map(|(n, v, _)| (n, v))
                    .collect();
            }
            if keys.is_empty() {
                return Err(wrap(malformed(format!(
                    "<{}> in <match> names no field to match on: mark fields with matchup=\"true\"",
                    rec.name
                ))));
            }
            let schema = self.db.schema.clone();
            let t = &schema.tables[table];
            for id in self.find_matching(table, &keys) {
                let record = &self.db.data[table].records[&id];
                let mut el =
                    self.record_element(table, &rec.name, record, &all_fields(&t.fields), ctx);
                for (k, v) in &echo {
                    el.set_attr(k, v);
                }
                result.push(el);
            }
        }
        Ok(())
    }

    /// One record's answer element: `fields` are (field, custom attributes to echo on its element).
    fn record_element(
        &self,
        table: usize,
        name: &str,
        rec: &Record,
        fields: &[(String, Attrs)],
        ctx: &ValueCtx,
    ) -> Element {
        let t = &self.db.schema.tables[table];
        let mut el = Element::new(name)
            .with_attr("tableshort", t.short.clone())
            .with_attr("id", rec.id.to_string());
        if rec.deleted {
            el.set_attr("deleted", "true");
        }
        for (f, echo) in fields {
            let Some(def) = t.field(f) else { continue };
            if t.name == CATALOG_TABLE && f == "Text" {
                for lang in &self.db.schema.languages {
                    let text = rec.get(&format!("Text:{lang}"));
                    let mut text_el = Element::new("Text")
                        .with_attr("lang", lang.clone())
                        .with_text(text);
                    text_el.attrs.extend(echo.iter().cloned());
                    el.push(text_el);
                }
                continue;
            }
            let value = match def.kind {
                Kind::Timestamp if f == "Created" => super::store::format_ts(rec.created),
                Kind::Timestamp => super::store::format_ts(rec.upd),
                _ => self.db.format(def, rec.get(f), ctx),
            };
            let mut field_el = Element::new(f.clone()).with_text(value);
            field_el.attrs = echo.clone();
            el.push(field_el);
        }
        el
    }
}

/// Custom attributes to echo, as (name, value) pairs.
type Attrs = Vec<(String, String)>;

fn all_fields(fields: &[Field]) -> Vec<(String, Attrs)> {
    fields
        .iter()
        .map(|f| (f.name.clone(), Vec::new()))
        .collect()
}

/// The stored text of a field including the system fields (for match-up on them).
fn field_text(rec: &Record, field: &str) -> String {
    match field {
        "Created" => super::store::format_ts(rec.created),
        "Upd" => super::store::format_ts(rec.upd),
        _ => rec.get(field).to_owned(),
    }
}
