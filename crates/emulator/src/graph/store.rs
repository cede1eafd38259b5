//! The emulated tenant's state: apps, users, mailboxes and their items, with change sequence numbers.
//!
//! Every write takes the next value of one store-wide sequence; delta rounds are windows over that
//! sequence, so an item changed while a round is paging simply shows up in the next round. Deleted
//! items stay as tombstones so later rounds can report them as `@removed`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use jiff::{Timestamp, civil::Date};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde_json::{Map, Value, json};

use super::{
    calendar, html,
    ids::{self, ID_PREFIX},
    odata, percent,
    seed::{Seed, UserSeed},
};

/// The four Outlook item kinds the emulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    Message,
    Event,
    Contact,
    Task,
}

impl ItemKind {
    fn tag(self) -> u8 {
        match self {
            ItemKind::Message => 1,
            ItemKind::Event => 2,
            ItemKind::Contact => 3,
            ItemKind::Task => 4,
        }
    }
}

const OCCURRENCE_TAG: u8 = 5;

#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub display_name: String,
    pub secrets: Vec<(String, String, Option<Timestamp>)>,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub access_policy_allow: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub upn: String,
    pub mail: Option<String>,
    /// Addresses besides `mail` (`smtp:alias@…`, `X500:…`).
    pub proxy_addresses: Vec<String>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub mobile_phone: Option<String>,
    pub business_phones: Vec<String>,
    pub office_location: Option<String>,
    pub account_enabled: bool,
    pub user_type: String,
    pub has_mailbox: bool,
    pub time_zone: String,
    /// Deleted from the directory (`GraphEmulator::delete_user`): no route, listing or lookup finds it.
    pub deleted: bool,
}

impl User {
    pub fn json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("businessPhones".into(), json!(self.business_phones));
        m.insert("displayName".into(), json!(self.display_name));
        m.insert("givenName".into(), json!(self.given_name));
        m.insert("jobTitle".into(), json!(self.job_title));
        m.insert("mail".into(), json!(self.mail));
        m.insert("mobilePhone".into(), json!(self.mobile_phone));
        m.insert("officeLocation".into(), json!(self.office_location));
        m.insert("preferredLanguage".into(), json!("en-US"));
        m.insert("surname".into(), json!(self.surname));
        m.insert("userPrincipalName".into(), json!(self.upn));
        m.insert("id".into(), json!(self.id));
        // Not in the default property set; returned only when selected.
        m.insert("accountEnabled".into(), json!(self.account_enabled));
        m.insert("userType".into(), json!(self.user_type));
        m.insert("proxyAddresses".into(), json!(self.proxy_addresses()));
        m.insert(
            "mailNickname".into(),
            json!(self.upn.split('@').next().unwrap_or("")),
        );
        let plans = if self.has_mailbox {
            json!([{"assignedDateTime": "2024-01-01T00:00:00Z", "capabilityStatus": "Enabled", "service": "exchange", "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0"}])
        } else {
            json!([])
        };
        let licenses = if self.has_mailbox {
            json!([{"disabledPlans": [], "skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900"}])
        } else {
            json!([])
        };
        m.insert("assignedPlans".into(), plans);
        m.insert("assignedLicenses".into(), licenses);
        m
    }

    /// `proxyAddresses` as Graph lists them: `SMTP:<mail>` first, then the others.
    pub fn proxy_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self.mail.iter().map(|m| format!("SMTP:{m}")).collect();
        for p in &self.proxy_addresses {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(p)) {
                out.push(p.clone());
            }
        }
        out
    }

    /// Whether `address` (lower case) is one of the user's: mail, UPN or an SMTP proxy address.
    pub fn has_address(&self, address: &str) -> bool {
        self.mail
            .as_deref()
            .is_some_and(|m| m.to_lowercase() == address)
            || self.upn.to_lowercase() == address
            || self.proxy_addresses.iter().any(|p| {
                p.split_once(':').is_some_and(|(kind, a)| {
                    kind.eq_ignore_ascii_case("smtp") && a.to_lowercase() == address
                })
            })
    }

    pub const DEFAULT_PROPS: [&'static str; 11] = [
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ];
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: String,
    pub display_name: String,
    pub well_known: Option<&'static str>,
    /// The folder it is in: `msgfolderroot` for top-level mail folders and the default contact
    /// folder, the default contact folder for other contact folders, the mailbox's (unlisted)
    /// non-IPM root for `msgfolderroot` itself.
    pub parent: String,
    /// Change sequence of its creation or last change (0 for seeded folders), for the folder deltas.
    pub seq: u64,
    /// Permanently deleted: kept as a tombstone so the folder deltas report it `@removed`.
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct TodoList {
    pub id: String,
    pub display_name: String,
    pub wellknown: String,
    pub etag: String,
    /// Change sequence of its creation (0 for seeded lists), for `/todo/lists/delta`.
    pub seq: u64,
}

/// One stored item (or tombstone).
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub kind: ItemKind,
    /// Mail folder, contact folder or To Do list id; the calendar id for events.
    pub container: String,
    /// Graph JSON as stored (start/end in their own zones, bodies as written).
    pub data: Map<String, Value>,
    pub created_seq: u64,
    pub seq: u64,
    pub deleted: bool,
    /// Single-value extended properties (id, value).
    pub ext: Vec<(String, String)>,
    /// Series masters: exceptions keyed by the occurrence's original date.
    pub exceptions: BTreeMap<Date, Map<String, Value>>,
    /// Series masters: deleted occurrences.
    pub cancelled: BTreeSet<Date>,
    /// Open extensions (`#microsoft.graph.openTypeExtension` objects).
    pub extensions: Vec<Map<String, Value>>,
}

