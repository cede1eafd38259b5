//! Emulator of Microsoft Graph v1.0 (and the Entra token endpoint) on loopback, from a YAML seed.
//!
//! It answers the calls the connector makes the way Graph does (shapes from
//! `../shared/graph-examples`, rules from `../shared/reference/graph.md`): client-credentials
//! tokens with the real AADSTS errors, role-checked calls, users and mailbox probes, messages,
//! events (series, occurrences, exceptions, attendee copies), contacts, To Do, delta rounds with
//! opaque generation-stamped tokens, `$batch`, optimistic concurrency, per app × mailbox throttling
//! and seeded fault injection. It is the independent reference the Graph client is tested against,
//! so it shares no code with `transport::graph`.
//!
//! Entry points: [`spawn`] for tests and the sandbox, [`run_from_cli`] for
//! `graph-connector emulate graph`. User guide: `docs/graph-emulator.md`.

// Module graph (acyclic; each layer uses only the layers above it in this list, checked with
// `grep -n 'use super::\|super::[a-z_]*::' src/graph/*.rs`):
//
//   leaves     error, clock, calendar, html, ids, percent, odata, sealed, throttle; seed (-> calendar, error)
//   store      store (-> seed, calendar, html, ids, odata, percent): the tenant, items, `Subscription`, `Change`;
//              no HTTP
//   views      recurrence (-> store, calendar): series expansion;
//              render (-> store, recurrence, calendar, odata, html): items as Graph JSON
//   wire       http: `Req`, `Resp`, error envelopes;
//              wire (-> http, store, render, clock, throttle): `Shared`, `Ctx`, role checks, faults
//   handlers   auth, users, delta, items (-> delta), folders (-> delta, wire), id_forms (response ids, translateExchangeIds),
//              subscriptions (webhook delivery; -> store),
//              batch (runs items through a pipeline it is handed, not through `router`)
//   router     router (-> handlers, wire): the pipeline and the routes
//   mod        this file: options, `spawn`, the axum entry, test helpers
//
// The shared `lock` helper lives in the crate root.

mod auth;
mod batch;
mod calendar;
mod clock;
mod delta;
mod error;
mod folders;
mod html;
mod http;
mod id_forms;
mod ids;
mod items;
mod odata;
mod percent;
mod recurrence;
mod render;
mod router;
mod sealed;
mod seed;
mod store;
mod subscriptions;
mod throttle;
mod users;
mod wire;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinHandle};

pub use error::Error;
pub use seed::{AppSeed, SecretSeed, Seed, TenantSeed, TodoListSeed, UserSeed};
pub use store::ItemKind;
pub use throttle::{Counters, Faults, RetryAfter, ThrottleSettings};
pub use wire::DeltaSettings;

use crate::lock;
use clock::Clock;
use http::{Req, Resp};
use store::Store;
use throttle::Throttle;
use wire::Shared;

/// A mailbox whose licence [`GraphEmulator::remove_license`] took away.
pub struct ParkedMailbox {
    user: usize,
    mailbox: store::Mailbox,
}

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Default `127.0.0.1:0` (a free loopback port).
    pub listen: SocketAddr,
    pub seed: Seed,
    pub faults: Faults,
    pub throttle: ThrottleSettings,
    pub delta: DeltaSettings,
    /// Seeds ids, change keys, fault draws and `$batch` response order.
    pub rng_seed: u64,
    /// Access token lifetime (`expires_in`), Graph: 3599 s.
    pub token_lifetime: Duration,
    /// Emulator-only: accept `http://` notification and lifecycle URLs whose host is loopback
    /// (`127.0.0.0/8`, `::1`, `localhost`), for tests and the sandbox, whose receivers have no
    /// certificate. Graph itself, and the emulator by default, refuse any URL that is not HTTPS
    /// (400 `InvalidRequest` "NotificationUrl scheme='http' is not supported.").
    pub allow_http_loopback_webhooks: bool,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::sandbox(),
            faults: Faults::none(),
            throttle: ThrottleSettings::default(),
            delta: DeltaSettings::default(),
            rng_seed: 42,
            token_lifetime: Duration::from_secs(3599),
            allow_http_loopback_webhooks: false,
        }
    }
}

/// A running emulator.
pub struct GraphEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    secret_id: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    dispatcher: JoinHandle<()>,
}

