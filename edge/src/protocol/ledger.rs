//! The ledger's protocol: what the Worker asks the ledger (a SQLite Durable Object) and what it answers.
//!
//! KV is eventually consistent, so whatever must hold strictly lives in the ledger instead: one lead per
//! address and form (the email index, which is also the giveaway's one-entry rule), the first answer to
//! each `Idempotency-Key`, the lead index, the outbox with its retry times, disabled endpoints, giveaway
//! draws and erasure tombstones. One object serves the collector; every command runs in the object
//! without an `await` between its statements, so commands never interleave and each is one transaction.
//! This module is pure (the wire types and the rules for stale reservations); the object's SQL is in
//! `ledger_object`, and `memory` models the same rules for the native tests.

use crate::protocol::outbox::{Delivery, State};
use serde::{Deserialize, Serialize};
use shared::lead::Lead;

/// How long a reservation (an address being written, an idempotent request in progress) holds without
/// being settled. A Worker that dies between claiming and settling leaves one behind; after this it is
/// taken as abandoned, so the address is never locked out.
pub const RESERVATION_MS: u64 = 60_000;

/// How long an `Idempotency-Key`'s first answer is kept.
pub const ANSWER_MS: u64 = 86_400_000;

/// A command to the ledger, as it travels: `{"op": "<command>", ...its fields}`. Built from the typed
/// commands in [`cmd`], each of which names its answer ([`Asks::Answer`]): `protocol::backend::ask` takes
/// the command and returns that answer, so a command cannot be read as another's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// See [`cmd::Claim`].
    Claim(cmd::Claim),
    /// See [`cmd::Settle`].
    Settle(cmd::Settle),
    /// See [`cmd::Admit`].
    Admit(cmd::Admit),
    /// See [`cmd::Release`].
    Release(cmd::Release),
    /// See [`cmd::Look`].
    Look(cmd::Look),
    /// See [`cmd::Reserve`].
    Reserve(cmd::Reserve),
    /// See [`cmd::Hold`].
    Hold(cmd::Hold),
    /// See [`cmd::Index`].
    Index(cmd::Index),
    /// See [`cmd::List`].
    List(cmd::List),
    /// See [`cmd::Unindex`].
    Unindex(cmd::Unindex),
    /// See [`cmd::Queue`].
    Queue(cmd::Queue),
    /// See [`cmd::Unqueue`].
    Unqueue(cmd::Unqueue),
    /// See [`cmd::Send`].
    Send(cmd::Send),
    /// See [`cmd::Record`].
    Record(cmd::Record),
    /// See [`cmd::Due`].
    Due(cmd::Due),
    /// See [`cmd::Deliveries`].
    Deliveries(cmd::Deliveries),
    /// See [`cmd::Replay`].
    Replay(cmd::Replay),
    /// See [`cmd::Endpoints`].
    Endpoints,
    /// See [`cmd::Enable`].
    Enable(cmd::Enable),
    /// See [`cmd::Wake`].
    Wake(cmd::Wake),
    /// See [`cmd::Erase`].
    Erase(cmd::Erase),
    /// See [`cmd::Draw`].
    Draw(cmd::Draw),
    /// See [`cmd::Draws`].
    Draws(cmd::Draws),
    /// See [`cmd::CountBot`].
    CountBot(cmd::CountBot),
    /// See [`cmd::Bots`].
    Bots(cmd::Bots),
    /// See [`cmd::Turn`].
    Turn(cmd::Turn),
    /// See [`cmd::ClaimMany`].
    ClaimMany(cmd::ClaimMany),
    /// See [`cmd::SettleMany`].
    SettleMany(cmd::SettleMany),
    /// See [`cmd::Funnel`].
    Funnel(cmd::Funnel),
    /// See [`cmd::Daily`].
    Daily(cmd::Daily),
    /// See [`cmd::Find`].
    Find(cmd::Find),
    /// See [`cmd::Download`].
    Download(cmd::Download),
    /// See [`cmd::Downloads`].
    Downloads(cmd::Downloads),
    /// See [`cmd::DownloadTotals`].
    DownloadTotals(cmd::DownloadTotals),
    /// See [`cmd::Unfolded`].
    Unfolded(cmd::Unfolded),
    /// See [`cmd::Tally`].
    Tally(cmd::Tally),
    /// See [`cmd::Places`].
    Places(cmd::Places),
    /// See [`cmd::Count`].
    Count(cmd::Count),
    /// See [`cmd::Events`].
    Events(cmd::Events),
    /// See [`cmd::Catalog`].
    Catalog(cmd::Catalog),
    /// See [`cmd::Seed`].
    Seed(cmd::Seed),
    /// See [`cmd::Edit`].
    Edit(cmd::Edit),
    /// See [`cmd::Shelf`].
    Shelf(cmd::Shelf),
    /// See [`cmd::Version`].
    Version(cmd::Version),
    /// See [`cmd::Versions`].
    Versions(cmd::Versions),
    /// See [`cmd::Trail`].
    Trail(cmd::Trail),
}

impl Command {
    /// Whether the forms' catalog answers it (`shard::Home::Catalog`).
    pub fn is_catalog(&self) -> bool {
        matches!(
            self,
            Command::Catalog(_) | Command::Seed(_) | Command::Edit(_) | Command::Shelf(_) | Command::Version(_) | Command::Versions(_) | Command::Trail(_)
        )
    }
}

/// A command that names the type of its answer.
pub trait Asks: Into<Command> + Serialize + 'static {
    /// What the ledger answers to it.
    type Answer: serde::de::DeserializeOwned;
    /// Its name on the wire, the `op` of [`Command`].
    const OP: &'static str;
}

/// `command` as it travels, `{"op": "<command>", ...its fields}`: what it is written as when wrapped in a
/// [`Command`], by its own type's code alone. Serializing the enum links every command's writer; a Worker
/// that sends a handful of commands (the collector) links only theirs this way.
pub fn wire<C: Asks>(command: &C) -> Result<String, serde_json::Error> {
    Ok(tagged(C::OP, &serde_json::to_string(command)?))
}

/// A command's fields as written by its type (`fields`, an object, or `null` for a unit struct) with the
/// tag `op` in front: the part of [`wire`] that is the same for every type.
fn tagged(op: &str, fields: &str) -> String {
    let members = fields.strip_prefix('{').and_then(|f| f.strip_suffix('}')).unwrap_or_default();
    let separator = if members.is_empty() { "" } else { "," };
    ["{\"op\":\"", op, "\"", separator, members, "}"].concat()
}

