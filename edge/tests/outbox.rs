//! The outbox in the ledger, natively over the memory backend: deliveries go out when the ledger's alarm
//! fires and are retried at their due time; an erasure is one ledger transaction that no attempt in flight
//! undoes, and a retry finishes it; a draw and its announcements commit together; and what admin requests
//! cost in storage operations with 10,000 leads stored.

use edge::platform::memory::{Memory, Op};
use edge::protocol::backend::{ask, Backend};
use edge::protocol::ledger::{Command, DeliveryFilter, DeliveryPage};
use edge::protocol::outbox::State;
use edge::services::delivery::run_due;
use edge::services::erasure::erase;
use edge::services::giveaway;
use edge::services::submission::{take, Intake};
use edge::services::withdrawal::{self, Withdrawn};
use edge::{rules::crm::Reply, Error};
use futures::executor::block_on;
use shared::form::FormsConfig;
use shared::lead::Lead;

mod common;
use common::NOW;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}, {"id": "sheet", "url": "https://sheet.example/hook"}]},
            {"id": "win", "kind": "giveaway", "fields": [{"name": "email", "required": true}],
             "giveaway": {"starts_at": "2026-01-01", "ends_at": "2030-12-31", "rules_url": "/rules"},
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}
        ]
    }))
    .unwrap()
}

fn memory() -> Memory {
    let m = Memory::at(NOW);
    m.secrets.borrow_mut().insert("WEBHOOK_SECRET".into(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    m
}

/// Submits `email` to the newsletter form; returns the lead's id.
fn submit(m: &Memory, config: &FormsConfig, email: &str) -> String {
    let intake = Intake { config, form: config.form("news").unwrap(), signing: "s", origin: "https://c.example", key: None, client: None };
    let sub = serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": email}, "meta": {"elapsed_ms": 9000}})).unwrap();
    block_on(take(m, &intake, sub)).unwrap().body["id"].as_str().unwrap().to_owned()
}

fn states(m: &Memory) -> Vec<(String, State, u32)> {
    m.outbox().values().map(|d| (d.event.clone(), d.state, d.attempts)).collect()
}

#[test]
fn a_stored_lead_goes_out_when_the_alarm_fires_signed_once_per_endpoint() {
    let (m, config) = (memory(), config());
    submit(&m, &config, "ada@example.com");
    assert_eq!(m.alarm(), Some(NOW), "the settle makes the deliveries due at once and sets the alarm");
    assert!(m.fire_alarm());
    let run = block_on(run_due(&m, &config)).unwrap();
    assert_eq!((run.attempted, run.delivered), (2, 2));
    for out in m.sent.borrow().iter() {
        let names: Vec<&str> = out.headers.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"webhook-id") && names.contains(&"webhook-signature"), "{names:?}");
    }
    assert!(states(&m).iter().all(|(_, s, a)| *s == State::Delivered && *a == 1));
    // The alarm may still be set for a lease that ended well: it then finds nothing to do.
    m.advance(edge::protocol::ledger::LEASE_MS);
    if m.fire_alarm() {
        assert_eq!(block_on(run_due(&m, &config)).unwrap().attempted, 0);
    }
    assert_eq!(m.sent.borrow().len(), 2, "nothing is sent twice");
}

#[test]
fn a_failed_attempt_is_retried_at_its_due_time_by_the_alarm() {
    let (m, config) = (memory(), config());
    let answers = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = answers.clone();
    m.answer_with(move |_| {
        seen.set(seen.get() + 1);
        Ok(Reply { status: if seen.get() <= 2 { 503 } else { 204 }, ..Reply::default() })
    });
    submit(&m, &config, "bo@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let due = m.alarm().expect("the alarm waits for the retries");
    assert!((NOW + 5_000..=NOW + 5_500).contains(&due), "the schedule's first step is 5 s (+ up to 10% jitter): {}", due - NOW);
    m.advance(4_000);
    assert!(!m.fire_alarm(), "not before the due time");
    m.advance(1_600);
    assert!(m.fire_alarm());
    let run = block_on(run_due(&m, &config)).unwrap();
    assert_eq!((run.attempted, run.delivered), (2, 2));
    assert_eq!(answers.get(), 4);
    assert!(states(&m).iter().all(|(_, s, a)| *s == State::Delivered && *a == 2));
}

#[test]
fn a_lost_record_leaves_the_delivery_leased_and_it_is_attempted_again_later() {
    let (m, config) = (memory(), config());
    submit(&m, &config, "cy@example.com");
    assert!(m.fire_alarm());
    m.fail(Op::Record, 1);
    assert!(block_on(run_due(&m, &config)).is_err());
    // One outcome was lost; its delivery stays pending under its lease and is taken again after it.
    let pending: Vec<_> = states(&m).into_iter().filter(|(_, s, _)| *s == State::Pending).collect();
    assert_eq!(pending.len(), 1);
    m.advance(edge::protocol::ledger::LEASE_MS);
    assert!(m.fire_alarm());
    assert_eq!(block_on(run_due(&m, &config)).unwrap().delivered, 1);
    assert!(states(&m).iter().all(|(_, s, _)| *s == State::Delivered));
}

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
    block_on(m.ledger(&Command::Queue { deliveries: vec![d] })).unwrap();
    assert!(m.queued("lead.updated").is_empty(), "a late delivery of an erased lead is refused");
    assert!(matches!(block_on(m.put_lead(&late)), Err(Error::NotFound)), "a late document write is refused");
    assert!(!m.leads.borrow().contains_key(&id));
}

