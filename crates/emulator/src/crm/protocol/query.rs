//! The `<query>` command: nested tables with aliases, `<cond>`/`<lop>` conditions with every documented
//! operator and `*` wildcards, `maxrecords`, cursor flags WITH / EXISTS / NOT EXISTS / read deleted.
//!
//! Records come out ordered by id ascending; children are nested in their parent's element. Text compares
//! case-insensitively (like the CRM's SQL collation).
//!
//! A query may nest [`MAX_TABLE_DEPTH`] levels of `<table>` below its root and answer at most
//! [`MAX_RECORDS`] record elements in all: nested reads multiply, and a few dozen levels would
//! otherwise build an answer of hundreds of megabytes. Past either limit the command answers the
//! interface's error (`malformed` for the depth, `limit-exceeded` for the size) and nothing else.

use jiff::Timestamp;

use super::{
    Attrs, CmdResult, EXISTS, Engine, NOT_EXISTS, READ_DELETED, WITH, custom_attrs, malformed,
    truthy,
};

/// Levels of `<table>` a query may nest below its root table.
pub const MAX_TABLE_DEPTH: usize = 8;
/// Record elements one query may answer (nested ones included).
pub const MAX_RECORDS: usize = 10_000;
use crate::crm::{
    store::{CrmError, Field, Kind, Record, ValueCtx, parse_ts, text_eq},
    xml::Element,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
    NotContains,
}

#[derive(Debug, Clone)]
enum Target {
    Num(f64),
    Code(u32),
    Ts(Timestamp),
    Text(String),
}

#[derive(Debug, Clone)]
enum Cond {
    Leaf {
        node: usize,
        field: String,
        /// The field's definition (none for the pseudo field `ID`).
        def: Option<Field>,
        op: Op,
        target: Target,
    },
    Group {
        or: bool,
        items: Vec<Cond>,
    },
}

#[derive(Debug)]
struct Node {
    table: usize,
    tablename: String,
    alias: Option<String>,
    name: String,
    maxrecords: Option<usize>,
    flags: u32,
    link_id: usize,
    allfields: bool,
    children: Vec<usize>,
    /// Requested fields with the custom attributes of the `<fields>`/`<field>` that named them.
    fields: Vec<(String, Attrs)>,
    conds: Vec<Cond>,
}

fn parse_op(raw: &str) -> Option<Op> {
    Some(match raw.trim() {
        "=" => Op::Eq,
        "!=" | "<>" => Op::Ne,
        "<" => Op::Lt,
        ">" => Op::Gt,
        "<=" => Op::Le,
        ">=" => Op::Ge,
        "()" => Op::Contains,
        ")(" => Op::NotContains,
        _ => return None,
    })
}

/// `*` matches any run of characters; everything else literally (both sides already lowercase).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn ordering_holds(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Ne => ord != Equal,
        Op::Lt => ord == Less,
        Op::Gt => ord == Greater,
        Op::Le => ord != Greater,
        Op::Ge => ord != Less,
        Op::Contains | Op::NotContains => false,
    }
}