impl Item {
    pub fn change_key(&self) -> &str {
        self.data
            .get("changeKey")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn etag(&self) -> String {
        match self.data.get("@odata.etag").and_then(Value::as_str) {
            Some(e) => e.to_owned(),
            None => format!("W/\"{}\"", self.change_key()),
        }
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
    pub fn is_master(&self) -> bool {
        self.kind == ItemKind::Event && self.str("type") == Some("seriesMaster")
    }
}

/// Per delta scope (mailbox × folder/list/calendarView) sync-state generations.
#[derive(Debug, Clone, Default)]
pub struct GenState {
    pub current: u64,
    pub evicted_below: u64,
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub mail_folders: Vec<Folder>,
    pub contact_folders: Vec<Folder>,
    pub calendar_id: String,
    pub todo_lists: Vec<TodoList>,
    pub items: BTreeMap<String, Item>,
    pub transactions: HashMap<String, String>,
    /// Messages moved to another folder keeping their id: (id, source folder, sequence).
    pub departures: Vec<(String, String, u64)>,
    pub generations: HashMap<String, GenState>,
    /// mailboxSettings properties written by PATCH (whole values, merged at write time), shown
    /// over the defaults; `timeZone` lives on the user.
    pub settings: Map<String, Value>,
}

impl Mailbox {
    /// A live mail folder by id or well-known name (`inbox`, `msgfolderroot`, …).
    pub fn mail_folder(&self, key: &str) -> Option<&Folder> {
        self.mail_folders.iter().find(|f| {
            !f.deleted && (f.id == key || f.well_known.is_some_and(|w| w.eq_ignore_ascii_case(key)))
        })
    }
    /// The root of the folder tree (`msgfolderroot`, "Top of Information Store").
    pub fn mail_root(&self) -> &Folder {
        self.mail_folders
            .iter()
            .find(|f| f.well_known == Some("msgfolderroot"))
            .expect("every mailbox has a root folder")
    }
    /// The live mail folders directly in `parent`.
    pub fn mail_children<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a Folder> + 'a {
        self.mail_folders
            .iter()
            .filter(move |f| !f.deleted && f.parent == parent)
    }
    /// A live contact folder by id (`contacts`: the default folder).
    pub fn contact_folder(&self, key: &str) -> Option<&Folder> {
        self.contact_folders.iter().find(|f| {
            !f.deleted
                && (f.id == key || (f.well_known.is_some() && key.eq_ignore_ascii_case("contacts")))
        })
    }
    pub fn todo_list(&self, key: &str) -> Option<&TodoList> {
        self.todo_lists.iter().find(|l| l.id == key)
    }
    pub fn live(&self, id: &str) -> Option<&Item> {
        self.items.get(id).filter(|i| !i.deleted)
    }
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub app: usize,
    pub roles: Vec<String>,
    pub expires: Timestamp,
}

/// The whole emulated tenant.
pub struct Store {
    pub tenant_id: String,
    pub domains: Vec<String>,
    pub apps: Vec<App>,
    pub users: Vec<User>,
    /// Indexed like `users`; `None` for users without a mailbox.
    pub mailboxes: Vec<Option<Mailbox>>,
    pub seq: u64,
    pub rng: StdRng,
    pub tokens: HashMap<String, TokenInfo>,
    /// Change-notification subscriptions (any app).
    pub subscriptions: Vec<Subscription>,
    /// Item changes not yet matched against subscriptions (recorded only while some exist).
    pub changes: Vec<Change>,
}

/// A subscription as created by an app.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub app: usize,
    pub resource: String,
    pub ui: usize,
    pub kind: ItemKind,
    /// A folder or list id, or none for the whole mailbox collection.
    pub container: Option<String>,
    pub change_types: Vec<String>,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub client_state: Option<String>,
    pub expires: Timestamp,
    pub tls: String,
    /// Created with `Prefer: IdType="ImmutableId"`: notifications carry immutable ids, else
    /// regular ones.
    pub immutable_ids: bool,
}

/// One item change, for change notifications.
#[derive(Debug, Clone)]
pub struct Change {
    pub ui: usize,
    pub kind: ItemKind,
    pub container: String,
    pub id: String,
    pub change_type: &'static str,
    pub etag: String,
}

/// An error from a seed item or a test helper, naming the item.
pub type StoreError = String;

impl Store {
    pub fn new(seed: &Seed, rng_seed: u64, now: Timestamp) -> Result<Store, StoreError> {
        let mut store = Store {
            tenant_id: seed.tenant.id.clone(),
            domains: seed.tenant.domains.clone(),
            apps: seed
                .apps
                .iter()
                .map(|a| App {
                    client_id: a.client_id.to_lowercase(),
                    display_name: a.display_name.clone(),
                    secrets: a
                        .secrets
                        .iter()
                        .map(|s| {
                            (
                                s.id.clone(),
                                s.value.clone(),
                                s.expires.as_deref().and_then(|e| e.parse().ok()),
                            )
                        })
                        .collect(),
                    roles: a.roles.clone(),
                    disabled: a.disabled,
                    access_policy_allow: a.access_policy_allow.clone(),
                })
                .collect(),
            users: Vec::new(),
            mailboxes: Vec::new(),
            seq: 0,
            rng: StdRng::seed_from_u64(rng_seed),
            tokens: HashMap::new(),
            subscriptions: Vec::new(),
            changes: Vec::new(),
        };
        for u in &seed.users {
            store.users.push(User {
                id: u.id.to_lowercase(),
                upn: u.user_principal_name.clone(),
                mail: u.mail.clone(),
                proxy_addresses: u.proxy_addresses.clone(),
                display_name: u.display_name.clone(),
                given_name: u.given_name.clone(),
                surname: u.surname.clone(),
                job_title: u.job_title.clone(),
                mobile_phone: u.mobile_phone.clone(),
                business_phones: u.business_phones.clone(),
                office_location: u.office_location.clone(),
                account_enabled: u.account_enabled,
                user_type: u.user_type.clone(),
                has_mailbox: u.mailbox,
                time_zone: u.time_zone.clone(),
                deleted: false,
            });
            let mb = if u.mailbox {
                Some(store.empty_mailbox(u)?)
            } else {
                None
            };
            store.mailboxes.push(mb);
        }
        // Items after all mailboxes exist, so invitations reach attendees seeded later.
        for (ui, u) in seed.users.iter().enumerate() {
            let who = &u.user_principal_name;
            for (n, m) in u.messages.iter().enumerate() {
                let mut m = obj(m, &format!("users[{who}].messages[{n}]"))?;
                let folder = m
                    .remove("folder")
                    .and_then(|f| f.as_str().map(str::to_owned));
                let folder = folder.unwrap_or_else(|| "inbox".into());
                let mb = store.mailboxes[ui].as_ref().expect("checked: mailbox");
                let fid = mb
                    .mail_folder(&folder)
                    .or_else(|| {
                        mb.mail_folders
                            .iter()
                            .find(|f| f.display_name.eq_ignore_ascii_case(&folder))
                    })
                    .map(|f| f.id.clone())
                    .ok_or_else(|| {
                        format!("users[{who}].messages[{n}].folder: no mail folder `{folder}`")
                    })?;
                store.create_message(ui, &fid, m, false, now);
            }
            for (n, e) in u.events.iter().enumerate() {
                let e = obj(e, &format!("users[{who}].events[{n}]"))?;
                store
                    .create_event(ui, e, now)
                    .map_err(|m| format!("users[{who}].events[{n}]: {m}"))?;
            }
            for (n, c) in u.contacts.iter().enumerate() {
                let mut c = obj(c, &format!("users[{who}].contacts[{n}]"))?;
                let folder = c
                    .remove("folder")
                    .and_then(|f| f.as_str().map(str::to_owned));
                let mb = store.mailboxes[ui].as_ref().expect("checked: mailbox");
                let fid = match folder {
                    None => mb.contact_folders[0].id.clone(),
                    Some(name) => mb
                        .contact_folders
                        .iter()
                        .find(|f| f.display_name.eq_ignore_ascii_case(&name))
                        .map(|f| f.id.clone())
                        .ok_or_else(|| {
                            format!("users[{who}].contacts[{n}].folder: no contact folder `{name}`")
                        })?,
                };
                store.create_contact(ui, &fid, c, now);
            }
            for (l, list) in u.todo_lists.iter().enumerate() {
                let lid = store.mailboxes[ui].as_ref().expect("checked").todo_lists[l]
                    .id
                    .clone();
                for (n, t) in list.tasks.iter().enumerate() {
                    let t = obj(t, &format!("users[{who}].todoLists[{l}].tasks[{n}]"))?;
                    store.create_task(ui, &lid, t, now);
                }
            }
        }
        Ok(store)
    }

