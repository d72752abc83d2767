//! Forms as data, the use cases: a collector's config refreshed from the catalog (seeded with its file's
//! forms first), a draft checked with the config file's own checks, saved, published, rolled back, archived
//! and restored, the audit trail, and the published version a page showed (see `protocol::catalog` for
//! what each edit does).

use crate::protocol::backend::{ask, Backend};
use crate::protocol::catalog::{self, Action, Refusal, Stamp, Summary, Trail};
use crate::protocol::ledger::cmd;
use crate::Error;
use serde::Serialize;
use shared::form::{FormDef, FormsConfig, Managed};

/// A form as the editor shows it: its state, its draft, its versions, and what is wrong with the draft.
#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    /// The form's state.
    pub form: Summary,
    /// The draft (after a publish or a rollback, the published definition).
    pub draft: FormDef,
    /// The published versions, newest first.
    pub versions: Vec<Stamp>,
    /// The draft's problems, each with its path in the definition (`fields[2].label`); empty when it may be
    /// published.
    pub problems: Vec<Problem>,
}

/// One problem of a definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where, in the definition (`fields[2].label`; `form` for the whole).
    pub path: String,
    /// What is wrong, as `cargo xtask check-config` says it.
    pub problem: String,
}

/// A Worker's config file as it reads it: the text (which the catalog checks and seeds from), its digest,
/// and its settings and forms parsed (not checked: that is the catalog's, see [`refresh`]).
#[derive(Clone, Debug)]
pub struct File {
    /// The JSON text, as the `LEADGATE_FORMS` variable holds it.
    pub text: String,
    /// Its digest (`catalog::digest`).
    pub digest: String,
    /// What it says.
    pub config: FormsConfig,
}

impl File {
    /// Reads a config file's text: `Err` says why it is not one (not where it breaks a rule).
    pub fn read(text: String) -> Result<File, String> {
        Ok(File { config: catalog::parsed(&text)?, digest: catalog::digest(&text), text })
    }

    /// The file that says `config` (tests and `cargo xtask`).
    pub fn of(config: &FormsConfig) -> File {
        let text = serde_json::to_string(config).unwrap_or_default();
        File { digest: catalog::digest(&text), text, config: config.clone() }
    }
}

/// The config this Worker serves, if the catalog's differs from the revision it `known`s: asks the
/// catalog, having it check the file and seed its forms first if it has not seen this file. A file the
/// rules refuse is a `Config` error naming the problem, whatever the catalog has: no Worker serves it.
/// `None`: unchanged.
pub async fn refresh<B: Backend>(b: &B, file: &File, known: Option<u64>) -> Result<Option<(u64, FormsConfig)>, Error> {
    let mut answer = ask(b, cmd::Catalog { known, file: file.digest.clone() }).await?;
    if !answer.seeded {
        let seeded = ask(b, cmd::Seed { file: file.text.clone(), digest: file.digest.clone(), now: b.now_ms() }).await?;
        if let Some(problem) = seeded.problem {
            return Err(Error::Config(problem));
        }
        answer = ask(b, cmd::Catalog { known: None, file: file.digest.clone() }).await?;
    }
    Ok(answer.forms.map(|forms| (answer.revision, catalog::merge(&file.config, forms))))
}

/// The problems of `draft` as a form of `current` (replacing the form with its id, or added to it): the
/// config file's checks, with the paths made relative to the form.
pub fn problems(current: &FormsConfig, draft: &FormDef) -> Vec<Problem> {
    let mut config = current.clone();
    let at = match config.forms.iter().position(|f| f.id == draft.id) {
        Some(i) => {
            if let Some(slot) = config.forms.get_mut(i) {
                *slot = draft.clone();
            }
            i
        }
        None => {
            config.forms.push(draft.clone());
            config.forms.len() - 1
        }
    };
    config.problems().into_iter().filter_map(|(path, problem)| Some(Problem { path: within(&path, at)?, problem })).collect()
}

/// A config path (`forms[3] (nl).fields[2] (phone).type`) made relative to form `at` (`fields[2].type`):
/// none for a path of another form; `form` for the form as a whole or the list of forms.
fn within(path: &str, at: usize) -> Option<String> {
    if path == "forms" {
        return Some("form".into());
    }
    let rest = path.strip_prefix(&format!("forms[{at}]"))?;
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('.')) {
        return None;
    }
    // Drop the names the paths carry for people (` (phone)`): the editor finds controls by index.
    let mut plain = String::with_capacity(rest.len());
    let mut skipping = false;
    for c in rest.chars() {
        match c {
            '(' if plain.ends_with(' ') => {
                plain.pop();
                skipping = true;
            }
            ')' if skipping => skipping = false,
            _ if skipping => {}
            c => plain.push(c),
        }
    }
    let plain = plain.trim_start_matches('.');
    Some(if plain.is_empty() { "form".into() } else { plain.to_owned() })
}

/// Every form in the catalog, by id.
pub async fn list<B: Backend>(b: &B) -> Result<Vec<Summary>, Error> {
    Ok(ask(b, cmd::Shelf { form: None }).await?.iter().map(catalog::Entry::summary).collect())
}

/// One form as the editor shows it, its draft checked against `current`.
pub async fn detail<B: Backend>(b: &B, current: &FormsConfig, form: &str) -> Result<Detail, Error> {
    let entry = ask(b, cmd::Shelf { form: Some(form.to_owned()) }).await?.into_iter().next().ok_or(Error::NotFound)?;
    let versions = ask(b, cmd::Versions { form: form.to_owned() }).await?;
    let problems = problems(current, &entry.draft);
    Ok(Detail { form: entry.summary(), draft: entry.draft, versions, problems })
}

