//! A memory backend for the services' native tests: lead documents and a model of the ledger (outbox
//! included) in maps, scripted HTTP answers, a virtual clock, deterministic randomness, injected faults
//! (fail the n-th operation of a kind, or slow every operation of a kind) and an operation count. The product always runs on KV and the ledger Durable Object (`cloud`); this
//! exists so that every write step of a service can be failed and checked in a native test.
//!
//! Every operation yields once before it acts, so services run side by side with `join` interleave the
//! way requests do on one isolate. The ledger model answers the same commands with the same rules as the
//! SQL in `ledger_object`; the end-to-end tests hold the real one to them.

use crate::protocol::backend::Backend;
use crate::protocol::catalog;
use crate::protocol::funnel::{Cell, Period, Share, Tallies};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{self, Command, Hold, Holder, Replay, Standing};
use crate::protocol::outbox::{Delivery, State};
use crate::protocol::shard::{self, Home, Map, Place, Route};
use crate::rules::crm::{Outbound, Read, Reply};
use crate::Error;
use shared::lead::Lead;
use shared::stage::Stage;
use std::cell::{Cell as Slot, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A kind of operation, for faults and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Reading a lead document.
    ReadLead,
    /// Reading up to a hundred lead documents at once.
    ReadLeads,
    /// Writing a lead document.
    PutLead,
    /// Deleting a lead document.
    DeleteLead,
    /// Reading the old KV email index or draws.
    ReadLegacy,
    /// Deleting a key of the old KV email index.
    DeleteLegacy,
    /// Counting a bot.
    CountBot,
    /// A claim sent to the ledger.
    Claim,
    /// A settle sent to the ledger.
    Settle,
    /// A new address's claim and settle in one request.
    Admit,
    /// A lead index write sent to the ledger.
    Index,
    /// A lead list asked of the ledger.
    List,
    /// Deliveries queued in the ledger's outbox.
    Queue,
    /// Deliveries taken out of the outbox.
    Unqueue,
    /// An attempt's outcome recorded in the outbox.
    Record,
    /// Due deliveries taken from the outbox.
    Due,
    /// An erasure in the ledger.
    Erase,
    /// A draw recorded in the ledger.
    Draw,
    /// A download counted in the ledger.
    Download,
    /// An outbound HTTP request.
    Call,
    /// A flush window's page-view counts written to a views object.
    Count,
    /// The alarm a restarted ledger instance sets for the deliveries it handed back (on its first command,
    /// whatever that asks; see [`Memory::restart`]).
    Rearm,
    /// Any other ledger command.
    LedgerOther,
}

/// The memory backend.
#[derive(Default)]
pub struct Memory {
    /// Lead documents by id.
    pub leads: RefCell<BTreeMap<String, Lead>>,
    /// Secrets by name.
    pub secrets: RefCell<BTreeMap<String, String>>,
    /// Every outbound request made, in order.
    pub sent: RefCell<Vec<Outbound>>,
    /// Every line the services logged, in order (and the model's ledger objects, where the object logs to
    /// the console).
    pub logged: RefCell<Vec<String>>,
    /// Answers outbound requests (default: 204 to everything).
    #[allow(clippy::type_complexity)]
    pub answer: RefCell<Option<Box<dyn FnMut(&Outbound) -> Result<Reply, String>>>>,
    /// The old KV email index: (form, email hash) -> lead id.
    pub legacy: RefCell<BTreeMap<(String, String), String>>,
    /// The shard count of each form (1 for a form not named here), as its config would say.
    pub shards: RefCell<BTreeMap<String, u32>>,
    /// Runs like a collector of the single-object layout: every form lives in the registry object (set, then
    /// cleared, to test the upgrade).
    pub single_object: Slot<bool>,
    /// The ledger's objects, each with its own rows and alarm (see `shard`).
    ledgers: RefCell<BTreeMap<Home, LedgerModel>>,
    clock: Slot<u64>,
    seed: Slot<u64>,
    faults: RefCell<Vec<(Op, usize)>>,
    /// Per kind: from which operation on (its running count) and by how many turns.
    delays: RefCell<BTreeMap<Op, (usize, usize)>>,
    ops: RefCell<BTreeMap<Op, usize>>,
}

impl Memory {
    /// An empty backend whose clock starts at `now_ms`.
    pub fn at(now_ms: u64) -> Memory {
        let m = Memory::default();
        m.clock.set(now_ms);
        m.seed.set(0x9E37_79B9_7F4A_7C15);
        m
    }

    /// Makes the `nth` (1-based, counted from now) operation of kind `op` fail.
    pub fn fail(&self, op: Op, nth: usize) {
        let done = self.count(op);
        self.faults.borrow_mut().push((op, done + nth));
    }

    /// Makes every operation of kind `op` slow: it lets the other futures run `turns` more times before it
    /// acts (a slow endpoint, a slow KV read), so what races it is seen to overtake it.
    pub fn delay(&self, op: Op, turns: usize) {
        self.delay_from(op, 1, turns);
    }

    /// Makes operations of kind `op` slow from the `nth` (1-based, counted from now) on, as [`Memory::delay`]:
    /// to slow one step of a request that does the same kind of operation earlier too.
    pub fn delay_from(&self, op: Op, nth: usize, turns: usize) {
        let done = self.count(op);
        self.delays.borrow_mut().insert(op, (done + nth, turns));
    }

    /// How many operations of kind `op` ran (failed ones included).
    pub fn count(&self, op: Op) -> usize {
        self.ops.borrow().get(&op).copied().unwrap_or(0)
    }

    /// How many operations ran in all.
    pub fn total(&self) -> usize {
        self.ops.borrow().values().sum()
    }

    /// Forgets the counts (faults stay).
    pub fn reset_counts(&self) {
        self.ops.borrow_mut().clear();
        self.faults.borrow_mut().clear();
    }

    /// Moves the virtual clock.
    pub fn advance(&self, ms: u64) {
        self.clock.set(self.clock.get().saturating_add(ms));
    }

    /// The ledger's row for an address: (lead, stored).
    pub fn ledger_row(&self, form: &str, email_hash: &str) -> Option<(String, bool)> {
        let home = self.map().home(form, email_hash);
        self.ledgers.borrow().get(&home)?.emails.get(&(form.to_owned(), email_hash.to_owned())).map(|r| (r.lead.clone(), r.live))
    }

    /// Empties the funnel's aggregates, as in a ledger made before them: the upgrade's tally
    /// (`Command::Tally`) must add every lead, and until it has, funnel questions read the rows.
    pub fn forget_tallies(&self) {
        for ledger in self.ledgers.borrow_mut().values_mut() {
            ledger.cells.clear();
            ledger.gaps.clear();
            ledger.tallying = Some(String::new());
        }
    }

    /// Whether the ledger holds a tombstone for `lead`.
    pub fn tombstoned(&self, lead: &str) -> bool {
        self.ledgers.borrow().get(&Home::of_lead(lead)).is_some_and(|l| l.tombstones.contains_key(lead))
    }

    /// The names of every object's counters.
    pub fn counters(&self) -> Vec<String> {
        self.ledgers.borrow().values().flat_map(|l| l.counters.keys().cloned().collect::<Vec<_>>()).collect()
    }

