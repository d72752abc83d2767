//! The submission service, natively over the memory backend: every write step failed in turn, racing
//! requests, idempotent replays, the upgrade from the KV-only layout, and the number of storage operations
//! a submission costs.

use edge::platform::memory::{Memory, Op};
use edge::protocol::backend::Backend;
use edge::protocol::handover::Handover;
use edge::services::submission::{finish_repeat, give_up, receive, take, Intake, Received, Taken};
use edge::{rules::intake, rules::receipt, Error};
use futures::executor::block_on;
use futures::future::join_all;
use shared::form::FormsConfig;
use shared::wire::Submission;

use crate::fixtures::NOW;
const SIGNING: &str = "signing-secret-for-tests";

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "mail": {"url": "https://mail.example/send", "from": "News <news@example.com>"},
        "forms": [
            {"id": "open", "kind": "newsletter",
             "fields": [{"name": "email", "required": true}, {"name": "first_name"}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "text": {"en": "Send me the newsletter."}}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "doi", "kind": "newsletter", "double_opt_in": true,
             "fields": [{"name": "email", "required": true}],
             "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "win", "kind": "giveaway", "fields": [{"name": "email", "required": true}],
             "giveaway": {"starts_at": "2026-01-01", "ends_at": "2030-12-31", "rules_url": "/rules"},
             "consents": [{"id": "giveaway_rules", "required": true, "text": {"en": "I accept the rules."}}]},
            {"id": "turns", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
             "assign": {"rule": "round_robin", "at": "creation"},
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}
        ],
        "owners": [{"id": "anna", "name": "Anna"}, {"id": "ben", "name": "Ben"}]
    }))
    .unwrap()
}

fn submission(form: &str, fields: serde_json::Value, consent: &[&str]) -> Submission {
    serde_json::from_value(serde_json::json!({"form": form, "fields": fields, "consent": consent, "meta": {"elapsed_ms": 9000}})).unwrap()
}

async fn submit(m: &Memory, config: &FormsConfig, form: &str, fields: serde_json::Value, consent: &[&str], key: Option<&str>) -> Result<Taken, Error> {
    let intake = Intake {
        config,
        form: config.form(form).unwrap(),
        signing: SIGNING,
        origin: "https://collector.example",
        key: key.map(str::to_owned),
        client: Some("c_test".into()),
    };
    take(m, &intake, submission(form, fields, consent)).await
}

fn intake<'a>(config: &'a FormsConfig, form: &str, key: Option<&str>) -> Intake<'a> {
    Intake { config, form: config.form(form).unwrap(), signing: SIGNING, origin: "https://collector.example", key: key.map(str::to_owned), client: None }
}

fn email(address: &str) -> String {
    intake::email_hash(address)
}

#[test]
fn a_new_lead_is_stored_with_its_outbox_and_settled_in_the_ledger() {
    let (m, config) = (Memory::at(NOW), config());
    let taken = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com"}), &["marketing_email"], None)).unwrap();
    assert_eq!(taken.status, 201);
    let id = taken.body["id"].as_str().unwrap().to_owned();
    assert_eq!(m.leads.borrow().keys().collect::<Vec<_>>(), vec![&id]);
    assert_eq!(taken.deliveries.len(), 1);
    assert_eq!(m.outbox().len(), 1);
    assert_eq!(m.ledger_row("open", &email("ada@example.com")), Some((id.clone(), true)));
    let r = receipt::verify(SIGNING.as_bytes(), taken.body["receipt"].as_str().unwrap()).unwrap();
    assert_eq!(r.lead, id);
    assert_eq!(taken.body["status"], "new");
}

