//! Speed to lead, natively over the memory backend: the owner's mail with their link when a lead becomes
//! theirs, the response-time check due exactly at the lead's due time (the ledger's alarm), escalation to
//! the next owner present with the fallback told, and what an owner's link may and may not do.

use crate::fixtures::{memory, NOW};
use edge::platform::memory::Memory;
use edge::protocol::backend::{ask, Backend};
use edge::protocol::ledger::cmd;
use edge::protocol::outbox::State;
use edge::services::delivery::run_due;
use edge::services::sales::{self, Acted, Action};
use futures::executor::block_on;
use shared::form::FormsConfig;

const MINUTE: u64 = 60_000;

/// Three owners (ben away until 2030), a round-robin form answering within 15 minutes, lea as fallback.
fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "mail": {"url": "https://mail.example/send", "from": "Leads <leads@example.com>"},
        "owners": [
            {"id": "anna", "name": "Anna", "email": "anna@example.com"},
            {"id": "ben", "name": "Ben", "email": "ben@example.com", "away_until": "2030-01-01"},
            {"id": "cem", "name": "Cem", "email": "cem@example.com", "lang": "en"},
            {"id": "lea", "name": "Lea", "email": "lea@example.com"}
        ],
        "forms": [{"id": "demo", "kind": "newsletter", "title": {"de": "Demo anfragen"}, "fields": [{"name": "email", "required": true}, {"name": "company"}],
                   "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}],
                   "assign": {"rule": "round_robin", "owners": ["anna", "ben", "cem"], "respond_within_minutes": 15, "fallback": "lea"}}]
    }))
    .expect("a config")
}

fn ready() -> Memory {
    let m = memory();
    for (k, v) in [("SIGNING_SECRET", "s3cret"), ("LEADGATE_ORIGIN", "https://c.example"), ("MAIL_API_KEY", "k")] {
        m.secrets.borrow_mut().insert(k.into(), v.into());
    }
    m
}

fn submit(m: &Memory, config: &FormsConfig, email: &str) -> String {
    let sub =
        serde_json::from_value(serde_json::json!({"form": "demo", "fields": {"email": email, "company": "Muster AG"}, "meta": {"elapsed_ms": 9000}})).unwrap();
    let taken = block_on(edge::services::submission::take(m, &crate::fixtures::intake(config, "demo"), sub)).expect("stored");
    taken.body["id"].as_str().unwrap().to_owned()
}

/// The mails sent so far, as (to, subject, text).
fn mails(m: &Memory) -> Vec<(String, String, String)> {
    m.sent
        .borrow()
        .iter()
        .filter(|o| o.url == "https://mail.example/send")
        .map(|o| {
            let v: serde_json::Value = serde_json::from_str(o.body.as_deref().unwrap()).unwrap();
            (v["to"].as_str().unwrap().into(), v["subject"].as_str().unwrap().into(), v["text"].as_str().unwrap().into())
        })
        .collect()
}

fn lead(m: &Memory, id: &str) -> shared::lead::Lead {
    m.leads.borrow().get(id).cloned().expect("the lead")
}

/// The owner id a work link in `text` names, read back through the token rules.
fn work_token(text: &str) -> String {
    let at = text.find("https://c.example/v1/work/").expect("a work link") + "https://c.example/v1/work/".len();
    text[at..].split(['\n', '?']).next().unwrap().to_owned()
}

