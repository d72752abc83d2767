//! The storage seam over the Workers runtime: lead documents in KV, the ledger Durable Object, fetch,
//! the environment's secrets and config, the Workers clock and `crypto.getRandomValues`. What the product
//! runs on; `memory` is the same seam for native tests.

use crate::platform::binding::runtime_text;
use crate::protocol::backend::{ask, Backend};
use crate::protocol::keys::{Key, Prefix};
use crate::protocol::ledger::{self, cmd, Asks, Command, Indexed};
use crate::protocol::shard::{self, Home, Map, Place, Route, Routed};
use crate::rules::crm::{Outbound, Read, Reply};
use crate::services::catalog::File;
use crate::{platform::store, protocol::outbox, Error};
use futures_util::future::{select, Either};
use shared::form::FormsConfig;
use shared::lead::Lead;
use std::sync::OnceLock;
use std::time::Duration;
use worker::{Date, Env, Fetch, Request};

/// KV and the ledger of one collector.
pub struct Cloud<'a, L: Inside = Outside> {
    /// The KV namespace of leads.
    pub kv: store::Kv,
    env: Env,
    ledger: Reach<'a, L>,
}

/// How the seam reaches the ledger: through its stub from the Worker, or directly from inside the object
/// (its alarm runs the delivery service over this seam too).
enum Reach<'a, L> {
    Stub(worker::ObjectNamespace),
    Inside(&'a L),
}

/// The ledger object as the seam reaches it from inside (the object implements it in the Workers glue,
/// which this layer must not name): its commands, run in place.
#[allow(async_fn_in_trait)] // one object type at a time; nothing needs `dyn`
pub trait Inside {
    /// Runs one command in the object. (By reference: the object's own copy is made inside it, so a seam
    /// that never runs inside, the collector's, links no code to copy a command.)
    async fn run_inside(&self, command: &Command) -> worker::Result<String>;
}

/// The seam outside the object, which only ever reaches it through the stub: a type with no values, so
/// the compiler knows a seam outside never runs a command inside.
pub enum Outside {}

impl Inside for Outside {
    async fn run_inside(&self, _: &Command) -> worker::Result<String> {
        match *self {}
    }
}

impl Cloud<'static> {
    /// The collector's storage, from its bindings.
    pub fn of(env: &Env) -> Result<Cloud<'static>, Error> {
        Ok(Cloud { kv: store::Kv::of(env)?, env: env.clone(), ledger: Reach::Stub(namespace(env)?) })
    }
}

impl<'a, L: Inside> Cloud<'a, L> {
    /// The seam as the ledger object itself uses it.
    pub fn inside(env: &Env, ledger: &'a L) -> Result<Cloud<'a, L>, Error> {
        Ok(Cloud { kv: store::Kv::of(env)?, env: env.clone(), ledger: Reach::Inside(ledger) })
    }
}

/// The config file (the `LEADGATE_FORMS` variable), read once per isolate. Its rules are checked by the
/// catalog before anything is served from it (`catalog::refresh`); `cargo xtask` has already rejected a
/// broken file with its line number before the runtime started, and the catalog's check guards deployments
/// made without it. Its forms seed the catalog; [`config`] is what the Worker serves.
pub fn file_config(env: &Env) -> Result<&'static File, Error> {
    static FILE: OnceLock<Result<File, String>> = OnceLock::new();
    let read = FILE.get_or_init(|| File::read(env.var("LEADGATE_FORMS").map_err(|_| "LEADGATE_FORMS is not set".to_string())?.to_string()));
    read.as_ref().map_err(|e| Error::Config(e.clone()))
}

/// How long an isolate serves its copy of the published forms before it asks the catalog whether they
/// changed (one small request when they did not): a publish reaches every page within this time, as the
/// embed script is revalidated on every page view. `LEADGATE_FORMS_TTL_MS` sets it (tests use 1 s).
pub const FORMS_TTL_MS: u64 = 30_000;

/// The isolate's copy of the served config: the file's settings with the published forms, the catalog's
/// revision it is of, and when it was last confirmed current.
struct Served {
    config: std::rc::Rc<FormsConfig>,
    revision: u64,
    checked_at: u64,
}

