//! Opaque paging and delta tokens: the state a `$skiptoken`/`$deltatoken` carries is sealed, so a
//! client can neither read it nor edit it (Graph's tokens are opaque; an altered one is malformed).

use std::hash::{DefaultHasher, Hasher};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// Not a secret (this is a test double): it only makes tokens unreadable and tamper-evident.
const KEY: &[u8] = b"graph-emulator sealed token v1";

fn tag_of(payload: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(KEY);
    h.write(payload);
    h.finish()
}

/// splitmix64 bytes seeded by the tag: scrambles the payload so it does not read as JSON.
fn keystream(seed: u64, len: usize) -> impl Iterator<Item = u8> {
    let mut state = seed;
    (0..len.div_ceil(8))
        .flat_map(move |_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)).to_le_bytes()
        })
        .take(len)
}

/// Seals `payload` into a URL-safe token.
pub fn seal(payload: &[u8]) -> String {
    let tag = tag_of(payload);
    let mut out = tag.to_le_bytes().to_vec();
    out.extend(
        payload
            .iter()
            .zip(keystream(tag, payload.len()))
            .map(|(b, k)| b ^ k),
    );
    URL_SAFE_NO_PAD.encode(out)
}

/// The payload of a token made by [`seal`], or `None` when it is garbage or was altered.
pub fn open(token: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    if raw.len() < 8 {
        return None;
    }
    let (tag, body) = raw.split_at(8);
    let tag = u64::from_le_bytes(tag.try_into().ok()?);
    let payload: Vec<u8> = body
        .iter()
        .zip(keystream(tag, body.len()))
        .map(|(b, k)| b ^ k)
        .collect();
    (tag_of(&payload) == tag).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_to_its_payload_and_reads_as_noise() {
        let payload = br#"{"u":"6a1f","g":3,"o":{"select":"subject"}}"#;
        let tok = seal(payload);
        assert_eq!(open(&tok).as_deref(), Some(&payload[..]));
        let raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
        assert!(!raw.windows(7).any(|w| w == b"subject"));
    }

    #[test]
    fn an_altered_or_garbage_token_does_not_open() {
        let tok = seal(br#"{"g":3}"#);
        let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(open(&URL_SAFE_NO_PAD.encode(&raw)), None);
        assert_eq!(open("bm90LWEtdG9rZW4"), None);
        assert_eq!(open(""), None);
    }
}