/// A submission's answer as the ledger keeps it for idempotent replays (a day, which covers every client
/// retry policy we know of), and as the operator answers a repeat handed over to it
/// (`protocol::handover`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// The answer of a command that only acts (`{"ok": true}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// Each command with its answer type.
macro_rules! answers {
    ($($name:ident($op:literal) => $answer:ty,)*) => {
        $(
            impl Asks for cmd::$name {
                type Answer = $answer;
                const OP: &'static str = $op;
            }
        )*

        /// Each `op` is the one `Command`'s `rename_all = "snake_case"` gives its variant.
        #[cfg(test)]
        #[test]
        fn each_command_is_named_as_the_enum_names_it() {
            fn snake(name: &str) -> String {
                let mut out = String::new();
                for (i, c) in name.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        out.push('_');
                    }
                    out.push(c.to_ascii_lowercase());
                }
                out
            }
            $(assert_eq!($op, snake(stringify!($name)));)*
        }
    };
}

answers! {
    Claim("claim") => Standing,
    Settle("settle") => Indexed,
    Admit("admit") => Admission,
    Release("release") => Done,
    Look("look") => Standing,
    Reserve("reserve") => Replay,
    Hold("hold") => Holder,
    Index("index") => Indexed,
    List("list") => Page,
    Unindex("unindex") => Done,
    Queue("queue") => Done,
    Unqueue("unqueue") => Done,
    Send("send") => Done,
    Record("record") => Done,
    Due("due") => Vec<Delivery>,
    Deliveries("deliveries") => DeliveryPage,
    Replay("replay") => Found,
    Endpoints("endpoints") => Vec<Disabled>,
    Enable("enable") => Done,
    Wake("wake") => Backlog,
    Erase("erase") => Erasure,
    Draw("draw") => Drawn,
    Draws("draws") => Vec<String>,
    CountBot("count_bot") => Done,
    Bots("bots") => Vec<BotCount>,
    Turn("turn") => Turn,
    ClaimMany("claim_many") => Vec<Holder>,
    SettleMany("settle_many") => Done,
    Funnel("funnel") => crate::protocol::funnel::Tallies,
    Daily("daily") => Vec<Daily>,
    Find("find") => Vec<Holding>,
    Download("download") => Counted,
    Downloads("downloads") => Downloads,
    DownloadTotals("download_totals") => Vec<(String, u64)>,
    Unfolded("unfolded") => Vec<String>,
    Tally("tally") => Tallied,
    Places("places") => Vec<(String, Place)>,
    Count("count") => Done,
    Events("events") => crate::protocol::analytics::Sums,
    Catalog("catalog") => crate::protocol::catalog::Catalogue,
    Seed("seed") => crate::protocol::catalog::Seeded,
    Edit("edit") => Result<crate::protocol::catalog::Entry, crate::protocol::catalog::Refusal>,
    Shelf("shelf") => Vec<crate::protocol::catalog::Entry>,
    Version("version") => Option<crate::protocol::catalog::Version>,
    Versions("versions") => Vec<crate::protocol::catalog::Stamp>,
    Trail("trail") => Vec<crate::protocol::catalog::Trail>,
}

/// Each command's place in [`Command`].
macro_rules! wraps {
    ($($name:ident),* ; $($unit:ident),*) => {
        $(
            impl From<cmd::$name> for Command {
                fn from(c: cmd::$name) -> Command {
                    Command::$name(c)
                }
            }
        )*
        $(
            impl From<cmd::$unit> for Command {
                fn from(_: cmd::$unit) -> Command {
                    Command::$unit
                }
            }
        )*
    };
}

wraps!(Claim, Settle, Admit, Release, Look, Reserve, Hold, Index, List, Unindex, Queue, Unqueue, Send, Record, Due, Deliveries, Replay, Enable, Wake, Erase, Draw, Draws, CountBot, Bots, Turn, ClaimMany, SettleMany, Funnel, Daily, Find, Download, Downloads, DownloadTotals, Unfolded, Tally, Places, Count, Events, Catalog, Seed, Edit, Shelf, Version, Versions, Trail ; Endpoints);

/// The ledger's commands, one type each, named like their variants of [`Command`].
pub mod cmd {
    use super::{ClaimRow, DeliveryFilter, Entry, Qualified, SettleRow};
    use crate::protocol::outbox::Delivery;
    use serde::{Deserialize, Serialize};

