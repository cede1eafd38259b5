//! A small OData `$filter` parser and evaluator, and `$select` handling.
//!
//! It covers what the connector and an admin with curl use: `eq ne gt ge lt le`, `and or not`,
//! `startswith/endswith/contains`, lambdas (`singleValueExtendedProperties/Any(ep: ep/id eq '…'
//! and ep/value eq '…')`, `linkedResources/any(r: r/externalId eq '…')`) and `path/$count`.
//! String comparisons ignore case, as Exchange does for addresses and property values; the name in
//! an extended property id is the exception (case-sensitive, as Exchange documents).
//!
//! Expressions deeper than [`MAX_DEPTH`] (nested parentheses, `not`, lambdas, long `and`/`or`
//! chains) are refused with OData's "Recursion depth exceeded allowed limit.", so parsing,
//! evaluating and dropping an expression never recurse further than that.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Lit(String),
    Open,
    Close,
    Comma,
    Colon,
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, String, Lit),
    Func(String, String, Lit),
    Any(String, String, Box<Expr>),
}

#[derive(Debug, Clone)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Raw(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    if i >= chars.len() {
                        return Err("unterminated string literal".into());
                    }
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            v.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    v.push(chars[i]);
                    i += 1;
                }
                out.push(Tok::Str(v));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | ')' | ',') {
                    i += 1;
                }
                out.push(Tok::Lit(chars[start..i].iter().collect()));
            }
            c if c.is_alphanumeric() || c == '$' || c == '@' || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '/' | '.' | '_' | '$' | '@'))
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(out)
}

/// The deepest expression tree accepted (the OData library's own limit is higher, but a tree this
/// deep is already far beyond any real filter, and keeps recursion well inside a thread's stack).
pub const MAX_DEPTH: usize = 100;

/// OData's message when an expression nests too deeply.
pub const TOO_DEEP: &str = "Recursion depth exceeded allowed limit.";

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Parser functions currently active (each nested `(`, `not` and lambda adds some).
    level: usize,
}

/// An expression and the depth of its tree.
type Parsed = (Expr, usize);

fn deeper(depth: usize) -> Result<usize, String> {
    let d = depth + 1;
    if d > MAX_DEPTH {
        Err(TOO_DEEP.to_owned())
    } else {
        Ok(d)
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }
    fn or(&mut self) -> Result<Parsed, String> {
        self.level += 1;
        if self.level > MAX_DEPTH {
            return Err(TOO_DEEP.to_owned());
        }
        let (mut left, mut depth) = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let (right, d) = self.and()?;
            depth = deeper(depth.max(d))?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        self.level -= 1;
        Ok((left, depth))
    }
    fn and(&mut self) -> Result<Parsed, String> {
        let (mut left, mut depth) = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let (right, d) = self.unary()?;
            depth = deeper(depth.max(d))?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok((left, depth))
    }
    fn unary(&mut self) -> Result<Parsed, String> {
        if self.keyword("not") {
            self.pos += 1;
            self.level += 1;
            if self.level > MAX_DEPTH {
                return Err(TOO_DEEP.to_owned());
            }
            let (e, d) = self.unary()?;
            self.level -= 1;
            return Ok((Expr::Not(Box::new(e)), deeper(d)?));
        }
        self.primary()
    }
    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Lit(s)) => Ok(s.parse::<f64>().map(Lit::Num).unwrap_or(Lit::Raw(s))),
            Some(Tok::Ident(s)) if s == "true" => Ok(Lit::Bool(true)),
            Some(Tok::Ident(s)) if s == "false" => Ok(Lit::Bool(false)),
            Some(Tok::Ident(s)) if s == "null" => Ok(Lit::Null),
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }
    fn primary(&mut self) -> Result<Parsed, String> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                self.expect(Tok::Close)?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                let lower = name.to_ascii_lowercase();
                if matches!(self.peek(), Some(Tok::Open)) {
                    self.pos += 1;
                    if lower.ends_with("/any") || lower.ends_with("/all") {
                        let path = name[..name.len() - 4].to_owned();
                        let var = match self.next() {
                            Some(Tok::Ident(v)) => v,
                            other => {
                                return Err(format!("expected a lambda variable, found {other:?}"));
                            }
                        };
                        self.expect(Tok::Colon)?;
                        let (body, d) = self.or()?;
                        self.expect(Tok::Close)?;
                        return Ok((Expr::Any(path, var, Box::new(body)), deeper(d)?));
                    }
                    if matches!(lower.as_str(), "startswith" | "endswith" | "contains") {
                        let path = match self.next() {
                            Some(Tok::Ident(p)) => p,
                            other => return Err(format!("expected a property, found {other:?}")),
                        };
                        self.expect(Tok::Comma)?;
                        let lit = self.literal()?;
                        self.expect(Tok::Close)?;
                        return Ok((Expr::Func(lower, path, lit), 1));
                    }
                    return Err(format!("function `{name}` is not supported"));
                }
                let op = match self.next() {
                    Some(Tok::Ident(op))
                        if matches!(op.as_str(), "eq" | "ne" | "gt" | "ge" | "lt" | "le") =>
                    {
                        op
                    }
                    other => {
                        return Err(format!(
                            "expected an operator after `{name}`, found {other:?}"
                        ));
                    }
                };
                let lit = self.literal()?;
                Ok((Expr::Cmp(name, op, lit), 1))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// Parses a `$filter` expression.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
        level: 0,
    };
    let (e, _) = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "unexpected text after the expression: {:?}",
            &p.toks[p.pos..]
        ));
    }
    Ok(e)
}

