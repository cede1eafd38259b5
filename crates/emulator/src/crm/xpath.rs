//! The XPath subset `<break if="…">` needs: location paths over the responses so far.
//!
//! Supported: absolute paths (`/root/response/…`), child `/` and descendant `//` steps, name tests and `*`,
//! predicates `[last()]`, `[N]`, `[@attr]`, `[@attr='value']` (or `"value"`), `[@attr!='value']`.
//! The path "matches" when it selects at least one element. Anything else is rejected with a message, never
//! silently treated as false.

use super::xml::Element;

#[derive(Debug, Clone, PartialEq)]
enum Pred {
    Last,
    Index(usize),
    Has(String),
    Eq(String, String),
    Ne(String, String),
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    descendant: bool,
    name: String,
    preds: Vec<Pred>,
}

/// A compiled path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    steps: Vec<Step>,
}

/// Compiles `expr`; the error says which part is outside the supported subset.
pub fn compile(expr: &str) -> Result<Path, String> {
    let expr = expr.trim();
    if !expr.starts_with('/') {
        return Err(format!(
            "XPath `{expr}`: expected an absolute path such as /root/response/*[last()]//return[@type='error']"
        ));
    }
    let mut steps = Vec::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let mut descendant = false;
        if bytes[i] != '/' {
            return Err(format!("XPath `{expr}`: expected `/` at position {i}"));
        }
        i += 1;
        if i < bytes.len() && bytes[i] == '/' {
            descendant = true;
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != '/' && bytes[i] != '[' {
            i += 1;
        }
        let name: String = bytes[start..i].iter().collect();
        if name.is_empty() || name.contains(['(', ')', ':', '@', ' ']) {
            return Err(format!(
                "XPath `{expr}`: expected an element name or `*` at position {start}"
            ));
        }
        let mut preds = Vec::new();
        while i < bytes.len() && bytes[i] == '[' {
            let open = i;
            let mut quote: Option<char> = None;
            i += 1;
            while i < bytes.len() && (quote.is_some() || bytes[i] != ']') {
                match quote {
                    Some(q) if bytes[i] == q => quote = None,
                    None if bytes[i] == '\'' || bytes[i] == '"' => quote = Some(bytes[i]),
                    _ => {}
                }
                i += 1;
            }
            if i >= bytes.len() {
                return Err(format!(
                    "XPath `{expr}`: `[` at position {open} is not closed"
                ));
            }
            let body: String = bytes[open + 1..i].iter().collect();
            preds.push(predicate(expr, body.trim())?);
            i += 1;
        }
        steps.push(Step {
            descendant,
            name,
            preds,
        });
    }
    Ok(Path { steps })
}

fn predicate(expr: &str, body: &str) -> Result<Pred, String> {
    if body == "last()" {
        return Ok(Pred::Last);
    }
    if let Ok(n) = body.parse::<usize>() {
        if n == 0 {
            return Err(format!("XPath `{expr}`: positions start at 1"));
        }
        return Ok(Pred::Index(n));
    }
    if let Some(rest) = body.strip_prefix('@') {
        let unquote = |v: &str| -> Option<String> {
            let v = v.trim();
            let q = v.chars().next()?;
            if (q == '\'' || q == '"') && v.len() >= 2 && v.ends_with(q) {
                Some(v[1..v.len() - 1].to_owned())
            } else {
                None
            }
        };
        if let Some((name, value)) = rest.split_once("!=") {
            if let Some(v) = unquote(value) {
                return Ok(Pred::Ne(name.trim().to_owned(), v));
            }
        } else if let Some((name, value)) = rest.split_once('=') {
            if let Some(v) = unquote(value) {
                return Ok(Pred::Eq(name.trim().to_owned(), v));
            }
        } else if !rest.is_empty() && !rest.contains([' ', '(']) {
            return Ok(Pred::Has(rest.to_owned()));
        }
    }
    Err(format!(
        "XPath `{expr}`: predicate `[{body}]` is not supported (expected last(), a position, @attr or @attr='value')"
    ))
}