#[test]
fn the_owner_is_mailed_at_once_and_an_untouched_lead_escalates_exactly_at_its_due_time() {
    let (m, config) = (ready(), config());
    let id = submit(&m, &config, "erika@muster.de");
    let stored = lead(&m, &id);
    assert_eq!(stored.owner.as_deref(), Some("anna"));
    let sla = stored.sla.clone().expect("an agreement runs");
    assert_eq!(shared::time::parse(&sla.due), Some(NOW + 15 * MINUTE));
    assert_eq!(m.alarm(), Some(NOW), "the owner's mail and the created event are due at once");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let sent = mails(&m);
    assert_eq!(sent.len(), 1);
    let (to, subject, text) = &sent[0];
    assert_eq!((to.as_str(), subject.as_str()), ("anna@example.com", "Neuer Lead für Sie: erika@muster.de (Demo anfragen)"));
    assert!(text.contains("company: Muster AG") && text.contains("Score:") && text.contains("Erster Kontakt fällig"), "{text}");
    let token = work_token(text);
    let link = edge::rules::token::open(b"s3cret", edge::rules::token::Purpose::Work, &token, NOW).expect("a genuine link");
    assert_eq!((link.lead.as_str(), link.change.as_deref()), (id.as_str(), Some("anna")), "the link names the lead and its owner");

    // The check waits for the due time: the alarm is set for exactly then.
    assert_eq!(m.alarm(), Some(NOW + 15 * MINUTE));
    m.advance(15 * MINUTE - 1);
    assert!(!m.fire_alarm(), "not a millisecond early");
    m.advance(1);
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let after = lead(&m, &id);
    assert_eq!(after.owner.as_deref(), Some("cem"), "ben is away: the next one present takes it");
    let last = after.assignments.last().unwrap();
    assert_eq!((last.by.as_str(), last.from.as_deref()), ("sla", Some("anna")));
    assert_eq!(after.sla.as_ref().map(|s| s.owner.as_str()), Some("cem"), "a new agreement for cem");
    let cems = m.outbox().into_values().find(|d| d.endpoint == sales::SLA_ENDPOINT && d.state == State::Pending).expect("cem's check");
    assert_eq!(cems.next_at_ms, NOW + 30 * MINUTE, "due at cem's own due time, not at once");
    assert!(m.outbox().values().any(|d| d.event == "lead.sla_breached" && d.endpoint == "crm"), "announced");
    // Both mails go at once: cem's (in English) and lea's as the fallback.
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let sent = mails(&m);
    let to: Vec<&str> = sent.iter().map(|(to, _, _)| to.as_str()).collect();
    assert!(to.contains(&"cem@example.com") && to.contains(&"lea@example.com"), "{to:?}");
    let cem = sent.iter().find(|(to, _, _)| to == "cem@example.com").unwrap();
    assert!(cem.1.starts_with("A new lead for you"), "{}", cem.1);
    let lea = sent.iter().find(|(to, _, _)| to == "lea@example.com").unwrap();
    assert!(lea.1.starts_with("Nicht rechtzeitig bearbeitet"), "{}", lea.1);
    assert_eq!(lead(&m, &id).owner.as_deref(), Some("cem"), "cem's agreement runs until its own due time");
    assert_eq!(m.alarm(), Some(NOW + 30 * MINUTE));
}

#[test]
fn a_first_touch_stops_the_check_and_only_the_owner_or_the_fallback_may_act() {
    let (m, config) = (ready(), config());
    let id = submit(&m, &config, "ada@example.com");
    assert_eq!(block_on(sales::act(&m, &config, &id, "cem", &Action::Contacted, "mail")).unwrap().unwrap().1, Acted::NotYours);
    assert_eq!(lead(&m, &id).first_touch, None, "a stranger's press changes nothing");
    m.advance(3 * MINUTE);
    let (touched, acted) = block_on(sales::act(&m, &config, &id, "anna", &Action::Contacted, "mail")).unwrap().unwrap();
    assert_eq!(acted, Acted::Touched(true));
    let touch = touched.first_touch.unwrap();
    assert_eq!((touch.by.as_str(), touch.via.as_str(), shared::time::parse(&touch.at)), ("anna", "mail", Some(NOW + 3 * MINUTE)));
    assert_eq!(block_on(sales::act(&m, &config, &id, "anna", &Action::Contacted, "mail")).unwrap().unwrap().1, Acted::Touched(false), "the first stays first");
    m.advance(12 * MINUTE);
    while m.fire_alarm() {
        block_on(run_due(&m, &config)).unwrap();
    }
    let after = lead(&m, &id);
    assert_eq!((after.owner.as_deref(), after.sla.unwrap().breached), (Some("anna"), None), "touched in time: nothing escalates");
    assert!(m.outbox().values().all(|d| d.state == State::Delivered));
}

