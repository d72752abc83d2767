//! Where each ledger command goes: the ledger is split into objects so that independent work never waits on
//! one object. Pure: the routing and the joining of several objects' answers; both backends run it.
//!
//! Every form has its own objects, `shards` of them (1 unless the form's config says more). An address
//! lives in the shard its hash picks ([`shard_of`]: the first 32 bits of the SHA-256 of the lower-cased
//! address, modulo the form's shard count), so everything that must hold strictly per address and form
//! (one lead per address, one entry per giveaway, a repeat's hold, an idempotency key's one answer, since
//! its request names the address) is decided inside one object, as before. A lead id ends in its shard
//! (`_<form tag><n>`), so whatever names a lead by id (its index row, its deliveries, its downloads, its
//! erasure and tombstone) goes to that one object. What a form has once (its giveaway draws, its
//! round-robin turns, its bot counts, its import batches' keys) lives in its shard 0. Questions over many
//! leads (lists, the funnel, daily counts, deliveries, disabled endpoints) ask every object that can hold
//! an answer and join the answers ([`join`]); an address's leads on every form ([`cmd::Find`]) ask each
//! form's shard for that address.
//!
//! The object of the single-object layout (named `ledger`) stays: it is the registry that says which forms
//! live where and with how many shards ([`cmd::Places`]), and it stays the home of every form that has
//! rows in it (a collector upgraded from that layout keeps its forms there, with their leads, deliveries,
//! tombstones, answers and draws; such a form's lead ids have no shard suffix). A form it has no rows of
//! is registered with its shard count the first time a collector asks, and the old object refuses new
//! addresses of it from then on, so a Worker still running the old code cannot write behind the shards'
//! backs. The shard count is fixed from then on: a config that changes it is refused for that form.

#[cfg(any(feature = "operator", not(target_arch = "wasm32")))]
use crate::protocol::funnel::Tallies;
pub use crate::protocol::ledger::Place;
use crate::protocol::ledger::{self, cmd, BotCount, Command, Daily, DeliveryPage, Disabled, Found, Holder, Holding, Page};
use crate::protocol::outbox::Delivery;
use crate::Error;
use serde_json::Value;
use std::collections::BTreeMap;

/// The most shards a form may have.
pub const MAX_SHARDS: u32 = 64;

/// The name of the single-object layout's object: the registry, and the home of the forms it holds.
pub const REGISTRY: &str = "ledger";

/// The name of the forms' catalog object.
pub const CATALOG: &str = "catalog";

/// One ledger object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Home {
    /// The single-object layout's object.
    Registry,
    /// Shard `n` of the form whose tag is `tag` (see [`tag`]).
    Shard {
        /// The form's tag.
        tag: String,
        /// The shard, from 0.
        n: u32,
    },
    /// The page-view counts of the forms whose tag is `tag` (see `analytics`): an object of their own, so
    /// reports from page views never wait on intake, nor intake on them.
    Views {
        /// The form's tag.
        tag: String,
    },
    /// The forms' catalog (`catalog`): drafts, published versions and their trail, apart from every object
    /// intake uses; collectors read it once per isolate and refresh window.
    Catalog,
}

impl Home {
    /// The object's name (what `idFromName` takes).
    pub fn name(&self) -> String {
        match self {
            Home::Registry => REGISTRY.to_owned(),
            Home::Shard { tag, n } => format!("form:{tag}:{n}"),
            Home::Views { tag } => format!("views:{tag}"),
            Home::Catalog => CATALOG.to_owned(),
        }
    }

    /// What a lead id of this home ends with (nothing in the registry).
    pub fn suffix(&self) -> String {
        match self {
            Home::Registry | Home::Views { .. } | Home::Catalog => String::new(),
            Home::Shard { tag, n } => format!("_{tag}{}", digit(*n)),
        }
    }

