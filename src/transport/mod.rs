//! The engine's two windows on the world: the CRM transport (CRM.interface) and the Graph transport, plus
//! what both share: the [`clock`] and the one question the sync runner asks of any error ([`Disposition`]).

pub mod clock;
pub mod crm;
pub mod graph;

/// What the sync runner does after an error: the one question it asks of a [`graph::GraphError`] or a
/// [`crm::CrmError`] (`disposition()` on both), so the runner never inspects status codes or kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Transient (throttling, a server failure, no response, a lost answer, a conflict, lost delta
    /// state): the cycle may try again later, nothing needs fixing.
    Retry,
    /// This mailbox cannot be synced until an admin acts: authentication or consent, no mailbox or
    /// licence, access denied, mailbox not found. Stop it and report the fix. Failures of the app's own
    /// credentials (Graph token, the CRM master user's login) come out here too: they park every mailbox,
    /// which is what they should do.
    ParkMailbox,
    /// This item is bad (validation, not found for an item write, payload refused): report it and go on
    /// with the next item.
    FailItem,
}
