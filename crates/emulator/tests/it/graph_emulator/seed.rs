//! Seed validation: a bad seed is reported with the field that is wrong.

use graph_connector_emulator::graph::Seed;

#[test]
fn a_bad_seed_is_reported_with_the_field() {
    let err = Seed::from_yaml("tenant: {id: nope, domains: [x.com]}\n", "seed.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "graph emulator seed seed.yaml: tenant.id: expected a GUID, found `nope`"
    );
    let err = Seed::from_yaml("tenant: {id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f, domains: [x.com]}\nusers:\n  - {id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f, displayName: A, userPrincipalName: a@x.com, timeZone: Mars Standard Time}\n", "seed.yaml").unwrap_err();
    assert!(err.to_string().contains("users[0].timeZone"), "{err}");
}