thread_local! {
    static SERVED: std::cell::RefCell<Option<Served>> = const { std::cell::RefCell::new(None) };
}

/// The config the collector serves at `now`: the file's collector-wide settings and the catalog's
/// published forms, refreshed once per [`FORMS_TTL_MS`] (the catalog is seeded with the file's forms the
/// first time it sees that file). When the catalog cannot be reached, the copy the isolate has is served
/// on; an isolate without one cannot serve.
pub async fn config(env: &Env, now: u64) -> Result<std::rc::Rc<FormsConfig>, Error> {
    let ttl = env.var("LEADGATE_FORMS_TTL_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(FORMS_TTL_MS);
    let (copy, known) = SERVED.with(|s| match &*s.borrow() {
        Some(served) if now.saturating_sub(served.checked_at) < ttl => (Some(served.config.clone()), None),
        Some(served) => (None, Some((served.config.clone(), served.revision))),
        None => (None, None),
    });
    if let Some(config) = copy {
        return Ok(config);
    }
    let file = file_config(env)?;
    let catalog = Cloud::of(env)?;
    match (crate::services::catalog::refresh(&catalog, file, known.as_ref().map(|k| k.1)).await, known) {
        (Ok(Some((revision, fresh))), _) => {
            let config = std::rc::Rc::new(fresh);
            SERVED.with(|s| *s.borrow_mut() = Some(Served { config: config.clone(), revision, checked_at: now }));
            Ok(config)
        }
        (Ok(None), Some((config, revision))) => {
            SERVED.with(|s| *s.borrow_mut() = Some(Served { config: config.clone(), revision, checked_at: now }));
            Ok(config)
        }
        (Ok(None), None) => Err(Error::Internal("the catalog sent no forms to a collector that has none".into())),
        (Err(e), Some((config, _))) => {
            worker::console_error!("catalog: {e}; serving the forms this isolate has");
            Ok(config)
        }
        (Err(e), None) => Err(e),
    }
}

/// The config this isolate served last, if it has one (for what runs after a request's handler, such as
/// its CORS headers).
pub fn served() -> Option<std::rc::Rc<FormsConfig>> {
    SERVED.with(|s| s.borrow().as_ref().map(|served| served.config.clone()))
}

/// A secret (or, in development, a plain variable) from the environment, if set and not empty.
///
/// Both are plain strings on the environment object: one property read, where `Env::secret` and then
/// `Env::var` cost up to eight calls between the wasm and JavaScript for one name (each checks the
/// value's constructor by name), and a submission reads several names.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    let value = worker::js_sys::Reflect::get(env, &worker::wasm_bindgen::JsValue::from_str(name)).ok()?;
    value.as_string().filter(|s| !s.is_empty())
}

