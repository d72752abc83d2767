//! Feedback from the CRM (and mail tools), pure: who may call a feedback endpoint (signatures), and what
//! each source's body means for our leads (a stage, a withdrawal).
//!
//! Three sources, each verified its own way before anything is read: the generic one signs per Standard
//! Webhooks with the endpoint's `whsec_` secret; HubSpot signs its v3 way (HMAC-SHA256 over method, URI,
//! body and timestamp with the app's client secret) and sends `contact.propertyChange` events for
//! `lifecyclestage`; Pipedrive sends its webhooks with the HTTP basic auth set on them. Each source's
//! lead is found by its address (HubSpot and Pipedrive name their own contact, whose address the service
//! asks their API for). The service that applies it is `qualification`, the glue in `operator`.

use crate::rules::webhook::Secret;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::Mac;
use serde::Deserialize;
use shared::stage::Stage;

/// How far a signed request's timestamp may be from now: five minutes, as Standard Webhooks and HubSpot
/// recommend. Older requests are refused (replays), and within the window a request id is answered once.
pub const WINDOW_SECS: u64 = 300;

/// Why a feedback request is refused before it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A header the source always sends is missing or unreadable.
    Missing,
    /// The timestamp is outside the window.
    Stale,
    /// No signature (or credentials) matches.
    Forged,
}

/// Checks a Standard Webhooks request: `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`
/// (`v1,<base64>` entries, space-separated) against the endpoint's secrets.
pub fn verify_standard(secrets: &[Secret], id: Option<&str>, timestamp: Option<&str>, signature: Option<&str>, body: &str, now_ms: u64) -> Result<(), Refused> {
    let (id, timestamp, signature) = match (id, timestamp, signature) {
        (Some(i), Some(t), Some(s)) if !i.is_empty() => (i, t, s),
        _ => return Err(Refused::Missing),
    };
    let at: u64 = timestamp.trim().parse().map_err(|_| Refused::Missing)?;
    if (now_ms / 1000).abs_diff(at) > WINDOW_SECS {
        return Err(Refused::Stale);
    }
    let given: Vec<&str> = signature.split_whitespace().collect();
    let ok = secrets.iter().any(|s| {
        let expected = s.sign(id, at, body);
        given.iter().any(|g| crate::rules::digest::same(g.as_bytes(), expected.as_bytes()))
    });
    if ok {
        Ok(())
    } else {
        Err(Refused::Forged)
    }
}

/// HubSpot's v3 signature: base64 of HMAC-SHA256 (key: the app's client secret) over
/// `method + uri + body + timestamp` (HubSpot's "Validate requests using the v3 request signature").
pub fn hubspot_signature(client_secret: &str, method: &str, uri: &str, body: &str, timestamp: &str) -> String {
    let mut mac = crate::rules::digest::mac(client_secret.as_bytes());
    for part in [method, uri, body, timestamp] {
        mac.update(part.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Checks a HubSpot v3 request: `X-HubSpot-Signature-v3` and `X-HubSpot-Request-Timestamp` (ms).
pub fn verify_hubspot(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &str,
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_ms: u64,
) -> Result<(), Refused> {
    let (signature, timestamp) = match (signature, timestamp) {
        (Some(s), Some(t)) => (s.trim(), t.trim()),
        _ => return Err(Refused::Missing),
    };
    let at: u64 = timestamp.parse().map_err(|_| Refused::Missing)?;
    if now_ms.abs_diff(at) > WINDOW_SECS * 1000 {
        return Err(Refused::Stale);
    }
    let expected = hubspot_signature(client_secret, method, uri, body, timestamp);
    if crate::rules::digest::same(signature.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Refused::Forged)
    }
}

/// Checks HTTP basic auth (Pipedrive's webhooks send the user and password set on them) against
/// `user:password`.
pub fn verify_basic(expected: &str, authorization: Option<&str>) -> Result<(), Refused> {
    let given = authorization.and_then(|h| h.trim().strip_prefix("Basic ")).ok_or(Refused::Missing)?;
    let decoded = B64.decode(given.trim()).map_err(|_| Refused::Forged)?;
    if crate::rules::digest::same(&decoded, expected.as_bytes()) {
        Ok(())
    } else {
        Err(Refused::Forged)
    }
}

/// What one piece of feedback asks for, about one lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    /// Which lead: `Id` (ours) or `Email`.
    pub lead: LeadRef,
    /// The stage to move it to, if any.
    pub stage: Option<Stage>,
    /// Why, as the source says it (a default per source otherwise).
    pub reason: String,
    /// A consent purpose the person withdrew (a mail tool's unsubscribe), if any.
    pub withdrawn: Option<String>,
    /// What sales did that counts as the first touch (a call logged, a deal created), if anything: the
    /// owner working in the CRM need not press "contacted" too.
    pub touched: Option<String>,
}

/// How feedback names a lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadRef {
    /// Our lead id.
    Id(String),
    /// An address (every lead with it on the endpoint's forms).
    Email(String),
    /// A HubSpot contact id (its address is asked of HubSpot's API).
    HubspotContact(u64),
    /// A Pipedrive person id (its address is asked of Pipedrive's API).
    PipedrivePerson(u64),
}