    /// The objects that may hold a lead's deliveries: its own, and its form's shard 0, where a giveaway
    /// draw queues its winners' announcements with the draw (one transaction).
    pub fn of_deliveries(lead: &str) -> Vec<Home> {
        match Home::of_lead(lead) {
            Home::Shard { tag, n } if n > 0 => vec![Home::Shard { tag: tag.clone(), n }, Home::Shard { tag, n: 0 }],
            home => vec![home],
        }
    }

    /// The home of the lead with this id: the shard its suffix names, or the registry (ids without one).
    pub fn of_lead(id: &str) -> Home {
        let Some((_, suffix)) = id.rsplit_once('_').filter(|(head, _)| head.contains('_')) else { return Home::Registry };
        match (suffix.get(..TAG_LEN), suffix.get(TAG_LEN..).and_then(undigit)) {
            (Some(tag), Some(n)) if (TAG_LEN + 1..=TAG_LEN + 2).contains(&suffix.len()) => Home::Shard { tag: tag.to_owned(), n },
            _ => Home::Registry,
        }
    }
}

/// How many characters of a form's tag lead ids carry.
const TAG_LEN: usize = 5;

/// Crockford's base32 (as lead ids use it).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A shard number in base32: one character below 32, two above (the suffix's length says which).
fn digit(n: u32) -> String {
    if n < 32 {
        ALPHABET.get(n as usize).map(|b| char::from(*b).to_string()).unwrap_or_default()
    } else {
        format!("{}{}", digit(n / 32), digit(n % 32))
    }
}

fn undigit(s: &str) -> Option<u32> {
    s.bytes().try_fold(0u32, |acc, b| Some(acc * 32 + ALPHABET.iter().position(|a| *a == b)? as u32)).filter(|_| !s.is_empty())
}

/// A form's tag: 5 characters of base32 from the SHA-256 of its id. Lead ids carry it instead of the id
/// (shorter, and it says nothing about the form); two forms with one tag would share objects, which is
/// harmless (every row names its form), only less spread.
///
/// Every command a form's lead sends is routed by it, and in the collector's profile hashing the id was
/// the largest share of SHA-256's time: the tags computed so far are kept for the thread (an isolate),
/// at most [`TAGS_KEPT`] of them (past that the list starts over, so it cannot grow with what requests name).
pub fn tag(form: &str) -> String {
    use sha2::{Digest, Sha256};
    std::thread_local! {
        static TAGS: crate::rules::memo::Memo<String, String> = const { crate::rules::memo::Memo::new(TAGS_KEPT) };
    }
    TAGS.with(|t| {
        t.get_or(form, || {
            let digest = Sha256::digest(form.as_bytes());
            let bits = digest.iter().take(4).fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            (0..TAG_LEN).rev().map(|i| ALPHABET.get(((bits >> (i * 5 + 7)) & 31) as usize).map_or('0', |b| char::from(*b))).collect()
        })
    })
}

/// How many forms' tags an isolate keeps (see [`tag`]): more than a deployment has forms.
pub const TAGS_KEPT: usize = 256;

/// The shard of an address (its index key, the hex SHA-256 of the lower-cased address) among `shards`.
pub fn shard_of(email_hash: &str, shards: u32) -> u32 {
    let bits = email_hash.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0);
    bits % shards.max(1)
}

/// What routing knows: where each form lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Map {
    /// Each form's place.
    pub forms: BTreeMap<String, Place>,
}

impl Map {
    /// Where `form` lives (a form the map does not know has one shard of its own).
    pub fn place(&self, form: &str) -> Place {
        self.forms.get(form).copied().unwrap_or(Place::Shards { shards: 1 })
    }

    /// The object that holds `form`'s address with this index key.
    pub fn home(&self, form: &str, email_hash: &str) -> Home {
        match self.place(form) {
            Place::Registry => Home::Registry,
            Place::Shards { shards } => Home::Shard { tag: tag(form), n: shard_of(email_hash, shards) },
        }
    }

    /// The object that holds what `form` has once (draws, turns, bot counts, batch keys): its shard 0.
    pub fn first(&self, form: &str) -> Home {
        match self.place(form) {
            Place::Registry => Home::Registry,
            Place::Shards { .. } => Home::Shard { tag: tag(form), n: 0 },
        }
    }