#[test]
fn a_withdrawal_is_announced_after_the_lead_is_stored_and_never_when_it_is_not() {
    let (m, config) = (memory(), config());
    let id = submit(&m, &config, "gu@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let lead = m.leads.borrow()[&id].clone();
    let by_admin = || withdrawal::Request { via: "admin".into(), client: None, note: None, purposes: None };
    m.fail(Op::PutLead, 1);
    assert!(block_on(withdrawal::withdraw(&m, &config, &lead, by_admin())).is_err());
    assert!(m.queued("lead.consent_withdrawn").is_empty(), "taken back: the lead was not written");
    m.advance(120_000);
    if m.fire_alarm() {
        assert_eq!(block_on(run_due(&m, &config)).unwrap().attempted, 0, "nothing of the failed withdrawal goes out");
    }
    assert_eq!(block_on(withdrawal::withdraw(&m, &config, &lead, by_admin())).unwrap(), Withdrawn::Recorded { deliveries: 2 });
    assert_eq!(m.alarm(), Some(NOW + 120_000), "sent once the lead is stored");
    assert_eq!(block_on(withdrawal::withdraw(&m, &config, &lead, by_admin())).unwrap(), Withdrawn::Already);
    assert_eq!(m.queued("lead.consent_withdrawn").len(), 2);
}

/// A giveaway entry stored directly (as the listing tests do), `i` ms after NOW.
fn entry(m: &Memory, i: u64) -> String {
    let lead = common::lead(i, "win", shared::form::FormKind::Giveaway);
    block_on(m.put_lead(&lead)).unwrap();
    lead.id
}

#[test]
fn a_draw_among_ten_thousand_entries_commits_with_its_announcements_and_is_never_drawn_twice() {
    let (m, config) = (memory(), config());
    for i in 0..10_000 {
        entry(&m, i);
    }
    let form = config.form("win").unwrap();
    m.reset_counts();
    m.fail(Op::Draw, 1);
    assert!(block_on(giveaway::draw(&m, form, 3, Some("k1".into()))).is_err());
    assert!(m.queued("giveaway.winner").is_empty(), "no announcement without the draw on record");
    assert!(block_on(giveaway::draws(&m, "win")).unwrap().is_empty());

    m.reset_counts();
    let first = block_on(giveaway::draw(&m, form, 3, Some("k1".into()))).unwrap();
    assert_eq!((first.eligible_count, first.winners.len()), (10_000, 3));
    assert!(m.total() <= 20, "a draw among 10,000 entries took {} operations", m.total());
    let again = block_on(giveaway::draw(&m, form, 3, Some("k1".into()))).unwrap();
    assert_eq!(again, first, "a retry gets the draw that was made");
    assert_eq!(m.queued("giveaway.winner").len(), 3);
    assert_eq!(block_on(giveaway::draws(&m, "win")).unwrap(), vec![first.clone()]);

    // A second draw leaves the first one's winners out.
    let second = block_on(giveaway::draw(&m, form, 2, None)).unwrap();
    assert_eq!(second.eligible_count, 9_997);
    assert!(second.winners.iter().all(|w| !first.winners.contains(w)));
}

#[test]
fn admin_requests_do_a_bounded_number_of_operations_with_ten_thousand_leads() {
    let (m, config) = (memory(), config());
    for i in 0..10_000 {
        entry(&m, i);
    }
    for i in 0..300 {
        submit(&m, &config, &format!("q{i}@example.com"));
    }
    // A page of deliveries: one ledger request.
    m.reset_counts();
    let filter = DeliveryFilter { status: Some("pending".into()), ..DeliveryFilter::default() };
    let page: DeliveryPage = block_on(ask(&m, &Command::Deliveries { filter, before: None, limit: 100 })).unwrap();
    assert_eq!((page.deliveries.len(), m.total()), (100, 1));
    assert!(page.cursor.is_some());
    // An erasure: a read, the ledger's transaction, the document's removal and the old index key.
    let id = m.leads.borrow().keys().last().unwrap().clone();
    m.reset_counts();
    block_on(erase(&m, &config, &id, true)).unwrap();
    assert!(m.total() <= 6, "an erasure took {} operations", m.total());
    // An alarm run: the due deliveries, one call and one record each, within its budget.
    assert!(m.fire_alarm());
    m.reset_counts();
    let run = block_on(run_due(&m, &config)).unwrap();
    assert_eq!(run.attempted, edge::protocol::ledger::PER_RUN as usize);
    assert_eq!(m.total(), 1 + 2 * run.attempted);
    assert_eq!(m.alarm(), Some(NOW), "more are due: the alarm is set again at once");
}
