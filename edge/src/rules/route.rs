//! The collector's routes: one enum, parsed from method and path by one pure function.
//!
//! Request paths are attacker-controlled, so parsing never slices bytes: the path is split into segments
//! and matched as a slice pattern. Segments are kept as received (percent-encoded); the handlers check
//! ids and tokens against their own strict shapes before using them in a storage key. A path that is no
//! route is `NotFound`; a route asked for with a method it does not take is `MethodNotAllowed`, which
//! carries the `Allow` header's value. Whether a route needs the admin token is decided here too, so the
//! dispatcher can check it once, before any handler runs.

/// One thing the collector can be asked to do, with the parts of the path it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/leads`: a submission (JSON from the widget and API clients, form data from plain forms).
    Submit,
    /// `OPTIONS /v1/leads`: the CORS preflight of a submission.
    SubmitPreflight,
    /// `GET /v1/health`.
    Health,
    /// `GET /v1/openapi.json`: the machine-readable description of every route and webhook.
    OpenApi,
    /// `GET /v1/consent/verify?receipt=...`.
    VerifyReceipt,
    /// `GET /v1/confirm/<token>`: the page with the confirm button (mail scanners follow GETs).
    ConfirmPage(String),
    /// `POST /v1/confirm/<token>`: the button's press, which confirms.
    Confirm(String),
    /// `GET /v1/withdraw/<token>`: the page with the withdraw button.
    WithdrawPage(String),
    /// `POST /v1/withdraw/<token>`: records the withdrawal.
    Withdraw(String),
    /// `GET /v1/download/<token>`: a gated file.
    Download(String),
    /// `GET /v1/work/<token>`: an owner's page of one lead of theirs (the link in their mail).
    WorkPage(String),
    /// `POST /v1/work/<token>`: what the owner does with it (contacted, not mine, disqualify).
    Work(String),
    /// `GET /v1/owners/sign-in`: where an owner asks for the link to their leads.
    SignInPage,
    /// `POST /v1/owners/sign-in`: mails the link, if the address is an owner's.
    SignIn,
    /// `GET /v1/mine/<token>`: an owner's leads, the most urgent first.
    Mine(String),
    /// `GET /v1/thanks`: the built-in thank-you page of plain forms.
    Thanks,
    /// `GET /embed/<form>.js`: the widget with the form.
    Embed(String),
    /// `GET /dev/mailbox`: a redirect to the local mailbox during development.
    DevMailbox,
    /// `POST /v1/beacon`: a page view's analytics report (`rules::beacon`).
    Beacon,
    /// `PUT /v1/admin/files/<key>`: uploads a gated file.
    UploadFile(String),
    /// `GET /v1/admin/leads`: a page of leads.
    ListLeads,
    /// `GET /v1/admin/leads.csv`: every lead as CSV.
    LeadsCsv,
    /// `GET /v1/admin/leads/<id>`: everything stored about a lead.
    LeadDetail(String),
    /// `GET /v1/admin/leads/<id>/export`: the same as a download.
    LeadExport(String),
    /// `DELETE /v1/admin/leads/<id>`: erasure.
    EraseLead(String),
    /// `POST /v1/admin/leads/<id>/withdraw`: a withdrawal received by other channels.
    WithdrawLead(String),
    /// `POST /v1/admin/leads/<id>/stage`: a person moves a lead in the funnel.
    MoveStage(String),
    /// `POST /v1/admin/leads/<id>/owner`: a person gives a lead to an owner.
    AssignOwner(String),
    /// `POST /v1/leads/<id>/events`: a behaviour event (admin token or an integration's key).
    RecordEvent(String),
    /// `POST /v1/feedback/<endpoint>`: the CRM's feedback (verified by the endpoint's own scheme).
    Feedback(String),
    /// `GET /v1/admin/stats`: bot counts.
    Stats,
    /// `GET /v1/admin/me`: who the token is, and whether it may change anything (a viewer's may not).
    Me,
    /// `GET /v1/admin/funnel`: leads per stage, grouped.
    Funnel,
    /// `GET /v1/admin/speed`: speed to lead per owner, form or source.
    Speed,
    /// `GET /v1/admin/daily`: leads per day, grouped.
    Daily,
    /// `GET /v1/admin/forms`: the forms of the config.
    Forms,
    /// `GET /v1/admin/forms/<form>/analytics`: a form's views to customers.
    FormAnalytics(String),
    /// `POST /v1/admin/import`: leads from other channels (CSV or JSON lines).
    Import,
    /// `GET /v1/admin/deliveries`.
    Deliveries,
    /// `POST /v1/admin/deliveries/<id>/replay`.
    ReplayDelivery(String),
    /// `GET /v1/admin/endpoints`.
    Endpoints,
    /// `POST /v1/admin/endpoints/<form>/<endpoint>/enable`.
    EnableEndpoint {
        /// The form's id.
        form: String,
        /// The endpoint's id.
        endpoint: String,
    },
    /// `POST /v1/admin/giveaways/<form>/draw`.
    Draw(String),
    /// `GET /v1/admin/giveaways/<form>/draws`.
    Draws(String),
    /// `POST /v1/preview`: the embed script of a form definition sent in the body (the editor's live
    /// preview; nothing is read or stored).
    Preview,
    /// `POST /v1/internal/repeat`: a repeat the collector hands over to the operator, sealed
    /// (`protocol::handover`).
    Repeat,
    /// `GET /v1/admin/catalog`: every form in the catalog, with its state.
    Catalog,
    /// `GET /v1/admin/catalog/<form>`: a form's draft, versions and problems.
    CatalogForm(String),
    /// `PUT /v1/admin/catalog/<form>`: saves a form's draft (creates the form).
    SaveDraft(String),
    /// `POST /v1/admin/catalog/<form>/check`: a definition's problems, without saving it.
    CheckDraft(String),
    /// `POST /v1/admin/catalog/<form>/publish`.
    Publish(String),
    /// `POST /v1/admin/catalog/<form>/rollback`.
    Rollback(String),
    /// `POST /v1/admin/catalog/<form>/winner`: ends an A/B test by publishing one variant's texts.
    Winner(String),
    /// `POST /v1/admin/catalog/<form>/archive`.
    Archive(String),
    /// `POST /v1/admin/catalog/<form>/restore`.
    Restore(String),
    /// `GET /v1/admin/catalog/<form>/versions/<n>`: one published version.
    FormVersion {
        /// The form's id.
        form: String,
        /// The version's number.
        n: u32,
    },
    /// `GET /v1/admin/trail`: who changed, published or rolled back which form when.
    Trail,
}