impl Expr {
    /// Directory "advanced query" features (need `ConsistencyLevel: eventual` + `$count=true`).
    pub fn is_advanced(&self) -> bool {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.is_advanced() || b.is_advanced(),
            Expr::Not(_) => true,
            Expr::Cmp(path, op, _) => op == "ne" || path.contains("$count"),
            Expr::Func(f, _, _) => f != "startswith",
            Expr::Any(_, _, b) => b.is_advanced(),
        }
    }

    pub fn eval(&self, item: &Value) -> bool {
        self.eval_in(item, &[], None)
    }

    /// Evaluates a `$expand=singleValueExtendedProperties($filter=…)` filter against one property
    /// (`{"id", "value"}`): the name in its id compares case-sensitively.
    pub fn eval_ext_property(&self, property: &Value) -> bool {
        self.eval_in(property, &[], Some(""))
    }

    /// `ext`: the lambda variable bound to an extended property (`""` when the item is one), whose
    /// `id` compares by [`ext_id_key`] and whose string `value` compares with numbers numerically.
    fn eval_in(&self, item: &Value, vars: &[(&str, &Value)], ext: Option<&str>) -> bool {
        match self {
            Expr::And(a, b) => a.eval_in(item, vars, ext) && b.eval_in(item, vars, ext),
            Expr::Or(a, b) => a.eval_in(item, vars, ext) || b.eval_in(item, vars, ext),
            Expr::Not(a) => !a.eval_in(item, vars, ext),
            Expr::Cmp(path, op, lit) => {
                let value = resolve(item, path, vars);
                match (ext, lit) {
                    (Some(var), Lit::Str(l)) if names(path, var, "id") => {
                        let equal = value.as_str().map(ext_id_key) == Some(ext_id_key(l));
                        match op.as_str() {
                            "eq" => equal,
                            "ne" => !equal,
                            _ => false,
                        }
                    }
                    (Some(var), Lit::Num(_)) if names(path, var, "value") => {
                        let number = value
                            .as_str()
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .map_or(Value::Null, Value::from);
                        compare(&number, op, lit)
                    }
                    _ => compare(&value, op, lit),
                }
            }
            Expr::Func(f, path, lit) => {
                let (Value::String(v), Lit::Str(l)) = (resolve(item, path, vars), lit) else {
                    return false;
                };
                let (v, l) = (v.to_lowercase(), l.to_lowercase());
                match f.as_str() {
                    "startswith" => v.starts_with(&l),
                    "endswith" => v.ends_with(&l),
                    _ => v.contains(&l),
                }
            }
            Expr::Any(path, var, body) => {
                let inner = is_ext_collection(path).then_some(var.as_str());
                match resolve(item, path, vars) {
                    Value::Array(xs) => xs.iter().any(|x| {
                        let mut vars2 = vars.to_vec();
                        vars2.push((var.as_str(), x));
                        body.eval_in(item, &vars2, inner)
                    }),
                    _ => false,
                }
            }
        }
    }
}

fn is_ext_collection(path: &str) -> bool {
    path.eq_ignore_ascii_case("singleValueExtendedProperties")
        || path.eq_ignore_ascii_case("multiValueExtendedProperties")
}

/// Whether `path` is `field` of the lambda variable `var` (or `field` itself when `var` is empty).
fn names(path: &str, var: &str, field: &str) -> bool {
    match path.split_once('/') {
        Some((v, f)) => !var.is_empty() && v == var && f.eq_ignore_ascii_case(field),
        None => var.is_empty() && path.eq_ignore_ascii_case(field),
    }
}

