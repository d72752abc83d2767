//! Deliveries through the ledger's outbox, natively over the memory backend: they go out when the
//! ledger's alarm fires, signed once per endpoint, and are retried at their due time; a lost record
//! leaves the delivery leased, and it is attempted again later (at once when the object's instance that
//! leased it is gone).

use crate::fixtures::{memory, submit_news as submit, two_endpoints as config, NOW};
use edge::platform::memory::{Memory, Op};
use edge::protocol::outbox::State;
use edge::rules::crm::Reply;
use edge::services::delivery::run_due;
use futures::executor::block_on;

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

/// Submits `email` to the two-endpoint form and runs the alarm with the first outcome's record failing:
/// one delivery is attempted and left under its lease, its outcome lost.
fn a_lost_record(email: &str) -> (Memory, shared::form::FormsConfig) {
    let (m, config) = (memory(), config());
    submit(&m, &config, email);
    assert!(m.fire_alarm());
    m.fail(Op::Record, 1);
    assert!(block_on(run_due(&m, &config)).is_err());
    (m, config)
}

#[test]
fn a_lost_record_leaves_the_delivery_leased_and_it_is_attempted_again_later() {
    let (m, config) = a_lost_record("cy@example.com");
    // One outcome was lost; its delivery stays pending under its lease and is taken again after it.
    let pending: Vec<_> = states(&m).into_iter().filter(|(_, s, _)| *s == State::Pending).collect();
    assert_eq!(pending.len(), 1);
    m.advance(edge::protocol::ledger::LEASE_MS);
    assert!(m.fire_alarm());
    assert_eq!(block_on(run_due(&m, &config)).unwrap().delivered, 1);
    assert!(states(&m).iter().all(|(_, s, _)| *s == State::Delivered));
}

#[test]
fn a_delivery_whose_attempt_died_with_its_instance_is_due_when_the_next_instance_starts() {
    use edge::protocol::backend::ask;
    use edge::protocol::ledger::{cmd, LEASE_MS};
    // The instance dies between an attempt and its record: the endpoint may have had it, the ledger
    // does not know.
    let (m, config) = a_lost_record("di@example.com");
    let lost: Vec<_> = m.outbox().into_values().filter(|d| d.state == State::Pending).collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].next_at_ms, NOW + LEASE_MS, "leased: no run of this instance takes it again before the lease ends");
    let message = |o: &edge::rules::crm::Outbound| o.headers.iter().find(|(n, _)| *n == "webhook-id").map(|(_, v)| v.clone());
    assert!(m.sent.borrow().iter().any(|o| message(o).as_deref() == Some(lost[0].id.as_str())), "its attempt went out before the instance died");
    m.advance(30_000);
    m.restart();
    // The object's new instance starts for a request, whatever it asks (here the admin's list of
    // deliveries): that one sets the alarm for it, due now, not in a quarter of an hour.
    let filter = cmd::Deliveries { filter: Default::default(), before: None, limit: 10 };
    block_on(ask(&m, filter)).unwrap();
    assert_eq!(m.alarm(), Some(NOW + 30_000));
    assert!(m.fire_alarm());
    let sent_before = m.sent.borrow().len();
    let run = block_on(run_due(&m, &config)).unwrap();
    assert_eq!((run.attempted, run.delivered), (1, 1));
    assert!(states(&m).iter().all(|(_, s, _)| *s == State::Delivered));
    // Sent again as the same message: a receiver that had it sees a repeat by its `webhook-id`.
    assert_eq!(message(&m.sent.borrow()[sent_before]).as_deref(), Some(lost[0].id.as_str()));
}

#[test]
fn a_failed_alarm_write_for_leases_handed_back_fails_no_command_and_the_next_command_sets_it() {
    use edge::protocol::backend::ask;
    use edge::protocol::ledger::cmd;
    let (m, config) = a_lost_record("fa@example.com");
    let leased = m.alarm();
    m.advance(30_000);
    m.restart();
    // The new instance's first command answers although the alarm for the leases could not be set: the
    // command did its work; the failure is logged.
    m.fail(Op::Rearm, 1);
    let filter = || cmd::Deliveries { filter: Default::default(), before: None, limit: 10 };
    block_on(ask(&m, filter())).unwrap();
    assert_eq!(m.alarm(), leased, "not set: the alarm write failed");
    assert!(m.logged.borrow().iter().any(|l| l.contains("the alarm for the leases handed back")), "{:?}", m.logged.borrow());
    // The next command, whatever it asks, tries again and sets it for now.
    block_on(ask(&m, filter())).unwrap();
    assert_eq!(m.alarm(), Some(NOW + 30_000));
    assert_eq!(m.count(Op::Rearm), 2);
    // And only once: the commands after it write no alarm for them again.
    block_on(ask(&m, filter())).unwrap();
    assert_eq!(m.count(Op::Rearm), 2);
    assert!(m.fire_alarm());
    assert_eq!(block_on(run_due(&m, &config)).unwrap().delivered, 1);
}