    /// Every object's outbox, by delivery id.
    pub fn outbox(&self) -> BTreeMap<String, Delivery> {
        self.ledgers.borrow().values().flat_map(|l| l.outbox.clone()).collect()
    }

    /// The deliveries in the outboxes of event `event`.
    pub fn queued(&self, event: &str) -> Vec<Delivery> {
        self.outbox().into_values().filter(|d| d.event == event).collect()
    }

    /// When the first of the objects' alarms is set for, if one is.
    pub fn alarm(&self) -> Option<u64> {
        self.ledgers.borrow().values().filter_map(|l| l.alarm).min()
    }

    /// Fires the objects' alarms that are due by the virtual clock: clears them, as an object does when its
    /// alarm handler starts. Returns whether one fired; the test then runs `delivery::run_due`, which asks
    /// every object for its due deliveries.
    pub fn fire_alarm(&self) -> bool {
        let mut fired = false;
        for ledger in self.ledgers.borrow_mut().values_mut() {
            if ledger.alarm.is_some_and(|at| at <= self.clock.get()) {
                ledger.alarm = None;
                fired = true;
            }
        }
        fired
    }

    /// Starts every ledger object anew, as after the runtime restarted, a deploy or an eviction: what an
    /// instance kept only in memory is gone (the bulk lane's pace), and the deliveries the old instance had
    /// leased are due at once (nothing attempts them any more), as the object's constructor makes them.
    /// Rows and the alarm are durable and stay; an object that handed leases back sets its alarm for them
    /// on its next command, whatever it is (the one its new instance starts for).
    pub fn restart(&self) {
        let now = self.clock.get();
        for ledger in self.ledgers.borrow_mut().values_mut() {
            ledger.paced = 0;
            for id in std::mem::take(&mut ledger.leased) {
                if let Some(d) = ledger.outbox.get_mut(&id) {
                    d.next_at_ms = now;
                    ledger.handed_back = true;
                }
            }
        }
    }

    /// Whether the ledger has an index row for `lead`.
    pub fn indexed(&self, lead: &str) -> bool {
        self.ledgers.borrow().get(&Home::of_lead(lead)).is_some_and(|l| l.leads.contains_key(lead))
    }

    /// The objects that hold rows, by name.
    pub fn objects(&self) -> Vec<String> {
        self.ledgers.borrow().keys().map(Home::name).collect()
    }

    /// Where each form lives, as the collector's routing sees it: every form in the registry in the
    /// single-object layout; else the registry keeps the forms it has rows of, and every other form has its
    /// own shards, as many as it was registered with.
    pub fn map(&self) -> Map {
        let ledgers = self.ledgers.borrow();
        let registry = ledgers.get(&Home::Registry);
        let mut forms: BTreeMap<String, Place> = BTreeMap::new();
        let mut named: Vec<String> = self.shards.borrow().keys().cloned().collect();
        named.extend(ledgers.values().flat_map(LedgerModel::forms));
        for form in named {
            let place = if self.single_object.get() || registry.is_some_and(|r| r.holds(&form)) {
                Place::Registry
            } else {
                let asked = self.shards.borrow().get(&form).copied().unwrap_or(1);
                match registry.and_then(|r| r.registered.get(&form).copied()).unwrap_or(asked) {
                    0 => Place::Registry,
                    shards => Place::Shards { shards },
                }
            };
            forms.insert(form, place);
        }
        Map { forms }
    }
    /// Answers every outbound request with `f`.
    pub fn answer_with(&self, f: impl FnMut(&Outbound) -> Result<Reply, String> + 'static) {
        *self.answer.borrow_mut() = Some(Box::new(f));
    }

    /// What a collector asks the registry once per isolate: where its forms live (registering those with
    /// a shard count, see `cmd::Places`).
    fn register(&self) {
        if !self.single_object.get() {
            let forms: Vec<(String, u32)> = self.shards.borrow().iter().map(|(f, n)| (f.clone(), *n)).collect();
            let legacy = !self.legacy.borrow().is_empty();
            let mut ledgers = self.ledgers.borrow_mut();
            let registry = ledgers.entry(Home::Registry).or_default();
            registry.execute(&Command::Places(cmd::Places { forms, legacy }));
            self.rearm(registry);
        }
    }

    /// Runs `command` in one object: one operation of kind `op`.
    async fn run_at(&self, op: Op, home: Home, command: &Command) -> Result<serde_json::Value, Error> {
        self.op(op).await?;
        if home == Home::Registry {
            if let Some(refused) = self.ledgers.borrow().get(&home).and_then(|r| r.refuses(command)) {
                return Err(refused);
            }
        }
        let mut ledgers = self.ledgers.borrow_mut();
        let ledger = ledgers.entry(home).or_default();
        let answer = ledger.execute(command);
        self.rearm(ledger);
        Ok(answer)
    }

    /// After a request's command, as the object: sets the alarm for the leases a restart handed back, if it
    /// did. The command has done its work, so a failed alarm write does not fail it; it is logged, and the
    /// next command tries again.
    fn rearm(&self, ledger: &mut LedgerModel) {
        if !ledger.handed_back {
            return;
        }
        let n = self.counted(Op::Rearm);
        match self.fault(Op::Rearm, n) {
            Ok(()) => {
                ledger.arm(false);
                ledger.handed_back = false;
            }
            Err(e) => self.logged.borrow_mut().push(format!("ledger leases: the alarm for the leases handed back: {e}")),
        }
    }

    /// Counts an operation, yields once, then fails it if a fault says so.
    async fn op(&self, op: Op) -> Result<(), Error> {
        let n = self.counted(op);
        let turns = 1 + self.delays.borrow().get(&op).filter(|(from, _)| n >= *from).map_or(0, |(_, turns)| *turns);
        for _ in 0..turns {
            YieldOnce(false).await;
        }
        self.fault(op, n)
    }

    /// Counts an operation of kind `op`; returns its running number.
    fn counted(&self, op: Op) -> usize {
        let mut ops = self.ops.borrow_mut();
        let n = ops.entry(op).or_insert(0);
        *n += 1;
        *n
    }

    /// Fails the `n`-th operation of kind `op` if a fault says so.
    fn fault(&self, op: Op, n: usize) -> Result<(), Error> {
        if self.faults.borrow().iter().any(|&(o, at)| o == op && at == n) {
            return Err(Error::Internal(format!("injected fault: {op:?} #{n}")));
        }
        Ok(())
    }
}

impl Backend for Memory {
    async fn lead(&self, id: &str) -> Result<Option<Lead>, Error> {
        self.op(Op::ReadLead).await?;
        Ok(self.leads.borrow().get(id).cloned())
    }

    async fn leads(&self, ids: &[String]) -> Result<Vec<Lead>, Error> {
        // One operation per hundred keys, as KV's bulk read counts.
        for _ in ids.chunks(crate::protocol::backend::BULK_READ) {
            self.op(Op::ReadLeads).await?;
        }
        let leads = self.leads.borrow();
        Ok(ids.iter().filter_map(|id| leads.get(id).cloned()).collect())
    }

