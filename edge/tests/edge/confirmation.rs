//! The confirmation service, natively over the memory backend: a check-and-set under the ledger's hold.

use edge::platform::memory::{Memory, Op};
use edge::services::confirmation::{confirm, Confirmed};
use edge::services::submission::take;
use futures::executor::block_on;
use futures::future::join_all;
use shared::form::FormsConfig;
use shared::lead::Status;

use crate::fixtures::NOW;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "mail": {"url": "https://mail.example/send", "from": "News <news@example.com>", "resend_after_minutes": 0},
        "forms": [{"id": "doi", "kind": "newsletter", "double_opt_in": true,
                   "fields": [{"name": "email", "required": true}, {"name": "company"}],
                   "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}],
                   "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}]
    }))
    .unwrap()
}

/// A pending lead on the double opt-in form; returns its id.
fn pending(m: &Memory, config: &FormsConfig, fields: serde_json::Value) -> String {
    let intake = crate::fixtures::intake(config, "doi");
    let sub = serde_json::from_value(serde_json::json!({"form": "doi", "fields": fields.clone(), "consent": ["marketing_email"]})).unwrap();
    block_on(take(m, &intake, sub)).unwrap();
    let email = fields["email"].as_str().unwrap().to_owned();
    m.leads.borrow().values().find(|l| l.fields.get("email") == Some(&email)).map(|l| l.id.clone()).unwrap()
}

fn confirmed_events(m: &Memory) -> usize {
    m.outbox().values().filter(|d| d.event == "lead.confirmed").count()
}

#[test]
fn two_presses_at_once_confirm_once() {
    let (m, config) = (Memory::at(NOW), config());
    let id = pending(&m, &config, serde_json::json!({"email": "ada@example.com"}));
    let presses = block_on(join_all((0..2).map(|_| confirm(&m, &config, &id, None, Some("c1".into())))));
    let kinds: Vec<&str> = presses
        .iter()
        .map(|p| match p {
            Ok(Some(Confirmed::Address(..))) => "address",
            Ok(Some(Confirmed::Already(_))) => "already",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "address").count(), 1, "{kinds:?}");
    assert_eq!(confirmed_events(&m), 1);
    let lead = m.leads.borrow()[&id].clone();
    assert_eq!(lead.status, Status::Confirmed);
    assert_eq!(lead.confirmation.unwrap().client_id.as_deref(), Some("c1"));
}

#[test]
fn a_failed_write_leaves_the_lead_pending_and_the_next_press_works() {
    for op in [Op::Queue, Op::PutLead] {
        let (m, config) = (Memory::at(NOW), config());
        let id = pending(&m, &config, serde_json::json!({"email": "ada@example.com"}));
        m.fail(op, 1);
        assert!(block_on(confirm(&m, &config, &id, None, None)).is_err(), "{op:?}");
        assert_eq!(m.leads.borrow()[&id].status, Status::Pending, "{op:?}");
        assert_eq!(confirmed_events(&m), 0, "{op:?}: nothing announced that was not stored");
        // The hold was released: the next press is not kept waiting.
        assert!(matches!(block_on(confirm(&m, &config, &id, None, None)), Ok(Some(Confirmed::Address(..)))), "{op:?}");
        assert_eq!(confirmed_events(&m), 1, "{op:?}");
    }
}

#[test]
fn held_changes_are_applied_once() {
    let (m, config) = (Memory::at(NOW), config());
    let id = pending(&m, &config, serde_json::json!({"email": "ada@example.com"}));
    block_on(confirm(&m, &config, &id, None, None)).unwrap();
    m.advance(60_000);
    pending(&m, &config, serde_json::json!({"email": "ada@example.com", "company": "ACME"}));
    let change = change_in_last_mail(&m);
    assert_eq!(m.leads.borrow()[&id].held.len(), 1);
    let presses = block_on(join_all((0..3).map(|_| confirm(&m, &config, &id, Some(&change), None))));
    assert_eq!(presses.iter().filter(|p| matches!(p, Ok(Some(Confirmed::Changes(..))))).count(), 1);
    assert_eq!(m.leads.borrow()[&id].fields["company"], "ACME");
    assert_eq!(m.outbox().values().filter(|d| d.event == "lead.updated").count(), 1);
}

