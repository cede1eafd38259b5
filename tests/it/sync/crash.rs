//! A crash at any point of a write cycle, then a rerun: the end state equals a run without the crash —
//! no duplicate, no lost change. The crash is simulated where it hurts most: the cycle is dropped at the
//! Nth call to a service, either before the call is sent or after its answer came back (the write
//! happened, the process died before recording it).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use futures::future::BoxFuture;
use graph_connector::{
    sync::Selector,
    transport::{
        crm::{Actor, BatchCommand, CrmError, CrmTransport, Health, Reply},
        graph::{
            CreateOptions, CreateTarget, DeltaCursor, DeltaPage, DeltaScope, ExchangeIdType,
            FolderChanges, GraphError, GraphTransport, Item, ItemRef, StampScope, UpdateOutcome,
            UserListing,
            types::{ContactFolder, MailFolder, TodoTaskList},
        },
    },
};
use serde_json::Value;
use tokio::sync::Notify;

use super::{Fixture, assert_ok};

/// Where the crash happens.
#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    /// The Nth call is never sent.
    Before,
    /// The Nth call is answered, then the process dies.
    After,
}

/// Shared by both wrappers: counts calls and trips at the Nth.
struct Switch {
    calls: AtomicUsize,
    at: usize,
    when: When,
    tripped: Notify,
    hit: Mutex<bool>,
}

impl Switch {
    fn new(at: usize, when: When) -> Arc<Switch> {
        Arc::new(Switch {
            calls: AtomicUsize::new(0),
            at,
            when,
            tripped: Notify::new(),
            hit: Mutex::new(false),
        })
    }

    /// Runs `call` unless the crash point is reached (then never returns).
    fn guard<'a, T: Send + 'a>(self: &'a Arc<Self>, call: BoxFuture<'a, T>) -> BoxFuture<'a, T> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let dead = *self.hit.lock().unwrap();
        Box::pin(async move {
            if dead {
                return futures::future::pending().await;
            }
            if n == self.at {
                *self.hit.lock().unwrap() = true;
                if self.when == When::After {
                    let _ = call.await;
                }
                self.tripped.notify_one();
                return futures::future::pending().await;
            }
            call.await
        })
    }
}

struct CrashGraph {
    inner: Arc<dyn GraphTransport>,
    switch: Arc<Switch>,
}

impl GraphTransport for CrashGraph {
    fn health_check<'a>(&'a self, m: Option<&'a str>) -> BoxFuture<'a, Result<(), GraphError>> {
        self.switch.guard(self.inner.health_check(m))
    }
    fn list_mailbox_users<'a>(
        &'a self,
        d: &'a [String],
    ) -> BoxFuture<'a, Result<UserListing, GraphError>> {
        self.switch.guard(self.inner.list_mailbox_users(d))
    }
    fn todo_lists<'a>(
        &'a self,
        m: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TodoTaskList>, GraphError>> {
        self.switch.guard(self.inner.todo_lists(m))
    }
    fn default_contact_folder<'a>(
        &'a self,
        m: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, GraphError>> {
        self.switch.guard(self.inner.default_contact_folder(m))
    }
    fn contact_folders<'a>(
        &'a self,
        m: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContactFolder>, GraphError>> {
        self.switch.guard(self.inner.contact_folders(m))
    }
    fn mail_folder_tree<'a>(
        &'a self,
        m: &'a str,
        f: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MailFolder>, GraphError>> {
        self.switch.guard(self.inner.mail_folder_tree(m, f))
    }
    fn mail_folder_changes<'a>(
        &'a self,
        m: &'a str,
        l: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FolderChanges, GraphError>> {
        self.switch.guard(self.inner.mail_folder_changes(m, l))
    }
    fn create_contact_folder<'a>(
        &'a self,
        m: &'a str,
        n: &'a str,
    ) -> BoxFuture<'a, Result<ContactFolder, GraphError>> {
        self.switch.guard(self.inner.create_contact_folder(m, n))
    }
    fn delta_page<'a>(
        &'a self,
        s: &'a DeltaScope,
        c: &'a DeltaCursor,
    ) -> BoxFuture<'a, Result<DeltaPage, GraphError>> {
        self.switch.guard(self.inner.delta_page(s, c))
    }
    fn get_item<'a>(&'a self, i: &'a ItemRef) -> BoxFuture<'a, Result<Option<Item>, GraphError>> {
        self.switch.guard(self.inner.get_item(i))
    }
    fn create_item<'a>(
        &'a self,
        t: &'a CreateTarget,
        b: &'a Value,
        o: &'a CreateOptions,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        self.switch.guard(self.inner.create_item(t, b, o))
    }
    fn update_item<'a>(
        &'a self,
        i: &'a ItemRef,
        p: &'a Value,
        m: Option<&'a str>,
    ) -> BoxFuture<'a, Result<UpdateOutcome, GraphError>> {
        self.switch.guard(self.inner.update_item(i, p, m))
    }
    fn delete_item<'a>(
        &'a self,
        i: &'a ItemRef,
        m: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, GraphError>> {
        self.switch.guard(self.inner.delete_item(i, m))
    }
    fn stamp<'a>(&'a self, i: &'a ItemRef, c: &'a str) -> BoxFuture<'a, Result<Item, GraphError>> {
        self.switch.guard(self.inner.stamp(i, c))
    }
    fn find_by_stamp<'a>(
        &'a self,
        s: &'a StampScope,
        c: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Item>, GraphError>> {
        self.switch.guard(self.inner.find_by_stamp(s, c))
    }
    fn translate_exchange_ids<'a>(
        &'a self,
        m: &'a str,
        ids: &'a [String],
        from: ExchangeIdType,
        to: ExchangeIdType,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, GraphError>> {
        self.switch
            .guard(self.inner.translate_exchange_ids(m, ids, from, to))
    }
}