impl<L: Inside> Backend for Cloud<'_, L> {
    async fn lead(&self, id: &str) -> Result<Option<Lead>, Error> {
        store::get_lead(&self.kv, id).await
    }

    async fn leads(&self, ids: &[String]) -> Result<Vec<Lead>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(crate::protocol::backend::BULK_READ) {
            let keys: Vec<String> = chunk.iter().map(|id| Key::lead(id).as_str().to_owned()).collect();
            for text in self.kv.texts(&keys).await?.into_iter().flatten() {
                out.push(serde_json::from_str(&text)?);
            }
        }
        Ok(out)
    }

    async fn put_lead(&self, lead: &Lead) -> Result<(), Error> {
        // The document first, then its index row: a document without one is invisible to lists, never
        // the other way round.
        store::put_lead(&self.kv, lead).await?;
        let indexed: Indexed = ask(self, cmd::Index { entry: crate::protocol::ledger::Entry::of(lead), only_if_missing: false }).await?;
        if indexed.erased {
            // Erased while this write was under way: nothing may bring its data back.
            store::delete_lead(&self.kv, &lead.id).await?;
            return Err(Error::NotFound);
        }
        Ok(())
    }

    async fn put_documents(&self, leads: &[Lead]) -> Vec<Result<(), Error>> {
        futures_util::future::join_all(leads.iter().map(|lead| store::put_lead(&self.kv, lead))).await
    }

    async fn delete_lead(&self, id: &str) -> Result<(), Error> {
        // The index row first: a lead being deleted disappears from lists before its document goes.
        self.send(cmd::Unindex { lead: id.to_owned() }).await?;
        store::delete_lead(&self.kv, id).await
    }

    async fn delete_document(&self, id: &str) -> Result<(), Error> {
        store::delete_lead(&self.kv, id).await
    }

    async fn legacy_email(&self, form: &str, email_hash: &str) -> Result<Option<String>, Error> {
        if !self.legacy_emails_left().await? {
            return Ok(None);
        }
        self.kv.text(Key::legacy_email(form, email_hash).as_str()).await
    }

    async fn legacy_emails(&self, form: &str, email_hashes: &[String]) -> Result<Vec<Option<String>>, Error> {
        if !self.legacy_emails_left().await? {
            return Ok(vec![None; email_hashes.len()]);
        }
        let mut out = Vec::with_capacity(email_hashes.len());
        for chunk in email_hashes.chunks(crate::protocol::backend::BULK_READ) {
            let keys: Vec<String> = chunk.iter().map(|h| Key::legacy_email(form, h).as_str().to_owned()).collect();
            out.extend(self.kv.texts(&keys).await?);
        }
        Ok(out)
    }

    async fn delete_legacy_email(&self, form: &str, email_hash: &str) -> Result<(), Error> {
        if !self.legacy_emails_left().await? {
            return Ok(());
        }
        self.kv.delete(Key::legacy_email(form, email_hash).as_str()).await
    }

    async fn legacy_draws(&self, form: &str) -> Result<Vec<String>, Error> {
        // Draws are few (an admin's clicks): one list and a read per draw.
        let mut out = Vec::new();
        let page = store::list(&self.env, Prefix::LegacyDraws(form), 1000, None).await?;
        for name in &page.names {
            if let Some(text) = self.kv.text(name).await? {
                out.push(text);
            }
        }
        Ok(out)
    }

    async fn count_bot(&self, form: &str, day: &str) {
        if let Err(e) = self.send(cmd::CountBot { form: form.to_owned(), day: day.to_owned() }).await {
            worker::console_error!("bot not counted: {}", e.log_line().unwrap_or_default());
        }
        worker::console_log!("spam dropped form={form}");
    }

    async fn home(&self, form: &str, email_hash: &str) -> Result<Home, Error> {
        if single_object(&self.env) {
            return Ok(Home::Registry);
        }
        Ok(self.map().await?.home(form, email_hash))
    }

    async fn ledger(&self, command: &Command) -> Result<String, Error> {
        self.dispatch(Box::new(Untyped(command))).await
    }

    // Not `async`: nothing waits here, so there is no state machine per command type; the waiting part is
    // one function for every type (`dispatch`), which calls back into the type for what it needs.
    fn send<C: Asks + Routed>(&self, command: C) -> impl std::future::Future<Output = Result<String, Error>> {
        self.dispatch(Box::new(command))
    }

    async fn call(&self, out: &Outbound, timeout_ms: u64, read: Read) -> Result<Reply, String> {
        use worker::wasm_bindgen::JsValue;
        use worker::web_sys;
        let failed = |e: JsValue| worker::Error::from(e).to_string();
        // The runtime's own request, as the ledger's stub builds it: `worker`'s `RequestInit` conversion
        // would add the glue of its every option to the bundle for the four this sets.
        let headers = web_sys::Headers::new().map_err(failed)?;
        headers.set("User-Agent", "Leadgate-Webhooks/1").map_err(failed)?;
        for (k, v) in &out.headers {
            headers.set(k, v).map_err(failed)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method(if out.method == "GET" { "GET" } else { "POST" });
        init.set_headers(&headers);
        if let Some(body) = &out.body {
            init.set_body(&JsValue::from_str(body));
        }
        // A 3xx is the endpoint's problem to fix and counts as a failed attempt; it is never followed.
        init.set_redirect(web_sys::RequestRedirect::Manual);
        let request = Request::from(web_sys::Request::new_with_str_and_init(&out.url, &init).map_err(failed)?);
        let controller = worker::AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let work = Box::pin(async {
            let resp = fetch.send_with_signal(&signal).await?;
            let retry_after = resp.headers().get("Retry-After").ok().flatten().and_then(|v| outbox::retry_after(&v, Date::now().as_millis()));
            let status = resp.status_code();
            // A body that cannot be read is simply empty.
            let body = if read == Read::Body { answer_text(resp).await.unwrap_or_default() } else { String::new() };
            Ok::<_, worker::Error>(Reply { status, retry_after, body })
        });
        let timeout = Box::pin(worker::Delay::from(Duration::from_millis(timeout_ms)));
        let outcome = select(work, timeout).await;
        match outcome {
            Either::Left((Ok(reply), _)) => Ok(reply),
            Either::Left((Err(e), _)) => Err(format!("network error: {e}")),
            Either::Right(_) => {
                controller.abort();
                Err(format!("timeout after {timeout_ms} ms"))
            }
        }
    }

    async fn send_email(&self, mail: &crate::rules::mail::Mail) -> Result<(), crate::rules::mail::Refusal> {
        use worker::email::{EmailAddress, SendEmailBuilder};
        let refusal = |code: Option<String>, message: String| crate::rules::mail::Refusal { code, message };
        let binding = self.env.send_email(crate::rules::mail::BINDING).map_err(|e| refusal(None, format!("no send_email binding: {e}")))?;
        // The sender as the binding's address object when it has a display name, so the name is not parsed
        // out of a string a second time on the other side.
        let builder = match shared::email::sender(&mail.from) {
            Some((Some(name), address)) => SendEmailBuilder::builder_with_email_address_and_str(&EmailAddress::new(name, address), &mail.to, &mail.subject),
            _ => SendEmailBuilder::builder(&mail.from, &mail.to, &mail.subject),
        };
        let message = builder.text(&mail.text).html(&mail.html).build();
        match binding.send_with_builder(&message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = worker::js_sys::Reflect::get(&e, &"code".into()).ok().and_then(|c| c.as_string());
                Err(refusal(code, String::from(e.message())))
            }
        }
    }

    fn secret(&self, name: &str) -> Option<String> {
        secret(&self.env, name)
    }

    fn now_ms(&self) -> u64 {
        Date::now().as_millis()
    }

    async fn sleep(&self, ms: u64) {
        worker::Delay::from(Duration::from_millis(ms)).await;
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // crypto.getRandomValues is always there in workerd; if it ever failed, a logged fault beats a panic
        // that would take every request in flight on this isolate with it.
        if let Err(e) = random_bytes(buf) {
            worker::console_error!("randomness unavailable: {e}");
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The runtime's `crypto.getRandomValues`.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<(), worker::wasm_bindgen::JsValue>;
}

/// Fills `buf` with random bytes from the runtime's `crypto.getRandomValues` (a CSPRNG).
///
/// Called directly rather than through the `getrandom` crate, whose JavaScript backend looks for Node's
/// `crypto` module, `msCrypto` and the global object first: a dozen imports and their glue in each
/// bundle for a runtime that is always workerd.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    // It fills at most 65,536 bytes per call.
    for chunk in buf.chunks_mut(65_536) {
        get_random_values(chunk).map_err(|e| worker::Error::from(e).to_string())?;
    }
    Ok(())
}

