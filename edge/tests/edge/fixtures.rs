//! What the service tests build the same way: the virtual clock's start, a stored lead made directly
//! (without the intake) for tests that need thousands of them, the intake a test submits through, and the
//! two-endpoint config the delivery, erasure, withdrawal and draw tests share.

use edge::platform::memory::Memory;
use edge::services::submission::{take, Intake};
use futures::executor::block_on;
use shared::form::{FormKind, FormsConfig};
use shared::lead::Lead;

/// The virtual clock's start in the service tests.
pub const NOW: u64 = 1_790_000_000_000;

/// A lead on `form` (of `kind`), created `i` ms after [`NOW`], with the address `p<i>@example.com`.
pub fn lead(i: u64, form: &str, kind: FormKind) -> Lead {
    let mut lead: Lead = serde_json::from_value(serde_json::json!({
        "id": "", "form": form, "kind": kind, "status": "new",
        "created_at": "", "updated_at": "", "fields": {"email": format!("p{i}@example.com")},
        "consent": {"entries": [], "lang": "en", "recorded_at": "", "page": null, "client_id": null},
        "source": {"page": null, "referrer": null, "utm": {}},
        "engagement": {"confirmed": false, "downloads": 0, "submissions": 1},
        "score": {"total": 0, "reasons": [], "stage": "lead"}
    }))
    .expect("a lead");
    lead.id = edge::rules::id::new("ld_", NOW + i, [7; 10]);
    lead.created_at = shared::time::rfc3339(NOW + i);
    lead.updated_at = lead.created_at.clone();
    lead
}

/// The intake of `form` as a test submits through it: signing secret `s`, origin `https://c.example`, no
/// idempotency key, no client id.
pub fn intake<'a>(config: &'a FormsConfig, form: &str) -> Intake<'a> {
    Intake { config, form: config.form(form).expect("the form"), signing: "s", origin: "https://c.example", key: None, client: None }
}

/// A newsletter with two endpoints and a giveaway with one: what goes through the outbox.
pub fn two_endpoints() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}, {"id": "sheet", "url": "https://sheet.example/hook"}]},
            {"id": "win", "kind": "giveaway", "fields": [{"name": "email", "required": true}],
             "giveaway": {"starts_at": "2026-01-01", "ends_at": "2030-12-31", "rules_url": "/rules"},
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}
        ]
    }))
    .expect("a config")
}

/// A memory backend at [`NOW`] with the endpoints' signing secret.
pub fn memory() -> Memory {
    let m = Memory::at(NOW);
    m.secrets.borrow_mut().insert("WEBHOOK_SECRET".into(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    m
}

/// Submits `email` to the newsletter form of [`two_endpoints`]; returns the lead's id.
pub fn submit_news(m: &Memory, config: &FormsConfig, email: &str) -> String {
    let sub = serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": email}, "meta": {"elapsed_ms": 9000}})).expect("a submission");
    block_on(take(m, &intake(config, "news"), sub)).expect("stored").body["id"].as_str().expect("an id").to_owned()
}

/// A giveaway entry stored directly, `i` ms after [`NOW`].
pub fn entry(m: &Memory, i: u64) -> String {
    use edge::protocol::backend::Backend;
    let lead = lead(i, "win", FormKind::Giveaway);
    block_on(m.put_lead(&lead)).expect("stored");
    lead.id
}

/// Every `.rs` file below `dir`: what the source-reading tests read.
pub fn sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a file").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}