#[test]
fn not_mine_passes_the_lead_on_and_disqualify_needs_a_reason() {
    let (m, config) = (ready(), config());
    let id = submit(&m, &config, "bo@example.com");
    let (passed, acted) = block_on(sales::act(&m, &config, &id, "anna", &Action::NotMine, "mail")).unwrap().unwrap();
    assert_eq!(acted, Acted::Passed(Some("cem".into())));
    assert_eq!(passed.assignments.last().map(|a| (a.by.as_str(), a.reason.as_str())), Some(("owner:anna", "not mine")));
    assert_eq!(block_on(sales::act(&m, &config, &id, "anna", &Action::NotMine, "mail")).unwrap().unwrap().1, Acted::NotYours, "no longer anna's");
    assert!(block_on(sales::act(&m, &config, &id, "cem", &Action::Disqualify("  ".into()), "mail")).is_err(), "no reason, no disqualification");
    let (out, acted) = block_on(sales::act(&m, &config, &id, "lea", &Action::Disqualify("a student".into()), "mail")).unwrap().unwrap();
    assert_eq!((acted, out.stage), (Acted::Disqualified, shared::stage::Stage::Disqualified), "the fallback may act too");
    assert_eq!(out.history.last().map(|c| c.by.as_str()), Some("owner:lea"));
}

#[test]
fn without_the_public_address_no_owner_mail_goes_out_but_the_agreement_still_runs() {
    let (m, config) = (memory(), config());
    m.secrets.borrow_mut().insert("SIGNING_SECRET".into(), "s3cret".into());
    let id = submit(&m, &config, "cy@example.com");
    assert!(lead(&m, &id).sla.is_some());
    assert!(!m.outbox().values().any(|d| d.event == "mail.owner"), "no link without LEADGATE_ORIGIN");
}

#[test]
fn agreements_that_cannot_work_are_config_problems() {
    let mut config = config();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let assign = config.forms[0].assign.as_mut().unwrap();
    assign.hours = Some(serde_json::from_value(serde_json::json!({"zone": "Mars/Olympus"})).unwrap());
    assign.fallback = Some("nobody".into());
    config.owners[0].away_until = Some("soon".into());
    let paths: Vec<String> = config.problems().into_iter().map(|(path, _)| path).collect();
    assert!(paths.iter().any(|p| p.ends_with(".assign.hours")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with(".assign")), "an unknown fallback: {paths:?}");
    assert!(paths.iter().any(|p| p.ends_with(".away_until")), "{paths:?}");
}

#[test]
fn a_call_logged_in_the_crm_is_the_first_touch_and_stops_the_check() {
    use edge::rules::feedback::{Ask, LeadRef};
    let (m, config) = (ready(), config());
    let hub: shared::form::Feedback = serde_json::from_value(serde_json::json!({"id": "crm", "source": "standard", "secret": "S"})).unwrap();
    let id = submit(&m, &config, "dora@example.com");
    m.advance(4 * MINUTE);
    let call = Ask { lead: LeadRef::Email("dora@example.com".into()), stage: None, reason: "call".into(), withdrawn: None, touched: Some("call".into()) };
    let done = block_on(edge::services::qualification::feedback(&m, &config, &hub, vec![call.clone()])).unwrap();
    assert_eq!(done.applied, 1);
    let touch = lead(&m, &id).first_touch.unwrap();
    assert_eq!((touch.by.as_str(), touch.via.as_str(), touch.what.as_deref()), ("crm", "crm", Some("call")));
    assert_eq!(shared::time::parse(&touch.at), Some(NOW + 4 * MINUTE));
    assert_eq!(block_on(edge::services::qualification::feedback(&m, &config, &hub, vec![call])).unwrap().unchanged, 1, "the first stays first");
    m.advance(11 * MINUTE);
    while m.fire_alarm() {
        block_on(run_due(&m, &config)).unwrap();
    }
    assert_eq!(lead(&m, &id).owner.as_deref(), Some("anna"), "touched in the CRM: no escalation");
}

