//! Reps who leave: a mailbox the connector synced whose user is gone from the tenant becomes `retired`
//! (reported, never synced, nothing deleted), and `retired --clean-up` removes what the connector kept for
//! it (its External Key rows, links and cursors) while the CRM records stay.

use jiff::Timestamp;

use crate::{
    state::MailboxStatus,
    transport::crm::{self, Actor, ext_keys},
};

use super::{Engine, Selector, report::MailboxReport, roster::Roster};

/// Every resource name a link can carry (the configured ones and any a former config had).
const RESOURCES: &[&str] = &["event", "message", "task", "contact", "absence"];

/// The user object is gone (deleted from Entra), not just its mailbox (a removed licence, a soft delete
/// or an on-premises mailbox answer `MailboxNotEnabledForRESTAPI` and only park the mailbox).
fn user_gone(e: &crate::transport::graph::GraphError) -> bool {
    e.status() == Some(404)
        && matches!(
            e.code(),
            Some("ErrorInvalidUser" | "Request_ResourceNotFound")
        )
}

/// Finds the mailboxes of earlier cycles whose user no longer exists: marks them retired in the state
/// store (on `apply`) and in the report. Only a full cycle (no `--mailbox`) decides; a user that
/// still exists but is no longer selected (rep disabled, domain no longer managed) is not retired, and a
/// retired mailbox whose user comes back syncs again (its links still hold, so nothing is duplicated).
pub(super) async fn detect(
    engine: &Engine,
    roster: &Roster,
    selector: &Selector,
    apply: bool,
    now: Timestamp,
    mailboxes: &mut Vec<MailboxReport>,
) {
    if !selector.mailboxes.is_empty() {
        return;
    }
    let statuses = match engine.state.list_status().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read mailbox statuses to find retired mailboxes");
            return;
        }
    };
    for status in statuses {
        if roster
            .entries
            .iter()
            .any(|e| e.user_id.as_deref() == Some(status.mailbox.as_str()))
        {
            continue;
        }
        let since = match status.retired_at {
            Some(at) => at,
            None => match engine.graph.health_check(Some(&status.mailbox)).await {
                Err(e) if user_gone(&e) => {
                    if apply {
                        let retired = MailboxStatus {
                            retired_at: Some(now),
                            ..status.clone()
                        };
                        if let Err(e) = engine.state.put_status(&retired).await {
                            tracing::warn!(mailbox = %status.mailbox, error = %e, "cannot record a retired mailbox");
                        }
                    }
                    now
                }
                _ => continue,
            },
        };
        let reason = format!(
            "retired: the user of {} (object id {}) was deleted from the tenant; not synced since {}, \
             its records stay in the CRM",
            status.address,
            status.mailbox,
            since.strftime("%Y-%m-%d %H:%M UTC")
        );
        let fix = "nothing, if the rep left; `graph-connector retired --clean-up` removes the connector's \
                   links and External Key rows of this mailbox (the CRM records stay). A user restored \
                   in Entra syncs again"
            .to_owned();
        let existing = mailboxes.iter_mut().find(|m| {
            m.user_id.is_none() && m.mailbox.trim().eq_ignore_ascii_case(status.address.trim())
        });
        let report = match existing {
            Some(m) => m,
            None => {
                mailboxes.push(MailboxReport::retired(&status.address));
                mailboxes.last_mut().expect("just pushed")
            }
        };
        report.retire(reason, fix);
    }
}

/// What `clean_up` removed for one mailbox.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CleanUp {
    pub mailbox: String,
    pub address: String,
    pub links: u64,
    pub ext_keys: u64,
    pub cursors: u64,
}

impl Engine {
    /// Retired mailboxes, as the state store holds them.
    pub async fn retired(&self) -> anyhow::Result<Vec<MailboxStatus>> {
        Ok(self
            .state
            .list_status()
            .await?
            .into_iter()
            .filter(|s| s.retired_at.is_some())
            .collect())
    }

    /// Removes what the connector keeps for a retired mailbox (`mailbox`: its object id or last address):
    /// the `GraphApi` External Key rows of its items, its links and its cursors. CRM records, other
    /// mailboxes' links and the shared correlation rows stay; the status keeps saying it is retired.
    /// Refuses a mailbox that is not retired.
    pub async fn clean_up_retired(&self, mailbox: &str) -> anyhow::Result<CleanUp> {
        let wanted = mailbox.trim();
        let status = self
            .retired()
            .await?
            .into_iter()
            .find(|s| s.mailbox == wanted || s.address.trim().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "`{mailbox}` is no retired mailbox (a mailbox is retired when a cycle finds its user \
                     deleted from the tenant; `graph-connector retired` lists them)"
                )
            })?;
        let mut out = CleanUp {
            mailbox: status.mailbox.clone(),
            address: status.address.clone(),
            ..CleanUp::default()
        };
        let mut names: Vec<&str> = RESOURCES.to_vec();
        for spec in &self.settings.resources {
            if !names.contains(&spec.name.as_str()) {
                names.push(&spec.name);
            }
        }
        for resource in names {
            let links = self.state.list_links(&status.mailbox, resource).await?;
            let ids: Vec<&str> = links.iter().map(|l| l.graph_id.as_str()).collect();
            let rows = ext_keys::find(
                self.crm.as_ref(),
                &Actor::Master,
                &[ext_keys::GRAPH_API],
                &ids,
            )
            .await?;
            for row in rows {
                let Some(id) = &row.id else { continue };
                match ext_keys::remove(self.crm.as_ref(), &Actor::Master, id).await {
                    Ok(()) => out.ext_keys += 1,
                    Err(e) if e.kind == crm::CrmErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            for link in &links {
                if self
                    .state
                    .delete_link(&status.mailbox, resource, &link.graph_id)
                    .await?
                {
                    out.links += 1;
                }
            }
        }
        out.cursors = self.state.forget_cursors(&status.mailbox, None).await?;
        Ok(out)
    }
}
