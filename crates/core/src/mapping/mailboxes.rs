//! Which mailboxes get synced: CRM reps × tenant mailbox users × managed domains → one decision per rep, with
//! the reason and the admin's one-line fix for every rep that is skipped.
//!
//! The setup guide's rule: sync only the mailboxes of reps flagged "Enable Connector" in the CRM whose
//! mailbox exists in the managed domains. Pure: the caller reads the reps (CRM) and the users with their
//! mailbox probes (Graph). E-mail addresses are compared without regard to case or surrounding spaces.

use std::collections::HashMap;

use crate::directory::{MailboxState, MailboxUser, Rep, TimeZoneSource};

/// The decision for one rep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    pub rep_id: String,
    pub rep_name: String,
    /// The rep's e-mail as the CRM holds it (trimmed), if any.
    pub email: Option<String>,
    pub enable_connector: bool,
    /// The matching tenant user's id, when one was found.
    pub user_id: Option<String>,
    /// Every SMTP address of that user (`mail` and proxy addresses), empty when none was found.
    pub addresses: Vec<String>,
    /// The mailbox's time zone, when it is synced.
    pub time_zone: Option<String>,
    /// True when the time zone is the configured default (mailboxSettings could not be read).
    pub time_zone_is_default: bool,
    pub status: Status,
}

impl MailboxEntry {
    /// A rep flagged "Enable Connector" whose mailbox cannot be synced: worth a warning.
    pub fn is_warning(&self) -> bool {
        self.enable_connector && self.status != Status::Sync
    }
}

/// Synced or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Sync,
    Skip(SkipReason),
}

/// Why a rep's mailbox is not synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The rep's "Enable Connector" flag is off.
    NotEnabled,
    /// The rep has no e-mail address in the CRM.
    NoEmail,
    /// Several reps share this e-mail (case ignored): the mailbox cannot be attributed, none is synced.
    Ambiguous { others: Vec<String> },
    /// The e-mail's domain is not one of the managed domains.
    OutsideDomains {
        domain: String,
        managed: Vec<String>,
    },
    /// No tenant user has this e-mail as `mail` or user principal name.
    NoSuchUser,
    /// The user has no Exchange Online mailbox (404 `MailboxNotEnabledForRESTAPI`).
    NoMailbox { diagnosis: String },
    /// The app may not read the mailbox (application access policy, 403).
    Denied { diagnosis: String },
}

impl SkipReason {
    /// A stable machine-readable name (`--format json`).
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::NotEnabled => "connector-not-enabled",
            SkipReason::NoEmail => "no-email",
            SkipReason::Ambiguous { .. } => "shared-email",
            SkipReason::OutsideDomains { .. } => "outside-managed-domains",
            SkipReason::NoSuchUser => "no-such-user",
            SkipReason::NoMailbox { .. } => "no-mailbox",
            SkipReason::Denied { .. } => "access-policy",
        }
    }

    /// What is wrong, short (one table cell).
    pub fn message(&self) -> String {
        match self {
            SkipReason::NotEnabled => "connector not enabled".to_owned(),
            SkipReason::NoEmail => "no e-mail on the rep".to_owned(),
            SkipReason::Ambiguous { others } => {
                format!("e-mail shared with rep {}", others.join(", "))
            }
            SkipReason::OutsideDomains { domain, .. } if domain.is_empty() => {
                "e-mail has no domain".to_owned()
            }
            SkipReason::OutsideDomains { domain, .. } => {
                format!("domain {domain} is not managed")
            }
            SkipReason::NoSuchUser => "no such user in the tenant".to_owned(),
            SkipReason::NoMailbox { .. } => "no Exchange Online mailbox".to_owned(),
            SkipReason::Denied { .. } => "excluded by an application access policy".to_owned(),
        }
    }

    /// The admin's fix, one line (`rep` names the rep, `email` its address).
    pub fn fix(&self, rep: &str, email: &str) -> String {
        match self {
            SkipReason::NotEnabled => format!(
                "if {rep} should be synced, tick \"Enable Connector\" on the rep in the CRM (information only otherwise)"
            ),
            SkipReason::NoEmail => {
                format!("enter the rep's mailbox address in E-mail1 of {rep} in the CRM")
            }
            SkipReason::Ambiguous { others } => format!(
                "give each rep its own mailbox address: {email} is also the e-mail of {}; none of them is synced until it is unique",
                others.join(", ")
            ),
            SkipReason::OutsideDomains { managed, .. } => format!(
                "correct the rep's e-mail in the CRM, or add its domain to graph.managed_domains (now: {})",
                if managed.is_empty() {
                    "none".to_owned()
                } else {
                    managed.join(", ")
                }
            ),
            SkipReason::NoSuchUser => format!(
                "no user {email} in the tenant: correct the rep's e-mail in the CRM (it must be the mailbox's primary address or sign-in name)"
            ),
            SkipReason::NoMailbox { .. } => format!(
                "user {email} has no Exchange Online mailbox (unlicensed, guest, soft-deleted or on-premises); assign an Exchange Online license or untick \"Enable Connector\" on {rep}"
            ),
            SkipReason::Denied { .. } => format!(
                "mailbox {email} is outside the Exchange application access policy that restricts this app; add it to the policy's mail-enabled security group (Test-ApplicationAccessPolicy in Exchange Online PowerShell)"
            ),
        }
    }
}

