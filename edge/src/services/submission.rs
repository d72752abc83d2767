//! The submission service: from a checked submission to a durably stored lead (or repeat) and its answer,
//! over the storage seam ([`Backend`]).
//!
//! What it decides, in order: the bot check's decoy, validation into a fresh lead, and then the new lead's
//! document written and admitted by the ledger in one request ([`cmd::Admit`]: the claim and, when the
//! address is new, the settle, which in one transaction makes the address the lead's, writes its index row,
//! queues its outbox entries and keeps the answer for the idempotency key). When the ledger does not grant
//! the claim, it decides as for any claim: a repeat (the document written for nothing is deleted; the
//! repeat rules, the lead's write and the settle follow; a lead erased meanwhile settles nothing, and its
//! late document is deleted again), an idempotent replay, or a wait for the request that holds the address
//! or the key, after which the same document is admitted under this request's own claim. A form that gives
//! owners turns claims first and writes after, so that a repeat takes no turn. A failure at any step undoes
//! what was written and releases the ledger's reservations, so no 2xx is given for a lead that is not
//! durable and nothing half-written stays visible. The Worker's glue (`visitor`) does what needs the request
//! (origin, rate limit, Turnstile) before; the ledger's alarm delivers after.
//!
//! A repeat is taken in two steps, so that the collector links no code that reads or merges a stored lead:
//! [`receive`] goes up to the claim and hands the repeat over ([`Handover`], holding the lead), and
//! [`finish_repeat`], which the operator runs (`protocol::handover`), does the rest. [`take`] is both.

use crate::protocol::backend::{ask, random, Backend};
use crate::protocol::handover::Handover;
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Admission, Answer, Hold, Holder, Indexed, Replay, Standing};
use crate::protocol::outbox::Delivery;
use crate::rules::webhook::{self, EventType};
use crate::services::announcing::{mail_entry, outbox_entries, unqueue, updated_entries};
use crate::services::holding::{look_delay, WAIT_FOR_OTHERS_MS};
use crate::{rules::id, rules::intake, rules::mail, rules::receipt, rules::repeats, rules::token, Error};
use serde_json::json;
use shared::form::{FormDef, FormKind, FormsConfig};
use shared::lead::{Lead, Status};
use shared::wire::Submission;

/// What the service needs to know besides the submission.
pub struct Intake<'a> {
    /// The whole config (the `[mail]` table).
    pub config: &'a FormsConfig,
    /// The form, found and origin-checked.
    pub form: &'a FormDef,
    /// `SIGNING_SECRET`, behind receipts and links.
    pub signing: &'a str,
    /// The collector's own origin, for the links it sends.
    pub origin: &'a str,
    /// The request's `Idempotency-Key`, already checked.
    pub key: Option<String>,
    /// The pseudonymous client id, if one could be made.
    pub client: Option<String>,
}

/// A stored submission: what to answer, and the deliveries to attempt now.
#[derive(Debug)]
pub struct Taken {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
    /// Outbox entries written with the lead; the caller attempts them after answering.
    pub deliveries: Vec<Delivery>,
}

/// The status a lead on `form` has after its first submission, which every answer on the form names:
/// repeats and dropped bots are answered exactly like first submissions.
pub fn first_status(form: &FormDef) -> &'static str {
    if form.double_opt_in {
        Status::Pending.as_str()
    } else {
        Status::New.as_str()
    }
}

/// Accepts a submission that passed the request checks. See the module's documentation for the steps.
/// Where the collector passes a repeat on to the operator, it calls [`receive`] and the operator
/// [`finish_repeat`] (see `glue::handover`); this is both in one place, for the services' native tests.
pub async fn take<B: Backend>(b: &B, intake: &Intake<'_>, sub: Submission) -> Result<Taken, Error> {
    match receive(b, intake, sub).await? {
        Received::Taken(taken) => Ok(taken),
        Received::Repeat(handover) => finish_repeat(b, intake, *handover).await,
    }
}

