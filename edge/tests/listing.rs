//! Admin lists over the ledger's lead index, natively with 10,000 leads: newest first, full pages while
//! matches remain, and a bounded number of operations per page.

use edge::platform::memory::{Memory, Op};
use edge::protocol::backend::Backend;
use edge::services::listing::{all_ids, page, Filter};
use futures::executor::block_on;
use shared::lead::Lead;

mod common;
use common::NOW;

/// A stored lead on `form`, created `i` ms after NOW.
fn lead(i: u64, form: &str) -> Lead {
    common::lead(i, form, shared::form::FormKind::Newsletter)
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
    block_on(m.ledger(&edge::protocol::ledger::Command::Erase { lead: id.clone(), announcements: vec![], now: NOW })).unwrap();
    // A write that arrives after the erasure is refused, and its document deleted again.
    assert!(matches!(block_on(m.put_lead(&late)), Err(edge::Error::NotFound)));
    assert!(!m.leads.borrow().contains_key(&id), "the late document is gone again");
    let ids = block_on(all_ids(&m, &Filter { form: Some("rare".into()), ..Filter::default() })).unwrap();
    assert!(!ids.contains(&id));
    assert_eq!(ids.len(), 6);
}