    /// Every object of `form`.
    pub fn homes_of(&self, form: &str) -> Vec<Home> {
        match self.place(form) {
            Place::Registry => vec![Home::Registry],
            Place::Shards { shards } => (0..shards).map(|n| Home::Shard { tag: tag(form), n }).collect(),
        }
    }

    /// Every object: the registry and each form's shards.
    pub fn all(&self) -> Vec<Home> {
        let mut out = vec![Home::Registry];
        for form in self.forms.keys() {
            for home in self.homes_of(form) {
                if !out.contains(&home) {
                    out.push(home);
                }
            }
        }
        out
    }
}

/// Where a command goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// To one object.
    One(Home),
    /// The same command to each of these objects; their answers are joined with [`join`].
    Each(Vec<Home>),
    /// A part of the command to each object (the rows that live there), with the positions its rows had in
    /// the command; the answers are joined with [`join_parts`].
    Split(Vec<(Home, Command, Vec<usize>)>),
}

/// The form a key namespace belongs to (`draw:<form>`, `import:<form>`, or the form itself), if any.
fn namespace_form(namespace: &str) -> &str {
    namespace.strip_prefix("draw:").or_else(|| namespace.strip_prefix("import:")).unwrap_or(namespace)
}

/// The object of a request that names a form (or a key namespace) and maybe an address.
fn of_form(map: &Map, form: &str, email: &str) -> Home {
    if form.starts_with("feedback:") {
        // A CRM's feedback keys name no form: they live in the registry.
        return Home::Registry;
    }
    if email.is_empty() {
        map.first(namespace_form(form))
    } else {
        map.home(form, email)
    }
}

/// Where a command of one type goes: each command type routes itself, so a Worker that sends only some
/// commands (the collector, through `Backend::send`) carries only their routing and their writing, not
/// every command's (see `Backend::send`).
pub trait Routed {
    /// Whether the command is the catalog's: its one object is asked without the map, which is made from
    /// the catalog's config.
    const CATALOG: bool = false;
    /// Where it goes, by `map`.
    fn route(&self, map: &Map) -> Route;
}

/// Each command type's route, and [`route`] for a [`Command`] of any type.
macro_rules! routes {
    ($($name:ident($c:ident, $map:ident) => $route:expr,)* ; catalog: $($catalog:ident),*) => {
        $(
            impl Routed for cmd::$name {
                #[allow(unused_variables)]
                fn route(&self, $map: &Map) -> Route {
                    let $c = self;
                    $route
                }
            }
        )*
        $(
            impl Routed for cmd::$catalog {
                const CATALOG: bool = true;
                fn route(&self, _: &Map) -> Route {
                    Route::One(Home::Catalog)
                }
            }
        )*

        /// Where `command` goes.
        pub fn route(map: &Map, command: &Command) -> Route {
            match command {
                $(Command::$name(c) => c.route(map),)*
                $(Command::$catalog(c) => c.route(map),)*
                Command::Endpoints => cmd::Endpoints.route(map),
            }
        }
    };
}

