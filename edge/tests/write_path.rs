//! The one write path for a lead, held by reading the edge's sources (like rust-analyzer's tidy tests).
//!
//! Every change to a stored lead document goes through a service under the ledger's hold: a submission
//! and an import hold the address through their claims; every other change (confirmation, withdrawal,
//! download count, behaviour event, stage or owner move, CRM feedback) writes with
//! `submission::put_outbox_then_lead`, which takes a `confirmation::Holding` that only `under_hold` makes,
//! so the compiler refuses a write without the hold; erasure deletes after its ledger transaction. This
//! test holds the rest: no other module, and none of the Workers glue, writes or deletes a lead document.

use std::path::Path;

/// Each way to write or delete a lead document, and the only files that may use it.
const WRITERS: &[(&str, &[&str])] = &[
    // The seam's methods: declared in `storage`, implemented by `cloud` (KV) and `memory`, called by the
    // services that hold the lead.
    (".put_lead(", &["submission.rs"]),
    (".put_documents(", &["submission.rs", "import.rs"]),
    (".delete_lead(", &["submission.rs", "import.rs", "erasure.rs"]),
    // KV itself: only behind the seam.
    ("store::put_lead(", &["cloud.rs"]),
    ("store::delete_lead(", &["cloud.rs"]),
    // The held write: only from the services that change a stored lead under its hold.
    ("put_outbox_then_lead(", &["submission.rs", "confirmation.rs", "withdrawal.rs", "qualification.rs", "handout.rs"]),
];

#[test]
fn only_the_services_that_hold_a_lead_write_its_document() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = 0;
    for entry in std::fs::read_dir(&src).expect("edge/src") {
        let path = entry.expect("a file").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
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
