//! The ledger itself: a Durable Object with SQLite storage that answers [`ledger::Command`]s.
//!
//! Each command runs its statements without an `await` between them, so no other command interleaves and
//! the runtime commits them together: each command is one transaction. See `ledger` for the protocol and
//! ARCHITECTURE.md for why one object serves the collector.

use crate::glue::sql::Sql;
use crate::platform::cloud::{self, Cloud, Inside};
use crate::protocol::catalog;
use crate::protocol::funnel::{Period, Share, Tallies};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{self, Command, DeliveryFilter, DeliveryRow, Hold, Holder, Replay, Standing};
use crate::protocol::outbox::{Delivery, State as DeliveryState};
use crate::services::delivery;
use serde::Deserialize;
use shared::stage::Stage;
use std::cell::Cell;
use worker::{durable_object, Date, DurableObject, Env, Request, Response, Result, SqlStorageValue, State};

// Only the operator hosts the objects; the collector reaches them through `script_name` (see `LedgerStub`).
#[cfg_attr(feature = "operator", durable_object)]
pub struct Ledger {
    state: State,
    env: Env,
    sql: Sql,
    /// When this instance last set the alarm for (none once it fired): the alarm is only set again when a
    /// delivery is due sooner, so most commands cost no alarm write.
    armed: Cell<Option<u64>>,
    /// Until when the outbox's bulk lane waits (see `ledger::PACE_MS`). Kept by the instance only: a
    /// restarted object drains one run sooner, which no one notices.
    paced: Cell<u64>,
    /// Rows SQLite read for the funnel question being answered (logged with it).
    rows_read: Cell<u64>,
    /// What `registered` holds for each form this instance has asked about. Only this object writes that
    /// table (one row per form, never changed), and it writes this along with it: every claim asks.
    registry: std::cell::RefCell<std::collections::BTreeMap<String, Option<ledger::Place>>>,
    /// Whether the funnel's aggregates hold every lead (`ledger::TALLIED_ALL`), once this instance has
    /// read so: the cursor never moves back from there, and every index write asks.
    tallied_all: Cell<bool>,
    /// Whether this instance handed back leases of the one before it when it started (see `new`), until
    /// the first command has set the alarm for them.
    handed_back: Cell<bool>,
}

#[cfg(feature = "operator")]
impl DurableObject for Ledger {
    fn new(state: State, env: Env) -> Self {
        let sql = Sql::of(&state.storage().sql());
        // Creating what exists is a no-op; a failure here shows up as an error on the first command.
        for statement in SCHEMA {
            if let Err(e) = sql.exec(statement, None) {
                worker::console_error!("ledger schema: {e}");
            }
        }
        // Once, on a ledger made before A/B tests: the funnel's aggregates move into the tables whose keys
        // have the variant (SQLite cannot change a primary key); `OR IGNORE` makes a move cut short by a
        // restart safe to repeat.
        let before = sql.exec("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'cells'", None).is_ok_and(|c| c.returned_a_row());
        if before {
            for statement in [
                "INSERT OR IGNORE INTO funnel_cells SELECT day, form, source, campaign, owner, '', stage, furthest, n FROM cells",
                "INSERT OR IGNORE INTO funnel_gaps SELECT day, form, source, campaign, owner, '', stage, bucket, n, ms FROM gaps",
                "DROP TABLE cells",
                "DROP TABLE gaps",
            ] {
                if let Err(e) = sql.exec(statement, None) {
                    worker::console_error!("ledger schema: {e}");
                }
            }
        }
        // Once, on a ledger made before parking: park what waits for a disabled endpoint.
        let parked = sql.exec("SELECT 1 AS x FROM meta WHERE name = 'parked'", None).is_ok_and(|c| c.returned_a_row());
        if !parked {
            let park = "UPDATE outbox SET parked = 1 WHERE state = 'pending' AND EXISTS (SELECT 1 FROM disabled x WHERE x.form = outbox.form AND x.endpoint = outbox.endpoint)";
            if let Err(e) = sql.exec(park, None).and_then(|_| sql.exec("INSERT OR IGNORE INTO meta VALUES ('parked', '1')", None)) {
                worker::console_error!("ledger schema: {e}");
            }
        }
        // A lease lives as long as the instance whose alarm took it: attempts run inside the object, so
        // when a new instance starts (the runtime restarted, a deploy, an eviction), nothing is attempting
        // what the previous one had leased, and waiting out `ledger::LEASE_MS` would only delay those
        // deliveries by a quarter of an hour. They are due again at once; an attempt that reached its
        // endpoint before the end is sent again with the same `webhook-id` (deliveries are at least once).
        // An instance starts for a request (a command or its alarm): that first command sets the alarm for
        // them, whatever it is (`handle`; an alarm run takes them anyway).
        let handed_back = match sql.exec("UPDATE outbox SET next_at = ?, leased = 0 WHERE leased = 1", vec![ms(Date::now().as_millis())]) {
            Ok(cursor) => cursor.rows_written() > 0,
            Err(e) => {
                worker::console_error!("ledger leases: {e}");
                false
            }
        };
        Ledger {
            state,
            env,
            sql,
            armed: Cell::new(None),
            paced: Cell::new(0),
            rows_read: Cell::new(0),
            registry: Default::default(),
            tallied_all: Cell::new(false),
            handed_back: Cell::new(handed_back),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Read as text and parsed in the wasm: `Request::json` parses in JavaScript and then converts the
        // object value by value with `serde_wasm_bindgen` (some five calls between wasm and JavaScript per
        // value; a settle carries the whole lead). This alone took the object's calls per submission from
        // 844 to 298 (`cargo xtask bench crossings`).
        let command: Command = match req.text().await.map_err(|e| e.to_string()).and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string())) {
            Ok(c) => c,
            Err(e) => return Response::error(format!("not a ledger command: {e}"), 400),
        };
        match self.handle(command).await {
            Ok(answer) => Response::ok(answer),
            Err(e) => Response::error(format!("ledger: {e}"), 500),
        }
    }

    /// Attempts the due deliveries (see `delivery`), then sets the alarm for the next one.
    async fn alarm(&self) -> Result<Response> {
        self.armed.set(None);
        let run = match (cloud::config(&self.env, Date::now().as_millis()).await, Cloud::inside(&self.env, self)) {
            (Ok(config), Ok(seam)) => delivery::run_due(&seam, &config).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let attempted = match run {
            Ok(run) => {
                if run.attempted > 0 {
                    worker::console_log!("ledger alarm: {} attempted, {} delivered", run.attempted, run.delivered);
                }
                run.attempted
            }
            Err(e) => {
                worker::console_error!("ledger alarm failed: {}", e.log_line().unwrap_or_default());
                0
            }
        };
        // A run that could attempt nothing although deliveries are due (a broken config) waits a minute
        // rather than spinning.
        self.arm(true, if attempted == 0 { RETRY_IDLE_MS } else { 0 }).await?;
        Response::ok("")
    }
}

/// The seam reaches the object's commands directly when it runs inside the object (the alarm's deliveries).
#[cfg(feature = "operator")]
impl Inside for Ledger {
    async fn run_inside(&self, command: &Command) -> Result<String> {
        self.handle(command.clone()).await
    }
}

/// How long the alarm waits after a run that could attempt nothing.
const RETRY_IDLE_MS: u64 = 60_000;

/// How long a delivered delivery stays listed (pending and dead ones stay until they are delivered, replayed
/// or their lead is erased).
const DELIVERED_KEPT_MS: u64 = 30 * 86_400_000;

