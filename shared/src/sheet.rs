//! The form sheet: what the widget needs to check and send a form (the rule of each field, the consent
//! purposes), in a line-and-tab text encoding that the collector writes and the widget reads.
//!
//! Why not serde: a serde decoder in the browser is generic code per type, several kilobytes of every page's
//! download for a handful of fields; this reader is a few hundred bytes. The sheet keeps only what
//! [`FieldDef::check`] and [`crate::consent::decide`] read, already resolved (the effective type and length
//! cap), so a decoded sheet checks every value exactly as the full definition does; a property test holds
//! the two to that. Labels and consent texts are not in it: they are in the markup ([`crate::markup`]).
//!
//! It does carry the texts the widget says by itself (problems, status, thanks), but only those the form
//! can show, in the languages it may be shown in ([`says`]): a page downloads a dozen texts in one or two
//! languages instead of every text in both, about 1 KB brotli less.
//!
//! The encoding, one item per line, parts separated by tabs, `\`, tab and line feed escaped as `\\`, `\t`
//! and `\n`:
//!
//! ```text
//! <form id> <kind 0-2> <lang tag or empty> <published version, decimal> [<variant name>]
//! f <name> <type 0-7> <required 0/1> <length cap> <min: f64 bits in hex or empty> <max: same> <option>...
//! p <purpose id> <required 0/1> <basis 0 consent / 1 legitimate interest>
//! t <lang tag> <number in message::WIDGET_TEXTS> <text>
//! ```
//!
//! A form under an A/B test has a sheet per variant ([`Sheet::encode_as`]): its header names the variant
//! (which the submission then names), and its thank-you text is the variant's. The form's own thank-you
//! sentence likewise takes the place of its kind's in the `t` lines, so the widget knows nothing of either.

use alloc::{string::String, vec::Vec};

use crate::consent::{Basis, Purpose};
use crate::field::{Choice, FieldDef, FieldType};
use crate::form::{PublicForm, Variant};
use crate::kind::FormKind;
use crate::lang::Texts;
use crate::message::{Said, Ui, WIDGET_TEXTS};
use crate::{Code, Lang};

/// A form as the widget checks it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// The form's id.
    pub id: String,
    /// Its kind.
    pub kind: FormKind,
    /// Its configured language, if any.
    pub lang: Option<Lang>,
    /// The published version it is (0: never published), which a submission names.
    pub version: u32,
    /// The fields, with their effective type and length cap set and without labels.
    pub fields: Vec<FieldDef>,
    /// The consent purposes, without their texts.
    pub consents: Vec<Purpose>,
    /// The texts the widget may say for this form, by language.
    pub texts: Vec<(Lang, Said, String)>,
    /// The variant of the form's texts this sheet is (forms under an A/B test).
    pub variant: Option<String>,
}

const KINDS: [FormKind; 3] = [FormKind::Newsletter, FormKind::DownloadGate, FormKind::Giveaway];
const TYPES: [FieldType; 8] = FieldType::ALL;

impl Sheet {
    /// The sheet of `form`, encoded.
    pub fn encode(form: &PublicForm) -> String {
        Sheet::encode_as(form, None)
    }

    /// The sheet of `form` as its `variant` shows it (none: the form's own texts), encoded.
    pub fn encode_as(form: &PublicForm, variant: Option<&Variant>) -> String {
        let thanks = form.wording(variant).thanks;
        let mut out = String::new();
        part(&mut out, &form.id);
        out.push('\t');
        out.push(kind_digit(form.kind));
        out.push('\t');
        out.push_str(form.lang.map_or("", Lang::tag));
        out.push('\t');
        crate::wire::decimal(&mut out, u64::from(form.version));
        if let Some(v) = variant {
            out.push('\t');
            part(&mut out, &v.name);
        }
        for f in &form.fields {
            out.push_str("\nf\t");
            part(&mut out, &f.name);
            out.push('\t');
            out.push(type_digit(f.kind()));
            out.push_str(if f.required { "\t1\t" } else { "\t0\t" });
            crate::wire::decimal(&mut out, f.max_chars() as u64);
            for bound in [f.min, f.max] {
                out.push('\t');
                if let Some(b) = bound {
                    hex(&mut out, b.to_bits());
                }
            }
            for o in &f.options {
                out.push('\t');
                part(&mut out, &o.value);
            }
        }
        for p in &form.consents {
            out.push_str("\np\t");
            part(&mut out, &p.id);
            out.push_str(if p.required { "\t1" } else { "\t0" });
            out.push_str(if p.basis == Basis::LegitimateInterest { "\t1" } else { "\t0" });
        }
        let langs = match &form.lang {
            Some(lang) => core::slice::from_ref(lang),
            None => &[Lang::En, Lang::De][..],
        };
        for lang in langs {
            for (i, said) in WIDGET_TEXTS.iter().enumerate().filter(|(_, said)| says(form, **said)) {
                out.push_str("\nt\t");
                out.push_str(lang.tag());
                out.push('\t');
                crate::wire::decimal(&mut out, i as u64);
                out.push('\t');
                // The form's (or its variant's) own thank-you sentence instead of its kind's.
                let own = thanks.filter(|_| matches!(said, Said::Ui(Ui::ThanksNewsletter | Ui::ThanksDownload | Ui::ThanksReceived | Ui::ThanksGiveaway)));
                part(&mut out, own.map_or(said.text(*lang), |t| t.get(*lang)));
            }
        }
        out
    }