#[test]
fn a_fault_at_any_step_of_a_new_lead_leaves_nothing_and_a_retry_succeeds() {
    // A new address is written, then admitted (claimed and settled) in one ledger request; a form that
    // gives owners turns claims first, takes the turn, writes, and is admitted under the claim it holds.
    let steps = [("open", vec![Op::ReadLegacy, Op::PutLead, Op::Admit]), ("turns", vec![Op::ReadLegacy, Op::Claim, Op::LedgerOther, Op::PutLead, Op::Admit])];
    for (form, ops) in steps {
        for op in ops {
            let (m, config) = (Memory::at(NOW), config());
            m.fail(op, 1);
            let failed = block_on(submit(&m, &config, form, serde_json::json!({"email": "ada@example.com"}), &[], None));
            assert!(matches!(failed, Err(Error::Internal(_))), "{form} {op:?}: {failed:?}");
            assert!(m.leads.borrow().is_empty(), "{form} {op:?}: no lead document stays");
            assert_eq!(block_on(edge::services::listing::all_ids(&m, &Default::default())).unwrap(), Vec::<String>::new(), "{form} {op:?}: no index row stays");
            assert!(m.outbox().is_empty(), "{form} {op:?}: no outbox entry stays");
            assert_eq!(m.ledger_row(form, &email("ada@example.com")), None, "{form} {op:?}: the claim is released");
            let retried = block_on(submit(&m, &config, form, serde_json::json!({"email": "ada@example.com"}), &[], None)).unwrap();
            assert_eq!(retried.status, 201, "{form} {op:?}");
            assert_eq!(m.leads.borrow().len(), 1, "{form} {op:?}");
            assert_eq!(m.outbox().len(), 1, "{form} {op:?}");
        }
    }
}

