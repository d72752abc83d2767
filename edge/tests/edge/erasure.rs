//! Erasure, natively over the memory backend: one ledger transaction that no attempt in flight undoes,
//! finished by a retry after a fault at any step and announced once, after which nothing is queued or
//! indexed for the lead.

use crate::fixtures::{memory, submit_news as submit, two_endpoints as config};
use edge::platform::memory::Op;
use edge::protocol::backend::Backend;
use edge::protocol::ledger::cmd;
use edge::protocol::ledger::Command;
use edge::services::delivery::run_due;
use edge::services::erasure::erase;
use edge::Error;
use futures::executor::block_on;
use shared::lead::Lead;

#[test]
fn an_attempt_in_flight_during_an_erasure_writes_nothing_back() {
    let (m, config) = (memory(), config());
    let id = submit(&m, &config, "di@example.com");
    assert!(m.fire_alarm());
    // The attempt and the erasure run side by side: the attempt takes its deliveries, the endpoints are
    // slow, the erasure commits while they are being called, and the attempts' records come after it.
    m.delay(Op::Call, 20);
    let (run, erased) = block_on(futures::future::join(run_due(&m, &config), erase(&m, &config, &id, true)));
    assert_eq!(run.unwrap().attempted, 2);
    let erased = erased.unwrap().unwrap();
    assert_eq!(erased.deliveries_deleted, 2);
    let events: Vec<String> = m.outbox().values().map(|d| d.event.clone()).collect();
    assert_eq!(events, vec!["lead.erased", "lead.erased"], "the lead.created records did not come back");
    assert!(m.outbox().values().all(|d| !d.payload.contains("di@example.com")));
    assert!(m.tombstoned(&id) && !m.leads.borrow().contains_key(&id) && !m.indexed(&id));
}

#[test]
fn an_erasure_that_fails_at_any_step_is_finished_by_a_retry_and_announced_once() {
    for op in [Op::ReadLead, Op::Erase, Op::LedgerOther, Op::DeleteLead, Op::DeleteLegacy] {
        let (m, config) = (memory(), config());
        let id = submit(&m, &config, "ed@example.com");
        m.fail(op, 1);
        assert!(block_on(erase(&m, &config, &id, true)).is_err(), "{op:?}");
        if matches!(op, Op::ReadLead | Op::Erase) {
            assert!(!m.tombstoned(&id) && m.indexed(&id), "{op:?}: nothing changed before the ledger's transaction");
        } else {
            assert!(m.tombstoned(&id) && !m.indexed(&id), "{op:?}: the transaction holds; the lead is invisible");
        }
        let done = block_on(erase(&m, &config, &id, true)).unwrap();
        assert!(done.is_some(), "{op:?}: the retry finds the document and finishes");
        assert!(block_on(erase(&m, &config, &id, true)).unwrap().is_none(), "{op:?}: then it is gone");
        assert!(!m.leads.borrow().contains_key(&id));
        assert_eq!(m.queued("lead.erased").len(), 2, "{op:?}: one announcement per endpoint, however often retried");
        assert!(m.queued("lead.created").is_empty(), "{op:?}");
    }
}

#[test]
fn nothing_is_queued_or_indexed_for_an_erased_lead() {
    let (m, config) = (memory(), config());
    let id = submit(&m, &config, "fa@example.com");
    let late: Lead = m.leads.borrow()[&id].clone();
    block_on(erase(&m, &config, &id, true)).unwrap();
    let mut d = m.queued("lead.erased")[0].clone();
    d.id = "msg_late".into();
    d.event = "lead.updated".into();
    block_on(m.ledger(&Command::Queue(cmd::Queue { deliveries: vec![d] }))).unwrap();
    assert!(m.queued("lead.updated").is_empty(), "a late delivery of an erased lead is refused");
    assert!(matches!(block_on(m.put_lead(&late)), Err(Error::NotFound)), "a late document write is refused");
    assert!(!m.leads.borrow().contains_key(&id));
}
