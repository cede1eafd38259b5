//! minijinja templates: each compiles into the one environment of the mapping set, uses only the variables
//! of its direction and only minijinja's built-in filters.

use super::{At, Checker, one_of};
use crate::{diag::did_you_mean, jinja, model};

/// Variables of forward templates.
pub(super) const FORWARD_VARS: &[&str] = &["item", "ctx"];
/// Variables of reverse templates.
pub(super) const REVERSE_VARS: &[&str] = &["record", "ctx"];
/// minijinja's built-in filters (the only ones templates may use).
const FILTERS: &[&str] = &[
    // The connector's own (registered in `check::new_environment`).
    "body_text",
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "tojson",
    "pprint",
    "format",
    "urlencode",
];

impl Checker {
    pub(super) fn template(
        &mut self,
        at: At<'_>,
        source: &str,
        vars: &[&str],
    ) -> Option<model::TemplateRef> {
        let name = format!("{}#{}", at.doc.file, at.ptr);
        if let Err(e) = self
            .env
            .add_template_owned(name.clone(), source.to_string())
        {
            let line = e
                .line()
                .map(|l| format!(" (template line {l})"))
                .unwrap_or_default();
            let what = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string());
            let d = self.error(at, format!("template syntax error: {what}{line}"));
            d.expected = Some("a minijinja template, e.g. `{{ item.subject }}`".into());
            return None;
        }
        let mut ok = true;
        let tpl = self.env.get_template(&name).expect("just added");
        let mut unknown: Vec<String> = tpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !vars.contains(&v.as_str()))
            .collect();
        unknown.sort();
        for v in unknown {
            ok = false;
            let d = self.error(at, format!("template uses unknown variable `{v}`"));
            d.expected = Some(one_of(vars));
            d.hint = did_you_mean(&v, vars.iter().copied());
        }
        for f in used_filters(source) {
            if !FILTERS.contains(&f.as_str()) {
                ok = false;
                let d = self.error(at, format!("template uses unknown filter `{f}`"));
                d.expected = Some(
                    "a minijinja built-in filter (lower, upper, trim, default, join, replace, …)"
                        .into(),
                );
                d.hint = did_you_mean(&f, FILTERS.iter().copied());
            }
        }
        if ok {
            ok = self.template_limits(at, &name, source, vars);
        }
        ok.then_some(model::TemplateRef { name })
    }

    /// Rejects what can never run within the limits: literal arguments over a cap, and templates that
    /// hit a limit even when rendered for an empty item (or record).
    fn template_limits(&mut self, at: At<'_>, name: &str, source: &str, vars: &[&str]) -> bool {
        let literal = jinja::static_limits(source);
        let found = !literal.is_empty();
        for message in literal {
            let d = self.error(at, format!("template can never run: {message}"));
            d.expected = Some(LIMITS_EXPECTED.into());
        }
        if found {
            return false;
        }
        let Ok(tpl) = self.env.get_template(name) else {
            return true;
        };
        let empty = minijinja::Value::from(std::collections::BTreeMap::<String, String>::new());
        let ctx: std::collections::BTreeMap<&str, minijinja::Value> =
            vars.iter().map(|v| (*v, empty.clone())).collect();
        match jinja::render(&tpl, minijinja::Value::from(ctx)) {
            Err(e) if e.limit => {
                let d = self.error(
                    at,
                    format!("template exceeds the limits even for an empty input: {e}"),
                );
                d.expected = Some(LIMITS_EXPECTED.into());
                false
            }
            _ => true,
        }
    }
}

const LIMITS_EXPECTED: &str = "a template within the limits: format widths and precisions up to 1000, \
     indent up to 100, text repeated at most 100000 times, output up to 32 MiB, at most 1000000 steps \
     (see docs/limits.md)";

/// Filter names used in a template (`| name`), outside string literals.
fn used_filters(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_tag = false;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !in_tag {
            if c == '{' && matches!(chars.get(i + 1), Some('{') | Some('%')) {
                in_tag = true;
                i += 2;
                continue;
            }
        } else if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if (c == '}' || c == '%') && chars.get(i + 1) == Some(&'}') {
            in_tag = false;
        } else if c == '|' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > start {
                out.push(chars[start..j].iter().collect());
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::used_filters;

    #[test]
    fn finds_filters_outside_strings() {
        assert_eq!(
            used_filters("{{ item.subject | upper }} | x {{ 'a|b' | replace('a', 'b') |trim }}"),
            vec!["upper", "replace", "trim"]
        );
    }
}