/// The identity of an extended property id such as `String {0b1ad2ce-…} Name CrmRecordId`: the
/// type, the GUID, the `Name`/`Id` keyword, a numeric id and a proptag compare case-insensitively,
/// the name case-sensitively (Exchange: "filtering the string name (Name) in the id of an extended
/// property is case-sensitive").
pub fn ext_id_key(id: &str) -> String {
    let parts: Vec<&str> = id.trim().splitn(4, char::is_whitespace).collect();
    match parts.as_slice() {
        [kind, guid, keyword, name] if keyword.eq_ignore_ascii_case("name") => format!(
            "{} {} name {}",
            kind.to_lowercase(),
            guid.to_lowercase(),
            name.trim()
        ),
        _ => id.trim().to_lowercase(),
    }
}

/// Exchange's rule for extended properties in an Outlook `$filter`: a
/// `singleValueExtendedProperties/Any(ep: …)` (or `multiValueExtendedProperties`) lambda must
/// name the property, `ep/id eq '…'`, alone or `and` one test of its value: `eq`, `ne`,
/// `startswith` or `contains` with a string, `eq ne gt ge lt le` with a number. A test of the
/// value alone, `or`, a test of the id other than `eq`, or another function is refused with the
/// expected form in the message.
pub fn check_extended_property_lambdas(e: &Expr) -> Result<(), String> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_extended_property_lambdas(a)?;
            check_extended_property_lambdas(b)
        }
        Expr::Not(a) => check_extended_property_lambdas(a),
        Expr::Any(path, var, body) if is_ext_collection(path) => {
            let id_test = |e: &Expr| matches!(e, Expr::Cmp(p, op, Lit::Str(_)) if op == "eq" && names(p, var, "id"));
            let value_test = |e: &Expr| match e {
                Expr::Cmp(p, op, Lit::Str(_)) => {
                    names(p, var, "value") && matches!(op.as_str(), "eq" | "ne")
                }
                Expr::Cmp(p, _, Lit::Num(_)) => names(p, var, "value"),
                Expr::Func(f, p, Lit::Str(_)) => {
                    names(p, var, "value") && matches!(f.as_str(), "startswith" | "contains")
                }
                _ => false,
            };
            let ok = match body.as_ref() {
                single @ Expr::Cmp(..) => id_test(single),
                Expr::And(a, b) => (id_test(a) && value_test(b)) || (value_test(a) && id_test(b)),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{path}/any({var}: …) must test the property id: expected `{var}/id eq '<property id>'`, alone or `and` one test of its value (`{var}/value eq|ne '<text>'`, `startswith({var}/value, '<text>')`, `contains({var}/value, '<text>')`, or eq ne gt ge lt le with a number), e.g. `{path}/Any({var}: {var}/id eq 'String {{0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11}} Name CrmRecordId' and {var}/value eq 'CRM-42')`"
                ))
            }
        }
        Expr::Any(_, _, body) => check_extended_property_lambdas(body),
        Expr::Cmp(..) | Expr::Func(..) => Ok(()),
    }
}

fn resolve(item: &Value, path: &str, vars: &[(&str, &Value)]) -> Value {
    let mut parts = path.split('/');
    let first = parts.next().unwrap_or("");
    let mut cur: Value = match vars.iter().rev().find(|(n, _)| *n == first) {
        Some((_, v)) => (*v).clone(),
        None => get_ci(item, first),
    };
    for p in parts {
        cur = if p == "$count" {
            match &cur {
                Value::Array(a) => Value::from(a.len()),
                _ => Value::Null,
            }
        } else {
            get_ci(&cur, p)
        };
    }
    cur
}