routes! {
    Claim(c, map) => Route::One(map.home(&c.form, &c.email)),
    Admit(c, map) => Route::One(map.home(&c.form, &c.email)),
    Look(c, map) => Route::One(map.home(&c.form, &c.email)),
    Hold(c, map) => Route::One(map.home(&c.form, &c.email)),
    Settle(c, map) => Route::One(match (&c.entry, c.hold.email.is_empty()) {
        (Some(entry), true) => Home::of_lead(&entry.id),
        _ => of_form(map, &c.form, &c.hold.email),
    }),
    Release(c, map) => Route::One(of_form(map, &c.form, &c.hold.email)),
    Reserve(c, map) => Route::One(of_form(map, &c.form, "")),
    Index(c, map) => Route::One(Home::of_lead(&c.entry.id)),
    Unindex(c, map) => Route::One(Home::of_lead(&c.lead)),
    Erase(c, map) => match Home::of_deliveries(&c.lead).as_slice() {
        // The lead's own object erases it and announces the erasure; its form's shard 0 deletes the
        // winner announcements it may hold.
        [own, first] => Route::Split(vec![
            (own.clone(), Command::Erase(c.clone()), vec![]),
            (first.clone(), Command::Erase(cmd::Erase { lead: c.lead.clone(), announcements: vec![], now: c.now }), vec![]),
        ]),
        _ => Route::One(Home::of_lead(&c.lead)),
    },
    Download(c, map) => Route::One(Home::of_lead(&c.lead)),
    Downloads(c, map) => Route::One(Home::of_lead(&c.lead)),
    Unqueue(c, map) => Route::One(Home::of_lead(&c.lead)),
    Send(c, map) => Route::One(Home::of_lead(&c.lead)),
    // Recorded where the delivery is: a record changes only a row that is there. (The alarm records
    // inside its own object; this route is for a backend that runs every object's alarm at once.)
    Record(c, map) => Route::Each(Home::of_deliveries(&c.delivery.lead_id)),
    Draw(c, map) => Route::One(map.first(&c.form)),
    Draws(c, map) => Route::One(map.first(&c.form)),
    CountBot(c, map) => Route::One(map.first(&c.form)),
    Turn(c, map) => Route::One(c.name.strip_prefix("assign:").map_or(Home::Registry, |form| map.first(form))),
    Places(c, map) => Route::One(Home::Registry),
    Count(c, map) => Route::One(Home::Views { tag: tag(&c.batch.form) }),
    Events(c, map) => Route::One(Home::Views { tag: tag(&c.form) }),
    Enable(c, map) => Route::Each(map.homes_of(&c.form)),
    List(c, map) => Route::Each(c.form.as_deref().map_or_else(|| map.all(), |f| map.homes_of(f))),
    Funnel(c, map) => Route::Each(c.form.as_deref().map_or_else(|| map.all(), |f| map.homes_of(f))),
    Deliveries(c, map) => match (&c.filter.lead, &c.filter.form) {
        (Some(lead), _) => Route::Each(Home::of_deliveries(lead)),
        (None, Some(form)) => Route::Each(map.homes_of(form)),
        (None, None) => Route::Each(map.all()),
    },
    Find(c, map) => {
        let mut homes: Vec<Home> = Vec::new();
        for form in map.forms.keys() {
            let home = map.home(form, &c.email);
            if !homes.contains(&home) {
                homes.push(home);
            }
        }
        if !homes.contains(&Home::Registry) {
            homes.insert(0, Home::Registry);
        }
        Route::Each(homes)
    },
    Due(c, map) => Route::Each(map.all()),
    Replay(c, map) => Route::Each(map.all()),
    Bots(c, map) => Route::Each(map.all()),
    Daily(c, map) => Route::Each(map.all()),
    // The cron's rounds: each minute the registry and a tenth of the forms' objects (see `in_turn`).
    Wake(c, map) => Route::Each(in_turn(map.all(), c.now)),
    Unfolded(c, map) => Route::Each(in_turn(map.all(), c.now)),
    // Only the registry can hold leads from before the aggregates: every shard is made with them.
    Tally(c, map) => Route::One(Home::Registry),
    Queue(c, map) => split(c.deliveries.iter().map(|d| Home::of_lead(&d.lead_id)).collect(), |picked| {
        Command::Queue(cmd::Queue { deliveries: pick(&c.deliveries, picked) })
    }),
    DownloadTotals(c, map) => split(c.leads.iter().map(|l| Home::of_lead(l)).collect(), |picked| {
        Command::DownloadTotals(cmd::DownloadTotals { leads: pick(&c.leads, picked) })
    }),
    ClaimMany(c, map) => split(c.rows.iter().map(|r| map.home(&c.form, &r.email)).collect(), |picked| {
        Command::ClaimMany(cmd::ClaimMany { form: c.form.clone(), rows: pick(&c.rows, picked), now: c.now })
    }),
    SettleMany(c, map) => {
        // The settled rows first, then the released ones, in one list of positions.
        let homes: Vec<Home> =
            c.settled.iter().map(|r| map.home(&c.form, &r.hold.email)).chain(c.released.iter().map(|h| map.home(&c.form, &h.email))).collect();
        let settled = c.settled.len();
        split(homes, |picked| {
            let rows: Vec<usize> = picked.iter().copied().filter(|i| *i < settled).collect();
            let released: Vec<usize> = picked.iter().filter(|i| **i >= settled).map(|i| i - settled).collect();
            Command::SettleMany(cmd::SettleMany { form: c.form.clone(), settled: pick(&c.settled, &rows), released: pick(&c.released, &released) })
        })
    },
    ;
    catalog: Catalog, Seed, Edit, Shelf, Version, Versions, Trail
}