    /// The text of `said` in `lang`, if the sheet has it.
    pub fn text(&self, lang: Lang, said: Said) -> Option<&str> {
        self.texts.iter().find(|(l, s, _)| *l == lang && *s == said).map(|(_, _, text)| text.as_str())
    }

    /// Reads an encoded sheet; `None` when it is damaged.
    pub fn decode(s: &str) -> Option<Sheet> {
        let mut lines = parts(s, b'\n');
        let mut head = parts(lines.next()?, b'\t');
        let id = unescape(head.next()?)?;
        let kind = *KINDS.get(number(head.next()?)? as usize)?;
        let lang = match head.next()? {
            "" => None,
            tag => Some(Lang::from_tag(tag)?),
        };
        // A sheet written before forms had versions has no fourth part.
        let version = u32::try_from(head.next().map_or(Some(0), number)?).ok()?;
        let variant = match head.next() {
            Some(name) => Some(unescape(name)?),
            None => None,
        };
        let mut sheet = Sheet { id, kind, lang, version, fields: Vec::new(), consents: Vec::new(), texts: Vec::new(), variant };
        for line in lines {
            let mut parts = parts(line, b'\t');
            match parts.next()? {
                "f" => sheet.fields.push(field(&mut parts)?),
                "p" => sheet.consents.push(purpose(&mut parts)?),
                "t" => sheet.texts.push(text(&mut parts)?),
                _ => return None,
            }
        }
        Some(sheet)
    }
}

/// The parts of `s` between the bytes `sep` (an ASCII character), found by bytes: `str::split`'s
/// character searcher costs the widget about 800 bytes.
fn parts(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    core::iter::from_fn(move || {
        let s = rest?;
        let end = s.bytes().position(|b| b == sep);
        rest = end.and_then(|i| s.get(i + 1..));
        s.get(..end.unwrap_or(s.len()))
    })
}

/// A field line's parts after its `f`.
fn field<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Option<FieldDef> {
    let name = unescape(parts.next()?)?;
    let ty = *TYPES.get(number(parts.next()?)? as usize)?;
    let required = flag(parts.next()?)?;
    let max_length = Some(u32::try_from(number(parts.next()?)?).ok()?);
    let min = bound(parts.next()?)?;
    let max = bound(parts.next()?)?;
    let mut options = Vec::new();
    for o in parts {
        options.push(Choice { value: unescape(o)?, label: Texts::default() });
    }
    Some(FieldDef { name, ty: Some(ty), required, label: None, help: None, options, min, max, max_length })
}

/// A purpose line's parts after its `p`.
fn purpose<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Option<Purpose> {
    let id = unescape(parts.next()?)?;
    let required = flag(parts.next()?)?;
    let basis = if flag(parts.next()?)? { Basis::LegitimateInterest } else { Basis::Consent };
    if parts.next().is_some() {
        return None;
    }
    Some(Purpose { id, required, text: Texts::default(), version: 1, basis })
}