    fn empty_mailbox(&mut self, u: &UserSeed) -> Result<Mailbox, StoreError> {
        let who = &u.user_principal_name;
        // The root's ids are derived from the user, not drawn, so seeded ids stay what they were
        // before the emulator had a root folder.
        let root_id = ids::derived(9, &format!("{}/msgfolderroot", u.id.to_lowercase()));
        let mut mail_folders = vec![Folder {
            id: root_id.clone(),
            display_name: "Top of Information Store".into(),
            well_known: Some("msgfolderroot"),
            parent: ids::derived(9, &format!("{}/root", u.id.to_lowercase())),
            seq: 0,
            deleted: false,
        }];
        for (name, wk) in [
            ("Inbox", "inbox"),
            ("Sent Items", "sentitems"),
            ("Drafts", "drafts"),
            ("Deleted Items", "deleteditems"),
            ("Archive", "archive"),
            ("Junk Email", "junkemail"),
            ("Outbox", "outbox"),
        ] {
            mail_folders.push(Folder {
                id: self.new_id(9),
                display_name: name.into(),
                well_known: Some(wk),
                parent: root_id.clone(),
                seq: 0,
                deleted: false,
            });
        }
        for (n, f) in u.mail_folders.iter().enumerate() {
            let parent = match &f.parent {
                None => root_id.clone(),
                Some(p) => mail_folders
                    .iter()
                    .find(|m| {
                        m.well_known.is_some_and(|w| w.eq_ignore_ascii_case(p))
                            || m.display_name.eq_ignore_ascii_case(p)
                    })
                    .map(|m| m.id.clone())
                    .ok_or_else(|| {
                        format!(
                            "users[{who}].mailFolders[{n}].parent: no mail folder `{p}` before it"
                        )
                    })?,
            };
            mail_folders.push(Folder {
                id: self.new_id(9),
                display_name: f.display_name.clone(),
                well_known: None,
                parent,
                seq: 0,
                deleted: false,
            });
        }
        let mut contact_folders = vec![Folder {
            id: self.new_id(10),
            display_name: "Contacts".into(),
            well_known: Some("contacts"),
            parent: root_id.clone(),
            seq: 0,
            deleted: false,
        }];
        for (n, f) in u.contact_folders.iter().enumerate() {
            if f.parent.is_some() {
                return Err(format!(
                    "users[{who}].contactFolders[{n}].parent: contact folders are seeded under the default folder"
                ));
            }
            let parent = contact_folders[0].id.clone();
            contact_folders.push(Folder {
                id: self.new_id(10),
                display_name: f.display_name.clone(),
                well_known: None,
                parent,
                seq: 0,
                deleted: false,
            });
        }
        let mut todo_lists = Vec::new();
        let has_default = u
            .todo_lists
            .iter()
            .any(|l| l.wellknown_list_name == "defaultList");
        if !has_default {
            todo_lists.push(TodoList {
                id: self.new_id(11),
                display_name: "Tasks".into(),
                wellknown: "defaultList".into(),
                etag: self.change_key(),
                seq: 0,
            });
        }
        for l in &u.todo_lists {
            todo_lists.push(TodoList {
                id: self.new_id(11),
                display_name: l.display_name.clone(),
                wellknown: l.wellknown_list_name.clone(),
                etag: self.change_key(),
                seq: 0,
            });
        }
        // Seeded lists keep their seed order at the front so indexes match `todoLists[n]`.
        if !has_default {
            todo_lists.rotate_left(1);
        }
        Ok(Mailbox {
            mail_folders,
            contact_folders,
            calendar_id: self.new_id(12),
            todo_lists,
            items: BTreeMap::new(),
            transactions: HashMap::new(),
            departures: Vec::new(),
            generations: HashMap::new(),
            settings: Map::new(),
        })
    }

    /// A new case-sensitive, URL-safe base64 id (`-`/`_`, `=` padded) starting with `AAMk`.
    pub fn new_id(&mut self, tag: u8) -> String {
        let mut raw = Vec::with_capacity(38);
        raw.extend_from_slice(&ID_PREFIX);
        raw.push(tag);
        for _ in 0..30 {
            raw.push(self.rng.random::<u8>());
        }
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }

    /// A new change key (standard base64, as Exchange's).
    pub fn change_key(&mut self) -> String {
        let mut raw = [0u8; 16];
        for b in &mut raw {
            *b = self.rng.random::<u8>();
        }
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    pub fn guid(&mut self) -> String {
        let mut raw = [0u8; 16];
        for b in &mut raw {
            *b = self.rng.random::<u8>();
        }
        uuid::Builder::from_random_bytes(raw)
            .into_uuid()
            .to_string()
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The regular id of an item or occurrence (stored under its immutable id, tombstones
    /// included) in the folder it is in now; `None` for ids with one form (tasks, folders).
    pub fn regular_id(&self, ui: usize, id: &str) -> Option<String> {
        let master = Store::occurrence_parts(id).map(|(m, _)| m);
        let item = self
            .mailbox(ui)
            .items
            .get(master.as_deref().unwrap_or(id))?;
        ids::regular(id, &item.container)
    }

    /// The immutable id a regular id stands for, if the item is still in the folder the regular id
    /// was issued for (a regular id goes stale when its item moves, as in Exchange).
    pub fn resolve_regular_id(&self, ui: usize, id: &str) -> Option<String> {
        let (immutable, folder) = ids::immutable(id)?;
        let master = Store::occurrence_parts(&immutable).map(|(m, _)| m);
        let item = self
            .mailbox(ui)
            .items
            .get(master.as_deref().unwrap_or(&immutable))?;
        (ids::folder_fingerprint(&item.container) == folder).then_some(immutable)
    }

    /// Finds a user by id or UPN (case-insensitive), as `/users/{uid}` does.
    pub fn user_index(&self, key: &str) -> Option<usize> {
        let key = key.to_lowercase();
        self.users
            .iter()
            .position(|u| !u.deleted && (u.id == key || u.upn.to_lowercase() == key))
    }

    pub fn user_by_address(&self, address: &str) -> Option<usize> {
        let a = address.to_lowercase();
        self.users
            .iter()
            .position(|u| !u.deleted && u.has_address(&a))
    }

    pub fn mailbox(&self, ui: usize) -> &Mailbox {
        self.mailboxes[ui]
            .as_ref()
            .expect("caller checked the mailbox exists")
    }
    pub fn mailbox_mut(&mut self, ui: usize) -> &mut Mailbox {
        self.mailboxes[ui]
            .as_mut()
            .expect("caller checked the mailbox exists")
    }

    /// A new mail folder in `parent`; `None` when `parent` already holds a folder of that name.
    pub fn create_mail_folder(&mut self, ui: usize, parent: &str, name: &str) -> Option<String> {
        if self
            .mailbox(ui)
            .mail_children(parent)
            .any(|f| f.display_name.eq_ignore_ascii_case(name))
        {
            return None;
        }
        let id = self.new_id(9);
        let seq = self.next_seq();
        self.mailbox_mut(ui).mail_folders.push(Folder {
            id: id.clone(),
            display_name: name.to_owned(),
            well_known: None,
            parent: parent.to_owned(),
            seq,
            deleted: false,
        });
        Some(id)
    }

    /// Moves a mail folder (and everything in it) into `parent`, as Outlook's "move folder".
    pub fn move_mail_folder(&mut self, ui: usize, id: &str, parent: &str) {
        let seq = self.next_seq();
        if let Some(f) = self
            .mailbox_mut(ui)
            .mail_folders
            .iter_mut()
            .find(|f| f.id == id && !f.deleted)
        {
            f.parent = parent.to_owned();
            f.seq = seq;
        }
    }

    /// `DELETE /mailFolders/{id}`: the folder goes into Deleted Items with what it holds.
    pub fn delete_mail_folder(&mut self, ui: usize, id: &str) {
        let deleted_items = self
            .mailbox(ui)
            .mail_folder("deleteditems")
            .expect("well-known")
            .id
            .clone();
        self.move_mail_folder(ui, id, &deleted_items);
    }

    /// Removes a mail folder, its subfolders and their messages for good (Deleted Items emptied).
    pub fn purge_mail_folder(&mut self, ui: usize, id: &str, now: Timestamp) {
        let mut doomed = vec![id.to_owned()];
        let mut i = 0;
        while i < doomed.len() {
            let kids: Vec<String> = self
                .mailbox(ui)
                .mail_children(&doomed[i])
                .map(|f| f.id.clone())
                .collect();
            doomed.extend(kids);
            i += 1;
        }
        for folder in &doomed {
            self.purge_container(ui, folder, now);
            let seq = self.next_seq();
            if let Some(f) = self
                .mailbox_mut(ui)
                .mail_folders
                .iter_mut()
                .find(|f| &f.id == folder)
            {
                f.deleted = true;
                f.seq = seq;
            }
        }
    }

    fn purge_container(&mut self, ui: usize, container: &str, now: Timestamp) {
        let ids: Vec<String> = self
            .mailbox(ui)
            .items
            .values()
            .filter(|i| !i.deleted && i.container == container)
            .map(|i| i.id.clone())
            .collect();
        for id in ids {
            self.mailbox_mut(ui)
                .items
                .get_mut(&id)
                .expect("listed")
                .deleted = true;
            self.touch(ui, &id, now);
        }
    }

    /// Moves a message into `dest` keeping its immutable id; the source folder's delta reports it
    /// removed. `None` when there is no such live message.
    pub fn move_message(&mut self, ui: usize, id: &str, dest: &str, now: Timestamp) -> Option<()> {
        let from = self.mailbox(ui).live(id)?.container.clone();
        let seq = self.next_seq();
        let mb = self.mailbox_mut(ui);
        mb.departures.push((id.to_owned(), from, seq));
        let slot = mb.items.get_mut(id)?;
        slot.container = dest.to_owned();
        slot.data.insert("parentFolderId".into(), json!(dest));
        self.touch(ui, id, now);
        Some(())
    }

    /// A new contact folder under the default one; `None` when one of that name exists there.
    pub fn create_contact_folder(&mut self, ui: usize, name: &str) -> Option<String> {
        let mb = self.mailbox(ui);
        let root = mb.contact_folders[0].id.clone();
        if mb
            .contact_folders
            .iter()
            .any(|f| !f.deleted && f.parent == root && f.display_name.eq_ignore_ascii_case(name))
        {
            return None;
        }
        let id = self.new_id(10);
        let seq = self.next_seq();
        self.mailbox_mut(ui).contact_folders.push(Folder {
            id: id.clone(),
            display_name: name.to_owned(),
            well_known: None,
            parent: root,
            seq,
            deleted: false,
        });
        Some(id)
    }

    /// Renames a contact folder; false when a sibling already has the name.
    pub fn rename_contact_folder(&mut self, ui: usize, id: &str, name: &str) -> bool {
        let mb = self.mailbox(ui);
        let Some(parent) = mb.contact_folder(id).map(|f| f.parent.clone()) else {
            return false;
        };
        if mb.contact_folders.iter().any(|f| {
            !f.deleted
                && f.id != id
                && f.parent == parent
                && f.display_name.eq_ignore_ascii_case(name)
        }) {
            return false;
        }
        let seq = self.next_seq();
        if let Some(f) = self
            .mailbox_mut(ui)
            .contact_folders
            .iter_mut()
            .find(|f| f.id == id)
        {
            f.display_name = name.to_owned();
            f.seq = seq;
        }
        true
    }

    /// Removes a contact folder and its contacts.
    pub fn delete_contact_folder(&mut self, ui: usize, id: &str, now: Timestamp) {
        self.purge_container(ui, id, now);
        let seq = self.next_seq();
        if let Some(f) = self
            .mailbox_mut(ui)
            .contact_folders
            .iter_mut()
            .find(|f| f.id == id)
        {
            f.deleted = true;
            f.seq = seq;
        }
    }

    /// Stamps id/changeKey/etag/timestamps on a fresh item and stores it.
    fn insert(
        &mut self,
        ui: usize,
        kind: ItemKind,
        container: &str,
        mut data: Map<String, Value>,
        now: Timestamp,
    ) -> String {
        let id = self.new_id(kind.tag());
        let ck = self.change_key();
        let seq = self.next_seq();
        let ext = take_ext(&mut data);
        let stamp = stamp_for(kind, now);
        let mut full = Map::new();
        full.insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
        full.insert("id".into(), json!(id));
        full.insert("createdDateTime".into(), json!(stamp));
        full.insert("lastModifiedDateTime".into(), json!(stamp));
        if kind != ItemKind::Task {
            full.insert("changeKey".into(), json!(ck));
        }
        for (k, v) in data {
            if !matches!(
                k.as_str(),
                "id" | "@odata.etag" | "changeKey" | "createdDateTime" | "lastModifiedDateTime"
            ) {
                full.insert(k, v);
            }
        }
        let item = Item {
            id: id.clone(),
            kind,
            container: container.to_owned(),
            data: full,
            created_seq: seq,
            seq,
            deleted: false,
            ext,
            exceptions: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            extensions: Vec::new(),
        };
        self.mailbox_mut(ui).items.insert(id.clone(), item);
        self.record(ui, &id, "created");
        id
    }

    /// Bumps change key, etag, lastModifiedDateTime and the sequence of a stored item.
    pub fn touch(&mut self, ui: usize, id: &str, now: Timestamp) {
        let ck = self.change_key();
        let seq = self.next_seq();
        let item = self
            .mailbox_mut(ui)
            .items
            .get_mut(id)
            .expect("caller checked the item");
        item.seq = seq;
        let stamp = stamp_for(item.kind, now);
        item.data
            .insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
        if item.kind != ItemKind::Task {
            item.data.insert("changeKey".into(), json!(ck));
        }
        item.data
            .insert("lastModifiedDateTime".into(), json!(stamp));
        let change_type = if item.deleted { "deleted" } else { "updated" };
        self.record(ui, id, change_type);
    }

    fn record(&mut self, ui: usize, id: &str, change_type: &'static str) {
        if self.subscriptions.is_empty() {
            return;
        }
        let item = &self.mailbox(ui).items[id];
        let change = Change {
            ui,
            kind: item.kind,
            container: item.container.clone(),
            id: id.to_owned(),
            change_type,
            etag: item.etag(),
        };
        self.changes.push(change);
    }

    pub fn create_message(
        &mut self,
        ui: usize,
        folder: &str,
        src: Map<String, Value>,
        draft: bool,
        now: Timestamp,
    ) -> String {
        let user = self.users[ui].clone();
        let me = json!({"emailAddress": {"name": user.display_name, "address": user.mail.clone().unwrap_or(user.upn.clone())}});
        let mut m = Map::new();
        let received = src
            .get("receivedDateTime")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| calendar::fmt_instant(now));
        let from = src.get("from").cloned().unwrap_or(me.clone());
        m.insert("categories".into(), json!([]));
        m.insert("receivedDateTime".into(), json!(received));
        m.insert("sentDateTime".into(), json!(received));
        m.insert("hasAttachments".into(), json!(false));
        let mid = format!("<{}@contoso.emulator>", self.guid());
        m.insert("internetMessageId".into(), json!(mid));
        m.insert("subject".into(), json!(""));
        m.insert("bodyPreview".into(), json!(""));
        m.insert("importance".into(), json!("normal"));
        m.insert("parentFolderId".into(), json!(folder));
        let conv = self.new_id(13);
        m.insert("conversationId".into(), json!(conv));
        m.insert("isDeliveryReceiptRequested".into(), json!(false));
        m.insert("isReadReceiptRequested".into(), json!(false));
        m.insert("isRead".into(), json!(draft));
        m.insert("isDraft".into(), json!(draft));
        m.insert("webLink".into(), json!(""));
        m.insert("inferenceClassification".into(), json!("focused"));
        m.insert("body".into(), json!({"contentType": "text", "content": ""}));
        m.insert("sender".into(), from.clone());
        m.insert("from".into(), from);
        m.insert("toRecipients".into(), json!([]));
        m.insert("ccRecipients".into(), json!([]));
        m.insert("bccRecipients".into(), json!([]));
        m.insert("replyTo".into(), json!([]));
        m.insert("flag".into(), json!({"flagStatus": "notFlagged"}));
        for (k, v) in src {
            if k == "sender" && v.is_null() {
                continue;
            }
            m.insert(k, v);
        }
        if !m.contains_key("uniqueBody") {
            m.insert("uniqueBody".into(), m["body"].clone());
        }
        normalize_body(&mut m);
        let mid = m["internetMessageId"].clone();
        let headers = json!([
            {"name": "Message-ID", "value": mid},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type", "value": "multipart/alternative"},
            {"name": "X-MS-Exchange-Organization-AuthAs", "value": "Internal"}
        ]);
        m.entry("internetMessageHeaders").or_insert(headers);
        let id = self.insert(ui, ItemKind::Message, folder, m, now);
        let link = format!(
            "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            percent::enc(&id)
        );
        self.mailbox_mut(ui)
            .items
            .get_mut(&id)
            .expect("just inserted")
            .data
            .insert("webLink".into(), json!(link));
        id
    }

    pub fn create_contact(
        &mut self,
        ui: usize,
        folder: &str,
        src: Map<String, Value>,
        now: Timestamp,
    ) -> String {
        let mut c = Map::new();
        c.insert("categories".into(), json!([]));
        c.insert("parentFolderId".into(), json!(folder));
        for k in [
            "birthday",
            "initials",
            "middleName",
            "nickName",
            "title",
            "yomiGivenName",
            "yomiSurname",
            "yomiCompanyName",
            "generation",
            "jobTitle",
            "companyName",
            "department",
            "officeLocation",
            "profession",
            "businessHomePage",
            "assistantName",
            "manager",
            "mobilePhone",
            "spouseName",
            "givenName",
            "surname",
        ] {
            c.insert(k.into(), Value::Null);
        }
        c.insert("fileAs".into(), json!(""));
        c.insert("displayName".into(), json!(""));
        for k in [
            "imAddresses",
            "homePhones",
            "businessPhones",
            "children",
            "emailAddresses",
        ] {
            c.insert(k.into(), json!([]));
        }
        c.insert("personalNotes".into(), json!(""));
        for k in ["homeAddress", "businessAddress", "otherAddress"] {
            c.insert(k.into(), json!({}));
        }
        for (k, v) in src {
            c.insert(k, v);
        }
        fill_display_name(&mut c);
        self.insert(ui, ItemKind::Contact, folder, c, now)
    }

    pub fn create_task(
        &mut self,
        ui: usize,
        list: &str,
        src: Map<String, Value>,
        now: Timestamp,
    ) -> String {
        let mut t = Map::new();
        t.insert("importance".into(), json!("normal"));
        t.insert("isReminderOn".into(), json!(false));
        t.insert("status".into(), json!("notStarted"));
        t.insert("title".into(), json!(""));
        t.insert("categories".into(), json!([]));
        t.insert("hasAttachments".into(), json!(false));
        t.insert(
            "bodyLastModifiedDateTime".into(),
            json!(calendar::fmt_instant_7(now)),
        );
        t.insert("body".into(), json!({"content": "", "contentType": "text"}));
        for (k, v) in src {
            t.insert(k, v);
        }
        self.fix_task(&mut t, now);
        self.insert(ui, ItemKind::Task, list, t, now)
    }

    /// To Do quirks: due dates keep only the date; completedDateTime is UTC midnight; linked
    /// resources get ids.
    pub fn fix_task(&mut self, t: &mut Map<String, Value>, now: Timestamp) {
        if let Some(due) = t.get("dueDateTime").filter(|v| v.is_object())
            && let Some(dt) = calendar::wall_of(due)
        {
            let tz = due
                .get("timeZone")
                .and_then(Value::as_str)
                .unwrap_or("UTC")
                .to_owned();
            t.insert(
                "dueDateTime".into(),
                calendar::render_floating(
                    dt.date().to_datetime(jiff::civil::Time::midnight()),
                    &tz,
                ),
            );
        }
        if let Some(done) = t.get("completedDateTime").filter(|v| v.is_object())
            && let Some(dt) = calendar::wall_of(done)
        {
            t.insert(
                "completedDateTime".into(),
                calendar::render_floating(
                    dt.date().to_datetime(jiff::civil::Time::midnight()),
                    "UTC",
                ),
            );
        }
        if t.get("status").and_then(Value::as_str) == Some("completed")
            && !t.contains_key("completedDateTime")
        {
            let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
            t.insert(
                "completedDateTime".into(),
                calendar::render_floating(today.to_datetime(jiff::civil::Time::midnight()), "UTC"),
            );
        }
        if let Some(Value::Array(links)) = t.get_mut("linkedResources") {
            let mut links = std::mem::take(links);
            for l in &mut links {
                if let Value::Object(o) = l
                    && !o.contains_key("id")
                {
                    let g = self.guid();
                    o.insert("id".into(), json!(g));
                }
            }
            t.insert("linkedResources".into(), Value::Array(links));
        }
    }

    /// Creates an event in `ui`'s calendar; internal attendees with a mailbox get their own copy
    /// (same iCalUId, own id), as Exchange delivers invitations.
    pub fn create_event(
        &mut self,
        ui: usize,
        src: Map<String, Value>,
        now: Timestamp,
    ) -> Result<String, String> {
        let mut src = src;
        let exceptions = src.remove("exceptions");
        let cancelled = src.remove("cancelledOccurrences");
        let ical = format!(
            "040000008200E00074C5B7101A82E00800000000{}",
            hex(&self.change_key())
        );
        // An invitation received from someone outside the tenant (seeded or added with an
        // `organizer` who is not this user): an attendee's copy with that organizer.
        let own = {
            let user = &self.users[ui];
            [user.mail.as_deref(), Some(user.upn.as_str())]
        };
        let invited_by = src
            .get("organizer")
            .filter(|o| {
                let address = o
                    .pointer("/emailAddress/address")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                !own.iter()
                    .flatten()
                    .any(|m| m.eq_ignore_ascii_case(address))
            })
            .cloned();
        let response = src.get("responseStatus").cloned();
        let mut e = self.event_data(ui, src, &ical, invited_by.is_none())?;
        if let Some(organizer) = invited_by {
            e.insert("organizer".into(), organizer);
            e.insert(
                "responseStatus".into(),
                response.unwrap_or_else(
                    || json!({"response": "notResponded", "time": "0001-01-01T00:00:00Z"}),
                ),
            );
        }
        let calendar_id = self.mailbox(ui).calendar_id.clone();
        let id = self.insert(ui, ItemKind::Event, &calendar_id, e, now);
        self.set_web_link(ui, &id);
        let mut exc_map = BTreeMap::new();
        if let Some(Value::Array(list)) = exceptions {
            for x in list {
                let Value::Object(mut x) = x else {
                    return Err("exceptions: expected objects".into());
                };
                let date: Date = x
                    .remove("originalStart")
                    .and_then(|v| {
                        v.as_str()
                            .and_then(|s| s.get(..10))
                            .and_then(|s| s.parse().ok())
                    })
                    .ok_or("exceptions[].originalStart: expected a date such as 2026-11-16")?;
                exc_map.insert(date, x);
            }
        }
        let mut cancel_set = BTreeSet::new();
        if let Some(Value::Array(list)) = cancelled {
            for d in list {
                let date: Date = d
                    .as_str()
                    .and_then(|s| s.get(..10))
                    .and_then(|s| s.parse().ok())
                    .ok_or("cancelledOccurrences[]: expected a date such as 2026-11-23")?;
                cancel_set.insert(date);
            }
        }
        {
            let item = self.mailbox_mut(ui).items.get_mut(&id).expect("inserted");
            item.exceptions = exc_map.clone();
            item.cancelled = cancel_set.clone();
        }
        self.sync_invitations(ui, &id, now);
        Ok(id)
    }

    /// Live event copies with this iCalUId in other mailboxes than `organizer`.
    pub fn copies_of(&self, organizer: usize, ical: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        if ical.is_empty() {
            return out;
        }
        for (oi, mb) in self.mailboxes.iter().enumerate() {
            let Some(mb) = mb else { continue };
            if oi == organizer {
                continue;
            }
            for i in mb.items.values() {
                if !i.deleted && i.kind == ItemKind::Event && i.str("iCalUId") == Some(ical) {
                    out.push((oi, i.id.clone()));
                }
            }
        }
        out
    }

    /// Brings attendees' copies of an organizer's event in line with it, as Exchange does with
    /// invitations, updates and cancellations: new internal attendees get a copy, removed ones
    /// a cancelled copy, the others the organizer's changes (their own response kept).
    pub fn sync_invitations(&mut self, organizer: usize, event_id: &str, now: Timestamp) {
        let Some(master) = self.mailbox(organizer).live(event_id).cloned() else {
            return;
        };
        if master.data.get("isOrganizer") != Some(&Value::Bool(true)) {
            return;
        }
        let ical = master.str("iCalUId").unwrap_or("").to_owned();
        let mut invited: Vec<usize> = Vec::new();
        for a in master
            .data
            .get("attendees")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(address) = a.pointer("/emailAddress/address").and_then(Value::as_str) else {
                continue;
            };
            if let Some(ai) = self.user_by_address(address)
                && ai != organizer
                && self.mailboxes[ai].is_some()
                && !invited.contains(&ai)
            {
                invited.push(ai);
            }
        }
        let existing = self.copies_of(organizer, &ical);
        const OWN: [&str; 12] = [
            "id",
            "@odata.etag",
            "changeKey",
            "createdDateTime",
            "lastModifiedDateTime",
            "webLink",
            "isOrganizer",
            "responseStatus",
            "transactionId",
            "isReminderOn",
            "reminderMinutesBeforeStart",
            "categories",
        ];
        for (oi, cid) in &existing {
            let copy = self.mailbox(*oi).items[cid].clone();
            let mut data = copy.data.clone();
            if invited.contains(oi) {
                for (k, v) in &master.data {
                    if !OWN.contains(&k.as_str()) {
                        data.insert(k.clone(), v.clone());
                    }
                }
            } else {
                data.insert("isCancelled".into(), json!(true));
                let subject = data
                    .get("subject")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if !subject.starts_with("Canceled: ") {
                    data.insert("subject".into(), json!(format!("Canceled: {subject}")));
                }
            }
            let same_series =
                copy.exceptions == master.exceptions && copy.cancelled == master.cancelled;
            if data != copy.data || (invited.contains(oi) && !same_series) {
                let slot = self.mailbox_mut(*oi).items.get_mut(cid).expect("copy");
                slot.data = data;
                if invited.contains(oi) {
                    slot.exceptions = master.exceptions.clone();
                    slot.cancelled = master.cancelled.clone();
                }
                self.touch(*oi, cid, now);
            }
        }
        for ai in invited {
            if existing.iter().any(|(oi, _)| *oi == ai) {
                continue;
            }
            let mut copy = master.data.clone();
            copy.insert("isOrganizer".into(), json!(false));
            copy.insert(
                "responseStatus".into(),
                json!({"response": "notResponded", "time": "0001-01-01T00:00:00Z"}),
            );
            copy.insert("transactionId".into(), Value::Null);
            let cal = self.mailbox(ai).calendar_id.clone();
            let cid = self.insert(ai, ItemKind::Event, &cal, copy, now);
            self.set_web_link(ai, &cid);
            let item = self.mailbox_mut(ai).items.get_mut(&cid).expect("inserted");
            item.exceptions = master.exceptions.clone();
            item.cancelled = master.cancelled.clone();
            item.ext.clear();
        }
    }

    fn set_web_link(&mut self, ui: usize, id: &str) {
        let link = format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            percent::enc(id)
        );
        if let Some(item) = self.mailbox_mut(ui).items.get_mut(id) {
            item.data.insert("webLink".into(), json!(link));
        }
    }