/// Starts an emulator on `options.listen` and returns once it accepts connections.
pub async fn spawn(options: EmulatorOptions) -> Result<GraphEmulator, Error> {
    let now = Timestamp::now();
    let store =
        Store::new(&options.seed, options.rng_seed, now).map_err(|message| Error::Seed {
            origin: "seed".into(),
            message,
        })?;
    let (listener, addr) = super::bind(options.listen)
        .await
        .map_err(|error| Error::Bind {
            addr: options.listen,
            error,
        })?;
    let (tenant_id, client_id, client_secret, secret_id) = {
        let app = store.apps.first();
        let secret = app.and_then(|a| a.secrets.first());
        (
            store.tenant_id.clone(),
            app.map(|a| a.client_id.clone()).unwrap_or_default(),
            secret.map(|s| s.1.clone()).unwrap_or_default(),
            secret.map(|s| s.0.clone()).unwrap_or_default(),
        )
    };
    let (gate, _) = watch::channel(true);
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        throttle: Mutex::new(Throttle::new(
            options.throttle,
            options.faults,
            options.rng_seed,
        )),
        clock: Clock::new(),
        gate,
        changed: tokio::sync::Notify::new(),
        delta: options.delta,
        token_lifetime: options.token_lifetime,
        allow_http_loopback_webhooks: options.allow_http_loopback_webhooks,
        base: format!("http://{addr}"),
    });
    let app = axum::Router::new()
        .fallback(entry)
        .with_state(shared.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "graph emulator stopped");
        }
    });
    let dispatcher = tokio::spawn(subscriptions::dispatcher(shared.clone()));
    tracing::info!(%addr, "graph emulator listening");
    Ok(GraphEmulator {
        addr,
        shared,
        tenant_id,
        client_id,
        client_secret,
        secret_id,
        stop: Some(stop),
        task: Some(task),
        dispatcher,
    })
}

/// `graph-connector emulate graph`: serves until Ctrl-C after printing one JSON line with URLs and credentials.
///
/// Fault injection for demos comes from the environment: `GRAPH_EMULATOR_FAULT_RATE` (0–1),
/// `GRAPH_EMULATOR_LATENCY_MS`, `GRAPH_EMULATOR_RNG_SEED`; `GRAPH_EMULATOR_ALLOW_HTTP_WEBHOOKS=true`
/// accepts `http://` webhook URLs on loopback.
pub async fn run_from_cli(listen: SocketAddr, seed: Option<&Path>) -> anyhow::Result<()> {
    let seed = match seed {
        Some(path) => Seed::from_file(path)?,
        None => Seed::sandbox(),
    };
    let mut options = EmulatorOptions {
        listen,
        seed,
        ..EmulatorOptions::default()
    };
    fn env<T: std::str::FromStr>(name: &str, expected: &str) -> anyhow::Result<Option<T>> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{name}: expected {expected}, found `{v}`")),
            Err(_) => Ok(None),
        }
    }
    if let Some(rate) = env::<f64>("GRAPH_EMULATOR_FAULT_RATE", "a number from 0 to 1")? {
        anyhow::ensure!(
            (0.0..=1.0).contains(&rate),
            "GRAPH_EMULATOR_FAULT_RATE: expected a number from 0 to 1, found {rate}"
        );
        options.faults.rate = rate;
    }
    if let Some(ms) = env::<u64>("GRAPH_EMULATOR_LATENCY_MS", "milliseconds")? {
        options.faults.latency = Duration::from_millis(ms);
    }
    if let Some(seed) = env::<u64>("GRAPH_EMULATOR_RNG_SEED", "an unsigned integer")? {
        options.rng_seed = seed;
    }
    if let Some(allow) = env::<bool>("GRAPH_EMULATOR_ALLOW_HTTP_WEBHOOKS", "true or false")? {
        options.allow_http_loopback_webhooks = allow;
    }
    let emulator = spawn(options).await?;
    println!("{}", emulator.connection_json());
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}

