//! `CrmClient`: CRM.interface over HTTP. Sends what `encode` builds; adds auth, timeouts, bounded retries
//! of transient failures, and the check-before-retry rule that keeps retried upserts from duplicating.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use super::{
    Actor, BatchCommand, CatalogMode, Command, CrmError, CrmErrorKind, CrmTransport, Fields,
    Health, Query, REP_TABLE, Reply, WireFormats, WriteAction, Written,
    encode::{self, EncodeOptions, Login},
};

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Everything the client needs to reach CRM.interface. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct CrmClientConfig {
    /// Full URL of CRM.interface, path included (G1), e.g. `http://127.0.0.1:8081/crm.interface`.
    pub url: String,
    /// The master user (`OCSU`); it impersonates reps.
    pub user: String,
    pub password: SecretString,
    /// Value of the `client` attribute (G2), `GraphApi`.
    pub client_name: String,
    /// Request language (`xml:lang`): the language of catalog texts.
    pub language: String,
    pub formats: WireFormats,
    pub catalog_mode: CatalogMode,
    /// Whole-request timeout (the connectors' default is 60 s).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
}

impl CrmClientConfig {
    /// A config with the setup guide's defaults for everything but URL and credentials.
    pub fn new(url: impl Into<String>, user: impl Into<String>, password: SecretString) -> Self {
        Self {
            url: url.into(),
            user: user.into(),
            password,
            client_name: "GraphApi".to_owned(),
            language: "en".to_owned(),
            formats: WireFormats::default(),
            catalog_mode: CatalogMode::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// The CRM.interface client. Cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct CrmClient {
    http: reqwest::Client,
    config: CrmClientConfig,
}

/// Why one HTTP round trip failed, and whether the CRM may have applied the request anyway.
struct SendFailure {
    error: CrmError,
    maybe_applied: bool,
}

/// Where a command stands inside `execute`'s retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not yet done; safe to send as is.
    Pending,
    /// An upsert whose request may have been applied: check by match key first.
    Uncertain,
    /// An upsert found by its key after an uncertain attempt: re-sent as an update by id.
    Confirmed,
    /// A delete re-sent after an uncertain attempt: `not-found` then means it already happened.
    DeleteRetried,
    Done,
}

impl CrmClient {
    pub fn new(config: CrmClientConfig) -> Result<Self, CrmError> {
        config
            .formats
            .check()
            .map_err(|e| CrmError::new(CrmErrorKind::Config, e))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| {
                CrmError::new(
                    CrmErrorKind::Config,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Self { http, config })
    }

    pub fn config(&self) -> &CrmClientConfig {
        &self.config
    }

    fn encode(&self, actor: &Actor, commands: &[BatchCommand]) -> Result<String, CrmError> {
        let login = Login {
            user: &self.config.user,
            password: self.config.password.expose_secret(),
            client: &self.config.client_name,
            language: &self.config.language,
        };
        let options = EncodeOptions {
            formats: self.config.formats.clone(),
            catalog_mode: self.config.catalog_mode,
        };
        encode::encode_request(&login, actor, commands, &options)
    }

    /// One HTTP round trip. Never logs the body (it carries the password).
    async fn send_once(
        &self,
        actor: &Actor,
        commands: &[BatchCommand],
    ) -> Result<Vec<Result<Reply, CrmError>>, SendFailure> {
        let body = self.encode(actor, commands).map_err(|error| SendFailure {
            error,
            maybe_applied: false,
        })?;
        let transient = |message: String, maybe_applied| SendFailure {
            error: CrmError::new(CrmErrorKind::Transient, message),
            maybe_applied,
        };
        let response = self
            .http
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, encode::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Without a connection the request cannot have reached the CRM.
                let maybe_applied = !e.is_connect();
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                transient(
                    format!("request to {} {what}: {e}", self.config.url),
                    maybe_applied,
                )
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            transient(
                format!("reading the answer from {} failed: {e}", self.config.url),
                true,
            )
        })?;
        if status.is_server_error() {
            return Err(transient(
                format!("CRM.interface answered HTTP {status}"),
                true,
            ));
        }
        if !status.is_success() {
            return Err(SendFailure {
                error: CrmError::new(
                    CrmErrorKind::Config,
                    format!(
                        "CRM.interface at {} answered HTTP {status}; expected 200 with a <response> document (is the URL right?)",
                        self.config.url
                    ),
                ),
                maybe_applied: false,
            });
        }
        // The answer's texts reach messages: an endpoint echoing the request must not reveal the password.
        let mut redactor = crate::redact::Redactor::new();
        redactor.add(self.config.password.expose_secret());
        let redact = |mut error: CrmError| {
            error.message = redactor.redact(&error.message);
            error
        };
        encode::decode_response(&text, commands)
            .map(|results| {
                results
                    .into_iter()
                    .map(|result| result.map_err(redact))
                    .collect()
            })
            .map_err(|error| {
                let error = redact(error);
                // A request-level 511/500 inside a 200: the server failed somewhere; assume the worst.
                let maybe_applied = error.is_retryable();
                SendFailure {
                    error,
                    maybe_applied,
                }
            })
    }

