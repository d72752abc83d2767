//! Qualification over the memory backend: the first stage from the form's lead definition, behaviour events
//! that take a lead to MQL, people and CRMs moving it with a reason, every move announced and in the
//! lead's history, and lists filtered by stage, score and cooling in the ledger's index.

use edge::platform::memory::{Memory, Op};
use edge::protocol::ledger::Qualified;
use edge::services::listing::{page, Filter};
use edge::services::qualification::{move_stage, record_event};
use edge::services::submission::take;
use edge::Error;
use futures::executor::block_on;
use shared::form::FormsConfig;
use shared::stage::{Mover, Stage};
use shared::Code;

use crate::fixtures::NOW;
const DAY: u64 = 86_400_000;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "text": {"en": "Send me the newsletter."}}, {"id": "partner_offers", "text": {"en": "And partner offers."}}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "ebook", "kind": "download_gate", "mode": "b2b", "asset": {"key": "e.pdf", "filename": "e.pdf"},
             "fields": [{"name": "email", "required": true}, {"name": "company"}, {"name": "decision_maker"}, {"name": "job_title"}],
             "lead_definition": {"because": "Das ist ein Lead, weil er für eine Firma liest.", "requires": ["company"]},
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}
        ]
    }))
    .unwrap()
}

fn submit(m: &Memory, config: &FormsConfig, form: &str, fields: serde_json::Value) -> String {
    let intake = crate::fixtures::intake(config, form);
    let consent: Vec<&str> = config.form(form).unwrap().consents.iter().map(|c| c.id.as_str()).collect();
    let sub = serde_json::from_value(serde_json::json!({"form": form, "fields": fields, "consent": consent, "meta": {"elapsed_ms": 9000}})).unwrap();
    block_on(take(m, &intake, sub)).unwrap().body["id"].as_str().unwrap().to_owned()
}

#[test]
fn the_first_stage_follows_the_forms_lead_definition_and_a_strong_fit_is_an_mql_at_once() {
    let (m, config) = (Memory::at(NOW), config());
    let sub = submit(&m, &config, "news", serde_json::json!({"email": "s@example.com", "company": "ACME"}));
    let reader = submit(&m, &config, "ebook", serde_json::json!({"email": "r@example.com"}));
    let lead = submit(&m, &config, "ebook", serde_json::json!({"email": "l@example.com", "company": "ACME"}));
    let boss = submit(&m, &config, "ebook", serde_json::json!({"email": "b@example.com", "company": "ACME", "decision_maker": "true", "job_title": "CEO"}));
    let leads = m.leads.borrow();
    assert_eq!(leads[&sub].stage, Stage::Subscriber, "a newsletter sign-up is a subscriber by default");
    assert_eq!(leads[&reader].stage, Stage::Subscriber);
    assert_eq!(leads[&reader].history[0].reason, "not a lead: company is missing");
    assert_eq!(leads[&lead].stage, Stage::Lead);
    assert_eq!(leads[&lead].history[0].reason, "Das ist ein Lead, weil er für eine Firma liest.");
    let b = &leads[&boss];
    assert_eq!(b.stage, Stage::Mql, "fit 30 reaches the threshold at once");
    let moves: Vec<(Option<Stage>, Stage, &str)> = b.history.iter().map(|c| (c.from, c.to, c.by.as_str())).collect();
    assert_eq!(moves, vec![(None, Stage::Lead, "rule"), (Some(Stage::Lead), Stage::Mql, "rule")]);
    assert_eq!(b.history[1].reason, "score 30 reached the MQL threshold 30");
}

