//! The import service: leads from other channels (a trade fair's scans, calls, a purchased list), with
//! their source and legal basis recorded, through the same rules as the forms.
//!
//! Every row is checked by the form's field rules (`shared`); its consent record states the batch's legal
//! basis and where the proof is kept, never the form's text, which the person never saw. Consumers (B2C)
//! get a marketing consent only with documented consent; legitimate interest is for businesses only;
//! `none` stores a contact without any. On a double opt-in form an import keeps that promise too: its new
//! leads are pending and get the confirmation mail, like a form's, unless the batch declares that its
//! proof documents a confirmed opt-in (`opt_in=confirmed`, recorded as such); a batch without any basis
//! cannot go there. A known address follows the repeat rules (empty fields filled, nothing stored
//! overwritten) as the operator's act (`repeats::merge`): no behaviour points, no submission counted, no
//! purpose granted again that the person withdrew, and on a double opt-in form no consent added without a
//! confirmed opt-in. Imported leads start at the stage the form's lead definition gives them, are marked as
//! imported in their source, and are announced like any new lead once they are not pending.
//!
//! The work is bounded whatever the batch: one ledger request claims every address, KV bulk reads fetch
//! what is known, one write per stored lead, one ledger request settles them all (their addresses, index
//! rows and deliveries, in one transaction). A row that cannot be stored is released and reported; if the
//! settle fails, the documents written are taken back and the call may be retried whole.

use crate::protocol::backend::{ask, random, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{ClaimRow, Entry, Hold, Holder, SettleRow};
use crate::protocol::outbox::Delivery;
use crate::protocol::shard::Home;
use crate::rules::rows::{Row, MAX_PROOF, MAX_SOURCE};
use crate::rules::webhook::{self, EventType};
use crate::services::announcing::outbox_entries;
use crate::{rules::id, rules::intake, rules::repeats, Error};
use serde::Serialize;
use shared::consent::{Basis, ConsentRecord};
use shared::form::{FormDef, FormKind, FormsConfig, Mode};
use shared::lead::{Imported, Lead, Status};
use shared::Code;
use std::collections::BTreeMap;

/// The legal basis a batch declares for marketing to its contacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// The contacts consented elsewhere; `proof` says where that is documented.
    Consent,
    /// Legitimate interest (GDPR Art. 6(1)(f)): businesses only.
    LegitimateInterest,
    /// No basis for marketing: stored as contacts without marketing consent.
    None,
}

impl LegalBasis {
    /// The basis named `s`.
    pub fn parse(s: &str) -> Option<LegalBasis> {
        match s {
            "consent" => Some(LegalBasis::Consent),
            "legitimate_interest" => Some(LegalBasis::LegitimateInterest),
            "none" => Some(LegalBasis::None),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::LegitimateInterest => "legitimate_interest",
            LegalBasis::None => "none",
        }
    }
}

/// One import call.
pub struct Batch<'a> {
    /// The whole config (owners, the form's webhooks).
    pub config: &'a FormsConfig,
    /// The form the rows are leads of.
    pub form: &'a FormDef,
    /// The batch's id (also its idempotency key).
    pub id: String,
    /// What the batch is (`Messe Hannover 2026`).
    pub source: String,
    /// Its legal basis.
    pub basis: LegalBasis,
    /// Where the proof of consent is kept (required with `consent`).
    pub proof: Option<String>,
    /// The proof documents a confirmed double opt-in (`opt_in=confirmed`): on a double opt-in form the
    /// leads are stored confirmed instead of pending.
    pub confirmed: bool,
    /// `SIGNING_SECRET`, for the links in confirmation mails.
    pub signing: &'a str,
    /// The collector's own origin, for those links.
    pub origin: &'a str,
}

impl Batch<'_> {
    /// Checks what the batch declares, before any row is read: a 4xx naming the parameter otherwise.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |name: &str, code: Code| Err(Error::Validation([(name.to_owned(), code)].into()));
        if self.form.kind == FormKind::Giveaway {
            return Err(Error::Malformed("Giveaway entries cannot be imported: an entry needs the entrant's own acceptance of the rules.".into()));
        }
        if self.source.trim().is_empty() {
            return bad("source", Code::Required);
        }
        if self.source.chars().count() > MAX_SOURCE {
            return bad("source", Code::TooLong);
        }
        if self.basis == LegalBasis::LegitimateInterest && self.form.mode != Mode::B2b {
            return bad("basis", Code::InvalidChoice);
        }
        // A double opt-in form keeps only addresses whose owners confirm: a batch without a basis has no
        // consent to confirm.
        if self.basis == LegalBasis::None && self.form.double_opt_in {
            return bad("basis", Code::InvalidChoice);
        }
        if self.confirmed && (self.basis != LegalBasis::Consent || !self.form.double_opt_in) {
            return bad("opt_in", Code::InvalidChoice);
        }
        match (&self.proof, self.basis) {
            (None, LegalBasis::Consent) => bad("proof", Code::Required),
            (Some(p), _) if p.chars().count() > MAX_PROOF => bad("proof", Code::TooLong),
            _ => Ok(()),
        }
    }
}