#[test]
fn an_owner_gets_one_sign_in_link_per_window_strangers_none_and_sees_their_leads_most_urgent_first() {
    let (m, config) = (ready(), config());
    let first = submit(&m, &config, "first@example.com");
    m.advance(MINUTE);
    let second = submit(&m, &config, "second@example.com"); // cem's (ben is away)
    m.advance(MINUTE);
    submit(&m, &config, "third@example.com"); // cem's turn
    let fourth = submit(&m, &config, "fourth@example.com"); // anna's again
    assert_eq!(block_on(sales::act(&m, &config, &fourth, "anna", &Action::Contacted, "mail")).unwrap().unwrap().1, Acted::Touched(true));
    let before = m.sent.borrow().len();
    // The window's counter cannot be taken: no link goes out, and the window is not used up.
    m.fail(edge::platform::memory::Op::LedgerOther, 1);
    assert!(block_on(sales::sign_in(&m, &config, "anna@example.com")).is_err());
    assert_eq!(m.sent.borrow().len(), before, "no mail without the counter");
    assert!(m.counters().iter().all(|c| !c.starts_with("signin:")), "nothing counted");
    assert!(block_on(sales::sign_in(&m, &config, " ANNA@example.com ")).unwrap(), "the address on file, in any case");
    assert!(!block_on(sales::sign_in(&m, &config, "anna@example.com")).unwrap(), "once per window");
    assert!(!block_on(sales::sign_in(&m, &config, "mallory@example.com")).unwrap(), "a stranger's address gets nothing");
    let sent = m.sent.borrow()[before..].to_vec();
    assert_eq!(sent.len(), 1);
    let body: serde_json::Value = serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["to"], "anna@example.com");
    assert!(body["text"].as_str().unwrap().contains("https://c.example/v1/mine/"));
    m.advance(sales::SIGN_IN_WINDOW_MS);
    assert!(block_on(sales::sign_in(&m, &config, "anna@example.com")).unwrap(), "again in the next window");
    // Each window's counter lives until the window is over: the watchdog then drops it, and the round-robin
    // counter stays.
    let windows = |m: &Memory| m.counters().into_iter().filter(|c| c.starts_with("signin:anna:")).count();
    assert_eq!(windows(&m), 2);
    block_on(ask(&m, cmd::Wake { now: m.now_ms() })).unwrap();
    assert_eq!(windows(&m), 1, "the past window's counter is dropped, the running one's kept");
    assert!(!block_on(sales::sign_in(&m, &config, "anna@example.com")).unwrap(), "still once per window");
    m.advance(sales::SIGN_IN_WINDOW_MS);
    block_on(ask(&m, cmd::Wake { now: m.now_ms() })).unwrap();
    assert_eq!(windows(&m), 0);
    assert!(m.counters().iter().any(|c| c.starts_with("assign:")), "a form's round-robin is kept for good");
    // Anna's leads: the one whose agreement runs first, the touched (newer) one after; cem's are not there.
    let mine: Vec<String> = block_on(sales::mine(&m, "anna")).unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(mine, vec![first.clone(), fourth.clone()]);
    assert!(!mine.contains(&second));
}