#[test]
fn behaviour_events_take_a_lead_to_mql_which_is_announced_once() {
    let (m, config) = (Memory::at(NOW), config());
    let id = submit(&m, &config, "ebook", serde_json::json!({"email": "e@example.com", "company": "ACME"}));
    assert!(
        matches!(block_on(record_event(&m, &config, None, &id, "lottery_win", None)), Err(Error::Validation(e)) if e.iter().any(|(f, c)| f == "type" && *c == Code::InvalidChoice))
    );
    let click = block_on(record_event(&m, &config, None, &id, "email_click", None)).unwrap().unwrap();
    assert_eq!((click.lead.stage, click.lead.score.total, click.change.is_none()), (Stage::Lead, 15, true));
    assert!(m.queued("lead.stage_changed").is_empty());
    let meeting = block_on(record_event(&m, &config, None, &id, "meeting_booked", None)).unwrap().unwrap();
    assert_eq!(meeting.lead.stage, Stage::Mql);
    let change = meeting.change.unwrap();
    assert_eq!((change.from, change.to, change.by.as_str()), (Some(Stage::Lead), Stage::Mql, "rule"));
    let announced = m.queued("lead.stage_changed");
    assert_eq!(announced.len(), 1);
    let payload: serde_json::Value = serde_json::from_str(&announced[0].payload).unwrap();
    assert_eq!(payload["data"]["change"]["to"], "mql");
    assert_eq!(payload["data"]["stage"], "mql");
    assert!(payload["data"].get("events").is_none() && payload["data"]["event_count"] == 2, "events stay in the collector");
    // A later event on an MQL moves nothing and announces nothing.
    block_on(record_event(&m, &config, None, &id, "email_click", None)).unwrap();
    assert_eq!(m.queued("lead.stage_changed").len(), 1);
    assert_eq!(block_on(record_event(&m, &config, None, "ld_00000000000000000000000000", "email_click", None)).unwrap().map(|o| o.lead.id), None);
}

#[test]
fn an_integrations_key_records_only_its_event_types_on_its_forms_leads() {
    let (m, config) = (Memory::at(NOW), config());
    let ebook = submit(&m, &config, "ebook", serde_json::json!({"email": "e@example.com", "company": "ACME"}));
    let news = submit(&m, &config, "news", serde_json::json!({"email": "n@example.com"}));
    let mailer: shared::config::Integration =
        serde_json::from_value(serde_json::json!({"id": "mailer", "key": "MAILER_KEY", "forms": ["ebook"], "events": ["email_click"]})).unwrap();
    let before = m.leads.borrow().clone();
    assert!(matches!(block_on(record_event(&m, &config, Some(&mailer), &news, "email_click", None)), Err(Error::OutOfScope)), "another form's lead");
    assert!(matches!(block_on(record_event(&m, &config, Some(&mailer), &ebook, "meeting_booked", None)), Err(Error::OutOfScope)), "a type it may not claim");
    assert_eq!(*m.leads.borrow(), before, "nothing recorded beyond the scope");
    let click = block_on(record_event(&m, &config, Some(&mailer), &ebook, "email_click", None)).unwrap().unwrap();
    assert_eq!(click.lead.events.last().map(|e| e.kind.as_str()), Some("email_click"));
    assert_eq!(Error::OutOfScope.status(), 403);
}

#[test]
fn people_and_crms_move_a_lead_any_way_with_a_reason_and_a_repeated_move_changes_nothing() {
    let (m, config) = (Memory::at(NOW), config());
    let id = submit(&m, &config, "ebook", serde_json::json!({"email": "p@example.com", "company": "ACME"}));
    let no_reason = block_on(move_stage(&m, &config, &id, Stage::Sql, &Mover::Admin, " "));
    assert!(matches!(no_reason, Err(Error::Validation(e)) if e.iter().any(|(f, c)| f == "reason" && *c == Code::Required)));
    let sql = block_on(move_stage(&m, &config, &id, Stage::Sql, &Mover::Admin, "call on 30 Nov: budget 20k, decides in Q1")).unwrap().unwrap();
    assert_eq!(sql.lead.stage, Stage::Sql);
    let back = block_on(move_stage(&m, &config, &id, Stage::Lead, &Mover::Endpoint("hubspot"), "deal lost, back to nurturing")).unwrap().unwrap();
    assert_eq!(back.change.as_ref().map(|c| c.by.as_str()), Some("hubspot"));
    let again = block_on(move_stage(&m, &config, &id, Stage::Lead, &Mover::Endpoint("hubspot"), "deal lost, back to nurturing")).unwrap().unwrap();
    assert!(again.change.is_none(), "a replayed feedback call changes nothing");
    assert_eq!(m.queued("lead.stage_changed").len(), 2);
    let lead = &m.leads.borrow()[&id];
    assert_eq!(lead.history.iter().map(|c| c.to).collect::<Vec<_>>(), vec![Stage::Lead, Stage::Sql, Stage::Lead]);
}

