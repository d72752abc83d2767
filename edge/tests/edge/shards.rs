//! The ledger split into objects (see `shard`), natively over the memory backend, which keeps each object's
//! rows and alarm apart: a form's addresses spread over its shards with one lead per address under racing
//! submissions, lists and funnels join the shards' answers, a giveaway draws over all its shards, an
//! erasure by id reaches every object that holds the lead's rows, round-robin turns stay unique, the shard
//! count a form was first used with stays, and a collector of the single-object layout keeps its forms.

use crate::fixtures::{memory, NOW};
use edge::platform::memory::{Memory, Op};
use edge::protocol::backend::{ask, Backend};
use edge::protocol::funnel::By;
use edge::protocol::ledger::{cmd, Page, Qualified};
use edge::protocol::shard::{tag, Home};
use edge::services::submission::take;
use futures::executor::block_on;
use futures::future::join_all;
use shared::form::FormsConfig;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "owners": [{"id": "anna", "name": "Anna"}, {"id": "ben", "name": "Ben"}, {"id": "cem", "name": "Cem"}],
        "forms": [
            {"id": "camp", "kind": "newsletter", "shards": 4, "fields": [{"name": "email", "required": true}],
             "assign": {"rule": "round_robin", "at": "creation"},
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "win", "kind": "giveaway", "shards": 4, "fields": [{"name": "email", "required": true}],
             "giveaway": {"starts_at": "2026-01-01", "ends_at": "2030-12-31", "rules_url": "/rules"},
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}]}
        ]
    }))
    .unwrap()
}

/// A memory backend with the config's shard counts.
fn sharded(config: &FormsConfig) -> Memory {
    let m = memory();
    for form in &config.forms {
        m.shards.borrow_mut().insert(form.id.clone(), form.shards);
    }
    m
}

fn submit(m: &Memory, config: &FormsConfig, form: &str, email: &str) -> Result<String, edge::Error> {
    let sub = serde_json::from_value(serde_json::json!({"form": form, "fields": {"email": email}, "meta": {"elapsed_ms": 9000}})).unwrap();
    let taken = block_on(take(m, &crate::fixtures::intake(config, form), sub))?;
    Ok(taken.body["id"].as_str().unwrap().to_owned())
}

/// Every lead id of `form` through the admin list, `limit` a page.
fn listed(m: &Memory, form: Option<&str>, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let list = cmd::List { form: form.map(str::to_owned), status: None, since: None, qualified: Qualified::default(), before, limit };
        let page: Page = block_on(ask(m, list)).unwrap();
        ids.extend(page.ids);
        match page.cursor {
            Some(c) => before = Some(c),
            None => return ids,
        }
    }
}

#[test]
fn addresses_spread_over_four_shards_with_one_lead_each_under_racing_submissions() {
    let config = config();
    let m = sharded(&config);
    // 200 addresses, each submitted three times at once.
    let intake = crate::fixtures::intake(&config, "camp");
    let subs: Vec<shared::wire::Submission> = (0..200)
        .flat_map(|i| std::iter::repeat_n(i, 3))
        .map(|i| {
            serde_json::from_value(serde_json::json!({"form": "camp", "fields": {"email": format!("p{i}@example.com")}, "meta": {"elapsed_ms": 9000}})).unwrap()
        })
        .collect();
    let taken = block_on(join_all(subs.into_iter().map(|s| take(&m, &intake, s))));
    assert!(taken.iter().all(Result::is_ok), "{:?}", taken.iter().find(|t| t.is_err()));
    assert_eq!(m.leads.borrow().len(), 200, "one lead per address");
    // Each lead lives in the object its id names, which is the one its address hashes to.
    let mut per_shard = [0; 4];
    for (id, lead) in m.leads.borrow().iter() {
        let Home::Shard { tag: t, n } = Home::of_lead(id) else { panic!("{id} names no shard") };
        assert_eq!(t, tag("camp"));
        assert!(m.indexed(id), "{id}");
        let email = edge::rules::intake::address_of(lead);
        assert_eq!(block_on(m.home("camp", &email)).unwrap(), Home::Shard { tag: t, n });
        assert_eq!(m.ledger_row("camp", &email), Some((id.clone(), true)));
        per_shard[n as usize] += 1;
    }
    assert!(per_shard.iter().all(|n| *n >= 25), "spread: {per_shard:?}");
    assert_eq!(m.objects().iter().filter(|o| o.starts_with(&format!("form:{}:", tag("camp")))).count(), 4);
    // Round-robin turns come from one object (the form's shard 0): never one turn twice.
    let mut owners = std::collections::BTreeMap::new();
    for lead in m.leads.borrow().values() {
        *owners.entry(lead.owner.clone().unwrap()).or_insert(0) += 1;
    }
    assert_eq!(owners.values().copied().collect::<Vec<_>>(), [67, 67, 66], "{owners:?}");
}

