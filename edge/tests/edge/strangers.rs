//! What a stranger learns by submitting somebody's address: everything an answer carries is compared for a
//! new and a known address, on download gates with and without double opt-in, natively over the memory
//! backend (`tests/download.test.mjs` compares the same through workerd).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use edge::platform::memory::Memory;
use edge::services::submission::{take, Intake};
use edge::{rules::receipt, rules::token};
use futures::executor::block_on;
use serde_json::Value;
use shared::form::FormsConfig;
use shared::lead::Status;

use crate::fixtures::NOW;
const SIGNING: &str = "signing-secret-for-tests";

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "mail": {"url": "https://mail.example/send", "from": "News <news@example.com>", "resend_after_minutes": 0},
        "forms": [
            {"id": "gate", "kind": "download_gate", "asset": {"key": "guide.pdf", "filename": "guide.pdf"},
             "fields": [{"name": "email", "required": true}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "text": {"en": "Send me news."}}]},
            {"id": "doigate", "kind": "download_gate", "double_opt_in": true, "asset": {"key": "guide.pdf", "filename": "guide.pdf"},
             "fields": [{"name": "email", "required": true}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me news."}}]}
        ]
    }))
    .unwrap()
}

fn answer(m: &Memory, config: &FormsConfig, form: &str, email: &str) -> Value {
    let intake =
        Intake { config, form: config.form(form).unwrap(), signing: SIGNING, origin: "https://c.example", key: None, client: Some("c_stranger".into()) };
    let sub = serde_json::from_value(serde_json::json!({"form": form, "fields": {"email": email, "company": "Acme"}, "consent": ["marketing_email"]})).unwrap();
    let taken = block_on(take(m, &intake, sub)).unwrap();
    assert_eq!(taken.status, 201);
    taken.body
}

/// Everything in an answer that could name a stored lead, a time or a state, read as a stranger can read
/// it (the token's payload is base64url JSON; the receipt's content is public through the verify route).
fn visible(body: &Value) -> Vec<String> {
    let mut seen = vec![body["id"].as_str().unwrap().to_owned(), body["status"].as_str().unwrap().to_owned()];
    let content = receipt::verify(SIGNING.as_bytes(), body["receipt"].as_str().unwrap()).unwrap();
    seen.extend([content.lead, content.recorded_at]);
    if let Some(url) = body.get("download_url").and_then(Value::as_str) {
        let token = url.rsplit('/').next().unwrap();
        let payload = B64URL.decode(token.split_once('.').unwrap().0).unwrap();
        seen.push(String::from_utf8(payload).unwrap());
    }
    seen
}

/// The keys of an answer and the length of each value: what stays the same between any two answers.
fn shape(body: &Value) -> Vec<(String, usize)> {
    body.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().map_or(0, str::len))).collect()
}

#[test]
fn a_known_address_gets_the_answer_a_new_one_gets_on_a_download_gate() {
    let (m, config) = (Memory::at(NOW), config());
    answer(&m, &config, "gate", "known@example.com");
    let stored = m.leads.borrow().values().next().cloned().unwrap();
    m.advance(3_600_000);
    let known = answer(&m, &config, "gate", "known@example.com");
    let new = answer(&m, &config, "gate", "new@example.com");
    assert_eq!(shape(&known), shape(&new), "{known} vs {new}");
    assert_eq!(known["status"], new["status"]);
    for seen in visible(&known) {
        assert!(!seen.contains(&stored.id), "the stored lead's id shows: {seen}");
        assert!(!seen.contains(&stored.created_at), "its sign-up time shows: {seen}");
        assert!(!seen.contains(&stored.id[3..13]), "the time part of its id shows: {seen}");
    }
    // Both answers' ids and receipts were made now, for this submission.
    assert_eq!(&known["id"].as_str().unwrap()[..13], &new["id"].as_str().unwrap()[..13]);
    // The link still works, and on the stored lead: the person gets the file again.
    let url = known["download_url"].as_str().unwrap();
    let lead = token::verify(SIGNING.as_bytes(), token::Purpose::Download, url.rsplit('/').next().unwrap(), NOW + 3_600_000).unwrap();
    assert_eq!(lead, stored.id);
}

#[test]
fn on_a_double_opt_in_gate_a_confirmed_address_gets_no_link_in_the_answer_but_one_by_mail() {
    let (m, config) = (Memory::at(NOW), config());
    answer(&m, &config, "doigate", "known@example.com");
    let id = m.leads.borrow().values().next().unwrap().id.clone();
    block_on(edge::services::confirmation::confirm(&m, &config, &id, None, None)).unwrap();
    assert_eq!(m.leads.borrow()[&id].status, Status::Confirmed);
    m.advance(3_600_000);
    let mails_before = m.outbox().values().filter(|d| d.event == "mail.confirmation").count();
    let known = answer(&m, &config, "doigate", "known@example.com");
    let new = answer(&m, &config, "doigate", "new@example.com");
    assert_eq!(shape(&known), shape(&new), "{known} vs {new}");
    assert!(known.get("download_url").is_none(), "a link only a confirmed address could have would tell it apart");
    assert_eq!(known["status"], "pending", "every first answer on the form says pending");
    // Both addresses get a mail: the new one to confirm, the known one with the way to its file.
    let mails: Vec<_> = m.outbox().into_values().filter(|d| d.event == "mail.confirmation").collect();
    assert_eq!(mails.len(), mails_before + 2);
    let to_known = mails.iter().find(|d| d.lead_id == id && d.payload.contains("Your download")).expect("a download mail to the known address");
    assert!(to_known.payload.contains("/v1/confirm/"), "its link opens the page with the download");
}