#[test]
fn a_move_whose_write_fails_is_not_announced_and_can_be_retried() {
    let (m, config) = (Memory::at(NOW), config());
    let id = submit(&m, &config, "ebook", serde_json::json!({"email": "f@example.com", "company": "ACME"}));
    m.fail(Op::PutLead, 1);
    assert!(block_on(move_stage(&m, &config, &id, Stage::Opportunity, &Mover::Admin, "offer sent")).is_err());
    assert!(m.queued("lead.stage_changed").is_empty());
    assert_eq!(m.leads.borrow()[&id].stage, Stage::Lead);
    assert!(block_on(move_stage(&m, &config, &id, Stage::Opportunity, &Mover::Admin, "offer sent")).unwrap().unwrap().change.is_some());
    assert_eq!(m.queued("lead.stage_changed").len(), 1);
}

#[test]
fn lists_filter_by_stage_score_and_cooling_in_the_index() {
    let (m, config) = (Memory::at(NOW), config());
    let cold = submit(&m, &config, "ebook", serde_json::json!({"email": "c@example.com", "company": "ACME"}));
    block_on(record_event(&m, &config, None, &cold, "meeting_booked", None)).unwrap();
    m.advance(1_000);
    let warm = submit(&m, &config, "ebook", serde_json::json!({"email": "w@example.com", "company": "ACME", "decision_maker": "true", "job_title": "CEO"}));
    m.advance(1_000);
    let _plain = submit(&m, &config, "ebook", serde_json::json!({"email": "x@example.com", "company": "ACME"}));
    let list = |q: Qualified| {
        let filter = Filter { qualified: q, ..Filter::default() };
        block_on(page(&m, &filter, None, 50)).unwrap().0.into_iter().map(|l| l.id).collect::<Vec<_>>()
    };
    assert_eq!(list(Qualified { stage: Some("mql".into()), ..Qualified::default() }), vec![warm.clone(), cold.clone()]);
    assert_eq!(list(Qualified { min_score: Some(31), ..Qualified::default() }), vec![cold.clone()]);
    assert_eq!(list(Qualified { max_score: Some(10), ..Qualified::default() }).len(), 1);
    // The meeting's 25 points fade: fit 10 + behaviour falls under 30 after log2(25/20) half-lives (29 days),
    // and the lead cools 14 days later. The fit-only MQL never cools.
    assert!(list(Qualified { cooling_at: Some(NOW + 42 * DAY), ..Qualified::default() }).is_empty());
    assert_eq!(list(Qualified { cooling_at: Some(NOW + 44 * DAY), ..Qualified::default() }), vec![cold.clone()]);
    assert!(!m.leads.borrow()[&cold].is_cooling(NOW + 42 * DAY) && m.leads.borrow()[&cold].is_cooling(NOW + 44 * DAY));
}

fn with_feedback() -> (FormsConfig, shared::form::Feedback, shared::form::Feedback) {
    let config = config();
    let hub: shared::form::Feedback = serde_json::from_value(
        serde_json::json!({"id": "hubspot", "source": "hubspot", "secret": "HS_SECRET", "token": "HS_TOKEN", "api": "https://hub.example"}),
    )
    .unwrap();
    let only_news: shared::form::Feedback =
        serde_json::from_value(serde_json::json!({"id": "mailtool", "source": "standard", "secret": "MT", "forms": ["news"]})).unwrap();
    (config, hub, only_news)
}

