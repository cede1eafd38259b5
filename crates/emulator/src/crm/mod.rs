//! Emulator of Aurea CRM.interface: XML over HTTP on loopback, backed by a seeded record store.
//!
//! `spawn` starts it in-process (tests, sandbox); `run_from_cli` is `graph-connector emulate crm`. Requests
//! are `POST /crm.interface` with a `<request>` document; see docs/crm-emulator.md for the user guide and
//! docs/crm-interface-assumptions.md for the guessed wire shapes it accepts.

mod persist;
mod protocol;
pub mod seed;
mod store;
mod xml;
mod xpath;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use tokio::sync::{mpsc, oneshot};

pub use seed::Seed;

use protocol::Engine;
use store::{CatMode, Db, Schema, ValueCtx};

/// The URL path CRM.interface is served at.
pub const PATH: &str = "/crm.interface";

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Seed(String),
    /// The cause is part of the message (not a `source`), so `{:#}` does not print it twice.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("SQLite store {path}: {message}")]
    Store { path: PathBuf, message: String },
}

/// Where records live.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StoreOption {
    /// In memory only (default): every start begins from the seed.
    #[default]
    Memory,
    /// In memory, written through to this SQLite file; a file that already holds records is loaded
    /// instead of the seed's records (the seed still defines the schema and logins).
    Sqlite(PathBuf),
}

/// Faults injected into answers, drawn from the seeded rng (three draws per request, always).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every answer.
    pub latency: Duration,
    /// Share of requests answered HTTP 500 or 503 with a `511` server-failure body, without running.
    pub server_error_rate: f64,
    /// Share of requests whose connection is dropped before anything runs.
    pub drop_before_rate: f64,
    /// Share of requests that run (writes applied) and then lose their connection before the answer.
    pub drop_after_rate: f64,
}

/// Options of `spawn`.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Default `127.0.0.1:0` (a free loopback port).
    pub listen: SocketAddr,
    /// Default: the built-in sandbox seed.
    pub seed: Option<Seed>,
    pub store: StoreOption,
    pub faults: Faults,
    /// Seed of the fault rng, so fault sequences repeat.
    pub rng_seed: u64,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: None,
            store: StoreOption::Memory,
            faults: Faults::default(),
            rng_seed: 0,
        }
    }
}

/// Login of the seed's master user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub client: String,
}

/// Injected faults by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounters {
    pub latency: u64,
    pub server_errors: u64,
    pub drops_before: u64,
    pub drops_after: u64,
}

/// Request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// HTTP requests received.
    pub requests: u64,
    /// Commands run, by kind (`query`, `insert`, `update`, `delete`, `import`, `match`, …).
    pub commands: BTreeMap<String, u64>,
    /// Requests by caller: login, or `MASTER as REPID` when impersonating.
    pub users: BTreeMap<String, u64>,
    /// `<return type="error">` elements answered.
    pub errors: u64,
    pub faults: FaultCounters,
}

/// A stored record, for test inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub id: u64,
    pub deleted: bool,
    /// Canonical stored values (catalog fields hold codes) plus `Created` / `Upd`.
    pub values: BTreeMap<String, String>,
}

struct Shared {
    engine: Mutex<Engine>,
    counters: Mutex<Counters>,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    /// Taken at shutdown, which ends the writer task once the last job is written.
    persist: Mutex<Option<mpsc::UnboundedSender<persist::Job>>>,
}

/// A running emulator.
pub struct CrmEmulator {
    url: String,
    addr: SocketAddr,
    master: Credentials,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the emulator on `options.listen`.
pub async fn spawn(options: EmulatorOptions) -> Result<CrmEmulator, Error> {
    let seed = options.seed.unwrap_or_else(Seed::default_seed);
    let schema = Schema::from_seed(&seed).map_err(Error::Seed)?;
    let mut db = Db::new(schema);
    let (persist_tx, writer) = match &options.store {
        StoreOption::Memory => {
            load_seed_records(&mut db, &seed).map_err(Error::Seed)?;
            (None, None)
        }
        StoreOption::Sqlite(path) => {
            let mut store =
                persist::SqliteStore::open(path)
                    .await
                    .map_err(|message| Error::Store {
                        path: path.clone(),
                        message,
                    })?;
            let loaded = store.load(&mut db).await.map_err(|message| Error::Store {
                path: path.clone(),
                message,
            })?;
            if !loaded {
                load_seed_records(&mut db, &seed).map_err(Error::Seed)?;
                let all: Vec<(usize, u64)> = db
                    .data
                    .iter()
                    .enumerate()
                    .flat_map(|(t, d)| d.records.keys().map(move |id| (t, *id)))
                    .collect();
                store
                    .write(persist::Job::from_db(&db, &all, &[]))
                    .await
                    .map_err(|message| Error::Store {
                        path: path.clone(),
                        message,
                    })?;
            }
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(tokio::spawn(store.run(rx))))
        }
    };
    let master = Credentials {
        user: seed.master.user.clone(),
        password: seed.master.password.clone(),
        client: seed.master.client.clone(),
    };
    let shared = Arc::new(Shared {
        engine: Mutex::new(Engine::new(db, seed.master.clone(), seed.logins.clone())),
        counters: Mutex::new(Counters::default()),
        faults: Mutex::new(sanitize(options.faults)),
        rng: Mutex::new(StdRng::seed_from_u64(options.rng_seed)),
        persist: Mutex::new(persist_tx),
    });
    let (listener, addr) = super::bind(options.listen)
        .await
        .map_err(|error| Error::Bind {
            addr: options.listen,
            error,
        })?;
    let app = Router::new()
        .route(PATH, post(handle))
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "CRM emulator server failed");
        }
    });
    tracing::info!(%addr, "CRM emulator listening");
    Ok(CrmEmulator {
        url: format!("http://{addr}{PATH}"),
        addr,
        master,
        shared,
        stop: Some(stop),
        server,
        writer,
    })
}