#[test]
fn a_sign_up_mail_goes_before_a_backlog_which_drains_at_its_pace() {
    use edge::protocol::ledger::{PACE_MS, PER_RUN};
    let m = memory();
    m.secrets.borrow_mut().insert("MAIL_API_KEY".into(), "re_test".into());
    let config: shared::form::FormsConfig = serde_json::from_value(serde_json::json!({
        "mail": {"url": "https://mail.example/send", "from": "News <news@example.com>"},
        "forms": [
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}, {"id": "sheet", "url": "https://sheet.example/hook"}]},
            {"id": "doi", "kind": "newsletter", "double_opt_in": true, "fields": [{"name": "email", "required": true}],
             "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}]}
        ]
    }))
    .unwrap();
    // A backlog: 400 deliveries due at once (an import's worth, in small).
    for i in 0..200 {
        submit(&m, &config, &format!("b{i}@example.com"));
    }
    assert!(m.fire_alarm());
    assert_eq!(block_on(run_due(&m, &config)).unwrap().attempted, PER_RUN as usize);
    assert_eq!(m.alarm(), Some(NOW + PACE_MS), "the backlog waits for its pace");
    assert!(!m.fire_alarm());
    // A visitor signs up on the double opt-in form and is told to look in their inbox: the mail is due now,
    // not after the backlog's next turn.
    let intake = crate::fixtures::intake(&config, "doi");
    let sub = serde_json::from_value(serde_json::json!({"form": "doi", "fields": {"email": "ada@example.com"}, "consent": ["marketing_email"]})).unwrap();
    block_on(edge::services::submission::take(&m, &intake, sub)).unwrap();
    assert_eq!(m.alarm(), Some(NOW), "the urgent mail sets the alarm at once");
    assert!(m.fire_alarm());
    let sent_before = m.sent.borrow().len();
    let run = block_on(run_due(&m, &config)).unwrap();
    assert_eq!(run.attempted, 1, "only the urgent lane runs while the backlog is paced");
    assert_eq!(m.sent.borrow()[sent_before].url, "https://mail.example/send");
    // The backlog goes on at its pace: a run of PER_RUN every PACE_MS.
    m.advance(PACE_MS);
    assert!(m.fire_alarm());
    assert_eq!(block_on(run_due(&m, &config)).unwrap().attempted, PER_RUN as usize);
    assert!(!m.fire_alarm(), "not again before the pace allows");
}

/// A double opt-in form whose mails go through `provider`.
fn mailing(provider: &str) -> shared::form::FormsConfig {
    serde_json::from_value(serde_json::json!({
        "mail": {"provider": provider, "from": "News <news@example.com>"},
        "forms": [{"id": "doi", "kind": "newsletter", "double_opt_in": true, "fields": [{"name": "email", "required": true}],
                   "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}]}]
    }))
    .unwrap()
}

fn sign_up(m: &Memory, config: &shared::form::FormsConfig, email: &str) {
    let intake = crate::fixtures::intake(config, "doi");
    let sub = serde_json::from_value(serde_json::json!({"form": "doi", "fields": {"email": email}, "consent": ["marketing_email"]})).unwrap();
    block_on(edge::services::submission::take(m, &intake, sub)).unwrap();
}

#[test]
fn cloudflares_binding_takes_the_mail_and_a_final_refusal_is_dead_at_once_while_a_limit_is_retried() {
    let config = mailing("cloudflare");
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    assert!(!config.secrets().iter().any(|(n, _)| n == "MAIL_API_KEY"), "the binding needs no key");
    // Taken: one mail through the binding, no key asked for.
    let m = memory();
    sign_up(&m, &config, "ada@example.com");
    assert!(m.fire_alarm());
    assert_eq!(block_on(run_due(&m, &config)).unwrap().delivered, 1);
    let sent = m.sent.borrow().last().cloned().unwrap();
    assert_eq!(sent.url, "binding:EMAIL");
    let mail: serde_json::Value = serde_json::from_str(sent.body.as_deref().unwrap()).unwrap();
    assert_eq!((mail["to"].as_str(), mail["from"].as_str()), (Some("ada@example.com"), Some("News <news@example.com>")));
    // Refused for good: an unverified sender will not verify itself.
    let m = memory();
    m.answer_with(|_| Ok(Reply { status: 403, body: "E_SENDER_NOT_VERIFIED".into(), ..Reply::default() }));
    sign_up(&m, &config, "bo@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let d = m.outbox().values().next().cloned().unwrap();
    assert_eq!((d.state, d.attempts, d.last_status), (State::Dead, 1, None));
    assert!(d.last_error.as_deref().unwrap().contains("E_SENDER_NOT_VERIFIED"), "{:?}", d.last_error);
    // A limit passes: retried at the schedule's next step.
    let m = memory();
    m.answer_with(|_| Ok(Reply { status: 429, body: "E_RATE_LIMIT_EXCEEDED".into(), ..Reply::default() }));
    sign_up(&m, &config, "cy@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let d = m.outbox().values().next().cloned().unwrap();
    assert_eq!((d.state, d.attempts), (State::Pending, 1));
    assert!(d.last_error.as_deref().unwrap().starts_with("E_RATE_LIMIT_EXCEEDED"), "{:?}", d.last_error);
}

#[test]
fn an_http_provider_refusing_for_good_leaves_the_mail_dead_at_once() {
    let config = mailing("postmark");
    let m = memory();
    m.secrets.borrow_mut().insert("MAIL_API_KEY".into(), "pm_test".into());
    m.answer_with(|_| Ok(Reply { status: 422, ..Reply::default() }));
    sign_up(&m, &config, "ada@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let d = m.outbox().values().next().cloned().unwrap();
    assert_eq!((d.state, d.attempts, d.last_status), (State::Dead, 1, Some(422)));
    assert_eq!(m.sent.borrow()[0].url, "https://api.postmarkapp.com/email");
}