#[test]
fn feedback_finds_leads_by_id_address_or_crm_contact_on_the_forms_it_covers() {
    use edge::rules::feedback::{Ask, LeadRef};
    use edge::services::qualification::{feedback, Applied};
    let (m, (config, hub, only_news)) = (Memory::at(NOW), with_feedback());
    m.secrets.borrow_mut().insert("HS_TOKEN".into(), "pat-token".into());
    let news = submit(&m, &config, "news", serde_json::json!({"email": "Ada@Example.com"}));
    let ebook = submit(&m, &config, "ebook", serde_json::json!({"email": "ada@example.com", "company": "ACME"}));
    m.answer_with(|out| {
        assert!(out.headers.iter().any(|(n, v)| *n == "Authorization" && v == "Bearer pat-token"));
        let body = match out.url.as_str() {
            "https://hub.example/crm/v3/objects/contacts/51?properties=email" => r#"{"properties":{"email":"ada@example.com"}}"#,
            _ => return Ok(edge::rules::crm::Reply { status: 404, ..Default::default() }),
        };
        Ok(edge::rules::crm::Reply { status: 200, retry_after: None, body: body.into() })
    });
    let sql = |lead| Ask { lead, stage: Some(Stage::Sql), reason: "HubSpot lifecycle stage set to salesqualifiedlead".into(), withdrawn: None, touched: None };
    // One HubSpot contact is the address's leads on every form.
    let done = block_on(feedback(&m, &config, &hub, vec![sql(LeadRef::HubspotContact(51)), sql(LeadRef::HubspotContact(52))])).unwrap();
    assert_eq!(done, Applied { applied: 2, unchanged: 0, unknown: 1 });
    assert!(m.leads.borrow().values().all(|l| l.stage == Stage::Sql && l.history.last().unwrap().by == "hubspot"));
    let again = block_on(feedback(&m, &config, &hub, vec![sql(LeadRef::HubspotContact(51))])).unwrap();
    assert_eq!(again, Applied { applied: 0, unchanged: 2, unknown: 0 });
    // An endpoint for one form reaches nothing on another; an unsubscribe withdraws the lead's consent.
    let unsub_of = |email: &str| Ask {
        lead: LeadRef::Email(email.into()),
        stage: None,
        reason: "unsubscribed".into(),
        withdrawn: Some("marketing_email".into()),
        touched: None,
    };
    assert_eq!(block_on(feedback(&m, &config, &only_news, vec![unsub_of("ada@example.com")])).unwrap(), Applied { applied: 1, unchanged: 0, unknown: 0 });
    let by_id = Ask { lead: LeadRef::Id(ebook.clone()), stage: Some(Stage::Customer), reason: "won".into(), withdrawn: None, touched: None };
    assert_eq!(block_on(feedback(&m, &config, &only_news, vec![by_id])).unwrap().unknown, 1);
    let leads = m.leads.borrow();
    let entry = |purpose: &str| leads[&news].consent.entries.iter().find(|e| e.purpose == purpose).unwrap().clone();
    assert_eq!(entry("marketing_email").withdrawn.map(|w| w.via), Some("mailtool".into()), "the unsubscribe withdraws its purpose");
    assert!(entry("partner_offers").withdrawn.is_none() && leads[&news].grants("partner_offers"), "and only that one");
    assert!(leads[&news].consent.withdrawn.is_none());
    assert!(leads[&ebook].consent.withdrawn.is_none());
    drop(leads);
    let announced = m.outbox().into_values().find(|d| d.event == "lead.consent_withdrawn" && d.lead_id == news).unwrap();
    let payload: serde_json::Value = serde_json::from_str(&announced.payload).unwrap();
    assert_eq!(payload["data"]["withdrawal"], serde_json::json!({"purposes": ["marketing_email"], "via": "mailtool"}));
    // A purpose no covered form offers changes nothing, for any lead of the call; "all" withdraws the rest.
    let before = m.leads.borrow().clone();
    let typo = Ask { withdrawn: Some("marketing_mail".into()), ..unsub_of("ada@example.com") };
    let calls = vec![unsub_of("ada@example.com"), typo];
    assert!(
        matches!(block_on(feedback(&m, &config, &only_news, calls)), Err(Error::Validation(e)) if e == vec![("consent_withdrawn".to_string(), Code::UnknownPurpose)])
    );
    assert_eq!(*m.leads.borrow(), before, "nothing was applied");
    let all = Ask { withdrawn: Some("all".into()), ..unsub_of("ada@example.com") };
    assert_eq!(block_on(feedback(&m, &config, &only_news, vec![all])).unwrap(), Applied { applied: 1, unchanged: 0, unknown: 0 });
    assert!(!m.leads.borrow()[&news].grants_anything());
    // A CRM whose API fails is a 502 for the caller to retry, never a silent skip.
    m.answer_with(|_| Ok(edge::rules::crm::Reply { status: 503, ..Default::default() }));
    assert!(matches!(block_on(feedback(&m, &config, &hub, vec![sql(LeadRef::HubspotContact(51))])), Err(Error::Upstream(_))));
}

