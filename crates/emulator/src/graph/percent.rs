//! Percent-encoding of URL values, used by the wire layer and by the store's Outlook web links (so
//! the store needs nothing of HTTP).

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