/// Why a request matched no route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// The path is a route, but not for this method; the value is the `Allow` header.
    MethodNotAllowed(String),
}

impl Route {
    /// Finds the route for a method and a path (the URL's path, without query). Never panics, whatever the
    /// input.
    pub fn parse(method: &str, path: &str) -> Result<Route, Miss> {
        use Route::*;
        let rest = path.strip_prefix('/').ok_or(Miss::NotFound)?;
        let segments: Vec<&str> = rest.split('/').collect();
        let one = |s: &&str| (!s.is_empty()).then(|| (*s).to_owned());
        // Each path shape lists the methods it takes, with the route each one means.
        let choices: Vec<(&'static str, Route)> = match segments.as_slice() {
            ["v1", "leads"] => vec![("POST", Submit), ("OPTIONS", SubmitPreflight)],
            ["v1", "leads", id, "events"] => vec![("POST", RecordEvent(one(id).ok_or(Miss::NotFound)?))],
            ["v1", "feedback", endpoint] => vec![("POST", Feedback(one(endpoint).ok_or(Miss::NotFound)?))],
            ["v1", "health"] => vec![("GET", Health)],
            ["v1", "openapi.json"] => vec![("GET", OpenApi)],
            ["v1", "consent", "verify"] => vec![("GET", VerifyReceipt)],
            ["v1", "confirm", token] => {
                let t = one(token).ok_or(Miss::NotFound)?;
                vec![("GET", ConfirmPage(t.clone())), ("POST", Confirm(t))]
            }
            ["v1", "withdraw", token] => {
                let t = one(token).ok_or(Miss::NotFound)?;
                vec![("GET", WithdrawPage(t.clone())), ("POST", Withdraw(t))]
            }
            ["v1", "download", token] => vec![("GET", Download(one(token).ok_or(Miss::NotFound)?))],
            ["v1", "work", token] => {
                let t = one(token).ok_or(Miss::NotFound)?;
                vec![("GET", WorkPage(t.clone())), ("POST", Work(t))]
            }
            ["v1", "owners", "sign-in"] => vec![("GET", SignInPage), ("POST", SignIn)],
            ["v1", "mine", token] => vec![("GET", Mine(one(token).ok_or(Miss::NotFound)?))],
            ["v1", "thanks"] => vec![("GET", Thanks)],
            ["embed", file] => {
                let form = file.strip_suffix(".js").filter(|f| !f.is_empty()).ok_or(Miss::NotFound)?;
                vec![("GET", Embed(form.to_owned()))]
            }
            ["dev", "mailbox"] => vec![("GET", DevMailbox)],
            ["v1", "beacon"] => vec![("POST", Beacon)],
            ["v1", "admin", "forms"] => vec![("GET", Forms)],
            ["v1", "preview"] => vec![("POST", Preview)],
            ["v1", "internal", "repeat"] => vec![("POST", Repeat)],
            ["v1", "admin", "catalog"] => vec![("GET", Catalog)],
            ["v1", "admin", "trail"] => vec![("GET", Trail)],
            ["v1", "admin", "catalog", form] => {
                let form = one(form).ok_or(Miss::NotFound)?;
                vec![("GET", CatalogForm(form.clone())), ("PUT", SaveDraft(form))]
            }
            ["v1", "admin", "catalog", form, action] => {
                let form = one(form).ok_or(Miss::NotFound)?;
                let route = match *action {
                    "check" => CheckDraft(form),
                    "publish" => Publish(form),
                    "rollback" => Rollback(form),
                    "winner" => Winner(form),
                    "archive" => Archive(form),
                    "restore" => Restore(form),
                    _ => return Err(Miss::NotFound),
                };
                vec![("POST", route)]
            }
            ["v1", "admin", "catalog", form, "versions", n] => {
                let form = one(form).ok_or(Miss::NotFound)?;
                // Only the number as written (`2`, not `+2` or `02`), so one version has one URL.
                let n = n.parse::<u32>().ok().filter(|v| *v > 0 && v.to_string() == *n).ok_or(Miss::NotFound)?;
                vec![("GET", FormVersion { form, n })]
            }
            ["v1", "admin", "forms", form, "analytics"] => vec![("GET", FormAnalytics(one(form).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "files", key @ ..] if !key.is_empty() && key.iter().all(|s| !s.is_empty()) => {
                vec![("PUT", UploadFile(key.join("/")))]
            }
            ["v1", "admin", "leads"] => vec![("GET", ListLeads)],
            ["v1", "admin", "leads.csv"] => vec![("GET", LeadsCsv)],
            ["v1", "admin", "leads", id] => {
                let id = one(id).ok_or(Miss::NotFound)?;
                vec![("GET", LeadDetail(id.clone())), ("DELETE", EraseLead(id))]
            }
            ["v1", "admin", "leads", id, "export"] => vec![("GET", LeadExport(one(id).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "leads", id, "withdraw"] => vec![("POST", WithdrawLead(one(id).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "leads", id, "stage"] => vec![("POST", MoveStage(one(id).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "leads", id, "owner"] => vec![("POST", AssignOwner(one(id).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "stats"] => vec![("GET", Stats)],
            ["v1", "admin", "me"] => vec![("GET", Me)],
            ["v1", "admin", "funnel"] => vec![("GET", Funnel)],
            ["v1", "admin", "speed"] => vec![("GET", Speed)],
            ["v1", "admin", "daily"] => vec![("GET", Daily)],
            ["v1", "admin", "import"] => vec![("POST", Import)],
            ["v1", "admin", "deliveries"] => vec![("GET", Deliveries)],
            ["v1", "admin", "deliveries", id, "replay"] => vec![("POST", ReplayDelivery(one(id).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "endpoints"] => vec![("GET", Endpoints)],
            ["v1", "admin", "endpoints", form, endpoint, "enable"] => {
                let (form, endpoint) = (one(form).ok_or(Miss::NotFound)?, one(endpoint).ok_or(Miss::NotFound)?);
                vec![("POST", EnableEndpoint { form, endpoint })]
            }
            ["v1", "admin", "giveaways", form, "draw"] => vec![("POST", Draw(one(form).ok_or(Miss::NotFound)?))],
            ["v1", "admin", "giveaways", form, "draws"] => vec![("GET", Draws(one(form).ok_or(Miss::NotFound)?))],
            _ => return Err(Miss::NotFound),
        };
        let allow = choices.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ");
        choices.into_iter().find(|(m, _)| *m == method).map(|(_, r)| r).ok_or(Miss::MethodNotAllowed(allow))
    }

    /// Whether the route needs the admin token. The dispatcher checks it for every such route before the
    /// handler runs, so no handler can forget.
    pub fn is_admin(&self) -> bool {
        use Route::*;
        match self {
            UploadFile(_)
            | ListLeads
            | LeadsCsv
            | LeadDetail(_)
            | LeadExport(_)
            | EraseLead(_)
            | WithdrawLead(_)
            | MoveStage(_)
            | AssignOwner(_)
            | Stats
            | Me
            | Funnel
            | Speed
            | Daily
            | Forms
            | FormAnalytics(_)
            | Import
            | Deliveries
            | ReplayDelivery(_)
            | Endpoints
            | EnableEndpoint { .. }
            | Draw(_)
            | Draws(_)
            | Catalog
            | CatalogForm(_)
            | SaveDraft(_)
            | CheckDraft(_)
            | Publish(_)
            | Rollback(_)
            | Winner(_)
            | Archive(_)
            | Restore(_)
            | FormVersion { .. }
            | Trail => true,
            // Behaviour events take the admin token or an integration's key: their handler checks either.
            // A preview reads and writes nothing: it renders the definition it is sent, as an embed would.
            // A repeat's hand-over is sealed by the collector instead.
            Repeat | Submit | SubmitPreflight | Health | OpenApi | VerifyReceipt | ConfirmPage(_) | Confirm(_) | WithdrawPage(_) | Withdraw(_)
            | Download(_) | WorkPage(_) | Work(_) | SignInPage | SignIn | Mine(_) | Thanks | Embed(_) | DevMailbox | Beacon | RecordEvent(_) | Feedback(_)
            | Preview => false,
        }
    }

    /// Whether a browser on a customer's page calls this route from script, so its answers carry CORS
    /// headers for the form's allowed origins. Every other route answers without them.
    pub fn is_cross_origin(&self) -> bool {
        matches!(self, Route::Submit | Route::SubmitPreflight)
    }

    /// Whether the operator Worker serves the route: the admin API and the editor's preview, what other
    /// systems call (behaviour events, CRM feedback, receipt checks), the links a person follows from a mail
    /// or a thanks message (confirmation, withdrawal, download, the owners' sales work: never a page's first
    /// request) and the OpenAPI description (for integrators: its 76 KB would otherwise be 10.7 KB gzip of
    /// every cold start of the collector). The collector, the Worker a customer's page loads, forwards these
    /// to it unchanged, so its own bundle carries only what pages call: the embed script, submissions and
    /// page-view reports.
    pub fn is_operator(&self) -> bool {
        self.is_admin()
            || matches!(
                self,
                Route::RecordEvent(_)
                    | Route::Feedback(_)
                    | Route::WorkPage(_)
                    | Route::Work(_)
                    | Route::SignInPage
                    | Route::SignIn
                    | Route::Mine(_)
                    | Route::OpenApi
                    | Route::ConfirmPage(_)
                    | Route::Confirm(_)
                    | Route::WithdrawPage(_)
                    | Route::Withdraw(_)
                    | Route::Download(_)
                    | Route::VerifyReceipt
                    | Route::DevMailbox
                    | Route::Preview
                    | Route::Repeat
            )
    }
}

/// The OpenAPI 3.1 description of every route and webhook event, served at `GET /v1/openapi.json`.
/// (`build.rs` writes it without the indentation of `edge/openapi.json`.)
pub const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The routes the table below parses, as `(method, path)` with ids filled in.
    fn concrete(template: &str) -> String {
        template
            .replace("{id}", "ld_01JD0000000000000000000000")
            .replace("{form}", "news")
            .replace("{endpoint}", "crm")
            .replace("{token}", "t.k")
            .replace("{key}", "ebook.pdf")
            .replace("{n}", "2")
    }

    #[test]
    fn the_served_openapi_document_is_the_edited_one_without_its_indentation() {
        let edited: serde_json::Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(OPENAPI).unwrap(), edited);
        assert!(!OPENAPI.contains("\n ") && OPENAPI.len() < include_str!("../../openapi.json").len() * 3 / 4, "{} bytes", OPENAPI.len());
    }

    #[test]
    fn the_openapi_document_describes_every_route_and_only_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut described = Vec::new();
        for (template, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let method = method.to_ascii_uppercase();
                let path = concrete(template);
                assert!(Route::parse(&method, &path).is_ok(), "{method} {template} is described but is no route");
                described.push((method, path));
            }
        }
        // Every route the collector answers (one request per route) is described.
        let all = [
            ("POST", "/v1/leads"),
            ("OPTIONS", "/v1/leads"),
            ("POST", "/v1/leads/{id}/events"),
            ("POST", "/v1/feedback/{endpoint}"),
            ("GET", "/v1/health"),
            ("GET", "/v1/openapi.json"),
            ("GET", "/v1/consent/verify"),
            ("GET", "/v1/confirm/{token}"),
            ("POST", "/v1/confirm/{token}"),
            ("GET", "/v1/withdraw/{token}"),
            ("POST", "/v1/withdraw/{token}"),
            ("GET", "/v1/download/{token}"),
            ("GET", "/v1/work/{token}"),
            ("POST", "/v1/work/{token}"),
            ("GET", "/v1/owners/sign-in"),
            ("POST", "/v1/owners/sign-in"),
            ("GET", "/v1/mine/{token}"),
            ("GET", "/v1/thanks"),
            ("GET", "/embed/{form}.js"),
            ("GET", "/dev/mailbox"),
            ("POST", "/v1/beacon"),
            ("GET", "/v1/admin/forms"),
            ("GET", "/v1/admin/forms/{form}/analytics"),
            ("PUT", "/v1/admin/files/{key}"),
            ("GET", "/v1/admin/leads"),
            ("GET", "/v1/admin/leads.csv"),
            ("GET", "/v1/admin/leads/{id}"),
            ("DELETE", "/v1/admin/leads/{id}"),
            ("GET", "/v1/admin/leads/{id}/export"),
            ("POST", "/v1/admin/leads/{id}/withdraw"),
            ("POST", "/v1/admin/leads/{id}/stage"),
            ("POST", "/v1/admin/leads/{id}/owner"),
            ("GET", "/v1/admin/stats"),
            ("GET", "/v1/admin/me"),
            ("GET", "/v1/admin/funnel"),
            ("GET", "/v1/admin/speed"),
            ("GET", "/v1/admin/daily"),
            ("POST", "/v1/admin/import"),
            ("GET", "/v1/admin/deliveries"),
            ("POST", "/v1/admin/deliveries/{id}/replay"),
            ("GET", "/v1/admin/endpoints"),
            ("POST", "/v1/admin/endpoints/{form}/{endpoint}/enable"),
            ("POST", "/v1/admin/giveaways/{form}/draw"),
            ("GET", "/v1/admin/giveaways/{form}/draws"),
            ("POST", "/v1/preview"),
            ("POST", "/v1/internal/repeat"),
            ("GET", "/v1/admin/catalog"),
            ("GET", "/v1/admin/trail"),
            ("GET", "/v1/admin/catalog/{form}"),
            ("PUT", "/v1/admin/catalog/{form}"),
            ("POST", "/v1/admin/catalog/{form}/check"),
            ("POST", "/v1/admin/catalog/{form}/publish"),
            ("POST", "/v1/admin/catalog/{form}/rollback"),
            ("POST", "/v1/admin/catalog/{form}/winner"),
            ("POST", "/v1/admin/catalog/{form}/archive"),
            ("POST", "/v1/admin/catalog/{form}/restore"),
            ("GET", "/v1/admin/catalog/{form}/versions/{n}"),
        ];
        let mut kinds = std::collections::HashSet::new();
        for (method, template) in all {
            let path = concrete(template);
            let route = Route::parse(method, &path).unwrap_or_else(|e| panic!("{method} {template}: {e:?}"));
            kinds.insert(std::mem::discriminant(&route));
            assert!(described.iter().any(|(m, p)| m == method && *p == path), "{method} {template} is a route but not described");
        }
        assert_eq!(kinds.len(), all.len(), "one request per kind of route");
        // A new kind of route does not compile here until it is listed (and described) above.
        let _listed = |r: Route| match r {
            Route::Submit
            | Route::SubmitPreflight
            | Route::RecordEvent(_)
            | Route::Feedback(_)
            | Route::Health
            | Route::OpenApi
            | Route::VerifyReceipt
            | Route::ConfirmPage(_)
            | Route::Confirm(_)
            | Route::WithdrawPage(_)
            | Route::Withdraw(_)
            | Route::Download(_)
            | Route::WorkPage(_)
            | Route::Work(_)
            | Route::SignInPage
            | Route::SignIn
            | Route::Mine(_)
            | Route::Thanks
            | Route::Embed(_)
            | Route::DevMailbox
            | Route::Beacon
            | Route::Forms
            | Route::FormAnalytics(_)
            | Route::UploadFile(_)
            | Route::ListLeads
            | Route::LeadsCsv
            | Route::LeadDetail(_)
            | Route::EraseLead(_)
            | Route::LeadExport(_)
            | Route::WithdrawLead(_)
            | Route::MoveStage(_)
            | Route::AssignOwner(_)
            | Route::Stats
            | Route::Me
            | Route::Funnel
            | Route::Speed
            | Route::Daily
            | Route::Import
            | Route::Deliveries
            | Route::ReplayDelivery(_)
            | Route::Endpoints
            | Route::EnableEndpoint { .. }
            | Route::Draw(_)
            | Route::Draws(_)
            | Route::Preview
            | Route::Repeat
            | Route::Catalog
            | Route::CatalogForm(_)
            | Route::SaveDraft(_)
            | Route::CheckDraft(_)
            | Route::Publish(_)
            | Route::Rollback(_)
            | Route::Winner(_)
            | Route::Archive(_)
            | Route::Restore(_)
            | Route::FormVersion { .. }
            | Route::Trail => (),
        };
        let events = [
            "lead.created",
            "lead.confirmed",
            "lead.updated",
            "lead.consent_withdrawn",
            "lead.stage_changed",
            "lead.assigned",
            "lead.sla_breached",
            "giveaway.winner",
            "lead.erased",
        ];
        for e in events {
            assert!(doc["webhooks"].get(e).is_some(), "{e} has no schema");
        }
    }

    #[test]
    fn the_table() {
        let id = "ld_01JD0000000000000000000000";
        let cases: Vec<(&str, String, Result<Route, Miss>)> = vec![
            ("POST", "/v1/leads".into(), Ok(Route::Submit)),
            ("OPTIONS", "/v1/leads".into(), Ok(Route::SubmitPreflight)),
            ("GET", "/v1/leads".into(), Err(Miss::MethodNotAllowed("POST, OPTIONS".into()))),
            ("GET", "/v1/leads/".into(), Err(Miss::NotFound)),
            ("GET", "/v1/health".into(), Ok(Route::Health)),
            ("GET", "/v1/consent/verify".into(), Ok(Route::VerifyReceipt)),
            ("GET", "/v1/confirm/abc.def".into(), Ok(Route::ConfirmPage("abc.def".into()))),
            ("POST", "/v1/confirm/abc.def".into(), Ok(Route::Confirm("abc.def".into()))),
            ("DELETE", "/v1/confirm/abc".into(), Err(Miss::MethodNotAllowed("GET, POST".into()))),
            ("GET", "/v1/confirm/".into(), Err(Miss::NotFound)),
            ("GET", "/v1/withdraw/t".into(), Ok(Route::WithdrawPage("t".into()))),
            ("POST", "/v1/withdraw/t".into(), Ok(Route::Withdraw("t".into()))),
            ("GET", "/v1/download/t".into(), Ok(Route::Download("t".into()))),
            ("GET", "/v1/thanks".into(), Ok(Route::Thanks)),
            ("GET", "/embed/newsletter.js".into(), Ok(Route::Embed("newsletter".into()))),
            ("GET", "/embed/.js".into(), Err(Miss::NotFound)),
            ("GET", "/embed/newsletter".into(), Err(Miss::NotFound)),
            ("GET", "/dev/mailbox".into(), Ok(Route::DevMailbox)),
            ("POST", "/v1/beacon".into(), Ok(Route::Beacon)),
            ("GET", "/v1/beacon".into(), Err(Miss::MethodNotAllowed("POST".into()))),
            ("GET", "/v1/admin/forms/news/analytics".into(), Ok(Route::FormAnalytics("news".into()))),
            ("GET", "/v1/admin/forms//analytics".into(), Err(Miss::NotFound)),
            ("POST", "/v1/preview".into(), Ok(Route::Preview)),
            ("POST", "/v1/internal/repeat".into(), Ok(Route::Repeat)),
            ("GET", "/v1/internal/repeat".into(), Err(Miss::MethodNotAllowed("POST".into()))),
            ("GET", "/v1/admin/catalog".into(), Ok(Route::Catalog)),
            ("GET", "/v1/admin/trail".into(), Ok(Route::Trail)),
            ("GET", "/v1/admin/catalog/news".into(), Ok(Route::CatalogForm("news".into()))),
            ("PUT", "/v1/admin/catalog/news".into(), Ok(Route::SaveDraft("news".into()))),
            ("POST", "/v1/admin/catalog/news".into(), Err(Miss::MethodNotAllowed("GET, PUT".into()))),
            ("POST", "/v1/admin/catalog/news/publish".into(), Ok(Route::Publish("news".into()))),
            ("POST", "/v1/admin/catalog/news/rollback".into(), Ok(Route::Rollback("news".into()))),
            ("POST", "/v1/admin/catalog/news/delete".into(), Err(Miss::NotFound)),
            ("POST", "/v1/admin/catalog//publish".into(), Err(Miss::NotFound)),
            ("GET", "/v1/admin/catalog/news/versions/2".into(), Ok(Route::FormVersion { form: "news".into(), n: 2 })),
            ("GET", "/v1/admin/catalog/news/versions/0".into(), Err(Miss::NotFound)),
            ("GET", "/v1/admin/catalog/news/versions/+2".into(), Err(Miss::NotFound)),
            ("PUT", "/v1/admin/files/ebook.pdf".into(), Ok(Route::UploadFile("ebook.pdf".into()))),
            ("PUT", "/v1/admin/files/books/ebook.pdf".into(), Ok(Route::UploadFile("books/ebook.pdf".into()))),
            ("PUT", "/v1/admin/files/".into(), Err(Miss::NotFound)),
            ("GET", "/v1/admin/leads".into(), Ok(Route::ListLeads)),
            ("GET", "/v1/admin/leads.csv".into(), Ok(Route::LeadsCsv)),
            ("GET", format!("/v1/admin/leads/{id}"), Ok(Route::LeadDetail(id.into()))),
            ("DELETE", format!("/v1/admin/leads/{id}"), Ok(Route::EraseLead(id.into()))),
            ("GET", format!("/v1/admin/leads/{id}/export"), Ok(Route::LeadExport(id.into()))),
            ("POST", format!("/v1/admin/leads/{id}/withdraw"), Ok(Route::WithdrawLead(id.into()))),
            ("POST", format!("/v1/admin/leads/{id}/stage"), Ok(Route::MoveStage(id.into()))),
            ("POST", format!("/v1/admin/leads/{id}/owner"), Ok(Route::AssignOwner(id.into()))),
            ("GET", format!("/v1/admin/leads/{id}/stage"), Err(Miss::MethodNotAllowed("POST".into()))),
            ("POST", format!("/v1/leads/{id}/events"), Ok(Route::RecordEvent(id.into()))),
            ("POST", "/v1/leads//events".into(), Err(Miss::NotFound)),
            ("POST", "/v1/feedback/hubspot".into(), Ok(Route::Feedback("hubspot".into()))),
            ("GET", "/v1/feedback/hubspot".into(), Err(Miss::MethodNotAllowed("POST".into()))),
            ("GET", "/v1/admin/leads//export".into(), Err(Miss::NotFound)),
            ("GET", "/v1/admin/stats".into(), Ok(Route::Stats)),
            ("GET", "/v1/admin/me".into(), Ok(Route::Me)),
            ("POST", "/v1/admin/me".into(), Err(Miss::MethodNotAllowed("GET".into()))),
            ("GET", "/v1/admin/funnel".into(), Ok(Route::Funnel)),
            ("GET", "/v1/admin/speed".into(), Ok(Route::Speed)),
            ("GET", "/v1/admin/daily".into(), Ok(Route::Daily)),
            ("POST", "/v1/admin/import".into(), Ok(Route::Import)),
            ("GET", "/v1/admin/deliveries".into(), Ok(Route::Deliveries)),
            ("POST", "/v1/admin/deliveries/msg_1/replay".into(), Ok(Route::ReplayDelivery("msg_1".into()))),
            // The five URLs that used to panic: the prefix's trailing `/` is the suffix's leading `/`.
            ("POST", "/v1/admin/deliveries/replay".into(), Err(Miss::NotFound)),
            ("POST", "/v1/admin/endpoints/enable".into(), Err(Miss::NotFound)),
            ("POST", "/v1/admin/giveaways/draw".into(), Err(Miss::NotFound)),
            ("GET", "/v1/admin/giveaways/draws".into(), Err(Miss::NotFound)),
            ("GET", "/v1/admin/leads/export".into(), Ok(Route::LeadDetail("export".into()))),
            ("GET", "/v1/admin/endpoints".into(), Ok(Route::Endpoints)),
            ("POST", "/v1/admin/endpoints/ebook/crm/enable".into(), Ok(Route::EnableEndpoint { form: "ebook".into(), endpoint: "crm".into() })),
            ("POST", "/v1/admin/giveaways/giveaway/draw".into(), Ok(Route::Draw("giveaway".into()))),
            ("GET", "/v1/admin/giveaways/giveaway/draws".into(), Ok(Route::Draws("giveaway".into()))),
            ("GET", "/v1/admin/giveaways/giveaway/draw".into(), Err(Miss::MethodNotAllowed("POST".into()))),
            ("GET", "".into(), Err(Miss::NotFound)),
            ("GET", "v1/health".into(), Err(Miss::NotFound)),
            ("GET", "/".into(), Err(Miss::NotFound)),
            ("GET", "//v1/health".into(), Err(Miss::NotFound)),
            ("get", "/v1/health".into(), Err(Miss::MethodNotAllowed("GET".into()))),
        ];
        for (method, path, want) in cases {
            assert_eq!(Route::parse(method, &path), want, "{method} {path}");
        }
    }

    #[test]
    fn admin_routes_are_those_under_v1_admin_and_the_collector_serves_only_what_pages_call() {
        let paths = [
            ("POST", "/v1/leads/x/events"),
            ("POST", "/v1/feedback/hubspot"),
            ("PUT", "/v1/admin/files/x"),
            ("GET", "/v1/admin/leads"),
            ("GET", "/v1/admin/leads.csv"),
            ("GET", "/v1/admin/leads/x"),
            ("DELETE", "/v1/admin/leads/x"),
            ("GET", "/v1/admin/leads/x/export"),
            ("POST", "/v1/admin/leads/x/withdraw"),
            ("GET", "/v1/admin/stats"),
            ("GET", "/v1/admin/me"),
            ("GET", "/v1/admin/forms"),
            ("GET", "/v1/admin/forms/f/analytics"),
            ("GET", "/v1/admin/deliveries"),
            ("POST", "/v1/admin/deliveries/x/replay"),
            ("GET", "/v1/admin/endpoints"),
            ("POST", "/v1/admin/endpoints/f/e/enable"),
            ("POST", "/v1/admin/giveaways/g/draw"),
            ("GET", "/v1/admin/giveaways/g/draws"),
            ("POST", "/v1/leads"),
            ("OPTIONS", "/v1/leads"),
            ("GET", "/v1/health"),
            ("GET", "/v1/consent/verify"),
            ("GET", "/v1/confirm/t"),
            ("POST", "/v1/confirm/t"),
            ("GET", "/v1/withdraw/t"),
            ("POST", "/v1/withdraw/t"),
            ("GET", "/v1/download/t"),
            ("GET", "/v1/work/t"),
            ("POST", "/v1/work/t"),
            ("GET", "/v1/owners/sign-in"),
            ("POST", "/v1/owners/sign-in"),
            ("GET", "/v1/mine/t"),
            ("GET", "/v1/thanks"),
            ("GET", "/embed/f.js"),
            ("GET", "/dev/mailbox"),
            ("POST", "/v1/beacon"),
            ("POST", "/v1/preview"),
            ("POST", "/v1/internal/repeat"),
            ("GET", "/v1/openapi.json"),
        ];
        for (method, path) in paths {
            let route = Route::parse(method, path).unwrap_or_else(|m| panic!("{method} {path}: {m:?}"));
            assert_eq!(route.is_admin(), path.starts_with("/v1/admin/"), "{path}");
            assert_eq!(route.is_cross_origin(), path == "/v1/leads", "{path}");
            // The collector keeps what a customer's page calls (and what a submission leads to); mailed
            // links, receipts, the editor's preview and other systems' calls are the operator's.
            let page_calls = ["/v1/leads", "/v1/health", "/v1/thanks", "/embed/f.js", "/v1/beacon"];
            assert_eq!(route.is_operator(), !page_calls.contains(&path), "{method} {path}");
        }
    }

    /// Paths made of the pieces attackers use: route words, empty segments, percent-encoding, dots,
    /// non-ASCII, and very long runs.
    fn hostile_path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("v1".to_string()),
            Just("admin".to_string()),
            Just("leads".to_string()),
            Just("giveaways".to_string()),
            Just("draw".to_string()),
            Just("replay".to_string()),
            Just("enable".to_string()),
            Just("export".to_string()),
            Just(String::new()),
            Just("%2F".to_string()),
            Just("..".to_string()),
            Just("ü€😀".to_string()),
            Just("x".repeat(10_000)),
            "\\PC{0,12}",
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|parts| format!("/{}", parts.join("/")))
    }

    proptest! {
        #[test]
        fn any_method_and_path_parses_without_panicking(method in "(GET|POST|PUT|DELETE|OPTIONS|HEAD|PATCH|\\PC{0,8})", path in hostile_path()) {
            match Route::parse(&method, &path) {
                Ok(route) => prop_assert!(!route.is_admin() || path.starts_with("/v1/admin/")),
                Err(Miss::MethodNotAllowed(allow)) => prop_assert!(!allow.is_empty() && !allow.split(", ").any(|m| m == method)),
                Err(Miss::NotFound) => {}
            }
        }

        #[test]
        fn any_string_at_all_parses_without_panicking(method in "\\PC{0,20}", path in "\\PC{0,300}") {
            let _ = Route::parse(&method, &path);
        }
    }
}
