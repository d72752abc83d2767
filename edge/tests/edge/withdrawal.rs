//! Withdrawal's announcements, natively over the memory backend: `lead.consent_withdrawn` goes out after
//! the lead is stored, never when it is not.

use crate::fixtures::{memory, submit_news as submit, two_endpoints as config, NOW};
use edge::platform::memory::Op;
use edge::services::delivery::run_due;
use edge::services::withdrawal::{self, Withdrawn};
use futures::executor::block_on;

#[test]
fn a_withdrawal_is_announced_after_the_lead_is_stored_and_never_when_it_is_not() {
    let (m, config) = (memory(), config());
    let id = submit(&m, &config, "gu@example.com");
    assert!(m.fire_alarm());
    block_on(run_due(&m, &config)).unwrap();
    let lead = m.leads.borrow()[&id].clone();
    let by_admin = || withdrawal::Request { via: "admin".into(), client: None, note: None, purposes: None };
    m.fail(Op::PutLead, 1);
    assert!(block_on(withdrawal::withdraw(&m, &config, &lead, by_admin())).is_err());
    assert!(m.queued("lead.consent_withdrawn").is_empty(), "taken back: the lead was not written");
    m.advance(120_000);
    if m.fire_alarm() {
        assert_eq!(block_on(run_due(&m, &config)).unwrap().attempted, 0, "nothing of the failed withdrawal goes out");
    }
    assert_eq!(block_on(withdrawal::withdraw(&m, &config, &lead, by_admin())).unwrap(), Withdrawn::Recorded { deliveries: 2 });
    assert_eq!(m.alarm(), Some(NOW + 120_000), "sent once the lead is stored");
    assert_eq!(block_on(withdrawal::withdraw(&m, &config, &lead, by_admin())).unwrap(), Withdrawn::Already);
    assert_eq!(m.queued("lead.consent_withdrawn").len(), 2);
}