/// What [`receive`] did with a submission: answered it, or got to a repeat, which this request now holds
/// and [`finish_repeat`] finishes.
#[derive(Debug)]
pub enum Received {
    /// Answered: a new lead stored and settled, a replayed answer, or a bot's decoy.
    Taken(Taken),
    /// A repeat of a stored lead, held in the ledger: to be finished (or its hold released) by
    /// [`finish_repeat`], here or in the operator.
    Repeat(Box<Handover>),
}

/// Accepts a submission up to where a repeat needs the stored lead: the bot check, validation, the
/// ledger's claim and, for a new address, the lead's write and settle. A repeat comes back as a
/// [`Handover`] that holds the address; nothing of it is written yet.
pub async fn receive<B: Backend>(b: &B, intake: &Intake<'_>, sub: Submission) -> Result<Received, Error> {
    let form = intake.form;
    let now = b.now_ms();
    if intake::is_spam(&sub, form) {
        // Bots get the answer a person would, so they learn nothing; nothing is stored or forwarded.
        let day = shared::time::rfc3339(now);
        b.count_bot(&form.id, day.get(..10).unwrap_or(&day)).await;
        let body = decoy_answer(b, form, &sub, intake.origin, now).await?;
        return Ok(Received::Taken(Taken { status: 201, body, deliveries: Vec::new() }));
    }
    let cx = intake::Context { now_ms: now, id: id::new("ld_", now, random(b)), client_id: intake.client.clone() };
    let mut fresh = intake::accept(form, sub, cx)?;
    let email = intake::address_of(&fresh);
    // A new lead's id says which of the ledger's objects holds it (see `shard`).
    fresh.id.push_str(&b.home(&form.id, &email).await?.suffix());
    // The answer names this submission's own id, and its receipt certifies what this submission recorded.
    let receipt = receipt::sign(intake.signing.as_bytes(), &receipt::Receipt::of_record(&fresh.id, &fresh.form, &fresh.consent));
    let legacy = b.legacy_email(&form.id, &email).await?;

    // A form that gives owners turns claims the address before anything is written: a turn taken for what
    // turns out to be a repeat would skip an owner. Every other form writes first and claims with the
    // admission below, in one ledger request for what is most often a new address.
    let turns = form.assign.as_ref().is_some_and(shared::owner::Assignment::needs_turn);
    let mut holds_key = false;
    if turns {
        let asking = Asking { form: &form.id, email: &email, lead: &fresh.id, key: intake.key.as_deref(), legacy: legacy.as_deref() };
        let claimed = claim(b, &asking, None, false).await?;
        if !claimed.is_new() {
            return not_new(b, intake, claimed, email, fresh, receipt, now).await;
        }
        holds_key = claimed.holds_key;
    }
    // What a request that fails from here releases: its claim on the address (when it made one) and the
    // key it holds. (Releasing a claim this request never made deletes nothing: it names its own lead.)
    let hold = Hold { email: email.clone(), lead: Some(fresh.id.clone()), held: false };
    let give_back = |holds_key: bool| release(&form.id, &hold, &intake.key.clone().filter(|_| holds_key));
    let (lead, deliveries) = match store_new(b, intake, fresh, now).await {
        Ok(stored) => stored,
        Err(e) => {
            if turns {
                let _ = b.send(give_back(holds_key)).await; // if this fails too, the reservation lapses by itself
            }
            return Err(e);
        }
    };
    let (status, body, answer) = answer(intake, &lead.id, &receipt, &lead, now)?;
    // The admission: the address claimed and, when it is this lead's to take, the lead settled with it (its
    // index row, outbox entries and the key's answer), in one transaction. When it is not, the ledger
    // decides as for any claim (racing requests wait here for the one holding the address or the key), and
    // once this request holds the address it is admitted again. Rarely more than once: a claim it holds
    // lapses only after `ledger::RESERVATION_MS`.
    for _ in 0..ADMISSIONS {
        let admit = cmd::Admit {
            form: form.id.clone(),
            email: email.clone(),
            lead: lead.id.clone(),
            key: intake.key.clone(),
            held_key: holds_key,
            legacy: legacy.clone(),
            now: b.now_ms(),
            answer: Some(answer.clone()),
            deliveries: deliveries.clone(),
            entry: Some(crate::protocol::ledger::Entry::of(&lead)),
        };
        let standing = match ask(b, admit).await {
            Ok(Admission { settled: Some(Indexed { erased: false }), .. }) => return Ok(Received::Taken(Taken { status, body, deliveries })),
            // A fresh id has no tombstone; should it ever, the lead is not brought back.
            Ok(Admission { settled: Some(Indexed { erased: true }), .. }) => {
                let _ = b.delete_document(&lead.id).await;
                let _ = b.send(give_back(holds_key)).await;
                return Err(Error::NotFound);
            }
            Ok(Admission { standing, settled: None }) => standing,
            Err(e) => {
                // Unsettled, the lead would be found by nobody: undo the writes, so the retry meets a clean slate.
                let _ = unqueue(b, &deliveries).await;
                let _ = b.delete_lead(&lead.id).await;
                let _ = b.send(give_back(holds_key)).await;
                return Err(e);
            }
        };
        let asking = Asking { form: &form.id, email: &email, lead: &lead.id, key: intake.key.as_deref(), legacy: legacy.as_deref() };
        let claimed = match claim(b, &asking, Some(standing), holds_key).await {
            Ok(claimed) if claimed.is_new() => claimed,
            decided => {
                // Written for nothing: no index row names it, so nothing but this request could delete it.
                if let Err(e) = b.delete_document(&lead.id).await {
                    b.log(&format!("the document of unadmitted lead {} stays: {}", lead.id, e.log_line().unwrap_or_default()));
                }
                return not_new(b, intake, decided?, email, lead, receipt, now).await;
            }
        };
        holds_key = claimed.holds_key;
    }
    // Its claim lapsed each time before it was admitted: give up as a request kept waiting does.
    let _ = b.delete_document(&lead.id).await;
    let _ = b.send(give_back(holds_key)).await;
    Err(Error::InProgress)
}