impl Routed for cmd::Endpoints {
    fn route(&self, map: &Map) -> Route {
        Route::Each(map.all())
    }
}

/// How many minutes the cron takes to visit every form object once.
pub const ROUNDS: u64 = 10;

/// The objects the every-minute cron visits at `now`: the registry, and each form object every
/// [`ROUNDS`] minutes. Each object's own alarm delivers on time; the cron is only its watchdog (and folds
/// downloads nobody fetched since), so a visit every ten minutes is enough, and it keeps the cron's cost at
/// one request a minute per ten objects rather than one per object (the free plan allows 100,000 Durable
/// Object requests a day).
pub fn in_turn(homes: Vec<Home>, now: u64) -> Vec<Home> {
    let minute = now / 60_000;
    homes.into_iter().enumerate().filter(|(i, h)| *h == Home::Registry || (*i as u64) % ROUNDS == minute % ROUNDS).map(|(_, h)| h).collect()
}

/// The items of `items` at `positions`.
fn pick<T: Clone>(items: &[T], positions: &[usize]) -> Vec<T> {
    positions.iter().filter_map(|i| items.get(*i).cloned()).collect()
}

/// A split of a command whose items live at `homes` (one per item, in order): one part per object.
fn split(homes: Vec<Home>, part: impl Fn(&[usize]) -> Command) -> Route {
    let mut by_home: Vec<(Home, Vec<usize>)> = Vec::new();
    for (i, home) in homes.into_iter().enumerate() {
        match by_home.iter_mut().find(|(h, _)| *h == home) {
            Some((_, positions)) => positions.push(i),
            None => by_home.push((home, vec![i])),
        }
    }
    if by_home.len() <= 1 {
        let home = by_home.into_iter().next().map_or(Home::Registry, |(h, _)| h);
        return Route::One(home);
    }
    Route::Split(by_home.into_iter().map(|(home, positions)| (home.clone(), part(&positions), positions)).collect())
}