#[test]
fn a_write_that_fails_leaves_the_lead_and_the_outbox_as_they_were_and_the_check_is_retried() {
    use edge::platform::memory::Op;
    let (m, config) = (ready(), config());
    let id = submit(&m, &config, "eve@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let before = lead(&m, &id);
    // The escalation's write of the lead fails: nothing changed, nothing announced, the check waits.
    m.advance(15 * MINUTE);
    m.fail(Op::PutLead, 1);
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    assert_eq!(lead(&m, &id), before, "still anna's, agreement not marked broken");
    assert!(!m.outbox().values().any(|d| d.event == "lead.sla_breached" || d.event == "lead.assigned"), "nothing announced");
    let check = m.outbox().into_values().find(|d| d.endpoint == sales::SLA_ENDPOINT).unwrap();
    assert_eq!((check.state, check.attempts), (State::Pending, 1), "the check is retried");
    // Its retry escalates.
    m.advance(10_000);
    while m.fire_alarm() {
        block_on(run_due(&m, &config)).unwrap();
        if lead(&m, &id).owner.as_deref() == Some("cem") {
            break;
        }
    }
    assert_eq!(lead(&m, &id).owner.as_deref(), Some("cem"));

    // "Not mine" and a CRM's touch whose writes fail change nothing either.
    let other = submit(&m, &config, "finn@example.com");
    let owner = lead(&m, &other).owner.clone().unwrap();
    let before = lead(&m, &other);
    let queued = m.outbox().len();
    m.fail(Op::PutLead, 1);
    assert!(block_on(sales::act(&m, &config, &other, &owner, &Action::NotMine, "mail")).is_err());
    assert_eq!((lead(&m, &other), m.outbox().len()), (before.clone(), queued), "no owner change, no mail, no check queued");
    m.fail(Op::PutLead, 1);
    assert!(block_on(sales::touch(&m, &other, "crm", "call")).is_err());
    assert_eq!(lead(&m, &other), before, "no touch recorded");
    assert_eq!(block_on(sales::touch(&m, &other, "crm", "call")).unwrap(), Some(true), "the retry records it");
}

/// The speed-to-lead numbers over leads whose assignments, agreements and touches are set by hand.
mod numbers {
    use edge::rules::speed::{report, By};
    use shared::form::FormsConfig;
    use shared::lead::Lead;
    use shared::owner::{Assigned, Sla, Touch};
    use shared::time::rfc3339;

    const T0: u64 = 1_790_000_000_000;
    const MIN: u64 = 60_000;

    fn lead(owner: &str, touched_after: Option<u64>, due_after: u64, escalated_from: Option<&str>) -> Lead {
        let mut l = crate::fixtures::lead(0, "demo", shared::form::FormKind::Newsletter);
        l.created_at = rfc3339(T0);
        l.owner = Some(owner.into());
        l.assignments.push(Assigned { from: None, to: escalated_from.unwrap_or(owner).into(), at: rfc3339(T0), by: "rule".into(), reason: "r".into() });
        if let Some(from) = escalated_from {
            l.assignments.push(Assigned { from: Some(from.into()), to: owner.into(), at: rfc3339(T0 + due_after), by: "sla".into(), reason: "r".into() });
        }
        l.sla = Some(Sla { owner: owner.into(), since: rfc3339(T0), due: rfc3339(T0 + due_after), breached: None });
        l.first_touch = touched_after.map(|m| Touch { at: rfc3339(T0 + m), by: owner.into(), via: "mail".into(), what: None });
        l
    }

    fn config() -> FormsConfig {
        serde_json::from_value(serde_json::json!({"forms": [{"id": "demo", "kind": "newsletter", "fields": [{"name": "email", "required": true}]}]})).unwrap()
    }

    #[test]
    fn medians_percentiles_kept_agreements_and_breaches_per_owner() {
        let leads = [
            lead("anna", Some(2 * MIN), 15 * MIN, None),
            lead("anna", Some(4 * MIN), 15 * MIN, None),
            lead("anna", Some(20 * MIN), 15 * MIN, None),
            lead("anna", None, 15 * MIN, None),
            lead("cem", Some(30 * MIN), 15 * MIN, Some("ben")),
        ];
        let lines = report(&config(), &leads, By::Owner, T0 + 60 * MIN);
        let anna = lines.iter().find(|l| l.key == "anna").unwrap();
        assert_eq!((anna.leads, anna.touched, anna.agreed, anna.running, anna.breaches), (4, 3, 3, 1, 0));
        assert_eq!((anna.median_minutes, anna.p90_minutes), (Some(4.0), Some(20.0)));
        assert_eq!(anna.within_share, Some(0.667), "two of three kept");
        let ben = lines.iter().find(|l| l.key == "ben").unwrap();
        assert_eq!((ben.leads, ben.breaches), (0, 1), "the breach is ben's, who let it pass");
        let cem = lines.iter().find(|l| l.key == "cem").unwrap();
        assert_eq!((cem.touched, cem.within_share), (1, Some(0.0)), "an escalated lead is no kept agreement");
        let forms = report(&config(), &leads, By::Form, T0);
        assert_eq!((forms[0].key.as_str(), forms[0].leads, forms[0].breaches), ("demo", 5, 1));
        assert_eq!(report(&config(), &leads, By::Source, T0)[0].key, "direct");
    }
}