/// How often a submission of a new address is sent for admission before it gives up (see [`receive`]).
const ADMISSIONS: usize = 3;

/// Where a claim that did not give this request the address to store a new lead under leaves a submission:
/// the key's earlier answer given again, a giveaway's refusal, or a repeat handed over. `fresh` is the new
/// lead as the submission made it (possibly with its owner and mail noted, which a repeat does not read:
/// it takes the fields, the consent record, the id and the time).
async fn not_new<B: Backend>(b: &B, intake: &Intake<'_>, claimed: Claimed, email: String, fresh: Lead, receipt: String, now: u64) -> Result<Received, Error> {
    let form = intake.form;
    if let Some(answer) = claimed.answered {
        return Ok(Received::Taken(Taken { status: answer.status, body: answer.body, deliveries: Vec::new() }));
    }
    let key = if claimed.holds_key { intake.key.clone() } else { None };
    match claimed.repeat_of {
        Some(_) if form.kind == FormKind::Giveaway => {
            let _ = b.send(release(&form.id, &held(email), &key)).await; // if this fails too, the reservation lapses by itself
            Err(Error::AlreadyEntered)
        }
        Some(lead) => Ok(Received::Repeat(Box::new(Handover {
            form: form.id.clone(),
            version: form.version,
            origin: intake.origin.to_owned(),
            email,
            lead,
            key,
            fresh,
            receipt,
            now,
        }))),
        None => Err(Error::Internal("a claim that holds the address is not a repeat".into())),
    }
}

