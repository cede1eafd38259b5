//! A small owned XML tree for CRM.interface documents: requests are parsed into it, responses built in it,
//! and `<break if="XPath">` is evaluated over it.
//!
//! Values keep their exact text (no trimming); `\r`, tabs and line feeds in attributes are written as
//! character references so a round trip through any conforming parser gives the same string back.

use quick_xml::{Reader, events::Event};

/// One element: name, attributes in document order, child elements and the text directly inside it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(child);
    }

    /// Serializes the element (without XML declaration).
    pub fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, true, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        escape_into(&self.text, false, out);
        for child in &self.children {
            child.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// The whole document with an XML declaration.
    pub fn to_document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        self.write(&mut out);
        out.push('\n');
        out
    }
}

fn escape_into(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// Deeper nesting than any CRM.interface document needs is refused (and keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// Parses a document into its root element; the message says what was expected and where (byte offset).
pub fn parse(input: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("XML not well-formed near byte {pos}: {e}"))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(format!(
                    "XML not well-formed near byte {pos}: content after the root element"
                ));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "elements nested deeper than {MAX_DEPTH} levels near byte {pos}"
                    ));
                }
                stack.push(start_element(&start, pos)?)
            }
            Event::Empty(start) => {
                let el = start_element(&start, pos)?;
                close(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| format!("unexpected end tag near byte {pos}"))?;
                close(el, &mut stack, &mut root);
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml10_content());
                } else if !text.xml10_content().trim().is_empty() {
                    return Err(format!("text outside the root element near byte {pos}"));
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| {
                            format!("unknown entity `&{};` near byte {pos}", &*reference)
                        })?
                        .to_owned(),
                    Err(e) => return Err(format!("bad character reference near byte {pos}: {e}")),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(root) = &root
        && let Some(bad) = forbidden_in(root)
    {
        return Err(bad);
    }
    if !stack.is_empty() {
        return Err(format!(
            "XML not well-formed: element <{}> is not closed",
            stack.last().map(|e| e.name.as_str()).unwrap_or_default()
        ));
    }
    root.ok_or_else(|| "empty document: expected a <request> element".to_owned())
}

/// Characters XML 1.0 cannot carry, even as character references.
fn forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
}

fn forbidden_in(el: &Element) -> Option<String> {
    let describe = |where_: String, text: &str| {
        text.chars().find(|&c| forbidden(c)).map(|c| {
            format!(
                "{where_} holds U+{:04X}, a character XML 1.0 cannot carry",
                u32::from(c)
            )
        })
    };
    if let Some(msg) = describe(format!("the text of <{}>", el.name), &el.text) {
        return Some(msg);
    }
    for (k, v) in &el.attrs {
        if let Some(msg) = describe(format!("attribute {k} of <{}>", el.name), v) {
            return Some(msg);
        }
    }
    el.children.iter().find_map(forbidden_in)
}

fn close(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn start_element(start: &quick_xml::events::BytesStart<'_>, pos: u64) -> Result<Element, String> {
    let mut el = Element::new(start.name().0);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("bad attribute near byte {pos}: {e}"))?;
        // XML 1.0 forbids a raw `<` in an attribute value (the reference: write `&lt;`); a real
        // parser refuses the document.
        if attr.value.contains('<') {
            return Err(format!(
                "XML not well-formed near byte {pos}: attribute {} holds a raw `<`; expected `&lt;`",
                attr.key.0
            ));
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value near byte {pos}: {e}"))?;
        el.attrs.push((attr.key.0.to_owned(), value.into_owned()));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_specials_and_line_breaks() {
        let mut el = Element::new("Subject").with_text("</Subject><Rep>x</Rep> & \"co\"\r\n\ttab");
        el.set_attr("corr", "a\"b'<c>\n\t\r");
        let doc = el.to_document();
        let back = parse(&doc).unwrap();
        assert_eq!(back, el);
    }

    #[test]
    fn rejects_characters_xml_cannot_carry() {
        let err = parse("<request><Subject>bell&#7;</Subject></request>").unwrap_err();
        assert!(err.contains("U+0007"), "{err}");
        assert!(parse("<request a=\"&#xFFFF;\"/>").is_err());
        assert!(parse("<request>tab&#9;ok</request>").is_ok());
    }

    #[test]
    fn rejects_a_raw_less_than_in_an_attribute_value() {
        let err = parse(r#"<request><cond op="<" value="3"/></request>"#).unwrap_err();
        assert!(err.contains("attribute op holds a raw `<`"), "{err}");
        let ok = parse(r#"<request><cond op="&lt;=" value="a>b"/></request>"#).unwrap();
        assert_eq!(ok.children[0].attr("op"), Some("<="));
    }

    #[test]
    fn rejects_unclosed_and_trailing_content() {
        assert!(parse("<request><query></request>").is_err());
        assert!(parse("<request/><request/>").is_err());
        assert!(parse("").is_err());
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
    }
}