/// A text line's parts after its `t`.
fn text<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Option<(Lang, Said, String)> {
    let lang = Lang::from_tag(parts.next()?)?;
    let said = *WIDGET_TEXTS.get(number(parts.next()?)? as usize)?;
    let text = unescape(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((lang, said, text))
}

/// Whether the widget may say `said` on `form`: the problems its fields' types and its consent boxes can
/// have, the status texts, and the thanks of its kind (asking to confirm the address only with double
/// opt-in, as only then is a lead pending).
pub fn says(form: &PublicForm, said: Said) -> bool {
    match said {
        Said::Problem(Code::ValidationFailed | Code::Internal | Code::Network) => true,
        Said::Problem(Code::ConsentRequired) => form.consents.iter().any(|p| p.required),
        Said::Problem(code) => form.fields.iter().any(|f| f.kind().problems().contains(&code)),
        Said::Ui(Ui::Sending) => true,
        Said::Ui(Ui::CheckInbox) => form.double_opt_in,
        Said::Ui(Ui::ThanksNewsletter) => form.kind == FormKind::Newsletter,
        Said::Ui(Ui::ThanksDownload | Ui::ThanksReceived | Ui::DownloadLink) => form.kind == FormKind::DownloadGate,
        Said::Ui(Ui::ThanksGiveaway | Ui::GiveawayNoMarketing) => form.kind == FormKind::Giveaway,
        Said::Ui(_) => false,
    }
}

fn part(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => match chars.next()? {
                '\\' => '\\',
                't' => '\t',
                'n' => '\n',
                _ => return None,
            },
            c => c,
        });
    }
    Some(out)
}

/// The digit of a form kind: its index in [`KINDS`]. A match, so a new kind does not compile until it has one.
fn kind_digit(kind: FormKind) -> char {
    match kind {
        FormKind::Newsletter => '0',
        FormKind::DownloadGate => '1',
        FormKind::Giveaway => '2',
    }
}

/// The digit of a field type: its index in [`TYPES`].
fn type_digit(ty: FieldType) -> char {
    match ty {
        FieldType::Text => '0',
        FieldType::Email => '1',
        FieldType::Phone => '2',
        FieldType::Textarea => '3',
        FieldType::Url => '4',
        FieldType::Select => '5',
        FieldType::Checkbox => '6',
        FieldType::Number => '7',
    }
}

fn hex(out: &mut String, n: u64) {
    for shift in (0..16).rev() {
        out.push(char::from(b"0123456789abcdef"[(n >> (shift * 4)) as usize & 15]));
    }
}