/// Finishes a repeat that [`receive`] handed over: reads the stored lead, applies the repeat rules, writes
/// it and settles, or releases the hold when any step fails. `intake` is for the hand-over's form and
/// origin (its key and client are not read: the hand-over carries the key it holds).
pub async fn finish_repeat<B: Backend>(b: &B, intake: &Intake<'_>, handover: Handover) -> Result<Taken, Error> {
    let Handover { lead: id, email, key, fresh, receipt, now, .. } = handover;
    let hold = held(email);
    let answer_id = fresh.id.clone();
    let stored = match b.lead(&id).await {
        Ok(Some(old)) => store_repeat(b, intake, old, fresh, now).await,
        Ok(None) => Err(Error::Internal(format!("the ledger names lead {id}, which is not stored"))),
        Err(e) => Err(e),
    };
    settle(b, intake, Settling { hold, key, answer_id, receipt, now }, stored).await
}

/// Releases the hold a hand-over carries, when it cannot be finished at all (its form is gone). If this
/// fails too, the reservation lapses by itself.
pub async fn give_up<B: Backend>(b: &B, handover: &Handover) {
    let _ = b.send(release(&handover.form, &held(handover.email.clone()), &handover.key)).await;
}

/// The hold of a request that the ledger gave the address's stored lead (a repeat).
fn held(email: String) -> Hold {
    Hold { email, lead: None, held: true }
}

/// Releases what a request holds in the ledger when it gives up: the address (or the stored lead) and
/// the idempotency key it reserved.
fn release(form: &str, hold: &Hold, key: &Option<String>) -> cmd::Release {
    cmd::Release { form: form.to_owned(), hold: hold.clone(), key: key.clone() }
}

/// What a request holds and owes once its lead is stored: the hold to settle, the key to answer, the
/// answer's id and receipt.
struct Settling {
    hold: Hold,
    key: Option<String>,
    answer_id: String,
    receipt: String,
    now: u64,
}

/// The last step of a submission: the settle that makes the stored lead findable, its deliveries due and
/// the answer the key's, in one transaction; or, when the store or the settle failed, undoing the writes
/// and releasing the hold.
async fn settle<B: Backend>(b: &B, intake: &Intake<'_>, s: Settling, stored: Result<(Lead, Vec<Delivery>, Undo), Error>) -> Result<Taken, Error> {
    let form = intake.form;
    let Settling { hold, key, answer_id, receipt, now } = s;
    let (lead, deliveries, undo) = match stored {
        Ok(stored) => stored,
        Err(e) => {
            let _ = b.send(release(&form.id, &hold, &key)).await; // if this fails too, the reservation lapses by itself
            return Err(e);
        }
    };
    let (status, body, answer) = answer(intake, &answer_id, &receipt, &lead, now)?;
    // The deliveries are queued by the settle itself: one transaction makes the lead findable, its
    // deliveries due and its answer the key's.
    let settle = cmd::Settle {
        form: form.id.clone(),
        hold: hold.clone(),
        key: key.clone(),
        answer: Some(answer),
        deliveries: deliveries.clone(),
        entry: Some(crate::protocol::ledger::Entry::of(&lead)),
    };
    match ask(b, settle).await {
        Ok(Indexed { erased: false }) => Ok(Taken { status, body, deliveries }),
        // The lead was erased while this repeat stored it: nothing may bring its data back.
        Ok(Indexed { erased: true }) => {
            let _ = b.delete_lead(&lead.id).await;
            let _ = b.send(release(&form.id, &hold, &key)).await;
            Err(Error::NotFound)
        }
        Err(e) => {
            // Unsettled, the lead would be found by nobody: undo the writes, so the retry meets a clean slate.
            undo.run(b, &deliveries).await;
            let _ = b.send(release(&form.id, &hold, &key)).await;
            Err(e)
        }
    }
}

/// The answer to a stored submission: its status, its body, and both as the text the ledger keeps for
/// the idempotency key.
fn answer(intake: &Intake<'_>, id: &str, receipt: &str, lead: &Lead, now: u64) -> Result<(u16, serde_json::Value, String), Error> {
    let form = intake.form;
    // Nothing in the answer tells a new address from a known one: its own id and receipt, the form's first
    // status, and a download link only where every first submission gets one (a gate without double
    // opt-in; with it, the link comes by mail, also to a known address). The link's lead id is sealed.
    let mut body = json!({"id": id, "status": first_status(form), "receipt": receipt});
    let link = download_link(intake.signing, form, lead, intake.origin, now).filter(|_| !form.double_opt_in);
    if let (Some(url), Some(fields)) = (link, body.as_object_mut()) {
        fields.insert("download_url".into(), json!(url));
    }
    let status = 201;
    let answer = serde_json::to_string(&Answer { status, body: body.clone() })?;
    Ok((status, body, answer))
}

