//! Request counters around the transports, so every report says what a cycle cost: one Graph call and one
//! CRM.interface round trip (`execute`, however many commands it carries) count as one request each.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::transport::{
    crm::{Actor, BatchCommand, CrmError, CrmTransport, Health, Reply},
    graph::{
        CreateOptions, CreateTarget, DeltaCursor, DeltaPage, DeltaScope, ExchangeIdType,
        FolderChanges, GraphError, GraphTransport, Item, ItemRef, StampScope,
        TRANSLATE_IDS_PER_REQUEST, UpdateOutcome, UserListing,
        types::{ContactFolder, MailFolder, TodoTaskList},
    },
};

/// Counts the calls through a Graph transport.
pub struct MeteredGraph {
    inner: Arc<dyn GraphTransport>,
    count: AtomicU64,
}

impl MeteredGraph {
    pub fn new(inner: Arc<dyn GraphTransport>) -> Self {
        Self {
            inner,
            count: AtomicU64::new(0),
        }
    }

    pub fn requests(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn tick(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl GraphTransport for MeteredGraph {
    fn health_check<'a>(
        &'a self,
        mailbox: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), GraphError>> {
        self.tick();
        self.inner.health_check(mailbox)
    }

    fn list_mailbox_users<'a>(
        &'a self,
        domains: &'a [String],
    ) -> BoxFuture<'a, Result<UserListing, GraphError>> {
        self.tick();
        self.inner.list_mailbox_users(domains)
    }

    fn todo_lists<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TodoTaskList>, GraphError>> {
        self.tick();
        self.inner.todo_lists(mailbox)
    }

    fn default_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, GraphError>> {
        self.tick();
        self.inner.default_contact_folder(mailbox)
    }

    fn contact_folders<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContactFolder>, GraphError>> {
        self.tick();
        self.inner.contact_folders(mailbox)
    }

    fn mail_folder_tree<'a>(
        &'a self,
        mailbox: &'a str,
        folder: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MailFolder>, GraphError>> {
        // One request for the folder; those for its children are not known up front.
        self.tick();
        self.inner.mail_folder_tree(mailbox, folder)
    }

    fn mail_folder_changes<'a>(
        &'a self,
        mailbox: &'a str,
        delta_link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FolderChanges, GraphError>> {
        self.tick();
        self.inner.mail_folder_changes(mailbox, delta_link)
    }

    fn create_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ContactFolder, GraphError>> {
        self.tick();
        self.inner.create_contact_folder(mailbox, name)
    }

    fn delta_page<'a>(
        &'a self,
        scope: &'a DeltaScope,
        cursor: &'a DeltaCursor,
    ) -> BoxFuture<'a, Result<DeltaPage, GraphError>> {
        self.tick();
        self.inner.delta_page(scope, cursor)
    }

    fn get_item<'a>(
        &'a self,
        item: &'a ItemRef,
    ) -> BoxFuture<'a, Result<Option<Item>, GraphError>> {
        self.tick();
        self.inner.get_item(item)
    }

    fn create_item<'a>(
        &'a self,
        target: &'a CreateTarget,
        body: &'a Value,
        options: &'a CreateOptions,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        self.tick();
        self.inner.create_item(target, body, options)
    }

    fn create_items<'a>(
        &'a self,
        items: &'a [crate::transport::graph::NewItem],
    ) -> BoxFuture<'a, Vec<Result<Item, GraphError>>> {
        // One `$batch` per 20 items (throttled re-sends and single fallbacks are not counted).
        self.count
            .fetch_add(items.len().div_ceil(20) as u64, Ordering::Relaxed);
        self.inner.create_items(items)
    }

    fn update_item<'a>(
        &'a self,
        item: &'a ItemRef,
        patch: &'a Value,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<UpdateOutcome, GraphError>> {
        self.tick();
        self.inner.update_item(item, patch, if_match)
    }

    fn delete_item<'a>(
        &'a self,
        item: &'a ItemRef,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, GraphError>> {
        self.tick();
        self.inner.delete_item(item, if_match)
    }

    fn stamp<'a>(
        &'a self,
        item: &'a ItemRef,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        self.tick();
        self.inner.stamp(item, crm_id)
    }

    fn find_by_stamp<'a>(
        &'a self,
        scope: &'a StampScope,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Item>, GraphError>> {
        self.tick();
        self.inner.find_by_stamp(scope, crm_id)
    }

    fn translate_exchange_ids<'a>(
        &'a self,
        mailbox: &'a str,
        ids: &'a [String],
        from: ExchangeIdType,
        to: ExchangeIdType,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, GraphError>> {
        // One round trip per 1000 ids.
        for _ in 0..ids.len().div_ceil(TRANSLATE_IDS_PER_REQUEST).max(1) {
            self.tick();
        }
        self.inner.translate_exchange_ids(mailbox, ids, from, to)
    }
}

/// Counts the round trips through a CRM transport.
pub struct MeteredCrm {
    inner: Arc<dyn CrmTransport>,
    count: AtomicU64,
}

impl MeteredCrm {
    pub fn new(inner: Arc<dyn CrmTransport>) -> Self {
        Self {
            inner,
            count: AtomicU64::new(0),
        }
    }

    pub fn requests(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl CrmTransport for MeteredCrm {
    fn execute<'a>(
        &'a self,
        actor: &'a Actor,
        commands: &'a [BatchCommand],
    ) -> BoxFuture<'a, Result<Vec<Result<Reply, CrmError>>, CrmError>> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.execute(actor, commands)
    }

    fn health_check(&self) -> BoxFuture<'_, Result<Health, CrmError>> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.health_check()
    }
}
