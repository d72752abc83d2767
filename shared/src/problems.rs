//! The config's problems: every mistake that would make a config misbehave at run time, found before the
//! collector starts, each with the path of the place to fix (`forms[0] (newsletter).fields[2] (phone).type`).

#[cfg(feature = "server")]
use alloc::string::ToString;
use alloc::{borrow::ToOwned, format, string::String, vec::Vec};

use crate::config::{FeedbackSource, FormsConfig, MAX_EVENT_TYPES};
use crate::field::FieldType;
use crate::form::{is_http_url, is_redirect_target, is_secret_name, is_slug, normalize_origin, Adapter, FormKind, Mode};
use crate::lang::Texts;
#[cfg(feature = "server")]
use validator::Validate;

impl FormsConfig {
    /// Every problem that would make the config misbehave at run time, as `(path, problem)` pairs; empty when
    /// the config is sound. Run at start (by `cargo xtask` and the edge) so a broken config never reaches a
    /// visitor.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        // The static shape first (counts, lengths, URL syntax), by the `validator` derive.
        #[cfg(feature = "server")]
        if let Err(e) = self.validate() {
            flatten_validation("", &e, &mut out);
        }
        let mut push = |path: String, msg: &str| out.push((path, msg.to_owned()));
        for (i, form) in self.forms.iter().enumerate() {
            let at = |rest: &str| format!("forms[{i}] ({}){rest}", form.id);
            if !is_slug(&form.id) {
                push(at(".id"), "use 1 to 64 lowercase letters, digits, '-' or '_'");
            }
            if self.forms.iter().filter(|f| f.id == form.id).count() > 1 {
                push(at(".id"), "another form has the same id");
            }
            match form.fields.iter().find(|f| f.name == "email") {
                None => push(at(".fields"), "every form needs an `email` field: a lead must be reachable"),
                Some(f) if !f.required => push(at(".fields.email"), "the email field must be required"),
                Some(_) => {}
            }
            for (j, field) in form.fields.iter().enumerate() {
                let fat = |rest: &str| at(&format!(".fields[{j}] ({}){rest}", field.name));
                if !is_slug(&field.name) || field.name.contains('-') {
                    push(fat(".name"), "use lowercase letters, digits and '_'");
                }
                if form.fields.iter().filter(|f| f.name == field.name).count() > 1 {
                    push(fat(".name"), "the form declares this field twice");
                }
                if field.standard().is_none() && field.ty.is_none() {
                    push(fat(".type"), "a custom field needs a type (text, textarea, select, checkbox, number, url, phone)");
                }
                if field.standard().is_none() && field.label.as_ref().is_none_or(Texts::is_empty) {
                    push(fat(".label"), "a custom field needs a label (en and/or de)");
                }
                if field.kind() == FieldType::Select && field.options.is_empty() {
                    push(fat(".options"), "a select field needs options");
                }
                if field.kind() != FieldType::Select && !field.options.is_empty() {
                    push(fat(".options"), "only select fields have options");
                }
                if field.kind() == FieldType::Email && field.name != "email" {
                    push(fat(".type"), "only the `email` field may be an email field");
                }
            }
            for (j, purpose) in form.consents.iter().enumerate() {
                let pat = |rest: &str| at(&format!(".consents[{j}] ({}){rest}", purpose.id));
                if !is_slug(&purpose.id) {
                    push(pat(".id"), "use lowercase letters, digits, '-' or '_'");
                }
                if form.consents.iter().filter(|p| p.id == purpose.id).count() > 1 {
                    push(pat(".id"), "the form declares this purpose twice");
                }
                if purpose.text.is_empty() {
                    push(pat(".text"), "the exact consent text is needed (en and/or de): it is what the record proves");
                }
                if purpose.basis == crate::consent::Basis::LegitimateInterest && form.mode != Mode::B2b {
                    push(pat(".basis"), "legitimate interest is only available to B2B forms; B2C marketing needs consent");
                }
                if purpose.basis == crate::consent::Basis::LegitimateInterest && purpose.required {
                    push(pat(".required"), "a legitimate-interest notice cannot be required: nothing is ticked");
                }
                if form.kind == FormKind::Giveaway && purpose.required && purpose.id != crate::consent::GIVEAWAY_RULES {
                    push(pat(".required"), "a giveaway may only require accepting its rules (GDPR Art. 7(4): no coupling)");
                }
            }
            match (form.kind, &form.giveaway) {
                (FormKind::Giveaway, None) => push(at(".giveaway"), "a giveaway needs starts_at, ends_at and rules_url"),
                (FormKind::Giveaway, Some(g)) => {
                    let (start, end) = (crate::time::parse(&g.starts_at), crate::time::parse(&g.ends_at));
                    if start.is_none() {
                        push(at(".giveaway.starts_at"), "not a date (use 2026-12-01 or 2026-12-01T09:00:00+01:00)");
                    }
                    if end.is_none() {
                        push(at(".giveaway.ends_at"), "not a date (use 2026-12-24 or 2026-12-24T23:59:59+01:00)");
                    }
                    if let (Some(s), Some(e)) = (start, end) {
                        if e <= s {
                            push(at(".giveaway.ends_at"), "the giveaway must end after it starts");
                        }
                    }
                    if !is_http_url(&g.rules_url) && !g.rules_url.starts_with('/') {
                        push(at(".giveaway.rules_url"), "use an http(s) URL or a path starting with /");
                    }
                    let rules = form.consents.iter().find(|p| p.id == crate::consent::GIVEAWAY_RULES);
                    if !rules.is_some_and(|p| p.required) {
                        push(at(".consents"), "a giveaway needs a required `giveaway_rules` purpose");
                    }
                }
                (_, Some(_)) => push(at(".giveaway"), "only giveaway forms have giveaway settings"),
                (_, None) => {}
            }
            if form.kind == FormKind::DownloadGate && form.asset.is_none() {
                push(at(".asset"), "a download gate needs an asset (key, filename)");
            }
            for (name, url) in [("thank_you_url", &form.thank_you_url), ("error_url", &form.error_url)] {
                if url.as_ref().is_some_and(|u| !is_redirect_target(u)) {
                    push(at(&format!(".{name}")), "use an absolute http(s) URL or a path starting with a single / (not //host or /\\host)");
                }
            }
            if form.variants.len() == 1 {
                push(at(".variants"), "a test needs at least two variants (one may set no texts: it is the form as it is)");
            }
            for (j, variant) in form.variants.iter().enumerate() {
                let vat = |rest: &str| at(&format!(".variants[{j}] ({}){rest}", variant.name));
                if !is_slug(&variant.name) {
                    push(vat(".name"), "use 1 to 64 lowercase letters, digits, '-' or '_'");
                }
                if form.variants.iter().filter(|v| v.name == variant.name).count() > 1 {
                    push(vat(".name"), "another variant has the same name");
                }
            }
            for (j, origin) in form.allowed_origins.iter().enumerate() {
                if let Err(problem) = normalize_origin(origin) {
                    push(at(&format!(".allowed_origins[{j}]")), problem);
                }
            }
            if i == 0 && self.rate_limit.is_some_and(|r| r.period != 10 && r.period != 60) {
                push("rate_limit.period".into(), "the Workers rate limiting binding counts per 10 or per 60 seconds");
            }
            let rules = &form.scoring;
            if rules.events.len() > MAX_EVENT_TYPES {
                push(at(".scoring.events"), "name at most 30 event types");
            }
            for kind in rules.events.keys() {
                if !is_slug(kind) || kind.len() > 40 || [crate::score::CONFIRMED, crate::score::DOWNLOAD, crate::score::REPEAT].contains(&kind.as_str()) {
                    push(
                        at(&format!(".scoring.events.{kind}")),
                        "use 1 to 40 lowercase letters, digits, '-' or '_' (confirmed, download and repeat are built in)",
                    );
                }
            }
            if rules.half_life_days == 0 || rules.half_life_days > 3650 {
                push(at(".scoring.half_life_days"), "use 1 to 3650 days");
            }
            if let Some(def) = &form.lead_definition {
                for name in &def.requires {
                    if !form.fields.iter().any(|f| &f.name == name) {
                        push(at(".lead_definition.requires"), "require only fields this form declares");
                    }
                }
                if def.because.as_ref().is_some_and(|b| b.chars().count() > crate::stage::MAX_REASON) {
                    push(at(".lead_definition.because"), "say why in at most 500 characters");
                }
            }
            if form.double_opt_in && self.mail.is_none() {
                push(at(".double_opt_in"), "double opt-in sends confirmation emails: add a [mail] table (url, from, key)");
            }
            for (j, hook) in form.webhooks.iter().enumerate() {
                let hat = |rest: &str| at(&format!(".webhooks[{j}] ({}){rest}", hook.id));
                if !is_slug(&hook.id) {
                    push(hat(".id"), "use lowercase letters, digits, '-' or '_'");
                }
                if !is_http_url(&hook.url) {
                    push(hat(".url"), "use an http(s) URL");
                }
                if !is_secret_name(&hook.secret) {
                    push(hat(".secret"), "name an environment secret in UPPER_SNAKE_CASE, not the secret itself");
                }
                match hook.adapter {
                    Adapter::Salesforce if hook.oid.is_none() => push(hat(".oid"), "Salesforce Web-to-Lead needs your organisation id (oid)"),
                    Adapter::Pipedrive if !hook.token.as_deref().is_some_and(is_secret_name) => {
                        push(hat(".token"), "name the environment secret holding the Pipedrive API token, in UPPER_SNAKE_CASE")
                    }
                    _ => {}
                }
                if hook.map.keys().any(|k| !form.fields.iter().any(|f| &f.name == k)) {
                    push(hat(".map"), "map only fields this form declares");
                }
            }
        }
        if let Some(mail) = &self.mail {
            if mail.url.is_none() && mail.provider == crate::config::MailProvider::Http {
                push("mail.url".into(), "the http provider needs the url mails are POSTed to (or name a provider: resend, postmark, sendgrid, brevo)");
            }
            if mail.url.is_some() && mail.provider == crate::config::MailProvider::Cloudflare {
                push("mail.url".into(), "Cloudflare's Email Service is reached through the Worker's send_email binding, not a url");
            }
            if mail.stream.is_some() && mail.provider != crate::config::MailProvider::Postmark {
                push("mail.stream".into(), "only Postmark has message streams");
            }
            if crate::email::sender(&mail.from).is_none() {
                push("mail.from".into(), "use an address, or a name and an address: Beispiel GmbH <news@beispiel.de>");
            }
        }
        for (i, owner) in self.owners.iter().enumerate() {
            let at = |rest: &str| format!("owners[{i}] ({}){rest}", owner.id);
            if !unique_slug(&owner.id, self.owners.iter().map(|o| o.id.as_str())) {
                push(at(".id"), "use a unique id of lowercase letters, digits, '-' or '_'");
            }
            if owner.name.trim().is_empty() || owner.name.chars().count() > 200 {
                push(at(".name"), "give a name of 1 to 200 characters");
            }
            if owner.email.as_deref().is_some_and(|e| crate::email::check(e).is_err()) {
                push(at(".email"), "not an email address");
            }
            if owner.away_until.as_deref().is_some_and(|d| crate::time::parse(d).is_none()) {
                push(at(".away_until"), "a date (YYYY-MM-DD) or a time (RFC 3339)");
            }
        }
        for (i, form) in self.forms.iter().enumerate() {
            let Some(assign) = &form.assign else { continue };
            let at = |rest: &str| format!("forms[{i}] ({}).assign{rest}", form.id);
            let known = |id: &String| self.owners.iter().any(|o| &o.id == id);
            let named: Vec<&String> = assign.owners.iter().chain(assign.map.values()).chain(assign.owner.iter()).chain(assign.fallback.iter()).collect();
            if let Some(problem) = assign.hours.as_ref().and_then(crate::hours::WorkingHours::problem) {
                push(at(".hours"), problem);
            }
            if assign.respond_within_minutes.is_some_and(|m| !(1..=43_200).contains(&m)) {
                push(at(".respond_within_minutes"), "give 1 to 43200 minutes (30 days)");
            }
            if assign.respond_within_seconds.is_some_and(|s| s == 0 || s > 2_592_000) {
                push(at(".respond_within_seconds"), "give 1 to 2592000 seconds (30 days)");
            }
            if assign.hours.is_some() && assign.respond_within_ms().is_none() {
                push(at(".hours"), "working hours count a response time: set respond_within_minutes too");
            }
            if named.iter().any(|id| !known(id)) {
                push(at(""), "name only owners of the [[owners]] list");
            }
            match assign.rule {
                crate::owner::Rule::Fixed if assign.owner.is_none() => push(at(".owner"), "a fixed assignment needs its owner"),
                crate::owner::Rule::Field if !assign.field.as_ref().is_some_and(|f| form.fields.iter().any(|d| &d.name == f)) => {
                    push(at(".field"), "name a field this form declares")
                }
                crate::owner::Rule::Field if assign.map.is_empty() => push(at(".map"), "map values to owners"),
                crate::owner::Rule::RoundRobin if self.owners.is_empty() => push(at(".rule"), "round-robin needs [[owners]]"),
                _ => {}
            }
        }
        for (i, f) in self.feedback.iter().enumerate() {
            let at = |rest: &str| format!("feedback[{i}] ({}){rest}", f.id);
            if !unique_slug(&f.id, self.feedback.iter().map(|x| x.id.as_str())) {
                push(at(".id"), "use a unique id of lowercase letters, digits, '-' or '_'");
            }
            if !is_secret_name(&f.secret) {
                push(at(".secret"), "name an environment secret in UPPER_SNAKE_CASE, not the secret itself");
            }
            match (f.source, &f.token) {
                (FeedbackSource::Hubspot | FeedbackSource::Pipedrive, None) => {
                    push(at(".token"), "name the secret holding an API token: calls name a contact, whose address is looked up")
                }
                (_, Some(t)) if !is_secret_name(t) => push(at(".token"), "name an environment secret in UPPER_SNAKE_CASE"),
                _ => {}
            }
            if f.api.as_ref().is_some_and(|u| !is_http_url(u)) {
                push(at(".api"), "use an http(s) URL");
            }
            if f.forms.iter().any(|id| !self.forms.iter().any(|form| &form.id == id)) {
                push(at(".forms"), "name only forms of this config");
            }
        }
        for (i, integration) in self.integrations.iter().enumerate() {
            let at = |rest: &str| format!("integrations[{i}] ({}){rest}", integration.id);
            if !unique_slug(&integration.id, self.integrations.iter().map(|x| x.id.as_str())) {
                push(at(".id"), "use a unique id of lowercase letters, digits, '-' or '_'");
            }
            if !is_secret_name(&integration.key) {
                push(at(".key"), "name an environment secret in UPPER_SNAKE_CASE, not the key itself");
            }
            if integration.forms.iter().any(|id| !self.forms.iter().any(|form| &form.id == id)) {
                push(at(".forms"), "name only forms of this config");
            }
            let scored = |kind: &String| {
                self.forms.iter().filter(|f| integration.forms.is_empty() || integration.forms.contains(&f.id)).any(|f| f.scoring.points(kind).is_some())
            };
            if !integration.events.iter().all(scored) {
                push(at(".events"), "name only event types the forms it may reach score");
            }
        }
        out
    }
}

