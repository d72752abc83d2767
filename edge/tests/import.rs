//! Imports over the memory backend: every row through the form's rules, known addresses merged by the
//! repeat rules, legal bases recorded honestly, a report per row, bounded work for 1,000 rows, and
//! nothing left half-stored when the settle fails.

use edge::import::{run, Batch, LegalBasis};
use edge::memory::{Memory, Op};
use edge::rows::{read, Format};
use edge::submission::{take, Intake};
use edge::Error;
use futures::executor::block_on;
use shared::form::FormsConfig;
use shared::stage::Stage;

const NOW: u64 = 1_790_000_000_000;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "double_opt_in": false,
             "fields": [{"name": "email", "required": true}, {"name": "first_name"}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "b2b", "kind": "download_gate", "mode": "b2b", "asset": {"key": "a.pdf", "filename": "a.pdf"},
             "fields": [{"name": "email", "required": true}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "text": {"en": "Offers by email."}}]}
        ]
    }))
    .unwrap()
}

fn batch<'a>(config: &'a FormsConfig, form: &str, basis: LegalBasis, proof: Option<&str>) -> Batch<'a> {
    Batch { config, form: config.form(form).unwrap(), id: "b1".into(), source: "Messe Hannover 2026".into(), basis, proof: proof.map(str::to_owned) }
}

#[test]
fn a_batch_declares_a_basis_that_fits_the_form() {
    let config = config();
    assert!(
        matches!(batch(&config, "news", LegalBasis::LegitimateInterest, None).check(), Err(Error::Validation(e)) if e[0].0 == "basis"),
        "legitimate interest is B2B only"
    );
    assert!(matches!(batch(&config, "news", LegalBasis::Consent, None).check(), Err(Error::Validation(e)) if e[0].0 == "proof"), "consent needs its proof");
    assert!(batch(&config, "b2b", LegalBasis::LegitimateInterest, None).check().is_ok());
    assert!(batch(&config, "news", LegalBasis::None, None).check().is_ok());
}

#[test]
fn rows_are_created_merged_or_rejected_and_nothing_stored_is_overwritten() {
    let (m, config) = (Memory::at(NOW), config());
    // A known address, from the form.
    let intake = Intake { config: &config, form: config.form("news").unwrap(), signing: "s", origin: "https://c.example", key: None, client: None };
    let sub = serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": "known@example.com", "first_name": "Kim"}, "consent": ["marketing_email"], "meta": {"elapsed_ms": 9000}})).unwrap();
    let known = block_on(take(&m, &intake, sub)).unwrap().body["id"].as_str().unwrap().to_owned();
    let csv = "email,first_name,company,notes\n\
               ada@example.com,Ada,=HYPERLINK(\"http://evil\"),met at booth 4\n\
               not-an-email,Bob,,\n\
               known@example.com,Mallory,Kim's Kitchen,\n\
               ada@example.com,Ada L.,Analytical,\n";
    let rows = read(Format::Csv, csv.as_bytes(), 1000).unwrap();
    let reports = block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), rows)).unwrap();
    let statuses: Vec<&str> = reports.iter().map(|r| r.status).collect();
    assert_eq!(statuses, ["created", "rejected", "merged", "merged"]);
    assert_eq!(reports[1].errors.get("email"), Some(&shared::Code::InvalidEmail));
    assert_eq!(reports[2].id.as_deref(), Some(known.as_str()));
    assert_eq!(reports[3].id, reports[0].id, "the second row of an address merges into the first");
    let leads = m.leads.borrow();
    let ada = &leads[reports[0].id.as_deref().unwrap()];
    assert_eq!(ada.fields["company"], "=HYPERLINK(\"http://evil\")", "stored as sent; the CSV export neutralises it");
    assert_eq!(ada.fields["first_name"], "Ada", "the later row fills, never overwrites");
    assert!(ada.consent.entries.iter().all(|e| !e.granted), "B2C without documented consent: no marketing consent");
    assert!(ada.consent.entries[0].text.contains("No consent"), "{}", ada.consent.entries[0].text);
    assert_eq!(ada.source.import.as_ref().map(|i| (i.source.as_str(), i.basis.as_str(), i.row)), Some(("Messe Hannover 2026", "none", 1)));
    assert_eq!(ada.stage, Stage::Subscriber, "the form's lead definition gives the stage");
    let kim = &leads[&known];
    assert_eq!((kim.fields["first_name"].as_str(), kim.fields["company"].as_str()), ("Kim", "Kim's Kitchen"));
    assert!(kim.grants("marketing_email"), "the form's consent stays");
    drop(leads);
    assert_eq!(m.queued("lead.created").len(), 2, "the form's lead and the imported one");
    assert_eq!(m.queued("lead.updated").len(), 1, "the known lead's filled company");
}

