//! CRM adapters: each turns a lead event into the HTTP request a CRM's own intake API takes.
//!
//! They are pure functions from event to request, snapshot-tested below; the delivery service only sends what they return.
//! Which endpoint speaks which protocol is `Endpoint::adapter` in the config; `standard` (our signed event
//! JSON) needs no adapter. Field names are mapped by a per-adapter default table plus the endpoint's `map`,
//! and fields mapped nowhere are not sent: a CRM form rejects properties it does not know.

use crate::rules::decoding::{form_urlencode, percent_encode};
use crate::rules::webhook::EventType;
use serde::Serialize;
use serde_json::{json, Value};
use shared::consent::Basis;
use shared::form::{Adapter, Endpoint};
use shared::lead::Lead;
use shared::stage::Stage;

/// An HTTP request as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outbound {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers besides the ones every delivery carries.
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any.
    pub body: Option<String>,
}

/// What an endpoint answered to an [`Outbound`] request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Its `Retry-After`, in seconds (see `outbox::retry_after`).
    pub retry_after: Option<u64>,
    /// The body, when it was asked for ([`Read::Body`]).
    pub body: String,
}

/// How much of an answer a call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The status line and headers only: a webhook's answer counts from its status, and a receiver that
    /// streams a slow body must not turn a delivered lead into a timeout and a duplicate.
    Status,
    /// The body too (Pipedrive's ids, Turnstile's verdict); it counts toward the timeout.
    Body,
}

/// Whether an adapter takes an event at all. Form-submission APIs cannot delete, and Web-to-Lead and
/// Pipedrive's lead creation would duplicate on every update; those events are not queued for such
/// endpoints (the admin API's erasure answer names the endpoints that need a manual erasure).
pub fn accepts(adapter: Adapter, event: EventType) -> bool {
    match (adapter, event) {
        (Adapter::Standard, _) => true,
        // Double opt-in forms announce a lead on confirmation instead of on creation.
        (Adapter::Hubspot, EventType::LeadCreated | EventType::LeadConfirmed | EventType::LeadUpdated | EventType::LeadStageChanged) => true,
        (Adapter::Salesforce | Adapter::Pipedrive, EventType::LeadCreated | EventType::LeadConfirmed) => true,
        _ => false,
    }
}

/// Default field names per adapter: `(ours, theirs)`. The endpoint's `map` adds to and overrides these.
fn defaults(adapter: Adapter) -> &'static [(&'static str, &'static str)] {
    match adapter {
        Adapter::Hubspot => &[
            ("email", "email"),
            ("first_name", "firstname"),
            ("last_name", "lastname"),
            ("phone", "phone"),
            ("street", "address"),
            ("postal_code", "zip"),
            ("city", "city"),
            ("country", "country"),
            ("company", "company"),
            ("job_title", "jobtitle"),
            ("website", "website"),
            ("message", "message"),
        ],
        Adapter::Salesforce => &[
            ("email", "email"),
            ("first_name", "first_name"),
            ("last_name", "last_name"),
            ("phone", "phone"),
            ("street", "street"),
            ("postal_code", "zip"),
            ("city", "city"),
            ("country", "country"),
            ("company", "company"),
            ("job_title", "title"),
            ("website", "URL"),
            ("message", "description"),
        ],
        Adapter::Standard | Adapter::Pipedrive => &[],
    }
}

/// The lead's fields under the CRM's names, in our field order.
fn mapped<'a>(endpoint: &'a Endpoint, lead: &'a Lead) -> Vec<(&'a str, &'a str)> {
    lead.fields
        .iter()
        .filter_map(|(ours, value)| {
            let theirs = match endpoint.map.get(ours) {
                Some(name) => name.as_str(),
                None => defaults(endpoint.adapter).iter().find(|(o, _)| o == ours)?.1,
            };
            (!theirs.is_empty()).then_some((theirs, value.as_str()))
        })
        .collect()
}

fn field<'a>(lead: &'a Lead, name: &str) -> Option<&'a str> {
    lead.fields.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// HubSpot Forms API v3: `POST {url}` (the form's submit URL) with the fields, the page as `context`, and
