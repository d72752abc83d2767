//! Imports over the memory backend: every row through the form's rules, known addresses merged by the
//! repeat rules, legal bases recorded honestly, a report per row, bounded work for 1,000 rows, and
//! nothing left half-stored when the settle fails.

use edge::platform::memory::{Memory, Op};
use edge::protocol::ledger::cmd;
use edge::rules::rows::{read, Format};
use edge::services::import::{run, Batch, LegalBasis};
use edge::services::submission::take;
use edge::Error;
use futures::executor::block_on;
use shared::form::FormsConfig;
use shared::stage::Stage;

use crate::fixtures::NOW;

fn config() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "double_opt_in": false,
             "fields": [{"name": "email", "required": true}, {"name": "first_name"}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]},
            {"id": "b2b", "kind": "download_gate", "mode": "b2b", "asset": {"key": "a.pdf", "filename": "a.pdf"},
             "fields": [{"name": "email", "required": true}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "text": {"en": "Offers by email."}}]},
            {"id": "doi", "kind": "newsletter", "double_opt_in": true,
             "fields": [{"name": "email", "required": true}, {"name": "company"}],
             "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}],
             "webhooks": [{"id": "crm", "url": "https://crm.example/hook"}]}
        ],
        "mail": {"url": "https://mail.example/send", "from": "News <news@example.com>"}
    }))
    .unwrap()
}

fn batch<'a>(config: &'a FormsConfig, form: &str, basis: LegalBasis, proof: Option<&str>) -> Batch<'a> {
    Batch {
        config,
        form: config.form(form).unwrap(),
        id: "b1".into(),
        source: "Messe Hannover 2026".into(),
        basis,
        proof: proof.map(str::to_owned),
        confirmed: false,
        signing: "s",
        origin: "https://c.example",
    }
}

fn submit(m: &Memory, config: &FormsConfig, form: &str, email: &str) -> String {
    let intake = crate::fixtures::intake(config, form);
    let sub =
        serde_json::from_value(serde_json::json!({"form": form, "fields": {"email": email}, "consent": ["marketing_email"], "meta": {"elapsed_ms": 9000}}))
            .unwrap();
    block_on(take(m, &intake, sub)).unwrap();
    m.leads.borrow().values().find(|l| l.fields["email"] == email).unwrap().id.clone()
}

#[test]
fn an_import_into_a_double_opt_in_form_stores_pending_leads_and_mails_them_unless_the_opt_in_is_proven() {
    let (m, config) = (Memory::at(NOW), config());
    assert!(matches!(batch(&config, "doi", LegalBasis::None, None).check(), Err(Error::Validation(e)) if e[0].0 == "basis"), "no basis, nothing to confirm");
    let mut proven = batch(&config, "news", LegalBasis::Consent, Some("log"));
    proven.confirmed = true;
    assert!(matches!(proven.check(), Err(Error::Validation(e)) if e[0].0 == "opt_in"), "a form without double opt-in has nothing to confirm");
    let rows = read(
        Format::Csv,
        b"email
fair1@example.com
fair2@example.com
",
        10,
    )
    .unwrap();
    let reports = block_on(run(&m, &batch(&config, "doi", LegalBasis::Consent, Some("scanned cards, box 3")), rows)).unwrap();
    assert!(reports.iter().all(|r| r.status == "created"));
    for r in &reports {
        let lead = m.leads.borrow()[r.id.as_deref().unwrap()].clone();
        assert_eq!(lead.status, shared::lead::Status::Pending, "the owner has not confirmed yet");
        assert_eq!(lead.mails_sent.len(), 1);
    }
    assert_eq!(m.queued("mail.confirmation").len(), 2, "each gets the confirmation mail");
    assert!(m.queued("lead.created").is_empty(), "endpoints hear of them once confirmed");
    // The mail's link confirms like a form's.
    let first = reports[0].id.clone().unwrap();
    block_on(edge::services::confirmation::confirm(&m, &config, &first, None, None)).unwrap();
    assert_eq!(m.leads.borrow()[&first].status, shared::lead::Status::Confirmed);
    // With proof of a confirmed opt-in the leads are stored confirmed, and say so.
    let mut proven = batch(&config, "doi", LegalBasis::Consent, Some("DOI log export 2026-11"));
    proven.confirmed = true;
    proven.id = "b2".into();
    let rows = read(
        Format::Csv,
        b"email
proven@example.com
",
        10,
    )
    .unwrap();
    let reports = block_on(run(&m, &proven, rows)).unwrap();
    let lead = m.leads.borrow()[reports[0].id.as_deref().unwrap()].clone();
    assert_eq!(lead.status, shared::lead::Status::Confirmed);
    assert!(lead.engagement.confirmed);
    assert!(lead.consent.entries[0].text.contains("confirmed by double opt-in outside this form"), "{}", lead.consent.entries[0].text);
    assert_eq!(m.queued("lead.created").len(), 1);
    assert_eq!(m.queued("mail.confirmation").len(), 2, "no mail to a confirmed address");
}

