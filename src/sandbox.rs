//! The sandbox: both emulators started in-process with their default seeds, and a `ConnectorConfig` that
//! points at them. `doctor --sandbox`, `graph-connector sandbox` and the end-to-end tests build on it.
//!
//! [`World`] makes the seeds date-independent: the default seeds are written around the week of
//! [`ANCHOR`]; the world moves every date in them by whole weeks so that week becomes the current one
//! (weekdays and recurrence patterns stay intact), and adds the CRM's side of the story (an appointment,
//! a task and an absence of Ana's).

use anyhow::Context as _;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::{
    config::ConnectorConfig,
    emulator::{crm, graph},
};

/// Both emulators, running on loopback until [`Sandbox::shutdown`].
pub struct Sandbox {
    pub graph: graph::GraphEmulator,
    pub crm: crm::CrmEmulator,
}

/// The credentials a sandbox config carries; start from [`Sandbox::credentials`] and change one to
/// reproduce an administrator's mistake.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub crm_password: String,
}

impl Sandbox {
    /// Starts both emulators with their default seeds.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(graph::Seed::sandbox(), crm::EmulatorOptions::default()).await
    }

    /// Starts both emulators with the given Graph seed and CRM options.
    pub async fn start_with(
        graph_seed: graph::Seed,
        crm_options: crm::EmulatorOptions,
    ) -> anyhow::Result<Self> {
        let graph = graph::spawn(graph::EmulatorOptions {
            seed: graph_seed,
            ..Default::default()
        })
        .await
        .context("starting the Graph emulator")?;
        let crm = crm::spawn(crm_options)
            .await
            .context("starting the CRM emulator")?;
        Ok(Self { graph, crm })
    }

    /// Starts both emulators with the [`World`] of `today`.
    pub async fn start_world(world: &World) -> anyhow::Result<Self> {
        let crm = crm::EmulatorOptions {
            seed: Some(world.crm_seed()?),
            ..Default::default()
        };
        Self::start_with(world.graph_seed(), crm).await
    }

    /// The credentials that work.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            tenant_id: self.graph.tenant_id().to_owned(),
            client_id: self.graph.client_id().to_owned(),
            client_secret: self.graph.client_secret().to_owned(),
            crm_password: self.crm.master().password,
        }
    }

    /// A configuration that points at both emulators with `credentials` (literal secrets: the sandbox
    /// made them up) and the managed domain of the default seed.
    pub fn config(&self, credentials: &Credentials) -> anyhow::Result<ConnectorConfig> {
        let master = self.crm.master();
        let tenant_id = &credentials.tenant_id;
        serde_json::from_value(json!({
            "graph": {
                "tenant_id": tenant_id,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "managed_domains": ["contoso.com"],
                "graph_url": self.graph.graph_url(),
                "token_url": format!("{}/{tenant_id}/oauth2/v2.0/token", self.graph.base_url()),
            },
            "crm": {
                "transport": "interface",
                "url": self.crm.url(),
                "user": master.user,
                "password": credentials.crm_password,
                "client": master.client,
                "time_zone": "W. Europe Standard Time",
            },
        }))
        .context("building the sandbox configuration")
    }

    /// Stops both emulators.
    pub async fn shutdown(self) {
        self.graph.shutdown().await;
        self.crm.shutdown().await;
    }
}

/// The Monday of the week the default seeds are written around.
pub const ANCHOR: &str = "2026-11-23";

/// The sandbox's world for a given day: the default seeds moved by whole weeks so that the anchor week is
/// the week of `today`.
#[derive(Debug, Clone, Copy)]
pub struct World {
    /// Days every seed date moves (a multiple of 7).
    pub shift_days: i64,
}

impl World {
    /// The world whose anchor week is the week of `today`.
    pub fn around(today: Date) -> World {
        let anchor: Date = ANCHOR.parse().expect("the anchor is a date");
        let monday = today
            .checked_sub(jiff::Span::new().days(i64::from(today.weekday().to_monday_zero_offset())))
            .unwrap_or(today);
        let days = i64::from((monday - anchor).get_days());
        World {
            shift_days: days - days.rem_euclid(7),
        }
    }

    /// The Graph emulator's default seed, moved.
    pub fn graph_seed(&self) -> graph::Seed {
        let mut seed = graph::Seed::sandbox();
        for user in &mut seed.users {
            for item in user
                .messages
                .iter_mut()
                .chain(user.events.iter_mut())
                .chain(user.contacts.iter_mut())
            {
                shift_json(item, self.shift_days);
            }
            for list in &mut user.todo_lists {
                for task in &mut list.tasks {
                    shift_json(task, self.shift_days);
                }
            }
        }
        seed
    }

