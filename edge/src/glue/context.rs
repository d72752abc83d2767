//! One request's context, made once by the entry point and handed to every route: the environment (for
//! its bindings and secrets), the config, the time the request arrived, the storage seam, and the
//! request's pseudonymous client. Routes read and write storage only through the seam it holds; the seam
//! and the client id are made when a route first asks, so routes that need neither (the health check, the
//! embed script) pay nothing for them.

use crate::platform::cloud::{self, Cloud};
use crate::Error;
use shared::form::FormsConfig;
use std::cell::OnceCell;
use worker::{Date, Env, Request};

/// See the module's documentation.
pub(crate) struct Cx<'e> {
    /// The Worker's environment: bindings and secrets.
    pub env: &'e Env,
    /// When the request arrived (Unix ms): the one clock reading a route makes.
    pub now: u64,
    cloud: OnceCell<Cloud<'static>>,
    client: OnceCell<Option<String>>,
}

impl<'e> Cx<'e> {
    /// The context of a request that arrives now.
    pub fn new(env: &'e Env) -> Cx<'e> {
        Cx { env, now: Date::now().as_millis(), cloud: OnceCell::new(), client: OnceCell::new() }
    }

    /// The forms config (parsed once per isolate).
    pub fn config(&self) -> Result<&'static FormsConfig, Error> {
        cloud::config(self.env)
    }

    /// The storage seam over KV, the ledger and fetch.
    pub fn cloud(&self) -> Result<&Cloud<'static>, Error> {
        if let Some(made) = self.cloud.get() {
            return Ok(made);
        }
        let made = Cloud::of(self.env)?;
        Ok(self.cloud.get_or_init(|| made))
    }

    /// The request's pseudonymous client id (a keyed HMAC of its IP address), if a key is configured.
    pub fn client(&self, req: &Request) -> Option<String> {
        self.client.get_or_init(|| crate::glue::exchange::client_id(req, self.env)).clone()
    }
}