/// Joins the answers of [`Route::Each`] (one per object, in its order) into the answer the command names.
pub fn join(command: &Command, answers: Vec<Value>) -> Result<Value, Error> {
    use Command as C;
    fn all<T: serde::de::DeserializeOwned>(answers: Vec<Value>) -> Result<Vec<T>, Error> {
        answers.into_iter().map(|a| serde_json::from_value(a).map_err(Error::from)).collect()
    }
    let value = match command {
        C::List(c) => {
            let pages: Vec<Page> = all(answers)?;
            let more = pages.iter().any(|p| p.cursor.is_some());
            let mut ids: Vec<String> = pages.into_iter().flat_map(|p| p.ids).collect();
            ids.sort_by(|a, b| b.cmp(a));
            let limit = c.limit.clamp(1, ledger::MAX_LIST) as usize;
            let cut = ids.len() > limit;
            ids.truncate(limit);
            let cursor = if more || cut { ids.last().cloned() } else { None };
            serde_json::to_value(Page { ids, cursor })?
        }
        C::Deliveries(c) => {
            let pages: Vec<DeliveryPage> = all(answers)?;
            let more = pages.iter().any(|p| p.cursor.is_some());
            let mut rows: Vec<ledger::DeliveryRow> = pages.into_iter().flat_map(|p| p.deliveries).collect();
            rows.sort_by(|a, b| b.id.cmp(&a.id));
            let limit = c.limit.clamp(1, ledger::MAX_DELIVERIES) as usize;
            let cut = rows.len() > limit;
            rows.truncate(limit);
            let cursor = if more || cut { rows.last().map(|r| r.id.clone()) } else { None };
            serde_json::to_value(DeliveryPage { deliveries: rows, cursor })?
        }
        C::Funnel(_) => join_tallies(answers)?,
        C::Daily(_) => {
            let mut sums: BTreeMap<(u64, Option<String>), u64> = BTreeMap::new();
            for row in all::<Vec<Daily>>(answers)?.into_iter().flatten() {
                *sums.entry((row.day, row.key)).or_insert(0) += row.count;
            }
            serde_json::to_value(sums.into_iter().map(|((day, key), count)| Daily { key, day, count }).collect::<Vec<_>>())?
        }
        C::Wake(_) => {
            let backlogs: Vec<ledger::Backlog> = all(answers)?;
            let pending = backlogs.iter().map(|b| b.pending).sum();
            serde_json::to_value(ledger::Backlog {
                pending,
                next_at_ms: backlogs.iter().filter_map(|b| b.next_at_ms).min(),
                tallied: backlogs.iter().all(|b| b.tallied),
            })?
        }
        C::Tally(_) => {
            let tallied: Vec<ledger::Tallied> = all(answers)?;
            serde_json::to_value(ledger::Tallied { added: tallied.iter().map(|t| t.added).sum(), done: tallied.iter().all(|t| t.done) })?
        }
        C::Replay(_) => serde_json::to_value(Found { found: all::<Found>(answers)?.iter().any(|f| f.found) })?,
        C::Endpoints => serde_json::to_value(all::<Vec<Disabled>>(answers)?.concat())?,
        C::Bots(_) => serde_json::to_value(all::<Vec<BotCount>>(answers)?.concat())?,
        C::Unfolded(_) => serde_json::to_value(all::<Vec<String>>(answers)?.concat())?,
        C::Due(_) => serde_json::to_value(all::<Vec<Delivery>>(answers)?.concat())?,
        C::Find(_) => {
            let mut rows: Vec<Holding> = all::<Vec<Holding>>(answers)?.concat();
            rows.sort_by(|a, b| a.form.cmp(&b.form).then_with(|| a.lead.cmp(&b.lead)));
            rows.dedup();
            serde_json::to_value(rows)?
        }
        // Commands that only act answer alike everywhere.
        _ => answers.into_iter().next().unwrap_or_else(|| serde_json::json!({"ok": true})),
    };
    Ok(value)
}

/// The funnel's sums of several objects, added up. Only the operator asks funnel questions, so the
/// collector's wasm does not carry this (`cargo xtask test` checks what each Worker links).
#[cfg(any(feature = "operator", not(target_arch = "wasm32")))]
fn join_tallies(answers: Vec<Value>) -> Result<Value, Error> {
    let mut sum = Tallies::default();
    for answer in answers {
        sum.merge(serde_json::from_value(answer)?);
    }
    Ok(serde_json::to_value(sum)?)
}

/// See above: the collector never asks a funnel question.
#[cfg(not(any(feature = "operator", not(target_arch = "wasm32"))))]
fn join_tallies(_: Vec<Value>) -> Result<Value, Error> {
    Err(Error::Internal("only the operator asks funnel questions".into()))
}

