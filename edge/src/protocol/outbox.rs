//! The outbox: one delivery record per lead and endpoint, written before the lead is acknowledged, and the
//! rules for when to try again.
//!
//! A lead is only worth something once the CRM has it, so the record of what still has to be sent is
//! written in the same transaction that settles the lead. Only the ledger's alarm attempts deliveries, at
//! each one's due time; the scheduled handler only wakes the ledger in case an alarm was lost.

use serde::{Deserialize, Serialize};

/// The default retry delays after the first attempt, in seconds: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
/// 20 h, 24 h (the Standard Webhooks / Svix schedule). After the last one the delivery is dead-lettered.
pub const SCHEDULE_SECS: &[u64] = &[5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not yet accepted by the endpoint; will be tried (again) at `next_at_ms`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; kept for inspection and manual replay.
    Dead,
}

impl State {
    /// The state's name, as the admin API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }
}

/// One event to deliver to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The `webhook-id`: stable across retries so receivers can deduplicate.
    pub id: String,
    /// The lead this is about.
    pub lead_id: String,
    /// The form the lead came from.
    pub form: String,
    /// The endpoint's id in the form's config.
    pub endpoint: String,
    /// The event type.
    pub event: String,
    /// The exact body to send (signed per attempt).
    pub payload: String,
    /// Where it stands.
    pub state: State,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (Unix ms).
    pub next_at_ms: u64,
    /// The HTTP status of the last attempt, if one was received.
    #[serde(default)]
    pub last_status: Option<u16>,
    /// Why the last attempt failed, without personal data.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Someone is waiting for it right now (the mail a visitor was just told to look for): it is attempted
    /// before any backlog, and never paced behind one. See [`pick_due`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
}

/// What an attempt's result means for the delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: done.
    Delivered,
    /// Network error, timeout, 3xx, 429, 5xx, other 4xx: try again later.
    Retry,
    /// 410 Gone: the endpoint asks not to be called again (for a mail API: it refused the mail for good).
    Gone,
}

/// Classifies an attempt by its HTTP status (`None` for a network error or timeout).
pub fn classify(status: Option<u16>) -> Outcome {
    match status {
        Some(200..=299) => Outcome::Delivered,
        Some(410) => Outcome::Gone,
        _ => Outcome::Retry,
    }
}

/// Classifies a mail API's answer: 2xx sent; a 4xx that says the request itself is wrong (400, 401, 403,
/// 404, 405, 413, 415, 422: a bad key, an unverified sender, a refused address) will fail again however
/// often it is retried, so it is final ([`Outcome::Gone`]); 408, 409, 429, other statuses and network errors
/// are retried.
pub fn classify_mail(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        400 | 401 | 403 | 404 | 405 | 413 | 415 | 422 => Outcome::Gone,
        _ => Outcome::Retry,
    }
}

impl Delivery {
    /// A new delivery of `payload` (event `event` about `lead_id`) to one endpoint, due at once.
    pub fn pending(id: String, lead_id: &str, form: &str, endpoint: &str, event: &str, payload: &str, now_ms: u64) -> Delivery {
        Delivery {
            id,
            lead_id: lead_id.to_owned(),
            form: form.to_owned(),
            endpoint: endpoint.to_owned(),
            event: event.to_owned(),
            payload: payload.to_owned(),
            state: State::Pending,
            attempts: 0,
            next_at_ms: now_ms,
            last_status: None,
            last_error: None,
            urgent: false,
        }
    }

    /// The same delivery in the urgent lane: a person is waiting for it (see [`pick_due`]).
    pub fn urgent(self) -> Delivery {
        Delivery { urgent: true, ..self }
    }

