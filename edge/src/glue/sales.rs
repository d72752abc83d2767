//! The owners' links: `GET /v1/work/<token>` shows one lead to the owner whose mail carried the link,
//! `POST` records what they did with it (contacted, not mine, disqualify). The token names the lead and the
//! owner; the service checks that the lead is still theirs. Served by the operator: sales work is never a
//! visitor's request. An owner also signs in by mail (`/v1/owners/sign-in`) to see their leads, the most
//! urgent first (`/v1/mine/<token>`), each linking to its page.

use crate::glue::context::Cx;
use crate::glue::exchange::{html_response, query, read_body, signing_key, visitor_lang};
use crate::glue::links::linked_lead;
use crate::rules::{address, decoding, page, token};
use crate::services::sales::{self, Acted, Action};
use crate::Error;
use shared::form::FormsConfig;
use shared::lead::Lead;
use shared::{Code, Lang};
use worker::{Request, Response};

/// The owner's language, and what their mails call the lead's form.
fn speaking<'a>(config: &'a FormsConfig, lead: &'a Lead, owner: &str) -> (Lang, &'a str) {
    let lang = config.owners.iter().find(|o| o.id == owner).and_then(|o| o.lang).unwrap_or(Lang::De);
    let what = config.form(&lead.form).and_then(|f| f.title.as_ref()).map_or(lead.form.as_str(), |t| t.get(lang));
    (lang, what)
}

/// Whether `owner` may work `lead`: its owner, or its form's fallback owner.
fn may(config: &FormsConfig, lead: &Lead, owner: &str) -> bool {
    lead.owner.as_deref() == Some(owner) || config.form(&lead.form).and_then(|f| f.assign.as_ref()).and_then(|a| a.fallback.as_deref()) == Some(owner)
}

/// `GET /v1/work/<token>`: the lead, with the buttons (the one the mail's link chose, `?do=`, focused).
pub(crate) async fn work_page(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let (lead, owner) = match linked_lead(req, cx, token::Purpose::Work, given).await? {
        Ok((lead, Some(owner))) => (lead, owner),
        Ok((lead, None)) => return html_response(&page::not_yours(lead.consent.lang), 403),
        Err(page) => return Ok(page),
    };
    let config = cx.config()?;
    let (lang, what) = speaking(config, &lead, &owner);
    if !may(config, &lead, &owner) {
        return html_response(&page::not_yours(lang), 403);
    }
    let chosen = query(req, "do")?;
    html_response(&page::work(lang, &lead, what, chosen.as_deref(), None), 200)
}

/// `POST /v1/work/<token>` with `action=contacted`, `action=not_mine` or `action=disqualify&reason=...`.
pub(crate) async fn work(req: &mut Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let (lead, owner) = match linked_lead(req, cx, token::Purpose::Work, given).await? {
        Ok((lead, Some(owner))) => (lead, owner),
        Ok((lead, None)) => return html_response(&page::not_yours(lead.consent.lang), 403),
        Err(page) => return Ok(page),
    };
    let body = read_body(req, decoding::MAX_BODY).await?;
    let pairs = address::pairs(&String::from_utf8_lossy(&body));
    let said = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let action = match said("action") {
        Some("contacted") => Action::Contacted,
        Some("not_mine") => Action::NotMine,
        Some("disqualify") => Action::Disqualify(said("reason").unwrap_or_default().to_owned()),
        Some(_) => return Err(Error::Validation([("action".to_owned(), Code::InvalidChoice)].into())),
        None => return Err(Error::Validation([("action".to_owned(), Code::Required)].into())),
    };
    let config = cx.config()?;
    let (lang, _) = speaking(config, &lead, &owner);
    let Some((lead, acted)) = sales::act(cx.cloud()?, config, &lead.id, &owner, &action, "mail").await? else {
        return html_response(&page::link_problem(lang, page::LinkProblem::Gone), 404);
    };
    worker::console_log!("owner {owner} on {}: {acted:?}", lead.id);
    let de = lang == Lang::De;
    let text = match &acted {
        Acted::NotYours => return html_response(&page::not_yours(lang), 403),
        Acted::Touched(true) => if de { "Erster Kontakt vermerkt." } else { "First contact recorded." }.to_owned(),
        Acted::Touched(false) => if de { "Der erste Kontakt war schon vermerkt." } else { "The first contact was recorded already." }.to_owned(),
        Acted::Passed(Some(next)) => {
            if de {
                format!("Der Lead ist jetzt bei {next}.")
            } else {
                format!("The lead is with {next} now.")
            }
        }
        Acted::Passed(None) => if de { "Sonst darf ihn niemand übernehmen: Er bleibt Ihrer." } else { "Nobody else may take it: it stays yours." }.to_owned(),
        Acted::Disqualified => if de { "Der Lead ist disqualifiziert." } else { "The lead is disqualified." }.to_owned(),
    };
    let (_, what) = speaking(config, &lead, &owner);
    html_response(&page::work(lang, &lead, what, None, Some(&text)), 200)
}

/// `GET /v1/owners/sign-in`: the form an owner asks for their link with.
pub(crate) fn sign_in_page(req: &Request) -> Result<Response, Error> {
    html_response(&page::sign_in(visitor_lang(req), false), 200)
}

/// `POST /v1/owners/sign-in` with `email=`: mails the owner with that address their link (see
/// `sales::sign_in`); the answer is the same for every address.
pub(crate) async fn sign_in(req: &mut Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let body = read_body(req, decoding::MAX_BODY).await?;
    let pairs = address::pairs(&String::from_utf8_lossy(&body));
    let email = pairs.iter().find(|(k, _)| k == "email").map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    if email.is_empty() {
        return Err(Error::Validation([("email".to_owned(), Code::Required)].into()));
    }
    if email.chars().count() > 254 {
        return Err(Error::Validation([("email".to_owned(), Code::TooLong)].into()));
    }
    let sent = sales::sign_in(cx.cloud()?, cx.config()?, &email).await?;
    worker::console_log!("owner sign-in asked: sent={sent}");
    html_response(&page::sign_in(visitor_lang(req), true), 200)
}

/// `GET /v1/mine/<token>`: the owner's leads, the most urgent first, each linking to its page.
pub(crate) async fn mine(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let signing = signing_key(cx.env)?;
    let guess = visitor_lang(req);
    let owner = match token::verify(signing.as_bytes(), token::Purpose::Mine, given, cx.now) {
        Ok(owner) => owner,
        Err(token::Problem::Invalid) => return html_response(&page::link_problem(guess, page::LinkProblem::Invalid), 403),
        Err(token::Problem::Expired) => return html_response(&page::link_problem(guess, page::LinkProblem::Expired), 403),
    };
    let config = cx.config()?;
    let Some(card) = config.owners.iter().find(|o| o.id == owner) else {
        return html_response(&page::link_problem(guess, page::LinkProblem::Gone), 404);
    };
    let lang = card.lang.unwrap_or(Lang::De);
    let leads = sales::mine(cx.cloud()?, &owner).await?;
    let origin = crate::glue::exchange::own_origin(req);
    let rows: Vec<(Lead, String)> = leads
        .into_iter()
        .map(|lead| {
            let link = token::work_link(&origin, signing.as_bytes(), &lead.id, &owner, cx.now + sales::WORK_LINK_MS);
            (lead, link)
        })
        .collect();
    html_response(&page::mine(lang, &card.name, &rows, cx.now), 200)
}
