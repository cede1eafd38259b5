//! Who is synced this cycle: the CRM's reps and the tenant's mailbox users, decided by the core's
//! `mailboxes::select` (one entry per rep, with the reason and fix of every skip).

use crate::{
    directory::Rep,
    mapping::mailboxes::{self, MailboxEntry, Status},
    transport::crm::Actor,
};

use super::Engine;

/// The cycle's view of reps and mailboxes.
#[derive(Debug, Clone)]
pub struct Roster {
    pub entries: Vec<RosterEntry>,
    /// Listing warnings worth an admin's attention (e.g. MailboxSettings.Read missing).
    pub warnings: Vec<String>,
}

/// One rep, its mailbox decision, and its CRM flags.
#[derive(Debug, Clone)]
pub struct RosterEntry {
    pub rep: Rep,
    pub decision: MailboxEntry,
    pub email: Option<String>,
    /// The mailbox user's other SMTP addresses (primary and proxy addresses besides `email`).
    pub aliases: Vec<String>,
    pub user_id: Option<String>,
    /// Language of the rep's texts (`Rep.Language`), if the CRM has one.
    pub language: Option<String>,
}

impl RosterEntry {
    pub fn synced(&self) -> bool {
        self.decision.status == Status::Sync
    }

    /// The state store's key for this mailbox: the Entra user object id (an address can change).
    pub fn mailbox_id(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.rep.rep_id)
    }

    /// The address Graph calls use (the user object id: stable across renames).
    pub fn graph_user(&self) -> &str {
        self.mailbox_id()
    }

    pub fn address(&self) -> &str {
        self.email.as_deref().unwrap_or("")
    }

    /// Every address of the mailbox: the rep's e-mail, then the user's other SMTP addresses.
    pub fn addresses(&self) -> Vec<String> {
        self.email.iter().chain(&self.aliases).cloned().collect()
    }

    /// Whether `address` is one of the mailbox's (case and surrounding spaces ignored).
    pub fn has_address(&self, address: &str) -> bool {
        let address = address.trim();
        self.email
            .iter()
            .chain(&self.aliases)
            .any(|a| a.trim().eq_ignore_ascii_case(address))
    }

    /// The CRM actor for writes on this rep's behalf.
    pub fn actor(&self) -> Actor {
        match &self.email {
            Some(email) => Actor::RepEmail(email.clone()),
            None => Actor::Master,
        }
    }
}

impl Roster {
    /// Whether `address` belongs to a rep whose mailbox is synced (case ignored).
    pub fn is_synced_address(&self, address: &str) -> bool {
        let address = address.trim();
        self.entries
            .iter()
            .any(|e| e.synced() && e.has_address(address))
    }
}

/// Reads the reps (every rep: disabled ones are reported too) and the users of the managed domains.
pub async fn read(engine: &Engine) -> Result<Roster, String> {
    let reps = engine
        .crm
        .list_reps(&Actor::Master, false)
        .await
        .map_err(|e| format!("cannot read the reps from the CRM: {e}"))?;
    let listing = engine
        .graph
        .list_mailbox_users(&engine.settings.managed_domains)
        .await
        .map_err(|e| format!("cannot list the tenant's mailbox users: {e}"))?;
    let decisions = mailboxes::select(&reps, &listing.users, &engine.settings.managed_domains);
    let languages = rep_languages(engine).await;
    let entries = reps
        .into_iter()
        .zip(decisions)
        .map(|(rep, decision)| RosterEntry {
            aliases: decision
                .addresses
                .iter()
                .filter(|a| {
                    !decision
                        .email
                        .as_deref()
                        .is_some_and(|e| e.trim().eq_ignore_ascii_case(a.trim()))
                })
                .cloned()
                .collect(),
            email: decision.email.clone(),
            user_id: decision.user_id.clone(),
            language: languages
                .iter()
                .find(|(id, _)| *id == rep.rep_id)
                .map(|(_, l)| l.clone()),
            rep,
            decision,
        })
        .collect();
    Ok(Roster {
        entries,
        warnings: listing.warnings,
    })
}

/// `Rep.Language` of every rep (empty when the CRM has no such field: texts then use `crm.language`).
async fn rep_languages(engine: &Engine) -> Vec<(String, String)> {
    use crate::transport::crm::Query;
    let query = Query::table(crate::transport::crm::REP_TABLE).fields(["RepID", "Language"]);
    match engine.crm.query(&Actor::Master, &query).await {
        Ok(records) => records
            .iter()
            .filter_map(|r| {
                let id = r.text("RepID")?.trim().to_owned();
                let lang = r.text("Language")?.trim().to_lowercase();
                (!lang.is_empty()).then_some((id, lang))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}