fn with_owners(at: &str) -> FormsConfig {
    let mut config = config();
    let extra: FormsConfig = serde_json::from_value(serde_json::json!({
        "owners": [{"id": "anna", "name": "Anna"}, {"id": "ben", "name": "Ben", "email": "ben@example.com"}, {"id": "cem", "name": "Cem"}],
        "forms": [{"id": "x", "kind": "newsletter", "fields": [{"name": "email", "required": true}]}]
    }))
    .unwrap();
    config.owners = extra.owners;
    for form in &mut config.forms {
        form.assign = Some(serde_json::from_value(serde_json::json!({"rule": "round_robin", "at": at})).unwrap());
    }
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    config
}

#[test]
fn leads_racing_in_get_owners_in_turns_and_a_person_can_reassign() {
    let (m, config) = (Memory::at(NOW), with_owners("creation"));
    let intake = crate::fixtures::intake(&config, "ebook");
    let subs: Vec<shared::wire::Submission> = (0..6)
        .map(|i| {
            serde_json::from_value(
                serde_json::json!({"form": "ebook", "fields": {"email": format!("o{i}@example.com"), "company": "ACME"}, "meta": {"elapsed_ms": 9000}}),
            )
            .unwrap()
        })
        .collect();
    let taken = block_on(futures::future::join_all(subs.into_iter().map(|s| take(&m, &intake, s))));
    assert!(taken.iter().all(Result::is_ok));
    let mut counts = std::collections::BTreeMap::new();
    for lead in m.leads.borrow().values() {
        *counts.entry(lead.owner.clone().unwrap()).or_insert(0) += 1;
        assert_eq!(lead.assignments[0].by, "rule");
        // The owner is in what goes out about the lead.
        let created = m.queued("lead.created").into_iter().find(|d| d.lead_id == lead.id).unwrap();
        assert!(created.payload.contains(&format!("\"owner\":\"{}\"", lead.owner.as_deref().unwrap())));
    }
    assert_eq!(counts, [("anna".to_string(), 2), ("ben".to_string(), 2), ("cem".to_string(), 2)].into());
    let id = m.leads.borrow().keys().next().unwrap().clone();
    let before = m.leads.borrow()[&id].owner.clone().unwrap();
    let to = if before == "ben" { "cem" } else { "ben" };
    assert!(matches!(block_on(edge::services::qualification::reassign(&m, &config, &id, "zoe", "")), Err(Error::Validation(_))));
    let (lead, record) = block_on(edge::services::qualification::reassign(&m, &config, &id, to, "Ben covers Bavaria")).unwrap().unwrap();
    assert_eq!((lead.owner.as_deref(), record.unwrap().from), (Some(to), Some(before)));
    assert_eq!(m.queued("lead.assigned").len(), 1, "the reassignment is announced (assignments at creation ride on lead.created)");
    let filter = Filter { qualified: Qualified { owner: Some(to.into()), ..Qualified::default() }, ..Filter::default() };
    assert_eq!(block_on(page(&m, &filter, None, 50)).unwrap().0.len(), 3);
}