/// How to take back a stored repeat whose settle failed: put the lead back as it was.
struct Undo(Box<Lead>);

impl Undo {
    async fn run<B: Backend>(self, b: &B, deliveries: &[Delivery]) {
        let _ = unqueue(b, deliveries).await;
        let _ = put_document(b, &self.0).await;
    }
}

/// What a submission claims: the address on the form, for the lead it would make, with its key and what
/// the KV-only layout knew of the address.
#[derive(Clone, Copy)]
struct Asking<'a> {
    form: &'a str,
    email: &'a str,
    lead: &'a str,
    key: Option<&'a str>,
    legacy: Option<&'a str>,
}

/// What the ledger decided for a submission.
struct Claimed {
    /// The address belongs to this stored lead, which this request now holds: the submission is a repeat.
    repeat_of: Option<String>,
    /// This request reserved its idempotency key and must settle or release it.
    holds_key: bool,
    /// The key was answered before: this is the answer to give again.
    answered: Option<Answer>,
}

impl Claimed {
    /// Whether the request holds the address to store a new lead under.
    fn is_new(&self) -> bool {
        self.repeat_of.is_none() && self.answered.is_none()
    }
}

/// Claims an address (and reserves an idempotency key) in the ledger. While another request holds either,
/// waits for it and looks again: a second request with the same key gets the first one's answer, and a
/// second submission of an address being stored becomes a repeat of the lead the first one stored.
///
/// `first` is the answer of a claim already made (by an [`cmd::Admit`] that was not granted); `held`, whether
/// this request holds the key already.
async fn claim<B: Backend>(b: &B, asking: &Asking<'_>, mut first: Option<Standing>, held: bool) -> Result<Claimed, Error> {
    let Asking { form, email, lead, key, legacy } = *asking;
    let started = b.now_ms();
    let mut holds_key = held;
    let mut look = false;
    loop {
        // Once this request holds the key, it no longer asks about it.
        let with_key = if holds_key { None } else { key.map(str::to_owned) };
        let now = b.now_ms();
        // A look and a claim both answer where the address and the key stand.
        let standing: Standing = if let Some(standing) = first.take() {
            standing
        } else if look {
            ask(b, cmd::Look { form: form.to_owned(), email: email.to_owned(), key: with_key.clone(), now }).await?
        } else {
            ask(
                b,
                cmd::Claim {
                    form: form.to_owned(),
                    email: email.to_owned(),
                    lead: lead.to_owned(),
                    key: with_key.clone(),
                    legacy: legacy.map(str::to_owned),
                    now,
                },
            )
            .await?
        };
        let mut wait = false;
        match (standing.replay, with_key.is_some()) {
            (Replay::Answered { answer }, _) => {
                let answer: Answer = serde_json::from_str(&answer)?;
                return Ok(Claimed { repeat_of: None, holds_key: false, answered: Some(answer) });
            }
            (Replay::InProgress, true) => wait = true,
            // A claim that carried the key reserved it (and asked about the address in the same step).
            (Replay::Fresh, true) if !look => holds_key = true,
            // A look found the key free again (its first request gave up): claim it.
            (Replay::Fresh, true) => {
                look = false;
                continue;
            }
            _ => {}
        }
        if !wait {
            match standing.holder {
                Holder::Claimed => return Ok(Claimed { repeat_of: None, holds_key, answered: None }),
                // Only a claim takes the hold on a lead; a look that finds it free claims next.
                Holder::Lead { lead } if !look => return Ok(Claimed { repeat_of: Some(lead), holds_key, answered: None }),
                Holder::Reserved => wait = true,
                Holder::Lead { .. } | Holder::Nobody => {
                    look = false;
                    if b.now_ms().saturating_sub(started) <= WAIT_FOR_OTHERS_MS {
                        continue;
                    }
                    wait = true;
                }
            }
        }
        if wait && b.now_ms().saturating_sub(started) > WAIT_FOR_OTHERS_MS {
            if holds_key {
                // The key lives with the address (see `shard`): the release names it, and holds nothing of it.
                let hold = Hold { email: email.to_owned(), ..Hold::default() };
                let release = cmd::Release { form: form.to_owned(), hold, key: key.map(str::to_owned) };
                let _ = b.send(release).await;
            }
            return Err(Error::InProgress);
        }
        b.sleep(look_delay(b)).await;
        look = true;
    }
}