    /// Records a failed attempt: schedules the next one (honouring `Retry-After` when it asks for longer),
    /// or dead-letters the delivery when the schedule is used up. `jitter` in 0..=1 spreads retries of many
    /// deliveries so a recovering endpoint is not hit all at once.
    pub fn failed(&mut self, now_ms: u64, status: Option<u16>, error: Option<String>, retry_after_secs: Option<u64>, jitter: f64, schedule: &[u64]) {
        self.attempts += 1;
        self.last_status = status;
        self.last_error = error;
        match schedule.get(self.attempts as usize - 1) {
            Some(&delay) => {
                let wait = delay.max(retry_after_secs.unwrap_or(0).min(MAX_RETRY_AFTER_SECS));
                let base = wait.saturating_mul(1000);
                let spread = (base as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as u64;
                self.next_at_ms = now_ms.saturating_add(base).saturating_add(spread);
            }
            None => self.state = State::Dead,
        }
    }

    /// Records an attempt whose answer is final: dead at once, with `why` (and the status, over HTTP).
    pub fn refused(&mut self, status: Option<u16>, why: &str) {
        self.attempts += 1;
        self.last_status = status;
        self.last_error = Some(why.to_owned());
        self.state = State::Dead;
    }

    /// Records a successful attempt.
    pub fn delivered(&mut self, status: u16) {
        self.attempts += 1;
        self.last_status = Some(status);
        self.last_error = None;
        self.state = State::Delivered;
    }
}

/// Picks up to `budget` due deliveries, taking turns between endpoints so that one endpoint's long outage
/// (thousands of waiting deliveries) cannot starve the retries of the others. `due` is `(endpoint key,
/// delivery id)` in the order found; within an endpoint that order is kept (oldest first).
pub fn fair_share(due: Vec<(String, String)>, budget: usize) -> Vec<String> {
    let mut queues: Vec<(String, std::collections::VecDeque<String>)> = Vec::new();
    for (endpoint, id) in due {
        match queues.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, q)) => q.push_back(id),
            None => queues.push((endpoint, [id].into())),
        }
    }
    let mut picked = Vec::new();
    while picked.len() < budget && queues.iter().any(|(_, q)| !q.is_empty()) {
        for (_, q) in queues.iter_mut() {
            if picked.len() == budget {
                break;
            }
            if let Some(id) = q.pop_front() {
                picked.push(id);
            }
        }
    }
    picked
}

/// Picks up to `budget` due deliveries from the outbox's two lanes. A backlog (a large import, an endpoint that was down for a day) can hold
/// tens of thousands of due deliveries; what a person is waiting for at this moment (the confirmation mail
/// of the sign-up they just made, the mail with their download) must not wait behind it. Urgent deliveries
/// are taken first, every run, and their queueing wakes the alarm at once; the bulk lane is shared fairly
/// between endpoints and drained at a bounded pace (see `ledger::PACE_MS`), so a backlog neither starves
/// the other endpoints nor crowds the intake out of the object it shares.
///
/// Every urgent one comes first (oldest first), then the bulk lane's fair share (see [`fair_share`]). Both
/// lists are `(endpoint key, delivery id)` in the order found.
pub fn pick_due(urgent: Vec<(String, String)>, bulk: Vec<(String, String)>, budget: usize) -> Vec<String> {
    let mut picked: Vec<String> = urgent.into_iter().map(|(_, id)| id).take(budget).collect();
    let rest = budget - picked.len();
    picked.extend(fair_share(bulk.into_iter().filter(|(_, id)| !picked.contains(id)).collect(), rest));
    picked
}