/// Reads a whole answer (of the ledger, or of a fetch) as text with the runtime's own `text()`.
/// `worker::Response::text` reads a streamed body chunk by chunk across the wasm boundary, which took
/// about 6% of a submission's CPU time in a profile on local workerd.
pub(crate) async fn answer_text(resp: worker::Response) -> Result<String, worker::Error> {
    Ok(runtime_text(&worker::web_sys::Response::from(resp)).await?)
}

/// Asks several ledger objects ([`Route::Each`], [`Route::Split`]) side by side and joins their answers.
#[cfg(any(feature = "operator", not(target_arch = "wasm32")))]
async fn ask_several(namespace: &worker::ObjectNamespace, route: Route, command: &Command) -> Result<String, Error> {
    // Each object's answer as a JSON tree, which the joins take apart: the operator's questions over
    // several objects are few, and the collector never asks them.
    let tree = |text: String| serde_json::from_str::<serde_json::Value>(&text).map_err(Error::from);
    let joined = match route {
        Route::One(home) => return LedgerStub::at(namespace, &home)?.call(command).await,
        Route::Each(homes) => {
            let asks = homes.iter().map(|home| async move { tree(LedgerStub::at(namespace, home)?.call(command).await?) });
            let answers: Result<Vec<serde_json::Value>, Error> = futures_util::future::join_all(asks).await.into_iter().collect();
            shard::join(command, answers?)?
        }
        Route::Split(parts) => {
            let asks = parts
                .iter()
                .map(|(home, part, positions)| async move { Ok::<_, Error>((positions.clone(), tree(LedgerStub::at(namespace, home)?.call(part).await?)?)) });
            let answers: Result<Vec<(Vec<usize>, serde_json::Value)>, Error> = futures_util::future::join_all(asks).await.into_iter().collect();
            shard::join_parts(command, answers?)?
        }
    };
    Ok(joined.to_string())
}

