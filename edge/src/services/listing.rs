//! Listing leads for the admin API: pages filtered and sorted in the ledger's lead index (newest first),
//! then the documents of the leads on the page in bulk reads. A page costs one ledger request and one read
//! per hundred leads on it, however many leads are stored, and it is full whenever enough leads match.

use crate::protocol::backend::{ask, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Page, MAX_LIST};
use crate::Error;
use shared::lead::Lead;

/// What a list asks for.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this form's leads.
    pub form: Option<String>,
    /// Only leads with this status.
    pub status: Option<String>,
    /// Only leads created at or after this time (Unix ms).
    pub since: Option<u64>,
    /// Stage, score range and cooling.
    pub qualified: crate::protocol::ledger::Qualified,
}

/// One page of leads, newest first, and the cursor of the next page (none on the last).
pub async fn page<B: Backend>(b: &B, filter: &Filter, before: Option<String>, limit: u32) -> Result<(Vec<Lead>, Option<String>), Error> {
    let page = ids(b, filter, before, limit).await?;
    // An index row names a stored document (the document is written first and deleted last); a document
    // erased between the two reads is simply left out.
    let leads = b.leads(&page.ids).await?;
    Ok((leads, page.cursor))
}

/// Every matching lead id, newest first, from one ledger request (a draw among all of a giveaway's
/// entries reads no document).
pub async fn all_ids<B: Backend>(b: &B, filter: &Filter) -> Result<Vec<String>, Error> {
    Ok(ids(b, filter, None, MAX_LIST).await?.ids)
}

async fn ids<B: Backend>(b: &B, filter: &Filter, before: Option<String>, limit: u32) -> Result<Page, Error> {
    let command =
        cmd::List { form: filter.form.clone(), status: filter.status.clone(), since: filter.since, qualified: filter.qualified.clone(), before, limit };
    ask(b, command).await
}