#[test]
fn a_merge_never_grants_again_what_was_withdrawn_nor_consent_the_owner_did_not_confirm() {
    let (m, config) = (Memory::at(NOW), config());
    let id = submit(&m, &config, "news", "withdrew@example.com");
    let lead = m.leads.borrow()[&id].clone();
    let request = edge::services::withdrawal::Request { via: "link".into(), client: None, note: None, purposes: None };
    block_on(edge::services::withdrawal::withdraw(&m, &config, &lead, request)).unwrap();
    assert!(!m.leads.borrow()[&id].grants("marketing_email"));
    let rows = read(
        Format::Csv,
        b"email,company
withdrew@example.com,Acme
",
        10,
    )
    .unwrap();
    let reports = block_on(run(&m, &batch(&config, "news", LegalBasis::Consent, Some("bought list")), rows)).unwrap();
    assert_eq!(reports[0].status, "merged");
    let after = m.leads.borrow()[&id].clone();
    assert!(!after.grants("marketing_email"), "the person's withdrawal stands against the batch");
    assert_eq!(after.fields["company"], "Acme", "fields are still filled");
    // On a double opt-in form a merge adds no consent without a confirmed opt-in.
    let doi = submit(&m, &config, "doi", "pending@example.com");
    let rows = read(
        Format::Csv,
        b"email,company
pending@example.com,Acme
",
        10,
    )
    .unwrap();
    block_on(run(&m, &batch(&config, "doi", LegalBasis::Consent, Some("cards")), rows)).unwrap();
    let merged = m.leads.borrow()[&doi].clone();
    assert_eq!(merged.consent_history.len(), 0, "no consent record joins a lead whose owner did not confirm it");
    assert_eq!(merged.status, shared::lead::Status::Pending);
}

#[test]
fn an_import_merge_is_the_operators_act_not_the_persons_behaviour() {
    let (m, config) = (Memory::at(NOW), config());
    let id = submit(&m, &config, "news", "known@example.com");
    let before = m.leads.borrow()[&id].clone();
    for (i, company) in ["A", "B", "C", "D"].iter().enumerate() {
        let mut b = batch(&config, "news", LegalBasis::None, None);
        b.id = format!("batch{i}");
        let rows = read(
            Format::Csv,
            format!(
                "email,company
known@example.com,{company}
"
            )
            .as_bytes(),
            10,
        )
        .unwrap();
        block_on(run(&m, &b, rows)).unwrap();
    }
    let after = m.leads.borrow()[&id].clone();
    assert_eq!(after.engagement.submissions, before.engagement.submissions, "four imports are no submissions of the person");
    assert_eq!(after.events, before.events, "and no behaviour points");
    assert_eq!(after.score.total, before.score.total);
    assert_eq!(after.repeats.len(), 4, "each merge is on record");
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
    let intake = crate::fixtures::intake(&config, "news");
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
    m.advance(edge::protocol::ledger::RESERVATION_MS);
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

#[test]
fn a_batch_id_is_bound_to_its_body_and_parameters() {
    let config = config();
    let base = batch(&config, "news", LegalBasis::None, None);
    let first = edge::services::import::digest(&base, "text/csv", b"email\na@example.com\n");
    assert_eq!(
        first,
        edge::services::import::digest(&batch(&config, "news", LegalBasis::None, None), "text/csv", b"email\na@example.com\n"),
        "the same request, the same digest"
    );
    assert_ne!(first, edge::services::import::digest(&base, "text/csv", b"email\nb@example.com\n"), "another file");
    assert_ne!(first, edge::services::import::digest(&base, "application/x-ndjson", b"email\na@example.com\n"), "another format");
    let mut other = batch(&config, "news", LegalBasis::None, None);
    other.source = "Messe Hannover 2026 ".into();
    assert_ne!(first, edge::services::import::digest(&other, "text/csv", b"email\na@example.com\n"), "another declared source");
    assert_ne!(
        edge::services::import::digest(&batch(&config, "news", LegalBasis::Consent, Some("ab")), "c", b""),
        edge::services::import::digest(&batch(&config, "news", LegalBasis::Consent, Some("a")), "bc", b""),
        "parts do not run together"
    );
}

#[test]
fn the_funnel_groups_imported_leads_by_their_batchs_source_beside_the_campaigns() {
    use edge::protocol::funnel::{By, Group};

    let (m, config) = (Memory::at(NOW), config());
    let intake = crate::fixtures::intake(&config, "news");
    let tagged = serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": "ad@example.com"}, "consent": ["marketing_email"], "meta": {"elapsed_ms": 9000, "utm": {"source": "linkedin"}}})).unwrap();
    block_on(take(&m, &intake, tagged)).unwrap();
    let csv = "email\n".to_owned() + &(0..3).map(|i| format!("fair{i}@example.com\n")).collect::<String>();
    block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), read(Format::Csv, csv.as_bytes(), 10).unwrap())).unwrap();
    let groups: Vec<Group> = block_on(edge::protocol::backend::ask(&m, cmd::Funnel { form: None, from: None, to: None, by: By::Source })).unwrap().groups();
    let sizes: Vec<(&str, u64)> = groups.iter().map(|g| (g.key.as_str(), g.leads)).collect();
    assert_eq!(sizes, [("Messe Hannover 2026", 3), ("linkedin", 1)], "no imported lead under (none)");
}

