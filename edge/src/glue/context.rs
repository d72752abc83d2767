//! One request's context, made once by the entry point and handed to every route: the environment (for
//! its bindings and secrets), the config it is served with, the time the request arrived, the storage seam, and the
//! request's pseudonymous client. Routes read and write storage only through the seam it holds; the seam
//! and the client id are made when a route first asks, so routes that need neither (the health check, the
//! embed script) pay nothing for them.

use crate::platform::cloud::{self, Cloud};
use crate::Error;
use shared::form::{FormDef, FormsConfig};
use std::cell::OnceCell;
use std::rc::Rc;
use worker::{Context, Date, Env, Request};

/// The service binding through which the collector reaches the operator (its routes, the cron's tick and
/// the hand-over of a repeat).
#[cfg(not(feature = "operator"))]
pub(crate) const OPERATOR: &str = "OPERATOR";

/// See the module's documentation.
pub(crate) struct Cx<'e> {
    /// The Worker's environment: bindings and secrets.
    pub env: &'e Env,
    /// When the request arrived (Unix ms): the one clock reading a route makes.
    pub now: u64,
    /// The request's execution context, for work that outlives the response (`waitUntil`); none in the cron.
    pub ctx: Option<&'e Context>,
    /// Who an admin route's token names (`admin`, or a name of `ADMIN_TOKENS`): what the audit trail records.
    pub admin: Option<String>,
    cloud: OnceCell<Cloud<'static>>,
    client: OnceCell<Option<String>>,
    config: OnceCell<Rc<FormsConfig>>,
}

impl<'e> Cx<'e> {
    /// The context of a request that arrives now.
    pub fn new(env: &'e Env) -> Cx<'e> {
        Cx { env, now: Date::now().as_millis(), ctx: None, admin: None, cloud: OnceCell::new(), client: OnceCell::new(), config: OnceCell::new() }
    }

    /// The context of a request that arrives now, with its execution context.
    pub fn with(env: &'e Env, ctx: &'e Context) -> Cx<'e> {
        Cx { ctx: Some(ctx), ..Cx::new(env) }
    }

    /// Loads the config the request is served with (`cloud::config`: the file's settings and the published
    /// forms, refreshed once per refresh window); the entry point does it once, before the handler runs.
    pub async fn load(&self) -> Result<(), Error> {
        if self.config.get().is_none() {
            let config = cloud::config(self.env, self.now).await?;
            let _ = self.config.set(config);
        }
        Ok(())
    }

    /// The config the request is served with (see [`Cx::load`]).
    pub fn config(&self) -> Result<&FormsConfig, Error> {
        self.config.get().map(|c| &**c).ok_or_else(|| Error::Internal("the config was read before it was loaded".into()))
    }

    /// The storage seam over KV, the ledger and fetch.
    pub fn cloud(&self) -> Result<&Cloud<'static>, Error> {
        if let Some(made) = self.cloud.get() {
            return Ok(made);
        }
        let made = Cloud::of(self.env)?;
        Ok(self.cloud.get_or_init(|| made))
    }

    /// The form a submission is checked against: `current`, or as the published version `shown` asked for
    /// it (a page open during a publish sent what that version asks for; see `catalog::as_shown`). The
    /// current form is lent, not copied: almost every submission is checked against it.
    pub async fn as_shown<'f>(&self, current: &'f FormDef, shown: Option<u32>) -> Result<std::borrow::Cow<'f, FormDef>, Error> {
        Ok(match shown.filter(|v| Some(*v) != current.version) {
            Some(v) => std::borrow::Cow::Owned(crate::services::catalog::as_shown(current, self.shown_version(&current.id, v).await?)),
            None => std::borrow::Cow::Borrowed(current),
        })
    }

    /// Version `n` of `form`, as a page that showed it needs it checked: from the catalog once per isolate.
    async fn shown_version(&self, form: &str, n: u32) -> Result<Option<FormDef>, Error> {
        let key = (form.to_owned(), n);
        if let Some(found) = SHOWN.with(|s| s.borrow().iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())) {
            return Ok(found);
        }
        let found = crate::services::catalog::version(self.cloud()?, form, n).await?;
        SHOWN.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() >= 32 {
                s.remove(0);
            }
            s.push((key, found.clone()));
        });
        Ok(found)
    }

    /// The request's pseudonymous client id (a keyed HMAC of its IP address), if a key is configured.
    pub fn client(&self, req: &Request) -> Option<String> {
        self.client.get_or_init(|| crate::glue::exchange::client_id(req, self.env)).clone()
    }
}

/// A published version this isolate was asked for: `((form, n), its definition if it exists)`.
type Shown = ((String, u32), Option<FormDef>);

thread_local! {
    /// Published versions this isolate was asked for (immutable, so kept as long as the isolate; a few at
    /// most, from pages open during a publish).
    static SHOWN: std::cell::RefCell<Vec<Shown>> = const { std::cell::RefCell::new(Vec::new()) };
}
