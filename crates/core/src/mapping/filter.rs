//! CRM-side filters: whether a CRM record passes a resource's `filters` (forms.xml `SyncHandler` conditions).

use std::cmp::Ordering;

use indexmap::IndexMap;
use serde_json::Value;

use super::convert::{key_text, parse_bool};
use crate::model::{Filter, Op};

/// Whether the record (CRM field name → JSON value) passes the filter. A missing field is `null`.
pub fn matches(filter: &Filter, fields: &IndexMap<String, Value>) -> bool {
    match filter {
        Filter::All(list) => list.iter().all(|f| matches(f, fields)),
        Filter::Any(list) => list.iter().any(|f| matches(f, fields)),
        Filter::Not(f) => !matches(f, fields),
        Filter::Condition { field, op, value } => {
            compare(fields.get(field).unwrap_or(&Value::Null), *op, value)
        }
    }
}

/// Compares a record value with a filter value.
pub fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    if op == Op::Contains {
        let hay = key_text(actual).to_lowercase();
        return !actual.is_null() && hay.contains(&key_text(expected).to_lowercase());
    }
    let ord = order(actual, expected);
    match op {
        Op::Eq => ord == Some(Ordering::Equal),
        Op::Ne => ord != Some(Ordering::Equal),
        Op::Lt => ord == Some(Ordering::Less),
        Op::Gt => ord == Some(Ordering::Greater),
        Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        // Handled before the comparison; never reached with an ordering.
        Op::Contains => false,
    }
}

/// Orders two values: booleans as booleans (a missing field is `false`), numbers numerically, else text.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    if let Value::Bool(want) = b {
        let have = if a.is_null() {
            Some(false)
        } else {
            parse_bool(a)
        };
        return have.map(|h| h.cmp(want));
    }
    if a.is_null() {
        return if b.is_null() || b.as_str() == Some("") {
            Some(Ordering::Equal)
        } else {
            None
        };
    }
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let (Some(x), Some(y)) = (num(a), num(b))
        && (a.is_number() || b.is_number())
    {
        return x.partial_cmp(&y);
    }
    Some(key_text(a).cmp(&key_text(b)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rec(v: Value) -> IndexMap<String, Value> {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    #[test]
    fn skips_deleted_and_published_records() {
        let f = Filter::All(vec![
            Filter::Condition {
                field: "ConnectorDeleted".into(),
                op: Op::Ne,
                value: json!(true),
            },
            Filter::Condition {
                field: "ConnectorPublished".into(),
                op: Op::Ne,
                value: json!(true),
            },
        ]);
        assert!(matches(&f, &rec(json!({"Subject": "x"}))));
        assert!(matches(&f, &rec(json!({"ConnectorDeleted": "false"}))));
        assert!(!matches(&f, &rec(json!({"ConnectorDeleted": "true"}))));
        assert!(!matches(&f, &rec(json!({"ConnectorPublished": true}))));
    }

    #[test]
    fn compares_numbers_dates_and_text() {
        assert!(compare(&json!("10"), Op::Gt, &json!(9)));
        assert!(compare(&json!("2025-03-04"), Op::Ge, &json!("2025-03-01")));
        assert!(compare(
            &json!("Quarterly Review"),
            Op::Contains,
            &json!("review")
        ));
        assert!(!compare(&Value::Null, Op::Contains, &json!("x")));
        assert!(compare(&Value::Null, Op::Ne, &json!("x")));
        assert!(matches(
            &Filter::Any(vec![Filter::Not(Box::new(Filter::Condition {
                field: "Private".into(),
                op: Op::Eq,
                value: json!(true)
            }))]),
            &rec(json!({"Private": false}))
        ));
    }
}