    /// Claims an address on a form for a new lead, and reserves an idempotency key if one was sent.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Claim {
        /// The form.
        pub form: String,
        /// The address's index key (`intake::email_hash`).
        pub email: String,
        /// The id the new lead would get.
        pub lead: String,
        /// The request's `Idempotency-Key`, if any.
        pub key: Option<String>,
        /// The lead the old KV email index names for this address, when there is one: the ledger adopts
        /// it if it has no row yet (the upgrade from the KV-only layout).
        pub legacy: Option<String>,
        /// Now, Unix ms (the Worker's clock).
        pub now: u64,
    }

    /// The lead (new or repeated) is durably stored: the claim becomes the address's lead, a repeat's hold
    /// on the lead ends, the idempotency key remembers the answer, and (with `entry`) the lead's index row
    /// is written, all in one transaction. Answers [`Indexed`]: a lead erased while the request stored it
    /// settles nothing at all, and its caller deletes the document again.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Settle {
        /// The form.
        pub form: String,
        /// The address this request holds (none for requests that only keep an idempotent answer).
        #[serde(flatten)]
        pub hold: super::Hold,
        /// The idempotency key, if any.
        pub key: Option<String>,
        /// The answer to give every retry with that key: `{"status", "body"}`.
        pub answer: Option<String>,
        /// The stored lead's deliveries, queued in the same transaction (due at once: the lead is stored).
        #[serde(default)]
        pub deliveries: Vec<Delivery>,
        /// The stored lead's index row, written in the same transaction (a submission's lead; the
        /// idempotent answers of other requests have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub entry: Option<Entry>,
    }

    /// A [`Claim`] and, when it is granted, the [`Settle`] of the new lead, in one transaction: what a
    /// submission of a new address asks, in one request instead of two (a request to the ledger object is
    /// about a sixth of a submission's CPU). The lead's document is written before it is sent, under the
    /// fresh id it claims with. Answers [`Admission`](super::Admission): where the address and the key
    /// stand, as a claim says, and what the settle said when there was one. When the claim was not
    /// granted (a repeat, a key answered or in progress, another request storing the address), nothing is
    /// settled and the request goes on from what the claim took, as after a [`Claim`]; its caller deletes
    /// the document it wrote for nothing.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Admit {
        /// The form.
        pub form: String,
        /// The address's index key (`intake::email_hash`).
        pub email: String,
        /// The new lead's id (its document is stored under it).
        pub lead: String,
        /// The request's `Idempotency-Key`, if any.
        pub key: Option<String>,
        /// Whether this request holds the key already (reserved by an earlier claim of its own), so that
        /// the admission settles its answer rather than finding it in progress.
        #[serde(default)]
        pub held_key: bool,
        /// As [`Claim::legacy`].
        pub legacy: Option<String>,
        /// Now, Unix ms (the Worker's clock).
        pub now: u64,
        /// The answer to keep for the key, when the lead is settled.
        pub answer: Option<String>,
        /// The new lead's deliveries, queued when it is settled.
        #[serde(default)]
        pub deliveries: Vec<Delivery>,
        /// The new lead's index row, written when it is settled.
        pub entry: Option<Entry>,
    }

    /// The request failed before the lead was stored: drop its reservations, so a retry meets a clean slate.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Release {
        /// The form.
        pub form: String,
        /// The address this request holds (none for requests that only reserved an idempotency key).
        #[serde(flatten)]
        pub hold: super::Hold,
        /// The idempotency key, if any.
        pub key: Option<String>,
    }

    /// What the ledger knows now about an address and an idempotency key (asked while another request
    /// holds a reservation).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Look {
        /// The form.
        pub form: String,
        /// The address's index key.
        pub email: String,
        /// The idempotency key, if any.
        pub key: Option<String>,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// Reserves an idempotency key for a request that has no address (an admin's draw): answered with
    /// its [`Replay`]. The answer is kept with a `Settle`, the reservation dropped with a `Release`, each
    /// naming the key and an empty `email`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Reserve {
        /// The key's namespace (e.g. `draw:<form>`).
        pub form: String,
        /// The idempotency key.
        pub key: String,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// Takes the hold on a stored lead (its address row) for a change that reads and writes its document:
    /// a confirmation, a withdrawal. Answered with [`Holder::Lead`] when this request now holds it,
    /// [`Holder::Reserved`] while another does, [`Holder::Nobody`] when the address has no stored lead.
    /// Released with a `Settle` or `Release` that says `held`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Hold {
        /// The form.
        pub form: String,
        /// The address's index key.
        pub email: String,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// Writes a lead's row in the lead index (after every write of its document).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Index {
        /// The row.
        pub entry: Entry,
        /// Only add the row if the lead has none (the backfill: a row written since is newer).
        #[serde(default)]
        pub only_if_missing: bool,
    }

    /// A page of lead ids, newest first, filtered in the index.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct List {
        /// Only this form's leads.
        pub form: Option<String>,
        /// Only leads with this status.
        pub status: Option<String>,
        /// Only leads created at or after this time (Unix ms).
        pub since: Option<u64>,
        /// The stage, score range and cooling filters.
        #[serde(default)]
        pub qualified: Qualified,
        /// Only leads older than this one (the previous page's `cursor`).
        pub before: Option<String>,
        /// How many at most.
        pub limit: u32,
    }

    /// Removes a lead's row from the lead index (before its document is deleted).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Unindex {
        /// The lead.
        pub lead: String,
    }

    /// Puts deliveries in the outbox, all or none, and wakes the ledger's alarm for them. A delivery whose
    /// lead has been erased is not queued (unless it announces the erasure), and one already queued under
    /// its id stays as it is (a derived id queued twice is one delivery).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Queue {
        /// The deliveries, due at `next_at_ms`.
        pub deliveries: Vec<Delivery>,
    }

    /// Takes deliveries out of the outbox again (their lead could not be written).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Unqueue {
        /// The deliveries' ids.
        pub ids: Vec<String>,
        /// Their lead (whose ledger object holds them).
        #[serde(default)]
        pub lead: String,
    }

    /// Makes parked deliveries (queued, not yet attempted) due now: what they announce is stored.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Send {
        /// The deliveries' ids.
        pub ids: Vec<String>,
        /// Their lead (whose ledger object holds them).
        #[serde(default)]
        pub lead: String,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// Records an attempt's outcome on a queued delivery: its state, attempts, next time and last answer.
    /// Only updates a row that is still there, and never its payload: an attempt that ends after its lead
    /// was erased writes nothing back.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Record {
        /// The delivery after the attempt (its payload is not read).
        pub delivery: Delivery,
        /// The endpoint answered 410 Gone: disable it until an admin enables it again.
        pub disable: bool,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// Takes up to `limit` due deliveries for an attempt, sharing the budget fairly between endpoints and
    /// leaving out disabled ones, and leases them for [`LEASE_MS`] so nobody else attempts them meanwhile.
    /// Answered with the deliveries, payloads included.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Due {
        /// Now, Unix ms.
        pub now: u64,
        /// How many at most.
        pub limit: u32,
    }

    /// A page of deliveries (without payloads), newest first.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Deliveries {
        /// Which ones.
        pub filter: DeliveryFilter,
        /// Only deliveries older than this one (the previous page's `cursor`).
        pub before: Option<String>,
        /// How many at most.
        pub limit: u32,
    }

    /// Sends a delivery again: pending, no attempts, due now. Answered with [`Found`].
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Replay {
        /// The delivery.
        pub id: String,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// The endpoints that are disabled (they answered 410), as [`Disabled`] rows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Endpoints;

    /// Enables a disabled endpoint again; its waiting deliveries are due at once.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Enable {
        /// The form.
        pub form: String,
        /// The endpoint's id.
        pub endpoint: String,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// The watchdog (the cron trigger): sets the alarm for the next due delivery, in case it was lost, and
    /// drops what has served its time (delivered deliveries after 30 days, counters of past windows).
    /// Answered with [`Backlog`].
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Wake {
        /// Now, Unix ms.
        pub now: u64,
    }

    /// An erasure, in one transaction: queues its announcements, deletes every other delivery of the lead
    /// (their payloads hold its personal data), its address rows and index row, and writes its tombstone.
    /// Answered with [`Erasure`].
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Erase {
        /// The lead.
        pub lead: String,
        /// The `lead.erased` announcements.
        pub announcements: Vec<Delivery>,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// A giveaway draw, in one transaction: its record, its winner announcements and, with an idempotency
    /// key, the answer every retry gets. A draw whose id is already recorded is not recorded again.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Draw {
        /// The giveaway form.
        pub form: String,
        /// The draw's id.
        pub id: String,
        /// The draw record (JSON of `draw::Draw`).
        pub record: String,
        /// The `giveaway.winner` announcements.
        pub announcements: Vec<Delivery>,
        /// The idempotency key the draw was asked for under (namespace `draw:<form>`), if any.
        pub key: Option<String>,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// A giveaway's draws, oldest first, as their records (JSON strings).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Draws {
        /// The giveaway form.
        pub form: String,
    }

    /// Counts a dropped bot submission on a form and day. In the ledger rather than KV: a bot flood must not
    /// spend the KV write quota real leads need.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct CountBot {
        /// The form.
        pub form: String,
        /// The day, `YYYY-MM-DD`.
        pub day: String,
    }

    /// The bot counts since a day (inclusive), as [`BotCount`] rows.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Bots {
        /// The first day, `YYYY-MM-DD`.
        pub since: String,
    }

    /// The next turns of a counter (round-robin assignment of a form's leads), from 0: one transaction, so
    /// racing leads never get the same turn. Answered with [`Turn`], the first of `count` turns.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Turn {
        /// The counter's name (`assign:<form>`, `signin:<owner>:<window>`).
        pub name: String,
        /// How many turns (an import takes one per new lead at once).
        #[serde(default = "super::one")]
        pub count: u64,
        /// When a counter of a time window has served its window (ms): [`Command::Wake`] then drops it, so
        /// such counters do not pile up. `None`: kept for good (a form's round-robin).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub until: Option<u64>,
    }

    /// An import's claims: [`Command::Claim`] for each row (no idempotency key), in one transaction.
    /// Answered with one [`Holder`] per row.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ClaimMany {
        /// The form.
        pub form: String,
        /// The rows.
        pub rows: Vec<ClaimRow>,
        /// Now, Unix ms.
        pub now: u64,
    }

    /// An import's settle, in one transaction: for each stored row the address becomes its lead's (or the
    /// repeat's hold ends), its index row is written and its deliveries queued; rows that could not be
    /// stored are released.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SettleMany {
        /// The form.
        pub form: String,
        /// The stored rows.
        pub settled: Vec<SettleRow>,
        /// The rows given up.
        pub released: Vec<super::Hold>,
    }

    /// The funnel of the leads created in a period (optionally of one form), grouped: answered with the
    /// `funnel::Tallies` of its groups, from the aggregates (see `funnel`) and the rows of the period's
    /// partial days.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Funnel {
        /// Only this form's leads.
        pub form: Option<String>,
        /// Only leads created at or after this time (Unix ms).
        pub from: Option<u64>,
        /// Only leads created before this time (Unix ms).
        pub to: Option<u64>,
        /// The grouping.
        pub by: crate::protocol::funnel::By,
    }

    /// Adds a flush window's page-view counts of one form to its views object (`shard::Home::Views`), and
    /// its visitors to the day's unique visitors: each is salted with the day's salt and counted if the
    /// day has not seen it. A new day's first batch replaces the salt and forgets the day before's digests.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Count {
        /// The sums.
        pub batch: crate::protocol::analytics::Batch,
        /// When they are written (Unix ms): its day is the salt's.
        pub now: u64,
    }

    /// What the catalog publishes (`catalog::Catalogue`): the published forms, unless the asker's copy is
    /// of the current revision.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Catalog {
        /// The revision the asker holds.
        pub known: Option<u64>,
        /// The digest of the asker's config file's forms (`catalog::digest`): the answer says whether the
        /// catalog was seeded with it.
        pub file: String,
    }

    /// Checks a config file and seeds the catalog with its forms (`catalog::seed`), once per file.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Seed {
        /// The file's text (the JSON of `LEADGATE_FORMS`).
        pub file: String,
        /// Its digest (`catalog::digest`).
        pub digest: String,
        /// Now (Unix ms).
        pub now: u64,
    }

    /// An edit of a form in the catalog (`catalog::edit`).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Edit {
        /// The form.
        pub form: String,
        /// What to do.
        pub action: crate::protocol::catalog::Action,
        /// Who does it.
        pub by: String,
        /// Now (Unix ms).
        pub now: u64,
    }

    /// The catalog's entries: one form's, or all (by id).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Shelf {
        /// Only this form.
        pub form: Option<String>,
    }

    /// One published version of a form.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Version {
        /// The form.
        pub form: String,
        /// The version's number.
        pub n: u32,
    }

    /// A form's versions, newest first, without their definitions.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Versions {
        /// The form.
        pub form: String,
    }

    /// The audit trail, newest first: one form's or every form's, before a time.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Trail {
        /// Only this form.
        pub form: Option<String>,
        /// Only lines before this time (Unix ms), for the next page.
        pub before: Option<u64>,
        /// At most this many lines.
        pub limit: u32,
    }

    /// A form's page-view counts of the days `[first, end)`, grouped: answered with `analytics::Sums`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Events {
        /// The form.
        pub form: String,
        /// The first day (days since the Unix epoch, UTC).
        pub first: u64,
        /// The day after the last.
        pub end: u64,
        /// The grouping.
        pub by: crate::protocol::analytics::By,
    }

    /// Leads created per day since `from`, grouped: answered with [`Daily`] rows.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Daily {
        /// The first day's start (Unix ms; days are UTC).
        pub from: u64,
        /// The grouping (`source`, `campaign`, `form` or `owner`).
        pub by: crate::protocol::funnel::By,
    }

    /// Asked of the registry (the single-object layout's object, see `shard`): where each form lives. A
    /// form with rows there stays there (and so does any form asked for while `legacy`); any other is
    /// registered with its shard count the first time it is asked for, and keeps that count. Each answer is
    /// final. Answered with each form's `shard::Place`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Places {
        /// The forms and the shard counts their config asks for.
        pub forms: Vec<(String, u32)>,
        /// The collector may still hold leads of the KV-only layout that are not in the registry yet (its
        /// index backfill is not done): a form not yet registered stays in the registry, where those
        /// leads are indexed, rather than get shards that would not know their addresses.
        #[serde(default)]
        pub legacy: bool,
    }

    /// Adds up to `limit` leads indexed before the funnel's aggregates existed to them, oldest first:
    /// answered with [`Tallied`]. Until every lead is in them, funnel questions read the rows instead
    /// (the upgrade of a ledger made before the aggregates; the cron asks until it is done).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Tally {
        /// How many leads at most.
        pub limit: u32,
    }

    /// The stored leads of an address on every form, as [`Holding`] rows (feedback names leads by address).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Find {
        /// The address's index key (`intake::email_hash`).
        pub email: String,
    }

    /// Counts a download of a lead's gated file, unless the lead's downloads in the current clock hour
    /// reached `per_hour`: answered with [`Counted`]. Counted here, not in the lead's document, so racing
    /// downloads never lose a count and a download costs no KV write; the count reaches the document when
    /// it is folded in under the ledger's hold (`handout`). Nothing is counted for an erased lead.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Download {
        /// The lead.
        pub lead: String,
        /// Now, Unix ms.
        pub now: u64,
        /// The most downloads a lead's links may make in one clock hour.
        pub per_hour: u32,
    }

    /// How many downloads the ledger counted for a lead in all: answered with [`Downloads`]. With
    /// `folded`, first notes that the lead's document now holds that many (what [`Command::Unfolded`]
    /// looks at).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Downloads {
        /// The lead.
        pub lead: String,
        /// The total the document holds now, after a fold.
        pub folded: Option<u64>,
    }

    /// The downloads the ledger counted for each of `leads` (a page of an admin list), as
    /// `[lead, total]` pairs for those with any.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DownloadTotals {
        /// The leads.
        pub leads: Vec<String>,
    }

    /// Up to `limit` leads with downloads that are counted but not in their documents, and whose last fold
    /// began at least [`FOLD_MS`] ago; each is leased for another [`FOLD_MS`]. Answered with their ids.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Unfolded {
        /// Now, Unix ms.
        pub now: u64,
        /// How many at most.
        pub limit: u32,
    }
}