fn sanitize(mut f: Faults) -> Faults {
    for rate in [
        &mut f.server_error_rate,
        &mut f.drop_before_rate,
        &mut f.drop_after_rate,
    ] {
        *rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
    }
    f
}

impl CrmEmulator {
    /// The CRM.interface URL (`http://127.0.0.1:PORT/crm.interface`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The master user of the seed (may impersonate reps with its client).
    pub fn master(&self) -> Credentials {
        self.master.clone()
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters.lock().expect("counters lock").clone()
    }

    /// Replaces the fault settings (rates are clamped to 0..=1).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().expect("faults lock") = sanitize(faults);
    }

    /// Live (not deleted) records of `table` whose `field` is exactly `value` as stored (catalog fields
    /// hold codes, booleans `true`/`false`); 0 for an unknown table.
    pub fn count(&self, table: &str, field: &str, value: &str) -> usize {
        self.records(table)
            .iter()
            .filter(|r| !r.deleted)
            .filter(|r| r.values.get(field).map(String::as_str).unwrap_or("") == value)
            .count()
    }

    /// Every record of `table` (deleted ones included), by id; empty for an unknown table.
    pub fn records(&self, table: &str) -> Vec<StoredRecord> {
        let engine = self.shared.engine.lock().expect("engine lock");
        let Some(t) = engine.db.schema.table(table) else {
            return Vec::new();
        };
        engine.db.data[t]
            .records
            .values()
            .map(|r| {
                let mut values = r.values.clone();
                values.insert("Created".to_owned(), store::format_ts(r.created));
                values.insert("Upd".to_owned(), store::format_ts(r.upd));
                StoredRecord {
                    id: r.id,
                    deleted: r.deleted,
                    values,
                }
            })
            .collect()
    }

    /// Stops serving, finishes pending SQLite writes.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
        self.shared.persist.lock().expect("persist lock").take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
    }
}