fn get_ci(v: &Value, key: &str) -> Value {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn compare(v: &Value, op: &str, lit: &Lit) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (_, Lit::Null) | (Value::Null, _) => None,
        (Value::String(s), Lit::Raw(l)) | (Value::String(s), Lit::Str(l)) => {
            match (s.parse::<jiff::Timestamp>(), l.parse::<jiff::Timestamp>()) {
                (Ok(a), Ok(b)) => Some(a.cmp(&b)),
                _ => Some(s.to_lowercase().cmp(&l.to_lowercase())),
            }
        }
        (Value::Number(n), Lit::Num(l)) => n.as_f64().and_then(|n| n.partial_cmp(l)),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    };
    match (op, ord) {
        ("eq", Some(o)) => o == Ordering::Equal,
        ("eq", None) => matches!((v, lit), (Value::Null, Lit::Null)),
        ("ne", Some(o)) => o != Ordering::Equal,
        ("ne", None) => !matches!((v, lit), (Value::Null, Lit::Null)),
        ("gt", Some(o)) => o == Ordering::Greater,
        ("ge", Some(o)) => o != Ordering::Less,
        ("lt", Some(o)) => o == Ordering::Less,
        ("le", Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

/// `$select=a,b` → names (empty when absent).
pub fn select_list(s: Option<&str>) -> Option<Vec<String>> {
    s.map(|s| {
        s.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extended_property_lambda() {
        let f = parse("singleValueExtendedProperties/Any(ep: ep/id eq 'string {0B1A} NAME CrmRecordId' and ep/value eq 'crm-42')").unwrap();
        let item = json!({"singleValueExtendedProperties": [{"id": "String {0b1a} Name CrmRecordId", "value": "CRM-42"}]});
        assert!(f.eval(&item), "type, GUID, keyword and value ignore case");
        assert!(!f.eval(&json!({"singleValueExtendedProperties": []})));
        let other_case = parse(
            "singleValueExtendedProperties/Any(ep: ep/id eq 'String {0b1a} Name crmRecordId')",
        )
        .unwrap();
        assert!(!other_case.eval(&item), "the name is case-sensitive");
        let prefix = parse("singleValueExtendedProperties/Any(ep: ep/id eq 'String {0b1a} Name CrmRecordId' and startswith(ep/value, 'crm-'))").unwrap();
        assert!(prefix.eval(&item));
        let count = json!({"singleValueExtendedProperties": [{"id": "Integer {0b1a} Name Count", "value": "12"}]});
        let gt = parse("singleValueExtendedProperties/Any(ep: ep/id eq 'Integer {0b1a} Name Count' and ep/value gt 9)").unwrap();
        assert!(gt.eval(&count), "numbers compare numerically");
        assert!(
            parse("id eq 'String {0B1A} Name CrmRecordId'")
                .unwrap()
                .eval_ext_property(&item["singleValueExtendedProperties"][0])
        );
        assert!(
            !parse("id eq 'String {0b1a} Name CRMRECORDID'")
                .unwrap()
                .eval_ext_property(&item["singleValueExtendedProperties"][0])
        );
    }

    #[test]
    fn deep_filters_are_refused_without_overflowing_the_stack() {
        for deep in [
            format!(
                "{}subject eq 'a'{}",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
            format!("{}subject eq 'a'", "not ".repeat(100_000)),
            vec!["subject eq 'a'"; 100_000].join(" and "),
            vec!["subject eq 'a'"; 100_000].join(" or "),
            format!("{}x eq 1{}", "a/any(v: ".repeat(10_000), ")".repeat(10_000)),
        ] {
            assert_eq!(parse(&deep).unwrap_err(), TOO_DEEP);
        }
        let fine = vec!["subject eq 'a'"; 50].join(" and ");
        assert!(parse(&fine).unwrap().eval(&json!({"subject": "A"})));
    }

    #[test]
    fn extended_property_lambdas_must_name_the_property_id() {
        let check = |f: &str| check_extended_property_lambdas(&parse(f).unwrap());
        let id = "String {0b1a} Name CrmRecordId";
        for ok in [
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq 'X')"),
            format!("singleValueExtendedProperties/any(p: p/value eq 'X' and p/id eq '{id}')"),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}')"),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value ne 'X')"),
            format!(
                "singleValueExtendedProperties/Any(ep: startswith(ep/value, 'CRM') and ep/id eq '{id}')"
            ),
            format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and contains(ep/value, 'M-4'))"
            ),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value ge 3)"),
            "extensions/any(e: e/id eq 'com.acme.crm')".to_owned(),
            "linkedResources/any(r: r/externalId eq 'A1-1')".to_owned(),
        ] {
            assert_eq!(check(&ok), Ok(()), "{ok}");
        }
        for bad in [
            "singleValueExtendedProperties/Any(ep: ep/value eq 'X')".to_owned(),
            format!("singleValueExtendedProperties/Any(ep: ep/id ne '{id}' and ep/value eq 'X')"),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' or ep/value eq 'X')"),
            format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and endswith(ep/value, 'X'))"
            ),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value gt 'X')"),
            "singleValueExtendedProperties/Any(ep: contains(ep/value, 'X'))".to_owned(),
            "subject eq 'a' and singleValueExtendedProperties/Any(ep: ep/value eq 'X')".to_owned(),
        ] {
            let err = check(&bad).unwrap_err();
            assert!(err.contains("must test the property id"), "{bad}: {err}");
        }
    }

    #[test]
    fn users_filters() {
        let f = parse("endswith(mail,'@contoso.com') and accountEnabled eq true").unwrap();
        assert!(f.is_advanced());
        assert!(f.eval(&json!({"mail": "Ana@Contoso.com", "accountEnabled": true})));
        assert!(
            !parse("startswith(userPrincipalName,'ana')")
                .unwrap()
                .is_advanced()
        );
        let d = parse("receivedDateTime ge 2026-11-21T00:00:00Z").unwrap();
        assert!(d.eval(&json!({"receivedDateTime": "2026-11-21T13:40:00Z"})));
        assert!(!d.eval(&json!({"receivedDateTime": "2026-11-20T13:40:00Z"})));
    }
}