/// How often a lead's counted downloads are folded into its document at most (once when a download comes
/// after a quiet minute; the cron folds the rest): a burst of downloads costs one KV write, not one each.
pub const FOLD_MS: u64 = 60_000;

/// The ledger's answer to [`Command::Download`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The download was counted and may be served.
    pub allowed: bool,
    /// The lead's downloads counted in all.
    pub total: u64,
    /// This request should fold the count into the lead's document now (no fold began in the last
    /// [`FOLD_MS`]).
    pub fold: bool,
    /// When refused: how long until the next clock hour, in ms.
    pub retry_after_ms: u64,
}

/// The ledger's answer to [`Command::Downloads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downloads {
    /// The lead's downloads counted in all.
    pub total: u64,
}

/// The clock hour a download counts in (for the hourly limit), as the ledger keeps it.
pub fn download_hour(now: u64) -> u64 {
    now / 3_600_000
}

fn one() -> u64 {
    1
}

/// One row of [`Command::ClaimMany`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRow {
    /// The address's index key.
    pub email: String,
    /// The id a new lead would get.
    pub lead: String,
    /// The KV-only layout's lead for the address, if any (adopted as for a submission).
    pub legacy: Option<String>,
}

/// What a request holds in the ledger for an address, and what settling or releasing it acts on: a claim
/// (`lead`, for a new lead) or the hold on a stored lead (`held`, for a repeat). The default holds nothing
/// (a request that only keeps an idempotent answer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The address's index key.
    pub email: String,
    /// The lead claimed, if the request claimed the address.
    pub lead: Option<String>,
    /// Whether the request held the stored lead for a repeat.
    #[serde(default)]
    pub held: bool,
}

