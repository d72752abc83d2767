//! The funnel over the ledger's stage rows, natively with 10,000 leads against numbers computed by hand:
//! one ledger request however many leads are stored.

use edge::platform::memory::Memory;
use edge::protocol::backend::{ask, Backend};
use edge::protocol::funnel::{By, Group};
use edge::protocol::ledger::cmd;
use futures::executor::block_on;
use shared::form::FormKind;
use shared::stage::{Change, Stage};

use crate::fixtures::NOW;

const DAY: u64 = 86_400_000;

/// 10,000 leads: sources by `i % 4` (fair, ads, mail, none: 2,500 each); within each, by `(i / 4) % 10`,
/// 1,000 stay leads, 750 become MQLs after 3 days, 500 SQLs after 10, and 250 customers (MQL 3, SQL 10,
/// opportunity 12, customer 20 days after creation).
fn stored() -> Memory {
    let m = Memory::at(NOW);
    for i in 0..10_000u64 {
        let mut lead = crate::fixtures::lead(i, "guide", FormKind::DownloadGate);
        if let Some(source) = ["fair", "ads", "mail"].get((i % 4) as usize) {
            lead.source.utm.insert("source".into(), (*source).into());
        }
        let created = NOW + i;
        let path: &[(Stage, u64)] = match (i / 4) % 10 {
            0..=3 => &[(Stage::Lead, 0)],
            4..=6 => &[(Stage::Lead, 0), (Stage::Mql, 3)],
            7..=8 => &[(Stage::Lead, 0), (Stage::Mql, 3), (Stage::Sql, 10)],
            _ => &[(Stage::Lead, 0), (Stage::Mql, 3), (Stage::Sql, 10), (Stage::Opportunity, 12), (Stage::Customer, 20)],
        };
        let mut from = None;
        for (stage, days) in path {
            lead.history.push(Change { from, to: *stage, at: shared::time::rfc3339(created + days * DAY), by: "rule".into(), reason: "fixture".into() });
            from = Some(*stage);
        }
        lead.stage = path.last().map(|(s, _)| *s).unwrap_or_default();
        block_on(m.put_lead(&lead)).unwrap();
    }
    m.reset_counts();
    m
}

#[test]
fn the_funnel_at_ten_thousand_leads_matches_the_hand_computed_numbers_in_one_request() {
    let m = stored();
    let groups: Vec<Group> = block_on(ask(&m, cmd::Funnel { form: None, from: None, to: None, by: By::Source })).unwrap().groups();
    assert_eq!(m.total(), 1, "one ledger request");
    assert_eq!(groups.len(), 4);
    for g in &groups {
        assert_eq!(g.leads, 2_500, "{}", g.key);
        let reached: Vec<u64> = g.stages.iter().map(|s| s.reached).collect();
        assert_eq!(reached, [2_500, 2_500, 1_500, 750, 250, 250], "{}", g.key);
        let now: Vec<u64> = g.stages.iter().map(|s| s.now).collect();
        assert_eq!(now, [0, 1_000, 750, 500, 0, 250], "{}", g.key);
        let conversion: Vec<Option<f64>> = g.stages.iter().map(|s| s.conversion.map(|c| (c * 1000.0).round() / 1000.0)).collect();
        assert_eq!(conversion, [None, Some(1.0), Some(0.6), Some(0.5), Some(0.333), Some(1.0)], "{}", g.key);
        let days: Vec<Option<f64>> = g.stages.iter().map(|s| s.median_days.map(|d| (d * 10.0).round() / 10.0)).collect();
        assert_eq!(days, [None, None, Some(3.0), Some(7.0), Some(2.0), Some(8.0)], "{}", g.key);
    }
    let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["(none)", "ads", "fair", "mail"], "equal sizes sort by key");
    // A period selects by creation: the first 4,000 ms hold 4,000 leads, 1,000 per source.
    let early: Vec<Group> =
        block_on(ask(&m, cmd::Funnel { form: Some("guide".into()), from: Some(NOW), to: Some(NOW + 4_000), by: By::Form })).unwrap().groups();
    assert_eq!((early.len(), early[0].key.as_str(), early[0].leads), (1, "guide", 4_000));
    assert_eq!(early[0].stages[5].reached, 400);
}