#[test]
fn a_failed_settle_of_an_import_into_a_double_opt_in_form_leaves_no_lead_and_no_mail() {
    let (m, config) = (Memory::at(NOW), config());
    let rows = || read(Format::Csv, b"email\nfair1@example.com\nfair2@example.com\n", 10).unwrap();
    let cards = || batch(&config, "doi", LegalBasis::Consent, Some("scanned cards"));
    m.fail(Op::Settle, 1);
    assert!(block_on(run(&m, &cards(), rows())).is_err());
    assert!(m.leads.borrow().is_empty(), "the documents written are taken back");
    assert!(m.queued("mail.confirmation").is_empty(), "and no one is mailed for a lead that is not stored");
    m.advance(edge::protocol::ledger::RESERVATION_MS);
    let reports = block_on(run(&m, &cards(), rows())).unwrap();
    assert!(reports.iter().all(|r| r.status == "created"));
    assert_eq!(m.queued("mail.confirmation").len(), 2, "the retry mails each address once");
}

#[test]
fn an_import_over_four_shards_settles_each_shard_apart_and_a_failed_part_leaves_only_its_rows_to_send_again() {
    let (m, mut config) = (Memory::at(NOW), config());
    config.forms[0].shards = 4;
    m.shards.borrow_mut().insert("news".into(), 4);
    let csv = "email,first_name\n".to_owned() + &(0..200).map(|i| format!("s{i}@example.com,S{i}\n")).collect::<String>();
    let rows = read(Format::Csv, csv.as_bytes(), 1000).unwrap();
    m.reset_counts();
    m.fail(Op::Settle, 2);
    let reports = block_on(run(&m, &batch(&config, "news", LegalBasis::None, None), rows)).unwrap();
    assert_eq!((m.count(Op::Claim), m.count(Op::Settle)), (4, 4), "a claim and a settle per shard");
    let created: Vec<&str> = reports.iter().filter(|r| r.status == "created").filter_map(|r| r.id.as_deref()).collect();
    let again: Vec<u32> = reports.iter().filter(|r| r.status == "rejected").map(|r| r.row).collect();
    assert!(!created.is_empty() && !again.is_empty() && created.len() + again.len() == 200, "{} created, {} to send again", created.len(), again.len());
    // What was created is stored and announced; what failed left nothing behind.
    assert_eq!(m.leads.borrow().len(), created.len());
    assert!(created.iter().all(|id| m.indexed(id)));
    assert_eq!(m.queued("lead.created").len(), created.len());
    // The rows to send again go in under a new batch id, and all 200 are there once.
    m.advance(edge::protocol::ledger::RESERVATION_MS);
    let retry = "email,first_name\n".to_owned() + &again.iter().map(|n| format!("s{}@example.com,S{}\n", n - 1, n - 1)).collect::<String>();
    let mut second = batch(&config, "news", LegalBasis::None, None);
    second.id = "b2".into();
    let reports = block_on(run(&m, &second, read(Format::Csv, retry.as_bytes(), 1000).unwrap())).unwrap();
    assert!(reports.iter().all(|r| r.status == "created"), "{reports:?}");
    assert_eq!(m.leads.borrow().len(), 200);
}