/// One stored row of [`Command::SettleMany`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleRow {
    /// What the row holds.
    #[serde(flatten)]
    pub hold: Hold,
    /// The lead's index row.
    pub entry: Entry,
    /// Its deliveries.
    pub deliveries: Vec<Delivery>,
}

/// The ledger's answer to [`Command::Turn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// The turn, from 0.
    pub turn: u64,
}

/// Leads created on a day, in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daily {
    /// The group's key (`None`: no source, campaign or owner).
    pub key: Option<String>,
    /// The day (days since 1970-01-01, UTC).
    pub day: u64,
    /// How many leads.
    pub count: u64,
}

/// A stored lead of an address on a form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// The form.
    pub form: String,
    /// The lead.
    pub lead: String,
}

/// Dropped bot submissions on a form and day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotCount {
    /// The form.
    pub form: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// How many.
    pub count: u64,
}

/// How long an attempt holds a delivery it took: longer than any attempt can last (an alarm runs at most
/// 15 minutes). An attempt lost with the object's instance (the runtime restarted) is handed back at once
/// by the next instance; the lease bounds the others (a record of the outcome that failed).
pub const LEASE_MS: u64 = 15 * 60_000;

/// The most deliveries one alarm run attempts: a Pipedrive delivery makes three subrequests, and an
/// invocation on the free plan may make 50. The alarm is set again at once while more are due.
pub const PER_RUN: u32 = 15;

/// How many due deliveries of the bulk lane a [`Command::Due`] considers, oldest due first, before sharing
/// its budget between their endpoints: bounded work however long the backlog (a run takes [`PER_RUN`]).
pub const DUE_CANDIDATES: u32 = 250;

/// The bulk lane's pace: after a run that took from it, the next bulk run waits this long (a run takes at
/// most [`PER_RUN`], so one object drains at most 75 deliveries a second, and each endpoint its fair share
/// of that). The object intake shares spends most of its time on intake, however long the backlog;
/// urgent deliveries are not paced (see `outbox::pick_due`).
pub const PACE_MS: u64 = 200;

/// When the outbox's alarm should fire: at the next urgent delivery's due time, or at the next bulk one's
/// but not before the pace allows (`paced_until`), and never before `earliest`. `None` when nothing waits.
pub fn alarm_at(next_urgent: Option<u64>, next_bulk: Option<u64>, paced_until: u64, earliest: u64) -> Option<u64> {
    let bulk = next_bulk.map(|b| b.max(paced_until));
    let at = match (next_urgent, bulk) {
        (Some(u), Some(b)) => u.min(b),
        (u, b) => u.or(b)?,
    };
    Some(at.max(earliest))
}

/// The most deliveries one [`Command::Deliveries`] answers.
pub const MAX_DELIVERIES: u32 = 500;

/// Which deliveries a [`Command::Deliveries`] lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFilter {
    /// `pending`, `failed` (pending after a failed attempt), `delivered` or `dead`.
    pub status: Option<String>,
    /// Only this form's.
    pub form: Option<String>,
    /// Only this endpoint's.
    pub endpoint: Option<String>,
    /// Only this lead's.
    pub lead: Option<String>,
}

/// A delivery as admin lists show it: everything but the payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// The `webhook-id`.
    pub id: String,
    /// The lead.
    pub lead_id: String,
    /// The form.
    pub form: String,
    /// The endpoint.
    pub endpoint: String,
    /// The event type.
    pub event: String,
    /// Where it stands.
    pub state: State,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (Unix ms).
    pub next_at_ms: u64,
    /// The last attempt's HTTP status.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl DeliveryRow {
    /// The row of `d`.
    pub fn of(d: &Delivery) -> DeliveryRow {
        DeliveryRow {
            id: d.id.clone(),
            lead_id: d.lead_id.clone(),
            form: d.form.clone(),
            endpoint: d.endpoint.clone(),
            event: d.event.clone(),
            state: d.state,
            attempts: d.attempts,
            next_at_ms: d.next_at_ms,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
        }
    }

    /// Whether `filter` selects this row.
    pub fn matches(&self, filter: &DeliveryFilter) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let status = match filter.status.as_deref() {
            None => true,
            Some("failed") => self.state == State::Pending && self.attempts > 0,
            Some(s) => s == self.state.as_str(),
        };
        status && is(&filter.form, &self.form) && is(&filter.endpoint, &self.endpoint) && is(&filter.lead, &self.lead_id)
    }
}

