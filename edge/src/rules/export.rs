//! Exports of leads: CSV for spreadsheets, safe against formula injection.
//!
//! A lead's fields are typed by strangers. Spreadsheet programs execute a cell that starts with `=`, `+`,
//! `-` or `@` (and some treat a leading tab or CR the same way), so every such cell is prefixed with `'`
//! (OWASP's recommendation) before it reaches an owner's Excel.

use shared::lead::Lead;

/// The fixed columns before the form's own fields.
const FIXED: &[&str] =
    &["id", "form", "status", "created_at", "updated_at", "stage", "owner", "score", "source", "campaign", "marketing_consent", "form_version", "variant"];

/// Quotes a CSV cell and neutralises formulas.
pub fn cell(value: &str) -> String {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let value = if risky { format!("'{value}") } else { value.to_owned() };
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// All leads as CSV: fixed columns, then every field name that occurs, in alphabetical order.
pub fn csv(leads: &[Lead]) -> String {
    let mut fields: Vec<&str> = leads.iter().flat_map(|l| l.fields.keys().map(String::as_str)).collect();
    fields.sort_unstable();
    fields.dedup();
    let mut out = header(&fields);
    out.push_str(&rows(&fields, leads));
    out
}

/// The header row: the fixed columns, then `fields`.
pub fn header(fields: &[&str]) -> String {
    let header: Vec<String> = FIXED.iter().copied().chain(fields.iter().copied()).map(cell).collect();
    let mut out = header.join(",");
    out.push_str("\r\n");
    out
}

/// One row per lead, with the columns of [`header`]. `marketing_consent` is whether the lead currently
/// grants a marketing purpose (granted in some record and not withdrawn).
pub fn rows(fields: &[&str], leads: &[Lead]) -> String {
    let mut out = String::new();
    for l in leads {
        let marketing = l
            .consent
            .entries
            .iter()
            .chain(l.consent_history.iter().flat_map(|r| &r.entries))
            .any(|e| e.purpose.starts_with("marketing") && l.grants(&e.purpose));
        let fixed = [
            l.id.clone(),
            l.form.clone(),
            l.status.as_str().to_owned(),
            l.created_at.clone(),
            l.updated_at.clone(),
            l.stage.as_str().to_owned(),
            l.owner.clone().unwrap_or_default(),
            l.score.total.to_string(),
            l.source.utm.get("source").cloned().unwrap_or_default(),
            l.source.utm.get("campaign").cloned().unwrap_or_default(),
            marketing.to_string(),
            l.form_version.map(|v| v.to_string()).unwrap_or_default(),
            l.variant.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = fixed.iter().map(|v| cell(v)).chain(fields.iter().map(|f| cell(l.fields.get(*f).map_or("", String::as_str)))).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_escaped() {
        assert_eq!(cell("=HYPERLINK(\"http://evil\")"), "\"'=HYPERLINK(\"\"http://evil\"\")\"");
        for risky in ["+1", "-1+1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(cell(risky).starts_with("\"'"), "{risky:?}");
        }
        assert_eq!(cell("Ada"), "\"Ada\"");
        assert_eq!(cell("a=b"), "\"a=b\"", "only a leading sign is dangerous");
    }

    #[test]
    fn columns_cover_every_field() {
        let mut lead: Lead = serde_json::from_value(serde_json::json!({
            "id": "ld_1", "form": "nl", "kind": "newsletter", "status": "new",
            "created_at": "t0", "updated_at": "t1", "fields": {"email": "a@b.de", "company": "=cmd|' /C calc'!A0"},
            "consent": {"entries": [{"purpose": "marketing_email", "granted": true, "basis": "consent", "text": "x", "version": 1, "lang": "en", "text_sha256": "00"}],
                        "lang": "en", "recorded_at": "t0"},
            "source": {"utm": {"source": "@newsletter", "campaign": "spring"}}, "engagement": {"confirmed": false, "downloads": 0, "submissions": 1},
            "stage": "mql", "owner": "anna", "form_version": 3, "variant": "short",
            "score": {"total": 10, "reasons": [], "stage": "lead"}
        }))
        .unwrap();
        let csv1 = csv(std::slice::from_ref(&lead));
        let lines: Vec<&str> = csv1.split("\r\n").collect();
        assert_eq!(lines[0], "\"id\",\"form\",\"status\",\"created_at\",\"updated_at\",\"stage\",\"owner\",\"score\",\"source\",\"campaign\",\"marketing_consent\",\"form_version\",\"variant\",\"company\",\"email\"");
        assert_eq!(
            lines[1],
            "\"ld_1\",\"nl\",\"new\",\"t0\",\"t1\",\"mql\",\"anna\",\"10\",\"'@newsletter\",\"spring\",\"true\",\"3\",\"short\",\"'=cmd|' /C calc'!A0\",\"a@b.de\""
        );
        let page = [header(&["company", "email"]), rows(&["company", "email"], std::slice::from_ref(&lead))].concat();
        assert_eq!(page, csv1, "a page written from known columns is the same file");
        lead.consent.withdrawn = Some(shared::consent::Withdrawal { at: "t2".into(), via: "link".into(), client_id: None, note: None });
        assert!(rows(&[], std::slice::from_ref(&lead)).ends_with("\"false\",\"3\",\"short\"\r\n"), "a withdrawn consent is no consent");
        lead.fields.clear();
        lead.consent.withdrawn = None;
        lead.form_version = None;
        lead.variant = None;
        assert!(csv(&[lead]).ends_with("\"true\",\"\",\"\"\r\n"), "no field columns when no lead has fields, no version for a lead from before versions");
    }
}