/// A decimal number without sign, as `wire::decimal` writes it.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0')))
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// An optional number bound: empty, or the 16 hex digits of its bits (exact, unlike any decimal form).
fn bound(s: &str) -> Option<Option<f64>> {
    if s.is_empty() {
        return Some(None);
    }
    if s.len() != 16 {
        return None;
    }
    let bits = s.bytes().try_fold(0u64, |n, b| Some(n << 4 | u64::from(char::from(b).to_digit(16)?)))?;
    Some(Some(f64::from_bits(bits)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::FormDef;
    use proptest::prelude::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    fn form(json: serde_json::Value) -> PublicForm {
        PublicForm::from(&serde_json::from_value::<FormDef>(json).unwrap())
    }

    #[test]
    fn a_sheet_keeps_the_rules_and_drops_the_texts() {
        let f = form(serde_json::json!({
            "id": "gw", "kind": "giveaway", "lang": "de",
            "fields": [{"name": "email", "required": true}, {"name": "company", "max_length": 20},
                       {"name": "size", "type": "select", "label": {"de": "Größe"}, "options": [{"value": "m\tl\\n", "label": {"de": "M"}}]},
                       {"name": "seats", "type": "number", "min": -0.5, "max": 1e300}],
            "consents": [{"id": "giveaway_rules", "required": true, "text": {"de": "Regeln"}},
                         {"id": "b2b", "basis": "legitimate_interest", "text": {"de": "Info"}}],
            "giveaway": {"starts_at": "2026-01-01", "ends_at": "2026-12-24", "rules_url": "/r"}
        }));
        let encoded = Sheet::encode(&f);
        assert!(!encoded.contains("Regeln") && !encoded.contains("Größe"), "{encoded}");
        let sheet = Sheet::decode(&encoded).unwrap();
        assert_eq!((sheet.id.as_str(), sheet.kind, sheet.lang), ("gw", FormKind::Giveaway, Some(Lang::De)));
        assert_eq!(sheet.fields.len(), 4);
        assert_eq!(sheet.fields[1].max_chars(), 20);
        assert_eq!(sheet.fields[2].options[0].value, "m\tl\\n");
        assert_eq!((sheet.fields[3].min, sheet.fields[3].max), (Some(-0.5), Some(1e300)));
        assert_eq!(
            sheet.consents.iter().map(|p| (p.id.as_str(), p.required, p.basis)).collect::<Vec<_>>(),
            [("giveaway_rules", true, Basis::Consent), ("b2b", false, Basis::LegitimateInterest)]
        );
    }

    #[test]
    fn a_sheet_carries_its_published_version_and_an_older_sheet_reads_as_none() {
        let mut nl = form(serde_json::json!({"id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}]}));
        nl.version = 12;
        let encoded = Sheet::encode(&nl);
        assert_eq!(Sheet::decode(&encoded).unwrap().version, 12);
        let (head, rest) = encoded.split_once('\n').unwrap();
        let older = [head.rsplit_once('\t').unwrap().0, rest].join("\n");
        assert_eq!(Sheet::decode(&older).unwrap().version, 0);
        assert!(Sheet::decode(&[head, "x", rest].join("\n")).is_none(), "a damaged sheet is refused");
    }

    #[test]
    fn a_variants_sheet_names_it_and_says_its_thanks() {
        let f = form(serde_json::json!({
            "id": "gw", "kind": "giveaway", "fields": [{"name": "email", "required": true}],
            "consents": [{"id": "giveaway_rules", "required": true, "text": {"en": "Rules"}}],
            "giveaway": {"starts_at": "2026-01-01", "ends_at": "2026-12-24", "rules_url": "/r"},
            "thanks": {"en": "Good luck!", "de": "Viel Glück!"},
            "variants": [{"name": "a"}, {"name": "b\tc", "thanks": {"en": "Fingers crossed."}}]
        }));
        let own = Sheet::decode(&Sheet::encode(&f)).unwrap();
        assert_eq!((own.variant.as_deref(), own.text(Lang::De, Said::Ui(Ui::ThanksGiveaway))), (None, Some("Viel Glück!")));
        let a = Sheet::decode(&Sheet::encode_as(&f, f.variants.first())).unwrap();
        assert_eq!(
            (a.variant.as_deref(), a.text(Lang::En, Said::Ui(Ui::ThanksGiveaway))),
            (Some("a"), Some("Good luck!")),
            "a variant without one: the form's"
        );
        let b = Sheet::decode(&Sheet::encode_as(&f, f.variants.get(1))).unwrap();
        assert_eq!((b.variant.as_deref(), b.text(Lang::En, Said::Ui(Ui::ThanksGiveaway))), (Some("b\tc"), Some("Fingers crossed.")));
        assert_eq!(b.text(Lang::En, Said::Ui(Ui::GiveawayNoMarketing)), Some(Ui::GiveawayNoMarketing.text(Lang::En)), "what an entrant must know stays");
        assert_eq!(b.fields, own.fields, "the rules are the same");
    }

    #[test]
    fn a_sheet_says_what_its_form_can_show_in_its_languages() {
        let ebook = form(serde_json::json!({
            "id": "eb", "kind": "download_gate", "lang": "de",
            "fields": [{"name": "email", "required": true}, {"name": "company"}],
            "consents": [{"id": "marketing_email", "text": {"de": "News"}}]
        }));
        let sheet = Sheet::decode(&Sheet::encode(&ebook)).unwrap();
        assert!(sheet.texts.iter().all(|(lang, _, _)| *lang == Lang::De), "only the form's language");
        let says = |said| sheet.text(Lang::De, said);
        assert_eq!(says(Said::Problem(Code::InvalidEmail)), Some("Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de."));
        assert_eq!(says(Said::Problem(Code::LineBreak)), Some(Code::LineBreak.message(Lang::De)), "the company is one line");
        assert_eq!(says(Said::Ui(Ui::DownloadLink)), Some("Jetzt herunterladen"));
        for absent in [Said::Problem(Code::InvalidPhone), Said::Problem(Code::ConsentRequired), Said::Ui(Ui::ThanksGiveaway), Said::Ui(Ui::CheckInbox)] {
            assert_eq!(says(absent), None, "{absent:?}: no such field, required box, kind or double opt-in");
        }

        let newsletter = form(serde_json::json!({
            "id": "nl", "kind": "newsletter", "double_opt_in": true, "fields": [{"name": "email", "required": true}],
            "consents": [{"id": "marketing_email", "required": true, "text": {"en": "News", "de": "News"}}]
        }));
        let sheet = Sheet::decode(&Sheet::encode(&newsletter)).unwrap();
        for lang in [Lang::En, Lang::De] {
            for said in [Said::Problem(Code::ConsentRequired), Said::Ui(Ui::CheckInbox), Said::Ui(Ui::ThanksNewsletter), Said::Ui(Ui::Sending)] {
                assert_eq!(sheet.text(lang, said), Some(said.text(lang)), "{said:?} in {lang:?}");
            }
        }
    }

    #[test]
    fn every_problem_of_a_field_type_has_its_text() {
        let fields: Vec<serde_json::Value> = TYPES
            .iter()
            .enumerate()
            .map(|(i, ty)| serde_json::json!({"name": format!("f{i}"), "type": ty, "label": {"en": "F"}, "options": [{"value": "a", "label": {"en": "A"}}]}))
            .collect();
        let f = form(serde_json::json!({"id": "all", "kind": "newsletter", "fields": fields}));
        for ty in TYPES {
            for code in ty.problems() {
                assert!(says(&f, Said::Problem(*code)), "{ty:?}: {code:?}");
            }
        }
        for said in [Said::Problem(Code::ValidationFailed), Said::Problem(Code::Network), Said::Problem(Code::Internal), Said::Ui(Ui::Sending)] {
            assert!(says(&f, said), "{said:?} is said on every form");
        }
    }

    #[test]
    fn the_digits_written_are_the_tables_read() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(kind_digit(*k), char::from(b'0' + i as u8));
        }
        for (i, t) in TYPES.iter().enumerate() {
            assert_eq!(type_digit(*t), char::from(b'0' + i as u8));
        }
    }

    #[test]
    fn damaged_sheets_are_refused() {
        for bad in [
            "",
            "nl",
            "nl\t9\t",
            "nl\t0\txx",
            "nl\t0\t\nf\temail",
            "nl\t0\t\nq\tx",
            "nl\t0\t\np\tx\t2\t0",
            "nl\t0\t\nf\te\\x\t1\t0\t1\t\t",
            "nl\t0\t\nf\te\t1\t0\t1\t12\t",
            "nl\t0\t\nt\tfr\t0\tBitte",
            "nl\t0\t\nt\ten\t99\tPlease",
            "nl\t0\t\nt\ten\t0",
            "nl\t0\t\nt\ten\t0\ta\tb",
            "nl\t0\t\t3\tb\\x",
        ] {
            assert_eq!(Sheet::decode(bad), None, "{bad:?}");
        }
        assert!(Sheet::decode("nl\t0\t").is_some());
    }

    fn any_type() -> impl Strategy<Value = FieldType> {
        proptest::sample::select(TYPES.to_vec())
    }

    fn any_def() -> impl Strategy<Value = FieldDef> {
        let name = prop_oneof![
            proptest::sample::select(vec!["email", "phone", "company", "message", "website", "decision_maker"]).prop_map(String::from),
            "[a-z_]{1,12}"
        ];
        (
            name,
            proptest::option::of(any_type()),
            any::<bool>(),
            proptest::option::of(0u32..300),
            proptest::option::of(-100.0f64..100.0),
            proptest::option::of(-100.0f64..100.0),
            proptest::collection::vec(".{0,6}", 0..3),
        )
            .prop_map(|(name, ty, required, max_length, min, max, options)| FieldDef {
                name,
                ty,
                required,
                label: None,
                help: None,
                options: options.into_iter().map(|value| Choice { value, label: Texts::default() }).collect(),
                min,
                max,
                max_length,
            })
    }

    proptest! {
        /// The widget's decoded sheet and the collector's full definition judge every value alike.
        #[test]
        fn a_decoded_field_checks_like_its_definition(def in any_def(), values in proptest::collection::vec(prop_oneof![".{0,40}", "[0-9,.+-]{0,8}", "[a-z.]{1,8}@[a-z]{1,8}\\.de"], 1..8)) {
            let public = PublicForm {
                id: "x".into(), kind: FormKind::Newsletter, lang: None, mode: Default::default(), title: None,
                intro: None, button: None, thanks: None, variants: vec![],
                fields: vec![def.clone()], consents: vec![], double_opt_in: false, giveaway: None, version: 0,
                turnstile: None,
            };
            let sheet = Sheet::decode(&Sheet::encode(&public)).unwrap();
            let decoded = &sheet.fields[0];
            prop_assert_eq!(&decoded.name, &def.name);
            for o in &def.options {
                prop_assert!(decoded.check(&o.value) == def.check(&o.value));
            }
            for v in &values {
                prop_assert_eq!(decoded.check(v), def.check(v), "value {:?}", v);
            }
        }
    }
}