#[test]
fn a_repeat_writes_a_new_document_only_to_delete_it_again() {
    let (m, config) = (Memory::at(NOW), config());
    let first = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com"}), &[], None)).unwrap();
    m.reset_counts();
    let again = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com", "company": "ACME"}), &[], Some("k"))).unwrap();
    assert_eq!(m.leads.borrow().keys().collect::<Vec<_>>(), vec![first.body["id"].as_str().unwrap()], "only the stored lead is left");
    assert_eq!(m.leads.borrow().values().next().unwrap().fields["company"], "ACME", "the repeat changed it");
    assert_ne!(again.body["id"], first.body["id"], "answered like a first submission");
    assert_eq!((m.count(Op::Admit), m.count(Op::DeleteLead), m.count(Op::Settle)), (1, 1, 1));
    // A document that cannot be deleted stays, and the repeat goes on all the same.
    m.fail(Op::DeleteLead, 1);
    assert!(block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com", "first_name": "Ada"}), &[], None)).is_ok());
    assert_eq!(m.leads.borrow().len(), 2);
}

#[test]
fn a_fault_at_any_step_of_a_repeat_puts_the_lead_back_and_releases_its_hold() {
    for (op, nth) in [(Op::ReadLead, 1), (Op::PutLead, 1), (Op::Settle, 1)] {
        let (m, config) = (Memory::at(NOW), config());
        block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com"}), &[], None)).unwrap();
        let before = m.leads.borrow().clone();
        let deliveries = m.outbox().len();
        m.fail(op, nth);
        let failed = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com", "company": "ACME"}), &[], None));
        assert!(failed.is_err(), "{op:?}");
        assert_eq!(*m.leads.borrow(), before, "{op:?}: the lead is as it was");
        assert_eq!(m.outbox().len(), deliveries, "{op:?}: no lead.updated stays");
        let retried = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com", "company": "ACME"}), &[], None));
        assert!(retried.is_ok(), "{op:?}: the hold was released, so the retry is not kept waiting");
        let lead = m.leads.borrow().values().next().cloned().unwrap();
        assert_eq!(lead.fields["company"], "ACME", "{op:?}");
        assert_eq!(lead.repeats.len(), 1, "{op:?}: the failed repeat left no trace");
    }
}

#[test]
fn a_repeat_is_handed_over_holding_its_lead_and_finished_from_what_travels() {
    let (m, config) = (Memory::at(NOW), config());
    let first = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com"}), &[], None)).unwrap();
    let id = first.body["id"].as_str().unwrap().to_owned();
    let before = m.leads.borrow().clone();
    let outbox = m.outbox().len();
    let intake = intake(&config, "open", Some("k-2"));
    let acme = || submission("open", serde_json::json!({"email": "ada@example.com", "company": "ACME"}), &[]);
    let Received::Repeat(handover) = block_on(receive(&m, &intake, acme())).unwrap() else { panic!("a known address is a repeat") };
    assert_eq!((handover.lead.as_str(), handover.key.as_deref(), handover.form.as_str()), (id.as_str(), Some("k-2"), "open"));
    assert_eq!(*m.leads.borrow(), before, "nothing of the repeat is written before it is finished");
    assert_eq!(m.outbox().len(), outbox);
    // While it is handed over, the address is held: another submission of it waits, then gives up.
    let other = block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com"}), &[], None));
    assert!(matches!(other, Err(Error::InProgress)), "{other:?}");
    // What travels (JSON) is what was handed over, and finishing it is a repeat like any other.
    let travelled: Handover = serde_json::from_str(&serde_json::to_string(&handover).unwrap()).unwrap();
    assert_eq!(travelled, *handover);
    let taken = block_on(finish_repeat(&m, &intake, travelled)).unwrap();
    assert_eq!(taken.status, 201);
    assert_eq!(taken.body["id"], handover.fresh.id.as_str(), "the answer names this submission's own id");
    assert_eq!(receipt::verify(SIGNING.as_bytes(), taken.body["receipt"].as_str().unwrap()).unwrap().lead, handover.fresh.id);
    let lead = m.leads.borrow()[&id].clone();
    assert_eq!((lead.fields["company"].as_str(), lead.repeats.len()), ("ACME", 1));
    assert_eq!(m.queued("lead.updated").len(), 1);
    // The key the hand-over held was settled with the answer: a retry under it gets the same answer.
    let replayed = block_on(take(&m, &intake, acme())).unwrap();
    assert_eq!(replayed.body, taken.body);
    assert_eq!(m.leads.borrow()[&id].repeats.len(), 1, "a replay stores nothing");
}

#[test]
fn a_handover_given_up_releases_its_hold_and_its_key() {
    let (m, config) = (Memory::at(NOW), config());
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "ada@example.com"}), &[], None)).unwrap();
    let intake = intake(&config, "open", Some("k-3"));
    let again = || submission("open", serde_json::json!({"email": "ada@example.com", "company": "ACME"}), &[]);
    let Received::Repeat(handover) = block_on(receive(&m, &intake, again())).unwrap() else { panic!("a known address is a repeat") };
    block_on(give_up(&m, &handover));
    let started = m.now_ms();
    let Received::Repeat(next) = block_on(receive(&m, &intake, again())).unwrap() else { panic!("still a repeat, not a replay: nothing was answered") };
    assert_eq!(m.now_ms(), started, "the next request was not kept waiting");
    assert_eq!(next.key.as_deref(), Some("k-3"), "the key is free to be held again");
}

#[test]
fn racing_submissions_of_one_address_make_one_lead_and_keep_every_repeat() {
    let (m, config) = (Memory::at(NOW), config());
    let all = block_on(join_all(
        (0..50).map(|i| submit(&m, &config, "open", serde_json::json!({"email": "race@example.com", "first_name": format!("N{i}")}), &[], None)),
    ));
    assert!(all.iter().all(|r| r.as_ref().is_ok_and(|t| t.status == 201)), "{:?}", all.iter().find(|r| r.is_err()));
    let leads = m.leads.borrow();
    assert_eq!(leads.len(), 1);
    let lead = leads.values().next().unwrap();
    assert_eq!(lead.repeats.len(), 49, "repeats that race never overwrite each other");
    assert_eq!(lead.engagement.submissions, 50);
    let created = m.outbox().values().filter(|d| d.event == "lead.created").count();
    assert_eq!(created, 1);
}