    /// Event JSON with Graph's defaults, enum values lower-cased and the recurrence completed.
    pub fn event_data(
        &mut self,
        ui: usize,
        src: Map<String, Value>,
        ical: &str,
        organizer: bool,
    ) -> Result<Map<String, Value>, String> {
        let user = self.users[ui].clone();
        let mut e = Map::new();
        e.insert("categories".into(), json!([]));
        e.insert("transactionId".into(), Value::Null);
        e.insert("originalStartTimeZone".into(), json!("UTC"));
        e.insert("originalEndTimeZone".into(), json!("UTC"));
        e.insert("iCalUId".into(), json!(ical));
        e.insert("uid".into(), json!(ical));
        e.insert("reminderMinutesBeforeStart".into(), json!(15));
        e.insert("isReminderOn".into(), json!(true));
        e.insert("hasAttachments".into(), json!(false));
        e.insert("subject".into(), json!(""));
        e.insert("bodyPreview".into(), json!(""));
        e.insert("importance".into(), json!("normal"));
        e.insert("sensitivity".into(), json!("normal"));
        e.insert("isAllDay".into(), json!(false));
        e.insert("isCancelled".into(), json!(false));
        e.insert("isOrganizer".into(), json!(organizer));
        e.insert("responseRequested".into(), json!(true));
        e.insert("seriesMasterId".into(), Value::Null);
        e.insert("showAs".into(), json!("busy"));
        e.insert("type".into(), json!("singleInstance"));
        e.insert("webLink".into(), json!(""));
        e.insert("onlineMeetingUrl".into(), Value::Null);
        e.insert("isOnlineMeeting".into(), json!(false));
        e.insert("onlineMeetingProvider".into(), json!("unknown"));
        e.insert("allowNewTimeProposals".into(), json!(true));
        e.insert("isDraft".into(), json!(false));
        e.insert("hideAttendees".into(), json!(false));
        e.insert(
            "responseStatus".into(),
            json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"}),
        );
        e.insert("body".into(), json!({"contentType": "html", "content": ""}));
        e.insert(
            "location".into(),
            json!({"displayName": "", "locationType": "default", "uniqueIdType": "unknown"}),
        );
        e.insert("locations".into(), json!([]));
        e.insert("recurrence".into(), Value::Null);
        e.insert("attendees".into(), json!([]));
        e.insert("organizer".into(), json!({"emailAddress": {"name": user.display_name, "address": user.mail.clone().unwrap_or(user.upn.clone())}}));
        e.insert("onlineMeeting".into(), Value::Null);
        for (k, v) in src {
            if matches!(
                k.as_str(),
                "type"
                    | "seriesMasterId"
                    | "iCalUId"
                    | "uid"
                    | "isOrganizer"
                    | "responseStatus"
                    | "organizer"
            ) {
                continue;
            }
            e.insert(k, v);
        }
        self.normalize_event(&mut e)?;
        Ok(e)
    }