/// `legalConsentOptions` built from our consent record: consented purposes with a configured subscription
/// type become `communications`; a granted legitimate-interest purpose becomes `legitimateInterest`.
pub fn hubspot(endpoint: &Endpoint, lead: &Lead, now_ms: u64) -> Outbound {
    let mut fields: Vec<Value> = mapped(endpoint, lead).into_iter().map(|(name, value)| json!({"objectTypeId": "0-1", "name": name, "value": value})).collect();
    // Our stage as HubSpot's lifecycle stage (HubSpot itself never moves it back through a form).
    fields.push(json!({"objectTypeId": "0-1", "name": "lifecyclestage", "value": hubspot_stage(lead.stage)}));
    let mut context = json!({"pageName": lead.form});
    if let Some(page) = &lead.source.page {
        if let Some(c) = context.as_object_mut() {
            c.insert("pageUri".into(), json!(page));
        }
    }
    let entries = &lead.consent.entries;
    let interest = entries.iter().find(|e| e.basis == Basis::LegitimateInterest && e.granted);
    let legal = match interest {
        Some(e) => json!({"legitimateInterest": {
            "value": true,
            "subscriptionTypeId": endpoint.subscriptions.get(&e.purpose),
            "legalBasis": "LEGITIMATE_INTEREST_PQL",
            "text": e.text,
        }}),
        None => {
            let communications: Vec<Value> = entries
                .iter()
                .filter_map(|e| {
                    let id = endpoint.subscriptions.get(&e.purpose)?;
                    Some(json!({"value": e.granted, "subscriptionTypeId": id, "text": e.text}))
                })
                .collect();
            let text = ["Submitted through the Leadgate form \"", &lead.form, "\" at ", &lead.consent.recorded_at, "; consent record of lead ", &lead.id, "."]
                .concat();
            json!({"consent": {
                // The visitor sent the form to get what it offers; processing for that is agreed by sending
                // it. The marketing purposes, each with the exact text shown, are the communications.
                "consentToProcess": true,
                "text": text,
                "communications": communications,
            }})
        }
    };
    let body = json!({"submittedAt": now_ms.to_string(), "fields": fields, "context": context, "legalConsentOptions": legal});
    Outbound { method: "POST", url: endpoint.url.clone(), headers: vec![("Content-Type", "application/json".into())], body: Some(body.to_string()) }
}

/// HubSpot's lifecycle stage for ours (`disqualified` is HubSpot's `other`).
pub fn hubspot_stage(stage: Stage) -> &'static str {
    match stage {
        Stage::Subscriber => "subscriber",
        Stage::Lead => "lead",
        Stage::Mql => "marketingqualifiedlead",
        Stage::Sql => "salesqualifiedlead",
        Stage::Opportunity => "opportunity",
        Stage::Customer => "customer",
        Stage::Disqualified => "other",
    }
}

/// Salesforce Web-to-Lead: `POST {url}` as a form with `oid`, the mapped fields, the lead source and
/// `emailOptOut` unless email marketing was granted.
pub fn salesforce(endpoint: &Endpoint, lead: &Lead) -> Outbound {
    let mut pairs: Vec<(&str, String)> = vec![("oid", endpoint.oid.clone().unwrap_or_default())];
    pairs.extend(mapped(endpoint, lead).into_iter().map(|(k, v)| (k, v.to_owned())));
    pairs.push(("lead_source", ["Leadgate: ", &lead.form].concat()));
    if !lead.grants("marketing_email") {
        pairs.push(("emailOptOut", "1".into()));
    }
    Outbound {
        method: "POST",
        url: endpoint.url.clone(),
        headers: vec![("Content-Type", "application/x-www-form-urlencoded".into())],
        body: Some(form_urlencode(&pairs)),
    }
}

/// Pipedrive in three steps, so that a retry never creates a second person: find the person by email,
/// create it if there is none, then create the lead for it.
pub mod pipedrive {
    use super::*;

    fn api(endpoint: &Endpoint, path: &str) -> String {
        [endpoint.url.trim_end_matches('/'), path].concat()
    }

    fn headers(token: &str) -> Vec<(&'static str, String)> {
        // The token goes in a header, not the `api_token` query parameter, so it never shows up in logged URLs.
        vec![("Content-Type", "application/json".into()), ("x-api-token", token.to_owned())]
    }