impl Path {
    /// True when the path selects at least one element of the document whose root is `root`.
    pub fn matches(&self, root: &Element) -> bool {
        let name_ok = |step: &Step, e: &Element| step.name == "*" || e.name == step.name;
        // `None` stands for the document node, whose only child is `root`.
        let mut context: Vec<Option<&Element>> = vec![None];
        for step in &self.steps {
            let mut next = Vec::new();
            for node in &context {
                // the parents whose children this step selects from, each a separate positional group
                let mut groups: Vec<Vec<&Element>> = Vec::new();
                let from_doc = || {
                    vec![root]
                        .into_iter()
                        .filter(|e| name_ok(step, e))
                        .collect()
                };
                // the element parents, after the document node's group when it is one
                let mut parents: Vec<&Element> = Vec::new();
                match (node, step.descendant) {
                    (None, false) => groups.push(from_doc()),
                    (None, true) => {
                        groups.push(from_doc());
                        descendants_or_self(root, &mut parents);
                    }
                    (Some(el), false) => parents.push(el),
                    (Some(el), true) => descendants_or_self(el, &mut parents),
                }
                for parent in parents {
                    groups.push(
                        parent
                            .children
                            .iter()
                            .filter(|c| name_ok(step, c))
                            .collect(),
                    );
                }
                for group in groups {
                    next.extend(filter(group, &step.preds).into_iter().map(Some));
                }
            }
            context = next;
            if context.is_empty() {
                return false;
            }
        }
        !context.is_empty()
    }
}

fn descendants_or_self<'a>(node: &'a Element, out: &mut Vec<&'a Element>) {
    out.push(node);
    for child in &node.children {
        descendants_or_self(child, out);
    }
}

fn filter<'a>(mut nodes: Vec<&'a Element>, preds: &[Pred]) -> Vec<&'a Element> {
    for pred in preds {
        nodes = match pred {
            Pred::Last => nodes.last().copied().into_iter().collect(),
            Pred::Index(n) => nodes.get(n - 1).copied().into_iter().collect(),
            Pred::Has(a) => nodes.into_iter().filter(|e| e.attr(a).is_some()).collect(),
            Pred::Eq(a, v) => nodes
                .into_iter()
                .filter(|e| e.attr(a) == Some(v.as_str()))
                .collect(),
            Pred::Ne(a, v) => nodes
                .into_iter()
                .filter(|e| e.attr(a).is_some_and(|x| x != v))
                .collect(),
        };
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(last_has_error: bool) -> Element {
        let mut response = Element::new("response");
        let mut first = Element::new("query");
        first.push(Element::new("return").with_attr("type", "error"));
        response.push(first);
        let mut second = Element::new("insert");
        if last_has_error {
            let mut rec = Element::new("Contact");
            rec.push(Element::new("return").with_attr("type", "error"));
            second.push(rec);
        }
        response.push(second);
        let mut root = Element::new("root");
        root.push(response);
        root
    }

    #[test]
    fn documented_break_expression_looks_at_the_last_result_only() {
        let path = compile("/root/response/*[last()]//return[@type='error']").unwrap();
        assert!(path.matches(&doc(true)));
        assert!(!path.matches(&doc(false)));
        let any = compile("/root/response//return[@type=\"error\"]").unwrap();
        assert!(any.matches(&doc(false)));
        let first = compile("/root/response/*[1]/return").unwrap();
        assert!(first.matches(&doc(false)));
    }

    #[test]
    fn paths_start_at_the_document_node() {
        let matches = |expr: &str| compile(expr).unwrap().matches(&doc(false));
        assert!(matches("//return[@type='error']"));
        assert!(matches("/root"));
        assert!(matches("/*[1]/response/*[2]"));
        assert!(!matches("/response"));
        assert!(!matches("/root/response/*[3]"));
        assert!(!matches("//return[@type!='error']"));
        assert!(matches("//*[@type]"));
        assert!(!matches("//insert/return"));
    }

    #[test]
    fn unsupported_expressions_are_rejected() {
        assert!(compile("count(//return) > 0").is_err());
        assert!(compile("/root/response/*[position() < 2]").is_err());
        assert!(compile("/root/[").is_err());
    }
}