impl GraphEmulator {
    /// `http://127.0.0.1:PORT/v1.0`
    pub fn graph_url(&self) -> String {
        self.shared.graph_base()
    }
    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.shared.base, self.tenant_id)
    }
    /// `http://127.0.0.1:PORT` (the token endpoint for another tenant is `{base}/{tenant}/oauth2/v2.0/token`).
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    /// The first app of the seed.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The first secret value of the first app.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }
    /// The id of that secret (what admins paste by mistake).
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The line `emulate graph` prints.
    pub fn connection_json(&self) -> Value {
        json!({
            "graph_url": self.graph_url(),
            "token_url": self.token_url(),
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        })
    }

    pub fn counters(&self) -> Counters {
        lock(&self.shared.throttle).counters.clone()
    }
    pub fn reset_counters(&self) {
        let mut t = lock(&self.shared.throttle);
        t.counters = Counters::default();
    }
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared.throttle).faults = faults;
    }
    pub fn set_throttle(&self, settings: ThrottleSettings) {
        lock(&self.shared.throttle).settings = settings;
    }

    /// Holds every admitted Graph request before it is handled, until [`Self::release_requests`]:
    /// lets tests build up concurrency deterministically.
    pub fn hold_requests(&self) {
        self.shared.gate.send_replace(false);
    }
    pub fn release_requests(&self) {
        self.shared.gate.send_replace(true);
    }
    /// Waits until `n` requests for `mailbox` are admitted and in flight (e.g. held at the gate).
    pub async fn wait_for_in_flight(&self, mailbox: &str, n: usize) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        for _ in 0..4000 {
            if lock(&self.shared.throttle).in_flight_for(ui) >= n {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(Error::Helper(format!(
            "{n} requests for {mailbox} did not arrive within 20 s"
        )))
    }

    /// Requests of `mailbox` in flight now (all apps).
    pub fn in_flight(&self, mailbox: &str) -> usize {
        match self.user(mailbox) {
            Ok(ui) => lock(&self.shared.throttle).in_flight_for(ui),
            Err(_) => 0,
        }
    }

    /// Moves the emulator clock (token and secret expiry, request budget windows).
    pub fn advance_clock(&self, by: SignedDuration) {
        self.shared.clock.advance(by);
    }
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// Replaces the admin-consented roles of an app (tokens issued later carry them).
    pub fn set_app_roles(&self, client_id: &str, roles: &[&str]) -> Result<(), Error> {
        self.with_app(client_id, |app| {
            app.roles = roles.iter().map(|r| (*r).to_owned()).collect();
        })
    }
    /// Sets (or clears) an application access policy: only the listed mailboxes are reachable.
    pub fn set_access_policy(&self, client_id: &str, allow: Option<&[&str]>) -> Result<(), Error> {
        self.with_app(client_id, |app| {
            app.access_policy_allow = allow.map(|a| a.iter().map(|s| (*s).to_owned()).collect());
        })
    }

    /// Applies `change` to the seeded app `client_id` (any case); an error when there is none.
    fn with_app(&self, client_id: &str, change: impl FnOnce(&mut store::App)) -> Result<(), Error> {
        let mut store = self.store();
        let app = store
            .apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| Error::Helper(format!("no app {client_id} in the seed")))?;
        change(app);
        Ok(())
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        lock(&self.shared.store)
    }

    /// A user of the helpers: by object id, sign-in name, or (after a rename) any of its addresses.
    fn user(&self, mailbox: &str) -> Result<usize, Error> {
        let store = self.store();
        let ui = store
            .user_index(mailbox)
            .or_else(|| store.user_by_address(mailbox))
            .ok_or_else(|| Error::Helper(format!("no user `{mailbox}` in the seed")))?;
        if store.mailboxes[ui].is_none() {
            return Err(Error::Helper(format!("user `{mailbox}` has no mailbox")));
        }
        Ok(ui)
    }

    /// Id of a mail folder (well-known name or display name), contact folder (display name;
    /// `contacts` = the default folder) or To Do list (display name), in that order.
    pub fn container_id(&self, mailbox: &str, name: &str) -> Result<String, Error> {
        let ui = self.user(mailbox)?;
        let store = self.store();
        let mb = store.mailbox(ui);
        mb.mail_folder(name)
            .or_else(|| {
                mb.mail_folders
                    .iter()
                    .find(|f| f.display_name.eq_ignore_ascii_case(name))
            })
            .map(|f| f.id.clone())
            .or_else(|| mb.contact_folder(name).map(|f| f.id.clone()))
            .or_else(|| {
                mb.contact_folders
                    .iter()
                    .find(|f| f.display_name.eq_ignore_ascii_case(name))
                    .map(|f| f.id.clone())
            })
            .or_else(|| {
                mb.todo_lists
                    .iter()
                    .find(|l| l.display_name.eq_ignore_ascii_case(name))
                    .map(|l| l.id.clone())
            })
            .ok_or_else(|| Error::Helper(format!("no folder or list `{name}` in {mailbox}")))
    }

    /// Creates a mail folder as a user would in Outlook, in `parent` (a well-known name, a display
    /// name or an id); returns its id.
    pub fn create_mail_folder(
        &self,
        mailbox: &str,
        parent: &str,
        name: &str,
    ) -> Result<String, Error> {
        let ui = self.user(mailbox)?;
        let parent = self.container_id(mailbox, parent)?;
        let mut store = self.store();
        self.shared.changed.notify_one();
        store
            .create_mail_folder(ui, &parent, name)
            .ok_or_else(|| Error::Helper(format!("a folder `{name}` already exists there")))
    }

    /// Moves a mail folder (with its messages and subfolders) into `parent` (well-known name,
    /// display name or id), as a user would in Outlook.
    pub fn move_mail_folder(&self, mailbox: &str, id: &str, parent: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let parent = self.container_id(mailbox, parent)?;
        self.store().move_mail_folder(ui, id, &parent);
        self.shared.changed.notify_one();
        Ok(())
    }

    /// Deletes a mail folder as Outlook does: it goes into Deleted Items with what it holds.
    pub fn delete_mail_folder(&self, mailbox: &str, id: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        self.store().delete_mail_folder(ui, id);
        self.shared.changed.notify_one();
        Ok(())
    }

    /// Removes a mail folder, its subfolders and their messages for good.
    pub fn purge_mail_folder(&self, mailbox: &str, id: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let now = self.now();
        self.store().purge_mail_folder(ui, id, now);
        self.shared.changed.notify_one();
        Ok(())
    }

    /// Moves a message into another mail folder (well-known name, display name or id) as a user
    /// would; it keeps its immutable id.
    pub fn move_message(&self, mailbox: &str, id: &str, folder: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let dest = self.container_id(mailbox, folder)?;
        let now = self.now();
        let mut store = self.store();
        store
            .move_message(ui, id, &dest, now)
            .ok_or_else(|| Error::Helper(format!("move_message: no message {id}")))?;
        self.shared.changed.notify_one();
        Ok(())
    }

    /// Renames a contact folder as a user would.
    pub fn rename_contact_folder(&self, mailbox: &str, id: &str, name: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        if !self.store().rename_contact_folder(ui, id, name) {
            return Err(Error::Helper(format!(
                "cannot rename contact folder {id} to `{name}`"
            )));
        }
        self.shared.changed.notify_one();
        Ok(())
    }

    /// Deletes a contact folder and its contacts as a user would.
    pub fn delete_contact_folder(&self, mailbox: &str, id: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let now = self.now();
        self.store().delete_contact_folder(ui, id, now);
        self.shared.changed.notify_one();
        Ok(())
    }

    /// The live contact folders of a mailbox as (id, display name), the default folder first.
    pub fn contact_folders(&self, mailbox: &str) -> Vec<(String, String)> {
        let Ok(ui) = self.user(mailbox) else {
            return Vec::new();
        };
        self.store()
            .mailbox(ui)
            .contact_folders
            .iter()
            .filter(|f| !f.deleted)
            .map(|f| (f.id.clone(), f.display_name.clone()))
            .collect()
    }

    /// Takes the user's Exchange Online licence away: every call on the mailbox answers 404
    /// `MailboxNotEnabledForRESTAPI` until [`GraphEmulator::restore_license`] gives the mailbox back.
    pub fn remove_license(&self, mailbox: &str) -> Result<ParkedMailbox, Error> {
        let ui = self.user(mailbox)?;
        let mut store = self.store();
        let parked = store.mailboxes[ui]
            .take()
            .ok_or_else(|| Error::Helper(format!("user `{mailbox}` has no mailbox")))?;
        store.users[ui].has_mailbox = false;
        Ok(ParkedMailbox {
            user: ui,
            mailbox: parked,
        })
    }

    /// Deletes a user from the directory as an administrator does when someone leaves: `/users` no
    /// longer lists it, `/users/{id}` answers 404 `Request_ResourceNotFound` and every mailbox call 404
    /// `ErrorInvalidUser`, by id and by address. (Entra keeps deleted users restorable for 30 days; the
    /// emulator has no restore.)
    pub fn delete_user(&self, mailbox: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let mut store = self.store();
        store.users[ui].deleted = true;
        store.users[ui].has_mailbox = false;
        store.mailboxes[ui] = None;
        Ok(())
    }

    /// Renames a user as an administrator does: `address` becomes the sign-in name and primary SMTP
    /// address, the old primary address stays as an `smtp:` proxy address (mail to it still arrives).
    /// The object id, the mailbox and its items are unchanged.
    pub fn rename_user(&self, mailbox: &str, address: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let mut store = self.store();
        let user = &mut store.users[ui];
        if let Some(old) = user.mail.take() {
            let alias = format!("smtp:{old}");
            if !user
                .proxy_addresses
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&alias))
            {
                user.proxy_addresses.push(alias);
            }
        }
        let primary = format!("smtp:{address}");
        user.proxy_addresses
            .retain(|p| !p.eq_ignore_ascii_case(&primary));
        user.mail = Some(address.to_owned());
        user.upn = address.to_owned();
        Ok(())
    }

    /// Gives back a mailbox taken by [`GraphEmulator::remove_license`], with its items.
    pub fn restore_license(&self, parked: ParkedMailbox) {
        let mut store = self.store();
        store.users[parked.user].has_mailbox = true;
        store.mailboxes[parked.user] = Some(parked.mailbox);
    }

    /// Adds an item as a user would in Outlook (Graph JSON). `container` is a folder or list
    /// name or id (default: inbox, the default contact folder, the default To Do list).
    /// Events with internal attendees also land in their calendars.
    pub fn add_item(
        &self,
        mailbox: &str,
        kind: ItemKind,
        container: Option<&str>,
        item: Value,
    ) -> Result<String, Error> {
        let Value::Object(map) = item else {
            return Err(Error::Helper("add_item: expected a JSON object".into()));
        };
        let ui = self.user(mailbox)?;
        let container = match (kind, container) {
            (ItemKind::Event, _) => String::new(),
            (_, Some(c)) => self.container_id(mailbox, c)?,
            (ItemKind::Message, None) => self.container_id(mailbox, "inbox")?,
            (ItemKind::Contact, None) => self.container_id(mailbox, "contacts")?,
            (ItemKind::Task, None) => {
                let store = self.store();
                let mb = store.mailbox(ui);
                mb.todo_lists
                    .iter()
                    .find(|l| l.wellknown == "defaultList")
                    .map(|l| l.id.clone())
                    .unwrap_or_default()
            }
        };
        let now = self.now();
        let mut store = self.store();
        self.shared.changed.notify_one();
        Ok(match kind {
            ItemKind::Message => store.create_message(ui, &container, map, false, now),
            ItemKind::Contact => store.create_contact(ui, &container, map, now),
            ItemKind::Task => store.create_task(ui, &container, map, now),
            ItemKind::Event => store.create_event(ui, map, now).map_err(Error::Helper)?,
        })
    }

    /// Changes an item as a user would (merge of top-level properties), bumping its change key.
    pub fn update_item(&self, mailbox: &str, id: &str, patch: Value) -> Result<(), Error> {
        let Value::Object(patch) = patch else {
            return Err(Error::Helper("update_item: expected a JSON object".into()));
        };
        let ui = self.user(mailbox)?;
        let now = self.now();
        let mut store = self.store();
        self.shared.changed.notify_one();
        items::apply_patch(&mut store, ui, id, patch, now, true).map_err(|r| {
            Error::Helper(format!(
                "update_item {id}: {}",
                r.body.map(|b| b.to_string()).unwrap_or_default()
            ))
        })
    }

    /// Deletes an item (or one occurrence of a series) as a user would.
    pub fn delete_item(&self, mailbox: &str, id: &str) -> Result<(), Error> {
        let ui = self.user(mailbox)?;
        let now = self.now();
        let mut store = self.store();
        self.shared.changed.notify_one();
        items::delete_item(&mut store, ui, id, now).map_err(|r| {
            Error::Helper(format!(
                "delete_item {id}: {}",
                r.body.map(|b| b.to_string()).unwrap_or_default()
            ))
        })
    }

    /// The stored item as Graph JSON (UTC), with its extended properties; `None` if absent or deleted.
    pub fn item(&self, mailbox: &str, id: &str) -> Option<Value> {
        let ui = self.user(mailbox).ok()?;
        let store = self.store();
        let item = store.mailbox(ui).live(id)?;
        Some(render::stored_view(item))
    }

    /// The regular id (what a client without `Prefer: IdType="ImmutableId"` sees) of the item or
    /// occurrence whose immutable id is `id`, in the folder it is in now; `None` for unknown ids
    /// and for items with one id form (To Do tasks).
    pub fn regular_id(&self, mailbox: &str, id: &str) -> Option<String> {
        let ui = self.user(mailbox).ok()?;
        self.store().regular_id(ui, id)
    }

    /// All live items of one kind in a mailbox (stored view, series masters unexpanded).
    pub fn items(&self, mailbox: &str, kind: ItemKind) -> Vec<Value> {
        let Ok(ui) = self.user(mailbox) else {
            return Vec::new();
        };
        let store = self.store();
        store
            .mailbox(ui)
            .items
            .values()
            .filter(|i| i.kind == kind && !i.deleted)
            .map(render::stored_view)
            .collect()
    }

    /// Evicts the sync states of a mailbox (or all): every delta/skip token issued so far answers
    /// 410 SyncStateNotFound, as when Exchange drops its cache.
    pub fn evict_delta_tokens(&self, mailbox: Option<&str>) -> Result<(), Error> {
        let only = match mailbox {
            Some(m) => Some(self.user(m)?),
            None => None,
        };
        let mut store = self.store();
        for (ui, mb) in store.mailboxes.iter_mut().enumerate() {
            let Some(mb) = mb else { continue };
            if only.is_some_and(|o| o != ui) {
                continue;
            }
            for g in mb.generations.values_mut() {
                g.current += 1;
                g.evicted_below = g.current;
            }
        }
        Ok(())
    }

    /// Sends a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`,
    /// `missed`) to a subscription's lifecycleNotificationUrl.
    pub async fn send_lifecycle_event(
        &self,
        subscription_id: &str,
        event: &str,
    ) -> Result<(), Error> {
        subscriptions::lifecycle(&self.shared, subscription_id, event)
            .await
            .map_err(Error::Helper)
    }

    /// Ids of the live subscriptions (all apps).
    pub fn subscription_ids(&self) -> Vec<String> {
        let now = self.now();
        self.store()
            .subscriptions
            .iter()
            .filter(|s| s.expires > now)
            .map(|s| s.id.clone())
            .collect()
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        self.dispatcher.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.release_requests();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for GraphEmulator {
    fn drop(&mut self) {
        self.dispatcher.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.gate.send_replace(true);
    }
}

async fn entry(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let hdrs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = hdrs
        .iter()
        .find(|(k, _)| k == "client-request-id")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let now = shared.clock.now();
    let resp = if let Some(rest) = path.strip_prefix("/v1.0") {
        let parsed_body = if body.is_empty() {
            None
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(v) => Some(v),
                Err(e) => {
                    let r = http::err::bad_request(format!(
                        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
                    ));
                    return to_http(r.finish(&request_id, &client_request_id, now), &method);
                }
            }
        };
        let req = Req {
            method: method.as_str().to_owned(),
            segments: http::split_segments(rest),
            raw_path: rest.to_owned(),
            query: http::parse_query(&query),
            headers: hdrs,
            body: parsed_body,
            request_id: request_id.clone(),
            client_request_id: client_request_id.clone(),
        };
        router::graph(shared.clone(), req, false).await
    } else if path.ends_with("/oauth2/v2.0/token") {
        // Entra, not Graph: its own request-id headers, no Graph envelope.
        let resp = auth::token_endpoint(&shared, &method, &path, &hdrs, &body).await;
        return to_http(resp, &method);
    } else {
        http::err::no_route(method.as_str(), &path)
    };
    to_http(
        resp.finish(&request_id, &client_request_id, shared.clock.now()),
        &method,
    )
}

fn to_http(resp: Resp, method: &Method) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    for (k, v) in &resp.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            headers.append(k, v);
        }
    }
    if let Ok(v) = HeaderValue::try_from(httpdate::fmt_http_date(std::time::SystemTime::now())) {
        headers.insert(axum::http::header::DATE, v);
    }
    let body = match (&resp.body, method == Method::HEAD) {
        (Some(b), false) => b.to_string(),
        _ => String::new(),
    };
    (status, headers, body).into_response()
}