#[test]
fn a_confirmed_change_whose_write_fails_stays_held_and_the_same_link_applies_it_later() {
    for op in [Op::Queue, Op::PutLead] {
        let (m, config) = (Memory::at(NOW), config());
        let id = pending(&m, &config, serde_json::json!({"email": "ada@example.com"}));
        block_on(confirm(&m, &config, &id, None, None)).unwrap();
        m.advance(60_000);
        pending(&m, &config, serde_json::json!({"email": "ada@example.com", "company": "ACME"}));
        let change = change_in_last_mail(&m);
        m.fail(op, 1);
        assert!(block_on(confirm(&m, &config, &id, Some(&change), None)).is_err(), "{op:?}");
        let lead = m.leads.borrow()[&id].clone();
        assert!(!lead.fields.contains_key("company") && lead.held.len() == 1, "{op:?}: nothing applied, the change still held");
        assert_eq!(m.outbox().values().filter(|d| d.event == "lead.updated").count(), 0, "{op:?}: nothing announced");
        assert!(matches!(block_on(confirm(&m, &config, &id, Some(&change), None)), Ok(Some(Confirmed::Changes(..)))), "{op:?}");
        assert_eq!(m.leads.borrow()[&id].fields["company"], "ACME", "{op:?}");
    }
}

/// The change hash the newest confirmation mail's link names, read from the link as the collector will.
fn change_in_last_mail(m: &Memory) -> String {
    let mail = m.outbox().into_values().filter(|d| d.event == "mail.confirmation").max_by(|a, b| a.id.cmp(&b.id)).unwrap();
    let message: serde_json::Value = serde_json::from_str(&mail.payload).unwrap();
    let text = message["text"].as_str().unwrap();
    let token = text.split_whitespace().find(|w| w.contains("/v1/confirm/")).unwrap().rsplit('/').next().unwrap();
    edge::rules::token::open(b"s", edge::rules::token::Purpose::Confirm, token, NOW + 86_400_000).unwrap().change.expect("a link for a change names it")
}

#[test]
fn a_link_confirms_the_change_it_was_mailed_for_and_a_later_repeat_does_not_alter_it() {
    let (m, config) = (Memory::at(NOW), config());
    let id = pending(&m, &config, serde_json::json!({"email": "ada@example.com"}));
    block_on(confirm(&m, &config, &id, None, None)).unwrap();
    m.advance(60_000);
    pending(&m, &config, serde_json::json!({"email": "ada@example.com", "company": "ACME"}));
    let owners = change_in_last_mail(&m);
    m.advance(60_000);
    // A stranger's repeat afterwards: its change is held beside the owner's, with a mail of its own.
    pending(&m, &config, serde_json::json!({"email": "ada@example.com", "company": "Evil Corp"}));
    let strangers = change_in_last_mail(&m);
    assert_ne!(owners, strangers);
    assert_eq!(m.leads.borrow()[&id].held.len(), 2);
    assert!(matches!(block_on(confirm(&m, &config, &id, Some(&owners), None)), Ok(Some(Confirmed::Changes(..)))));
    let lead = m.leads.borrow()[&id].clone();
    assert_eq!(lead.fields["company"], "ACME", "the owner's link applies the owner's change");
    assert_eq!(lead.held.len(), 1, "the stranger's waits for its own link");
    // A link without a change (an address confirmation) applies no held change.
    assert!(matches!(block_on(confirm(&m, &config, &id, None, None)), Ok(Some(Confirmed::Already(_)))));
    assert_eq!(m.leads.borrow()[&id].held.len(), 1);
}

#[test]
fn a_gone_lead_is_none() {
    let (m, config) = (Memory::at(NOW), config());
    assert!(matches!(block_on(confirm(&m, &config, "ld_nothing", None, None)), Ok(None)));
}

#[test]
fn leads_nobody_confirmed_in_time_are_erased_without_announcement_and_confirmed_ones_stay() {
    let (m, config) = (Memory::at(NOW), config());
    let old = pending(&m, &config, serde_json::json!({"email": "old@example.com"}));
    m.advance(1_000);
    let kept = pending(&m, &config, serde_json::json!({"email": "kept@example.com"}));
    block_on(confirm(&m, &config, &kept, None, None)).unwrap();
    m.advance(29 * 86_400_000);
    let young = pending(&m, &config, serde_json::json!({"email": "young@example.com"}));
    assert_eq!(block_on(edge::services::erasure::erase_unconfirmed(&m, &config)).unwrap(), 0, "nobody is 30 days old yet");
    m.advance(86_400_000);
    assert_eq!(block_on(edge::services::erasure::erase_unconfirmed(&m, &config)).unwrap(), 1);
    let leads = m.leads.borrow();
    assert!(!leads.contains_key(&old) && leads.contains_key(&kept) && leads.contains_key(&young));
    assert!(m.tombstoned(&old));
    assert!(m.outbox().values().all(|d| d.lead_id != old), "its confirmation mail is gone and nothing announces it");
}