    /// Asks, in one round trip, which uncertain upserts already exist (G13): per upsert, the undeleted
    /// records its match key finds.
    async fn check_uncertain(
        &self,
        actor: &Actor,
        commands: &[BatchCommand],
        uncertain: &[usize],
    ) -> Result<Vec<Result<Vec<super::Record>, CrmError>>, SendFailure> {
        let checks: Vec<BatchCommand> = uncertain
            .iter()
            .map(|&n| match &commands[n].command {
                Command::Upsert { table, key, fields } => {
                    let key: Fields = key
                        .iter()
                        .filter_map(|k| fields.get(k).map(|v| (k.clone(), v.clone())))
                        .collect();
                    BatchCommand::new(Command::Match {
                        table: table.clone(),
                        key,
                    })
                }
                _ => unreachable!("only upserts become uncertain"),
            })
            .collect();
        let results = self.send_once(actor, &checks).await?;
        Ok(results
            .into_iter()
            .map(|r| r.and_then(Reply::into_records))
            .collect())
    }
}

impl CrmTransport for CrmClient {
    fn execute<'a>(
        &'a self,
        actor: &'a Actor,
        commands: &'a [BatchCommand],
    ) -> BoxFuture<'a, Result<Vec<Result<Reply, CrmError>>, CrmError>> {
        Box::pin(async move {
            let n_commands = commands.len();
            if n_commands == 0 {
                return Ok(Vec::new());
            }
            let started = std::time::Instant::now();
            let mut results: Vec<Option<Result<Reply, CrmError>>> = vec![None; n_commands];
            let mut state = vec![State::Pending; n_commands];
            // Commands as they will be (re)sent: a confirmed upsert becomes an update by id.
            let mut current: Vec<BatchCommand> = commands.to_vec();
            let mut delays = ExponentialBuilder::default()
                .with_min_delay(self.config.retry.min_delay)
                .with_max_delay(self.config.retry.max_delay)
                .with_max_times(self.config.retry.max_retries)
                .with_jitter()
                .build();
            let mut attempt = 0usize;
            loop {
                attempt += 1;
                let last_error = match self
                    .attempt(actor, commands, &mut current, &mut state, &mut results)
                    .await
                {
                    Ok(()) => None,
                    Err(failure) if !failure.error.is_retryable() => return Err(failure.error),
                    Err(failure) => Some(failure.error),
                };
                let open: Vec<usize> = (0..n_commands)
                    .filter(|&n| state[n] != State::Done)
                    .collect();
                if open.is_empty() {
                    break;
                }
                let error = last_error.unwrap_or_else(|| {
                    CrmError::new(CrmErrorKind::Transient, "commands failed transiently")
                });
                match delays.next() {
                    Some(delay) => {
                        tracing::warn!(
                            url = %self.config.url,
                            attempt,
                            open_commands = open.len(),
                            error = %error,
                            ?delay,
                            "crm request failed transiently; retrying"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::warn!(url = %self.config.url, attempt, error = %error, "crm request failed; giving up");
                        if open.len() == n_commands && results.iter().all(Option::is_none) {
                            return Err(error);
                        }
                        for n in open {
                            results[n] = Some(Err(error.clone()));
                        }
                        break;
                    }
                }
            }
            tracing::debug!(
                url = %self.config.url,
                n_commands,
                attempts = attempt,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "crm request done"
            );
            Ok(results
                .into_iter()
                .map(|r| r.expect("every command has a result"))
                .collect())
        })
    }

    fn health_check(&self) -> BoxFuture<'_, Result<Health, CrmError>> {
        Box::pin(async move {
            let query = Query::table(REP_TABLE).fields(["RepID"]).max_records(1);
            let records = self.query(&Actor::Master, &query).await?;
            Ok(Health {
                user: self.config.user.clone(),
                reps_visible: !records.is_empty(),
            })
        })
    }
}