#[test]
fn racing_retries_under_one_key_get_one_answer() {
    let (m, config) = (Memory::at(NOW), config());
    let all = block_on(join_all((0..20).map(|_| submit(&m, &config, "open", serde_json::json!({"email": "key@example.com"}), &[], Some("k-1")))));
    let bodies: Vec<String> = all.into_iter().map(|r| r.unwrap().body.to_string()).collect();
    assert!(bodies.iter().all(|b| b == &bodies[0]), "20 identical answers");
    assert_eq!(m.leads.borrow().len(), 1);
    assert!(m.leads.borrow().values().all(|l| l.repeats.is_empty()), "a replay stores nothing");
    // A day later the key is forgotten: the same key is a new request (here, a repeat).
    m.advance(edge::protocol::ledger::ANSWER_MS);
    let later = block_on(submit(&m, &config, "open", serde_json::json!({"email": "key@example.com"}), &[], Some("k-1"))).unwrap();
    assert_ne!(later.body.to_string(), bodies[0]);
}

#[test]
fn a_new_address_waiting_for_a_request_that_gives_up_is_admitted_under_its_own_claim_and_key() {
    use edge::protocol::ledger::{cmd, Hold};
    let (m, config) = (Memory::at(NOW), config());
    let address = email("late@example.com");
    // Another request holds the address (it claimed it and is writing its lead) ...
    block_on(m.send(cmd::Claim { form: "open".into(), email: address.clone(), lead: "ld_other".into(), key: None, legacy: None, now: NOW })).unwrap();
    let give_up = async {
        for _ in 0..20 {
            m.sleep(1).await;
        }
        // ... and gives up while this one waits.
        let hold = Hold { email: address.clone(), lead: Some("ld_other".into()), held: false };
        m.send(cmd::Release { form: "open".into(), hold, key: None }).await.unwrap();
    };
    let waiting = submit(&m, &config, "open", serde_json::json!({"email": "late@example.com"}), &[], Some("k-late"));
    let (taken, ()) = block_on(futures::future::join(waiting, give_up));
    let taken = taken.unwrap();
    assert_eq!(taken.status, 201);
    let id = taken.body["id"].as_str().unwrap().to_owned();
    assert_eq!(m.leads.borrow().keys().collect::<Vec<_>>(), vec![&id], "its document, written once, is the lead's");
    assert_eq!(m.ledger_row("open", &address), Some((id.clone(), true)));
    assert!(m.count(Op::Admit) >= 2, "not admitted while the other held the address, then admitted");
    let again = block_on(submit(&m, &config, "open", serde_json::json!({"email": "late@example.com"}), &[], Some("k-late"))).unwrap();
    assert_eq!(again.body, taken.body, "the key it held has the answer");
}