const SCHEMA: &[&str] = &[
    // One row per address and form: the lead that holds it (`live = 1`) or the request storing one (`live = 0`).
    // `held` is when a repeat took the lead (0 when nobody holds it): one repeat at a time.
    "CREATE TABLE IF NOT EXISTS emails (form TEXT NOT NULL, email TEXT NOT NULL, lead TEXT NOT NULL, live INTEGER NOT NULL, at INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (form, email))",
    "CREATE INDEX IF NOT EXISTS emails_by_lead ON emails (lead)",
    "CREATE INDEX IF NOT EXISTS emails_by_email ON emails (email)",
    // The first answer per idempotency key (`answer` is NULL while the first request is in progress).
    "CREATE TABLE IF NOT EXISTS answers (form TEXT NOT NULL, key TEXT NOT NULL, answer TEXT, at INTEGER NOT NULL, PRIMARY KEY (form, key))",
    "CREATE INDEX IF NOT EXISTS answers_by_time ON answers (at)",
    // The lead index: one row per stored lead, what admin lists and draws filter and sort on.
    "CREATE TABLE IF NOT EXISTS leads (id TEXT PRIMARY KEY, form TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL, score INTEGER NOT NULL, created INTEGER NOT NULL, source TEXT)",
    "CREATE INDEX IF NOT EXISTS leads_by_form ON leads (form, id)",
    // Added with stages; on a ledger made before, the statement fails harmlessly once the column exists.
    "ALTER TABLE leads ADD COLUMN cooling_at INTEGER",
    "ALTER TABLE leads ADD COLUMN owner TEXT",
    "CREATE INDEX IF NOT EXISTS leads_by_owner ON leads (owner, id)",
    "ALTER TABLE leads ADD COLUMN campaign TEXT",
    "ALTER TABLE leads ADD COLUMN variant TEXT",
    "CREATE INDEX IF NOT EXISTS leads_by_created ON leads (created)",
    // When each lead first reached each stage: what the funnel counts.
    "CREATE TABLE IF NOT EXISTS reached (lead TEXT NOT NULL, stage TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (lead, stage))",
    // Counters that must never hand out a number twice (round-robin turns).
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    // Added with counters of a time window (an owner's sign-in links), which the watchdog drops once their
    // window is over; on a ledger made before, fails harmlessly once the column exists. The partial index
    // keeps the watchdog's look at them from stepping over the counters kept for good.
    "ALTER TABLE counters ADD COLUMN until INTEGER",
    "CREATE INDEX IF NOT EXISTS counters_until ON counters (until) WHERE until IS NOT NULL",
    // Erased leads: nothing may bring their data back.
    "CREATE TABLE IF NOT EXISTS tombstones (lead TEXT PRIMARY KEY, at INTEGER NOT NULL)",
    // The outbox: one row per delivery. `next_at` is when a pending one is due (or leased until), and when a
    // delivered or dead one was settled.
    "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, lead TEXT NOT NULL, form TEXT NOT NULL, endpoint TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, last_status INTEGER, last_error TEXT)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_at)",
    "CREATE INDEX IF NOT EXISTS outbox_by_lead ON outbox (lead)",
    // Added with the urgent lane (see `outbox::pick_due`); on a ledger made before, fails harmlessly once the
    // column exists. The partial index keeps finding the few urgent ones cheap however long the backlog.
    "ALTER TABLE outbox ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS outbox_urgent ON outbox (next_at) WHERE state = 'pending' AND urgent = 1",
    // Added with parking: a disabled endpoint's pending deliveries are parked, out of `outbox_ready`, so they
    // cost nothing while they wait (before, each look for the next due delivery stepped over all of them).
    "ALTER TABLE outbox ADD COLUMN parked INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (urgent, next_at) WHERE state = 'pending' AND parked = 0",
    // Added with the handing back of leases (see `Ledger::new`): a delivery taken by an alarm run is marked
    // until its outcome is recorded; the partial index keeps finding the marked ones cheap.
    "ALTER TABLE outbox ADD COLUMN leased INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS outbox_leased ON outbox (id) WHERE leased = 1",
    // Endpoints that answered 410 Gone: their deliveries wait until an admin enables them again.
    "CREATE TABLE IF NOT EXISTS disabled (form TEXT NOT NULL, endpoint TEXT NOT NULL, at INTEGER NOT NULL, status INTEGER NOT NULL, PRIMARY KEY (form, endpoint))",
    // Giveaway draws, each with its record (seed, eligible ids, winners).
    "CREATE TABLE IF NOT EXISTS draws (id TEXT PRIMARY KEY, form TEXT NOT NULL, record TEXT NOT NULL, at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS draws_by_form ON draws (form, at)",
    // Downloads per lead: the total counted, the clock hour and the count in it (the hourly limit), the
    // total its document holds, and when a fold into the document last began.
    "CREATE TABLE IF NOT EXISTS downloads (lead TEXT PRIMARY KEY, total INTEGER NOT NULL, hour INTEGER NOT NULL, in_hour INTEGER NOT NULL, folded INTEGER NOT NULL, fold_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS downloads_unfolded ON downloads (fold_at) WHERE total > folded",
    // The funnel's aggregates (see `funnel`): leads per day, form, groups, stage now and furthest stage;
    // and the histogram of the time between consecutive stages per day, form, groups, stage and bucket.
    // Groups a lead has none of are ''. The day leads each key, so a period's question reads a range.
    // (Before A/B tests they were `cells` and `gaps`, without the variant; see `Ledger::new`.)
    "CREATE TABLE IF NOT EXISTS funnel_cells (day INTEGER NOT NULL, form TEXT NOT NULL, source TEXT NOT NULL, campaign TEXT NOT NULL, owner TEXT NOT NULL, variant TEXT NOT NULL, stage TEXT NOT NULL, furthest INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, form, source, campaign, owner, variant, stage, furthest))",
    "CREATE TABLE IF NOT EXISTS funnel_gaps (day INTEGER NOT NULL, form TEXT NOT NULL, source TEXT NOT NULL, campaign TEXT NOT NULL, owner TEXT NOT NULL, variant TEXT NOT NULL, stage TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL, ms INTEGER NOT NULL, PRIMARY KEY (day, form, source, campaign, owner, variant, stage, bucket))",
    // Up to which lead the aggregates hold the leads (`ledger::TALLIED_ALL`: all). A ledger made before them
    // starts at '' and the cron's `Tally` walks its leads; a new one holds all from the start.
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO meta SELECT 'tallied', CASE WHEN EXISTS (SELECT 1 FROM leads) THEN '' ELSE '~' END",
    // In the registry (see `shard`): where each form was placed, once: its shard count, or 0 for a form that
    // lives in the registry.
    "CREATE TABLE IF NOT EXISTS registered (form TEXT PRIMARY KEY, shards INTEGER NOT NULL, at INTEGER NOT NULL)",
    // In a views object (see `analytics`): page-view counts per form, day, campaign tags, kind, field and code,
    // each a sum of flush windows; and the day's salted visitors, kept for that day only (the salt is in
    // `meta` as 'salt', `<day>:<hex>`).
    "CREATE TABLE IF NOT EXISTS events (form TEXT NOT NULL, day INTEGER NOT NULL, source TEXT NOT NULL, campaign TEXT NOT NULL, kind TEXT NOT NULL, field TEXT NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (form, day, source, campaign, kind, field, code))",
    "CREATE TABLE IF NOT EXISTS visitors (hash TEXT PRIMARY KEY)",
    // The same counts of page views that showed a variant of the form's texts (an A/B test), per variant
    // instead of per campaign tags: what the report by variant reads.
    "CREATE TABLE IF NOT EXISTS variant_events (form TEXT NOT NULL, day INTEGER NOT NULL, variant TEXT NOT NULL, kind TEXT NOT NULL, field TEXT NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (form, day, variant, kind, field, code))",
    // In the catalog (see `catalog`): each form's entry (its draft and state as JSON, with the published
    // version and the archive flag as columns for the collectors' read), its published versions (never
    // updated), the audit trail, and the config files seeded (the revision is in `meta` as 'revision').
    "CREATE TABLE IF NOT EXISTS catalog (id TEXT PRIMARY KEY, entry TEXT NOT NULL, published INTEGER, archived INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS versions (form TEXT NOT NULL, n INTEGER NOT NULL, def TEXT NOT NULL, at INTEGER NOT NULL, by TEXT NOT NULL, PRIMARY KEY (form, n))",
    "CREATE TABLE IF NOT EXISTS trail (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, by TEXT NOT NULL, form TEXT NOT NULL, did TEXT NOT NULL, version INTEGER)",
    "CREATE INDEX IF NOT EXISTS trail_by_form ON trail (form, seq)",
    "CREATE TABLE IF NOT EXISTS seeds (digest TEXT PRIMARY KEY, at INTEGER NOT NULL)",
    // Dropped bot submissions per form and day.
    "CREATE TABLE IF NOT EXISTS bots (form TEXT NOT NULL, day TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (form, day))",
];

/// Pending deliveries to endpoints that are not disabled (a `WHERE` clause over `outbox o`): a disabled
/// endpoint's deliveries are parked (`parked = 1`), so finding the next due one is a look-up in
/// `outbox_ready`, however many wait for an endpoint that is down.
const WAITING: &str = "o.state = 'pending' AND o.parked = 0";

/// The columns of a [`DeliveryRow`].
const ROW_COLUMNS: &str = "id, lead, form, endpoint, event, state, attempts, next_at, last_status, last_error";

#[derive(Deserialize)]
struct OutboxRow {
    id: String,
    lead: String,
    form: String,
    endpoint: String,
    event: String,
    #[serde(default)]
    payload: String,
    state: DeliveryState,
    attempts: f64,
    next_at: f64,
    last_status: Option<f64>,
    last_error: Option<String>,
    #[serde(default)]
    urgent: f64,
}

impl OutboxRow {
    fn delivery(self) -> Delivery {
        Delivery {
            id: self.id,
            lead_id: self.lead,
            form: self.form,
            endpoint: self.endpoint,
            event: self.event,
            payload: self.payload,
            state: self.state,
            attempts: self.attempts as u32,
            next_at_ms: self.next_at as u64,
            last_status: self.last_status.map(|s| s as u16),
            last_error: self.last_error,
            urgent: self.urgent >= 1.0,
        }
    }
}

#[derive(Deserialize)]
struct DueRow {
    id: String,
    form: String,
    endpoint: String,
}

#[derive(Deserialize)]
struct NextRow {
    next: Option<f64>,
}

#[derive(Deserialize)]
struct PendingRow {
    pending: f64,
}

#[derive(Deserialize)]
struct DisabledRow {
    form: String,
    endpoint: String,
    at: f64,
    status: f64,
}

#[derive(Deserialize)]
struct DailyRow {
    key: Option<String>,
    day: f64,
    count: f64,
}

#[derive(Deserialize)]
struct FunnelRow {
    id: String,
    key: Option<String>,
    stage: String,
    reached: Option<String>,
    at: Option<f64>,
}

#[derive(Deserialize)]
struct EventSum {
    key: String,
    kind: String,
    field: String,
    code: String,
    n: f64,
}

#[derive(Deserialize)]
struct CellSum {
    key: String,
    stage: String,
    furthest: f64,
    n: f64,
}

#[derive(Deserialize)]
struct GapSum {
    key: String,
    stage: String,
    bucket: f64,
    n: f64,
    ms: f64,
}

#[derive(Deserialize)]
struct ShareRow {
    form: String,
    created: f64,
    source: Option<String>,
    campaign: Option<String>,
    owner: Option<String>,
    variant: Option<String>,
    stage: String,
}

#[derive(Deserialize)]
struct ReachedRow {
    stage: String,
    at: f64,
}

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

#[derive(Deserialize)]
struct ShardsRow {
    shards: f64,
}

#[derive(Deserialize)]
struct TurnRow {
    n: f64,
}

#[derive(Deserialize)]
struct BotRow {
    form: String,
    day: String,
    count: f64,
}

#[derive(Deserialize)]
struct RecordRow {
    record: String,
}

#[derive(Deserialize)]
struct EmailRow {
    lead: String,
    live: f64,
    at: f64,
    held: f64,
}

#[derive(Deserialize)]
struct CountRow {
    total: f64,
}

#[derive(Deserialize)]
struct TotalRow {
    lead: String,
    total: f64,
}

#[derive(Deserialize)]
struct LeadRow {
    lead: String,
}

#[derive(Deserialize)]
struct DownloadRow {
    total: f64,
    hour: f64,
    in_hour: f64,
    fold_at: f64,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct AnswerRow {
    answer: Option<String>,
    at: f64,
}

/// The `funnel_cells` column a grouping reads (see `funnel::Cell::key`, its twin for the memory backend).
fn column(by: crate::protocol::funnel::By) -> &'static str {
    match by {
        crate::protocol::funnel::By::Source => "source",
        crate::protocol::funnel::By::Campaign => "campaign",
        crate::protocol::funnel::By::Form => "form",
        crate::protocol::funnel::By::Owner => "owner",
        crate::protocol::funnel::By::Day => "CAST(day AS TEXT)",
        crate::protocol::funnel::By::Variant => "variant",
    }
}

