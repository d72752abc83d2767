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
    let groups: Vec<Group> = block_on(ask(&m, cmd::Funnel { form: None, from: None, to: None, by: By::Source })).unwrap();
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
    let early: Vec<Group> = block_on(ask(&m, cmd::Funnel { form: Some("guide".into()), from: Some(NOW), to: Some(NOW + 4_000), by: By::Form })).unwrap();
    assert_eq!((early.len(), early[0].key.as_str(), early[0].leads), (1, "guide", 4_000));
    assert_eq!(early[0].stages[5].reached, 400);
}