/// The collector asks only what one object answers (an address's, a lead's, a form's first object): the
/// questions over several objects are the operator's (lists, funnels, imports, erasures, the cron), so the
/// collector's bundle, which a visitor's first request may wait for, carries none of their joining.
#[cfg(not(any(feature = "operator", not(target_arch = "wasm32"))))]
async fn ask_several(_: &worker::ObjectNamespace, _: Route, _: &Command) -> Result<String, Error> {
    Err(Error::Internal("only the operator asks several ledger objects".into()))
}

/// [`ask_several`] for a command of either kind.
#[cfg(any(feature = "operator", not(target_arch = "wasm32")))]
async fn send_several(namespace: &worker::ObjectNamespace, route: Route, command: Box<dyn Typed<'_> + '_>) -> Result<String, Error> {
    ask_several(namespace, route, &command.command()).await
}

/// As [`ask_several`] in the collector, without making the command a [`Command`] (whose every variant's
/// code would come with it).
#[cfg(not(any(feature = "operator", not(target_arch = "wasm32"))))]
async fn send_several(_: &worker::ObjectNamespace, _: Route, _: Box<dyn Typed<'_> + '_>) -> Result<String, Error> {
    Err(Error::Internal("only the operator asks several ledger objects".into()))
}

/// The binding of the ledger's namespace in the wrangler config.
pub const LEDGER_BINDING: &str = "LEDGER";

/// The ledger's namespace, from the bindings.
fn namespace(env: &Env) -> Result<worker::ObjectNamespace, Error> {
    env.durable_object(LEDGER_BINDING).map_err(|e| Error::Config(format!("the Durable Object binding {LEDGER_BINDING} is unusable: {e}")))
}

/// Whether this Worker runs as the single-object layout's Worker did: every command to the one object, as
/// a Worker still running that release's code does during an upgrade. Set by `LEADGATE_SINGLE_OBJECT=1`, for
/// the end-to-end test of the upgrade (`tests/shards.test.mjs`); never in a deployment.
fn single_object(env: &Env) -> bool {
    secret(env, "LEADGATE_SINGLE_OBJECT").as_deref() == Some("1")
}

thread_local! {
    /// Whether the KV-only layout left email index entries, once this isolate has looked (see
    /// [`Cloud::legacy_emails_left`]).
    static LEGACY_EMAILS: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

impl<L: Inside> Cloud<'_, L> {
    /// Whether any email index entry of the KV-only layout is left in KV. Nothing writes one any more, so
    /// on a collector that never had that layout (or whose entries are all gone) a submission need not
    /// read KV for its address: one isolate lists the prefix once and records what it found
    /// ([`Key::legacy_emails`]); every isolate reads that record once. Where entries are left, they are
    /// read as before (the record is not looked at again: entries only go with erasures).
    async fn legacy_emails_left(&self) -> Result<bool, Error> {
        if let Some(left) = LEGACY_EMAILS.get() {
            return Ok(left);
        }
        let left = match self.kv.text(Key::legacy_emails().as_str()).await? {
            Some(record) => record != "gone",
            None => {
                let left = !store::list(&self.env, Prefix::LegacyEmails, 1, None).await?.names.is_empty();
                // The record only saves the next isolates a list: a failed write of it must not fail the
                // submission that happened to look first (the next isolate lists again).
                if let Err(e) = store::put_text(&self.kv, &Key::legacy_emails(), if left { "left" } else { "gone" }).await {
                    worker::console_error!("legacy email record not written: {}", e.log_line().unwrap_or_default());
                }
                left
            }
        };
        LEGACY_EMAILS.set(Some(left));
        Ok(left)
    }
}