/// `domain` of `local@domain`, lower case; empty when there is none.
fn domain_of(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => domain.trim().to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

/// One entry per rep (in the order given), deciding whether its mailbox is synced.
pub fn select(
    reps: &[Rep],
    users: &[MailboxUser],
    managed_domains: &[String],
) -> Vec<MailboxEntry> {
    let managed: Vec<String> = managed_domains
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();

    // Reps per normalized e-mail, to find shared addresses.
    let mut by_email: HashMap<String, Vec<&str>> = HashMap::new();
    for rep in reps {
        if let Some(email) = rep.email.as_deref().filter(|e| !e.trim().is_empty()) {
            by_email
                .entry(normalize(email))
                .or_default()
                .push(rep.rep_id.as_str());
        }
    }
    // Users by `mail` first, then by UPN (a UPN match never overrides a mail match).
    let mut by_address: HashMap<String, &MailboxUser> = HashMap::new();
    for user in users {
        if let Some(mail) = user.mail.as_deref().filter(|m| !m.trim().is_empty()) {
            by_address.entry(normalize(mail)).or_insert(user);
        }
    }
    for user in users {
        by_address
            .entry(normalize(&user.user_principal_name))
            .or_insert(user);
    }
    // Then by any SMTP proxy address (an alias, or the address before a rename).
    for user in users {
        for address in user.smtp_addresses() {
            by_address.entry(normalize(&address)).or_insert(user);
        }
    }

    reps.iter()
        .map(|rep| {
            let email = rep
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty());
            let mut entry = MailboxEntry {
                rep_id: rep.rep_id.clone(),
                rep_name: rep.name.clone(),
                email: email.map(str::to_owned),
                enable_connector: rep.enable_connector,
                user_id: None,
                addresses: Vec::new(),
                time_zone: None,
                time_zone_is_default: false,
                status: Status::Sync,
            };
            let skip = |reason| Status::Skip(reason);
            entry.status = if !rep.enable_connector {
                skip(SkipReason::NotEnabled)
            } else if let Some(email) = email {
                let key = normalize(email);
                let sharing = by_email.get(&key).map(Vec::as_slice).unwrap_or_default();
                let domain = domain_of(email);
                let user = by_address.get(&key);
                if let Some(user) = user {
                    entry.user_id = Some(user.id.clone());
                    entry.addresses = user.smtp_addresses();
                }
                if sharing.len() > 1 {
                    let others = sharing
                        .iter()
                        .filter(|id| **id != rep.rep_id)
                        .map(|id| (*id).to_owned())
                        .collect();
                    skip(SkipReason::Ambiguous { others })
                } else if !managed.contains(&domain) {
                    skip(SkipReason::OutsideDomains {
                        domain,
                        managed: managed.clone(),
                    })
                } else {
                    match user.map(|u| &u.mailbox) {
                        None => skip(SkipReason::NoSuchUser),
                        Some(MailboxState::NoMailbox { diagnosis }) => {
                            skip(SkipReason::NoMailbox {
                                diagnosis: diagnosis.clone(),
                            })
                        }
                        Some(MailboxState::Denied { diagnosis }) => skip(SkipReason::Denied {
                            diagnosis: diagnosis.clone(),
                        }),
                        Some(MailboxState::Ready { time_zone, source }) => {
                            entry.time_zone = Some(time_zone.clone());
                            entry.time_zone_is_default =
                                *source == TimeZoneSource::ConfiguredDefault;
                            Status::Sync
                        }
                    }
                }
            } else {
                skip(SkipReason::NoEmail)
            };
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::directory::RecordId;

    fn rep(id: &str, email: Option<&str>, enabled: bool) -> Rep {
        Rep {
            id: RecordId::new(&format!("1{id}")),
            rep_id: id.to_owned(),
            name: format!("Rep {id}"),
            email: email.map(str::to_owned),
            enable_connector: enabled,
            sync_emails: true,
            sync_appointments: true,
            sync_tasks: true,
            sync_contacts: true,
        }
    }

    fn user(upn: &str, mail: Option<&str>, mailbox: MailboxState) -> MailboxUser {
        MailboxUser {
            id: format!("id-{upn}"),
            user_principal_name: upn.to_owned(),
            mail: mail.map(str::to_owned),
            display_name: None,
            account_enabled: Some(true),
            mailbox,
            proxy_addresses: Vec::new(),
        }
    }

    fn ready(tz: &str) -> MailboxState {
        MailboxState::Ready {
            time_zone: tz.to_owned(),
            source: TimeZoneSource::MailboxSettings,
        }
    }

    fn domains() -> Vec<String> {
        vec!["contoso.com".to_owned()]
    }

    fn status_of(reps: &[Rep], users: &[MailboxUser]) -> Vec<(String, Status)> {
        select(reps, users, &domains())
            .into_iter()
            .map(|e| (e.rep_id, e.status))
            .collect()
    }

    #[test]
    fn ready_mailbox_in_a_managed_domain_is_synced_with_its_time_zone() {
        let entries = select(
            &[rep("ANA", Some("ana@contoso.com"), true)],
            &[user(
                "ana@contoso.com",
                Some("ana@contoso.com"),
                ready("W. Europe Standard Time"),
            )],
            &domains(),
        );
        assert_eq!(entries[0].status, Status::Sync);
        assert_eq!(
            entries[0].time_zone.as_deref(),
            Some("W. Europe Standard Time")
        );
        assert_eq!(entries[0].user_id.as_deref(), Some("id-ana@contoso.com"));
        assert!(!entries[0].is_warning());
    }

    #[test]
    fn connector_not_enabled_is_skipped_without_warning() {
        let users = [user("die@contoso.com", None, ready("UTC"))];
        let entries = select(
            &[rep("DIE", Some("die@contoso.com"), false)],
            &users,
            &domains(),
        );
        assert_eq!(entries[0].status, Status::Skip(SkipReason::NotEnabled));
        assert!(!entries[0].is_warning());
        assert!(
            SkipReason::NotEnabled
                .fix("DIE", "die@contoso.com")
                .contains("Enable Connector")
        );
    }

    #[test]
    fn rep_without_email_is_skipped() {
        for email in [None, Some(""), Some("   ")] {
            let got = status_of(&[rep("X", email, true)], &[]);
            assert_eq!(got[0].1, Status::Skip(SkipReason::NoEmail));
        }
        assert!(SkipReason::NoEmail.fix("X", "").contains("E-mail1"));
    }

    #[test]
    fn email_outside_the_managed_domains_is_skipped_naming_the_domain() {
        let got = select(
            &[rep("EVA", Some("eva@fabrikam-partner.com"), true)],
            &[],
            &domains(),
        );
        let reason = SkipReason::OutsideDomains {
            domain: "fabrikam-partner.com".to_owned(),
            managed: domains(),
        };
        assert_eq!(got[0].status, Status::Skip(reason.clone()));
        assert!(got[0].is_warning());
        assert_eq!(
            reason.message(),
            "domain fabrikam-partner.com is not managed"
        );
        assert!(
            reason
                .fix("EVA", "")
                .contains("graph.managed_domains (now: contoso.com)")
        );
    }

    #[test]
    fn email_without_domain_and_empty_domain_list_are_outside() {
        let got = status_of(&[rep("X", Some("nobody"), true)], &[]);
        assert_eq!(
            got[0].1.clone(),
            Status::Skip(SkipReason::OutsideDomains {
                domain: String::new(),
                managed: domains()
            })
        );
        let got = select(&[rep("A", Some("a@contoso.com"), true)], &[], &[]);
        let Status::Skip(reason) = &got[0].status else {
            panic!("expected a skip, got {:?}", got[0].status);
        };
        assert!(reason.fix("A", "").contains("(now: none)"));
    }

    #[test]
    fn no_such_user_in_the_tenant() {
        let got = status_of(
            &[rep("X", Some("ghost@contoso.com"), true)],
            &[user("ana@contoso.com", None, ready("UTC"))],
        );
        assert_eq!(got[0].1, Status::Skip(SkipReason::NoSuchUser));
    }

    #[test]
    fn user_without_exchange_mailbox() {
        let state = MailboxState::NoMailbox {
            diagnosis: "404 MailboxNotEnabledForRESTAPI".to_owned(),
        };
        let entries = select(
            &[rep("CHL", Some("chloe@contoso.com"), true)],
            &[user("chloe@contoso.com", None, state)],
            &domains(),
        );
        let Status::Skip(reason) = &entries[0].status else {
            panic!("expected a skip");
        };
        assert_eq!(reason.code(), "no-mailbox");
        assert!(entries[0].is_warning());
        assert!(
            reason
                .fix("CHL", "chloe@contoso.com")
                .contains("assign an Exchange Online license")
        );
        assert_eq!(entries[0].user_id.as_deref(), Some("id-chloe@contoso.com"));
    }

    #[test]
    fn mailbox_excluded_by_an_access_policy() {
        let state = MailboxState::Denied {
            diagnosis: "403 Access to OData is disabled".to_owned(),
        };
        let got = status_of(
            &[rep("BEN", Some("ben@contoso.com"), true)],
            &[user("ben@contoso.com", None, state)],
        );
        let Status::Skip(reason) = &got[0].1 else {
            panic!("expected a skip");
        };
        assert_eq!(reason.code(), "access-policy");
        assert!(
            reason
                .fix("BEN", "ben@contoso.com")
                .contains("application access policy")
        );
    }

    #[test]
    fn two_reps_sharing_an_email_are_both_skipped_naming_each_other() {
        let got = status_of(
            &[
                rep("ANA", Some("ana@contoso.com"), true),
                rep("AN2", Some(" Ana@Contoso.COM "), true),
            ],
            &[user("ana@contoso.com", None, ready("UTC"))],
        );
        assert_eq!(
            got,
            vec![
                (
                    "ANA".to_owned(),
                    Status::Skip(SkipReason::Ambiguous {
                        others: vec!["AN2".to_owned()]
                    })
                ),
                (
                    "AN2".to_owned(),
                    Status::Skip(SkipReason::Ambiguous {
                        others: vec!["ANA".to_owned()]
                    })
                ),
            ]
        );
        let reason = SkipReason::Ambiguous {
            others: vec!["AN2".to_owned()],
        };
        assert!(
            reason
                .fix("ANA", "ana@contoso.com")
                .contains("also the e-mail of AN2")
        );
    }

    #[test]
    fn email_case_and_spaces_are_not_differences() {
        let got = select(
            &[rep("BEN", Some("  Ben@CONTOSO.com"), true)],
            &[user(
                "BEN@contoso.com",
                Some("ben@Contoso.com"),
                ready("Pacific Standard Time"),
            )],
            &["Contoso.COM".to_owned()],
        );
        assert_eq!(got[0].status, Status::Sync);
        assert_eq!(got[0].email.as_deref(), Some("Ben@CONTOSO.com"));
    }

    #[test]
    fn user_found_by_user_principal_name_when_mail_differs() {
        let got = status_of(
            &[rep("ANA", Some("ana@contoso.com"), true)],
            &[user(
                "ana@contoso.com",
                Some("ana.alvarez@contoso.com"),
                ready("UTC"),
            )],
        );
        assert_eq!(got[0].1, Status::Sync);
    }

    #[test]
    fn user_found_by_a_proxy_address_after_a_rename() {
        let mut renamed = user(
            "ana.alvarez@contoso.com",
            Some("ana.alvarez@contoso.com"),
            ready("UTC"),
        );
        renamed.proxy_addresses = vec![
            "SMTP:ana.alvarez@contoso.com".into(),
            "smtp:Ana@Contoso.com".into(),
            "X500:/o=ExchangeLabs/cn=Recipients/cn=ana".into(),
        ];
        let got = select(
            &[rep("ANA", Some("ana@contoso.com"), true)],
            &[renamed],
            &domains(),
        );
        assert_eq!(got[0].status, Status::Sync);
        assert_eq!(
            got[0].user_id.as_deref(),
            Some("id-ana.alvarez@contoso.com")
        );
        assert_eq!(
            got[0].addresses,
            vec![
                "ana.alvarez@contoso.com".to_owned(),
                "Ana@Contoso.com".to_owned()
            ]
        );
    }

    #[test]
    fn configured_default_time_zone_is_flagged() {
        let state = MailboxState::Ready {
            time_zone: "UTC".to_owned(),
            source: TimeZoneSource::ConfiguredDefault,
        };
        let got = select(
            &[rep("ANA", Some("ana@contoso.com"), true)],
            &[user("ana@contoso.com", None, state)],
            &domains(),
        );
        assert!(got[0].time_zone_is_default);
    }
}