#[test]
fn lists_funnels_and_daily_counts_join_the_shards_answers() {
    let config = config();
    let m = sharded(&config);
    for i in 0..150 {
        submit(&m, &config, "camp", &format!("l{i}@example.com")).unwrap();
        m.advance(1);
        if i % 3 == 0 {
            submit(&m, &config, "news", &format!("n{i}@example.com")).unwrap();
        }
    }
    let all: Vec<String> = m.leads.borrow().keys().cloned().collect();
    for limit in [7, 100] {
        let ids = listed(&m, None, limit);
        let mut newest_first = all.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(ids, newest_first, "every lead once, newest first, pages of {limit}");
    }
    assert_eq!(listed(&m, Some("camp"), 9).len(), 150);
    // One list question asks each of the form's objects once.
    m.reset_counts();
    let page: Page =
        block_on(ask(&m, cmd::List { form: Some("camp".into()), status: None, since: None, qualified: Qualified::default(), before: None, limit: 10 }))
            .unwrap();
    assert_eq!((page.ids.len(), m.count(Op::List)), (10, 4));
    let funnel = block_on(ask(&m, cmd::Funnel { form: None, from: None, to: None, by: By::Form })).unwrap().groups();
    let leads: Vec<(String, u64)> = funnel.iter().map(|g| (g.key.clone(), g.leads)).collect();
    assert_eq!(leads, [("camp".to_string(), 150), ("news".to_string(), 50)]);
    let daily: Vec<edge::protocol::ledger::Daily> = block_on(ask(&m, cmd::Daily { from: NOW - 86_400_000, by: By::Form })).unwrap();
    assert_eq!(daily.iter().map(|d| d.count).sum::<u64>(), 200);
    assert!(daily.windows(2).all(|w| (w[0].day, &w[0].key) < (w[1].day, &w[1].key)), "one row per day and group");
}

#[test]
fn a_giveaway_draws_over_all_its_shards_and_an_erasure_by_id_reaches_every_object_with_its_rows() {
    use edge::services::giveaway;
    let config = config();
    let m = sharded(&config);
    for i in 0..120 {
        submit(&m, &config, "win", &format!("w{i}@example.com")).unwrap();
    }
    assert!(matches!(submit(&m, &config, "win", "w7@example.com"), Err(edge::Error::AlreadyEntered)), "one entry per address, in its shard");
    let form = config.form("win").unwrap();
    let draw = block_on(giveaway::draw(&m, form, 5, Some("k".into()))).unwrap();
    assert_eq!(draw.eligible_count, 120, "every shard's entries");
    assert!(edge::rules::draw::reproduces(&draw), "reproducible from the recorded seed and eligible list");
    assert_eq!(block_on(giveaway::draw(&m, form, 5, Some("k".into()))).unwrap(), draw, "the key's answer is kept in shard 0");
    // The winners' announcements are queued with the draw in the form's shard 0. A winner that lives in
    // another shard is erased by id: its rows there and its announcement in shard 0 both go.
    let winner = draw.winners.iter().find(|w| matches!(Home::of_lead(w), Home::Shard { n, .. } if n > 0)).expect("a winner outside shard 0").clone();
    assert!(m.queued("giveaway.winner").iter().any(|d| d.lead_id == winner));
    block_on(edge::services::erasure::erase(&m, &config, &winner, true)).unwrap();
    assert!(!m.indexed(&winner) && m.tombstoned(&winner));
    assert!(m.queued("giveaway.winner").iter().all(|d| d.lead_id != winner), "no announcement with the erased winner's data is left");
    assert_eq!(m.queued("lead.erased").iter().filter(|d| d.lead_id == winner).count(), 1, "the erasure is announced once");
    assert_eq!(listed(&m, Some("win"), 50).len(), 119);
}

#[test]
fn an_address_is_looked_up_only_where_it_can_live() {
    let config = config();
    let m = sharded(&config);
    let a = submit(&m, &config, "camp", "ada@example.com").unwrap();
    let b = submit(&m, &config, "news", "ada@example.com").unwrap();
    submit(&m, &config, "camp", "bob@example.com").unwrap();
    m.reset_counts();
    let found: Vec<edge::protocol::ledger::Holding> = block_on(ask(&m, cmd::Find { email: edge::rules::intake::email_hash("ada@example.com") })).unwrap();
    assert_eq!(found.iter().map(|h| h.lead.clone()).collect::<Vec<_>>(), [a, b]);
    // The registry, and per form the one shard the address hashes to: not every shard of every form.
    assert!(m.total() <= 4, "{} objects asked", m.total());
}

