//! Giveaway draws, natively over the memory backend: a draw among 10,000 entries commits with its
//! announcements and is never drawn twice.

use crate::fixtures::{entry, memory, two_endpoints as config};
use edge::platform::memory::Op;
use edge::services::giveaway;
use futures::executor::block_on;

#[test]
fn a_draw_among_ten_thousand_entries_commits_with_its_announcements_and_is_never_drawn_twice() {
    let (m, config) = (memory(), config());
    for i in 0..10_000 {
        entry(&m, i);
    }
    let form = config.form("win").unwrap();
    m.reset_counts();
    m.fail(Op::Draw, 1);
    assert!(block_on(giveaway::draw(&m, form, 3, Some("k1".into()))).is_err());
    assert!(m.queued("giveaway.winner").is_empty(), "no announcement without the draw on record");
    assert!(block_on(giveaway::draws(&m, "win")).unwrap().is_empty());

    m.reset_counts();
    let first = block_on(giveaway::draw(&m, form, 3, Some("k1".into()))).unwrap();
    assert_eq!((first.eligible_count, first.winners.len()), (10_000, 3));
    assert!(m.total() <= 20, "a draw among 10,000 entries took {} operations", m.total());
    let again = block_on(giveaway::draw(&m, form, 3, Some("k1".into()))).unwrap();
    assert_eq!(again, first, "a retry gets the draw that was made");
    assert_eq!(m.queued("giveaway.winner").len(), 3);
    assert_eq!(block_on(giveaway::draws(&m, "win")).unwrap(), vec![first.clone()]);

    // A second draw leaves the first one's winners out.
    let second = block_on(giveaway::draw(&m, form, 2, None)).unwrap();
    assert_eq!(second.eligible_count, 9_997);
    assert!(second.winners.iter().all(|w| !first.winners.contains(w)));
}