#[test]
fn a_form_that_assigns_at_mql_gives_the_owner_when_the_score_gets_there() {
    let (m, config) = (Memory::at(NOW), with_owners("mql"));
    let id = submit(&m, &config, "ebook", serde_json::json!({"email": "q@example.com", "company": "ACME"}));
    assert_eq!(m.leads.borrow()[&id].owner, None, "a lead waits for its owner until it is an MQL");
    block_on(record_event(&m, &config, None, &id, "meeting_booked", None)).unwrap();
    let lead = m.leads.borrow()[&id].clone();
    assert_eq!((lead.stage, lead.owner.as_deref()), (Stage::Mql, Some("anna")));
    let changed = m.queued("lead.stage_changed");
    assert!(changed[0].payload.contains("\"owner\":\"anna\""), "the move's announcement names the new owner");
    let assigned: serde_json::Value = serde_json::from_str(&m.queued("lead.assigned")[0].payload).unwrap();
    assert_eq!(assigned["data"]["owner_card"]["name"], "Anna");
    assert_eq!(assigned["data"]["owner"], "anna");
    assert_eq!(assigned["data"]["assignment"]["reason"], "round-robin, turn 1");
}

#[test]
fn an_event_or_an_assignment_whose_write_fails_changes_and_announces_nothing() {
    let (m, config) = (Memory::at(NOW), with_owners("creation"));
    let id = submit(&m, &config, "ebook", serde_json::json!({"email": "w@example.com", "company": "ACME"}));
    let before = m.leads.borrow()[&id].clone();
    m.fail(Op::PutLead, 1);
    assert!(block_on(record_event(&m, &config, None, &id, "meeting_booked", None)).is_err());
    assert_eq!(m.leads.borrow()[&id], before, "the lead is as it was");
    assert!(m.queued("lead.stage_changed").is_empty(), "the MQL move is not announced");
    let moved = block_on(record_event(&m, &config, None, &id, "meeting_booked", None)).unwrap().unwrap();
    assert_eq!(moved.lead.stage, Stage::Mql, "the retry works");
    let owner = m.leads.borrow()[&id].owner.clone().unwrap();
    let other = if owner == "ben" { "cem" } else { "ben" };
    m.fail(Op::PutLead, 1);
    assert!(block_on(edge::services::qualification::reassign(&m, &config, &id, other, "")).is_err());
    assert_eq!(m.leads.borrow()[&id].owner.as_deref(), Some(owner.as_str()));
    assert!(m.queued("lead.assigned").is_empty());
    // A round-robin turn that cannot be taken (the turn is the submission's first other ledger command)
    // stores nothing.
    m.fail(Op::LedgerOther, 1);
    let intake = crate::fixtures::intake(&config, "ebook");
    let sub =
        serde_json::from_value(serde_json::json!({"form": "ebook", "fields": {"email": "t@example.com", "company": "ACME"}, "meta": {"elapsed_ms": 9000}}))
            .unwrap();
    let leads = m.leads.borrow().len();
    assert!(block_on(take(&m, &intake, sub)).is_err());
    assert_eq!(m.leads.borrow().len(), leads, "nothing half-stored");
    assert_eq!(m.ledger_row("ebook", &edge::rules::intake::email_hash("t@example.com")), None, "the claim is released");
}