/// Why a body cannot be used, said to the caller (no personal data in it).
pub type Unreadable = String;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generic {
    lead: String,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    consent_withdrawn: Option<String>,
    #[serde(default)]
    touched: Option<String>,
}

/// Reads the generic source's body: `{"lead": <id or email>, "stage": ..., "reason": ...,
/// "consent_withdrawn": <purpose id, or "all">, "touched": <what sales did: "call", "meeting", ...>}`.
pub fn generic(body: &str) -> Result<Ask, Unreadable> {
    let g: Generic = serde_json::from_str(body).map_err(|e| format!("The body is not feedback JSON: {e}."))?;
    let lead = if g.lead.starts_with("ld_") {
        LeadRef::Id(g.lead)
    } else if g.lead.contains('@') {
        LeadRef::Email(g.lead)
    } else {
        return Err("`lead` must be a lead id (ld_...) or an email address.".into());
    };
    let stage = match g.stage.as_deref() {
        Some(s) => Some(Stage::parse(s).ok_or_else(|| format!("`stage` must be one of {}.", Stage::ALL.map(Stage::as_str).join(", ")))?),
        None => None,
    };
    let touched = g.touched.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if touched.as_ref().is_some_and(|t| t.chars().count() > 100) {
        return Err("`touched` says what sales did in at most 100 characters.".into());
    }
    if stage.is_none() && g.consent_withdrawn.is_none() && touched.is_none() {
        return Err("Send a `stage`, a `consent_withdrawn` purpose or what sales did (`touched`).".into());
    }
    let reason = g.reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "reported by the CRM".into());
    Ok(Ask { lead, stage, reason, withdrawn: g.consent_withdrawn, touched })
}