    /// Step 1: `GET /v1/persons/search` for the lead's email, exact match.
    pub fn find_person(endpoint: &Endpoint, token: &str, lead: &Lead) -> Outbound {
        let email = field(lead, "email").unwrap_or_default();
        let url = api(endpoint, &["/v1/persons/search?fields=email&exact_match=true&term=", &percent_encode(email)].concat());
        Outbound { method: "GET", url, headers: headers(token), body: None }
    }

    /// The id of the first person a search found.
    pub fn found(body: &str) -> Option<u64> {
        serde_json::from_str::<Value>(body).ok()?.pointer("/data/items/0/item/id")?.as_u64()
    }

    /// Step 2, when the search found nobody: `POST /v1/persons` with name, email, phone, and the marketing
    /// status from our consent record.
    pub fn create_person(endpoint: &Endpoint, token: &str, lead: &Lead) -> Outbound {
        let email = field(lead, "email").unwrap_or_default();
        let name = [field(lead, "first_name"), field(lead, "last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let mut person = json!({
            "name": if name.is_empty() { email } else { name.as_str() },
            "email": [{"value": email, "primary": true, "label": "work"}],
            "marketing_status": if lead.grants("marketing_email") { "subscribed" } else { "no_consent" },
        });
        if let Some(phone) = field(lead, "phone") {
            if let Some(p) = person.as_object_mut() {
                p.insert("phone".into(), json!([{"value": phone, "primary": true, "label": "work"}]));
            }
        }
        for (theirs, value) in mapped(endpoint, lead) {
            if let Some(p) = person.as_object_mut() {
                p.insert(theirs.to_string(), json!(value));
            }
        }
        Outbound { method: "POST", url: api(endpoint, "/v1/persons"), headers: headers(token), body: Some(person.to_string()) }
    }

    /// The id of the person step 2 created.
    pub fn created(body: &str) -> Option<u64> {
        serde_json::from_str::<Value>(body).ok()?.pointer("/data/id")?.as_u64()
    }