/// What became of one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowReport {
    /// The row (1 for the first after the header).
    pub row: u32,
    /// `created`, `merged` (a known address: the repeat rules applied) or `rejected`.
    pub status: &'static str,
    /// The lead it made or merged into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it was rejected: field to error code.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, Code>,
    /// Why it was rejected, when no field is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl RowReport {
    fn rejected(row: u32, errors: BTreeMap<String, Code>, problem: Option<String>) -> RowReport {
        RowReport { row, status: "rejected", id: None, errors, problem }
    }
}

/// A row on its way to the ledger: the lead it would be, its address, and the rows of the batch that merge
/// into it.
struct Candidate {
    row: u32,
    lead: Lead,
    email: String,
    merged: Vec<u32>,
}

/// Imports `rows` as `batch` says. Returns one report per row, in order.
pub async fn run<B: Backend>(b: &B, batch: &Batch<'_>, rows: Vec<Row>) -> Result<Vec<RowReport>, Error> {
    let form = batch.form;
    let now = b.now_ms();
    let mut reports: Vec<Option<RowReport>> = vec![None; rows.len()];
    let mut candidates: Vec<Candidate> = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let slot = reports.get_mut(i);
        let values = match row {
            Ok(values) => values,
            Err(problem) => {
                if let Some(slot) = slot {
                    *slot = Some(RowReport::rejected(n, BTreeMap::new(), Some(problem)));
                }
                continue;
            }
        };
        match lead_of(b, batch, &values, n, now) {
            Err(errors) => {
                if let Some(slot) = slot {
                    *slot = Some(RowReport::rejected(n, errors, None));
                }
            }
            Ok(mut lead) => {
                let email = intake::address_of(&lead);
                // A new lead's id says which of the ledger's objects holds it (see `shard`).
                lead.id.push_str(&b.home(&form.id, &email).await?.suffix());
                // The same address twice in one batch: the later row is a repeat of the earlier one.
                match candidates.iter_mut().find(|c| c.email == email) {
                    Some(first) => {
                        let out = repeats::merge(&first.lead, lead);
                        first.lead = out.lead;
                        first.merged.push(n);
                    }
                    None => candidates.push(Candidate { row: n, lead, email, merged: Vec::new() }),
                }
            }
        }
    }

    // One request claims every address; what is known is read in bulk.
    let hashes: Vec<String> = candidates.iter().map(|c| c.email.clone()).collect();
    let legacy = b.legacy_emails(&form.id, &hashes).await?;
    let claims: Vec<ClaimRow> = candidates.iter().zip(legacy).map(|(c, legacy)| ClaimRow { email: c.email.clone(), lead: c.lead.id.clone(), legacy }).collect();
    let holders: Vec<Holder> = ask(b, cmd::ClaimMany { form: form.id.clone(), rows: claims, now }).await?;
    let known: Vec<String> = holders.iter().filter_map(|h| if let Holder::Lead { lead } = h { Some(lead.clone()) } else { None }).collect();
    let stored: BTreeMap<String, Lead> = b.leads(&known).await?.into_iter().map(|l| (l.id.clone(), l)).collect();
    let fresh = holders.iter().filter(|h| **h == Holder::Claimed).count() as u64;
    let mut turn = match form.assign.as_ref().filter(|a| a.needs_turn() && a.at == shared::owner::Moment::Creation && fresh > 0) {
        Some(_) => ask(b, cmd::Turn { name: format!("assign:{}", form.id), count: fresh, until: None }).await?.turn,
        None => 0,
    };

    // What each claimed or held address becomes.
    struct Write {
        candidate: usize,
        lead: Lead,
        claimed: bool,
        before: Option<Lead>,
        deliveries: Vec<Delivery>,
    }
    let mut writes: Vec<Write> = Vec::new();
    let mut released: Vec<Hold> = Vec::new();
    for (i, (c, holder)) in candidates.iter().zip(&holders).enumerate() {
        match holder {
            Holder::Claimed => {
                let mut lead = c.lead.clone();
                if let Some(rule) = form.assign.as_ref().filter(|a| a.at == shared::owner::Moment::Creation) {
                    if let Some((owner, why)) = rule.pick(&batch.config.owners, &lead.fields, turn, now) {
                        lead.assign(&owner, "rule", &why, now);
                    }
                    turn += u64::from(rule.needs_turn());
                }
                // A pending lead gets the confirmation mail a form's would; endpoints hear of it once it
                // is confirmed.
                let deliveries = if lead.status == Status::Pending {
                    repeats::note_mail(&mut lead.mails_sent, now);
                    vec![crate::services::announcing::mail_entry(
                        b,
                        batch.config,
                        form,
                        batch.signing,
                        batch.origin,
                        &lead,
                        now,
                        crate::rules::mail::Ask::Address,
                        None,
                    )?]
                } else {
                    let payload = webhook::payload(EventType::LeadCreated, &lead.updated_at, &lead);
                    outbox_entries(|| id::new("msg_", now, random(b)), &form.webhooks, &lead.id, &form.id, EventType::LeadCreated, &payload, now)
                };
                writes.push(Write { candidate: i, lead, claimed: true, before: None, deliveries });
            }
            Holder::Lead { lead: id } => match stored.get(id) {
                Some(old) => {
                    let mut fresh = c.lead.clone();
                    // Without a confirmed opt-in, consent on a double opt-in form is the owner's to give.
                    if form.double_opt_in && !batch.confirmed {
                        fresh.consent.entries.iter_mut().for_each(|e| e.granted = false);
                    }
                    let out = repeats::merge(old, fresh);
                    let changed = out.changes_anything();
                    let lead = out.lead;
                    let deliveries = if changed { crate::services::announcing::updated_entries(b, form, &lead, &out.record, now) } else { Vec::new() };
                    writes.push(Write { candidate: i, lead, claimed: false, before: Some(old.clone()), deliveries });
                }
                None => released.push(Hold { email: c.email.clone(), lead: None, held: true }),
            },
            Holder::Reserved | Holder::Nobody => {}
        }
    }

    // The documents first (side by side), then one settle per ledger object (see `shard`).
    let docs: Vec<Lead> = writes.iter().map(|w| w.lead.clone()).collect();
    let outcomes = b.put_documents(&docs).await;
    let mut settled: Vec<(usize, SettleRow)> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    for (n, (w, outcome)) in writes.iter().zip(outcomes).enumerate() {
        let Some(c) = candidates.get(w.candidate) else { continue };
        let hold = Hold { email: c.email.clone(), lead: w.claimed.then(|| w.lead.id.clone()), held: !w.claimed };
        match outcome {
            Ok(()) => settled.push((n, SettleRow { hold, entry: Entry::of(&w.lead), deliveries: w.deliveries.clone() })),
            Err(_) => {
                released.push(hold);
                failed.push(w.candidate);
            }
        }
    }
    // Each object's settle is one transaction. A part that fails takes back its own documents (its claims
    // lapse by themselves) and its rows are reported for sending again; when every part fails, the caller
    // retries the batch whole.
    struct Part {
        home: Home,
        rows: Vec<(usize, SettleRow)>,
        holds: Vec<Hold>,
    }
    let mut parts: Vec<Part> = Vec::new();
    for (n, row) in settled {
        let home = b.home(&form.id, &row.hold.email).await?;
        match parts.iter_mut().find(|p| p.home == home) {
            Some(part) => part.rows.push((n, row)),
            None => parts.push(Part { home, rows: vec![(n, row)], holds: Vec::new() }),
        }
    }
    for hold in released {
        let home = b.home(&form.id, &hold.email).await?;
        match parts.iter_mut().find(|p| p.home == home) {
            Some(part) => part.holds.push(hold),
            None => parts.push(Part { home, rows: Vec::new(), holds: vec![hold] }),
        }
    }
    let (mut stored_parts, mut lost) = (0, None);
    for Part { rows, holds, .. } in parts {
        let of_part: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
        let settle = cmd::SettleMany { form: form.id.clone(), settled: rows.into_iter().map(|(_, r)| r).collect(), released: holds };
        match b.send(settle).await {
            Ok(_) => stored_parts += 1,
            Err(e) => {
                for w in of_part.iter().filter_map(|n| writes.get(*n)) {
                    let _ = match &w.before {
                        Some(old) => b.put_documents(std::slice::from_ref(old)).await.into_iter().next().unwrap_or(Ok(())),
                        None => b.delete_lead(&w.lead.id).await,
                    };
                    failed.push(w.candidate);
                }
                lost = Some(e);
            }
        }
    }
    if let (Some(e), 0) = (lost, stored_parts) {
        return Err(e);
    }

    // The report, row by row.
    for (i, c) in candidates.iter().enumerate() {
        let write = writes.iter().find(|w| w.candidate == i);
        let (status, id, problem) = match (holders.get(i), write) {
            _ if failed.contains(&i) => ("rejected", None, Some("could not be stored; send the row again".to_owned())),
            (Some(Holder::Claimed), Some(w)) => ("created", Some(w.lead.id.clone()), None),
            (Some(Holder::Lead { .. }), Some(w)) => ("merged", Some(w.lead.id.clone()), None),
            _ => ("rejected", None, Some("the address is being changed by another request; send the row again".to_owned())),
        };
        let report = RowReport { row: c.row, status, id: id.clone(), errors: BTreeMap::new(), problem: problem.clone() };
        let merged = c.merged.iter().map(|n| RowReport {
            row: *n,
            status: if id.is_some() { "merged" } else { "rejected" },
            id: id.clone(),
            errors: BTreeMap::new(),
            problem: problem.clone(),
        });
        for r in std::iter::once(report).chain(merged) {
            if let Some(slot) = usize::try_from(r.row).ok().and_then(|n| reports.get_mut(n.saturating_sub(1))) {
                *slot = Some(r);
            }
        }
    }
    Ok(reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| RowReport::rejected(u32::try_from(i + 1).unwrap_or(0), BTreeMap::new(), Some("not processed".into()))))
        .collect())
}

