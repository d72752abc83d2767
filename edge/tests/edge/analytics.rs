//! Form analytics over the memory backend: reports summed in the isolate's buffer and written once per
//! form and window, a failed write kept for the next, days cut at midnight UTC, unique visitors counted
//! once a day with a salt that changes daily, abandons taken back by a submission, and the join with the
//! lead funnel.

use crate::fixtures::{intake, memory, NOW};
use edge::platform::memory::Op;
use edge::protocol::analytics::{self, Buffer, By, Kind, Report, DAY_MS};
use edge::protocol::backend::Backend;
use edge::rules::beacon::{self, Beacon};
use edge::services::analytics::{count, flush, report, take, Sender};
use futures::executor::block_on;
use shared::form::{FormDef, FormsConfig};
use std::cell::RefCell;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}, {"name": "first_name"}]},
            {"id": "fair", "kind": "newsletter", "unique_visitors": true, "fields": [{"name": "email", "required": true}]}
        ]
    }))
    .expect("a config")
}

fn report_of(body: &str) -> Beacon {
    beacon::parse(body.as_bytes()).expect("a report")
}

const ALICE: Sender<'static> = Sender { client: "c_alice", user_agent: "Firefox" };

fn read(m: &edge::platform::memory::Memory, form: &FormDef, by: By) -> Report {
    let day = m.now_ms() / DAY_MS;
    block_on(report(m, form, day - 3, day + 1, by)).expect("a report")
}

