//! What several service tests build the same way: a stored lead made directly (without the intake), for
//! tests that need thousands of them.

use shared::form::FormKind;
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