/// Stores a new lead and makes its outbox entries (queued by the settle): the confirmation mail on double opt-in forms (marketing
/// endpoints hear of the lead only once it is confirmed; the mail goes through the outbox, so a mail API
/// outage delays it rather than losing it), else `lead.created` for each endpoint. A write that fails
/// undoes the earlier ones.
async fn store_new<B: Backend>(b: &B, intake: &Intake<'_>, mut lead: Lead, now: u64) -> Result<(Lead, Vec<Delivery>), Error> {
    let form = intake.form;
    // Its owner first, so that what goes out names them: at creation, or now if it is an MQL already.
    let mut assigned = crate::services::sales::assign_due(b, intake.config, &mut lead, shared::owner::Moment::Creation, now).await?;
    if lead.stage == shared::stage::Stage::Mql {
        assigned = assigned.or(crate::services::sales::assign_due(b, intake.config, &mut lead, shared::owner::Moment::Mql, now).await?);
    }
    // The owner's mail and response-time check (none while the address waits for its confirmation).
    let owned = if assigned.is_some() { crate::services::sales::on_assigned(b, intake.config, &mut lead, now) } else { Vec::new() };
    let mut deliveries = if lead.status == Status::Pending {
        repeats::note_mail(&mut lead.mails_sent, now);
        vec![confirmation_mail(b, intake, &lead, now, mail::Ask::Address)?]
    } else {
        let payload = webhook::payload(EventType::LeadCreated, &lead.updated_at, &lead);
        outbox_entries(|| id::new("msg_", now, random(b)), &form.webhooks, &lead.id, &form.id, EventType::LeadCreated, &payload, now)
    };
    deliveries.extend(owned);
    // The document only: its index row is written by the settle, in the same transaction that makes the
    // address the lead's.
    put_document(b, &lead).await?;
    Ok((lead, deliveries))
}

/// Stores a repeat (see [`repeat`]): the changed lead, restored as it was if the write fails; its outbox
/// entries are queued by the settle.
async fn store_repeat<B: Backend>(b: &B, intake: &Intake<'_>, old: Lead, fresh: Lead, now: u64) -> Result<(Lead, Vec<Delivery>, Undo), Error> {
    let (lead, deliveries) = repeat(b, intake, &old, fresh, now).await?;
    if let Err(e) = put_document(b, &lead).await {
        let _ = put_document(b, &old).await;
        return Err(e);
    }
    Ok((lead, deliveries, Undo(Box::new(old))))
}

/// Writes a lead's document without its index row (which the settle writes).
async fn put_document<B: Backend>(b: &B, lead: &Lead) -> Result<(), Error> {
    b.put_documents(std::slice::from_ref(lead)).await.pop().unwrap_or(Ok(()))
}