/// Saves a draft (a new form when the id is new). A draft may have problems (it is work in progress):
/// they are in the answer, and publishing refuses it until they are fixed.
pub async fn save<B: Backend>(b: &B, current: &FormsConfig, form: &str, draft: FormDef, by: &str) -> Result<Detail, Error> {
    if draft.id != form {
        return Err(Error::FormProblems(vec![("id".into(), format!("the draft's id must be the form's id ({form})"))]));
    }
    if draft.managed == Managed::File {
        return Err(Error::FormProblems(vec![("managed".into(), "only the config file can manage a form: add it there with managed = \"file\"".into())]));
    }
    edit(b, form, Action::Save { draft: Box::new(draft) }, by).await?;
    detail(b, current, form).await
}

/// Publishes the draft as the next version, if it has no problems; changing the shard count of a form
/// that was published is one (its addresses would move).
pub async fn publish<B: Backend>(b: &B, current: &FormsConfig, form: &str, by: &str) -> Result<Detail, Error> {
    let shown = detail(b, current, form).await?;
    let mut problems: Vec<(String, String)> = shown.problems.into_iter().map(|p| (p.path, p.problem)).collect();
    if let Some(live) = current.form(form).filter(|live| live.shards != shown.draft.shards) {
        problems.push(("shards".into(), format!("a published form keeps its shard count ({}): its addresses would move", live.shards)));
    }
    if !problems.is_empty() {
        return Err(Error::FormProblems(problems));
    }
    edit(b, form, Action::Publish, by).await?;
    detail(b, current, form).await
}

/// Ends `form`'s A/B test with `winner`: the draft takes that variant's texts as its own and drops its
/// variants, and is published (with the draft's other changes, which the editor shows before it asks).
pub async fn end_test<B: Backend>(b: &B, current: &FormsConfig, form: &str, winner: &str, by: &str) -> Result<Detail, Error> {
    let shown = detail(b, current, form).await?;
    if shown.draft.managed == Managed::File {
        return Err(Error::ManagedByFile);
    }
    let Some(draft) = shown.draft.with_winner(winner) else {
        let names: Vec<&str> = shown.draft.variants.iter().map(|v| v.name.as_str()).collect();
        let known = if names.is_empty() { "the draft tests no variants".to_owned() } else { format!("the draft's variants are {}", names.join(", ")) };
        return Err(Error::FormProblems(vec![("variant".into(), format!("no variant is called `{}`: {known}", shared::text::prefix(winner, 64)))]));
    };
    save(b, current, form, draft, by).await?;
    publish(b, current, form, by).await
}

/// Publishes version `to` again.
pub async fn rollback<B: Backend>(b: &B, current: &FormsConfig, form: &str, to: u32, by: &str) -> Result<Detail, Error> {
    edit(b, form, Action::Rollback { to }, by).await?;
    detail(b, current, form).await
}

/// Archives (`true`) or restores a form.
pub async fn archive<B: Backend>(b: &B, current: &FormsConfig, form: &str, archived: bool, by: &str) -> Result<Detail, Error> {
    edit(b, form, if archived { Action::Archive } else { Action::Restore }, by).await?;
    detail(b, current, form).await
}

/// The audit trail, newest first: one form's or every form's, before a time.
pub async fn trail<B: Backend>(b: &B, form: Option<&str>, before: Option<u64>, limit: u32) -> Result<Vec<Trail>, Error> {
    ask(b, cmd::Trail { form: form.map(str::to_owned), before, limit }).await
}

/// A published version of a form, if it exists.
pub async fn version<B: Backend>(b: &B, form: &str, n: u32) -> Result<Option<FormDef>, Error> {
    Ok(ask(b, cmd::Version { form: form.to_owned(), n }).await?.map(|v| v.def))
}

/// The definition a submission is checked against: `current`, or the version its page showed when that
/// is another (a page open during a publish), with what the page showed (fields, consent texts, title,
/// language) from that version and everything else (deliveries, scoring) from the current one. A version
/// that does not exist is not one a page showed: the current one checks it.
pub fn as_shown(current: &FormDef, shown: Option<FormDef>) -> FormDef {
    let mut form = current.clone();
    if let Some(old) = shown {
        form.fields = old.fields;
        form.consents = old.consents;
        form.title = old.title;
        form.lang = old.lang;
        form.version = old.version;
    }
    form
}

async fn edit<B: Backend>(b: &B, form: &str, action: Action, by: &str) -> Result<catalog::Entry, Error> {
    match ask(b, cmd::Edit { form: form.to_owned(), action, by: by.to_owned(), now: b.now_ms() }).await? {
        Ok(entry) => Ok(entry),
        Err(Refusal::Unknown | Refusal::NoSuchVersion) => Err(Error::NotFound),
        Err(Refusal::ManagedByFile) => Err(Error::ManagedByFile),
        Err(Refusal::Archived) => Err(Error::FormArchived),
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn paths_are_made_relative_to_the_form() {
        assert_eq!(within("forms[3] (nl).fields[2] (phone).type", 3).as_deref(), Some("fields[2].type"));
        assert_eq!(within("forms[3] (nl).id", 3).as_deref(), Some("id"));
        assert_eq!(within("forms[3].fields[0].label", 3).as_deref(), Some("fields[0].label"));
        assert_eq!(within("forms[3] (nl)", 3).as_deref(), Some("form"));
        assert_eq!(within("forms", 3).as_deref(), Some("form"));
        assert_eq!(within("forms[31] (x).id", 3), None, "another form's");
        assert_eq!(within("forms[1] (x).id", 3), None);
        assert_eq!(within("owners[0].email", 3), None);
    }
}