/// The funnel of `m` by `by` over `[from, to)`.
fn funnel(m: &Memory, by: By, from: Option<u64>, to: Option<u64>) -> Vec<Group> {
    block_on(ask(m, cmd::Funnel { form: None, from, to, by })).unwrap().groups()
}

/// The daily counts of `m` by `by` from `from`.
fn daily(m: &Memory, by: By, from: u64) -> Vec<edge::protocol::ledger::Daily> {
    block_on(ask(m, cmd::Daily { from, by })).unwrap()
}

#[test]
fn the_aggregates_follow_every_change_and_an_old_ledger_tallies_its_leads() {
    let m = stored();
    // Changes after the leads were stored: a stage move with a new stage time, an owner, and an erasure.
    let ids: Vec<String> = m.leads.borrow().keys().take(300).cloned().collect();
    for (n, id) in ids.iter().enumerate() {
        let mut lead = m.leads.borrow()[id].clone();
        match n % 3 {
            0 => {
                let at = shared::time::parse(&lead.created_at).unwrap() + 30 * DAY + (n as u64) * 3_600_000;
                lead.history.push(Change {
                    from: Some(lead.stage),
                    to: Stage::Disqualified,
                    at: shared::time::rfc3339(at),
                    by: "sales".into(),
                    reason: "x".into(),
                });
                lead.stage = Stage::Disqualified;
            }
            1 => lead.owner = Some(format!("owner-{}", n % 7)),
            _ => {
                block_on(edge::services::erasure::erase(&m, &crate::fixtures::two_endpoints(), id, true)).unwrap();
                continue;
            }
        }
        block_on(m.put_lead(&lead)).unwrap();
    }
    let periods = [(None, None), (Some(NOW), Some(NOW + 4_000)), (Some(NOW - 3 * DAY), Some(NOW + DAY)), (Some(NOW + 5_000), None)];
    let questions: Vec<(By, Option<u64>, Option<u64>)> =
        [By::Source, By::Owner, By::Form, By::Campaign].iter().flat_map(|by| periods.iter().map(|(f, t)| (*by, *f, *t))).collect();
    let from_aggregates: Vec<Vec<Group>> = questions.iter().map(|(by, f, t)| funnel(&m, *by, *f, *t)).collect();
    let daily_aggregates = daily(&m, By::Owner, NOW - 10 * DAY);
    assert_eq!(from_aggregates[0].iter().map(|g| g.leads).sum::<u64>(), 10_000 - 100, "the erased leads are gone from the sums");
    assert!(from_aggregates[4].iter().any(|g| g.key == "owner-1"), "an owner's group");
    // The same questions answered from every lead's rows, as a ledger made before the aggregates does, agree.
    m.forget_tallies();
    for (q, expected) in questions.iter().zip(&from_aggregates) {
        assert_eq!(&funnel(&m, q.0, q.1, q.2), expected, "{q:?} from the rows");
    }
    assert_eq!(daily(&m, By::Owner, NOW - 10 * DAY), daily_aggregates);
    // The upgrade's tally adds the leads in batches; a lead changed while it runs (behind or ahead of it)
    // is counted once, as it is now.
    let first: edge::protocol::ledger::Tallied = block_on(ask(&m, cmd::Tally { limit: 4_000 })).unwrap();
    assert_eq!((first.added, first.done), (4_000, false));
    let (behind, ahead) = (ids[1].clone(), m.leads.borrow().keys().last().unwrap().clone());
    for id in [&behind, &ahead] {
        let mut lead = m.leads.borrow()[id].clone();
        lead.owner = Some("late".into());
        block_on(m.put_lead(&lead)).unwrap();
    }
    let mut rounds = 0;
    while !block_on(ask(&m, cmd::Tally { limit: 4_000 })).unwrap().done {
        rounds += 1;
    }
    assert_eq!(rounds, 1);
    let by_owner = funnel(&m, By::Owner, None, None);
    assert_eq!(by_owner.iter().find(|g| g.key == "late").map(|g| g.leads), Some(2));
    assert_eq!(by_owner.iter().map(|g| g.leads).sum::<u64>(), 10_000 - 100);
    m.forget_tallies();
    assert_eq!(funnel(&m, By::Owner, None, None), by_owner, "the tallied aggregates agree with the rows");
}