    /// Validates and completes start/end/recurrence/location/attendees after a create or a patch.
    pub fn normalize_event(&mut self, e: &mut Map<String, Value>) -> Result<(), String> {
        for key in ["start", "end"] {
            let v = e.get(key).ok_or_else(|| format!("{key} is required"))?;
            let tzname = v
                .get("timeZone")
                .and_then(Value::as_str)
                .unwrap_or("UTC")
                .to_owned();
            if calendar::zone(&tzname).is_none() {
                return Err(format!(
                    "{key}.timeZone `{tzname}` is not a known time zone"
                ));
            }
            let dt = calendar::wall_of(v).ok_or_else(|| {
                format!("{key}.dateTime must be a date-time such as 2025-03-04T09:00:00")
            })?;
            e.insert(key.into(), calendar::render_floating(dt, &tzname));
        }
        let (Some(s), Some(en)) = (
            calendar::instant_of(&e["start"]),
            calendar::instant_of(&e["end"]),
        ) else {
            return Err("start and end must be date-times that exist in their time zones".into());
        };
        if en < s {
            return Err("end must not be before start".into());
        }
        let stz = e["start"]["timeZone"].clone();
        let etz = e["end"]["timeZone"].clone();
        e.insert("originalStartTimeZone".into(), stz.clone());
        e.insert("originalEndTimeZone".into(), etz);
        if e.get("isAllDay").and_then(Value::as_bool) == Some(true) {
            let (Some(ws), Some(we)) =
                (calendar::wall_of(&e["start"]), calendar::wall_of(&e["end"]))
            else {
                return Err("start and end must be date-times".into());
            };
            if ws.time() != jiff::civil::Time::midnight()
                || we.time() != jiff::civil::Time::midnight()
                || we <= ws
            {
                return Err(
                    "an all-day event must start and end at midnight, at least one day apart"
                        .into(),
                );
            }
        }
        for key in ["showAs", "importance", "sensitivity"] {
            lower(e, key);
        }
        normalize_body(e);
        if let Some(Value::Object(loc)) = e.get_mut("location") {
            lower_in(loc, "locationType");
            let name = loc
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            loc.entry("locationType").or_insert(json!("default"));
            if !name.is_empty() {
                loc.entry("uniqueId").or_insert(json!(name));
                loc.insert("uniqueIdType".into(), json!("private"));
            } else {
                loc.entry("uniqueIdType").or_insert(json!("unknown"));
            }
        }
        let loc_name = e
            .get("location")
            .and_then(|l| l.get("displayName"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(Value::Array(locs)) = e.get_mut("locations") {
            for l in locs.iter_mut() {
                if let Value::Object(l) = l {
                    lower_in(l, "locationType");
                    l.entry("locationType").or_insert(json!("default"));
                    let named = l
                        .get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    if l.contains_key("address") || l.contains_key("coordinates") {
                        l.entry("uniqueId").or_insert(json!(named));
                        l.entry("uniqueIdType").or_insert(json!("private"));
                    } else {
                        l.entry("uniqueId").or_insert(json!(""));
                        l.entry("uniqueIdType").or_insert(json!("unknown"));
                    }
                }
            }
            if locs.is_empty() && !loc_name.is_empty() {
                locs.push(json!({"displayName": loc_name, "locationType": "default", "uniqueId": "", "uniqueIdType": "unknown"}));
            }
        }
        if let Some(Value::Array(att)) = e.get_mut("attendees") {
            for a in att.iter_mut() {
                if let Value::Object(a) = a {
                    lower_in(a, "type");
                    a.entry("type").or_insert(json!("required"));
                    a.entry("status")
                        .or_insert(json!({"response": "none", "time": "0001-01-01T00:00:00Z"}));
                }
            }
        }
        if e.get("isOnlineMeeting").and_then(Value::as_bool) == Some(true)
            && e.get("onlineMeeting").is_none_or(Value::is_null)
        {
            let g = self.guid();
            e.insert("onlineMeeting".into(), json!({"joinUrl": format!("https://teams.microsoft.com/l/meetup-join/emulator/{g}"), "conferenceId": "177513992", "tollNumber": "+1 425 555 0199"}));
            if e.get("onlineMeetingProvider").and_then(Value::as_str) == Some("unknown") {
                e.insert("onlineMeetingProvider".into(), json!("teamsForBusiness"));
            }
        }
        if let Some(Value::Object(rec)) = e.get_mut("recurrence") {
            if let Some(Value::Object(p)) = rec.get_mut("pattern") {
                lower_in(p, "type");
                lower_in(p, "firstDayOfWeek");
                lower_in(p, "index");
                if let Some(Value::Array(days)) = p.get_mut("daysOfWeek") {
                    for d in days.iter_mut() {
                        if let Value::String(s) = d {
                            *s = s.to_lowercase();
                        }
                    }
                }
                p.entry("interval").or_insert(json!(1));
                p.entry("month").or_insert(json!(0));
                p.entry("dayOfMonth").or_insert(json!(0));
                p.entry("daysOfWeek").or_insert(json!([]));
                p.entry("firstDayOfWeek").or_insert(json!("sunday"));
                p.entry("index").or_insert(json!("first"));
            }
            if let Some(Value::Object(r)) = rec.get_mut("range") {
                if let Some(Value::String(t)) = r.get_mut("type") {
                    *t = match t.to_ascii_lowercase().as_str() {
                        "enddate" => "endDate".into(),
                        "noend" => "noEnd".into(),
                        "numbered" => "numbered".into(),
                        other => other.to_owned(),
                    };
                }
                r.entry("endDate").or_insert(json!("0001-01-01"));
                r.entry("numberOfOccurrences").or_insert(json!(0));
                r.entry("recurrenceTimeZone").or_insert(stz);
            }
            let rec = Value::Object(rec.clone());
            let far: Date = "2200-01-01".parse().expect("date");
            let dates = calendar::expand(&rec, far, 1).map_err(|m| m.to_string())?;
            if dates.is_empty() {
                return Err("recurrence: the series has no occurrence".into());
            }
            e.insert("type".into(), json!("seriesMaster"));
        } else {
            e.insert("recurrence".into(), Value::Null);
            if e.get("type").and_then(Value::as_str) == Some("seriesMaster") {
                e.insert("type".into(), json!("singleInstance"));
            }
        }
        Ok(())
    }

    /// Resolves an id that may be an occurrence id to (master id, original date).
    pub fn occurrence_parts(id: &str) -> Option<(String, Date)> {
        let raw = base64::engine::general_purpose::URL_SAFE.decode(id).ok()?;
        if raw.len() != 38 || raw[..3] != ID_PREFIX || raw[3] != OCCURRENCE_TAG {
            return None;
        }
        let mut master = raw[..34].to_vec();
        master[3] = ItemKind::Event.tag();
        let y = i16::from_be_bytes([raw[34], raw[35]]);
        let date = Date::new(y, raw[36] as i8, raw[37] as i8).ok()?;
        Some((
            base64::engine::general_purpose::URL_SAFE.encode(master),
            date,
        ))
    }

    /// The id of a series occurrence: the master id with the original date appended.
    pub fn occurrence_id(master_id: &str, date: Date) -> String {
        let mut raw = base64::engine::general_purpose::URL_SAFE
            .decode(master_id)
            .unwrap_or_default();
        if raw.len() < 4 {
            return master_id.to_owned();
        }
        raw[3] = OCCURRENCE_TAG;
        raw.extend_from_slice(&date.year().to_be_bytes());
        raw.push(date.month() as u8);
        raw.push(date.day() as u8);
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }
}

fn obj(v: &Value, place: &str) -> Result<Map<String, Value>, StoreError> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        other => Err(format!(
            "{place}: expected a mapping of Graph properties, found {other}"
        )),
    }
}