#[test]
fn the_shard_count_a_form_was_first_used_with_stays() {
    let config = config();
    let m = sharded(&config);
    let ids: Vec<String> = (0..40).map(|i| submit(&m, &config, "camp", &format!("s{i}@example.com")).unwrap()).collect();
    // The config now asks for 8: the addresses must not move, so the 4 stay.
    m.shards.borrow_mut().insert("camp".into(), 8);
    for (i, id) in ids.iter().enumerate() {
        let again = submit(&m, &config, "camp", &format!("s{i}@example.com")).unwrap();
        assert_ne!(&again, id, "a repeat answers with its own submission's id");
    }
    assert_eq!(m.leads.borrow().len(), 40, "every repeat found its lead");
    assert_eq!(m.objects().iter().filter(|o| o.starts_with(&format!("form:{}:", tag("camp")))).count(), 4);
}

#[test]
fn a_collector_of_the_single_object_layout_keeps_its_forms_and_new_forms_get_their_own_objects() {
    let config = config();
    let m = memory();
    // Before: one object for everything.
    m.single_object.set(true);
    let old: Vec<String> = (0..30).map(|i| submit(&m, &config, "camp", &format!("o{i}@example.com")).unwrap()).collect();
    m.answer_with(|_| Ok(edge::rules::crm::Reply { status: 503, ..Default::default() }));
    assert!(m.fire_alarm());
    block_on(edge::services::delivery::run_due(&m, &config)).unwrap();
    assert_eq!(m.objects(), ["ledger"]);
    assert!(old.iter().all(|id| Home::of_lead(id) == Home::Registry), "ids without a shard");
    // The upgrade: the config asks for 4 shards of `camp` and has a new form.
    m.single_object.set(false);
    m.answer_with(|_| Ok(edge::rules::crm::Reply { status: 204, ..Default::default() }));
    for form in &config.forms {
        m.shards.borrow_mut().insert(form.id.clone(), form.shards);
    }
    // `camp` has rows in the old object, so it stays there with all of them: a known address is a repeat.
    let repeat = submit(&m, &config, "camp", "o3@example.com").unwrap();
    assert!(!old.contains(&repeat) && m.leads.borrow().len() == 30, "no second lead for a known address");
    let fresh = submit(&m, &config, "camp", "new@example.com").unwrap();
    assert_eq!(Home::of_lead(&fresh), Home::Registry);
    // A new form lives in its own objects.
    let entry = submit(&m, &config, "win", "w@example.com").unwrap();
    assert!(matches!(Home::of_lead(&entry), Home::Shard { .. }));
    // Everything stored before is still listed, erasable and delivered.
    assert_eq!(listed(&m, None, 10).len(), 32);
    block_on(edge::services::erasure::erase(&m, &config, &old[0], true)).unwrap();
    assert!(m.tombstoned(&old[0]) && !m.indexed(&old[0]));
    m.advance(10_000);
    assert!(m.fire_alarm());
    let run = block_on(edge::services::delivery::run_due(&m, &config)).unwrap();
    assert!(run.delivered >= 15, "the old object's waiting deliveries go out: {run:?}");
    // A Worker still running the old code would send a new form's addresses to the old object, which
    // refuses them now.
    m.single_object.set(true);
    assert!(submit(&m, &config, "win", "late@example.com").is_err());
    m.single_object.set(false);
    assert_ne!(Home::of_lead(&submit(&m, &config, "win", "late@example.com").unwrap()), Home::Registry);
}

#[test]
fn an_erasure_whose_part_in_shard_0_fails_is_retried_whole_and_announced_once() {
    use edge::services::giveaway;
    let config = config();
    let m = sharded(&config);
    for i in 0..60 {
        submit(&m, &config, "win", &format!("f{i}@example.com")).unwrap();
    }
    let draw = block_on(giveaway::draw(&m, config.form("win").unwrap(), 10, None)).unwrap();
    let winner = draw.winners.iter().find(|w| matches!(Home::of_lead(w), Home::Shard { n, .. } if n > 0)).expect("a winner outside shard 0").clone();
    // The lead's own object erases it; the part in shard 0, with its announcement, fails.
    m.fail(Op::Erase, 2);
    assert!(block_on(edge::services::erasure::erase(&m, &config, &winner, true)).is_err());
    assert!(m.leads.borrow().contains_key(&winner), "the document stays for the retry, which finds the lead");
    block_on(edge::services::erasure::erase(&m, &config, &winner, true)).unwrap();
    assert!(!m.leads.borrow().contains_key(&winner) && m.tombstoned(&winner) && !m.indexed(&winner));
    assert!(m.queued("giveaway.winner").iter().all(|d| d.lead_id != winner), "nothing with the erased winner's data is left");
    assert_eq!(m.queued("lead.erased").iter().filter(|d| d.lead_id == winner).count(), 1, "announced once, however often retried");
}
