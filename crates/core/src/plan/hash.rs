//! The content hash that tells a real change from an echo of our own write; persisted in links, so stable.
//!
//! Algorithm (version 1, the `fnv1a64:` prefix names it so a later change is detectable):
//! - each field becomes `(name, canonical value)`; the canonical value is the CRM wire text (`Date`
//!   `YYYY-MM-DD`, `Time` `HH:MM`, booleans `true`/`false`, whole numbers without a fraction, other numbers in
//!   their shortest round-trip form), so `Text("2025-03-01")` and `Date(2025-03-01)` hash alike — the CRM
//!   hands back text for what we wrote typed;
//! - fields with an empty value are left out: an absent field and an empty one are the same content;
//! - the pairs are sorted by name (byte order), so field order never matters;
//! - each name and value is fed as its byte length (u64, little endian) and its UTF-8 bytes into
//!   FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`), written here in a few lines
//!   rather than taken from a crate: std's `DefaultHasher` may change between Rust releases, FNV cannot.
//!
//! A 64-bit hash is enough for change detection (a collision would need one edit out of 2^64 to hash like
//! the previous content of the same item); it is not a defence against forged content.

use indexmap::IndexMap;

use crate::mapping::{FieldValue, time::format_time};

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stable content hash of mapped fields: `fnv1a64:` and 16 lowercase hex digits.
pub fn content_hash(fields: &IndexMap<String, FieldValue>) -> String {
    let mut pairs: Vec<(&str, String)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), canonical(value)))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    pairs.sort();
    let mut h = Fnv(OFFSET);
    for (name, value) in &pairs {
        h.field(name.as_bytes());
        h.field(value.as_bytes());
    }
    format!("fnv1a64:{:016x}", h.0)
}

/// The canonical text of a value: what the CRM stores and returns for it.
pub fn canonical(value: &FieldValue) -> String {
    match value {
        FieldValue::Text(s) => s.clone(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Int(i) => i.to_string(),
        FieldValue::Number(n) => number(*n),
        FieldValue::Date(d) => d.to_string(),
        FieldValue::Time(t) => format_time(*t),
    }
}

fn number(n: f64) -> String {
    // Whole numbers in the exactly representable range print as integers, so 3.0 and 3 agree.
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.is_finite() && n.fract() == 0.0 && n.abs() < EXACT {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
    fn field(&mut self, bytes: &[u8]) {
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, FieldValue)]) -> IndexMap<String, FieldValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        for (input, want) in [
            ("", 0xcbf2_9ce4_8422_2325_u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut h = Fnv(OFFSET);
            h.bytes(input.as_bytes());
            assert_eq!(h.0, want, "{input:?}");
        }
    }

    #[test]
    fn hash_is_pinned_across_versions() {
        // Persisted in every link: if this changes, every linked item looks edited once.
        let f = fields(&[
            ("Subject", FieldValue::Text("Review".into())),
            ("Duration", FieldValue::Int(30)),
        ]);
        assert_eq!(content_hash(&f), "fnv1a64:84a27df99c01e1bf");
        assert_eq!(content_hash(&IndexMap::new()), "fnv1a64:cbf29ce484222325");
    }

    #[test]
    fn field_order_does_not_matter() {
        let a = fields(&[
            ("Subject", FieldValue::Text("Review".into())),
            ("Private", FieldValue::Bool(true)),
        ]);
        let b = fields(&[
            ("Private", FieldValue::Bool(true)),
            ("Subject", FieldValue::Text("Review".into())),
        ]);
        assert_eq!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn typed_and_wire_text_values_hash_alike() {
        let date = jiff::civil::date(2025, 3, 1);
        let time = jiff::civil::time(9, 30, 0, 0);
        let typed = fields(&[
            ("Date", FieldValue::Date(date)),
            ("Time", FieldValue::Time(time)),
            ("Duration", FieldValue::Number(30.0)),
            ("Private", FieldValue::Bool(false)),
        ]);
        let text = fields(&[
            ("Date", FieldValue::Text("2025-03-01".into())),
            ("Time", FieldValue::Text("09:30".into())),
            ("Duration", FieldValue::Text("30".into())),
            ("Private", FieldValue::Text("false".into())),
        ]);
        assert_eq!(content_hash(&typed), content_hash(&text));
    }

    #[test]
    fn empty_and_absent_fields_are_the_same_content() {
        let with_empty = fields(&[
            ("Subject", FieldValue::Text("Review".into())),
            ("Text", FieldValue::Text(String::new())),
        ]);
        let without = fields(&[("Subject", FieldValue::Text("Review".into()))]);
        assert_eq!(content_hash(&with_empty), content_hash(&without));
    }

    #[test]
    fn any_change_of_name_or_value_changes_the_hash() {
        let base = fields(&[("Subject", FieldValue::Text("Review".into()))]);
        let renamed = fields(&[("Subjec", FieldValue::Text("tReview".into()))]);
        let edited = fields(&[("Subject", FieldValue::Text("Review!".into()))]);
        let h = content_hash(&base);
        assert_ne!(h, content_hash(&renamed));
        assert_ne!(h, content_hash(&edited));
        assert_ne!(
            content_hash(&fields(&[("N", FieldValue::Number(0.5))])),
            content_hash(&fields(&[("N", FieldValue::Int(0))]))
        );
    }
}