    async fn put_lead(&self, lead: &Lead) -> Result<(), Error> {
        self.op(Op::PutLead).await?;
        self.leads.borrow_mut().insert(lead.id.clone(), lead.clone());
        // As over KV: the document first, then its index row. A document without one is invisible, and one
        // written after its lead's erasure is deleted again.
        let indexed: ledger::Indexed = crate::protocol::backend::ask(self, cmd::Index { entry: ledger::Entry::of(lead), only_if_missing: false }).await?;
        if indexed.erased {
            self.leads.borrow_mut().remove(&lead.id);
            return Err(Error::NotFound);
        }
        Ok(())
    }

    async fn put_documents(&self, leads: &[Lead]) -> Vec<Result<(), Error>> {
        let mut out = Vec::with_capacity(leads.len());
        for lead in leads {
            out.push(match self.op(Op::PutLead).await {
                Ok(()) => {
                    self.leads.borrow_mut().insert(lead.id.clone(), lead.clone());
                    Ok(())
                }
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn delete_lead(&self, id: &str) -> Result<(), Error> {
        self.op(Op::DeleteLead).await?;
        self.ledger(&Command::Unindex(cmd::Unindex { lead: id.to_owned() })).await?;
        self.leads.borrow_mut().remove(id);
        Ok(())
    }

    async fn delete_document(&self, id: &str) -> Result<(), Error> {
        self.op(Op::DeleteLead).await?;
        self.leads.borrow_mut().remove(id);
        Ok(())
    }

    async fn legacy_email(&self, form: &str, email_hash: &str) -> Result<Option<String>, Error> {
        self.op(Op::ReadLegacy).await?;
        Ok(self.legacy.borrow().get(&(form.to_owned(), email_hash.to_owned())).cloned())
    }

    async fn legacy_emails(&self, form: &str, email_hashes: &[String]) -> Result<Vec<Option<String>>, Error> {
        for _ in email_hashes.chunks(crate::protocol::backend::BULK_READ) {
            self.op(Op::ReadLegacy).await?;
        }
        let legacy = self.legacy.borrow();
        Ok(email_hashes.iter().map(|h| legacy.get(&(form.to_owned(), h.clone())).cloned()).collect())
    }

    async fn delete_legacy_email(&self, form: &str, email_hash: &str) -> Result<(), Error> {
        self.op(Op::DeleteLegacy).await?;
        self.legacy.borrow_mut().remove(&(form.to_owned(), email_hash.to_owned()));
        Ok(())
    }

    async fn legacy_draws(&self, _form: &str) -> Result<Vec<String>, Error> {
        self.op(Op::ReadLegacy).await?;
        Ok(Vec::new())
    }

    async fn count_bot(&self, form: &str, day: &str) {
        let _ = self.ledger(&Command::CountBot(cmd::CountBot { form: form.to_owned(), day: day.to_owned() })).await;
    }

    async fn home(&self, form: &str, email_hash: &str) -> Result<Home, Error> {
        if self.single_object.get() {
            return Ok(Home::Registry);
        }
        self.register();
        Ok(self.map().home(form, email_hash))
    }

    async fn ledger(&self, command: &Command) -> Result<String, Error> {
        let op = match command {
            Command::Claim(cmd::Claim { .. }) => Op::Claim,
            Command::Settle(cmd::Settle { .. }) => Op::Settle,
            Command::Admit(cmd::Admit { .. }) => Op::Admit,
            Command::Index(cmd::Index { .. }) => Op::Index,
            Command::List(cmd::List { .. }) => Op::List,
            Command::Queue(cmd::Queue { .. }) => Op::Queue,
            Command::Unqueue(cmd::Unqueue { .. }) => Op::Unqueue,
            Command::Record(cmd::Record { .. }) => Op::Record,
            Command::Due(cmd::Due { .. }) => Op::Due,
            Command::Erase(cmd::Erase { .. }) => Op::Erase,
            Command::ClaimMany(cmd::ClaimMany { .. }) => Op::Claim,
            Command::SettleMany(cmd::SettleMany { .. }) => Op::Settle,
            Command::Draw(cmd::Draw { .. }) => Op::Draw,
            Command::CountBot(cmd::CountBot { .. }) => Op::CountBot,
            Command::Download(cmd::Download { .. }) => Op::Download,
            Command::Count(cmd::Count { .. }) => Op::Count,
            _ => Op::LedgerOther,
        };
        self.register();
        let map = self.map();
        let route = if self.single_object.get() { Route::One(Home::Registry) } else { shard::route(&map, command) };
        // As the object does: the answer as JSON text (the memory ledger builds it as a tree first).
        let answer = match route {
            Route::One(home) => self.run_at(op, home, command).await?,
            Route::Each(homes) => {
                // Objects that were never used hold nothing: only those that exist are asked.
                let existing: Vec<Home> = homes.into_iter().filter(|h| self.ledgers.borrow().contains_key(h)).collect();
                let homes = if existing.is_empty() { vec![Home::Registry] } else { existing };
                let mut answers = Vec::new();
                for home in homes {
                    answers.push(self.run_at(op, home, command).await?);
                }
                shard::join(command, answers)?
            }
            Route::Split(parts) => {
                let mut answers = Vec::new();
                for (home, part, positions) in parts {
                    answers.push((positions, self.run_at(op, home, &part).await?));
                }
                shard::join_parts(command, answers)?
            }
        };
        Ok(answer.to_string())
    }

    async fn call(&self, out: &Outbound, _timeout_ms: u64, _read: Read) -> Result<Reply, String> {
        self.op(Op::Call).await.map_err(|e| e.log_line().unwrap_or_default())?;
        self.sent.borrow_mut().push(out.clone());
        match self.answer.borrow_mut().as_mut() {
            Some(f) => f(out),
            None => Ok(Reply { status: 204, ..Reply::default() }),
        }
    }

    /// A call (counted, recorded in `sent` and answered by the scripted answers) to `binding:EMAIL` with the
    /// mail as its body: a status of 400 or more is a refusal whose code is the answer's body.
    async fn send_email(&self, mail: &crate::rules::mail::Mail) -> Result<(), crate::rules::mail::Refusal> {
        let out = Outbound {
            method: "POST",
            url: ["binding:", crate::rules::mail::BINDING].concat(),
            headers: Vec::new(),
            body: Some(serde_json::to_string(mail).unwrap_or_default()),
        };
        let refusal = |code: Option<String>, message: String| crate::rules::mail::Refusal { code, message };
        match self.call(&out, 0, Read::Status).await {
            Ok(r) if r.status < 400 => Ok(()),
            Ok(r) => Err(refusal(Some(r.body).filter(|b| !b.is_empty()), format!("refused ({})", r.status))),
            Err(reason) => Err(refusal(None, reason)),
        }
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.borrow().get(name).cloned()
    }

    fn now_ms(&self) -> u64 {
        self.clock.get()
    }

    async fn sleep(&self, _ms: u64) {
        // Virtual time: waiting costs a millisecond and lets the others run.
        self.advance(1);
        YieldOnce(false).await;
    }

    fn log(&self, line: &str) {
        self.logged.borrow_mut().push(line.to_owned());
    }

    fn fill_random(&self, buf: &mut [u8]) {
        for b in buf {
            // xorshift64: deterministic, and different for every byte asked for.
            let mut x = self.seed.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.seed.set(x);
            *b = x.to_le_bytes()[0];
        }
    }
}

/// A future that is pending once (waking itself) and then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[derive(Default)]
struct EmailRow {
    lead: String,
    live: bool,
    at: u64,
    held: u64,
}

/// The ledger's tables and rules, as `ledger_object` keeps them in SQLite.
/// The catalog's rows in the model: entries, versions by (form, number), the trail in order, the seeded
/// files' digests and the revision.
#[derive(Default)]
struct CatalogModel {
    entries: BTreeMap<String, catalog::Entry>,
    versions: BTreeMap<(String, u32), catalog::Version>,
    trail: Vec<catalog::Trail>,
    seeds: std::collections::BTreeSet<String>,
    revision: u64,
}

impl catalog::Store for CatalogModel {
    type Error = std::convert::Infallible;

    fn entry(&self, form: &str) -> Result<Option<catalog::Entry>, Self::Error> {
        Ok(self.entries.get(form).cloned())
    }

    fn version(&self, form: &str, n: u32) -> Result<Option<catalog::Version>, Self::Error> {
        Ok(self.versions.get(&(form.to_owned(), n)).cloned())
    }

    fn seeded(&self, digest: &str) -> Result<bool, Self::Error> {
        Ok(self.seeds.contains(digest))
    }

    fn note_seeded(&mut self, digest: &str, _: u64) -> Result<(), Self::Error> {
        self.seeds.insert(digest.to_owned());
        Ok(())
    }

    fn keep(&mut self, applied: &catalog::Applied) -> Result<(), Self::Error> {
        self.entries.insert(applied.entry.id.clone(), applied.entry.clone());
        if let Some(v) = &applied.version {
            // Versions are immutable: one written is never replaced.
            self.versions.entry((v.form.clone(), v.n)).or_insert_with(|| v.clone());
        }
        self.trail.extend(applied.trail.clone());
        if applied.republished {
            self.revision += 1;
        }
        Ok(())
    }
}

#[derive(Default)]
struct LedgerModel {
    leads: BTreeMap<String, ledger::Entry>,
    emails: BTreeMap<(String, String), EmailRow>,
    answers: BTreeMap<(String, String), (Option<String>, u64)>,
    tombstones: BTreeMap<String, u64>,
    outbox: BTreeMap<String, Delivery>,
    disabled: BTreeMap<(String, String), ledger::Disabled>,
    draws: Vec<(String, String, String)>,
    bots: BTreeMap<(String, String), u64>,
    /// Each counter's next turn, and when it may be dropped (`cmd::Turn::until`).
    counters: BTreeMap<String, (u64, Option<u64>)>,
    downloads: BTreeMap<String, DownloadRow>,
    alarm: Option<u64>,
    /// The deliveries the running instance has leased and not yet recorded (the object's `leased` column):
    /// a new instance hands them back (see [`Memory::restart`]), and its first command sets the alarm.
    leased: std::collections::BTreeSet<String>,
    /// Whether the last restart handed leases back, until the next command has set the alarm for them.
    handed_back: bool,
    /// Until when the bulk lane waits (`ledger::PACE_MS`). Kept by the instance only, as in the object.
    paced: u64,
    /// In the registry: the forms registered to live in their own shards, with their shard counts.
    registered: BTreeMap<String, u32>,
    /// The forms this object has rows of.
    forms: std::collections::BTreeSet<String>,
    /// The funnel's aggregates: leads per cell.
    cells: BTreeMap<Cell, u64>,
    /// The funnel's aggregates: gaps per cell (its stage and furthest rank left out), later stage and
    /// bucket: how many, and their total ms.
    gaps: BTreeMap<(Cell, Stage, u32), (u64, u64)>,
    /// Up to which lead the aggregates hold the leads while an upgrade's tally runs; `None` once they
    /// hold all (a new ledger's aggregates always do).
    tallying: Option<String>,
    /// In a views object: page-view counts per form and key.
    events: BTreeMap<(String, crate::protocol::analytics::Key), i64>,
    /// In a views object: the day of the salt, and the day's salted visitors.
    salt: Option<u64>,
    visitors: std::collections::BTreeSet<String>,
    catalog: CatalogModel,
}

/// A lead's row in the ledger's `downloads` table.
#[derive(Default)]
struct DownloadRow {
    total: u64,
    hour: u64,
    in_hour: u64,
    folded: u64,
    fold_at: u64,
}

impl LedgerModel {
    /// The forms this object has rows of.
    fn forms(&self) -> Vec<String> {
        self.forms.iter().cloned().collect()
    }

    /// Whether this object (the registry) is the home of `form`: it has rows of it.
    fn holds(&self, form: &str) -> bool {
        self.registered.get(form).is_none_or(|n| *n == 0) && self.forms.contains(form)
    }

    /// The registry refuses new addresses of a form registered to live in its own shards (a Worker with
    /// the old code would write them behind the shards' backs).
    fn refuses(&self, command: &Command) -> Option<Error> {
        let form = match command {
            Command::Claim(c) => &c.form,
            Command::Admit(c) => &c.form,
            Command::ClaimMany(c) => &c.form,
            _ => return None,
        };
        self.registered.get(form).is_some_and(|n| *n > 0).then(|| Error::Internal(format!("form {form} lives in its own ledger objects now")))
    }

    /// Runs `command` on this object's rows (the alarm for leases a restart handed back is set once per
    /// request, by [`Memory::rearm`]).
    fn execute(&mut self, command: &Command) -> serde_json::Value {
        match command {
            Command::Claim(c) => self.forms.insert(c.form.clone()),
            Command::Admit(c) => self.forms.insert(c.form.clone()),
            Command::ClaimMany(c) => self.forms.insert(c.form.clone()),
            Command::Draw(c) => self.forms.insert(c.form.clone()),
            Command::Index(c) => self.forms.insert(c.entry.form.clone()),
            Command::Settle(cmd::Settle { entry: Some(entry), .. }) => self.forms.insert(entry.form.clone()),
            _ => false,
        };
        let ok = serde_json::json!({"ok": true});
        let to = |standing: Standing| serde_json::to_value(standing).unwrap_or_default();
        match command.clone() {
            Command::Claim(claim) => to(self.claim(claim)),
            Command::Admit(cmd::Admit { form, email, lead, key, held_key, legacy, now, answer, deliveries, entry }) => {
                // As the object runs it: the claim (without the key when the request holds it already), and the
                // settle only when the claim was granted.
                let claim_key = if held_key { None } else { key.clone() };
                let standing = self.claim(cmd::Claim { form: form.clone(), email: email.clone(), lead: lead.clone(), key: claim_key, legacy, now });
                let settled = (standing.holder == Holder::Claimed && standing.replay == Replay::Fresh).then(|| {
                    let hold = Hold { email, lead: Some(lead), held: false };
                    self.settle(cmd::Settle { form, hold, key, answer, deliveries, entry })
                });
                serde_json::to_value(ledger::Admission { standing, settled }).unwrap_or_default()
            }
            Command::Settle(settle) => serde_json::to_value(self.settle(settle)).unwrap_or_default(),
            Command::Release(cmd::Release { form, hold: Hold { email, lead, held }, key }) => {
                let k = (form.clone(), email);
                if self.emails.get(&k).is_some_and(|r| !r.live && lead.as_deref() == Some(r.lead.as_str())) {
                    self.emails.remove(&k);
                }
                if held {
                    if let Some(r) = self.emails.get_mut(&k) {
                        r.held = 0;
                    }
                }
                if let Some(key) = key {
                    let a = (form, key);
                    if self.answers.get(&a).is_some_and(|(answer, _)| answer.is_none()) {
                        self.answers.remove(&a);
                    }
                }
                ok
            }
            Command::Look(cmd::Look { form, email, key, now }) => {
                let replay = key.map_or(Replay::Fresh, |key| self.replay(&form, &key, now));
                to(Standing { holder: self.holder(&form, &email, now), replay })
            }
            Command::Reserve(cmd::Reserve { form, key, now }) => serde_json::to_value(self.reserve_key(&form, Some(&key), now)).unwrap_or_default(),
            Command::Hold(cmd::Hold { form, email, now }) => {
                let holder = self.holder(&form, &email, now);
                if let (Holder::Lead { .. }, Some(r)) = (&holder, self.emails.get_mut(&(form, email))) {
                    r.held = now.max(1);
                }
                serde_json::to_value(holder).unwrap_or_default()
            }
            Command::Index(cmd::Index { entry, only_if_missing }) => {
                let erased = self.tombstones.contains_key(&entry.id);
                let kept = only_if_missing && self.leads.contains_key(&entry.id);
                if !erased && !kept {
                    self.put_entry(entry);
                }
                serde_json::to_value(ledger::Indexed { erased }).unwrap_or_default()
            }
            Command::List(cmd::List { form, status, since, qualified, before, limit }) => {
                let limit = limit.clamp(1, ledger::MAX_LIST) as usize;
                let mut ids: Vec<String> = self
                    .leads
                    .values()
                    .rev()
                    .filter(|e| form.as_deref().is_none_or(|f| f == e.form) && status.as_deref().is_none_or(|s| s == e.status))
                    .filter(|e| since.is_none_or(|t| e.created >= t) && before.as_deref().is_none_or(|b| e.id.as_str() < b))
                    .filter(|e| qualified.admits(e))
                    .take(limit + 1)
                    .map(|e| e.id.clone())
                    .collect();
                let more = ids.len() > limit;
                ids.truncate(limit);
                let cursor = if more { ids.last().cloned() } else { None };
                serde_json::to_value(ledger::Page { ids, cursor }).unwrap_or_default()
            }
            Command::Unindex(cmd::Unindex { lead }) => {
                self.drop_entry(&lead);
                ok
            }
            Command::Queue(cmd::Queue { deliveries }) => {
                self.queue(deliveries);
                ok
            }
            Command::Unqueue(cmd::Unqueue { ids, .. }) => {
                for id in ids {
                    self.outbox.remove(&id);
                }
                ok
            }
            Command::Send(cmd::Send { ids, now, .. }) => {
                self.send(&ids, now);
                ok
            }
            Command::Record(cmd::Record { delivery, disable, now }) => {
                self.leased.remove(&delivery.id);
                if let Some(d) = self.outbox.get_mut(&delivery.id) {
                    d.state = delivery.state;
                    d.attempts = delivery.attempts;
                    d.next_at_ms = if delivery.state == State::Pending { delivery.next_at_ms } else { now };
                    d.last_status = delivery.last_status;
                    d.last_error = delivery.last_error;
                    if disable {
                        let status = d.last_status.unwrap_or(410);
                        let row = ledger::Disabled { form: d.form.clone(), endpoint: d.endpoint.clone(), at: now, status };
                        self.disabled.insert((row.form.clone(), row.endpoint.clone()), row);
                    }
                }
                self.arm(false);
                ok
            }
            Command::Due(cmd::Due { now, limit }) => {
                let keyed = |d: &Delivery| (format!("{}/{}", d.form, d.endpoint), d.id.clone());
                let urgent: Vec<(String, String)> = self.waiting().filter(|d| d.urgent && d.next_at_ms <= now).take(limit as usize).map(keyed).collect();
                let bulk: Vec<(String, String)> = if now >= self.paced {
                    self.waiting().filter(|d| !d.urgent && d.next_at_ms <= now).take(ledger::DUE_CANDIDATES as usize).map(keyed).collect()
                } else {
                    Vec::new()
                };
                if !bulk.is_empty() {
                    self.paced = now.saturating_add(ledger::PACE_MS);
                }
                let picked = crate::protocol::outbox::pick_due(urgent, bulk, limit as usize);
                let mut taken = Vec::new();
                for id in picked {
                    if let Some(d) = self.outbox.get_mut(&id) {
                        d.next_at_ms = now.saturating_add(ledger::LEASE_MS);
                        self.leased.insert(id);
                        taken.push(d.clone());
                    }
                }
                serde_json::to_value(taken).unwrap_or_default()
            }
            Command::Deliveries(cmd::Deliveries { filter, before, limit }) => {
                let limit = limit.clamp(1, ledger::MAX_DELIVERIES) as usize;
                let mut rows: Vec<ledger::DeliveryRow> = self
                    .outbox
                    .values()
                    .rev()
                    .filter(|d| before.as_deref().is_none_or(|b| d.id.as_str() < b))
                    .map(ledger::DeliveryRow::of)
                    .filter(|r| r.matches(&filter))
                    .take(limit + 1)
                    .collect();
                let more = rows.len() > limit;
                rows.truncate(limit);
                let cursor = if more { rows.last().map(|r| r.id.clone()) } else { None };
                serde_json::to_value(ledger::DeliveryPage { deliveries: rows, cursor }).unwrap_or_default()
            }
            Command::Replay(cmd::Replay { id, now }) => {
                let found = match self.outbox.get_mut(&id) {
                    Some(d) => {
                        (d.state, d.attempts, d.next_at_ms) = (State::Pending, 0, now);
                        true
                    }
                    None => false,
                };
                self.arm(false);
                serde_json::to_value(ledger::Found { found }).unwrap_or_default()
            }
            Command::Endpoints => serde_json::to_value(self.disabled.values().cloned().collect::<Vec<_>>()).unwrap_or_default(),
            Command::Enable(cmd::Enable { form, endpoint, now }) => {
                self.disabled.remove(&(form.clone(), endpoint.clone()));
                for d in self.outbox.values_mut().filter(|d| d.form == form && d.endpoint == endpoint && d.state == State::Pending) {
                    d.next_at_ms = d.next_at_ms.min(now);
                }
                self.arm(false);
                ok
            }
            Command::Wake(cmd::Wake { now }) => {
                self.outbox.retain(|_, d| d.state != State::Delivered || d.next_at_ms > now.saturating_sub(30 * 86_400_000));
                self.counters.retain(|_, (_, until)| until.is_none_or(|u| u > now));
                let pending = self.waiting().take(ledger::PENDING_COUNTED as usize).count() as u64;
                serde_json::to_value(ledger::Backlog { pending, next_at_ms: self.arm(true), tallied: self.tallying.is_none() }).unwrap_or_default()
            }
            Command::Erase(cmd::Erase { lead, announcements, now }) => {
                let before = self.outbox.len();
                self.outbox.retain(|_, d| d.lead_id != lead);
                let deleted = (before - self.outbox.len()) as u64;
                for d in announcements {
                    self.outbox.insert(d.id.clone(), d);
                }
                self.drop_entry(&lead);
                self.emails.retain(|_, r| r.lead != lead);
                self.downloads.remove(&lead);
                self.tombstones.insert(lead, now);
                self.arm(false);
                serde_json::to_value(ledger::Erasure { deliveries_deleted: deleted }).unwrap_or_default()
            }
            Command::Draw(cmd::Draw { form, id, record, announcements, key, now: _ }) => {
                let scope = crate::protocol::keys::draw_scope(&form);
                let answered = key.as_ref().and_then(|k| self.answers.get(&(scope.clone(), k.clone()))).and_then(|(a, _)| a.clone());
                if let Some(first) = answered {
                    return serde_json::to_value(ledger::Drawn { record: first }).unwrap_or_default();
                }
                if !self.draws.iter().any(|(_, i, _)| *i == id) {
                    self.draws.push((form, id, record.clone()));
                    for d in announcements {
                        self.outbox.entry(d.id.clone()).or_insert(d);
                    }
                }
                if let Some(k) = key {
                    if let Some(a) = self.answers.get_mut(&(scope, k)) {
                        a.0 = Some(record.clone());
                    }
                }
                self.arm(false);
                serde_json::to_value(ledger::Drawn { record }).unwrap_or_default()
            }
            Command::Download(cmd::Download { lead, now, per_hour }) => {
                if self.tombstones.contains_key(&lead) {
                    return serde_json::to_value(ledger::Counted { allowed: true, total: 0, fold: false, retry_after_ms: 0 }).unwrap_or_default();
                }
                let hour = ledger::download_hour(now);
                let row = self.downloads.entry(lead).or_default();
                if row.hour != hour {
                    row.hour = hour;
                    row.in_hour = 0;
                }
                if row.in_hour >= u64::from(per_hour) {
                    let retry_after_ms = (hour + 1) * 3_600_000 - now;
                    return serde_json::to_value(ledger::Counted { allowed: false, total: row.total, fold: false, retry_after_ms }).unwrap_or_default();
                }
                row.total += 1;
                row.in_hour += 1;
                let fold = now.saturating_sub(row.fold_at) >= ledger::FOLD_MS;
                if fold {
                    row.fold_at = now;
                }
                serde_json::to_value(ledger::Counted { allowed: true, total: row.total, fold, retry_after_ms: 0 }).unwrap_or_default()
            }
            Command::Downloads(cmd::Downloads { lead, folded }) => {
                if let (Some(folded), Some(row)) = (folded, self.downloads.get_mut(&lead)) {
                    row.folded = row.folded.max(folded);
                }
                serde_json::to_value(ledger::Downloads { total: self.downloads.get(&lead).map_or(0, |r| r.total) }).unwrap_or_default()
            }
            Command::DownloadTotals(cmd::DownloadTotals { leads }) => {
                let totals: Vec<(String, u64)> = leads.iter().filter_map(|l| self.downloads.get(l).map(|r| (l.clone(), r.total))).collect();
                serde_json::to_value(totals).unwrap_or_default()
            }
            Command::Unfolded(cmd::Unfolded { now, limit }) => {
                let due = now.saturating_sub(ledger::FOLD_MS);
                let mut ids: Vec<(u64, String)> =
                    self.downloads.iter().filter(|(_, r)| r.total > r.folded && r.fold_at <= due).map(|(id, r)| (r.fold_at, id.clone())).collect();
                ids.sort();
                ids.truncate(limit as usize);
                for (_, id) in &ids {
                    if let Some(row) = self.downloads.get_mut(id) {
                        row.fold_at = now;
                    }
                }
                serde_json::to_value(ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>()).unwrap_or_default()
            }
            Command::CountBot(cmd::CountBot { form, day }) => {
                *self.bots.entry((form, day)).or_insert(0) += 1;
                ok
            }
            Command::Count(cmd::Count { batch, now }) => {
                use crate::protocol::analytics::{salted, Key, Kind};
                let day = now / crate::protocol::analytics::DAY_MS;
                if self.salt != Some(day) {
                    // A new day: a new salt, and the day before's digests forgotten.
                    self.salt = Some(day);
                    self.visitors.clear();
                }
                for (key, n) in batch.counts {
                    *self.events.entry((batch.form.clone(), key)).or_insert(0) += n;
                }
                // The model's salt is the day itself: the tests look at what is counted, not at secrecy.
                for visit in batch.visits.into_iter().filter(|v| v.day == day) {
                    if self.visitors.insert(salted(&day.to_be_bytes(), &visit.digest)) {
                        let key = Key::new(day * crate::protocol::analytics::DAY_MS, &visit.source, &visit.campaign, Kind::Visitor);
                        *self.events.entry((batch.form.clone(), key)).or_insert(0) += 1;
                    }
                }
                ok
            }
            Command::Catalog(cmd::Catalog { known, file }) => {
                let c = &self.catalog;
                let forms = (known != Some(c.revision)).then(|| {
                    c.entries.values().filter(|e| !e.archived).filter_map(|e| c.versions.get(&(e.id.clone(), e.published?)).map(|v| v.def.clone())).collect()
                });
                serde_json::to_value(catalog::Catalogue { revision: c.revision, seeded: c.seeds.contains(&file), forms }).unwrap_or_default()
            }
            Command::Seed(cmd::Seed { file, digest, now }) => {
                let Ok(seeded) = catalog::seed(&mut self.catalog, &file, &digest, now);
                serde_json::to_value(seeded).unwrap_or_default()
            }
            Command::Edit(cmd::Edit { form, action, by, now }) => {
                let Ok(edited) = catalog::edit(&mut self.catalog, &form, action, &by, now);
                serde_json::to_value(edited).unwrap_or_default()
            }
            Command::Shelf(cmd::Shelf { form }) => {
                let entries: Vec<&catalog::Entry> = self.catalog.entries.values().filter(|e| form.as_ref().is_none_or(|f| *f == e.id)).collect();
                serde_json::to_value(entries).unwrap_or_default()
            }
            Command::Version(cmd::Version { form, n }) => serde_json::to_value(self.catalog.versions.get(&(form, n))).unwrap_or_default(),
            Command::Versions(cmd::Versions { form }) => {
                let stamps: Vec<catalog::Stamp> =
                    self.catalog.versions.values().rev().filter(|v| v.form == form).map(|v| catalog::Stamp { n: v.n, at: v.at, by: v.by.clone() }).collect();
                serde_json::to_value(stamps).unwrap_or_default()
            }
            Command::Trail(cmd::Trail { form, before, limit }) => {
                let lines: Vec<&catalog::Trail> = self
                    .catalog
                    .trail
                    .iter()
                    .rev()
                    .filter(|t| form.as_ref().is_none_or(|f| *f == t.form) && before.is_none_or(|b| t.at < b))
                    .take(limit as usize)
                    .collect();
                serde_json::to_value(lines).unwrap_or_default()
            }
            Command::Events(cmd::Events { form, first, end, by }) => {
                use crate::protocol::analytics::By;
                let mut sums = crate::protocol::analytics::Sums::default();
                for ((f, key), n) in &self.events {
                    if *f == form && key.day >= first && key.day < end {
                        let group = match by {
                            By::Source => key.source.clone(),
                            By::Campaign => key.campaign.clone(),
                            By::Day => key.day.to_string(),
                            // As the views object: only page views that showed a variant are counted by it.
                            By::Variant if key.variant.is_empty() => continue,
                            By::Variant => key.variant.clone(),
                        };
                        sums.add(Some(group), key.kind, &key.field, &key.code, *n);
                    }
                }
                serde_json::to_value(sums).unwrap_or_default()
            }
            Command::Bots(cmd::Bots { since }) => {
                let rows: Vec<ledger::BotCount> = self
                    .bots
                    .iter()
                    .filter(|((_, day), _)| *day >= since)
                    .map(|((form, day), n)| ledger::BotCount { form: form.clone(), day: day.clone(), count: *n })
                    .collect();
                serde_json::to_value(rows).unwrap_or_default()
            }
            Command::Turn(cmd::Turn { name, count, until }) => {
                let (next, _) = self.counters.entry(name).or_insert((0, until));
                let first = *next;
                *next += count.max(1);
                serde_json::to_value(ledger::Turn { turn: first }).unwrap_or_default()
            }
            Command::ClaimMany(cmd::ClaimMany { form, rows, now }) => {
                let holders: Vec<Holder> = rows
                    .into_iter()
                    .map(|r| {
                        let claim = Command::Claim(cmd::Claim { form: form.clone(), email: r.email, lead: r.lead, key: None, legacy: r.legacy, now });
                        serde_json::from_value::<Standing>(self.execute(&claim)).map(|s| s.holder).unwrap_or(Holder::Reserved)
                    })
                    .collect();
                serde_json::to_value(holders).unwrap_or_default()
            }
            Command::SettleMany(cmd::SettleMany { form, settled, released }) => {
                for r in settled {
                    self.execute(&Command::Settle(cmd::Settle {
                        form: form.clone(),
                        hold: r.hold,
                        key: None,
                        answer: None,
                        deliveries: r.deliveries,
                        entry: Some(r.entry),
                    }));
                }
                for hold in released {
                    self.execute(&Command::Release(cmd::Release { form: form.clone(), hold, key: None }));
                }
                ok
            }
            Command::Funnel(cmd::Funnel { form, from, to, by }) => {
                let of_form = |f: &str| form.as_deref().is_none_or(|want| want == f);
                let mut tallies = Tallies::default();
                let edges = if self.tallying.is_some() {
                    // Not all leads are in the aggregates yet: the rows, as before them.
                    vec![(from.unwrap_or(0), to.unwrap_or(u64::MAX))]
                } else {
                    let ((first, end), edges) = Period { from, to }.split();
                    let days = |day: u64| first.is_none_or(|f| day >= f) && end.is_none_or(|e| day < e);
                    for (cell, n) in self.cells.iter().filter(|(c, _)| of_form(&c.form) && days(c.day)) {
                        tallies.add_cell(cell.key(by), cell.stage, cell.furthest, *n);
                    }
                    for ((cell, stage, bucket), (n, ms)) in self.gaps.iter().filter(|((c, _, _), _)| of_form(&c.form) && days(c.day)) {
                        tallies.add_gaps(cell.key(by), *stage, *bucket, *n, *ms);
                    }
                    edges
                };
                for (from, to) in edges {
                    for e in self.leads.values().filter(|e| of_form(&e.form) && e.created >= from && e.created < to) {
                        tallies.add_share(&e.share(), by);
                    }
                }
                serde_json::to_value(tallies).unwrap_or_default()
            }
            Command::Daily(cmd::Daily { from, by }) => {
                let mut counts: BTreeMap<(Option<String>, u64), u64> = BTreeMap::new();
                if self.tallying.is_some() {
                    for e in self.leads.values().filter(|e| e.created >= from) {
                        *counts.entry((e.group(by), e.created / 86_400_000)).or_insert(0) += 1;
                    }
                } else {
                    for (cell, n) in self.cells.iter().filter(|(c, _)| c.day >= from / 86_400_000) {
                        *counts.entry((cell.key(by), cell.day)).or_insert(0) += n;
                    }
                }
                let rows: Vec<ledger::Daily> = counts.into_iter().map(|((key, day), count)| ledger::Daily { key, day, count }).collect();
                serde_json::to_value(rows).unwrap_or_default()
            }
            Command::Places(cmd::Places { forms, legacy }) => {
                let mut places = Vec::new();
                for (form, shards) in forms {
                    // A registered count of 0 means: it lives here.
                    let place = match self.registered.get(&form) {
                        Some(0) => Place::Registry,
                        Some(n) => Place::Shards { shards: *n },
                        None if self.holds(&form) => Place::Registry,
                        None => {
                            let n = if legacy { 0 } else { shards.clamp(1, shard::MAX_SHARDS) };
                            self.registered.insert(form.clone(), n);
                            if n == 0 {
                                Place::Registry
                            } else {
                                Place::Shards { shards: n }
                            }
                        }
                    };
                    places.push((form, place));
                }
                serde_json::to_value(places).unwrap_or_default()
            }
            Command::Tally(cmd::Tally { limit }) => {
                let Some(cursor) = self.tallying.clone() else {
                    return serde_json::to_value(ledger::Tallied { added: 0, done: true }).unwrap_or_default();
                };
                let batch: Vec<ledger::Entry> = self
                    .leads
                    .range::<String, _>((std::ops::Bound::Excluded(&cursor), std::ops::Bound::Unbounded))
                    .take(limit as usize)
                    .map(|(_, e)| e.clone())
                    .collect();
                for e in &batch {
                    self.add_share(&e.share(), 1);
                }
                let done = batch.len() < limit as usize;
                self.tallying = if done { None } else { batch.last().map(|e| e.id.clone()) };
                serde_json::to_value(ledger::Tallied { added: batch.len() as u64, done }).unwrap_or_default()
            }
            Command::Find(cmd::Find { email }) => {
                let rows: Vec<ledger::Holding> = self
                    .emails
                    .iter()
                    .filter(|((_, e), r)| *e == email && r.live)
                    .map(|((form, _), r)| ledger::Holding { form: form.clone(), lead: r.lead.clone() })
                    .collect();
                serde_json::to_value(rows).unwrap_or_default()
            }
            Command::Draws(cmd::Draws { form }) => {
                serde_json::to_value(self.draws.iter().filter(|(f, _, _)| *f == form).map(|(_, _, r)| r.clone()).collect::<Vec<_>>()).unwrap_or_default()
            }
        }
    }

    /// Pending deliveries to endpoints that are not disabled, oldest due first.
    fn waiting(&self) -> impl Iterator<Item = &Delivery> {
        let mut waiting: Vec<&Delivery> =
            self.outbox.values().filter(|d| d.state == State::Pending && !self.disabled.contains_key(&(d.form.clone(), d.endpoint.clone()))).collect();
        waiting.sort_by_key(|d| d.next_at_ms);
        waiting.into_iter()
    }

    /// Writes a lead's index row, and moves its share of the funnel's aggregates with it.
    fn put_entry(&mut self, entry: ledger::Entry) {
        let held = self.tallying.as_deref().is_none_or(|cursor| ledger::tallied(cursor, &entry.id));
        let before = self.leads.get(&entry.id).map(ledger::Entry::share);
        let after = entry.share();
        if held && before.as_ref() != Some(&after) {
            if let Some(before) = &before {
                self.add_share(before, -1);
            }
            self.add_share(&after, 1);
        }
        self.leads.insert(entry.id.clone(), entry);
    }

    /// Removes a lead's index row and its share of the aggregates.
    fn drop_entry(&mut self, id: &str) {
        if let Some(entry) = self.leads.remove(id) {
            if self.tallying.as_deref().is_none_or(|cursor| ledger::tallied(cursor, id)) {
                self.add_share(&entry.share(), -1);
            }
        }
    }

    /// Adds (`sign` 1) or takes away (-1) one lead's share; emptied sums are dropped, as the object does.
    fn add_share(&mut self, share: &Share, sign: i64) {
        let apply = |n: &mut u64, by: u64| *n = if sign > 0 { *n + by } else { n.saturating_sub(by) };
        let cell = self.cells.entry(share.cell.clone()).or_insert(0);
        apply(cell, 1);
        if *cell == 0 {
            self.cells.remove(&share.cell);
        }
        let base = Cell { stage: Stage::Lead, furthest: 0, ..share.cell.clone() };
        for gap in &share.gaps {
            let key = (base.clone(), gap.stage, gap.bucket);
            let (n, ms) = self.gaps.entry(key.clone()).or_insert((0, 0));
            apply(n, 1);
            apply(ms, gap.ms);
            if *n == 0 {
                self.gaps.remove(&key);
            }
        }
    }

    /// Sets the alarm for the next due delivery if that is sooner than it is set for (or always, for the
    /// watchdog), as the object does after every change to the outbox.
    fn arm(&mut self, always: bool) -> Option<u64> {
        let urgent = self.waiting().filter(|d| d.urgent).map(|d| d.next_at_ms).min();
        let bulk = self.waiting().filter(|d| !d.urgent).map(|d| d.next_at_ms).min();
        let next = ledger::alarm_at(urgent, bulk, self.paced, 0);
        if let Some(next) = next {
            if always || self.alarm.is_none_or(|a| next < a) {
                self.alarm = Some(next);
            }
        }
        next
    }

    /// Queues deliveries, unless known already or of an erased lead (but for the erasure's announcement).
    fn queue(&mut self, deliveries: Vec<Delivery>) {
        for d in deliveries {
            if !self.tombstones.contains_key(&d.lead_id) || d.event == "lead.erased" {
                self.outbox.entry(d.id.clone()).or_insert(d);
            }
        }
        self.arm(false);
    }

    fn send(&mut self, ids: &[String], now: u64) {
        for id in ids {
            if let Some(d) = self.outbox.get_mut(id).filter(|d| d.state == State::Pending && d.attempts == 0) {
                d.next_at_ms = d.next_at_ms.min(now);
            }
        }
        self.arm(false);
    }

    fn holder(&self, form: &str, email: &str, now: u64) -> Holder {
        match self.emails.get(&(form.to_owned(), email.to_owned())) {
            Some(r) if r.live && r.held > 0 && ledger::reservation_holds(r.held, now) => Holder::Reserved,
            Some(r) if r.live => Holder::Lead { lead: r.lead.clone() },
            Some(r) if ledger::reservation_holds(r.at, now) => Holder::Reserved,
            _ => Holder::Nobody,
        }
    }

    fn replay(&self, form: &str, key: &str, now: u64) -> Replay {
        match self.answers.get(&(form.to_owned(), key.to_owned())) {
            Some((Some(answer), at)) if ledger::answer_holds(*at, now) => Replay::Answered { answer: answer.clone() },
            Some((None, at)) if ledger::reservation_holds(*at, now) => Replay::InProgress,
            _ => Replay::Fresh,
        }
    }

    /// [`Command::Claim`].
    fn claim(&mut self, cmd::Claim { form, email, lead, key, legacy, now }: cmd::Claim) -> Standing {
        let replay = self.reserve_key(&form, key.as_deref(), now);
        if replay != Replay::Fresh {
            return Standing { holder: self.holder(&form, &email, now), replay };
        }
        let k = (form.clone(), email.clone());
        if let Some(old) = legacy {
            self.emails.entry(k.clone()).or_insert(EmailRow { lead: old, live: true, at: now, held: 0 });
        }
        if self.emails.get(&k).is_some_and(|r| !r.live && !ledger::reservation_holds(r.at, now)) {
            self.emails.remove(&k);
        }
        self.emails.entry(k.clone()).or_insert(EmailRow { lead: lead.clone(), live: false, at: now, held: 0 });
        let holder = if self.emails.get(&k).is_some_and(|r| r.lead == lead) {
            Holder::Claimed
        } else {
            match self.holder(&form, &email, now) {
                Holder::Lead { lead } => {
                    if let Some(r) = self.emails.get_mut(&k) {
                        r.held = now.max(1);
                    }
                    Holder::Lead { lead }
                }
                other => other,
            }
        };
        Standing { holder, replay }
    }

    /// [`Command::Settle`].
    fn settle(&mut self, cmd::Settle { form, hold: Hold { email, lead, held }, key, answer, deliveries, entry }: cmd::Settle) -> ledger::Indexed {
        if entry.as_ref().is_some_and(|e| self.tombstones.contains_key(&e.id)) {
            return ledger::Indexed { erased: true };
        }
        self.queue(deliveries);
        if let Some(entry) = entry {
            self.put_entry(entry);
        }
        if let Some(row) = self.emails.get_mut(&(form.clone(), email)) {
            if lead.as_deref() == Some(row.lead.as_str()) {
                row.live = true;
            }
            if held {
                row.held = 0;
            }
        }
        if let (Some(key), Some(answer)) = (key, answer) {
            if let Some(a) = self.answers.get_mut(&(form, key)) {
                a.0 = Some(answer);
            }
        }
        ledger::Indexed { erased: false }
    }

    fn reserve_key(&mut self, form: &str, key: Option<&str>, now: u64) -> Replay {
        let Some(key) = key else { return Replay::Fresh };
        self.answers.retain(|_, (_, at)| ledger::answer_holds(*at, now));
        let replay = self.replay(form, key, now);
        if replay == Replay::Fresh {
            self.answers.insert((form.to_owned(), key.to_owned()), (None, now));
        }
        replay
    }
}
