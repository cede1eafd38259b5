//! The guard both emulators' seed parsers share: a seed's YAML is sized, every alias expanded, before
//! serde copies anything.

/// The most values, bytes of text and levels of nesting a seed may expand to, every alias expansion
/// counted (the seeds of a sandbox hold a few thousand values).
const MAX_SEED_NODES: usize = 250_000;
const MAX_SEED_BYTES: usize = 64 * 1024 * 1024;
const MAX_SEED_DEPTH: usize = 64;

/// Refuses a seed whose aliases would expand past the limits, before serde copies anything: a few
/// aliases of a long string (or nested lists of aliases) would otherwise take gigabytes. Sizes each
/// anchor once from the parser's events (no value is built); syntax errors are left to serde.
pub(crate) fn check_expansion(text: &str) -> Result<(), String> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let mut anchors: std::collections::HashMap<usize, (usize, usize)> = Default::default();
    // Open collections: their anchor and the counts when they started.
    let mut open: Vec<(usize, usize, usize)> = Vec::new();
    let (mut nodes, mut bytes) = (0usize, 0usize);
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            return Ok(());
        };
        match event {
            Event::Scalar(value, _, anchor, _) => {
                nodes += 1;
                bytes = bytes.saturating_add(value.len());
                if anchor != 0 {
                    anchors.insert(anchor, (1, value.len()));
                }
            }
            Event::Alias(id) => {
                let (n, b) = anchors.get(&id).copied().unwrap_or((1, 0));
                nodes = nodes.saturating_add(n);
                bytes = bytes.saturating_add(b);
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                nodes += 1;
                open.push((anchor, nodes, bytes));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, n, b)) = open.pop()
                    && anchor != 0
                {
                    anchors.insert(anchor, (nodes - n + 1, bytes - b));
                }
            }
            _ => {}
        }
        if nodes > MAX_SEED_NODES || bytes > MAX_SEED_BYTES || open.len() > MAX_SEED_DEPTH {
            return Err(format!(
                "line {}: the seed expands to more than {MAX_SEED_NODES} values, {} MiB of text or \
                 {MAX_SEED_DEPTH} levels of nesting, counting every alias expansion; use fewer aliases",
                span.start.line(),
                MAX_SEED_BYTES / (1024 * 1024)
            ));
        }
    }
    Ok(())
}