impl Drop for CrmEmulator {
    /// Dropping the handle without `shutdown` still stops the server (pending SQLite writes finish in the
    /// background while the runtime lives).
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Ok(mut tx) = self.shared.persist.lock() {
            tx.take();
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults = shared.faults.lock().expect("faults lock").clone();
    let (server_error, status_503, drop_before, drop_after) = {
        let mut rng = shared.rng.lock().expect("rng lock");
        (
            rng.random_bool(faults.server_error_rate),
            rng.random_bool(0.5),
            rng.random_bool(faults.drop_before_rate),
            rng.random_bool(faults.drop_after_rate),
        )
    };
    shared.counters.lock().expect("counters lock").requests += 1;
    if !faults.latency.is_zero() {
        shared
            .counters
            .lock()
            .expect("counters lock")
            .faults
            .latency += 1;
        tokio::time::sleep(faults.latency).await;
    }
    if server_error {
        shared
            .counters
            .lock()
            .expect("counters lock")
            .faults
            .server_errors += 1;
        let status = if status_503 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response><return type=\"error\" code=\"511\">server failure (injected fault)</return></response>\n";
        return (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            body,
        )
            .into_response();
    }
    if drop_before {
        shared
            .counters
            .lock()
            .expect("counters lock")
            .faults
            .drops_before += 1;
        return dropped();
    }
    let outcome = {
        let mut engine = shared.engine.lock().expect("engine lock");
        let outcome = match std::str::from_utf8(&body) {
            Ok(text) => engine.handle(text, jiff::Timestamp::now()),
            Err(e) => protocol::malformed_outcome(&format!(
                "the request body is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            )),
        };
        if let Some(tx) = shared.persist.lock().expect("persist lock").as_ref()
            && !(outcome.touched.is_empty() && outcome.advanced.is_empty())
        {
            let _ = tx.send(persist::Job::from_db(
                &engine.db,
                &outcome.touched,
                &outcome.advanced,
            ));
        }
        outcome
    };
    {
        let mut counters = shared.counters.lock().expect("counters lock");
        for kind in &outcome.commands {
            *counters.commands.entry(kind.clone()).or_default() += 1;
        }
        let user = outcome.user.clone().unwrap_or_else(|| "(none)".to_owned());
        *counters.users.entry(user).or_default() += 1;
        counters.errors += outcome.errors as u64;
        if drop_after {
            counters.faults.drops_after += 1;
        }
    }
    tracing::debug!(
        user = outcome.user.as_deref().unwrap_or("(none)"),
        commands = ?outcome.commands,
        errors = outcome.errors,
        written = outcome.touched.len(),
        dropped = drop_after,
        "CRM.interface request"
    );
    if drop_after {
        return dropped();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        outcome.response,
    )
        .into_response()
}

/// An answer whose body fails: the server aborts the connection, the client sees it drop mid-answer.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected fault: connection dropped",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(Body::from_stream(stream))
        .expect("static response parts")
}

/// Inserts the seed's reps, companies with their persons, and other records, as the master user would.
fn load_seed_records(db: &mut Db, seed: &Seed) -> Result<(), String> {
    let ctx = ValueCtx {
        lang: seed
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| "en".to_owned()),
        cat: CatMode::Text,
    };
    let now = jiff::Timestamp::now();
    let insert =
        |db: &mut Db, table: &str, row: &seed::Row, extra: &[(String, String)], place: &str| {
            let t = db.schema.table(table).ok_or_else(|| {
                format!("seed: {place}: table `{table}` is not defined in `tables`")
            })?;
            let mut changes = Vec::new();
            for (name, value) in row
                .iter()
                .map(|(k, v)| (k.clone(), v.to_text()))
                .chain(extra.iter().cloned())
            {
                let def = db.schema.tables[t].field(&name).cloned().ok_or_else(|| {
                    format!("seed: {place}: unknown field `{name}` in table {table}")
                })?;
                if def.readonly {
                    return Err(format!(
                        "seed: {place}: field `{name}` of table {table} is read-only"
                    ));
                }
                let value = db
                    .parse_value(t, &def, &value, &ctx)
                    .map_err(|e| format!("seed: {place}: {}", e.message))?;
                changes.push((name, value));
            }
            db.begin();
            let id = db
                .write(t, None, changes, now)
                .map_err(|e| format!("seed: {place}: {}", e.message))?;
            db.commit();
            Ok::<(usize, u64), String>((t, id))
        };
    for (i, row) in seed.reps.iter().enumerate() {
        insert(db, "Rep", row, &[], &format!("reps[{i}]"))?;
    }
    for (i, company) in seed.companies.iter().enumerate() {
        let (t, id) = insert(
            db,
            "Company",
            &company.fields,
            &[],
            &format!("companies[{i}]"),
        )?;
        let rec = db.data[t].records[&id].clone();
        let key = &db.schema.tables[t].key;
        let link: Vec<(String, String)> = key
            .iter()
            .map(|k| (k.clone(), rec.get(k).to_owned()))
            .collect();
        for (j, person) in company.persons.iter().enumerate() {
            insert(
                db,
                "Person",
                person,
                &link,
                &format!("companies[{i}].persons[{j}]"),
            )?;
        }
    }
    for (table, rows) in &seed.records {
        for (i, row) in rows.iter().enumerate() {
            insert(db, table, row, &[], &format!("records.{table}[{i}]"))?;
        }
    }
    Ok(())
}

/// Reads a seed file (YAML).
pub fn read_seed(path: &Path) -> Result<Seed, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Seed(format!("{}: cannot read seed: {e}", path.display())))?;
    Seed::from_yaml(&text, &path.display().to_string()).map_err(Error::Seed)
}

/// `graph-connector emulate crm`: serves until Ctrl-C after printing one JSON line with URLs and credentials.
pub async fn run_from_cli(listen: SocketAddr, seed: Option<&Path>) -> anyhow::Result<()> {
    let seed = seed.map(read_seed).transpose()?;
    let emulator = spawn(EmulatorOptions {
        listen,
        seed,
        ..EmulatorOptions::default()
    })
    .await?;
    let master = emulator.master();
    let line = serde_json::json!({
        "url": emulator.url(),
        "user": master.user,
        "password": master.password,
        "client": master.client,
    });
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