#[test]
fn documented_consent_and_legitimate_interest_are_recorded_as_such() {
    let (m, config) = (Memory::at(NOW), config());
    let rows = read(Format::JsonLines, b"{\"email\":\"c@example.com\"}\n", 10).unwrap();
    let reports = block_on(run(&m, &batch(&config, "news", LegalBasis::Consent, Some("paper forms, folder 2026-11, office Hamburg")), rows)).unwrap();
    let lead = m.leads.borrow()[reports[0].id.as_deref().unwrap()].clone();
    assert!(lead.grants("marketing_email"));
    assert!(lead.consent.entries[0].text.contains("proof kept at: paper forms, folder 2026-11, office Hamburg"));
    let rows = read(Format::JsonLines, b"{\"email\":\"d@example.com\",\"company\":\"ACME\"}\n", 10).unwrap();
    let reports = block_on(run(&m, &batch(&config, "b2b", LegalBasis::LegitimateInterest, None), rows)).unwrap();
    let lead = m.leads.borrow()[reports[0].id.as_deref().unwrap()].clone();
    assert_eq!(lead.consent.entries[0].basis, shared::consent::Basis::LegitimateInterest);
    assert_eq!(lead.stage, Stage::Lead, "a B2B download-gate contact with a company is a lead");
}

#[test]
fn a_thousand_rows_take_two_ledger_requests_and_a_failed_settle_leaves_nothing() {
    let (m, config) = (Memory::at(NOW), config());
    let csv = "email,first_name\n".to_owned() + &(0..1000).map(|i| format!("p{i}@example.com,P{i}\n")).collect::<String>();
    let rows = read(Format::Csv, csv.as_bytes(), 1000).unwrap();
    m.reset_counts();
    m.fail(Op::Settle, 1);
    assert!(block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), rows.clone())).is_err());
    assert!(m.leads.borrow().is_empty(), "the documents written are taken back");
    assert!(m.outbox().is_empty());
    m.reset_counts();
    m.advance(edge::ledger::RESERVATION_MS);
    let reports = block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), rows)).unwrap();
    assert_eq!(reports.iter().filter(|r| r.status == "created").count(), 1000);
    assert_eq!((m.count(Op::Claim), m.count(Op::Settle)), (1, 1), "one claim and one settle for all rows");
    assert_eq!(m.count(Op::PutLead), 1000);
    assert!(m.total() <= 1000 + 10 + 5, "{} operations", m.total());
    let more = "email\n".to_owned() + &"x@example.com\n".repeat(1001);
    assert!(read(Format::Csv, more.as_bytes(), 1000).is_err(), "at most 1,000 rows per call");
}

#[test]
fn a_row_whose_document_cannot_be_written_is_rejected_and_its_address_free_again() {
    let (m, config) = (Memory::at(NOW), config());
    let rows = read(Format::Csv, b"email\na@example.com\nb@example.com\nc@example.com\n", 10).unwrap();
    m.fail(Op::PutLead, 2);
    let reports = block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), rows.clone())).unwrap();
    assert_eq!(reports.iter().map(|r| r.status).collect::<Vec<_>>(), ["created", "rejected", "created"]);
    assert!(reports[1].problem.as_deref().unwrap().contains("send the row again"));
    assert_eq!(m.leads.borrow().len(), 2, "nothing of the failed row is stored");
    assert_eq!(m.queued("lead.created").len(), 2, "nor announced");
    // Its claim was released: the same batch again creates it and merges the other two.
    let again = block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), rows)).unwrap();
    assert_eq!(again.iter().map(|r| r.status).collect::<Vec<_>>(), ["merged", "created", "merged"]);
    // A claim that fails fails the call before anything is written.
    let more = read(Format::Csv, b"email\nd@example.com\n", 10).unwrap();
    m.fail(Op::Claim, 1);
    assert!(block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), more)).is_err());
    assert_eq!(m.leads.borrow().len(), 3);
}