impl Engine {
    pub(super) fn query(
        &self,
        cmd: &Element,
        ctx: &ValueCtx,
        result: &mut Element,
    ) -> CmdResult<()> {
        let tables = cmd
            .children
            .iter()
            .find(|c| c.name == "tables")
            .ok_or_else(|| malformed("<query> needs a <tables> element"))?;
        let root_tables: Vec<&Element> = tables
            .children
            .iter()
            .filter(|c| c.name == "table")
            .collect();
        let [root] = root_tables.as_slice() else {
            return Err(malformed("<tables> needs exactly one top-level <table>").into());
        };
        let mut nodes = Vec::new();
        self.build_nodes(root, &mut nodes, 0)?;
        if let Some(condition) = cmd.children.iter().find(|c| c.name == "condition") {
            for item in &condition.children {
                let cond = self.parse_cond(item, &nodes, ctx)?;
                let mut used = Vec::new();
                nodes_of(&cond, &mut used);
                used.sort_unstable();
                used.dedup();
                match used.as_slice() {
                    [] => {}
                    [n] => nodes[*n].conds.push(cond),
                    _ => {
                        return Err(malformed(
                            "a <lop> group must only name fields of one table (alias); split it per table",
                        )
                        .into());
                    }
                }
            }
        }
        self.place_fields(cmd, &mut nodes)?;
        for node in &mut nodes {
            if node.allfields {
                node.fields = self.db.schema.tables[node.table]
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), Vec::new()))
                    .collect();
            }
        }
        let limit = nodes[0].maxrecords.unwrap_or(usize::MAX);
        let mut count = 0;
        let mut budget = MAX_RECORDS;
        for rec in self.select(&nodes, 0, None, ctx)? {
            if count >= limit {
                break;
            }
            if let Some(el) = self.emit(&nodes, 0, rec, ctx, &mut budget)? {
                result.push(el);
                count += 1;
            }
        }
        Ok(())
    }

    /// Gives each node the fields `<fields tablename alias fields="…">` and `<field>` name, with their
    /// custom attributes to echo on the field elements. A table name without alias names the
    /// table's read without alias and each aliased read of it that no `<fields>` names by alias
    /// (the reference's §3.1 lists Contact's fields once for both of its reads).
    fn place_fields(&self, cmd: &Element, nodes: &mut [Node]) -> Result<(), CrmError> {
        // (tablename, alias, field, echo) in document order
        let mut wanted: Vec<(Option<&str>, Option<&str>, &str, Attrs)> = Vec::new();
        for fields in cmd.children.iter().filter(|c| c.name == "fields") {
            let echo = custom_attrs(fields, &["alias"])?;
            if let Some(list) = fields.attr("fields") {
                for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    let at = (fields.attr("tablename"), fields.attr("alias"));
                    wanted.push((at.0, at.1, f, echo.clone()));
                }
            }
            for field in fields.children.iter().filter(|c| c.name == "field") {
                let f = field.attr("fieldname").ok_or_else(|| {
                    malformed("<field> needs a fieldname (fid and fnr are not supported)")
                })?;
                let mut echo = echo.clone();
                for (k, v) in custom_attrs(field, &["alias"])? {
                    echo.retain(|(x, _)| *x != k);
                    echo.push((k, v));
                }
                let tablename = field.attr("tablename").or(fields.attr("tablename"));
                let alias = field.attr("alias").or(fields.attr("alias"));
                wanted.push((tablename, alias, f, echo));
            }
        }
        let named_by_alias: Vec<usize> = wanted
            .iter()
            .filter(|(_, alias, _, _)| alias.is_some())
            .map(|(t, a, _, _)| find_node(nodes, *t, *a))
            .collect::<Result<_, _>>()?;
        for (tablename, alias, f, echo) in wanted {
            let targets: Vec<usize> = match (tablename, alias) {
                (Some(t), None) => nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, n)| {
                        n.tablename == t && (n.alias.is_none() || !named_by_alias.contains(i))
                    })
                    .map(|(i, _)| i)
                    .collect(),
                _ => vec![find_node(nodes, tablename, alias)?],
            };
            if targets.is_empty()
                && !nodes
                    .iter()
                    .any(|n| Some(n.tablename.as_str()) == tablename)
            {
                // names no read at all (every read of the table has fields of its own otherwise)
                find_node(nodes, tablename, alias)?;
            }
            for n in targets {
                self.field_def(nodes[n].table, f)?;
                nodes[n].fields.push((f.to_owned(), echo.clone()));
            }
        }
        Ok(())
    }

    fn build_nodes(
        &self,
        el: &Element,
        nodes: &mut Vec<Node>,
        depth: usize,
    ) -> Result<usize, CrmError> {
        if depth > MAX_TABLE_DEPTH {
            return Err(malformed(format!(
                "<table> elements nested {depth} levels deep; expected at most {MAX_TABLE_DEPTH} levels below the top-level table"
            )));
        }
        let table = self.table_index(el.attr("tablename"))?;
        let alias = el.attr("alias").map(str::to_owned);
        let tablename = self.db.schema.tables[table].name.clone();
        let number = |attr: &str| -> Result<Option<u64>, CrmError> {
            el.attr(attr)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        malformed(format!(
                            "<table tablename=\"{tablename}\"> attribute {attr}=`{v}`: expected a whole number"
                        ))
                    })
                })
                .transpose()
        };
        number("flags2")?;
        let maxrecords = number("maxrecords")?.map(|n| n as usize).filter(|n| *n > 0);
        let flags = number("flags")?.unwrap_or(0) as u32;
        let link_id = number("linkId")?.unwrap_or(0) as usize;
        let index = nodes.len();
        nodes.push(Node {
            table,
            name: alias.clone().unwrap_or_else(|| tablename.clone()),
            tablename,
            alias,
            maxrecords,
            flags,
            link_id,
            allfields: truthy(el.attr("allfields")),
            children: Vec::new(),
            fields: Vec::new(),
            conds: Vec::new(),
        });
        for child in el.children.iter().filter(|c| c.name == "table") {
            let c = self.build_nodes(child, nodes, depth + 1)?;
            nodes[index].children.push(c);
        }
        Ok(index)
    }

    fn parse_cond(&self, el: &Element, nodes: &[Node], ctx: &ValueCtx) -> Result<Cond, CrmError> {
        match el.name.as_str() {
            "lop" => {
                let or = match el.attr("value").map(|v| v.trim().to_ascii_lowercase()) {
                    None => false,
                    Some(v) if v == "and" => false,
                    Some(v) if v == "or" => true,
                    Some(v) => {
                        return Err(malformed(format!(
                            "<lop value=\"{v}\">: expected and or or"
                        )));
                    }
                };
                let items = el
                    .children
                    .iter()
                    .map(|c| self.parse_cond(c, nodes, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Cond::Group { or, items })
            }
            "cond" => {
                for unsupported in ["lupd", "value2", "extkey2", "mnr2"] {
                    if el.attr(unsupported).is_some() {
                        return Err(malformed(format!(
                            "<cond {unsupported}=…> is not supported by the emulator (no hierarchical catalogs; for changed-since use a condition on the system field Upd)"
                        )));
                    }
                }
                let node = find_node(nodes, el.attr("tablename"), el.attr("alias"))?;
                let table = nodes[node].table;
                let field = el
                    .attr("fieldname")
                    .ok_or_else(|| malformed("<cond> needs a fieldname"))?
                    .to_owned();
                let raw_op = el.attr("op").unwrap_or("=");
                let op = parse_op(raw_op).ok_or_else(|| {
                    malformed(format!(
                        "<cond> op `{raw_op}`: expected one of = != <> < > <= >= () )("
                    ))
                })?;
                let value = el.attr("value").unwrap_or_default();
                let tname = &self.db.schema.tables[table].name;
                let bad = |expected: &str| {
                    CrmError::new(
                        "invalid-value",
                        format!("condition on {tname}.{field}: value `{value}` is not {expected}"),
                    )
                    .at(tname, Some(&field))
                };
                if field.eq_ignore_ascii_case("id")
                    && self.db.schema.tables[table].field(&field).is_none()
                {
                    let field = "id".to_owned();
                    let id = value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| bad("a record id"))?;
                    return Ok(Cond::Leaf {
                        node,
                        field,
                        def: None,
                        op,
                        target: Target::Num(id as f64),
                    });
                }
                let def = self.field_def(table, &field)?;
                let textual = matches!(op, Op::Contains | Op::NotContains) || value.contains('*');
                let (_kind, target) = match def.kind {
                    Kind::Number if !textual => (
                        Kind::Number,
                        Target::Num(if value.trim().is_empty() {
                            0.0
                        } else {
                            value.trim().parse().map_err(|_| bad("a number"))?
                        }),
                    ),
                    Kind::Timestamp if !textual => (
                        Kind::Timestamp,
                        Target::Ts(parse_ts(value).ok_or_else(|| bad("an RFC 3339 timestamp"))?),
                    ),
                    Kind::Catalog
                        if !(textual || value.is_empty() && el.attr("extkey").is_none()) =>
                    {
                        let cat = &self.db.schema.catalogs[def.catalog.expect("catalog field")];
                        let raw = el.attr("extkey").unwrap_or(value);
                        let code = cat
                            .resolve(raw, &ctx.lang, ctx.cat == super::CatMode::Code)
                            .ok_or_else(|| {
                                CrmError::new(
                                    "invalid-value",
                                    format!(
                                        "condition on {tname}.{field}: `{raw}` is not a value of catalog `{}`: {}",
                                        cat.name,
                                        cat.describe(&ctx.lang)
                                    ),
                                )
                                .at(tname, Some(&field))
                            })?;
                        (Kind::Catalog, Target::Code(code))
                    }
                    Kind::Bool if !textual => (
                        Kind::Text,
                        Target::Text(match value.trim() {
                            "true" | "1" | "t" => "true".to_owned(),
                            "false" | "0" | "f" | "" => "false".to_owned(),
                            _ => return Err(bad("true or false")),
                        }),
                    ),
                    Kind::Bool => (Kind::Bool, Target::Text(value.to_lowercase())),
                    Kind::Catalog => (Kind::Catalog, Target::Text(value.to_lowercase())),
                    _ => (Kind::Text, Target::Text(value.to_lowercase())),
                };
                let def = Some(def.clone());
                Ok(Cond::Leaf {
                    node,
                    field,
                    def,
                    op,
                    target,
                })
            }
            other => Err(malformed(format!(
                "<{other}> inside <condition>: expected <cond> or <lop>"
            ))),
        }
    }

    /// `text_ctx`: the request language with catalogs as text (what `*` and `()` compare against).
    fn eval(&self, cond: &Cond, table: usize, rec: &Record, text_ctx: &ValueCtx) -> bool {
        match cond {
            Cond::Group { or: true, items } => {
                items.iter().any(|c| self.eval(c, table, rec, text_ctx))
            }
            Cond::Group { or: false, items } => {
                items.iter().all(|c| self.eval(c, table, rec, text_ctx))
            }
            Cond::Leaf {
                field,
                def,
                op,
                target,
                ..
            } => {
                let def = def.as_ref();
                match target {
                    Target::Num(n) => {
                        let stored = if field == "id" {
                            rec.id as f64
                        } else {
                            rec.get(field).trim().parse::<f64>().unwrap_or(0.0)
                        };
                        stored
                            .partial_cmp(n)
                            .is_some_and(|ord| ordering_holds(*op, ord))
                    }
                    Target::Ts(ts) => {
                        let stored = if field == "Created" {
                            rec.created
                        } else {
                            rec.upd
                        };
                        ordering_holds(*op, stored.cmp(ts))
                    }
                    Target::Code(code) => {
                        let stored: Option<u32> = rec.get(field).parse().ok();
                        match stored {
                            Some(s) => ordering_holds(*op, s.cmp(code)),
                            None => *op == Op::Ne,
                        }
                    }
                    Target::Text(want) => {
                        let plain = matches!(
                            def.map(|d| d.kind),
                            None | Some(Kind::Text | Kind::Rep | Kind::Date | Kind::Time)
                        );
                        if plain && matches!(op, Op::Eq | Op::Ne) && !want.contains('*') {
                            // the common lookup (e-mail, GraphId): compare without allocating
                            let stored = self.db.value(table, rec, field, &text_ctx.lang);
                            return text_eq(stored, want) == (*op == Op::Eq);
                        }
                        let stored = match def.map(|d| d.kind) {
                            Some(Kind::Catalog) => {
                                self.db
                                    .format(def.expect("field exists"), rec.get(field), text_ctx)
                            }
                            Some(Kind::Bool) => if rec.get(field) == "true" {
                                "true"
                            } else {
                                "false"
                            }
                            .to_owned(),
                            Some(Kind::Timestamp) => {
                                crate::crm::store::format_ts(if field == "Created" {
                                    rec.created
                                } else {
                                    rec.upd
                                })
                            }
                            _ => self.db.value(table, rec, field, &text_ctx.lang).to_owned(),
                        }
                        .to_lowercase();
                        match op {
                            Op::Contains => stored.contains(want.as_str()),
                            Op::NotContains => !stored.contains(want.as_str()),
                            Op::Eq if want.contains('*') => glob(want, &stored),
                            Op::Ne if want.contains('*') => !glob(want, &stored),
                            op => ordering_holds(*op, stored.as_str().cmp(want.as_str())),
                        }
                    }
                }
            }
        }
    }

    /// Records of node `n` (children of `parent` if given) passing its conditions and the deleted filter.
    fn select<'a>(
        &'a self,
        nodes: &[Node],
        n: usize,
        parent: Option<(usize, &'a Record)>,
        ctx: &ValueCtx,
    ) -> Result<Vec<&'a Record>, CrmError> {
        let node = &nodes[n];
        let candidates: Vec<&Record> = match parent {
            Some((ptable, prec)) => self.db.children(ptable, prec, node.table, node.link_id)?,
            None => self.db.data[node.table].records.values().collect(),
        };
        let read_deleted = node.flags & READ_DELETED != 0;
        let text_ctx = ValueCtx {
            lang: ctx.lang.clone(),
            cat: super::CatMode::Text,
        };
        Ok(candidates
            .into_iter()
            .filter(|r| read_deleted || !r.deleted)
            .filter(|r| {
                node.conds
                    .iter()
                    .all(|c| self.eval(c, node.table, r, &text_ctx))
            })
            .collect())
    }

    /// The element of one record with its nested children, or `None` when a WITH / EXISTS / NOT EXISTS
    /// child condition excludes it. Every element built takes one of `budget`'s records.
    fn emit(
        &self,
        nodes: &[Node],
        n: usize,
        rec: &Record,
        ctx: &ValueCtx,
        budget: &mut usize,
    ) -> Result<Option<Element>, CrmError> {
        let node = &nodes[n];
        *budget = budget.checked_sub(1).ok_or_else(|| {
            CrmError::new(
                "limit-exceeded",
                format!(
                    "the query answers more than {MAX_RECORDS} records (nested ones included); narrow its conditions or set maxrecords on its tables"
                ),
            )
            .at(&nodes[0].tablename, None)
        })?;
        let mut el = self.record_element(node.table, &node.name, rec, &node.fields, ctx);
        for &c in &node.children {
            let child = &nodes[c];
            let existence = child.flags & (EXISTS | NOT_EXISTS) != 0;
            let limit = if existence {
                1
            } else {
                child.maxrecords.unwrap_or(usize::MAX)
            };
            let mut kids = Vec::new();
            for r in self.select(nodes, c, Some((node.table, rec)), ctx)? {
                if kids.len() >= limit {
                    break;
                }
                if let Some(k) = self.emit(nodes, c, r, ctx, budget)? {
                    kids.push(k);
                }
            }
            if child.flags & NOT_EXISTS != 0 {
                if !kids.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            if child.flags & EXISTS != 0 {
                if kids.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            if child.flags & WITH != 0 && kids.is_empty() {
                return Ok(None);
            }
            el.children.extend(kids);
        }
        Ok(Some(el))
    }
}

fn nodes_of(cond: &Cond, out: &mut Vec<usize>) {
    match cond {
        Cond::Leaf { node, .. } => out.push(*node),
        Cond::Group { items, .. } => items.iter().for_each(|c| nodes_of(c, out)),
    }
}

/// The node a condition or field list names: tablename + alias; no tablename = the top-level table.
fn find_node(
    nodes: &[Node],
    tablename: Option<&str>,
    alias: Option<&str>,
) -> Result<usize, CrmError> {
    let Some(tablename) = tablename else {
        return Ok(0);
    };
    nodes
        .iter()
        .position(|n| n.tablename == tablename && n.alias.as_deref() == alias)
        .or_else(|| {
            // an alias alone also names the node
            alias.and_then(|a| nodes.iter().position(|n| n.alias.as_deref() == Some(a)))
        })
        .ok_or_else(|| {
            malformed(format!(
                "table `{tablename}`{} is not in <tables>",
                alias
                    .map(|a| format!(" with alias `{a}`"))
                    .unwrap_or_default()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn wildcard_matches_any_run() {
        assert!(glob("acme*", "acme ltd"));
        assert!(glob("*ltd", "acme ltd"));
        assert!(glob("a*e*d", "acme ltd"));
        assert!(glob("*", ""));
        assert!(!glob("acme*", "the acme"));
        assert!(!glob("a*x", "acme ltd"));
    }
}