fn stamp_for(kind: ItemKind, now: Timestamp) -> String {
    match kind {
        ItemKind::Event | ItemKind::Task => calendar::fmt_instant_7(now),
        ItemKind::Message | ItemKind::Contact => calendar::fmt_instant(now),
    }
}

fn hex(s: &str) -> String {
    s.bytes().take(16).map(|b| format!("{b:02X}")).collect()
}

fn lower(m: &mut Map<String, Value>, key: &str) {
    lower_in(m, key)
}

fn lower_in(m: &mut Map<String, Value>, key: &str) {
    if let Some(Value::String(s)) = m.get_mut(key) {
        let mut c = s.chars();
        if let Some(f) = c.next() {
            *s = f.to_lowercase().collect::<String>() + c.as_str();
        }
    }
}

/// Lower-cases the body content type and recomputes `bodyPreview`.
pub fn normalize_body(m: &mut Map<String, Value>) {
    if let Some(Value::Object(b)) = m.get_mut("body") {
        if let Some(Value::String(t)) = b.get_mut("contentType") {
            *t = t.to_lowercase();
        }
        b.entry("contentType").or_insert(json!("text"));
        b.entry("content").or_insert(json!(""));
        let text = if b["contentType"] == "html" {
            html::html_to_text(b["content"].as_str().unwrap_or(""))
        } else {
            b["content"].as_str().unwrap_or("").to_owned()
        };
        if m.contains_key("bodyPreview") {
            let preview: String = text.trim().chars().take(255).collect();
            m.insert("bodyPreview".into(), json!(preview));
        }
    }
}