#[test]
fn many_reports_are_one_write_per_form_and_window_and_the_rates_are_exact() {
    let (m, config) = (memory(), config());
    let buffer = RefCell::new(Buffer::default());
    let (news, fair) = (config.form("news").unwrap(), config.form("fair").unwrap());
    let mut scheduled = 0;
    // 20 page views: all saw the form, 10 started, 4 sent it, 3 left at the email field, 2 at the name.
    for i in 0..20 {
        let body = match i {
            0..4 => r#"{"form":"news","source":"fair","view":1,"start":1,"submit":1,"errors":[["email",2]]}"#,
            4..7 => r#"{"form":"news","source":"fair","view":1,"start":1,"abandon":["","email"],"errors":[["email",1]]}"#,
            7..9 => r#"{"form":"news","view":1,"start":1,"abandon":["","first_name"]}"#,
            9 => r#"{"form":"news","view":1,"start":1}"#,
            _ => r#"{"form":"news","view":1}"#,
        };
        scheduled += usize::from(take(&buffer, news, &report_of(body), &ALICE, m.now_ms()).unwrap());
        scheduled += usize::from(count(&buffer, "news", Kind::Load, m.now_ms()));
    }
    scheduled += usize::from(take(&buffer, fair, &report_of(r#"{"form":"fair","view":1}"#), &ALICE, m.now_ms()).unwrap());
    assert_eq!(scheduled, 1, "one write is scheduled for the whole window");
    let (written, again) = block_on(flush(&m, &buffer));
    assert_eq!((written, again, m.count(Op::Count)), (2, false, 2), "one write per form, not per page view");

    let got = read(&m, news, By::Source);
    let t = &got.total;
    assert_eq!((t.loads, t.views, t.starts, t.submissions, t.abandons), (Some(20), 20, 10, 4, 5));
    assert_eq!((t.start_rate, t.conversion_rate, t.completion_rate), (Some(0.5), Some(0.2), Some(0.4)));
    let errors: Vec<(&str, &str, u64)> = t.errors.iter().map(|e| (e.field.as_str(), e.code.as_str(), e.count)).collect();
    assert_eq!(errors, vec![("email", "invalid_email", 4), ("email", "required", 3)]);
    let dropoff: Vec<(&str, u64)> = t.dropoff.iter().map(|d| (d.field.as_str(), d.count)).collect();
    assert_eq!(dropoff, vec![("email", 3), ("first_name", 2)]);
    assert_eq!(t.visitors, None, "the form does not count visitors");
    let groups: Vec<(&str, Option<u64>, u64, u64)> = got.groups.iter().map(|g| (g.key.as_str(), g.loads, g.views, g.submissions)).collect();
    assert_eq!(groups, vec![("(none)", None, 13, 0), ("fair", None, 7, 4)], "loads have no source");
    assert_eq!(got.plain_form.views, None, "the plain form's views are unknown");
}

#[test]
fn a_failed_write_keeps_its_counts_for_the_next() {
    let (m, config) = (memory(), config());
    let buffer = RefCell::new(Buffer::default());
    let news = config.form("news").unwrap();
    take(&buffer, news, &report_of(r#"{"form":"news","view":1,"start":1}"#), &ALICE, NOW).unwrap();
    m.fail(Op::Count, 1);
    let (written, again) = block_on(flush(&m, &buffer));
    assert_eq!((written, again), (0, true), "the failed batch is back and wants a write");
    assert_eq!(read(&m, news, By::Source).total.views, 0);
    take(&buffer, news, &report_of(r#"{"form":"news","view":1}"#), &ALICE, NOW).unwrap();
    assert_eq!(block_on(flush(&m, &buffer)), (1, false));
    let t = read(&m, news, By::Source).total;
    assert_eq!((t.views, t.starts), (2, 1), "nothing lost, nothing twice");
}

#[test]
fn reports_count_on_the_day_they_arrive_cut_at_midnight_utc() {
    let (m, config) = (memory(), config());
    let buffer = RefCell::new(Buffer::default());
    let news = config.form("news").unwrap();
    let midnight = (NOW / DAY_MS + 1) * DAY_MS;
    m.advance(midnight - 1 - m.now_ms());
    take(&buffer, news, &report_of(r#"{"form":"news","view":1}"#), &ALICE, m.now_ms()).unwrap();
    m.advance(1);
    take(&buffer, news, &report_of(r#"{"form":"news","view":1,"start":1}"#), &ALICE, m.now_ms()).unwrap();
    take(&buffer, news, &report_of(r#"{"form":"news","view":1}"#), &ALICE, m.now_ms()).unwrap();
    block_on(flush(&m, &buffer));
    let got = read(&m, news, By::Day);
    let days: Vec<(String, u64, u64)> = got.groups.iter().map(|g| (g.key.clone(), g.views, g.starts)).collect();
    let date = |ms: u64| shared::time::rfc3339(ms)[..10].to_owned();
    assert_eq!(days, vec![(date(midnight), 2, 1), (date(midnight - 1), 1, 0)], "one window, two days");
    assert_eq!(got.total.views, 3);
}

#[test]
fn unique_visitors_are_counted_once_a_day_and_again_the_next() {
    let (m, config) = (memory(), config());
    let buffer = RefCell::new(Buffer::default());
    let fair = config.form("fair").unwrap();
    let bob = Sender { client: "c_bob", user_agent: "Firefox" };
    let view = report_of(r#"{"form":"fair","view":1}"#);
    for sender in [&ALICE, &ALICE, &bob] {
        take(&buffer, fair, &view, sender, m.now_ms()).unwrap();
    }
    block_on(flush(&m, &buffer));
    // Alice again in a later window of the same day: already seen.
    take(&buffer, fair, &view, &ALICE, m.now_ms()).unwrap();
    block_on(flush(&m, &buffer));
    let t = read(&m, fair, By::Day).total;
    assert_eq!((t.views, t.visitors), (4, Some(2)));
    // The next day Alice is new again: the day before's digests are gone with its salt.
    m.advance(DAY_MS);
    take(&buffer, fair, &view, &ALICE, m.now_ms()).unwrap();
    block_on(flush(&m, &buffer));
    let got = read(&m, fair, By::Day);
    assert_eq!((got.total.views, got.total.visitors), (5, Some(3)));
    let per_day: Vec<Option<u64>> = got.groups.iter().map(|g| g.visitors).collect();
    assert_eq!(per_day, vec![Some(2), Some(1)]);
    // The same client with another browser is another visitor; a start without a view counts no one.
    take(&buffer, fair, &view, &Sender { client: "c_alice", user_agent: "Chrome" }, m.now_ms()).unwrap();
    take(&buffer, fair, &report_of(r#"{"form":"fair","start":1}"#), &Sender { client: "c_carol", user_agent: "Chrome" }, m.now_ms()).unwrap();
    block_on(flush(&m, &buffer));
    assert_eq!(read(&m, fair, By::Day).total.visitors, Some(4));
}

#[test]
fn a_submission_after_leaving_takes_the_abandon_back() {
    let (m, config) = (memory(), config());
    let buffer = RefCell::new(Buffer::default());
    let news = config.form("news").unwrap();
    // The tab was hidden after typing (an abandon at the name), then the visitor came back and sent it.
    take(&buffer, news, &report_of(r#"{"form":"news","view":1,"start":1,"abandon":["","first_name"]}"#), &ALICE, NOW).unwrap();
    block_on(flush(&m, &buffer));
    assert_eq!(read(&m, news, By::Source).total.abandons, 1);
    take(&buffer, news, &report_of(r#"{"form":"news","submit":1,"abandon":["first_name",""]}"#), &ALICE, NOW).unwrap();
    block_on(flush(&m, &buffer));
    let t = read(&m, news, By::Source).total;
    assert_eq!((t.abandons, t.submissions, t.dropoff.len()), (0, 1, 0));
}

#[test]
fn the_report_joins_the_lead_funnel_of_the_same_sources() {
    let (m, config) = (memory(), config());
    let buffer = RefCell::new(Buffer::default());
    let news = config.form("news").unwrap();
    for (i, source) in ["fair", "fair", "ads"].iter().enumerate() {
        let sub = serde_json::from_value(serde_json::json!({
            "form": "news", "fields": {"email": format!("p{i}@example.com")}, "meta": {"elapsed_ms": 9000, "utm": {"source": source}}
        }))
        .unwrap();
        block_on(edge::services::submission::take(&m, &intake(&config, "news"), sub)).expect("stored");
        take(&buffer, news, &report_of(&format!(r#"{{"form":"news","source":"{source}","view":1,"start":1,"submit":1}}"#)), &ALICE, m.now_ms()).unwrap();
    }
    take(&buffer, news, &report_of(r#"{"form":"news","source":"fair","view":1}"#), &ALICE, m.now_ms()).unwrap();
    block_on(flush(&m, &buffer));
    let got = read(&m, news, By::Source);
    let steps = |key: &str| -> Vec<(String, u64)> {
        let line = if key == "total" { &got.total } else { got.groups.iter().find(|g| g.key == key).unwrap() };
        line.funnel.iter().take(2).map(|s| (s.step.clone(), s.count)).collect()
    };
    assert_eq!(steps("fair"), vec![("views".into(), 3), ("leads".into(), 2)]);
    assert_eq!(steps("ads"), vec![("views".into(), 1), ("leads".into(), 1)]);
    assert_eq!(steps("total"), vec![("views".into(), 4), ("leads".into(), 3)]);
    assert_eq!(got.groups.first().map(|g| g.key.as_str()), Some("fair"), "the most viewed first");
}

#[test]
fn an_ab_test_reports_each_variant_against_the_control_with_its_leads() {
    let m = memory();
    let config: FormsConfig = serde_json::from_value(serde_json::json!({"forms": [{
        "id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
        "variants": [{"name": "plain"}, {"name": "bold", "title": {"en": "Ideas every Monday"}}, {"name": "quiet", "weight": 2}]
    }]}))
    .expect("a config");
    let news = config.form("news").unwrap();
    let buffer = RefCell::new(Buffer::default());
    // 100 views of each of the first two: 10 against 25 sent and stored; "quiet" was not seen yet.
    for (variant, sent) in [("plain", 10), ("bold", 25)] {
        for i in 0..100 {
            let submit = i < sent;
            let body = format!(r#"{{"form":"news","variant":"{variant}","view":1,"start":{},"submit":{}}}"#, u8::from(submit), u8::from(submit));
            take(&buffer, news, &report_of(&body), &ALICE, m.now_ms()).unwrap();
            if submit {
                let sub = serde_json::from_value(serde_json::json!({
                    "form": "news", "fields": {"email": format!("{variant}{i}@example.com")}, "meta": {"elapsed_ms": 9000, "variant": variant}
                }))
                .unwrap();
                block_on(edge::services::submission::take(&m, &intake(&config, "news"), sub)).expect("stored");
            }
        }
    }
    take(&buffer, news, &report_of(r#"{"form":"news","view":1}"#), &ALICE, m.now_ms()).unwrap();
    block_on(flush(&m, &buffer));
    let got = read(&m, news, By::Variant);
    let lines: Vec<(&str, u64, u64, u64)> = got.groups.iter().map(|g| (g.key.as_str(), g.views, g.submissions, g.funnel[1].count)).collect();
    assert_eq!(lines, vec![("plain", 100, 10, 10), ("bold", 100, 25, 25), ("quiet", 0, 0, 0)], "the form's order, every variant, leads per variant");
    assert_eq!(got.total.views, 200, "by variant, the total is of the page views that showed one");
    assert_eq!(read(&m, news, By::Source).total.views, 201, "every view counts in the other groupings");
    assert!(got.groups[0].versus.is_none(), "the control is not compared with itself");
    let bold = got.groups[1].versus.as_ref().expect("compared");
    assert_eq!(bold.control, "plain");
    assert!((bold.difference - 0.15).abs() < 1e-12);
    // 10% against 25% of 100 each: z = 0.15 / sqrt(0.175 * 0.825 * 0.02) = 2.80, p = 0.005.
    assert!((bold.z.unwrap() - 2.80).abs() < 0.01 && bold.confidence.unwrap() > 0.99, "{bold:?}");
    let quiet = got.groups[2].versus.as_ref().expect("compared");
    assert_eq!((quiet.z, quiet.confidence), (None, None), "no views: nothing to tell yet");
    assert_eq!(got.total.visitors, None);

    let unknown = serde_json::from_value(serde_json::json!({
        "form": "news", "fields": {"email": "eve@example.com"}, "meta": {"elapsed_ms": 9000, "variant": "made-up"}
    }))
    .unwrap();
    let refused = block_on(edge::services::submission::take(&m, &intake(&config, "news"), unknown)).map(|t| t.status);
    assert!(matches!(&refused, Err(edge::Error::Malformed(m)) if m.contains("meta.variant")), "{refused:?}");
}

#[test]
fn a_buffer_does_not_grow_with_made_up_campaigns() {
    let mut buffer = Buffer::default();
    for i in 0..analytics::MAX_KEYS + 500 {
        buffer.add("news", analytics::Key::new(NOW, "ads", &format!("c{i}"), Kind::View), 1);
    }
    let batches = buffer.take();
    let counts = &batches[0].counts;
    assert_eq!(counts.len(), analytics::MAX_KEYS + 1, "the rest is folded into one key");
    let other: i64 = counts.iter().filter(|(k, _)| k.campaign == analytics::OTHER).map(|(_, n)| *n).sum();
    assert_eq!(other, 500, "and still counted");
    assert!(buffer.take().is_empty() && !buffer.schedule(), "taken means empty");
}