/// The ledger's answer to [`Command::Deliveries`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPage {
    /// The deliveries, newest first.
    pub deliveries: Vec<DeliveryRow>,
    /// Pass as `before` for the next page; absent on the last one.
    pub cursor: Option<String>,
}

/// A disabled endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// The form.
    pub form: String,
    /// The endpoint's id.
    pub endpoint: String,
    /// Since when, Unix ms.
    pub at: u64,
    /// The status that disabled it.
    pub status: u16,
}

/// Whether a command found what it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    /// Whether it did.
    pub found: bool,
}

/// The ledger's answer to [`Command::Wake`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    /// Pending deliveries to endpoints that are not disabled, counted up to [`PENDING_COUNTED`].
    pub pending: u64,
    /// When the next is due (Unix ms), if any: the alarm is set for then.
    pub next_at_ms: Option<u64>,
    /// Whether the funnel's aggregates hold every lead (else the cron asks for [`Command::Tally`]).
    #[serde(default = "yes")]
    pub tallied: bool,
}

fn yes() -> bool {
    true
}

/// How far the watchdog counts a backlog (for its log line): a bounded count, whatever the backlog.
pub const PENDING_COUNTED: u64 = 10_000;

/// The ledger's answer to [`Command::Erase`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// How many of the lead's deliveries were deleted.
    pub deliveries_deleted: u64,
}

/// The ledger's answer to [`Command::Draw`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawn {
    /// The draw that is on record: this one, or (when the key was answered meanwhile) the first.
    pub record: String,
}

/// The qualification filters of a lead list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualified {
    /// Only leads at this stage.
    #[serde(default)]
    pub stage: Option<String>,
    /// Only leads scored at least this (when last written).
    #[serde(default)]
    pub min_score: Option<i64>,
    /// Only leads scored at most this (when last written).
    #[serde(default)]
    pub max_score: Option<i64>,
    /// Only leads cooling at this time (Unix ms).
    #[serde(default)]
    pub cooling_at: Option<u64>,
    /// Only leads of this owner (`none`: leads without one).
    #[serde(default)]
    pub owner: Option<String>,
}

impl Qualified {
    /// Whether `entry` passes these filters.
    pub fn admits(&self, entry: &Entry) -> bool {
        self.stage.as_deref().is_none_or(|s| s == entry.stage)
            && self.min_score.is_none_or(|m| entry.score >= m)
            && self.max_score.is_none_or(|m| entry.score <= m)
            && self.cooling_at.is_none_or(|now| entry.cooling_at.is_some_and(|c| c <= now))
            && self.owner.as_deref().is_none_or(|o| if o == NO_OWNER { entry.owner.is_none() } else { entry.owner.as_deref() == Some(o) })
    }
}

/// The owner filter that selects leads without an owner.
pub const NO_OWNER: &str = "none";

/// Who holds an address on a form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Holder {
    /// Nobody: the address is new on the form.
    Nobody,
    /// This request: it may store a new lead.
    Claimed,
    /// A stored lead, which this request now holds for its repeat (after a [`Command::Claim`]) or which is
    /// free to be claimed (after a [`Command::Look`]). A lead is held by one repeat at a time, so repeats
    /// that race never overwrite each other's changes.
    Lead {
        /// Its id.
        lead: String,
    },
    /// Another request is storing a new lead for it, or holds its lead for a repeat, right now.
    Reserved,
}

/// What an idempotency key holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Replay {
    /// No key was sent, or the key is new (and now reserved for this request).
    Fresh,
    /// The first request with the key was answered: give this answer again.
    Answered {
        /// `{"status", "body"}` as settled.
        answer: String,
    },
    /// The first request with the key is still in progress.
    InProgress,
}

/// [`Holder`] and [`Replay`] as they are written (`{"state": ..., <the variant's field>}`), read as one flat
/// struct: serde's reader of an internally tagged enum buffers the whole object first, and with it each of
/// the two enums cost the collector's bundle about 4 KB, which every submission's answer is read with.
#[derive(Deserialize)]
struct Tagged {
    state: Tag,
    lead: Option<String>,
    answer: Option<String>,
}

/// The `state` tags of [`Holder`] and [`Replay`].
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Tag {
    Nobody,
    Claimed,
    Lead,
    Reserved,
    Fresh,
    Answered,
    InProgress,
}

impl<'de> Deserialize<'de> for Holder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let t = Tagged::deserialize(d)?;
        match t.state {
            Tag::Nobody => Ok(Holder::Nobody),
            Tag::Claimed => Ok(Holder::Claimed),
            Tag::Lead => Ok(Holder::Lead { lead: t.lead.ok_or_else(|| D::Error::missing_field("lead"))? }),
            Tag::Reserved => Ok(Holder::Reserved),
            _ => Err(D::Error::custom("not a holder's state")),
        }
    }
}

impl<'de> Deserialize<'de> for Replay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let t = Tagged::deserialize(d)?;
        match t.state {
            Tag::Fresh => Ok(Replay::Fresh),
            Tag::Answered => Ok(Replay::Answered { answer: t.answer.ok_or_else(|| D::Error::missing_field("answer"))? }),
            Tag::InProgress => Ok(Replay::InProgress),
            _ => Err(D::Error::custom("not a key's state")),
        }
    }
}

/// The ledger's answer to [`Command::Claim`] and [`Command::Look`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// Who holds the address.
    pub holder: Holder,
    /// What the idempotency key holds.
    pub replay: Replay,
}

/// The ledger's answer to [`Command::Admit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// Where the address and the key stand: the claim's answer. The lead was settled only when the
    /// address is [`Holder::Claimed`] and the key [`Replay::Fresh`].
    pub standing: Standing,
    /// The settle's answer, when the claim was granted and the lead settled with it.
    #[serde(default)]
    pub settled: Option<Indexed>,
}