#[test]
fn racing_giveaway_entries_make_one_entry() {
    let (m, config) = (Memory::at(NOW), config());
    let all = block_on(join_all((0..20).map(|_| submit(&m, &config, "win", serde_json::json!({"email": "lucky@example.com"}), &["giveaway_rules"], None))));
    assert_eq!(all.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(all.iter().filter(|r| matches!(r, Err(Error::AlreadyEntered))).count(), 19);
    assert_eq!(m.leads.borrow().len(), 1);
    assert!(matches!(m.ledger_row("win", &email("lucky@example.com")), Some((_, true))));
}

#[test]
fn a_reservation_of_a_request_that_died_lapses() {
    let (m, config) = (Memory::at(NOW), config());
    // A request claims the address and dies before settling or releasing (its fault: the claim's reply
    // is lost after the ledger applied it, the way a Worker killed mid-request leaves it).
    // (An admitted new address is claimed and settled in one transaction, so only a form that claims
    // first, by giving owners turns, can leave a claim behind.)
    m.fail(Op::PutLead, 1);
    m.fail(Op::LedgerOther, 2); // the release (the first is the owner's turn)
    assert!(block_on(submit(&m, &config, "turns", serde_json::json!({"email": "dead@example.com"}), &[], None)).is_err());
    assert!(matches!(m.ledger_row("turns", &email("dead@example.com")), Some((_, false))), "left reserved");
    m.advance(edge::protocol::ledger::RESERVATION_MS);
    let later = block_on(submit(&m, &config, "turns", serde_json::json!({"email": "dead@example.com"}), &[], None)).unwrap();
    assert_eq!(later.status, 201);
    assert_eq!(m.ledger_row("turns", &email("dead@example.com")).map(|(id, live)| (id == later.body["id"], live)), Some((true, true)));
}

#[test]
fn leads_in_the_old_kv_layout_are_adopted_on_first_use() {
    let (m, config) = (Memory::at(NOW), config());
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "template@example.com"}), &[], None)).unwrap();
    let mut old = m.leads.borrow().values().next().cloned().unwrap();
    old.id = "ld_01JD0000000000LEGACY00000".into();
    old.fields.insert("email".into(), "legacy@example.com".into());
    m.leads.borrow_mut().insert(old.id.clone(), old.clone());
    m.legacy.borrow_mut().insert(("open".into(), email("legacy@example.com")), old.id.clone());
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "legacy@example.com", "first_name": "Lea"}), &[], None)).unwrap();
    assert_eq!(m.leads.borrow().len(), 2, "no second lead for the old address");
    assert_eq!(m.leads.borrow()[&old.id].fields["first_name"], "Lea");
    assert_eq!(m.ledger_row("open", &email("legacy@example.com")), Some((old.id.clone(), true)));
    m.legacy.borrow_mut().clear();
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "legacy@example.com"}), &[], None)).unwrap();
    assert_eq!(m.leads.borrow()[&old.id].repeats.len(), 2, "adopted once, the ledger knows it");
}

#[test]
fn a_bot_costs_one_count_and_gets_a_real_looking_answer() {
    let (m, config) = (Memory::at(NOW), config());
    let real = block_on(submit(&m, &config, "doi", serde_json::json!({"email": "person@example.com"}), &["marketing_email"], None)).unwrap();
    m.reset_counts();
    let mut bot = submission("doi", serde_json::json!({"email": "bot@example.com"}), &["marketing_email"]);
    bot.meta.hp = Some("http://spam.example".into());
    let intake = Intake { config: &config, form: config.form("doi").unwrap(), signing: SIGNING, origin: "https://c.example", key: None, client: None };
    let decoy = block_on(take(&m, &intake, bot)).unwrap();
    assert_eq!(decoy.status, real.status);
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&decoy.body), keys(&real.body));
    assert_eq!(decoy.body["status"], "pending");
    assert_eq!(receipt::verify(SIGNING.as_bytes(), decoy.body["receipt"].as_str().unwrap()), Err(receipt::Problem::NotGenuine));
    assert_eq!((m.total(), m.count(Op::CountBot)), (1, 1));
    assert_eq!(m.leads.borrow().len(), 1);
}

#[test]
fn a_submission_costs_a_bounded_number_of_operations_whatever_is_stored() {
    let (m, config) = (Memory::at(NOW), config());
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "first@example.com"}), &[], None)).unwrap();
    let template = m.leads.borrow().values().next().cloned().unwrap();
    for i in 0..10_000 {
        let mut l = template.clone();
        l.id = format!("ld_{i:026}");
        m.leads.borrow_mut().insert(l.id.clone(), l);
    }
    m.reset_counts();
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "new@example.com"}), &[], Some("k"))).unwrap();
    let new = m.total();
    m.reset_counts();
    block_on(submit(&m, &config, "open", serde_json::json!({"email": "new@example.com", "company": "ACME"}), &[], None)).unwrap();
    let repeat = m.total();
    m.reset_counts();
    block_on(submit(&m, &config, "doi", serde_json::json!({"email": "doi@example.com"}), &["marketing_email"], None)).unwrap();
    let doi = m.total();
    println!("storage operations per submission with 10,000 leads stored: new {new}, repeat {repeat}, double opt-in {doi}");
    // New: the old layout's key, the document, the admission (claim and settle in one ledger request,
    // which writes the index row too). Repeat: the same, then deleting the document the admission did not
    // take, reading the stored lead, writing it and its settle (two ledger requests, as before admissions).
    // Double opt-in: as new, the mail goes through the outbox.
    assert_eq!((new, repeat, doi), (3, 7, 3));
    assert_eq!((m.count(Op::Admit), m.count(Op::Claim), m.count(Op::Settle), m.count(Op::Index)), (1, 0, 0, 0));
}