/// Whether `id` is a slug that occurs once among `all` (owners, feedback endpoints, integrations).
fn unique_slug<'a>(id: &str, all: impl Iterator<Item = &'a str>) -> bool {
    is_slug(id) && all.filter(|other| *other == id).nth(1).is_none()
}

/// Turns `validator`'s nested errors into `(path, problem)` pairs like the hand-written checks produce.
#[cfg(feature = "server")]
fn flatten_validation(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<(String, String)>) {
    use validator::ValidationErrorsKind as Kind;
    let mut fields: Vec<_> = errors.errors().iter().collect();
    crate::order::sort_by_key(&mut fields, |(name, _)| name.to_string());
    for (name, kind) in fields {
        let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        match kind {
            Kind::Field(list) => {
                for e in list {
                    let problem = match (e.code.as_ref(), e.params.get("min"), e.params.get("max")) {
                        ("length", min, max) => format!(
                            "must have {} to {} entries or characters",
                            min.map_or("0".into(), |v| v.to_string()),
                            max.map_or("any number".into(), |v| v.to_string())
                        ),
                        ("url", _, _) => "not a valid URL".to_string(),
                        ("range", min, max) => {
                            format!("must be between {} and {}", min.map_or("-".into(), |v| v.to_string()), max.map_or("-".into(), |v| v.to_string()))
                        }
                        (code, _, _) => code.to_string(),
                    };
                    out.push((path.clone(), problem));
                }
            }
            Kind::Struct(inner) => flatten_validation(&path, inner, out),
            Kind::List(items) => {
                for (i, inner) in items {
                    flatten_validation(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimit;
    #[cfg(feature = "server")]
    use crate::consent::Purpose;
    use crate::form::tests::form;
    use crate::form::{Endpoint, FormDef};
    use std::prelude::rust_2021::*;
    use std::vec;

    #[test]
    fn the_secrets_a_config_needs_are_listed_with_their_reasons() {
        let mut config = FormsConfig { forms: vec![form(&["https://www.example.com"])], ..FormsConfig::default() };
        let names = |c: &FormsConfig| c.secrets().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(&config), vec!["ADMIN_TOKEN", "SIGNING_SECRET"]);
        config.rate_limit = Some(RateLimit { limit: 5, period: 60 });
        assert_eq!(names(&config), vec!["ADMIN_TOKEN", "CLIENT_ID_SECRET", "SIGNING_SECRET"]);
        assert!(config.secrets()[0].1.contains("32 characters"));
    }

    #[test]
    fn a_sound_config_has_no_problems() {
        let config = FormsConfig { forms: vec![form(&["https://www.example.com"])], ..FormsConfig::default() };
        assert_eq!(config.problems(), Vec::<(String, String)>::new());
    }

    #[test]
    fn problems_name_the_place() {
        let mut f = form(&["https://www.example.com/path"]);
        f.fields[0].required = false;
        f.id = "Bad Id".into();
        let problems = FormsConfig { forms: vec![f], ..FormsConfig::default() }.problems();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"forms[0] (Bad Id).id"), "{problems:?}");
        assert!(paths.contains(&"forms[0] (Bad Id).fields.email"), "{problems:?}");
        assert!(paths.contains(&"forms[0] (Bad Id).allowed_origins[0]"), "{problems:?}");
    }

    #[test]
    fn a_variant_test_needs_two_variants_with_distinct_slugs() {
        let problems = |variants: serde_json::Value| {
            let mut f = form(&["https://www.example.com"]);
            f.variants = serde_json::from_value(variants).unwrap();
            FormsConfig { forms: vec![f], ..FormsConfig::default() }.problems()
        };
        assert_eq!(problems(serde_json::json!([{"name": "a"}, {"name": "b", "title": {"en": "Hi"}, "weight": 3}])), []);
        let one = problems(serde_json::json!([{"name": "a"}]));
        assert!(one.iter().any(|(p, m)| p.ends_with(".variants") && m.contains("two variants")), "{one:?}");
        let same = problems(serde_json::json!([{"name": "a"}, {"name": "a"}, {"name": "B C", "weight": 0}]));
        let paths: Vec<&str> = same.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.iter().any(|p| p.ends_with(".variants[1] (a).name")), "{same:?}");
        assert!(paths.iter().any(|p| p.ends_with(".variants[2] (B C).name")), "{same:?}");
        if cfg!(feature = "server") {
            assert!(paths.iter().any(|p| p.contains("variants[2].weight")), "the weight's range, by the derive: {same:?}");
            let five = problems(serde_json::json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}, {"name": "e"}]));
            assert!(five.iter().any(|(p, _)| p.contains("variants")), "at most four, by the derive: {five:?}");
        }
    }

    #[test]
    fn an_integration_is_scoped_to_forms_and_event_types_that_exist() {
        let mut config = FormsConfig { forms: vec![form(&["https://www.example.com"])], ..FormsConfig::default() };
        let scoped = |forms: &[&str], events: &[&str]| crate::config::Integration {
            id: "webinar".into(),
            key: "WEBINAR_KEY".into(),
            forms: forms.iter().map(|f| (*f).into()).collect(),
            events: events.iter().map(|e| (*e).into()).collect(),
        };
        let id = config.forms[0].id.clone();
        config.integrations = vec![scoped(&[&id], &["email_click"])];
        assert_eq!(config.problems(), Vec::<(String, String)>::new());
        assert!(config.integrations[0].allows(&id, "email_click"));
        assert!(!config.integrations[0].allows(&id, "meeting_booked"), "a type beyond its scope");
        assert!(!config.integrations[0].allows("other", "email_click"), "a form beyond its scope");
        assert!(scoped(&[], &[]).allows("any", "anything"), "no scope: every form and type, as before scopes existed");
        config.integrations = vec![scoped(&["nope"], &["no_such_event"])];
        let paths: Vec<String> = config.problems().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["integrations[0] (webinar).forms", "integrations[0] (webinar).events"]);
    }

    #[cfg(feature = "server")]
    #[test]
    fn static_limits_come_from_the_validator_derive() {
        let mut f = form(&[]);
        f.webhooks = vec![Endpoint {
            id: "crm".into(),
            url: "not a url".into(),
            secret: "WEBHOOK_SECRET".into(),
            schedule: None,
            timeout_ms: Some(5),
            adapter: Adapter::Salesforce,
            map: [("fax".to_string(), "fax".to_string())].into(),
            subscriptions: Default::default(),
            oid: None,
            token: None,
        }];
        f.consents = (0..11)
            .map(|i| Purpose {
                id: std::format!("p{i}"),
                required: false,
                text: Texts { en: Some("x".into()), de: None },
                version: 1,
                basis: Default::default(),
            })
            .collect();
        let problems = FormsConfig { forms: vec![f], ..FormsConfig::default() }.problems();
        assert!(problems.contains(&("forms[0].consents".into(), "must have 0 to 10 entries or characters".into())), "{problems:?}");
        assert!(problems.iter().any(|(p, m)| p == "forms[0].webhooks[0].url" && m == "not a valid URL"), "{problems:?}");
        assert!(problems.iter().any(|(p, m)| p == "forms[0].webhooks[0].timeout_ms" && m == "must be between 100 and 60000"), "{problems:?}");
        assert!(problems.iter().any(|(p, _)| p == "forms[0] (newsletter).webhooks[0] (crm).oid"), "{problems:?}");
        assert!(problems.iter().any(|(p, _)| p == "forms[0] (newsletter).webhooks[0] (crm).map"), "{problems:?}");
    }

    #[test]
    fn giveaways_may_not_couple_marketing_consent() {
        let f: FormDef = serde_json::from_value(serde_json::json!({
            "id": "win", "kind": "giveaway",
            "fields": [{"name": "email", "required": true}],
            "giveaway": {"starts_at": "2026-12-01", "ends_at": "2026-12-24", "rules_url": "/rules"},
            "consents": [
                {"id": "giveaway_rules", "required": true, "text": {"en": "I accept the rules."}},
                {"id": "marketing_email", "required": true, "text": {"en": "Send me offers."}}
            ]
        }))
        .unwrap();
        let problems = FormsConfig { forms: vec![f], ..FormsConfig::default() }.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("Art. 7(4)"));
    }
}
