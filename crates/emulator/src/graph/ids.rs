//! Exchange's two id forms of an Outlook item: the immutable id, and the regular (REST) id that
//! encodes the item's folder and so changes when the item moves.
//!
//! The store keys items by their immutable id. A regular id is derived from it and the folder
//! (calendar) the item is in: the id bytes are scrambled with a keystream of the folder's
//! fingerprint, which is appended, so the two forms share nothing a client could mistake for the
//! other, and a regular id decodes back to the immutable id and the folder it was issued for. Only
//! messages, events (and their occurrences) and contacts have two forms; To Do tasks and folders
//! have one (`Prefer: IdType` does not apply to them).

use base64::Engine as _;

/// The first bytes of every item id (base64 `AAMk`, like Exchange's ids).
pub const ID_PREFIX: [u8; 3] = [0x00, 0x03, 0x24];
/// Length of an immutable item id in bytes: prefix, kind tag, 30 random bytes.
pub const ITEM_ID_LEN: usize = 34;
/// Kind tags (`ItemKind::tag`) with two id forms: message, event, contact, occurrence.
const TWO_FORMS: [u8; 4] = [1, 2, 3, 5];
/// Set in the kind tag of a regular id.
const REGULAR_FLAG: u8 = 0x40;

/// The decoded parts of an id in either form.
struct Parts {
    tag: u8,
    /// The 30 random bytes (unscrambled).
    body: Vec<u8>,
    /// What follows the body in an immutable id (an occurrence's date).
    tail: Vec<u8>,
    /// The folder fingerprint of a regular id.
    folder: Option<[u8; 4]>,
}

fn decode(id: &str) -> Option<Parts> {
    let raw = base64::engine::general_purpose::URL_SAFE.decode(id).ok()?;
    if raw.len() < ITEM_ID_LEN || raw[..3] != ID_PREFIX {
        return None;
    }
    let regular = raw[3] & REGULAR_FLAG != 0;
    let tag = raw[3] & !REGULAR_FLAG;
    if !TWO_FORMS.contains(&tag) {
        return None;
    }
    let tail_len = if tag == 5 { 4 } else { 0 };
    let folder_len = if regular { 4 } else { 0 };
    if raw.len() != ITEM_ID_LEN + folder_len + tail_len {
        return None;
    }
    let mut body = raw[4..ITEM_ID_LEN].to_vec();
    let folder = if regular {
        let fp: [u8; 4] = raw[ITEM_ID_LEN..ITEM_ID_LEN + 4].try_into().ok()?;
        scramble(&mut body, fp);
        Some(fp)
    } else {
        None
    };
    Some(Parts {
        tag,
        body,
        tail: raw[ITEM_ID_LEN + folder_len..].to_vec(),
        folder,
    })
}

/// An id of the immutable form derived from `key` rather than drawn from the store's generator
/// (the mail root of a mailbox), so adding one leaves every drawn id as it was.
pub fn derived(tag: u8, key: &str) -> String {
    let mut raw = Vec::with_capacity(ITEM_ID_LEN);
    raw.extend_from_slice(&ID_PREFIX);
    raw.push(tag);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    for _ in 0..30 {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        raw.push(h.to_be_bytes()[0]);
    }
    base64::engine::general_purpose::URL_SAFE.encode(raw)
}

/// FNV-1a of a folder (or calendar) id: what a regular id remembers of its folder.
pub fn folder_fingerprint(folder: &str) -> [u8; 4] {
    let h = folder.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h.to_be_bytes()
}

/// XORs `bytes` with a keystream of the folder fingerprint (its own inverse).
fn scramble(bytes: &mut [u8], folder: [u8; 4]) {
    let mut x = u32::from_be_bytes(folder) | 1;
    for b in bytes {
        // xorshift32
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b ^= x.to_be_bytes()[0];
    }
}

/// The regular id of the item whose immutable id is `id`, while it is in `folder`; `None` when
/// `id` is not an immutable id of such an item.
pub fn regular(id: &str, folder: &str) -> Option<String> {
    let p = decode(id)?;
    if p.folder.is_some() {
        return None;
    }
    let fp = folder_fingerprint(folder);
    let mut body = p.body;
    scramble(&mut body, fp);
    let mut raw = Vec::with_capacity(ITEM_ID_LEN + 8);
    raw.extend_from_slice(&ID_PREFIX);
    raw.push(p.tag | REGULAR_FLAG);
    raw.extend_from_slice(&body);
    raw.extend_from_slice(&fp);
    raw.extend_from_slice(&p.tail);
    Some(base64::engine::general_purpose::URL_SAFE.encode(raw))
}

/// The immutable id a regular id stands for and the fingerprint of the folder it was issued in;
/// `None` when `id` is not a regular id.
pub fn immutable(id: &str) -> Option<(String, [u8; 4])> {
    let p = decode(id)?;
    let folder = p.folder?;
    let mut raw = Vec::with_capacity(ITEM_ID_LEN + 4);
    raw.extend_from_slice(&ID_PREFIX);
    raw.push(p.tag);
    raw.extend_from_slice(&p.body);
    raw.extend_from_slice(&p.tail);
    Some((
        base64::engine::general_purpose::URL_SAFE.encode(raw),
        folder,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(tag: u8, tail: &[u8]) -> String {
        let mut raw = ID_PREFIX.to_vec();
        raw.push(tag);
        raw.extend((0..30).map(|i| (i * 7 + 3) as u8));
        raw.extend_from_slice(tail);
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }

    #[test]
    fn regular_ids_round_trip_and_depend_on_the_folder() {
        for original in [id(1, &[]), id(2, &[]), id(3, &[]), id(5, &[7, 234, 11, 16])] {
            let inbox = regular(&original, "inbox-id").unwrap();
            let archive = regular(&original, "archive-id").unwrap();
            assert_ne!(inbox, original);
            assert_ne!(inbox, archive);
            assert!(inbox.starts_with("AAMk") && !inbox.contains(['+', '/']));
            assert_eq!(
                immutable(&inbox),
                Some((original.clone(), folder_fingerprint("inbox-id")))
            );
            // the forms share no long run a client could mistake for the other
            assert!(!inbox.contains(&original[8..20]));
            assert_eq!(regular(&inbox, "inbox-id"), None);
            assert_eq!(immutable(&original), None);
        }
    }

    #[test]
    fn tasks_and_other_strings_have_one_form() {
        assert_eq!(regular(&id(4, &[]), "list"), None);
        assert_eq!(regular("inbox", "x"), None);
        assert_eq!(immutable("not base64!"), None);
    }
}