/// A lead as the ledger's index knows it: what admin lists and draws filter and sort on, no personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The lead's id (time-ordered, so ordering by id is ordering by creation).
    pub id: String,
    /// The form.
    pub form: String,
    /// `new`, `pending` or `confirmed`.
    pub status: String,
    /// The lead's stage in the funnel.
    pub stage: String,
    /// The score when the lead was last written.
    pub score: i64,
    /// When the lead was created, Unix ms.
    pub created: u64,
    /// The campaign source (`utm_source`), if any.
    pub source: Option<String>,
    /// When the lead starts cooling if nothing new happens (Unix ms; see `shared::score::cooling_from`).
    #[serde(default)]
    pub cooling_at: Option<u64>,
    /// The lead's owner, if it has one.
    #[serde(default)]
    pub owner: Option<String>,
    /// The campaign (`utm_campaign`), if any.
    #[serde(default)]
    pub campaign: Option<String>,
    /// When the lead first reached each stage it reached (Unix ms), from its history: what the funnel
    /// counts.
    #[serde(default)]
    pub reached: Vec<(shared::stage::Stage, u64)>,
    /// The variant of the form's texts the lead saw (an A/B test), if any.
    #[serde(default)]
    pub variant: Option<String>,
}

impl Entry {
    /// The index row of `lead`.
    pub fn of(lead: &Lead) -> Entry {
        Entry {
            id: lead.id.clone(),
            form: lead.form.clone(),
            status: lead.status.as_str().to_owned(),
            stage: lead.stage.as_str().to_owned(),
            score: i64::from(lead.score.total),
            created: shared::time::parse(&lead.created_at).unwrap_or(0),
            // Campaign tags name a form lead's source; an imported lead's is its batch's (a trade fair, a
            // bought list), so the funnel shows them beside the campaigns.
            source: lead.source.utm.get("source").cloned().or_else(|| lead.source.import.as_ref().map(|i| i.source.clone())),
            cooling_at: lead.score.cooling_from.as_deref().and_then(shared::time::parse),
            owner: lead.owner.clone(),
            campaign: lead.source.utm.get("campaign").cloned(),
            reached: reached(lead),
            variant: lead.variant.clone(),
        }
    }
}

impl Entry {
    /// What the lead adds to the funnel's aggregates.
    pub fn share(&self) -> crate::protocol::funnel::Share {
        crate::protocol::funnel::Share::new(
            &self.form,
            self.created,
            [self.source.as_deref(), self.campaign.as_deref(), self.owner.as_deref(), self.variant.as_deref()],
            shared::stage::Stage::parse(&self.stage).unwrap_or_default(),
            &self.reached,
        )
    }

    /// The row's key in a grouping (the funnel's, the daily counts'): `None` for no source, campaign or
    /// owner.
    pub fn group(&self, by: crate::protocol::funnel::By) -> Option<String> {
        match by {
            crate::protocol::funnel::By::Source => self.source.clone(),
            crate::protocol::funnel::By::Campaign => self.campaign.clone(),
            crate::protocol::funnel::By::Form => Some(self.form.clone()),
            crate::protocol::funnel::By::Owner => self.owner.clone(),
            crate::protocol::funnel::By::Day => Some((self.created / 86_400_000).to_string()),
            crate::protocol::funnel::By::Variant => self.variant.clone(),
        }
    }
}

/// When `lead` first reached each stage, from its history (a lead from before stages: its stage, since its
/// creation).
pub fn reached(lead: &Lead) -> Vec<(shared::stage::Stage, u64)> {
    let mut out: Vec<(shared::stage::Stage, u64)> = Vec::new();
    for change in &lead.history {
        if !out.iter().any(|(s, _)| *s == change.to) {
            out.push((change.to, shared::time::parse(&change.at).unwrap_or(0)));
        }
    }
    if !out.iter().any(|(s, _)| *s == lead.stage) {
        out.push((lead.stage, shared::time::parse(&lead.created_at).unwrap_or(0)));
    }
    out
}

/// Where a form lives (see `shard`): the ledger's answer to [`Command::Places`], per form. It travels as
/// its shard count, 0 for the registry (a number costs the collector's bundle less than a tagged enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
pub enum Place {
    /// In the registry (it has rows there from the single-object layout).
    Registry,
    /// In its own objects.
    Shards {
        /// How many.
        shards: u32,
    },
}

impl From<u32> for Place {
    fn from(shards: u32) -> Place {
        match shards {
            0 => Place::Registry,
            shards => Place::Shards { shards },
        }
    }
}

impl From<Place> for u32 {
    fn from(place: Place) -> u32 {
        match place {
            Place::Registry => 0,
            Place::Shards { shards } => shards,
        }
    }
}

/// The ledger's answer to [`Command::Tally`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tallied {
    /// Leads added to the aggregates by this command.
    pub added: u64,
    /// Whether every lead is in them now.
    pub done: bool,
}

/// Which leads the funnel's aggregates hold: those with ids up to a cursor while the upgrade's tally runs
/// (ids are time-ordered, so new leads are past it and are tallied when it reaches them), then all. The
/// cursor that means "all" sorts after every lead id.
pub const TALLIED_ALL: &str = "~";

/// Whether the aggregates hold `lead` when they are tallied up to `cursor` (see [`TALLIED_ALL`]).
pub fn tallied(cursor: &str, lead: &str) -> bool {
    cursor == TALLIED_ALL || lead <= cursor
}

/// How many leads one [`Command::Tally`] adds: a few milliseconds of the object's time.
pub const TALLY_BATCH: u32 = 500;

/// The ledger's answer to [`Command::Index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indexed {
    /// The lead was erased: its row was not written, and its document must go again.
    pub erased: bool,
}

/// The ledger's answer to [`Command::List`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Lead ids, newest first.
    pub ids: Vec<String>,
    /// Pass as `before` for the next page; absent on the last one.
    pub cursor: Option<String>,
}

/// The most ids one [`Command::List`] answers (a draw asks for all of a giveaway's entries at once).
pub const MAX_LIST: u32 = 100_000;

/// Whether a reservation made at `at` (a claim, a hold, a key in progress) is still held at `now`.
pub fn reservation_holds(at: u64, now: u64) -> bool {
    now.saturating_sub(at) < RESERVATION_MS
}

