//! The CRM.interface response parser: any text as the answer to a catalog read and a delete.
#![no_main]

use graph_connector::transport::crm::{BatchCommand, Command, RecordId, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let commands = [
        BatchCommand::new(Command::ReadCatalog("Country".into())),
        BatchCommand::new(Command::Delete {
            table: "Contact".into(),
            id: RecordId::new("1"),
        }),
    ];
    let _ = encode::decode_response(text, &commands);
});
