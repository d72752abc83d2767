//! The download service, natively over the memory backend: downloads counted in the ledger under racing
//! requests, folded into the lead under its hold, limited per hour, and never lost to a failed write.

use edge::platform::memory::{Memory, Op};
use edge::services::handout::{as_counted, count, fold, fold_due, Handout};
use edge::services::submission::take;
use edge::services::withdrawal::{withdraw, Request, Withdrawn};
use futures::executor::block_on;
use futures::future::{join, join_all};
use shared::form::FormsConfig;
use shared::lead::Lead;

use crate::fixtures::NOW;

fn config(per_hour: u32) -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [{"id": "gate", "kind": "download_gate",
                   "asset": {"key": "guide.pdf", "filename": "guide.pdf", "downloads_per_hour": per_hour},
                   "fields": [{"name": "email", "required": true}],
                   "consents": [{"id": "marketing_email", "text": {"en": "Send me news."}}],
                   "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}]
    }))
    .unwrap()
}

/// A lead on the gate that granted marketing mail.
fn stored(m: &Memory, config: &FormsConfig) -> Lead {
    let intake = crate::fixtures::intake(config, "gate");
    let sub = serde_json::from_value(serde_json::json!({"form": "gate", "fields": {"email": "ada@example.com"}, "consent": ["marketing_email"]})).unwrap();
    block_on(take(m, &intake, sub)).unwrap();
    m.leads.borrow().values().next().cloned().unwrap()
}

fn document(m: &Memory, id: &str) -> Lead {
    m.leads.borrow()[id].clone()
}

fn download_events(lead: &Lead) -> usize {
    lead.events.iter().filter(|e| e.kind == shared::score::DOWNLOAD).count()
}

#[test]
fn a_hundred_racing_downloads_are_all_counted_for_one_kv_write_until_the_cron_folds_them() {
    let (m, config) = (Memory::at(NOW), config(1_000));
    let lead = stored(&m, &config);
    m.reset_counts();
    let served = block_on(join_all((0..100).map(|_| count(&m, &config, &lead))));
    assert!(served.iter().all(|s| matches!(s, Ok(Handout::Serve))), "{served:?}");
    assert_eq!(m.count(Op::Download), 100);
    assert_eq!(m.count(Op::PutLead), 1, "the first download folds; the burst after it writes nothing to KV");
    // The admin sees every download at once, folded or not.
    let mut shown = document(&m, &lead.id);
    block_on(as_counted(&m, std::slice::from_mut(&mut shown))).unwrap();
    assert_eq!(shown.engagement.downloads, 100);
    // The first fold took what was counted when it read the ledger; the cron folds the rest once the
    // minute is over, each fold one behaviour event.
    let first = document(&m, &lead.id).engagement.downloads;
    assert!((1..=100).contains(&first), "{first}");
    assert_eq!(block_on(fold_due(&m, &config)).unwrap(), 0, "not within the minute");
    m.advance(60_000);
    let cron = block_on(fold_due(&m, &config)).unwrap();
    assert_eq!(cron, usize::from(first < 100));
    let folded = document(&m, &lead.id);
    assert_eq!(folded.engagement.downloads, 100);
    assert_eq!(folded.downloads_folded, 100);
    assert_eq!(download_events(&folded), 1 + cron, "one behaviour event per fold, not per download");
    assert_eq!(m.count(Op::PutLead), 1 + cron);
    m.advance(60_000);
    assert_eq!(block_on(fold_due(&m, &config)).unwrap(), 0, "nothing left to fold");
}

#[test]
fn a_withdrawal_racing_a_hundred_downloads_stays_withdrawn() {
    let (m, config) = (Memory::at(NOW), config(1_000));
    let lead = stored(&m, &config);
    // Every fold of the race, not only the first, goes through the hold: the cron's fold runs in the race too.
    m.advance(60_000);
    let downloads = join_all((0..100).map(|_| count(&m, &config, &lead)));
    let withdrawal = withdraw(&m, &config, &lead, Request { via: "link".into(), client: None, note: None, purposes: None });
    let (served, withdrawn) = block_on(join(downloads, withdrawal));
    assert!(served.iter().all(|s| matches!(s, Ok(Handout::Serve))));
    assert!(matches!(withdrawn, Ok(Withdrawn::Recorded { .. })), "{withdrawn:?}");
    m.advance(60_000);
    block_on(fold_due(&m, &config)).unwrap();
    let after = document(&m, &lead.id);
    assert!(after.consent.withdrawn.is_some(), "no fold wrote back a lead read before the withdrawal");
    assert!(!after.grants("marketing_email"));
    assert_eq!(after.engagement.downloads, 100, "and no download was lost to the withdrawal's write");
}

#[test]
fn a_link_past_its_hourly_limit_is_refused_until_the_next_hour() {
    let (m, config) = (Memory::at(NOW), config(3));
    let lead = stored(&m, &config);
    for _ in 0..3 {
        assert_eq!(block_on(count(&m, &config, &lead)).unwrap(), Handout::Serve);
    }
    let Handout::Limited { retry_after_secs } = block_on(count(&m, &config, &lead)).unwrap() else { panic!("the fourth is over the limit") };
    let to_next_hour = (3_600_000 - NOW % 3_600_000).div_ceil(1000);
    assert_eq!(u64::from(retry_after_secs), to_next_hour);
    let mut shown = document(&m, &lead.id);
    block_on(as_counted(&m, std::slice::from_mut(&mut shown))).unwrap();
    assert_eq!(shown.engagement.downloads, 3, "a refused download is not counted");
    m.advance(to_next_hour * 1000);
    assert_eq!(block_on(count(&m, &config, &lead)).unwrap(), Handout::Serve);
}

#[test]
fn a_failed_fold_loses_nothing_and_a_repeated_one_counts_nothing_twice() {
    for op in [Op::ReadLead, Op::PutLead, Op::Queue, Op::LedgerOther] {
        let (m, config) = (Memory::at(NOW), config(1_000));
        let lead = stored(&m, &config);
        m.fail(op, 1);
        assert_eq!(block_on(count(&m, &config, &lead)).unwrap(), Handout::Serve, "{op:?}: the file is served all the same");
        for _ in 0..4 {
            block_on(count(&m, &config, &lead)).unwrap();
        }
        m.advance(60_000);
        block_on(fold_due(&m, &config)).unwrap();
        // Folding again (a lost note in the ledger makes the cron look once more) adds nothing.
        block_on(fold(&m, &config, &lead.id)).unwrap();
        assert_eq!(document(&m, &lead.id).engagement.downloads, 5, "{op:?}");
    }
}

#[test]
fn an_erased_lead_counts_no_downloads() {
    let (m, config) = (Memory::at(NOW), config(1_000));
    let lead = stored(&m, &config);
    block_on(count(&m, &config, &lead)).unwrap();
    block_on(edge::services::erasure::erase(&m, &config, &lead.id, true)).unwrap();
    assert_eq!(block_on(count(&m, &config, &lead)).unwrap(), Handout::Serve, "the caller found the document; the ledger keeps nothing of it");
    m.advance(60_000);
    assert_eq!(block_on(fold_due(&m, &config)).unwrap(), 0);
    assert!(!m.leads.borrow().contains_key(&lead.id), "no fold brings the erased lead back");
}