#[test]
fn a_repeat_of_a_lead_erased_meanwhile_settles_nothing_and_brings_nothing_back() {
    let (m, config) = (Memory::at(NOW), config());
    let first = block_on(submit(&m, &config, "open", serde_json::json!({"email": "gone@example.com"}), &[], None)).unwrap();
    let id = first.body["id"].as_str().unwrap().to_owned();
    // The repeat's document write is slow (the second of the request: the first is the document an
    // admission would have stored): the erasure commits while it is under way.
    m.delay_from(Op::PutLead, 2, 20);
    // And the erasure starts once the repeat holds the lead (after the document an admission would have
    // stored, and the admission's claim), not before: else the submission is a new address's, after it.
    m.delay(Op::Erase, 6);
    let repeat = submit(&m, &config, "open", serde_json::json!({"email": "gone@example.com", "company": "ACME"}), &[], None);
    let (repeat, erased) = block_on(futures::future::join(repeat, edge::services::erasure::erase(&m, &config, &id, true)));
    assert!(erased.unwrap().is_some());
    assert!(matches!(repeat, Err(Error::NotFound)), "{repeat:?}");
    assert!(!m.leads.borrow().contains_key(&id), "the late document is deleted again");
    assert!(m.tombstoned(&id) && !m.indexed(&id));
    assert!(m.queued("lead.updated").is_empty(), "nothing announces an erased lead");
    assert_eq!(m.ledger_row("open", &email("gone@example.com")), None, "the address is free");
    let again = block_on(submit(&m, &config, "open", serde_json::json!({"email": "gone@example.com"}), &[], None)).unwrap();
    assert_ne!(again.body["id"].as_str().unwrap(), id, "a new submission makes a new lead");
}

#[test]
fn a_repeat_that_changes_nothing_on_a_confirmed_lead_mails_nobody() {
    let (m, config) = (Memory::at(NOW), config());
    let first = block_on(submit(&m, &config, "doi", serde_json::json!({"email": "owner@example.com"}), &["marketing_email"], None)).unwrap();
    assert_eq!(first.deliveries[0].endpoint, edge::services::announcing::MAIL_ENDPOINT);
    let id = m.ledger_row("doi", &email("owner@example.com")).unwrap().0;
    m.leads.borrow_mut().get_mut(&id).unwrap().status = shared::lead::Status::Confirmed;
    m.advance(11 * 60_000);
    let again = block_on(submit(&m, &config, "doi", serde_json::json!({"email": "owner@example.com"}), &["marketing_email"], None)).unwrap();
    assert!(again.deliveries.is_empty(), "nothing to confirm, nothing mailed");
    assert_eq!(again.body["status"], "pending", "answered like a first submission");
    assert!(m.leads.borrow()[&id].held.is_empty());
}

#[test]
fn waiting_requests_look_again_at_spread_times_so_a_burst_does_not_move_in_lockstep() {
    use edge::services::holding::{look_delay, LOOK_EVERY_MS};
    let m = Memory::at(NOW);
    let delays: Vec<u64> = (0..200).map(|_| look_delay(&m)).collect();
    assert!(delays.iter().all(|d| (LOOK_EVERY_MS / 2..=LOOK_EVERY_MS * 3 / 2).contains(d)), "{delays:?}");
    let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
    assert!(max - min > LOOK_EVERY_MS * 3 / 4, "spread over most of the window, not one value: {min}..{max}");
    let mean = delays.iter().sum::<u64>() / delays.len() as u64;
    assert!(mean.abs_diff(LOOK_EVERY_MS) < LOOK_EVERY_MS / 10, "{LOOK_EVERY_MS} ms on average, was {mean}");
}