/// The longest wait an endpoint's `Retry-After` can ask for: a day. Longer asks are capped, so a hostile or
/// broken receiver cannot park deliveries forever or overflow the schedule.
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// Reads a `Retry-After` header: delay seconds or an HTTP date (RFC 9110), as seconds from `now_ms`,
/// capped at [`MAX_RETRY_AFTER_SECS`]. `None` when it is neither.
pub fn retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time".
        return Some(value.parse::<u64>().unwrap_or(u64::MAX).min(MAX_RETRY_AFTER_SECS));
    }
    let at = shared::time::http_date(value)?;
    Some((at.saturating_sub(now_ms) / 1000).min(MAX_RETRY_AFTER_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery::pending("msg_1".into(), "ld_1", "f", "crm", "lead.created", "{}", 0)
    }

    #[test]
    fn statuses_are_classified_as_the_spec_asks() {
        assert_eq!(classify(Some(204)), Outcome::Delivered);
        assert_eq!(classify(Some(410)), Outcome::Gone);
        assert_eq!(
            (classify_mail(202), classify_mail(401), classify_mail(422), classify_mail(429), classify_mail(503)),
            (Outcome::Delivered, Outcome::Gone, Outcome::Gone, Outcome::Retry, Outcome::Retry)
        );
        for s in [None, Some(301), Some(400), Some(429), Some(500), Some(503)] {
            assert_eq!(classify(s), Outcome::Retry, "{s:?}");
        }
    }

    #[test]
    fn the_schedule_walks_then_dead_letters() {
        let mut d = delivery();
        d.failed(1_000, Some(500), None, None, 0.0, SCHEDULE_SECS);
        assert_eq!((d.attempts, d.next_at_ms, d.state), (1, 6_000, State::Pending));
        d.failed(10_000, None, Some("timeout".into()), None, 1.0, SCHEDULE_SECS);
        assert_eq!(d.next_at_ms, 10_000 + 300_000 + 30_000, "jitter adds up to 10%");
        for _ in 2..SCHEDULE_SECS.len() {
            d.failed(0, Some(503), None, None, 0.0, SCHEDULE_SECS);
            assert_eq!(d.state, State::Pending);
        }
        d.failed(0, Some(503), None, None, 0.0, SCHEDULE_SECS);
        assert_eq!((d.state, d.attempts as usize), (State::Dead, SCHEDULE_SECS.len() + 1));
    }

    #[test]
    fn a_backlog_on_one_endpoint_does_not_starve_another() {
        let mut due: Vec<(String, String)> = (0..100).map(|i| ("crm-a".to_string(), format!("a{i}"))).collect();
        due.push(("crm-b".into(), "b0".into()));
        due.push(("crm-b".into(), "b1".into()));
        let picked = fair_share(due, 5);
        assert_eq!(picked, vec!["a0", "b0", "a1", "b1", "a2"]);
        assert_eq!(fair_share(vec![("x".into(), "1".into())], 40), vec!["1"]);
        let key = |e: &str, id: &str| (e.to_owned(), id.to_owned());
        let bulk = vec![key("crm", "b1"), key("crm", "b2"), key("sheet", "b3")];
        assert_eq!(pick_due(vec![key("_mail", "u1")], bulk.clone(), 3), ["u1", "b1", "b3"], "the urgent lane first, then turns");
        assert_eq!(pick_due(vec![key("_mail", "u1"), key("_mail", "u2")], bulk, 1), ["u1"], "a run full of urgent mail takes no bulk");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_capped_at_a_day() {
        let now = shared::time::parse("2026-11-30T12:00:00Z").unwrap();
        assert_eq!(retry_after(" 120 ", now), Some(120));
        assert_eq!(retry_after("Mon, 30 Nov 2026 12:05:00 GMT", now), Some(300));
        assert_eq!(retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now), Some(0), "a date in the past means now");
        assert_eq!(retry_after("18446744073709551615", now), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(retry_after("99999999999999999999999", now), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("soon", now), None);
        let mut d = delivery();
        d.failed(u64::MAX - 10, Some(429), None, Some(u64::MAX), 1.0, SCHEDULE_SECS);
        assert_eq!(d.next_at_ms, u64::MAX, "no overflow, whatever the header said");
        let mut d = delivery();
        d.failed(0, Some(503), None, Some(u64::MAX), 0.0, SCHEDULE_SECS);
        assert_eq!(d.next_at_ms, MAX_RETRY_AFTER_SECS * 1000);
    }

    #[test]
    fn retry_after_can_only_lengthen_the_wait() {
        let mut d = delivery();
        d.failed(0, Some(429), None, Some(60), 0.0, SCHEDULE_SECS);
        assert_eq!(d.next_at_ms, 60_000);
        let mut d = delivery();
        d.failed(0, Some(429), None, Some(1), 0.0, SCHEDULE_SECS);
        assert_eq!(d.next_at_ms, 5_000);
    }
}
