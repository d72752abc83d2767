//! Admin lists over the ledger's lead index, natively with 10,000 leads: newest first, full pages while
//! matches remain, and a bounded number of operations per page.

use edge::platform::memory::{Memory, Op};
use edge::protocol::backend::Backend;
use edge::protocol::ledger::cmd;
use edge::services::listing::{all_ids, page, Filter};
use futures::executor::block_on;
use shared::lead::Lead;

use crate::fixtures::NOW;

/// A stored lead on `form`, created `i` ms after NOW.
fn lead(i: u64, form: &str) -> Lead {
    crate::fixtures::lead(i, form, shared::form::FormKind::Newsletter)
}

/// 10,000 leads: every 1,500th on the form `rare` (7 of them), the rest on `common`.
fn stored() -> (Memory, Vec<String>) {
    let m = Memory::at(NOW);
    let mut rare = Vec::new();
    for i in 0..10_000 {
        let form = if i % 1_500 == 0 { "rare" } else { "common" };
        let l = lead(i, form);
        if form == "rare" {
            rare.push(l.id.clone());
        }
        block_on(m.put_lead(&l)).unwrap();
    }
    m.reset_counts();
    (m, rare)
}

#[test]
fn a_filtered_page_is_full_while_matches_remain_and_newest_first() {
    let (m, rare) = stored();
    let filter = Filter { form: Some("rare".into()), ..Filter::default() };
    let (first, cursor) = block_on(page(&m, &filter, None, 5)).unwrap();
    let ids: Vec<&str> = first.iter().map(|l| l.id.as_str()).collect();
    let newest: Vec<&str> = rare.iter().rev().take(5).map(String::as_str).collect();
    assert_eq!(ids, newest, "five of the seven matches among 10,000, newest first");
    assert!(cursor.is_some());
    assert_eq!(m.count(Op::List), 1);
    assert_eq!(m.total(), 2, "one ledger request and one bulk read");
    let (rest, end) = block_on(page(&m, &filter, cursor, 5)).unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(end, None, "no cursor on the last page");
}

#[test]
fn any_page_costs_one_request_and_one_bulk_read_per_hundred_leads_on_it() {
    let (m, _) = stored();
    let mut cursor = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        m.reset_counts();
        let (leads, next) = block_on(page(&m, &Filter::default(), cursor, 100)).unwrap();
        assert_eq!(m.total(), 2, "a page of 100 took {} operations", m.total());
        seen += leads.len();
        pages += 1;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!((seen, pages), (10_000, 100));
    // A CSV page holds 500 leads: one ledger request and five bulk reads.
    m.reset_counts();
    let (leads, _) = block_on(page(&m, &Filter::default(), None, 500)).unwrap();
    assert_eq!((leads.len(), m.total()), (500, 6));
}

#[test]
fn a_draw_gets_all_ten_thousand_ids_from_one_request() {
    let (m, _) = stored();
    let ids = block_on(all_ids(&m, &Filter { form: Some("common".into()), ..Filter::default() })).unwrap();
    assert_eq!(ids.len(), 10_000 - 7);
    assert_eq!(m.total(), 1);
    let since = Filter { since: Some(NOW + 9_990), ..Filter::default() };
    assert_eq!(block_on(all_ids(&m, &since)).unwrap().len(), 10);
}

#[test]
fn an_erased_lead_leaves_the_index_and_never_comes_back() {
    let (m, rare) = stored();
    let id = rare[0].clone();
    let late = m.leads.borrow()[&id].clone();
    block_on(m.ledger(&edge::protocol::ledger::Command::Erase(cmd::Erase { lead: id.clone(), announcements: vec![], now: NOW }))).unwrap();
    // A write that arrives after the erasure is refused, and its document deleted again.
    assert!(matches!(block_on(m.put_lead(&late)), Err(edge::Error::NotFound)));
    assert!(!m.leads.borrow().contains_key(&id), "the late document is gone again");
    let ids = block_on(all_ids(&m, &Filter { form: Some("rare".into()), ..Filter::default() })).unwrap();
    assert!(!ids.contains(&id));
    assert_eq!(ids.len(), 6);
}

#[test]
fn admin_requests_do_a_bounded_number_of_operations_with_ten_thousand_leads() {
    use crate::fixtures::{entry, memory, submit_news as submit, two_endpoints as config};
    use edge::protocol::backend::ask;
    use edge::protocol::ledger::PER_RUN;
    use edge::protocol::ledger::{DeliveryFilter, DeliveryPage};
    use edge::services::delivery::run_due;
    use edge::services::erasure::erase;
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
    let page: DeliveryPage = block_on(ask(&m, cmd::Deliveries { filter, before: None, limit: 100 })).unwrap();
    assert_eq!((page.deliveries.len(), m.total()), (100, 2), "one request to each form's object");
    assert!(page.cursor.is_some());
    // An erasure: a read, the ledger's transaction, the document's removal and the old index key.
    let id = m.leads.borrow().keys().last().unwrap().clone();
    m.reset_counts();
    block_on(erase(&m, &config, &id, true)).unwrap();
    assert!(m.total() <= 6, "an erasure took {} operations", m.total());
    // An alarm run: each object's due deliveries within its budget (the memory backend runs every object's
    // alarm at once), one call and one record each.
    assert!(m.fire_alarm());
    m.reset_counts();
    let run = block_on(run_due(&m, &config)).unwrap();
    let objects = m.objects().len();
    assert!((PER_RUN as usize..=PER_RUN as usize * objects).contains(&run.attempted), "{} attempted", run.attempted);
    assert_eq!(m.count(edge::platform::memory::Op::Due), objects, "one question per object");
    assert_eq!(m.total(), objects + 2 * run.attempted);
    assert_eq!(m.alarm(), Some(NOW + edge::protocol::ledger::PACE_MS), "more are due: the alarm is set again at the bulk lane's pace");
}