/// The `leads` column a grouping reads, of the table named `t` (see `ledger::Entry::group`, its twin for
/// the memory backend).
fn lead_column(by: crate::protocol::funnel::By, t: &str) -> String {
    match by {
        crate::protocol::funnel::By::Day => format!("CAST(CAST({t}created / 86400000 AS INTEGER) AS TEXT)"),
        by => format!("{t}{}", column(by)),
    }
}

/// Unix ms as SQLite stores them (JavaScript numbers hold them exactly).
fn ms(v: u64) -> SqlStorageValue {
    SqlStorageValue::Float(v as f64)
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_owned())
}

#[derive(Deserialize)]
struct DefRow {
    def: String,
}

#[derive(Deserialize)]
struct EntryRow {
    entry: String,
}

#[derive(Deserialize)]
struct StampRow {
    n: f64,
    at: f64,
    by: String,
}

#[derive(Deserialize)]
struct TrailRow {
    at: f64,
    by: String,
    form: String,
    did: String,
    version: Option<f64>,
}

/// The catalog's rows in the object's SQL (`catalog::Store`): the edits' logic is the protocol's, this
/// only reads and writes rows. A command's statements run in one transaction, as every command's do.
struct Shelves<'l>(&'l Ledger);

impl catalog::Store for Shelves<'_> {
    type Error = worker::Error;

    fn entry(&self, form: &str) -> Result<Option<catalog::Entry>> {
        let rows: Vec<EntryRow> = self.0.sql.exec("SELECT entry FROM catalog WHERE id = ?", vec![text(form)])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| serde_json::from_str(&r.entry)).transpose()?)
    }

    fn version(&self, form: &str, n: u32) -> Result<Option<catalog::Version>> {
        let rows: Vec<VersionRow> =
            self.0.sql.exec("SELECT def, at, by FROM versions WHERE form = ? AND n = ?", vec![text(form), SqlStorageValue::Float(f64::from(n))])?.to_array()?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        Ok(Some(catalog::Version { form: form.to_owned(), n, def: serde_json::from_str(&row.def)?, at: row.at as u64, by: row.by }))
    }

    fn seeded(&self, digest: &str) -> Result<bool> {
        Ok(self.0.sql.exec("SELECT 1 AS x FROM seeds WHERE digest = ?", vec![text(digest)])?.returned_a_row())
    }

    fn note_seeded(&mut self, digest: &str, now: u64) -> Result<()> {
        self.0.sql.exec("INSERT OR IGNORE INTO seeds VALUES (?, ?)", vec![text(digest), ms(now)])?;
        Ok(())
    }

    fn keep(&mut self, applied: &catalog::Applied) -> Result<()> {
        let e = &applied.entry;
        self.0.sql.exec(
            "INSERT OR REPLACE INTO catalog VALUES (?, ?, ?, ?)",
            vec![
                text(&e.id),
                text(&serde_json::to_string(e)?),
                e.published.map_or(SqlStorageValue::Null, |n| SqlStorageValue::Float(f64::from(n))),
                SqlStorageValue::Float(if e.archived { 1.0 } else { 0.0 }),
            ],
        )?;
        if let Some(v) = &applied.version {
            // `OR IGNORE`: a version once written is never replaced.
            self.0.sql.exec(
                "INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, ?)",
                vec![text(&v.form), SqlStorageValue::Float(f64::from(v.n)), text(&serde_json::to_string(&v.def)?), ms(v.at), text(&v.by)],
            )?;
        }
        if let Some(t) = &applied.trail {
            let did = serde_json::to_value(t.did)?.as_str().unwrap_or_default().to_owned();
            self.0.sql.exec(
                "INSERT INTO trail (at, by, form, did, version) VALUES (?, ?, ?, ?, ?)",
                vec![ms(t.at), text(&t.by), text(&t.form), text(&did), t.version.map_or(SqlStorageValue::Null, |n| SqlStorageValue::Float(f64::from(n)))],
            )?;
        }
        if applied.republished {
            self.0
                .sql
                .exec("INSERT INTO meta VALUES ('revision', '1') ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)", None)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct VersionRow {
    def: String,
    at: f64,
    by: String,
}

impl Ledger {
    /// The catalog's revision (0 before its first publish).
    fn revision(&self) -> Result<u64> {
        let rows: Vec<ValueRow> = self.sql.exec("SELECT value FROM meta WHERE name = 'revision'", None)?.to_array()?;
        Ok(rows.into_iter().next().and_then(|r| r.value.parse().ok()).unwrap_or(0))
    }
}

/// The answer of a command that has nothing to tell but that it was done.
const OK: &str = r#"{"ok":true}"#;

/// A command's answer as the JSON text the stub reads (`backend::ask` parses it into the answer's type).
fn reply<T: serde::Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

impl Ledger {
    fn run(&self, command: Command) -> Result<String> {
        let value = match command {
            Command::Claim(cmd::Claim { form, email, lead, key, legacy, now }) => {
                reply(&self.stand(&form, &email, &lead, key.as_deref(), legacy.as_deref(), now)?)?
            }
            Command::ClaimMany(cmd::ClaimMany { form, rows, now }) => {
                self.refuse_registered(&form)?;
                let mut holders = Vec::with_capacity(rows.len());
                for row in &rows {
                    holders.push(self.claim(&form, &row.email, &row.lead, row.legacy.as_deref(), now)?);
                }
                reply(&holders)?
            }
            Command::SettleMany(cmd::SettleMany { form, settled, released }) => {
                for row in &settled {
                    for d in &row.deliveries {
                        self.queue(d)?;
                    }
                    self.settle(&form, &row.hold)?;
                    self.index(&row.entry, false)?;
                }
                for hold in &released {
                    self.release(&form, hold)?;
                }
                OK.to_owned()
            }
            Command::Settle(cmd::Settle { form, hold, key, answer, deliveries, entry }) => {
                reply(&self.settle_stored(&form, &hold, key.as_deref(), answer.as_deref(), &deliveries, entry.as_ref())?)?
            }
            Command::Admit(cmd::Admit { form, email, lead, key, held_key, legacy, now, answer, deliveries, entry }) => {
                // A claim, as `Claim` makes it (without the key when the request holds it already); then, only
                // when it is granted, the settle of the lead.
                let claim_key = if held_key { None } else { key.as_deref() };
                let Standing { holder, replay } = self.stand(&form, &email, &lead, claim_key, legacy.as_deref(), now)?;
                let settled = if replay == Replay::Fresh && holder == Holder::Claimed {
                    let hold = Hold { email, lead: Some(lead), held: false };
                    Some(self.settle_stored(&form, &hold, key.as_deref(), answer.as_deref(), &deliveries, entry.as_ref())?)
                } else {
                    None
                };
                reply(&ledger::Admission { standing: Standing { holder, replay }, settled })?
            }
            Command::Release(cmd::Release { form, hold, key }) => {
                self.release(&form, &hold)?;
                if let Some(key) = key {
                    self.sql.exec("DELETE FROM answers WHERE form = ? AND key = ? AND answer IS NULL", vec![text(&form), text(&key)])?;
                }
                OK.to_owned()
            }
            Command::Look(cmd::Look { form, email, key, now }) => {
                let replay = match key {
                    Some(key) => self.replay(&form, &key, now)?,
                    None => Replay::Fresh,
                };
                reply(&Standing { holder: self.holder(&form, &email, now)?, replay })?
            }
            Command::Reserve(cmd::Reserve { form, key, now }) => reply(&self.reserve_key(&form, Some(&key), now)?)?,
            Command::Hold(cmd::Hold { form, email, now }) => {
                let holder = self.holder(&form, &email, now)?;
                if let Holder::Lead { .. } = holder {
                    self.sql.exec("UPDATE emails SET held = ? WHERE form = ? AND email = ?", vec![ms(now.max(1)), text(&form), text(&email)])?;
                }
                reply(&holder)?
            }
            Command::Index(cmd::Index { entry, only_if_missing }) => {
                self.index(&entry, only_if_missing)?;
                reply(&ledger::Indexed { erased: self.tombstoned(&entry.id)? })?
            }
            Command::List(cmd::List { form, status, since, qualified, before, limit }) => {
                let limit = limit.clamp(1, ledger::MAX_LIST);
                // One more than asked: whether a next page exists.
                let rows: Vec<IdRow> = self
                    .sql
                    .exec(
                        "SELECT id FROM leads WHERE (?1 IS NULL OR form = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR created >= ?3) AND (?4 IS NULL OR id < ?4) \
                         AND (?6 IS NULL OR stage = ?6) AND (?7 IS NULL OR score >= ?7) AND (?8 IS NULL OR score <= ?8) AND (?9 IS NULL OR cooling_at <= ?9) \
                         AND (?10 IS NULL OR (?10 = 'none' AND owner IS NULL) OR owner = ?10) \
                         ORDER BY id DESC LIMIT ?5",
                        vec![
                            form.as_deref().map_or(SqlStorageValue::Null, text),
                            status.as_deref().map_or(SqlStorageValue::Null, text),
                            since.map_or(SqlStorageValue::Null, ms),
                            before.as_deref().map_or(SqlStorageValue::Null, text),
                            SqlStorageValue::Float(f64::from(limit) + 1.0),
                            qualified.stage.as_deref().map_or(SqlStorageValue::Null, text),
                            qualified.min_score.map_or(SqlStorageValue::Null, |s| SqlStorageValue::Float(s as f64)),
                            qualified.max_score.map_or(SqlStorageValue::Null, |s| SqlStorageValue::Float(s as f64)),
                            qualified.cooling_at.map_or(SqlStorageValue::Null, ms),
                            qualified.owner.as_deref().map_or(SqlStorageValue::Null, text),
                        ],
                    )?
                    .to_array()?;
                let mut ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
                let more = ids.len() > limit as usize;
                ids.truncate(limit as usize);
                let cursor = if more { ids.last().cloned() } else { None };
                reply(&ledger::Page { ids, cursor })?
            }
            Command::Unindex(cmd::Unindex { lead }) => {
                self.untally(&lead)?;
                self.sql.exec("DELETE FROM leads WHERE id = ?", vec![text(&lead)])?;
                self.sql.exec("DELETE FROM reached WHERE lead = ?", vec![text(&lead)])?;
                OK.to_owned()
            }
            Command::Queue(cmd::Queue { deliveries }) => {
                for d in &deliveries {
                    self.queue(d)?;
                }
                OK.to_owned()
            }
            Command::Unqueue(cmd::Unqueue { ids, .. }) => {
                for id in ids {
                    self.sql.exec("DELETE FROM outbox WHERE id = ?", vec![text(&id)])?;
                }
                OK.to_owned()
            }
            Command::Send(cmd::Send { ids, now, .. }) => {
                self.send(&ids, now)?;
                OK.to_owned()
            }
            Command::Record(cmd::Record { delivery: d, disable, now }) => {
                // Only a row that is still there is updated, and never its payload: an attempt that ends
                // after an erasure writes nothing back.
                let next = if d.state == DeliveryState::Pending { d.next_at_ms } else { now };
                self.sql.exec(
                    "UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?, leased = 0 WHERE id = ?",
                    vec![
                        text(d.state.as_str()),
                        SqlStorageValue::Float(f64::from(d.attempts)),
                        ms(next),
                        d.last_status.map_or(SqlStorageValue::Null, |s| SqlStorageValue::Float(f64::from(s))),
                        d.last_error.as_deref().map_or(SqlStorageValue::Null, text),
                        text(&d.id),
                    ],
                )?;
                if disable {
                    self.sql.exec(
                        "INSERT OR REPLACE INTO disabled VALUES (?, ?, ?, ?)",
                        vec![text(&d.form), text(&d.endpoint), ms(now), SqlStorageValue::Float(f64::from(d.last_status.unwrap_or(410)))],
                    )?;
                }
                // A disabled endpoint's deliveries wait parked: all of them when this answer disabled it (once,
                // a scan), else this one if another's answer did while it was under way (a look-up).
                let disabled = "EXISTS (SELECT 1 FROM disabled x WHERE x.form = outbox.form AND x.endpoint = outbox.endpoint)";
                if disable {
                    self.sql.exec(
                        &format!("UPDATE outbox SET parked = 1 WHERE form = ? AND endpoint = ? AND state = 'pending' AND {disabled}"),
                        vec![text(&d.form), text(&d.endpoint)],
                    )?;
                } else if d.state == DeliveryState::Pending {
                    self.sql.exec(&format!("UPDATE outbox SET parked = 1 WHERE id = ? AND state = 'pending' AND {disabled}"), vec![text(&d.id)])?;
                }
                OK.to_owned()
            }
            Command::Due(cmd::Due { now, limit }) => {
                let urgent: Vec<DueRow> = self
                    .sql
                    .exec(
                        &format!("SELECT id, form, endpoint FROM outbox o WHERE {WAITING} AND o.urgent = 1 AND o.next_at <= ? ORDER BY o.next_at LIMIT ?"),
                        vec![ms(now), SqlStorageValue::Float(f64::from(limit))],
                    )?
                    .to_array()?;
                // The bulk lane only when its pace allows (see `ledger::PACE_MS`).
                let bulk: Vec<DueRow> = if now >= self.paced.get() {
                    self.sql
                        .exec(
                            &format!("SELECT id, form, endpoint FROM outbox o WHERE {WAITING} AND o.urgent = 0 AND o.next_at <= ? ORDER BY o.next_at LIMIT ?"),
                            vec![ms(now), SqlStorageValue::Float(f64::from(ledger::DUE_CANDIDATES))],
                        )?
                        .to_array()?
                } else {
                    Vec::new()
                };
                if !bulk.is_empty() {
                    self.paced.set(now.saturating_add(ledger::PACE_MS));
                }
                let keyed = |rows: Vec<DueRow>| rows.into_iter().map(|r| (format!("{}/{}", r.form, r.endpoint), r.id)).collect();
                let mut taken = Vec::new();
                for id in crate::protocol::outbox::pick_due(keyed(urgent), keyed(bulk), limit as usize) {
                    let rows: Vec<OutboxRow> = self
                        .sql
                        .exec("UPDATE outbox SET next_at = ?, leased = 1 WHERE id = ? RETURNING *", vec![ms(now.saturating_add(ledger::LEASE_MS)), text(&id)])?
                        .to_array()?;
                    taken.extend(rows.into_iter().map(OutboxRow::delivery));
                }
                reply(&taken)?
            }
            Command::Deliveries(cmd::Deliveries { filter, before, limit }) => {
                let DeliveryFilter { status, form, endpoint, lead } = filter;
                let limit = limit.clamp(1, ledger::MAX_DELIVERIES);
                let rows: Vec<OutboxRow> = self
                    .sql
                    .exec(
                        &format!(
                            "SELECT {ROW_COLUMNS} FROM outbox WHERE (?1 IS NULL OR state = ?1 OR (?1 = 'failed' AND state = 'pending' AND attempts > 0)) \
                             AND (?2 IS NULL OR form = ?2) AND (?3 IS NULL OR endpoint = ?3) AND (?4 IS NULL OR lead = ?4) AND (?5 IS NULL OR id < ?5) \
                             ORDER BY id DESC LIMIT ?6"
                        ),
                        vec![
                            status.as_deref().map_or(SqlStorageValue::Null, text),
                            form.as_deref().map_or(SqlStorageValue::Null, text),
                            endpoint.as_deref().map_or(SqlStorageValue::Null, text),
                            lead.as_deref().map_or(SqlStorageValue::Null, text),
                            before.as_deref().map_or(SqlStorageValue::Null, text),
                            SqlStorageValue::Float(f64::from(limit) + 1.0),
                        ],
                    )?
                    .to_array()?;
                let mut deliveries: Vec<DeliveryRow> = rows.into_iter().map(|r| DeliveryRow::of(&r.delivery())).collect();
                let more = deliveries.len() > limit as usize;
                deliveries.truncate(limit as usize);
                let cursor = if more { deliveries.last().map(|d| d.id.clone()) } else { None };
                reply(&ledger::DeliveryPage { deliveries, cursor })?
            }
            Command::Replay(cmd::Replay { id, now }) => {
                self.sql.exec(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?, parked = EXISTS (SELECT 1 FROM disabled x WHERE x.form = outbox.form AND x.endpoint = outbox.endpoint) WHERE id = ?",
                    vec![ms(now), text(&id)],
                )?;
                let found = self.sql.exec("SELECT id FROM outbox WHERE id = ?", vec![text(&id)])?.returned_a_row();
                reply(&ledger::Found { found })?
            }
            Command::Endpoints => {
                let rows: Vec<DisabledRow> = self.sql.exec("SELECT form, endpoint, at, status FROM disabled", None)?.to_array()?;
                let rows: Vec<ledger::Disabled> =
                    rows.into_iter().map(|r| ledger::Disabled { form: r.form, endpoint: r.endpoint, at: r.at as u64, status: r.status as u16 }).collect();
                reply(&rows)?
            }
            Command::Enable(cmd::Enable { form, endpoint, now }) => {
                self.sql.exec("DELETE FROM disabled WHERE form = ? AND endpoint = ?", vec![text(&form), text(&endpoint)])?;
                self.sql.exec(
                    "UPDATE outbox SET next_at = MIN(next_at, ?), parked = 0 WHERE form = ? AND endpoint = ? AND state = 'pending'",
                    vec![ms(now), text(&form), text(&endpoint)],
                )?;
                OK.to_owned()
            }
            Command::Wake(cmd::Wake { now }) => {
                self.sql.exec("DELETE FROM outbox WHERE state = 'delivered' AND next_at <= ?", vec![ms(now.saturating_sub(DELIVERED_KEPT_MS))])?;
                self.sql.exec("DELETE FROM counters WHERE until IS NOT NULL AND until <= ?", vec![ms(now)])?;
                // Counted for the log, and only so far: the watchdog must not cost more as a backlog grows.
                let pending: Vec<PendingRow> = self
                    .sql
                    .exec(
                        &format!("SELECT COUNT(*) AS pending FROM (SELECT 1 FROM outbox o WHERE {WAITING} LIMIT ?)"),
                        vec![SqlStorageValue::Float(ledger::PENDING_COUNTED as f64)],
                    )?
                    .to_array()?;
                let next = self.next_due(now)?;
                reply(&ledger::Backlog {
                    pending: pending.first().map_or(0, |p| p.pending as u64),
                    next_at_ms: next,
                    tallied: self.tally_cursor()? == ledger::TALLIED_ALL,
                })?
            }
            Command::Erase(cmd::Erase { lead, announcements, now }) => {
                let deleted: Vec<serde_json::Value> = self.sql.exec("SELECT id FROM outbox WHERE lead = ?", vec![text(&lead)])?.to_array()?;
                self.sql.exec("DELETE FROM outbox WHERE lead = ?", vec![text(&lead)])?;
                for d in &announcements {
                    self.queue(d)?;
                }
                self.untally(&lead)?;
                self.sql.exec("DELETE FROM leads WHERE id = ?", vec![text(&lead)])?;
                self.sql.exec("DELETE FROM reached WHERE lead = ?", vec![text(&lead)])?;
                self.sql.exec("DELETE FROM emails WHERE lead = ?", vec![text(&lead)])?;
                self.sql.exec("DELETE FROM downloads WHERE lead = ?", vec![text(&lead)])?;
                self.sql.exec("INSERT OR REPLACE INTO tombstones VALUES (?, ?)", vec![text(&lead), ms(now)])?;
                reply(&ledger::Erasure { deliveries_deleted: deleted.len() as u64 })?
            }
            Command::Draw(cmd::Draw { form, id, record, announcements, key, now }) => {
                let scope = crate::protocol::keys::draw_scope(&form);
                if let Some(key) = &key {
                    if let Replay::Answered { answer } = self.replay(&scope, key, now)? {
                        return reply(&ledger::Drawn { record: answer });
                    }
                }
                let known = self.sql.exec("SELECT id FROM draws WHERE id = ?", vec![text(&id)])?.returned_a_row();
                if !known {
                    self.sql.exec("INSERT INTO draws VALUES (?, ?, ?, ?)", vec![text(&id), text(&form), text(&record), ms(now)])?;
                    for d in &announcements {
                        self.queue(d)?;
                    }
                }
                if let Some(key) = key {
                    self.sql.exec("UPDATE answers SET answer = ? WHERE form = ? AND key = ?", vec![text(&record), text(&scope), text(&key)])?;
                }
                reply(&ledger::Drawn { record })?
            }
            Command::CountBot(cmd::CountBot { form, day }) => {
                self.sql.exec("INSERT INTO bots VALUES (?, ?, 1) ON CONFLICT (form, day) DO UPDATE SET count = count + 1", vec![text(&form), text(&day)])?;
                OK.to_owned()
            }
            Command::Bots(cmd::Bots { since }) => {
                let rows: Vec<BotRow> = self.sql.exec("SELECT form, day, count FROM bots WHERE day >= ? ORDER BY day, form", vec![text(&since)])?.to_array()?;
                reply(&rows.into_iter().map(|r| ledger::BotCount { form: r.form, day: r.day, count: r.count as u64 }).collect::<Vec<_>>())?
            }
            Command::Turn(cmd::Turn { name, count, until }) => {
                // `n` is the next free turn; this command takes `count` of them.
                let count = count.max(1);
                self.sql.exec(
                    "INSERT INTO counters (name, n, until) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET n = n + ?2",
                    vec![text(&name), SqlStorageValue::Float(count as f64), until.map_or(SqlStorageValue::Null, ms)],
                )?;
                let rows: Vec<TurnRow> = self.sql.exec("SELECT n FROM counters WHERE name = ?", vec![text(&name)])?.to_array()?;
                reply(&ledger::Turn { turn: rows.first().map_or(0, |r| (r.n as u64).saturating_sub(count)) })?
            }
            Command::Funnel(cmd::Funnel { form, from, to, by }) => {
                let mut tallies = Tallies::default();
                let edges = if self.tally_cursor()? != ledger::TALLIED_ALL {
                    // Not every lead is in the aggregates yet (the upgrade's tally runs): the rows.
                    vec![(from.unwrap_or(0), to.unwrap_or(u64::MAX))]
                } else {
                    let ((first, end), edges) = Period { from, to }.split();
                    let key = column(by);
                    let range = vec![
                        form.as_deref().map_or(SqlStorageValue::Null, text),
                        first.map_or(SqlStorageValue::Null, ms),
                        end.map_or(SqlStorageValue::Null, ms),
                    ];
                    let within = "(?1 IS NULL OR form = ?1) AND (?2 IS NULL OR day >= ?2) AND (?3 IS NULL OR day < ?3)";
                    let cells: Vec<CellSum> = self
                        .read(&format!("SELECT {key} AS key, stage, furthest, SUM(n) AS n FROM funnel_cells WHERE {within} GROUP BY 1, 2, 3"), range.clone())?;
                    for c in cells {
                        tallies.add_cell(Some(c.key).filter(|k| !k.is_empty()), Stage::parse(&c.stage).unwrap_or_default(), c.furthest as i64, c.n as u64);
                    }
                    let gaps: Vec<GapSum> = self.read(
                        &format!("SELECT {key} AS key, stage, bucket, SUM(n) AS n, SUM(ms) AS ms FROM funnel_gaps WHERE {within} GROUP BY 1, 2, 3"),
                        range,
                    )?;
                    for g in gaps {
                        tallies.add_gaps(
                            Some(g.key).filter(|k| !k.is_empty()),
                            Stage::parse(&g.stage).unwrap_or_default(),
                            g.bucket as u32,
                            g.n as u64,
                            g.ms as u64,
                        );
                    }
                    edges
                };
                for (from, to) in edges {
                    for row in self.funnel_rows(form.as_deref(), from, to, by)? {
                        tallies.add_row(&row, 1);
                    }
                }
                reply(&tallies)?
            }
            Command::Daily(cmd::Daily { from, by }) => {
                let key = column(by);
                let rows: Vec<DailyRow> = if self.tally_cursor()? == ledger::TALLIED_ALL {
                    self.read(
                        &format!("SELECT {key} AS key, day, SUM(n) AS count FROM funnel_cells WHERE day >= ? GROUP BY 1, 2 ORDER BY 2, 1"),
                        vec![ms(from / 86_400_000)],
                    )?
                } else {
                    {
                        let key = lead_column(by, "");
                        self.read(&format!("SELECT {key} AS key, CAST(created / 86400000 AS INTEGER) AS day, COUNT(*) AS count FROM leads WHERE created >= ? GROUP BY key, day ORDER BY day, key"), vec![ms(from)])?
                    }
                };
                let rows = rows.into_iter().map(|r| ledger::Daily { key: r.key.filter(|k| !k.is_empty()), day: r.day as u64, count: r.count as u64 });
                reply(&rows.collect::<Vec<_>>())?
            }
            Command::Count(cmd::Count { batch, now }) => {
                self.count(batch, now)?;
                OK.to_owned()
            }
            Command::Catalog(cmd::Catalog { known, file }) => {
                let revision = self.revision()?;
                let seeded = catalog::Store::seeded(&Shelves(self), &file)?;
                let forms = if known == Some(revision) {
                    None
                } else {
                    let rows: Vec<DefRow> = self
                        .sql
                        .exec(
                            "SELECT v.def AS def FROM catalog c JOIN versions v ON v.form = c.id AND v.n = c.published WHERE c.archived = 0 ORDER BY c.id",
                            None,
                        )?
                        .to_array()?;
                    Some(rows.into_iter().map(|r| serde_json::from_str(&r.def)).collect::<serde_json::Result<Vec<shared::form::FormDef>>>()?)
                };
                reply(&catalog::Catalogue { revision, seeded, forms })?
            }
            Command::Seed(cmd::Seed { file, digest, now }) => reply(&catalog::seed(&mut Shelves(self), &file, &digest, now)?)?,
            Command::Edit(cmd::Edit { form, action, by, now }) => reply(&catalog::edit(&mut Shelves(self), &form, action, &by, now)?)?,
            Command::Shelf(cmd::Shelf { form }) => {
                let rows: Vec<EntryRow> = match form {
                    Some(form) => self.sql.exec("SELECT entry FROM catalog WHERE id = ?", vec![text(&form)])?.to_array()?,
                    None => self.sql.exec("SELECT entry FROM catalog ORDER BY id", None)?.to_array()?,
                };
                let entries = rows.into_iter().map(|r| serde_json::from_str(&r.entry)).collect::<serde_json::Result<Vec<catalog::Entry>>>()?;
                reply(&entries)?
            }
            Command::Version(cmd::Version { form, n }) => reply(&catalog::Store::version(&Shelves(self), &form, n)?)?,
            Command::Versions(cmd::Versions { form }) => {
                let rows: Vec<StampRow> = self.sql.exec("SELECT n, at, by FROM versions WHERE form = ? ORDER BY n DESC", vec![text(&form)])?.to_array()?;
                reply(&rows.into_iter().map(|r| catalog::Stamp { n: r.n as u32, at: r.at as u64, by: r.by }).collect::<Vec<_>>())?
            }
            Command::Trail(cmd::Trail { form, before, limit }) => {
                let rows: Vec<TrailRow> = self
                    .sql
                    .exec(
                        "SELECT at, by, form, did, version FROM trail WHERE (?1 IS NULL OR form = ?1) AND (?2 IS NULL OR at < ?2) ORDER BY seq DESC LIMIT ?3",
                        vec![
                            form.as_deref().map_or(SqlStorageValue::Null, text),
                            before.map_or(SqlStorageValue::Null, ms),
                            SqlStorageValue::Float(f64::from(limit)),
                        ],
                    )?
                    .to_array()?;
                let lines = rows.into_iter().filter_map(|r| {
                    let did = serde_json::from_value(serde_json::Value::String(r.did)).ok()?;
                    Some(catalog::Trail { at: r.at as u64, by: r.by, form: r.form, did, version: r.version.map(|v| v as u32) })
                });
                reply(&lines.collect::<Vec<_>>())?
            }
            Command::Events(cmd::Events { form, first, end, by }) => {
                let (key, table) = match by {
                    crate::protocol::analytics::By::Source => ("source", "events"),
                    crate::protocol::analytics::By::Campaign => ("campaign", "events"),
                    crate::protocol::analytics::By::Day => ("CAST(day AS TEXT)", "events"),
                    crate::protocol::analytics::By::Variant => ("variant", "variant_events"),
                };
                let rows: Vec<EventSum> = self.read(
                    &format!("SELECT {key} AS key, kind, field, code, SUM(n) AS n FROM {table} WHERE form = ?1 AND day >= ?2 AND day < ?3 GROUP BY 1, 2, 3, 4"),
                    vec![text(&form), ms(first), ms(end)],
                )?;
                let mut sums = crate::protocol::analytics::Sums::default();
                for r in rows {
                    if let Ok(kind) = serde_json::from_value(serde_json::Value::String(r.kind)) {
                        sums.add(Some(r.key), kind, &r.field, &r.code, r.n as i64);
                    }
                }
                reply(&sums)?
            }
            Command::Places(cmd::Places { forms, legacy }) => {
                let mut places = Vec::with_capacity(forms.len());
                for (form, shards) in forms {
                    let place = match self.registered(&form)? {
                        Some(place) => place,
                        None if self.holds(&form)? => ledger::Place::Registry,
                        None => {
                            let place = if legacy {
                                ledger::Place::Registry
                            } else {
                                ledger::Place::Shards { shards: shards.clamp(1, crate::protocol::shard::MAX_SHARDS) }
                            };
                            let count = match place {
                                ledger::Place::Shards { shards } => shards,
                                ledger::Place::Registry => 0,
                            };
                            self.sql.exec(
                                "INSERT INTO registered VALUES (?, ?, ?)",
                                vec![text(&form), SqlStorageValue::Float(f64::from(count)), ms(Date::now().as_millis())],
                            )?;
                            self.registry.borrow_mut().insert(form.clone(), Some(place));
                            place
                        }
                    };
                    places.push((form, place));
                }
                reply(&places)?
            }
            Command::Tally(cmd::Tally { limit }) => {
                let cursor = self.tally_cursor()?;
                if cursor == ledger::TALLIED_ALL {
                    return reply(&ledger::Tallied { added: 0, done: true });
                }
                let ids: Vec<IdRow> = self
                    .sql
                    .exec("SELECT id FROM leads WHERE id > ? ORDER BY id LIMIT ?", vec![text(&cursor), SqlStorageValue::Float(f64::from(limit))])?
                    .to_array()?;
                for IdRow { id } in &ids {
                    if let Some(share) = self.share_of(id)? {
                        self.add_share(&share, 1)?;
                    }
                }
                let done = ids.len() < limit as usize;
                let next = if done { ledger::TALLIED_ALL.to_owned() } else { ids.last().map(|r| r.id.clone()).unwrap_or(cursor) };
                self.sql.exec("UPDATE meta SET value = ? WHERE name = 'tallied'", vec![text(&next)])?;
                reply(&ledger::Tallied { added: ids.len() as u64, done })?
            }
            Command::Find(cmd::Find { email }) => {
                let rows: Vec<ledger::Holding> =
                    self.sql.exec("SELECT form, lead FROM emails WHERE email = ? AND live = 1 ORDER BY form", vec![text(&email)])?.to_array()?;
                reply(&rows)?
            }
            Command::Draws(cmd::Draws { form }) => {
                let rows: Vec<RecordRow> = self.sql.exec("SELECT record FROM draws WHERE form = ? ORDER BY at, id", vec![text(&form)])?.to_array()?;
                reply(&rows.into_iter().map(|r| r.record).collect::<Vec<_>>())?
            }
            Command::Download(cmd::Download { lead, now, per_hour }) => reply(&self.download(&lead, now, per_hour)?)?,
            Command::Downloads(cmd::Downloads { lead, folded }) => {
                if let Some(folded) = folded {
                    self.sql.exec("UPDATE downloads SET folded = MAX(folded, ?) WHERE lead = ?", vec![ms(folded), text(&lead)])?;
                }
                let rows: Vec<CountRow> = self.sql.exec("SELECT total FROM downloads WHERE lead = ?", vec![text(&lead)])?.to_array()?;
                reply(&ledger::Downloads { total: rows.first().map_or(0, |r| r.total as u64) })?
            }
            Command::DownloadTotals(cmd::DownloadTotals { leads }) => {
                let mut totals: Vec<(String, u64)> = Vec::new();
                // One statement per list page: a page is at most a hundred leads, and SQLite takes at
                // most a hundred bound parameters.
                for chunk in leads.chunks(100) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let rows: Vec<TotalRow> = self
                        .sql
                        .exec(&format!("SELECT lead, total FROM downloads WHERE lead IN ({marks})"), chunk.iter().map(|l| text(l)).collect::<Vec<_>>())?
                        .to_array()?;
                    totals.extend(rows.into_iter().map(|r| (r.lead, r.total as u64)));
                }
                reply(&totals)?
            }
            Command::Unfolded(cmd::Unfolded { now, limit }) => {
                let due = now.saturating_sub(ledger::FOLD_MS);
                let rows: Vec<LeadRow> = self
                    .sql
                    .exec("SELECT lead FROM downloads WHERE total > folded AND fold_at <= ? ORDER BY fold_at LIMIT ?", vec![ms(due), ms(u64::from(limit))])?
                    .to_array()?;
                for row in &rows {
                    self.sql.exec("UPDATE downloads SET fold_at = ? WHERE lead = ?", vec![ms(now), text(&row.lead)])?;
                }
                reply(&rows.into_iter().map(|r| r.lead).collect::<Vec<_>>())?
            }
        };
        Ok(value)
    }

    /// [`Command::Claim`]: reserves the key when it is fresh, and only then claims the address; where the key
    /// was answered or is in progress, says who holds the address without claiming it.
    fn stand(&self, form: &str, email: &str, lead: &str, key: Option<&str>, legacy: Option<&str>, now: u64) -> Result<Standing> {
        self.refuse_registered(form)?;
        let replay = self.reserve_key(form, key, now)?;
        let holder = match replay {
            Replay::Fresh => self.claim(form, email, lead, legacy, now)?,
            _ => self.holder(form, email, now)?,
        };
        Ok(Standing { holder, replay })
    }

    /// Claims an address for a new lead, or takes the hold on its stored lead for a repeat (see
    /// [`Command::Claim`]); a lead from the KV-only layout is adopted first.
    fn claim(&self, form: &str, email: &str, lead: &str, legacy: Option<&str>, now: u64) -> Result<Holder> {
        if let Some(old) = legacy {
            self.sql.exec("INSERT OR IGNORE INTO emails VALUES (?, ?, ?, 1, ?, 0)", vec![text(form), text(email), text(old), ms(now)])?;
        }
        // The address's row is this claim's when there was none (most submissions) or only another request's
        // lapsed reservation, which it replaces. A row comes back only then, so no second statement is needed
        // to learn that it is this lead's.
        let claimed = self
            .sql
            .exec(
                "INSERT INTO emails VALUES (?1, ?2, ?3, 0, ?4, 0) ON CONFLICT (form, email) DO UPDATE SET lead = excluded.lead, at = excluded.at, held = 0 WHERE live = 0 AND at <= ?5 RETURNING 1 AS x",
                vec![text(form), text(email), text(lead), ms(now), ms(now.saturating_sub(ledger::RESERVATION_MS))],
            )?
            .returned_a_row();
        if claimed {
            return Ok(Holder::Claimed);
        }
        Ok(match self.row(form, email)? {
            Some(row) if row.lead == lead => Holder::Claimed,
            _ => match self.holder(form, email, now)? {
                Holder::Lead { lead } => {
                    // The repeat holds the lead until it settles or releases (or the hold lapses).
                    self.sql.exec("UPDATE emails SET held = ? WHERE form = ? AND email = ?", vec![ms(now.max(1)), text(form), text(email)])?;
                    Holder::Lead { lead }
                }
                other => other,
            },
        })
    }

    /// [`Command::Settle`] (and an admitted [`Command::Admit`]'s second half): queues the stored lead's
    /// deliveries, ends what the request holds, writes the index row and keeps the key's answer. A lead
    /// erased while this request stored it settles nothing: its caller deletes the document.
    fn settle_stored(
        &self,
        form: &str,
        hold: &Hold,
        key: Option<&str>,
        answer: Option<&str>,
        deliveries: &[Delivery],
        entry: Option<&ledger::Entry>,
    ) -> Result<ledger::Indexed> {
        if let Some(entry) = entry {
            if self.tombstoned(&entry.id)? {
                return Ok(ledger::Indexed { erased: true });
            }
        }
        for d in deliveries {
            self.queue(d)?;
        }
        self.settle(form, hold)?;
        if let Some(entry) = entry {
            self.index(entry, false)?;
        }
        if let (Some(key), Some(answer)) = (key, answer) {
            self.sql.exec("UPDATE answers SET answer = ? WHERE form = ? AND key = ?", vec![text(answer), text(form), text(key)])?;
        }
        Ok(ledger::Indexed { erased: false })
    }

    /// The lead is stored: a claim becomes the address's lead, a repeat's hold ends.
    fn settle(&self, form: &str, hold: &Hold) -> Result<()> {
        if let Some(lead) = &hold.lead {
            self.sql.exec("UPDATE emails SET live = 1 WHERE form = ? AND email = ? AND lead = ?", vec![text(form), text(&hold.email), text(lead)])?;
        }
        if hold.held {
            self.sql.exec("UPDATE emails SET held = 0 WHERE form = ? AND email = ?", vec![text(form), text(&hold.email)])?;
        }
        Ok(())
    }

    /// Nothing was stored: a claim is dropped, a hold ends.
    fn release(&self, form: &str, hold: &Hold) -> Result<()> {
        if let Some(lead) = &hold.lead {
            self.sql.exec("DELETE FROM emails WHERE form = ? AND email = ? AND lead = ? AND live = 0", vec![text(form), text(&hold.email), text(lead)])?;
        }
        if hold.held {
            self.sql.exec("UPDATE emails SET held = 0 WHERE form = ? AND email = ?", vec![text(form), text(&hold.email)])?;
        }
        Ok(())
    }

    /// Writes a lead's index row and its stage rows, unless it was erased (the statements themselves check,
    /// so callers that need to know ask [`Ledger::tombstoned`] once, before or after).
    fn index(&self, entry: &ledger::Entry, only_if_missing: bool) -> Result<()> {
        let before = self.share_of(&entry.id)?;
        let written = self.write_index(entry, only_if_missing)?;
        // The lead's share of the funnel's aggregates moves with what was written (the stored stage rows
        // may hold more than `entry` says: they are only ever added to). A lead that had no row has, once
        // written, exactly the rows `entry` gives (its stage rows go with its row: `Unindex`, `Erase`), so
        // its share is read off the entry: two statements less for every new lead.
        let after = match (&before, written) {
            (None, false) => None,
            (None, true) => Some(entry.share()),
            (Some(_), _) => self.share_of(&entry.id)?,
        };
        if before != after && ledger::tallied(&self.tally_cursor()?, &entry.id) {
            if let Some(before) = &before {
                self.add_share(before, -1)?;
            }
            if let Some(after) = &after {
                self.add_share(after, 1)?;
            }
        }
        Ok(())
    }

    /// [`Ledger::index`]'s writes: whether the index row was written (not when the lead was erased, nor,
    /// with `only_if_missing`, when it had one).
    fn write_index(&self, entry: &ledger::Entry, only_if_missing: bool) -> Result<bool> {
        // An erased lead's row never comes back, whatever write arrives late.
        let verb = if only_if_missing { "INSERT OR IGNORE" } else { "INSERT OR REPLACE" };
        let written = self.sql.exec(
            &format!("{verb} INTO leads (id, form, status, stage, score, created, source, cooling_at, owner, campaign, variant) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE lead = ?1)"),
            vec![
                text(&entry.id),
                text(&entry.form),
                text(&entry.status),
                text(&entry.stage),
                SqlStorageValue::Float(entry.score as f64),
                ms(entry.created),
                entry.source.as_deref().map_or(SqlStorageValue::Null, text),
                entry.cooling_at.map_or(SqlStorageValue::Null, ms),
                entry.owner.as_deref().map_or(SqlStorageValue::Null, text),
                entry.campaign.as_deref().map_or(SqlStorageValue::Null, text),
                entry.variant.as_deref().map_or(SqlStorageValue::Null, text),
            ],
        )?
        .rows_written()
            > 0;
        for (stage, at) in &entry.reached {
            self.sql.exec(
                "INSERT OR IGNORE INTO reached SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)",
                vec![text(&entry.id), text(stage.as_str()), ms(*at)],
            )?;
        }
        Ok(written)
    }

    /// Runs a query and reads its rows, adding the rows SQLite read for it to [`Ledger::rows_read`] (what
    /// `cargo xtask bench` reports per dashboard question).
    fn read<T: serde::de::DeserializeOwned>(&self, query: &str, params: Vec<SqlStorageValue>) -> Result<Vec<T>> {
        let cursor = self.sql.exec(query, params)?;
        let rows = cursor.to_array()?;
        self.rows_read.set(self.rows_read.get().saturating_add(cursor.rows_read() as u64));
        Ok(rows)
    }

    /// [`Command::Count`]: adds a flush window's sums, and counts each visitor the day has not seen. One
    /// statement per key and visitor, however many page views the window summed.
    fn count(&self, batch: crate::protocol::analytics::Batch, now: u64) -> Result<()> {
        use crate::protocol::analytics::{salted, Kind, DAY_MS};
        let day = now / DAY_MS;
        let add = "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                   ON CONFLICT (form, day, source, campaign, kind, field, code) DO UPDATE SET n = n + ?8";
        let kind_name = |kind: Kind| serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let per_variant = "INSERT INTO variant_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                           ON CONFLICT (form, day, variant, kind, field, code) DO UPDATE SET n = n + ?7";
        for (key, n) in &batch.counts {
            let row = vec![
                text(&batch.form),
                ms(key.day),
                text(&key.source),
                text(&key.campaign),
                text(&kind_name(key.kind)),
                text(&key.field),
                text(&key.code),
                SqlStorageValue::Float(*n as f64),
            ];
            self.sql.exec(add, row)?;
            if !key.variant.is_empty() {
                let row = vec![
                    text(&batch.form),
                    ms(key.day),
                    text(&key.variant),
                    text(&kind_name(key.kind)),
                    text(&key.field),
                    text(&key.code),
                    SqlStorageValue::Float(*n as f64),
                ];
                self.sql.exec(per_variant, row)?;
            }
        }
        if batch.visits.is_empty() {
            return Ok(());
        }
        // The day's salt: a new day's first visitor replaces it and forgets the day before's digests, so no
        // stored value outlives its day and none can be recomputed once its salt is gone.
        let rows: Vec<ValueRow> = self.sql.exec("SELECT value FROM meta WHERE name = 'salt'", None)?.to_array()?;
        let current = rows.into_iter().next().and_then(|r| {
            let (d, hex) = r.value.split_once(':')?;
            (d.parse::<u64>().ok()? == day).then(|| hex.to_owned())
        });
        let salt = match current {
            Some(salt) => salt,
            None => {
                let mut fresh = [0u8; 32];
                crate::platform::cloud::random_bytes(&mut fresh).map_err(|e| worker::Error::RustError(format!("no randomness for the salt: {e}")))?;
                let salt = crate::rules::digest::hex(&fresh);
                self.sql.exec("DELETE FROM visitors", None)?;
                self.sql.exec("INSERT OR REPLACE INTO meta VALUES ('salt', ?)", vec![text(&format!("{day}:{salt}"))])?;
                salt
            }
        };
        for visit in batch.visits.iter().filter(|v| v.day == day) {
            let cursor = self.sql.exec("INSERT OR IGNORE INTO visitors VALUES (?)", vec![text(&salted(salt.as_bytes(), &visit.digest))])?;
            if cursor.rows_written() > 0 {
                let row = vec![
                    text(&batch.form),
                    ms(day),
                    text(&visit.source),
                    text(&visit.campaign),
                    text(&kind_name(Kind::Visitor)),
                    text(""),
                    text(""),
                    SqlStorageValue::Float(1.0),
                ];
                self.sql.exec(add, row)?;
            }
        }
        Ok(())
    }

    /// Whether this object (the registry, see `shard`) holds rows of `form` from the single-object layout.
    fn holds(&self, form: &str) -> Result<bool> {
        Ok(self
            .sql
            .exec(
                "SELECT 1 AS x WHERE EXISTS (SELECT 1 FROM emails WHERE form = ?1) OR EXISTS (SELECT 1 FROM leads WHERE form = ?1) OR EXISTS (SELECT 1 FROM draws WHERE form = ?1)",
                vec![text(form)],
            )?
            .returned_a_row())
    }

    /// The registry takes no new address of a form registered to live in its own shards: a Worker still
    /// running the single-object layout's code would write it behind the shards' backs. (In a shard, the
    /// table is empty.)
    fn refuse_registered(&self, form: &str) -> Result<()> {
        match self.registered(form)? {
            Some(ledger::Place::Shards { .. }) => Err(worker::Error::RustError(format!("form {form} lives in its own ledger objects now"))),
            _ => Ok(()),
        }
    }

    /// Where the registry placed `form`, if it did (a registered count of 0 means: here).
    fn registered(&self, form: &str) -> Result<Option<ledger::Place>> {
        if let Some(place) = self.registry.borrow().get(form) {
            return Ok(*place);
        }
        let rows: Vec<ShardsRow> = self.sql.exec("SELECT shards FROM registered WHERE form = ?", vec![text(form)])?.to_array()?;
        let place = rows.first().map(|row| ledger::Place::from(row.shards as u32));
        self.registry.borrow_mut().insert(form.to_owned(), place);
        Ok(place)
    }

    /// A stored lead's share of the funnel's aggregates, from its index row and stage rows.
    fn share_of(&self, lead: &str) -> Result<Option<Share>> {
        let rows: Vec<ShareRow> =
            self.sql.exec("SELECT form, created, source, campaign, owner, variant, stage FROM leads WHERE id = ?", vec![text(lead)])?.to_array()?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let reached: Vec<ReachedRow> = self.sql.exec("SELECT stage, at FROM reached WHERE lead = ?", vec![text(lead)])?.to_array()?;
        let reached: Vec<(Stage, u64)> = reached.into_iter().filter_map(|r| Some((Stage::parse(&r.stage)?, r.at as u64))).collect();
        let groups = [row.source.as_deref(), row.campaign.as_deref(), row.owner.as_deref(), row.variant.as_deref()];
        Ok(Some(Share::new(&row.form, row.created as u64, groups, Stage::parse(&row.stage).unwrap_or_default(), &reached)))
    }

    /// Takes a lead's share out of the aggregates (before its rows are deleted).
    fn untally(&self, lead: &str) -> Result<()> {
        if let (Some(share), true) = (self.share_of(lead)?, ledger::tallied(&self.tally_cursor()?, lead)) {
            self.add_share(&share, -1)?;
        }
        Ok(())
    }

    /// Adds (`sign` 1) or takes away (-1) one lead's share of the aggregates; sums that reach zero go.
    fn add_share(&self, share: &Share, sign: i64) -> Result<()> {
        let c = &share.cell;
        let key = || vec![ms(c.day), text(&c.form), text(&c.source), text(&c.campaign), text(&c.owner), text(&c.variant)];
        let sign_value = SqlStorageValue::Float(sign as f64);
        let mut cell = key();
        cell.extend([text(c.stage.as_str()), SqlStorageValue::Float(c.furthest as f64), sign_value.clone()]);
        self.sql.exec("INSERT INTO funnel_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n", cell.clone())?;
        if sign < 0 {
            cell.pop();
            self.sql.exec(
                "DELETE FROM funnel_cells WHERE day = ? AND form = ? AND source = ? AND campaign = ? AND owner = ? AND variant = ? AND stage = ? AND furthest = ? AND n <= 0",
                cell,
            )?;
        }
        for gap in &share.gaps {
            let mut row = key();
            row.extend([text(gap.stage.as_str()), SqlStorageValue::Float(f64::from(gap.bucket))]);
            let mut write = row.clone();
            write.extend([sign_value.clone(), SqlStorageValue::Float(sign as f64 * gap.ms as f64)]);
            self.sql.exec(
                "INSERT INTO funnel_gaps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n, ms = ms + excluded.ms",
                write,
            )?;
            if sign < 0 {
                self.sql.exec(
                    "DELETE FROM funnel_gaps WHERE day = ? AND form = ? AND source = ? AND campaign = ? AND owner = ? AND variant = ? AND stage = ? AND bucket = ? AND n <= 0",
                    row,
                )?;
            }
        }
        Ok(())
    }

    /// Up to which lead the aggregates hold the leads (see `ledger::tallied`).
    fn tally_cursor(&self) -> Result<String> {
        if self.tallied_all.get() {
            return Ok(ledger::TALLIED_ALL.to_owned());
        }
        let rows: Vec<ValueRow> = self.sql.exec("SELECT value FROM meta WHERE name = 'tallied'", None)?.to_array()?;
        let cursor = rows.into_iter().next().map_or_else(|| ledger::TALLIED_ALL.to_owned(), |r| r.value);
        self.tallied_all.set(cursor == ledger::TALLIED_ALL);
        Ok(cursor)
    }

    /// The funnel rows of the leads created in `[from, to)` (of one form), from their index and stage rows:
    /// the partial days of a period, and every lead while the upgrade's tally runs.
    fn funnel_rows(&self, form: Option<&str>, from: u64, to: u64, by: crate::protocol::funnel::By) -> Result<Vec<crate::protocol::funnel::Row>> {
        let key = lead_column(by, "l.");
        // One pass over the selected leads and their stage rows, ordered by lead.
        let rows: Vec<FunnelRow> = self.read(
            &format!(
                "SELECT l.id AS id, {key} AS key, l.stage AS stage, r.stage AS reached, r.at AS at FROM leads l LEFT JOIN reached r ON r.lead = l.id \
                     WHERE (?1 IS NULL OR l.form = ?1) AND l.created >= ?2 AND l.created < ?3 ORDER BY l.id"
            ),
            vec![form.map_or(SqlStorageValue::Null, text), ms(from), ms(to)],
        )?;
        let mut leads: Vec<crate::protocol::funnel::Row> = Vec::new();
        let mut last: Option<String> = None;
        for r in rows {
            if last.as_deref() != Some(r.id.as_str()) {
                leads.push(crate::protocol::funnel::Row { key: r.key.clone(), stage: Stage::parse(&r.stage).unwrap_or_default(), reached: Vec::new() });
                last = Some(r.id.clone());
            }
            if let (Some(lead), Some(stage), Some(at)) = (leads.last_mut(), r.reached.as_deref().and_then(Stage::parse), r.at) {
                lead.reached.push((stage, at as u64));
            }
        }
        Ok(leads)
    }

    /// Whether the lead was erased.
    /// [`Command::Download`]: one statement reads the lead's row, one writes it back; nothing interleaves.
    fn download(&self, lead: &str, now: u64, per_hour: u32) -> Result<ledger::Counted> {
        if self.tombstoned(lead)? {
            return Ok(ledger::Counted { allowed: true, total: 0, fold: false, retry_after_ms: 0 });
        }
        let hour = ledger::download_hour(now);
        let rows: Vec<DownloadRow> = self.sql.exec("SELECT total, hour, in_hour, fold_at FROM downloads WHERE lead = ?", vec![text(lead)])?.to_array()?;
        let (total, in_hour, fold_at) = match rows.first() {
            Some(r) if r.hour as u64 == hour => (r.total as u64, r.in_hour as u64, r.fold_at as u64),
            Some(r) => (r.total as u64, 0, r.fold_at as u64),
            None => (0, 0, 0),
        };
        if in_hour >= u64::from(per_hour) {
            let retry_after_ms = (hour + 1) * 3_600_000 - now;
            return Ok(ledger::Counted { allowed: false, total, fold: false, retry_after_ms });
        }
        let fold = now.saturating_sub(fold_at) >= ledger::FOLD_MS;
        let fold_at = if fold { now } else { fold_at };
        self.sql.exec(
            "INSERT INTO downloads (lead, total, hour, in_hour, folded, fold_at) VALUES (?, ?, ?, ?, 0, ?) \
             ON CONFLICT (lead) DO UPDATE SET total = excluded.total, hour = excluded.hour, in_hour = excluded.in_hour, fold_at = excluded.fold_at",
            vec![text(lead), ms(total + 1), ms(hour), ms(in_hour + 1), ms(fold_at)],
        )?;
        Ok(ledger::Counted { allowed: true, total: total + 1, fold, retry_after_ms: 0 })
    }

    fn tombstoned(&self, lead: &str) -> Result<bool> {
        Ok(self.sql.exec("SELECT lead FROM tombstones WHERE lead = ?", vec![text(lead)])?.returned_a_row())
    }

    /// Runs a command, then sets the alarm if it made a delivery due sooner than the alarm is set for
    /// (always, for the watchdog's `Wake`).
    pub async fn handle(&self, command: Command) -> Result<String> {
        // A delivered or dead delivery makes nothing due sooner, so recording one need not look at the alarm
        // (an alarm run records up to 15 and sets the alarm once at its end).
        let touches_outbox = matches!(
            command,
            Command::Queue(cmd::Queue { .. })
                | Command::Send(cmd::Send { .. })
                | Command::Settle(cmd::Settle { .. })
                | Command::Admit(cmd::Admit { .. })
                | Command::SettleMany(cmd::SettleMany { .. })
                | Command::Replay(cmd::Replay { .. })
                | Command::Enable(cmd::Enable { .. })
                | Command::Erase(cmd::Erase { .. })
                | Command::Draw(cmd::Draw { .. })
        ) || matches!(&command, Command::Record(cmd::Record { delivery, .. }) if delivery.state == DeliveryState::Pending);
        let wake = matches!(command, Command::Wake(cmd::Wake { .. }));
        let question = match &command {
            Command::Funnel(_) => Some("funnel"),
            Command::Daily(_) => Some("daily counts"),
            _ => None,
        };
        self.rows_read.set(0);
        let answer = self.run(command)?;
        if let Some(question) = question {
            // What a dashboard costs in rows read (the free plan allows 5 million a day), for the bench.
            worker::console_log!("ledger {question}: {} rows read", self.rows_read.get());
        }
        if touches_outbox || wake {
            self.arm(wake, 0).await?;
            self.handed_back.set(false);
        } else if self.handed_back.get() {
            // Only for the leases this instance handed back: the command itself has done its work, so a
            // failed arming does not fail it; the next command tries again.
            match self.arm(false, 0).await {
                Ok(()) => self.handed_back.set(false),
                Err(e) => worker::console_error!("ledger leases: the alarm for the leases handed back: {e}"),
            }
        }
        Ok(answer)
    }

    /// Sets the alarm for the next due delivery (at the earliest `delay_ms` from now, and the bulk lane at its
    /// pace) when that is sooner than this instance last set it for, or `always`.
    async fn arm(&self, always: bool, delay_ms: u64) -> Result<()> {
        let now = Date::now().as_millis();
        // Set for no later than the earliest this could ask for: whatever is due, the answer would be no
        // sooner (`ledger::alarm_at` never answers before `earliest`), so the lookups are skipped. Under
        // load the alarm is mostly due already, and most submissions cost these two statements less.
        if !always && self.armed.get().is_some_and(|armed| armed <= now.saturating_add(delay_ms)) {
            return Ok(());
        }
        let Some(at) = self.next_due(now.saturating_add(delay_ms))? else { return Ok(()) };
        if always || self.armed.get().is_none_or(|armed| at < armed) {
            let offset = i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX);
            self.state.storage().set_alarm(offset).await?;
            self.armed.set(Some(at));
        }
        Ok(())
    }

    /// When the alarm should next run (see `ledger::alarm_at`): two lookups in indexes, whatever the
    /// backlog, because every command that queues a delivery asks.
    fn next_due(&self, earliest: u64) -> Result<Option<u64>> {
        let first = |lane: &str| -> Result<Option<u64>> {
            let rows: Vec<NextRow> = self
                .sql
                .exec(&format!("SELECT o.next_at AS next FROM outbox o WHERE {WAITING} AND o.urgent = {lane} ORDER BY o.next_at LIMIT 1"), None)?
                .to_array()?;
            Ok(rows.into_iter().next().and_then(|r| r.next).map(|n| n as u64))
        };
        Ok(ledger::alarm_at(first("1")?, first("0")?, self.paced.get(), earliest))
    }

    /// Queues one delivery, unless it is known already, or its lead was erased and it is not the erasure's
    /// announcement.
    fn queue(&self, d: &Delivery) -> Result<()> {
        self.sql.exec(
            "INSERT OR IGNORE INTO outbox (id, lead, form, endpoint, event, payload, state, attempts, next_at, urgent, parked) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, EXISTS (SELECT 1 FROM disabled x WHERE x.form = ?3 AND x.endpoint = ?4) WHERE ?5 = 'lead.erased' OR NOT EXISTS (SELECT 1 FROM tombstones WHERE lead = ?2)",
            vec![
                text(&d.id),
                text(&d.lead_id),
                text(&d.form),
                text(&d.endpoint),
                text(&d.event),
                text(&d.payload),
                text(d.state.as_str()),
                SqlStorageValue::Float(f64::from(d.attempts)),
                ms(d.next_at_ms),
                SqlStorageValue::Float(f64::from(u8::from(d.urgent))),
            ],
        )?;
        Ok(())
    }

    /// Makes parked deliveries due now.
    fn send(&self, ids: &[String], now: u64) -> Result<()> {
        for id in ids {
            self.sql.exec("UPDATE outbox SET next_at = MIN(next_at, ?) WHERE id = ? AND state = 'pending' AND attempts = 0", vec![ms(now), text(id)])?;
        }
        Ok(())
    }

    fn row(&self, form: &str, email: &str) -> Result<Option<EmailRow>> {
        let rows: Vec<EmailRow> =
            self.sql.exec("SELECT lead, live, at, held FROM emails WHERE form = ? AND email = ?", vec![text(form), text(email)])?.to_array()?;
        Ok(rows.into_iter().next())
    }

    fn holder(&self, form: &str, email: &str, now: u64) -> Result<Holder> {
        Ok(match self.row(form, email)? {
            Some(row) if row.live >= 1.0 && row.held > 0.0 && ledger::reservation_holds(row.held as u64, now) => Holder::Reserved,
            Some(row) if row.live >= 1.0 => Holder::Lead { lead: row.lead },
            Some(row) if ledger::reservation_holds(row.at as u64, now) => Holder::Reserved,
            _ => Holder::Nobody,
        })
    }

    fn replay(&self, form: &str, key: &str, now: u64) -> Result<Replay> {
        let rows: Vec<AnswerRow> = self.sql.exec("SELECT answer, at FROM answers WHERE form = ? AND key = ?", vec![text(form), text(key)])?.to_array()?;
        Ok(match rows.into_iter().next() {
            Some(AnswerRow { answer: Some(answer), at }) if ledger::answer_holds(at as u64, now) => Replay::Answered { answer },
            Some(AnswerRow { answer: None, at }) if ledger::reservation_holds(at as u64, now) => Replay::InProgress,
            _ => Replay::Fresh,
        })
    }

    /// The key's replay, reserving it for this request when it is fresh. Expired answers are cleared on the
    /// way, so the table holds a day's keys at most.
    fn reserve_key(&self, form: &str, key: Option<&str>, now: u64) -> Result<Replay> {
        let Some(key) = key else { return Ok(Replay::Fresh) };
        self.sql.exec("DELETE FROM answers WHERE at <= ?", vec![ms(now.saturating_sub(ledger::ANSWER_MS))])?;
        // The key is reserved when it was unknown (most submissions) or only another request's reservation
        // had lapsed (every answer left holds: older ones were just deleted). A row comes back only then;
        // otherwise the key's replay is read.
        let reserved = self
            .sql
            .exec(
                "INSERT INTO answers VALUES (?1, ?2, NULL, ?3) ON CONFLICT (form, key) DO UPDATE SET at = excluded.at WHERE answer IS NULL AND at <= ?4 RETURNING 1 AS x",
                vec![text(form), text(key), ms(now), ms(now.saturating_sub(ledger::RESERVATION_MS))],
            )?
            .returned_a_row();
        if reserved {
            return Ok(Replay::Fresh);
        }
        self.replay(form, key, now)
    }
}