    /// Step 3: `POST /v1/leads` for the person, titled with the form and the score.
    pub fn create_lead(endpoint: &Endpoint, token: &str, lead: &Lead, person_id: u64) -> Outbound {
        let title = ["Leadgate ", &lead.form, " (score ", &lead.score.total.to_string(), ")"].concat();
        let body = json!({"title": title, "person_id": person_id});
        Outbound { method: "POST", url: api(endpoint, "/v1/leads"), headers: headers(token), body: Some(body.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A B2C lead with email marketing granted, and a B2B one on legitimate interest.
    fn lead(b2b: bool) -> Lead {
        let consent = if b2b {
            json!({"entries": [{"purpose": "b2b_marketing", "granted": true, "basis": "legitimate_interest", "text": "We will email you about similar services; object any time.", "version": 1, "lang": "en", "text_sha256": "ab"}],
                   "lang": "en", "recorded_at": "2026-11-23T10:00:00.000Z", "page": "https://shop.example/ebook", "client_id": "c1"})
        } else {
            json!({"entries": [{"purpose": "marketing_email", "granted": true, "basis": "consent", "text": "Send me the newsletter.", "version": 2, "lang": "de", "text_sha256": "cd"},
                               {"purpose": "partner_offers", "granted": false, "basis": "consent", "text": "Partner offers.", "version": 1, "lang": "de", "text_sha256": "ef"}],
                   "lang": "de", "recorded_at": "2026-11-23T10:00:00.000Z", "page": "https://shop.example/news?utm_source=x", "client_id": "c2"})
        };
        serde_json::from_value(json!({
            "id": "01JXLEAD", "form": if b2b { "ebook" } else { "newsletter" }, "kind": if b2b { "download_gate" } else { "newsletter" },
            "status": "new", "created_at": "2026-11-23T10:00:00.000Z", "updated_at": "2026-11-23T10:00:00.000Z",
            "fields": {"email": "jürgen.müller@example.de", "first_name": "Jürgen", "last_name": "Müller & Söhne", "company": "Müller GmbH",
                       "job_title": "Einkauf", "phone": "+4917123456789", "team_size": "11-50"},
            "consent": consent, "consent_history": [],
            "source": {"page": "https://shop.example/ebook", "referrer": null, "utm": {"source": "linkedin"}},
            "engagement": {"confirmed": false, "downloads": 0, "submissions": 1}, "score": {"total": 35, "reasons": ["+20 company", "+15 decision-maker"], "stage": "lead"}
        }))
        .unwrap()
    }

    fn endpoint(adapter: Adapter, extra: Value) -> Endpoint {
        let mut e = json!({"id": "crm", "url": "https://crm.example/api/", "adapter": adapter});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(e).unwrap()
    }

    /// The request as a snapshot: JSON bodies parsed, so the snapshot shows structure, not escaping.
    fn shown(r: &Outbound) -> Value {
        let body = r.body.as_deref().map(|b| serde_json::from_str::<Value>(b).unwrap_or_else(|_| json!(b)));
        json!({"method": r.method, "url": r.url, "headers": r.headers, "body": body})
    }

    #[test]
    fn hubspot_submission_with_consent_communications() {
        let e = endpoint(Adapter::Hubspot, json!({"map": {"team_size": "company_size"}, "subscriptions": {"marketing_email": 1001}}));
        insta::assert_json_snapshot!(shown(&hubspot(&e, &lead(false), 1_795_000_000_000)));
    }

    #[test]
    fn hubspot_submission_on_legitimate_interest() {
        let e = endpoint(Adapter::Hubspot, json!({"map": {"job_title": ""}, "subscriptions": {"b2b_marketing": 2002}}));
        insta::assert_json_snapshot!(shown(&hubspot(&e, &lead(true), 1_795_000_000_000)));
    }

    #[test]
    fn salesforce_web_to_lead() {
        let e = endpoint(Adapter::Salesforce, json!({"oid": "00D000000000001"}));
        insta::assert_json_snapshot!(shown(&salesforce(&e, &lead(false))));
        let opted_out = salesforce(&e, &lead(true));
        assert!(opted_out.body.unwrap().ends_with("&emailOptOut=1"), "no email marketing without its consent");
    }

    #[test]
    fn pipedrive_find_create_and_lead() {
        let e = endpoint(Adapter::Pipedrive, json!({"token": "PIPEDRIVE_TOKEN", "map": {"team_size": "8f3c_team_size"}}));
        let l = lead(false);
        insta::assert_json_snapshot!(json!([
            shown(&pipedrive::find_person(&e, "tok", &l)),
            shown(&pipedrive::create_person(&e, "tok", &l)),
            shown(&pipedrive::create_lead(&e, "tok", &l, 42)),
        ]));
        assert_eq!(pipedrive::found(r#"{"success":true,"data":{"items":[{"result_score":1,"item":{"id":7,"name":"J"}}]}}"#), Some(7));
        assert_eq!(pipedrive::found(r#"{"success":true,"data":{"items":[]}}"#), None);
        assert_eq!(pipedrive::created(r#"{"success":true,"data":{"id":9}}"#), Some(9));
    }

    #[test]
    fn adapters_take_only_what_their_api_can_do() {
        assert!(accepts(Adapter::Standard, EventType::LeadErased));
        assert!(accepts(Adapter::Hubspot, EventType::LeadUpdated), "a HubSpot submission updates the contact");
        assert!(!accepts(Adapter::Hubspot, EventType::LeadErased));
        assert!(!accepts(Adapter::Salesforce, EventType::LeadUpdated), "Web-to-Lead would create a duplicate");
        assert!(!accepts(Adapter::Pipedrive, EventType::LeadErased));
    }

    #[test]
    fn resubmissions_do_not_grow_the_event() {
        // Every resubmission keeps the previous consent record (Art. 7 proof); events carry only the count,
        // so a lead that signs up fifty times is no heavier for a receiver than a new one.
        let mut l = lead(false);
        let once = crate::rules::webhook::payload(EventType::LeadUpdated, "2026-11-23T10:00:00.000Z", &l);
        l.consent_history = vec![l.consent.clone(); 50];
        let often = crate::rules::webhook::payload(EventType::LeadUpdated, "2026-11-23T10:00:00.000Z", &l);
        assert_eq!(often.len(), once.len() + 1, "only the count's digits differ");
        assert!(often.contains("\"consent_changes\":50") && !often.contains("consent_history"));
    }
}
