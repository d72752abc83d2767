//! The lead behind a link the collector mailed (a confirmation, a withdrawal, an owner's link to a lead),
//! or the readable page that says why there is none: used by the visitor's routes and the owners' alike.

use crate::glue::context::Cx;
use crate::glue::exchange::{html_response, signing_key, visitor_lang};
use crate::protocol::backend::Backend;
use crate::rules::{page, token};
use crate::Error;
use shared::lead::Lead;
use worker::{Request, Response};

/// The lead a link's token stands for, with the change a confirmation link was mailed for (if it names
/// one), or (as `Err`) the readable page that says why there is none: 403 for an altered or expired link,
/// 404 when the lead has been erased.
pub(crate) async fn linked_lead(req: &Request, cx: &Cx<'_>, purpose: token::Purpose, given: &str) -> Result<Result<(Lead, Option<String>), Response>, Error> {
    let now = cx.now;
    let guess = visitor_lang(req);
    let problem = match token::open(signing_key(cx.env)?.as_bytes(), purpose, given, now) {
        Ok(link) => match cx.cloud()?.lead(&link.lead).await? {
            Some(lead) => return Ok(Ok((lead, link.change))),
            None => (page::LinkProblem::Gone, 404),
        },
        Err(token::Problem::Invalid) => (page::LinkProblem::Invalid, 403),
        Err(token::Problem::Expired) => (page::LinkProblem::Expired, 403),
    };
    Ok(Err(html_response(&page::link_problem(guess, problem.0), problem.1)?))
}