struct CrashCrm {
    inner: Arc<dyn CrmTransport>,
    switch: Arc<Switch>,
}

impl CrmTransport for CrashCrm {
    fn execute<'a>(
        &'a self,
        actor: &'a Actor,
        commands: &'a [BatchCommand],
    ) -> BoxFuture<'a, Result<Vec<Result<Reply, CrmError>>, CrmError>> {
        self.switch.guard(self.inner.execute(actor, commands))
    }
    fn health_check(&self) -> BoxFuture<'_, Result<Health, CrmError>> {
        self.switch.guard(self.inner.health_check())
    }
}

/// Installs the switch, runs one cycle until it trips (or ends), and reports whether it tripped.
async fn crashing_cycle(fx: &mut Fixture, at: usize, when: When) -> bool {
    let switch = Switch::new(at, when);
    let engine = fx.engine();
    engine.graph = Arc::new(CrashGraph {
        inner: engine.graph.clone(),
        switch: switch.clone(),
    });
    engine.crm = Arc::new(CrashCrm {
        inner: engine.crm.clone(),
        switch: switch.clone(),
    });
    let options = fx.options();
    let selector = Selector::default();
    let tripped = tokio::select! {
        _ = fx.cycle_with(&selector, options) => false,
        _ = switch.tripped.notified() => true,
    };
    tripped
}

/// The calls one full first cycle makes (both services).
async fn calls_of_a_clean_cycle() -> (usize, Vec<String>) {
    let mut fx = Fixture::start().await;
    let switch = Switch::new(usize::MAX, When::Before);
    let engine = fx.engine();
    engine.graph = Arc::new(CrashGraph {
        inner: engine.graph.clone(),
        switch: switch.clone(),
    });
    engine.crm = Arc::new(CrashCrm {
        inner: engine.crm.clone(),
        switch: switch.clone(),
    });
    assert_ok(&fx.cycle().await);
    let calls = switch.calls.load(Ordering::SeqCst);
    fx.reopen().await;
    fx.settle(4).await;
    let fingerprint = fx.fingerprint();
    fx.close().await;
    (calls, fingerprint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_call_of_the_first_cycle_then_a_rerun_ends_as_a_clean_run() {
    let (calls, clean) = calls_of_a_clean_cycle().await;
    assert!(calls > 20, "the first cycle made only {calls} calls");
    let mut checked = 0;
    // Every call, alternating the two crash kinds (each kind hits every other call).
    for at in 1..=calls {
        let when = if at % 2 == 0 {
            When::After
        } else {
            When::Before
        };
        let mut fx = Fixture::start().await;
        let tripped = crashing_cycle(&mut fx, at, when).await;
        fx.reopen().await;
        let reports = fx.settle(5).await;
        let last = reports.last().unwrap();
        assert!(
            last.ok && last.writes() == 0,
            "crash {when:?} call {at}: the reruns did not settle:\n{last}"
        );
        let got = fx.fingerprint();
        if got != clean {
            let extra: Vec<_> = got.iter().filter(|g| !clean.contains(g)).collect();
            let missing: Vec<_> = clean.iter().filter(|c| !got.contains(c)).collect();
            panic!("crash {when:?} at call {at}: extra {extra:#?}\nmissing {missing:#?}");
        }
        checked += usize::from(tripped);
        fx.close().await;
    }
    assert!(
        checked > calls / 2,
        "only {checked} of {calls} crash points were reached"
    );
}