fn fill_display_name(c: &mut Map<String, Value>) {
    let empty = c
        .get("displayName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if empty {
        let name = [c.get("givenName"), c.get("surname")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        c.insert("displayName".into(), json!(name));
    }
    if c.get("fileAs")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        let name = c["displayName"].clone();
        c.insert("fileAs".into(), name);
    }
}

pub fn refresh_contact(c: &mut Map<String, Value>) {
    fill_display_name(c);
}

/// Pulls `singleValueExtendedProperties` out of a request body into (id, value) pairs.
pub fn take_ext(data: &mut Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(Value::Array(props)) = data.remove("singleValueExtendedProperties") {
        for p in props {
            if let (Some(id), Some(v)) = (p.get("id").and_then(Value::as_str), p.get("value")) {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push((normalize_ext_id(id), value));
            }
        }
    }
    out
}

/// Graph returns the GUIDs of extended property ids in lower case (ids are compared by
/// `odata::ext_id_key`: the name case-sensitively, the rest not).
pub fn normalize_ext_id(id: &str) -> String {
    let mut out = String::new();
    let mut in_guid = false;
    for c in id.trim().chars() {
        match c {
            '{' => {
                in_guid = true;
                out.push(c)
            }
            '}' => {
                in_guid = false;
                out.push(c)
            }
            _ if in_guid => out.extend(c.to_lowercase()),
            _ => out.push(c),
        }
    }
    out
}

/// Merges extended properties from a PATCH body.
pub fn merge_ext(ext: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (id, v) in new {
        let key = odata::ext_id_key(&id);
        match ext.iter_mut().find(|(k, _)| odata::ext_id_key(k) == key) {
            Some(slot) => slot.1 = v,
            None => ext.push((id, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrence_ids_encode_master_and_date() {
        let mut store = Store::new(&Seed::sandbox(), 1, Timestamp::UNIX_EPOCH).unwrap();
        let master = store.new_id(ItemKind::Event.tag());
        let date: Date = "2026-11-16".parse().unwrap();
        let occ = Store::occurrence_id(&master, date);
        assert!(occ.starts_with("AAMk"));
        assert!(!occ.contains('+') && !occ.contains('/'));
        assert_eq!(Store::occurrence_parts(&occ), Some((master.clone(), date)));
        assert_eq!(Store::occurrence_parts(&master), None);
    }
}