thread_local! {
    /// Where the collector's forms live (see `shard`), asked of the registry once per isolate and again for
    /// a form published since: its answer for a form never changes, so it is kept as long as the isolate.
    static MAP: std::cell::RefCell<Option<std::rc::Rc<Map>>> = const { std::cell::RefCell::new(None) };
}

/// A ledger command behind `dyn`, as [`Cloud::dispatch`] needs it: one of a known type
/// ([`Backend::send`], whose routing and writing are that type's own) or any [`Command`]
/// ([`Backend::ledger`], [`Untyped`]).
trait Typed<'a> {
    /// Whether it is the catalog's (see [`Routed::CATALOG`]).
    fn catalog(&self) -> bool;
    /// Where it goes (see [`Routed`]).
    fn route(&self, map: &Map) -> Route;
    /// It as it travels to an object's stub (see `ledger::wire`).
    fn wire(&self) -> Result<String, Error>;
    /// It as a [`Command`], to run inside the object or to ask several objects (the operator's).
    fn command(self: Box<Self>) -> std::borrow::Cow<'a, Command>;
}

impl<C: Asks + Routed> Typed<'_> for C {
    fn catalog(&self) -> bool {
        C::CATALOG
    }

    fn route(&self, map: &Map) -> Route {
        Routed::route(self, map)
    }

    fn wire(&self) -> Result<String, Error> {
        Ok(ledger::wire(self)?)
    }

    fn command(self: Box<Self>) -> std::borrow::Cow<'static, Command> {
        std::borrow::Cow::Owned((*self).into())
    }
}

/// Any [`Command`], routed and written by the enum's code.
struct Untyped<'a>(&'a Command);

impl<'a> Typed<'a> for Untyped<'a> {
    fn catalog(&self) -> bool {
        self.0.is_catalog()
    }

    fn route(&self, map: &Map) -> Route {
        shard::route(map, self.0)
    }

    fn wire(&self) -> Result<String, Error> {
        Ok(serde_json::to_string(self.0)?)
    }

    fn command(self: Box<Self>) -> std::borrow::Cow<'a, Command> {
        std::borrow::Cow::Borrowed(self.0)
    }
}

impl<L: Inside> Cloud<'_, L> {
    /// Where a command goes and its answer: the catalog's commands to its object (whose config the map of
    /// forms depends on, so it is asked directly); others run inside the object when this seam is inside
    /// it (only the operator hosts the object, so only its build makes such a seam: the collector's are all
    /// `Outside`, and it never links the object's commands); then to the registry in the single-object
    /// layout, else where the map puts them. A command is written only when it goes to a stub.
    async fn dispatch<'c>(&self, command: Box<dyn Typed<'c> + 'c>) -> Result<String, Error> {
        let catalog = command.catalog();
        let inside;
        let namespace = match &self.ledger {
            Reach::Stub(namespace) => namespace,
            Reach::Inside(_) if catalog => {
                inside = namespace(&self.env)?;
                &inside
            }
            Reach::Inside(ledger) => return Ok(ledger.run_inside(&command.command()).await?),
        };
        let home = if catalog {
            Home::Catalog
        } else if single_object(&self.env) {
            Home::Registry
        } else {
            match command.route(&*self.map().await?) {
                Route::One(home) => home,
                several => return send_several(namespace, several, command).await,
            }
        };
        LedgerStub::at(namespace, &home)?.call_text(command.wire()?).await
    }

    /// Where the forms live: asked of the registry the first time, then kept, and asked again when the
    /// served config has a form the map does not (one published since).
    async fn map(&self) -> Result<std::rc::Rc<Map>, Error> {
        // The served config, else the file's as it is (not copied).
        let served = served();
        let config = match &served {
            Some(config) => config,
            None => &file_config(&self.env)?.config,
        };
        if let Some(map) = MAP.with(|m| m.borrow().clone()).filter(|map| config.forms.iter().all(|f| map.forms.contains_key(&f.id))) {
            return Ok(map);
        }
        let forms: Vec<(String, u32)> = config.forms.iter().map(|f| (f.id.clone(), f.shards)).collect();
        // Leads of the KV-only layout not yet in the registry's index (its backfill runs in the cron) keep
        // their forms in the registry: one KV read per isolate, and a list only until the backfill is done.
        let state: Option<serde_json::Value> = store::get_json(&self.kv, Key::index_backfill().as_str()).await?;
        let backfilled = state.and_then(|s| s.get("done").and_then(serde_json::Value::as_bool)) == Some(true);
        let legacy = !backfilled && !store::list(&self.env, Prefix::Leads, 1, None).await?.names.is_empty();
        let command = ledger::wire(&cmd::Places { forms, legacy })?;
        let answer = match &self.ledger {
            Reach::Stub(namespace) => LedgerStub::at(namespace, &Home::Registry)?.call_text(command).await?,
            Reach::Inside(_) => LedgerStub::at(&namespace(&self.env)?, &Home::Registry)?.call_text(command).await?,
        };
        let places: Vec<(String, Place)> = serde_json::from_str(&answer)?;
        for (form, place) in &places {
            let asked = config.form(form).map_or(1, |f| f.shards);
            if let Place::Shards { shards } = place {
                if *shards != asked {
                    // Moving addresses between shards would break one lead per address: the count a form
                    // was first used with stays.
                    worker::console_error!("form {form}: the config asks for {asked} shards, but it was first used with {shards}, which stay");
                }
            }
        }
        // Shared, not copied: every ledger command of the isolate reads it.
        let map = std::rc::Rc::new(Map { forms: shared::order::map(places) });
        MAP.with(|m| *m.borrow_mut() = Some(map.clone()));
        Ok(map)
    }
}