/// Our stage for a HubSpot lifecycle stage (their internal values); `None` for one we do not track.
pub fn from_hubspot(value: &str) -> Option<Stage> {
    Some(match value {
        "subscriber" => Stage::Subscriber,
        "lead" => Stage::Lead,
        "marketingqualifiedlead" => Stage::Mql,
        "salesqualifiedlead" => Stage::Sql,
        "opportunity" => Stage::Opportunity,
        "customer" | "evangelist" => Stage::Customer,
        "other" => Stage::Disqualified,
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HubspotEvent {
    #[serde(default)]
    subscription_type: String,
    #[serde(default)]
    object_id: u64,
    #[serde(default)]
    property_name: Option<String>,
    #[serde(default)]
    property_value: Option<String>,
}

/// The lifecycle-stage changes in a HubSpot webhook batch (other events and properties are ignored).
pub fn hubspot(body: &str) -> Result<Vec<Ask>, Unreadable> {
    let events: Vec<HubspotEvent> = serde_json::from_str(body).map_err(|e| format!("The body is not a HubSpot event batch: {e}."))?;
    Ok(events
        .into_iter()
        .filter(|e| e.subscription_type == "contact.propertyChange")
        .filter_map(|e| {
            let value = e.property_value?;
            let lead = LeadRef::HubspotContact(e.object_id);
            match e.property_name.as_deref() {
                // A call, mail or meeting logged on the contact sets HubSpot's "last contacted".
                Some("notes_last_contacted") if !value.is_empty() => {
                    Some(Ask { lead, stage: None, reason: "contacted in HubSpot".into(), withdrawn: None, touched: Some("HubSpot activity logged".into()) })
                }
                Some("lifecyclestage") => {
                    let stage = from_hubspot(&value)?;
                    Some(Ask { lead, stage: Some(stage), reason: format!("HubSpot lifecycle stage set to {value}"), withdrawn: None, touched: None })
                }
                _ => None,
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct PipedriveMeta {
    #[serde(default)]
    action: String,
    #[serde(default)]
    object: String,
}

#[derive(Deserialize)]
struct PipedriveDeal {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    person_id: Option<serde_json::Value>,
    #[serde(default)]
    lost_reason: Option<String>,
}

#[derive(Deserialize)]
struct PipedriveHook {
    meta: PipedriveMeta,
    #[serde(default)]
    current: Option<PipedriveDeal>,
    #[serde(default)]
    previous: Option<PipedriveDeal>,
}

/// What a Pipedrive webhook (v1: `meta`, `current`, `previous`) about a deal means: a deal added (a lead
/// converted to a deal) is an `opportunity`; a deal whose status became `won` a `customer`, `lost`
/// `disqualified` with Pipedrive's lost reason. Anything else is nothing to do.
pub fn pipedrive(body: &str) -> Result<Option<Ask>, Unreadable> {
    let hook: PipedriveHook = serde_json::from_str(body).map_err(|e| format!("The body is not a Pipedrive webhook: {e}."))?;
    if hook.meta.object != "deal" {
        return Ok(None);
    }
    let Some(deal) = hook.current else { return Ok(None) };
    // Pipedrive sends the person as an id, or as an object with `value` holding the id.
    let person = match &deal.person_id {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::Object(o)) => o.get("value").and_then(serde_json::Value::as_u64),
        _ => None,
    };
    let Some(person) = person else { return Ok(None) };
    let before = hook.previous.and_then(|p| p.status);
    let touched = (hook.meta.action == "added").then(|| "Pipedrive deal created".to_owned());
    let (stage, reason) = match (hook.meta.action.as_str(), deal.status.as_deref()) {
        ("added", _) => (Stage::Opportunity, "Pipedrive deal created".to_owned()),
        ("updated", Some("won")) if before.as_deref() != Some("won") => (Stage::Customer, "Pipedrive deal won".to_owned()),
        ("updated", Some("lost")) if before.as_deref() != Some("lost") => {
            let why = deal.lost_reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "no reason given".into());
            (Stage::Disqualified, format!("Pipedrive deal lost: {why}"))
        }
        _ => return Ok(None),
    };
    Ok(Some(Ask { lead: LeadRef::PipedrivePerson(person), stage: Some(stage), reason, withdrawn: None, touched }))
}

/// The address in a CRM's answer about a contact: HubSpot's `{"properties": {"email": ...}}` or Pipedrive's
/// `{"data": {"email": [{"value": ..., "primary": true}, ...]}}` (the primary one, else the first).
pub fn contact_email(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if let Some(email) = v.pointer("/properties/email").and_then(serde_json::Value::as_str) {
        return Some(email.to_owned()).filter(|e| e.contains('@'));
    }
    let list = v.pointer("/data/email")?.as_array()?;
    let primary = list.iter().find(|e| e.get("primary").and_then(serde_json::Value::as_bool) == Some(true)).or(list.first())?;
    primary.get("value").and_then(serde_json::Value::as_str).map(str::to_owned).filter(|e| e.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_614_265_330_000;

    #[test]
    fn standard_webhooks_feedback_verifies_as_the_spec_signs_and_refuses_the_rest() {
        let secrets = crate::rules::webhook::parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let check = |id, ts, sig, body, now| verify_standard(&secrets, id, ts, sig, body, now);
        assert_eq!(check(Some("msg_p5jXN8AQM9LWM0D4loKWxJek"), Some("1614265330"), Some(good), body, NOW), Ok(()));
        let several = format!("v1,bm90IGl0 {good}");
        assert_eq!(check(Some("msg_p5jXN8AQM9LWM0D4loKWxJek"), Some("1614265330"), Some(several.as_str()), body, NOW), Ok(()), "any one of several signatures");
        assert_eq!(check(Some("msg_p5jXN8AQM9LWM0D4loKWxJek"), Some("1614265330"), Some(good), r#"{"test": 1}"#, NOW), Err(Refused::Forged));
        assert_eq!(check(Some("msg_other"), Some("1614265330"), Some(good), body, NOW), Err(Refused::Forged));
        assert_eq!(check(Some("msg_p5jXN8AQM9LWM0D4loKWxJek"), Some("1614265330"), Some(good), body, NOW + 301_000), Err(Refused::Stale));
        assert_eq!(check(None, Some("1614265330"), Some(good), body, NOW), Err(Refused::Missing));
        assert_eq!(check(Some("m"), Some("soon"), Some(good), body, NOW), Err(Refused::Missing));
    }

    #[test]
    fn hubspot_v3_signatures_and_lifecycle_events() {
        // Computed independently with Node's crypto (createHmac("sha256", secret).update(method + uri + body
        // + timestamp).digest("base64")), following HubSpot's documented algorithm.
        let body =
            r#"[{"eventId":1,"subscriptionType":"contact.propertyChange","objectId":51,"propertyName":"lifecyclestage","propertyValue":"salesqualifiedlead"}]"#;
        let sig = hubspot_signature("hs-client-secret", "POST", "https://collector.example/v1/feedback/hubspot", body, "1614265330000");
        assert_eq!(sig, "oOinSI8jhCaT8flukROJ9DL9bZ3c141ySiAD4BYAPA8=");
        let verify = |sig: &str, now| {
            verify_hubspot("hs-client-secret", "POST", "https://collector.example/v1/feedback/hubspot", body, Some(sig), Some("1614265330000"), now)
        };
        assert_eq!(verify(&sig, NOW + 1000), Ok(()));
        assert_eq!(verify(&sig, NOW + 301_000), Err(Refused::Stale));
        assert_eq!(verify("AAAA", NOW), Err(Refused::Forged));
        let asks = hubspot(body).unwrap();
        assert_eq!(
            asks,
            vec![Ask {
                lead: LeadRef::HubspotContact(51),
                stage: Some(Stage::Sql),
                reason: "HubSpot lifecycle stage set to salesqualifiedlead".into(),
                withdrawn: None,
                touched: None,
            }]
        );
        let call = r#"[{"subscriptionType":"contact.propertyChange","objectId":51,"propertyName":"notes_last_contacted","propertyValue":"1733400000000"}]"#;
        let asks = hubspot(call).unwrap();
        assert_eq!((asks[0].stage, asks[0].touched.as_deref()), (None, Some("HubSpot activity logged")), "a logged call is a touch");
        assert!(hubspot(r#"[{"subscriptionType":"contact.creation","objectId":1}]"#).unwrap().is_empty());
        assert!(hubspot("{}").is_err());
    }

    #[test]
    fn pipedrive_deals_become_opportunities_customers_or_disqualified() {
        let hook = |action: &str, status: &str, before: &str| {
            format!(
                r#"{{"meta":{{"action":"{action}","object":"deal"}},"current":{{"status":"{status}","person_id":{{"value":7}},"lost_reason":"too expensive"}},"previous":{{"status":"{before}"}}}}"#
            )
        };
        let added = pipedrive(&hook("added", "open", "")).unwrap().unwrap();
        assert_eq!((added.stage, added.touched.as_deref()), (Some(Stage::Opportunity), Some("Pipedrive deal created")), "a deal created is a touch");
        let won = pipedrive(&hook("updated", "won", "open")).unwrap().unwrap();
        assert_eq!((won.lead, won.stage), (LeadRef::PipedrivePerson(7), Some(Stage::Customer)));
        let lost = pipedrive(&hook("updated", "lost", "open")).unwrap().unwrap();
        assert_eq!((lost.stage, lost.reason.as_str()), (Some(Stage::Disqualified), "Pipedrive deal lost: too expensive"));
        assert_eq!(pipedrive(&hook("updated", "won", "won")).unwrap(), None, "an update of a won deal is not a second win");
        assert_eq!(pipedrive(r#"{"meta":{"action":"updated","object":"person"}}"#).unwrap(), None);
        assert_eq!(verify_basic("leadgate:s3cret", Some(&format!("Basic {}", B64.encode("leadgate:s3cret")))), Ok(()));
        assert_eq!(verify_basic("leadgate:s3cret", Some(&format!("Basic {}", B64.encode("leadgate:guess")))), Err(Refused::Forged));
        assert_eq!(verify_basic("leadgate:s3cret", None), Err(Refused::Missing));
    }

    #[test]
    fn contact_addresses_from_hubspot_and_pipedrive() {
        assert_eq!(contact_email(r#"{"id":"51","properties":{"email":"ada@example.com"}}"#).as_deref(), Some("ada@example.com"));
        let pd = r#"{"data":{"email":[{"value":"old@example.com","primary":false},{"value":"ada@example.com","primary":true}]}}"#;
        assert_eq!(contact_email(pd).as_deref(), Some("ada@example.com"));
        assert_eq!(contact_email(r#"{"data":{"email":[{"value":"","primary":true}]}}"#), None);
        assert_eq!(contact_email("not json"), None);
    }

    #[test]
    fn generic_feedback_names_a_lead_and_a_stage_or_a_withdrawal() {
        let ask = generic(r#"{"lead":"ld_01JD","stage":"sql","reason":"qualified on the phone"}"#).unwrap();
        assert_eq!((ask.lead, ask.stage), (LeadRef::Id("ld_01JD".into()), Some(Stage::Sql)));
        let unsub = generic(r#"{"lead":"ada@example.com","consent_withdrawn":"marketing_email"}"#).unwrap();
        assert_eq!((unsub.lead, unsub.withdrawn.as_deref()), (LeadRef::Email("ada@example.com".into()), Some("marketing_email")));
        assert!(generic(r#"{"lead":"ada@example.com"}"#).is_err());
        let call = generic(r#"{"lead":"ada@example.com","touched":"call"}"#).unwrap();
        assert_eq!((call.stage, call.touched.as_deref()), (None, Some("call")));
        assert!(generic(r#"{"lead":"someone","stage":"sql"}"#).is_err());
        assert!(generic(r#"{"lead":"ld_1","stage":"hot"}"#).unwrap_err().contains("`stage` must be one of"));
        assert!(generic(r#"{"lead":"ld_1","stage":"sql","extra":1}"#).is_err());
    }
}