impl CrmClient {
    /// One attempt: resolve uncertain upserts, then send every open command. Updates `state`/`results`.
    async fn attempt(
        &self,
        actor: &Actor,
        original: &[BatchCommand],
        current: &mut [BatchCommand],
        state: &mut [State],
        results: &mut [Option<Result<Reply, CrmError>>],
    ) -> Result<(), SendFailure> {
        let uncertain: Vec<usize> = (0..state.len())
            .filter(|&n| state[n] == State::Uncertain)
            .collect();
        if !uncertain.is_empty() {
            let found = self.check_uncertain(actor, original, &uncertain).await?;
            for (&n, found) in uncertain.iter().zip(found) {
                match found {
                    Err(e) if e.is_retryable() => {}
                    Err(e) => {
                        results[n] = Some(Err(e));
                        state[n] = State::Done;
                    }
                    Ok(records) if records.is_empty() => state[n] = State::Pending,
                    Ok(records) if records.len() == 1 => {
                        let Command::Upsert { table, fields, .. } = &original[n].command else {
                            unreachable!("only upserts become uncertain")
                        };
                        tracing::info!(table = %table, id = %records[0].id, "uncertain upsert found by its match key; re-sending as update");
                        current[n].command = Command::Update {
                            table: table.clone(),
                            id: records[0].id.clone(),
                            fields: fields.clone(),
                        };
                        state[n] = State::Confirmed;
                    }
                    Ok(records) => {
                        let table = original[n].command.table();
                        results[n] = Some(Err(CrmError::new(
                            CrmErrorKind::AmbiguousMatch,
                            format!("the match key found {} records", records.len()),
                        )
                        .table(table)));
                        state[n] = State::Done;
                    }
                }
            }
        }
        // Open commands in order. A dependent command (after_success) is sent with its `<break>` when its
        // predecessor is sent with it; without one when the predecessor already succeeded; it is final
        // `Skipped` when the predecessor failed or was skipped; and it waits while the predecessor's
        // outcome is still being checked.
        let mut open: Vec<usize> = Vec::new();
        let mut breaks: Vec<bool> = Vec::new();
        for n in 0..state.len() {
            if !matches!(
                state[n],
                State::Pending | State::Confirmed | State::DeleteRetried
            ) {
                continue;
            }
            if !(current[n].after_success && n > 0) {
                open.push(n);
                breaks.push(false);
                continue;
            }
            let p = n - 1;
            if open.last() == Some(&p) {
                open.push(n);
                breaks.push(true);
                continue;
            }
            match (state[p], &results[p]) {
                (State::Done, Some(Ok(Reply::Skipped)) | Some(Err(_))) => {
                    results[n] = Some(Ok(Reply::Skipped));
                    state[n] = State::Done;
                }
                (State::Done, Some(Ok(_))) => {
                    open.push(n);
                    breaks.push(false);
                }
                _ => {}
            }
        }
        if open.is_empty() {
            return Ok(());
        }
        let batch: Vec<BatchCommand> = open
            .iter()
            .zip(&breaks)
            .map(|(&n, &after_success)| BatchCommand {
                command: current[n].command.clone(),
                after_success,
            })
            .collect();
        match self.send_once(actor, &batch).await {
            Ok(replies) => {
                let any_transient = replies
                    .iter()
                    .any(|r| r.as_ref().is_err_and(CrmError::is_retryable));
                for (&n, reply) in open.iter().zip(replies) {
                    match reply {
                        // Per-command atomicity: a failed command wrote nothing, so it is simply re-sent.
                        Err(e) if e.is_retryable() => {}
                        Ok(Reply::Skipped) if any_transient => {}
                        Err(e)
                            if state[n] == State::DeleteRetried
                                && e.kind == CrmErrorKind::NotFound =>
                        {
                            let Command::Delete { table, id } = &current[n].command else {
                                unreachable!()
                            };
                            results[n] = Some(Ok(Reply::Written(Written {
                                table: table.clone(),
                                id: id.clone(),
                                action: WriteAction::Delete,
                            })));
                            state[n] = State::Done;
                        }
                        Ok(Reply::Written(mut written)) if state[n] == State::Confirmed => {
                            // The first attempt wrote it; whether it created it is unknown, report update.
                            written.action = WriteAction::Update;
                            results[n] = Some(Ok(Reply::Written(written)));
                            state[n] = State::Done;
                        }
                        other => {
                            results[n] = Some(other);
                            state[n] = State::Done;
                        }
                    }
                }
                Ok(())
            }
            Err(failure) => {
                if failure.maybe_applied && failure.error.is_retryable() {
                    for &n in &open {
                        match (&current[n].command, state[n]) {
                            (Command::Upsert { .. }, _) => state[n] = State::Uncertain,
                            (Command::Insert { table, .. }, _) => {
                                results[n] = Some(Err(CrmError::new(
                                    CrmErrorKind::UnknownOutcome,
                                    format!(
                                        "insert sent but its answer was lost ({}); not repeated because it has no match key",
                                        failure.error.message
                                    ),
                                )
                                .table(table)));
                                state[n] = State::Done;
                            }
                            (Command::Delete { .. }, _) => state[n] = State::DeleteRetried,
                            _ => {}
                        }
                    }
                }
                Err(failure)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let config =
            CrmClientConfig::new("http://127.0.0.1:1/crm.interface", "OCSU", "hunter2".into());
        let client = CrmClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
        let mut bad = CrmClientConfig::new("http://127.0.0.1:1/x", "OCSU", "p".into());
        bad.formats.date = "%Q".into();
        assert_eq!(CrmClient::new(bad).unwrap_err().kind, CrmErrorKind::Config);
        // The client is usable as a trait object.
        let _: std::sync::Arc<dyn CrmTransport> = std::sync::Arc::new(client);
    }
}