/// Whether an answer settled at `at` is still given at `now`.
pub fn answer_holds(at: u64, now: u64) -> bool {
    now.saturating_sub(at) < ANSWER_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_and_replays_read_back_as_they_are_written_and_nothing_else() {
        let holders = [Holder::Nobody, Holder::Claimed, Holder::Lead { lead: "ld_1".into() }, Holder::Reserved];
        let replays = [Replay::Fresh, Replay::Answered { answer: r#"{"status":201}"#.into() }, Replay::InProgress];
        for holder in holders {
            let text = serde_json::to_string(&holder).unwrap();
            assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), holder, "{text}");
            assert!(serde_json::from_str::<Replay>(&text).is_err(), "{text} is not a key's state");
        }
        for replay in replays {
            let text = serde_json::to_string(&replay).unwrap();
            assert_eq!(serde_json::from_str::<Replay>(&text).unwrap(), replay, "{text}");
            assert!(serde_json::from_str::<Holder>(&text).is_err(), "{text} is not a holder's state");
        }
        assert_eq!(serde_json::to_string(&Holder::Lead { lead: "x".into() }).unwrap(), r#"{"state":"lead","lead":"x"}"#);
        assert!(serde_json::from_str::<Holder>(r#"{"state":"lead"}"#).is_err(), "a lead holder names its lead");
        assert!(serde_json::from_str::<Replay>(r#"{"state":"answered"}"#).is_err(), "an answered key has its answer");
        assert!(serde_json::from_str::<Holder>(r#"{"state":"gone"}"#).is_err());
        let standing: Standing = serde_json::from_str(r#"{"holder":{"state":"claimed"},"replay":{"state":"in_progress"}}"#).unwrap();
        assert_eq!(standing, Standing { holder: Holder::Claimed, replay: Replay::InProgress });
    }

    #[test]
    fn a_command_written_by_its_own_type_is_what_the_enum_writes_and_reads() {
        fn same<C: Asks + Clone>(command: C) {
            let wired = wire(&command).unwrap();
            let whole: Command = command.into();
            assert_eq!(wired, serde_json::to_string(&whole).unwrap());
            assert_eq!(serde_json::from_str::<Command>(&wired).unwrap(), whole);
        }
        same(cmd::Claim { form: "nl".into(), email: "ab".into(), lead: "ld_1".into(), key: Some("k".into()), legacy: None, now: 5 });
        // Flattened fields, a default, and a field left out when empty.
        same(cmd::Settle {
            form: "nl".into(),
            hold: Hold { email: "ab".into(), ..Hold::default() },
            key: None,
            answer: Some("{}".into()),
            deliveries: vec![],
            entry: None,
        });
        same(cmd::Turn { name: "assign:nl".into(), count: 1, until: None });
        same(cmd::Turn { name: "signin:anna:7".into(), count: 2, until: Some(9) });
        same(cmd::Release { form: "nl".into(), hold: Hold::default(), key: Some("k".into()) });
        same(cmd::Places { forms: vec![("nl".into(), 2)], legacy: true });
        same(cmd::Catalog { known: Some(3), file: "{}".into() });
        // A command without fields: a unit struct on its own, `{"op": ...}` alone in the enum.
        same(cmd::Endpoints);
        assert_eq!(wire(&cmd::Endpoints).unwrap(), r#"{"op":"endpoints"}"#);
    }

    #[test]
    fn commands_and_answers_travel_as_tagged_json() {
        let claim = Command::Claim(cmd::Claim { form: "nl".into(), email: "ab".into(), lead: "ld_1".into(), key: None, legacy: None, now: 5 });
        let settle: Command = serde_json::from_str(r#"{"op":"settle","form":"nl","email":"ab","lead":null,"key":null,"answer":null}"#).unwrap();
        assert_eq!(
            settle,
            Command::Settle(cmd::Settle {
                form: "nl".into(),
                hold: Hold { email: "ab".into(), ..Hold::default() },
                key: None,
                answer: None,
                deliveries: vec![],
                entry: None
            })
        );
        let held = Command::Release(cmd::Release {
            form: "nl".into(),
            hold: Hold { email: "ab".into(), lead: Some("ld_1".into()), held: true },
            key: Some("k".into()),
        });
        let json = serde_json::to_string(&held).unwrap();
        assert_eq!(json, r#"{"op":"release","form":"nl","email":"ab","lead":"ld_1","held":true,"key":"k"}"#, "the hold travels flat");
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), held);
        let json = serde_json::to_string(&claim).unwrap();
        assert!(json.starts_with(r#"{"op":"claim","form":"nl""#), "{json}");
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), claim);
        let standing = Standing { holder: Holder::Lead { lead: "ld_0".into() }, replay: Replay::InProgress };
        let json = serde_json::to_string(&standing).unwrap();
        assert_eq!(json, r#"{"holder":{"state":"lead","lead":"ld_0"},"replay":{"state":"in_progress"}}"#);
        assert_eq!(serde_json::from_str::<Standing>(&json).unwrap(), standing);
        assert!(serde_json::from_str::<Command>(r#"{"op":"drop_tables"}"#).is_err());
        // A command without fields and a field with its default travel as before the commands had types.
        assert_eq!(serde_json::to_string(&Command::from(cmd::Endpoints)).unwrap(), r#"{"op":"endpoints"}"#);
        assert_eq!(
            serde_json::from_str::<Command>(r#"{"op":"turn","name":"assign:f"}"#).unwrap(),
            Command::Turn(cmd::Turn { name: "assign:f".into(), count: 1, until: None })
        );
    }

    /// Each command names its answer: this compiles only with the pairings the ledger keeps.
    #[test]
    fn each_command_names_its_answer() {
        fn answer_of<C: Asks>(_: &C) -> std::marker::PhantomData<C::Answer> {
            std::marker::PhantomData
        }
        let _: std::marker::PhantomData<Standing> =
            answer_of(&cmd::Claim { form: String::new(), email: String::new(), lead: String::new(), key: None, legacy: None, now: 0 });
        let _: std::marker::PhantomData<Vec<Disabled>> = answer_of(&cmd::Endpoints);
        let _: std::marker::PhantomData<Counted> = answer_of(&cmd::Download { lead: String::new(), now: 0, per_hour: 1 });
    }

    #[test]
    fn the_bulk_lane_waits_for_its_pace_and_the_urgent_lane_does_not() {
        assert_eq!(alarm_at(None, None, 500, 0), None);
        assert_eq!(alarm_at(None, Some(100), 300, 0), Some(300), "a backlog due long ago waits for the pace");
        assert_eq!(alarm_at(Some(150), Some(100), 300, 0), Some(150), "an urgent mail does not");
        assert_eq!(alarm_at(Some(150), Some(400), 300, 0), Some(150));
        assert_eq!(alarm_at(None, Some(400), 300, 0), Some(400), "nothing is due before its time");
        assert_eq!(alarm_at(Some(150), None, 0, 200), Some(200), "nor before the earliest");
    }

    #[test]
    fn reservations_lapse_and_answers_expire() {
        assert!(reservation_holds(1_000, 1_000 + RESERVATION_MS - 1));
        assert!(!reservation_holds(1_000, 1_000 + RESERVATION_MS));
        assert!(reservation_holds(5_000, 1_000), "a clock behind the reservation still holds it");
        assert!(answer_holds(0, ANSWER_MS - 1) && !answer_holds(0, ANSWER_MS));
    }
}