/// Joins the answers of [`Route::Split`] (each part's answer with its rows' positions) into the answer the
/// whole command names: per-row answers back in the command's order, lists concatenated.
pub fn join_parts(command: &Command, parts: Vec<(Vec<usize>, Value)>) -> Result<Value, Error> {
    match command {
        Command::ClaimMany(c) => {
            let mut out: Vec<Option<Holder>> = vec![None; c.rows.len()];
            for (positions, answer) in parts {
                let holders: Vec<Holder> = serde_json::from_value(answer)?;
                for (i, holder) in positions.into_iter().zip(holders) {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(holder);
                    }
                }
            }
            let holders: Option<Vec<Holder>> = out.into_iter().collect();
            Ok(serde_json::to_value(holders.ok_or_else(|| Error::Internal("a shard answered fewer claims than it was asked".into()))?)?)
        }
        Command::Erase(_) => {
            let mut deleted = 0;
            for (_, answer) in parts {
                deleted += serde_json::from_value::<ledger::Erasure>(answer)?.deliveries_deleted;
            }
            Ok(serde_json::to_value(ledger::Erasure { deliveries_deleted: deleted })?)
        }
        Command::DownloadTotals(_) => {
            let mut totals: Vec<(String, u64)> = Vec::new();
            for (_, answer) in parts {
                totals.extend(serde_json::from_value::<Vec<(String, u64)>>(answer)?);
            }
            Ok(serde_json::to_value(totals)?)
        }
        _ => Ok(serde_json::json!({"ok": true})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sharded(shards: u32) -> Map {
        Map { forms: [("camp".to_owned(), Place::Shards { shards }), ("old".to_owned(), Place::Registry)].into_iter().collect() }
    }

    #[test]
    fn lead_ids_carry_their_home_and_old_ids_live_in_the_registry() {
        for n in [0, 5, 31, 32, 63] {
            let home = Home::Shard { tag: tag("camp"), n };
            let id = crate::rules::id::new("ld_", 1_790_000_000_000, [7; 10]) + &home.suffix();
            assert_eq!(Home::of_lead(&id), home, "{id}");
            assert!(crate::rules::id::is_valid("ld_", &id), "{id}");
        }
        assert_eq!(Home::of_lead("ld_01JABCDEFGHJKMNPQRSTVWXYZ01"), Home::Registry);
        assert_eq!(Home::of_lead("ld_1"), Home::Registry);
        assert_eq!(Home::of_lead("x_ld_ABCDE0"), Home::Shard { tag: "ABCDE".into(), n: 0 });
        assert_eq!(tag("camp").len(), TAG_LEN);
        assert_ne!(tag("camp"), tag("news"));
        assert_eq!(Home::Registry.name(), "ledger");
    }

    #[test]
    fn a_kept_tag_is_the_one_computed_and_the_list_stays_bounded() {
        // SHA-256("camp") starts with cc ef cd 91; its leading 25 bits in Crockford's base32 (computed with
        // Python's hashlib): a routing key must never change between releases, kept or not.
        let first = tag("camp");
        assert_eq!(first, "SKQWV");
        let forms: Vec<String> = (0..TAGS_KEPT * 2 + 3).map(|i| format!("form-{i}")).collect();
        let once: Vec<String> = forms.iter().map(|f| tag(f)).collect();
        let again: Vec<String> = forms.iter().map(|f| tag(f)).collect();
        assert_eq!(once, again, "the same tags whether computed or kept, across the list starting over");
        assert_eq!(tag("camp"), first);
        assert_eq!(once.iter().collect::<std::collections::BTreeSet<_>>().len(), forms.len(), "no two of these forms share a tag");
    }

    #[test]
    fn addresses_spread_over_the_shards_and_always_land_in_the_same_one() {
        let map = sharded(4);
        let hashes: Vec<String> = (0..400u32).map(|i| format!("{:08x}{}", i.wrapping_mul(2_654_435_761), "ab".repeat(28))).collect();
        let mut counts = [0; 4];
        for h in &hashes {
            let Home::Shard { n, .. } = map.home("camp", h) else { panic!("a sharded form") };
            counts[n as usize] += 1;
            assert_eq!(map.home("camp", h), map.home("camp", h));
        }
        assert!(counts.iter().all(|c| *c > 50), "{counts:?}");
        assert_eq!(map.home("old", &hashes[0]), Home::Registry, "a form of the single-object layout stays there");
        assert_eq!(map.first("camp"), Home::Shard { tag: tag("camp"), n: 0 });
        assert_eq!(map.all().len(), 1 + 4);
        // The cron visits the registry every minute and each form object once in ten minutes.
        let mut visits = std::collections::BTreeMap::new();
        for minute in 0..ROUNDS {
            for home in in_turn(map.all(), minute * 60_000 + 7) {
                *visits.entry(home).or_insert(0) += 1;
            }
        }
        assert_eq!(visits.get(&Home::Registry), Some(&ROUNDS));
        assert!(visits.iter().filter(|(h, _)| **h != Home::Registry).all(|(_, n)| *n == 1) && visits.len() == 5, "{visits:?}");
    }

    #[test]
    fn commands_go_where_their_rows_live() {
        let map = sharded(2);
        let (a, b) = ("00000000".to_owned() + &"0".repeat(56), "00000001".to_owned() + &"0".repeat(56));
        let claim = Command::Claim(cmd::Claim { form: "camp".into(), email: b.clone(), lead: "ld_1".into(), key: None, legacy: None, now: 0 });
        assert_eq!(route(&map, &claim), Route::One(Home::Shard { tag: tag("camp"), n: 1 }));
        let draw = Command::Reserve(cmd::Reserve { form: "draw:camp".into(), key: "k".into(), now: 0 });
        assert_eq!(route(&map, &draw), Route::One(Home::Shard { tag: tag("camp"), n: 0 }));
        let rows = vec![
            ledger::ClaimRow { email: a.clone(), lead: "l0".into(), legacy: None },
            ledger::ClaimRow { email: b.clone(), lead: "l1".into(), legacy: None },
            ledger::ClaimRow { email: a.clone(), lead: "l2".into(), legacy: None },
        ];
        let Route::Split(parts) = route(&map, &Command::ClaimMany(cmd::ClaimMany { form: "camp".into(), rows, now: 0 })) else { panic!("split") };
        assert_eq!(parts.iter().map(|(_, _, p)| p.clone()).collect::<Vec<_>>(), [vec![0, 2], vec![1]]);
        // The parts' answers go back to their rows' places.
        let answers = vec![
            (vec![0, 2], serde_json::to_value(vec![Holder::Claimed, Holder::Reserved]).unwrap()),
            (vec![1], serde_json::to_value(vec![Holder::Nobody]).unwrap()),
        ];
        let row = ledger::ClaimRow { email: a, lead: "x".into(), legacy: None };
        let whole = |n: usize| Command::ClaimMany(cmd::ClaimMany { form: "camp".into(), rows: vec![row.clone(); n], now: 0 });
        assert!(join_parts(&whole(4), answers.clone()).is_err(), "fewer answers than rows is an error");
        let joined: Vec<Holder> = serde_json::from_value(join_parts(&whole(3), answers).unwrap()).unwrap();
        assert_eq!(joined, [Holder::Claimed, Holder::Nobody, Holder::Reserved]);
    }

    #[test]
    fn pages_from_several_shards_join_newest_first_with_one_cursor() {
        let list = Command::List(cmd::List { form: None, status: None, since: None, qualified: Default::default(), before: None, limit: 3 });
        let page = |ids: &[&str], more: bool| {
            serde_json::to_value(Page { ids: ids.iter().map(|s| s.to_string()).collect(), cursor: more.then(|| ids[ids.len() - 1].to_string()) }).unwrap()
        };
        let joined: Page = serde_json::from_value(join(&list, vec![page(&["9", "5", "1"], true), page(&["8", "7"], false)]).unwrap()).unwrap();
        assert_eq!((joined.ids, joined.cursor.as_deref()), (vec!["9".to_string(), "8".into(), "7".into()], Some("7")));
        let last: Page = serde_json::from_value(join(&list, vec![page(&["2"], false), page(&["3"], false)]).unwrap()).unwrap();
        assert_eq!((last.ids, last.cursor), (vec!["3".to_string(), "2".into()], None));
    }
}
