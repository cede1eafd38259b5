//! Unreliable services: Graph failing 30 % of requests (seeded) converges to the same end state as a
//! fault-free run; a lost delta state (410) is a full round that links instead of duplicating.

use graph_connector::emulator::graph::{Faults, RetryAfter};

use super::{ANA, BEN, Fixture, assert_ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_at_a_30_percent_fault_rate_converges_to_the_fault_free_state() {
    let clean = {
        let fx = Fixture::start().await;
        fx.settle(4).await;
        let f = fx.fingerprint();
        fx.close().await;
        f
    };
    let fx = Fixture::start().await;
    fx.sandbox.graph.set_faults(Faults {
        rate: 0.3,
        statuses: vec![429, 503, 504],
        retry_after: vec![RetryAfter::Integer(0)],
        ..Faults::default()
    });
    // Cycles go on until one succeeds with nothing to write (failed items are retried next cycle).
    let mut settled = false;
    for _ in 0..12 {
        let report = fx.cycle().await;
        if report.ok && report.writes() == 0 {
            settled = true;
            break;
        }
    }
    fx.sandbox.graph.set_faults(Faults::default());
    let last = fx.cycle().await;
    assert_ok(&last);
    assert!(settled || last.writes() == 0, "{last}");
    assert_eq!(fx.fingerprint(), clean);
    fx.close().await;
}

#[tokio::test]
async fn a_lost_delta_state_is_a_full_round_that_duplicates_nothing() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    let before = fx.fingerprint();
    fx.sandbox.graph.evict_delta_tokens(Some(ANA)).unwrap();
    fx.sandbox.graph.evict_delta_tokens(Some(BEN)).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(report.writes(), 0, "{report}");
    assert_eq!(fx.fingerprint(), before);
    fx.close().await;
}