/// The lead a row would be, or its field errors.
fn lead_of<B: Backend>(b: &B, batch: &Batch<'_>, values: &BTreeMap<String, String>, row: u32, now: u64) -> Result<Lead, BTreeMap<String, Code>> {
    let form = batch.form;
    // Columns the form does not declare are left out (an export carries more than a form asks for); the
    // report's header names them.
    let pairs: Vec<(&str, &str)> = values.iter().filter(|(k, _)| form.fields.iter().any(|f| &f.name == *k)).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let valid = shared::validation::validate(&form.fields, &[], &pairs, &[] as &[&str]).map_err(|e| e.into_iter().collect::<BTreeMap<_, _>>())?;
    let fields: BTreeMap<String, String> = valid.fields.into_iter().collect();
    let at = shared::time::rfc3339(now);
    let lang = form.lang.unwrap_or_default();
    let mut consent = ConsentRecord::new(&form.consents, &shared::consent::Decision::default(), lang, at.clone(), None, None);
    let statement = match batch.basis {
        LegalBasis::Consent if batch.confirmed => format!(
            "Consent confirmed by double opt-in outside this form (import \"{}\"); proof kept at: {}",
            batch.source,
            batch.proof.as_deref().unwrap_or("")
        ),
        LegalBasis::Consent => {
            format!("Consent given outside this form (import \"{}\"); proof kept at: {}", batch.source, batch.proof.as_deref().unwrap_or(""))
        }
        LegalBasis::LegitimateInterest => format!("Legitimate interest (GDPR Art. 6(1)(f)), business contact from the import \"{}\"", batch.source),
        LegalBasis::None => format!("No consent: contact imported from \"{}\"", batch.source),
    };
    for e in &mut consent.entries {
        // Consumers get a marketing consent only with documented consent; legitimate interest only for
        // businesses (checked for the batch); `none` grants nothing.
        e.granted = batch.basis != LegalBasis::None;
        e.basis = if batch.basis == LegalBasis::LegitimateInterest { Basis::LegitimateInterest } else { Basis::Consent };
        e.text = statement.clone();
        e.version = 0;
        e.text_sha256 = crate::rules::digest::sha256_hex(statement.as_bytes());
    }
    let source = shared::lead::Source {
        import: Some(Imported {
            batch: batch.id.clone(),
            source: batch.source.clone(),
            basis: batch.basis.as_str().to_owned(),
            proof: batch.proof.clone(),
            row,
        }),
        ..shared::lead::Source::default()
    };
    let cx = intake::Context { now_ms: now, id: id::new("ld_", now, random(b)), client_id: None };
    let status = match (form.double_opt_in, batch.confirmed) {
        (false, _) => Status::New,
        (true, false) => Status::Pending,
        (true, true) => Status::Confirmed,
    };
    let mut lead = intake::build(form, fields, consent, source, status, cx);
    lead.engagement.confirmed = status == Status::Confirmed;
    Ok(lead)
}

/// What binds a batch id to one request: SHA-256 (hex) of the form, the declared source, basis, proof and
/// opt-in, the body's content type and the body itself, each length-prefixed so no two requests run
/// together into the same bytes.
pub fn digest(batch: &Batch<'_>, content_type: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let opt_in: &[u8] = if batch.confirmed { b"confirmed" } else { b"" };
    let parts: [&[u8]; 7] = [
        batch.form.id.as_bytes(),
        batch.source.as_bytes(),
        batch.basis.as_str().as_bytes(),
        batch.proof.as_deref().unwrap_or_default().as_bytes(),
        opt_in,
        content_type.as_bytes(),
        body,
    ];
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    crate::rules::digest::hex(&hash.finalize())
}

/// The columns of `rows` the form does not declare (left out of every row).
pub fn ignored_columns(form: &FormDef, rows: &[Row]) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().flatten().flat_map(|r| r.keys()).filter(|k| !form.fields.iter().any(|f| &f.name == *k)).cloned().collect();
    out.sort();
    out.dedup();
    out
}
