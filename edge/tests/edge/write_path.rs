//! The one write path for a lead, held by reading the edge's sources (like rust-analyzer's tidy tests).
//!
//! Every change to a stored lead document goes through a service under the ledger's hold: a submission
//! and an import hold the address through their claims; every other change (confirmation, withdrawal,
//! download count, behaviour event, stage or owner move, CRM feedback) writes with
//! `announcing::put_outbox_then_lead`, which takes a `holding::Holding` that only `under_hold` makes,
//! so the compiler refuses a write without the hold; erasure deletes after its ledger transaction. This
//! test holds the rest: no other module, and none of the Workers glue, writes or deletes a lead document.

use crate::fixtures::sources;
use std::path::Path;

/// Each way to write or delete a lead document, and the only files that may use it.
const WRITERS: &[(&str, &[&str])] = &[
    // The seam's methods: declared in `storage`, implemented by `cloud` (KV) and `memory`, called by the
    // services that hold the lead.
    (".put_lead(", &["announcing.rs"]),
    (".put_documents(", &["submission.rs", "import.rs"]),
    (".delete_lead(", &["submission.rs", "import.rs", "erasure.rs"]),
    // KV itself: only behind the seam.
    ("store::put_lead(", &["cloud.rs"]),
    ("store::delete_lead(", &["cloud.rs"]),
    // The held write: only from the services that change a stored lead under its hold.
    ("put_outbox_then_lead(", &["confirmation.rs", "withdrawal.rs", "qualification.rs", "handout.rs", "sales.rs"]),
];

#[test]
fn only_the_services_that_hold_a_lead_write_its_document() {
    let mut found = 0;
    for path in sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("readable source");
        for (line, code) in text.lines().enumerate() {
            let code = code.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (writer, allowed) in WRITERS {
                if code.contains(writer) {
                    found += 1;
                    assert!(allowed.contains(&name.as_str()), "{name}:{}: `{writer}` writes a lead document outside the services that hold it", line + 1);
                }
            }
        }
    }
    assert!(found >= 10, "the test reads the sources it means to ({found} writes found)");
}

/// Every kind of change racing on one lead: a repeat submission, a behaviour event, a stage move, a
/// withdrawal of one purpose and a download (folded at once, the minute being quiet). Each reads the lead
/// and writes it back; under the hold none overwrites another's change.
#[test]
fn racing_changes_of_every_kind_lose_nothing() {
    use crate::fixtures::NOW;
    use edge::platform::memory::Memory;
    use edge::services::submission::take;
    use futures::executor::block_on;
    use shared::stage::{Mover, Stage};
    let config: shared::form::FormsConfig = serde_json::from_value(serde_json::json!({
        "forms": [{"id": "gate", "kind": "download_gate", "mode": "b2b", "asset": {"key": "g.pdf", "filename": "g.pdf"},
                   "fields": [{"name": "email", "required": true}, {"name": "company"}, {"name": "job_title"}],
                   "consents": [{"id": "marketing_email", "text": {"en": "News."}}, {"id": "partner_offers", "text": {"en": "Partners."}}],
                   "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}]
    }))
    .unwrap();
    let m = Memory::at(NOW);
    let intake = crate::fixtures::intake(&config, "gate");
    // The repeat ticks marketing mail only: ticking partner offers again would be a new consent of the
    // person's, which a repeat may add after the withdrawal.
    let submission = |fields: serde_json::Value, consent: &[&str]| -> shared::wire::Submission {
        serde_json::from_value(serde_json::json!({"form": "gate", "fields": fields, "consent": consent, "meta": {"elapsed_ms": 9000}})).unwrap()
    };
    let first = submission(serde_json::json!({"email": "race@example.com", "company": "Acme"}), &["marketing_email", "partner_offers"]);
    block_on(take(&m, &intake, first)).unwrap();
    let lead = m.leads.borrow().values().next().cloned().unwrap();
    m.advance(120_000);
    let withdrawal = edge::services::withdrawal::Request { via: "admin".into(), client: None, note: None, purposes: Some(vec!["partner_offers".into()]) };
    let changes: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = bool> + '_>>> = vec![
        Box::pin(async {
            take(&m, &intake, submission(serde_json::json!({"email": "race@example.com", "job_title": "CTO"}), &["marketing_email"])).await.is_ok()
        }),
        Box::pin(async { edge::services::qualification::record_event(&m, &config, None, &lead.id, "email_click", None).await.is_ok() }),
        Box::pin(async { edge::services::qualification::move_stage(&m, &config, &lead.id, Stage::Sql, &Mover::Admin, "call on Monday").await.is_ok() }),
        Box::pin(async { edge::services::withdrawal::withdraw(&m, &config, &lead, withdrawal.clone()).await.is_ok() }),
        Box::pin(async { edge::services::handout::count(&m, &config, &lead).await.is_ok() }),
    ];
    let done = block_on(futures::future::join_all(changes));
    assert_eq!(done, [true; 5], "every change went through");
    let after = m.leads.borrow()[&lead.id].clone();
    assert_eq!(after.fields.get("job_title").map(String::as_str), Some("CTO"), "the repeat's fill");
    assert_eq!(after.engagement.submissions, 2, "the repeat's count");
    assert!(after.events.iter().any(|e| e.kind == "email_click"), "the event");
    assert_eq!(after.stage, Stage::Sql, "the stage move");
    assert!(!after.grants("partner_offers") && after.grants("marketing_email"), "the withdrawal of one purpose");
    assert_eq!(after.engagement.downloads, 1, "the download");
}