    /// The CRM emulator's default seed with Ana's appointment, task and absence, moved.
    pub fn crm_seed(&self) -> anyhow::Result<crm::Seed> {
        let mut seed = crm::Seed::default_seed();
        let extra: crm::Seed = crm::Seed::from_yaml(
            &format!("{}\n{WORLD_RECORDS}", crm_header()),
            "<sandbox world records>",
        )
        .map_err(anyhow::Error::msg)?;
        for (table, rows) in extra.records {
            seed.records.entry(table).or_default().extend(rows);
        }
        for rows in seed.records.values_mut() {
            for row in rows {
                for value in row.values_mut() {
                    if let crm::seed::Scalar::Str(text) = value
                        && let Some(moved) = shift_text(text, self.shift_days)
                    {
                        *text = moved;
                    }
                }
            }
        }
        Ok(seed)
    }

    /// A date of the anchor week, moved (`offset` days after the anchor Monday).
    pub fn day(&self, offset: i64) -> Date {
        let anchor: Date = ANCHOR.parse().expect("the anchor is a date");
        anchor
            .checked_add(jiff::Span::new().days(offset + self.shift_days))
            .unwrap_or(anchor)
    }
}

/// The smallest seed text that parses, so the world's records can be read with the seed's own parser.
fn crm_header() -> &'static str {
    "master: { user: OCSU, password: sandbox, client: GraphApi }\ncatalogs: []\ntables: []"
}

/// Ana's CRM side of the anchor week (dates in the anchor week; the world moves them).
const WORLD_RECORDS: &str = r#"records:
  Contact:
    - { Contact: Telephone, Date: "2026-11-24", Time: "15:00", EndDate: "2026-11-24", EndTime: "15:30", Duration: 30, Unit: Minutes, Subject: "Call Fabrikam about the offer", Text: "Ask Frank about order 4711.", RepID: ANA, ShowAs: Busy, Priority: Normal }
  Tasks:
    - { RepID: ANA, Subject: "Send Northwind the catalogue", StartDate: "2026-11-23", DueDate: "2026-11-26", Status: Not started, Priority: Normal }
  Absences:
    - { RepID: ANA, Type: Training, StartDate: "2026-11-27", EndDate: "2026-11-27", Text: "Product training" }
"#;

/// Keys whose dates are not moved (a birthday stays a birthday).
const FIXED_KEYS: &[&str] = &["birthday"];

fn shift_json(value: &mut Value, days: i64) {
    match value {
        Value::String(s) => {
            if let Some(moved) = shift_text(s, days) {
                *s = moved;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift_json(v, days)),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if !FIXED_KEYS.contains(&k.as_str()) {
                    shift_json(v, days);
                }
            }
        }
        _ => {}
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDT…` moved by `days`; `None` for any other text.
fn shift_text(text: &str, days: i64) -> Option<String> {
    if days == 0 || text.len() < 10 || !text.is_char_boundary(10) {
        return None;
    }
    let (head, rest) = text.split_at(10);
    if !(rest.is_empty() || rest.starts_with('T')) {
        return None;
    }
    let date: Date = head.parse().ok()?;
    let moved = date.checked_add(jiff::Span::new().days(days)).ok()?;
    Some(format!("{moved}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_moves_by_whole_weeks_to_the_current_week() {
        let w = World::around("2026-11-25".parse().unwrap());
        assert_eq!(w.shift_days, 0);
        let w = World::around("2026-12-07".parse().unwrap());
        assert_eq!(w.shift_days, 14);
        assert_eq!(w.day(0).to_string(), "2026-12-07");
        let w = World::around("2027-03-14".parse().unwrap()); // a Sunday
        assert_eq!(w.day(0).weekday(), jiff::civil::Weekday::Monday);
        assert!(w.day(0) <= "2027-03-14".parse().unwrap());
        let w = World::around("2026-01-01".parse().unwrap());
        assert_eq!(w.shift_days % 7, 0);
        assert!(w.shift_days < 0);
    }

    #[test]
    fn dates_and_date_times_move_other_text_stays() {
        assert_eq!(shift_text("2026-11-23", 7).as_deref(), Some("2026-11-30"));
        assert_eq!(
            shift_text("2026-11-23T09:00:00", 14).as_deref(),
            Some("2026-12-07T09:00:00")
        );
        assert_eq!(shift_text("2026-11-23Z", 7), None);
        assert_eq!(shift_text("Order 2026-11-23", 7), None);
        assert_eq!(shift_text("2026-11-23", 0), None);
        let mut v = json!({"birthday": "1975-04-12T11:59:59Z", "start": {"dateTime": "2026-11-23T09:00:00"}});
        shift_json(&mut v, 7);
        assert_eq!(v["birthday"], "1975-04-12T11:59:59Z");
        assert_eq!(v["start"]["dateTime"], "2026-11-30T09:00:00");
    }
}