/// A repeat of a known address on a form (not a giveaway): the repeat rules of [`repeats::repeat`], plus
/// what goes out. On double opt-in forms a pending address gets its confirmation mail again and a
/// confirmed one a mail to confirm the changes, each within [`repeats::may_mail`]'s limits; on other forms
/// a repeat that changed something is announced as `lead.updated`.
async fn repeat<B: Backend>(b: &B, intake: &Intake<'_>, old: &Lead, fresh: Lead, now: u64) -> Result<(Lead, Vec<Delivery>), Error> {
    let form = intake.form;
    let hold = form.double_opt_in && old.status != Status::Pending;
    let out = repeats::repeat(old, fresh, form, hold);
    let changed = out.changes_anything();
    let mut lead = out.lead;
    // Coming back is behaviour: a repeat that takes the lead to MQL announces the move.
    let mut deliveries = crate::services::sales::follow_up(b, intake.config, &mut lead, out.moved.as_ref(), now).await?;
    if form.double_opt_in {
        // A known address on a gate asks for the file again: it gets it by mail, as a new address does
        // after confirming, and not in the answer, which would tell a stranger the address is known.
        let ask = if old.status == Status::Pending {
            Some(mail::Ask::Address)
        } else if out.held {
            Some(mail::Ask::Changes)
        } else {
            (form.kind == FormKind::DownloadGate).then_some(mail::Ask::Download)
        };
        let settings = intake.config.mail.as_ref().ok_or_else(|| Error::Config(format!("form {} asks for double opt-in but there is no [mail]", form.id)))?;
        if let Some(ask) = ask.filter(|_| repeats::may_mail(&lead.mails_sent, now, settings)) {
            repeats::note_mail(&mut lead.mails_sent, now);
            let change = out.change.as_deref().filter(|_| ask == mail::Ask::Changes);
            // The visitor was just told to look in their inbox: the mail goes before any backlog.
            deliveries.push(mail_entry(b, intake.config, form, intake.signing, intake.origin, &lead, now, ask, change)?.urgent());
        }
    } else if changed {
        deliveries.extend(updated_entries(b, form, &lead, &out.record, now));
    }
    Ok((lead, deliveries))
}

/// What a dropped bot is answered: the same status and body shape as a person's first submission (a
/// fresh-looking id, the form's first status, a receipt-shaped decoy, and a download link where the form
/// hands one out), none of it valid anywhere.
async fn decoy_answer<B: Backend>(b: &B, form: &FormDef, sub: &Submission, own: &str, now: u64) -> Result<serde_json::Value, Error> {
    // Its id ends like a real one's: in a shard picked by a random "address".
    let anywhere: String = random::<4, B>(b).iter().map(|x| format!("{x:02x}")).collect();
    let id = id::new("ld_", now, random(b)) + &b.home(&form.id, &anywhere).await?.suffix();
    let record = intake::decoy_record(form, sub, now);
    let mut body = json!({"id": id, "status": first_status(form), "receipt": receipt::decoy(&receipt::Receipt::of_record(&id, &form.id, &record), random(b))});
    if let (true, Some(fields)) = (form.kind == FormKind::DownloadGate && !form.double_opt_in, body.as_object_mut()) {
        let valid_ms = form.asset.as_ref().map_or(0, shared::form::Asset::link_valid_ms);
        let link = token::link(own, &random::<32, B>(b), token::Purpose::Download, &id, now + valid_ms);
        fields.insert("download_url".into(), json!(link));
    }
    Ok(body)
}

/// The mail that asks a new lead to confirm its address (see `announcing::mail_entry`), in the urgent lane:
/// the visitor waits for it.
fn confirmation_mail<B: Backend>(b: &B, intake: &Intake<'_>, lead: &Lead, now: u64, ask: mail::Ask) -> Result<Delivery, Error> {
    Ok(mail_entry(b, intake.config, intake.form, intake.signing, intake.origin, lead, now, ask, None)?.urgent())
}

/// A signed download link for a download gate's lead, once it may have the file (with double opt-in: after
/// the confirmation).
pub fn download_link(signing: &str, form: &FormDef, lead: &Lead, origin: &str, now: u64) -> Option<String> {
    let asset = form.asset.as_ref().filter(|_| form.kind == FormKind::DownloadGate && lead.status != Status::Pending)?;
    Some(token::link(origin, signing.as_bytes(), token::Purpose::Download, &lead.id, now + asset.link_valid_ms()))
}
