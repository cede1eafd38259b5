//! A small OData `$filter` parser and evaluator, and `$select` handling.
//!
//! It covers what the connector and an admin with curl use: `eq ne gt ge lt le`, `and or not`,
//! `startswith/endswith/contains`, lambdas (`singleValueExtendedProperties/Any(ep: ep/id eq '…'
//! and ep/value eq '…')`, `linkedResources/any(r: r/externalId eq '…')`) and `path/$count`.
//! String comparisons ignore case, as Exchange does for addresses and property ids.

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

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
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
    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
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
    fn primary(&mut self) -> Result<Expr, String> {
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
                        let body = self.or()?;
                        self.expect(Tok::Close)?;
                        return Ok(Expr::Any(path, var, Box::new(body)));
                    }
                    if matches!(lower.as_str(), "startswith" | "endswith" | "contains") {
                        let path = match self.next() {
                            Some(Tok::Ident(p)) => p,
                            other => return Err(format!("expected a property, found {other:?}")),
                        };
                        self.expect(Tok::Comma)?;
                        let lit = self.literal()?;
                        self.expect(Tok::Close)?;
                        return Ok(Expr::Func(lower, path, lit));
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
                Ok(Expr::Cmp(name, op, lit))
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
    };
    let e = p.or()?;
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
        self.eval_in(item, &[])
    }

    fn eval_in(&self, item: &Value, vars: &[(&str, &Value)]) -> bool {
        match self {
            Expr::And(a, b) => a.eval_in(item, vars) && b.eval_in(item, vars),
            Expr::Or(a, b) => a.eval_in(item, vars) || b.eval_in(item, vars),
            Expr::Not(a) => !a.eval_in(item, vars),
            Expr::Cmp(path, op, lit) => compare(&resolve(item, path, vars), op, lit),
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
            Expr::Any(path, var, body) => match resolve(item, path, vars) {
                Value::Array(xs) => xs.iter().any(|x| {
                    let mut vars2 = vars.to_vec();
                    vars2.push((var.as_str(), x));
                    body.eval_in(item, &vars2)
                }),
                _ => false,
            },
        }
    }
}

/// Exchange's rule for extended properties in an Outlook `$filter`: a
/// `singleValueExtendedProperties/Any(ep: …)` (or `multiValueExtendedProperties`) lambda must
/// name the property, `ep/id eq '…'`, alone or `and ep/value eq '…'`. A test of the value alone,
/// `or`, `ne` or a function inside the lambda is refused with the expected form in the message.
pub fn check_extended_property_lambdas(e: &Expr) -> Result<(), String> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_extended_property_lambdas(a)?;
            check_extended_property_lambdas(b)
        }
        Expr::Not(a) => check_extended_property_lambdas(a),
        Expr::Any(path, var, body)
            if path.eq_ignore_ascii_case("singleValueExtendedProperties")
                || path.eq_ignore_ascii_case("multiValueExtendedProperties") =>
        {
            let test = |e: &Expr, field: &str| {
                matches!(e, Expr::Cmp(p, op, Lit::Str(_))
                    if op == "eq" && p.eq_ignore_ascii_case(&format!("{var}/{field}")))
            };
            let ok = match body.as_ref() {
                single @ Expr::Cmp(..) => test(single, "id"),
                Expr::And(a, b) => {
                    (test(a, "id") && test(b, "value")) || (test(a, "value") && test(b, "id"))
                }
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{path}/any({var}: …) must test the property id: expected `{var}/id eq '<property id>'` or `{var}/id eq '<property id>' and {var}/value eq '<value>'`, e.g. `{path}/Any({var}: {var}/id eq 'String {{0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11}} Name CrmRecordId' and {var}/value eq 'CRM-42')`"
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
        let f = parse("singleValueExtendedProperties/Any(ep: ep/id eq 'String {0B1A} Name CrmRecordId' and ep/value eq 'CRM-42')").unwrap();
        let item = json!({"singleValueExtendedProperties": [{"id": "String {0b1a} Name CrmRecordId", "value": "CRM-42"}]});
        assert!(f.eval(&item));
        assert!(!f.eval(&json!({"singleValueExtendedProperties": []})));
    }

    #[test]
    fn extended_property_lambdas_must_name_the_property_id() {
        let check = |f: &str| check_extended_property_lambdas(&parse(f).unwrap());
        let id = "String {0b1a} Name CrmRecordId";
        for ok in [
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq 'X')"),
            format!("singleValueExtendedProperties/any(p: p/value eq 'X' and p/id eq '{id}')"),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}')"),
            "extensions/any(e: e/id eq 'com.acme.crm')".to_owned(),
            "linkedResources/any(r: r/externalId eq 'A1-1')".to_owned(),
        ] {
            assert_eq!(check(&ok), Ok(()), "{ok}");
        }
        for bad in [
            "singleValueExtendedProperties/Any(ep: ep/value eq 'X')".to_owned(),
            format!("singleValueExtendedProperties/Any(ep: ep/id ne '{id}' and ep/value eq 'X')"),
            format!("singleValueExtendedProperties/Any(ep: ep/id eq '{id}' or ep/value eq 'X')"),
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