/// The Worker's handle on one ledger object.
///
/// It speaks to the object through the runtime's own types (`web_sys::Request` and `Response`) rather than
/// `worker::Stub`: the `worker` crate's request and response wrappers read the method, URL, headers and
/// `cf` of every request they wrap and the headers, status and `webSocket` of every response, a dozen calls
/// between the wasm and JavaScript per command that nothing here uses (`cargo xtask bench crossings`).
pub struct LedgerStub {
    stub: worker::worker_sys::DurableObject,
}

impl LedgerStub {
    /// The object `home` (see `shard`).
    pub fn at(namespace: &worker::ObjectNamespace, home: &Home) -> std::result::Result<LedgerStub, crate::Error> {
        use worker::wasm_bindgen::JsCast;
        let missing = |e: worker::wasm_bindgen::JsValue| crate::Error::Config(format!("the Durable Object binding {LEDGER_BINDING} is unusable: {e:?}"));
        let namespace: &worker::worker_sys::DurableObjectNamespace = namespace.as_ref().unchecked_ref();
        let stub = namespace.id_from_name(&home.name()).and_then(|id| namespace.get(&id)).map_err(missing)?;
        Ok(LedgerStub { stub })
    }

    /// Sends one command and returns its answer's JSON text.
    pub async fn call(&self, command: &Command) -> std::result::Result<String, crate::Error> {
        self.call_text(serde_json::to_string(command)?).await
    }

    /// Sends one command, already written as it travels (see `ledger::wire`), and returns its answer's JSON
    /// text.
    pub async fn call_text(&self, command: String) -> std::result::Result<String, crate::Error> {
        use worker::wasm_bindgen::{JsCast, JsValue};
        use worker::wasm_bindgen_futures::JsFuture;
        let failed = |e: JsValue| crate::Error::Internal(format!("ledger: {}", worker::Error::from(e)));
        let init = worker::web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&command));
        let request = worker::web_sys::Request::new_with_str_and_init("https://ledger.internal/", &init).map_err(failed)?;
        let response: worker::web_sys::Response =
            JsFuture::from(self.stub.fetch_with_request(&request).map_err(failed)?).await.map_err(failed)?.unchecked_into();
        let status = response.status();
        let text = runtime_text(&response).await.map_err(failed)?;
        if status != 200 {
            return Err(crate::Error::Internal(format!("ledger answered {status}: {text}")));
        }
        Ok(text)
    }
}

/// A failure of the Workers runtime (KV, fetch, the ledger's stub, building a response).
impl From<worker::Error> for Error {
    fn from(e: worker::Error) -> Error {
        Error::Internal(format!("runtime: {e}"))
    }
}
