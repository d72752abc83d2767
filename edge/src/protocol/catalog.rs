//! Forms as data: each form's draft, its numbered and immutable published versions, the consent texts
//! each purpose has had, and the trail of who changed what, as the catalog object keeps them
//! (`shard::Home::Catalog`). What an edit or a deploy's seed does is decided here, once, over the
//! [`Store`] trait: the ledger object and the memory model only load and keep rows. [`merge`] makes the
//! collector's config from the file's collector-wide settings and the published forms.

use crate::rules::digest::sha256_hex;
use serde::{Deserialize, Serialize};
use shared::form::{FormDef, FormsConfig, Managed};
use std::collections::BTreeMap;

pub use crate::rules::access::{ADMIN, FILE};

/// A form in the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The form's id.
    pub id: String,
    /// Who changes it: the editor, or the file (then every edit is refused).
    pub managed: Managed,
    /// What the next publish makes a version: after a publish or a rollback, the published definition.
    pub draft: FormDef,
    /// The version pages get; none before the first publish.
    pub published: Option<u32>,
    /// The highest version number given (versions are `1..=latest`).
    pub latest: u32,
    /// Archived forms are served to nobody; their versions and leads are kept.
    pub archived: bool,
    /// Each purpose's consent texts so far: which version each wording got.
    #[serde(default)]
    pub consents: BTreeMap<String, Vec<Wording>>,
    /// When it last changed (Unix ms).
    pub changed_at: u64,
    /// Who changed it last.
    pub changed_by: String,
}

/// A consent text a purpose has had, by the SHA-256 of its texts in every language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wording {
    /// The version this wording got.
    pub version: u32,
    /// SHA-256 of the texts (JSON of `{en, de}`), hex.
    pub sha256: String,
}

/// A published version: never changed once written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// The form.
    pub form: String,
    /// Its number (1, 2, ...).
    pub n: u32,
    /// The definition, with `version = n` and each purpose's version set.
    pub def: FormDef,
    /// When it was published (Unix ms).
    pub at: u64,
    /// Who published it.
    pub by: String,
}

/// A version without its definition, for lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Its number.
    pub n: u32,
    /// When it was published (Unix ms).
    pub at: u64,
    /// Who published it.
    pub by: String,
}

/// One line of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trail {
    /// When (Unix ms).
    pub at: u64,
    /// Who: `admin` (the admin token) or `file` (a deploy).
    pub by: String,
    /// The form.
    pub form: String,
    /// What was done.
    pub did: Did,
    /// The version it made or went back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// What a trail line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Did {
    /// A new form's first draft.
    Created,
    /// A draft saved.
    Saved,
    /// A version published.
    Published,
    /// An earlier version published again.
    RolledBack,
    /// Taken off every page.
    Archived,
    /// Back on pages.
    Restored,
    /// First published from the config file.
    Seeded,
    /// Published from the config file by a deploy (file-managed forms).
    Deployed,
    /// The file handed a form it managed to the editor.
    HandedOver,
}

/// An edit asked through the admin API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Saves the draft (creates the form when it is new).
    Save {
        /// The draft, checked by the caller.
        draft: Box<FormDef>,
    },
    /// Publishes the draft as the next version (nothing when it equals the published one).
    Publish,
    /// Publishes an earlier version again.
    Rollback {
        /// Its number.
        to: u32,
    },
    /// Takes the form off every page.
    Archive,
    /// Puts an archived form back.
    Restore,
}

/// Why an edit was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No form with this id.
    Unknown,
    /// The config file manages the form: change it there.
    ManagedByFile,
    /// The version asked for does not exist.
    NoSuchVersion,
    /// The form is archived: restore it first.
    Archived,
}

/// What an edit changes: the entry, the version it writes, its trail line, and whether the set of
/// published definitions changed (which the catalog's revision counts, so collectors reload).
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The entry after the edit.
    pub entry: Entry,
    /// A new version to write.
    pub version: Option<Version>,
    /// The trail line, if the edit changed anything.
    pub trail: Option<Trail>,
    /// Whether what pages get changed.
    pub republished: bool,
}

/// What the catalog answers a collector: its revision, and the published forms when the collector's copy
/// is older.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Counts every change of what pages get.
    pub revision: u64,
    /// Whether the catalog has seen the asking collector's config file.
    pub seeded: bool,
    /// The published definitions of the forms not archived, when the revision differs from the one the
    /// collector knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forms: Option<Vec<FormDef>>,
}

/// Where the catalog's rows are kept: the ledger object's SQL, or the memory model's maps.
pub trait Store {
    /// A failure to read or write.
    type Error;
    /// A form's entry.
    fn entry(&self, form: &str) -> Result<Option<Entry>, Self::Error>;
    /// One published version.
    fn version(&self, form: &str, n: u32) -> Result<Option<Version>, Self::Error>;
    /// Whether a config file with this digest was seeded already.
    fn seeded(&self, digest: &str) -> Result<bool, Self::Error>;
    /// Notes that it was.
    fn note_seeded(&mut self, digest: &str, now: u64) -> Result<(), Self::Error>;
    /// Writes what an edit changed, in one transaction: the entry, the version, the trail line, and one
    /// more revision if it republished.
    fn keep(&mut self, applied: &Applied) -> Result<(), Self::Error>;
}

/// Runs an edit of `form` by `by` at `now`: the new entry, or why not.
pub fn edit<S: Store>(store: &mut S, form: &str, action: Action, by: &str, now: u64) -> Result<Result<Entry, Refusal>, S::Error> {
    let entry = store.entry(form)?;
    let target = match (&action, entry.as_ref().and_then(|e| e.published)) {
        (Action::Rollback { to }, _) => store.version(form, *to)?,
        (Action::Publish, Some(n)) => store.version(form, n)?,
        _ => None,
    };
    match apply(entry, form, target, action, by, now) {
        Ok(applied) => {
            store.keep(&applied)?;
            Ok(Ok(applied.entry))
        }
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Seeds the catalog with a config file's forms, once per file (by the [`digest`] of its text), after
/// checking the file with the rule book ([`accepted`]): a file with a problem seeds nothing and the problem
/// is the answer, so no Worker serves a config the rules refuse. A form the catalog does not have is
/// published as it is; a file-managed form is published again when the file's definition differs from the
/// published one; an editor's form is left alone (the file only seeded it).
///
/// The check is the catalog's rather than each Worker's own, once per isolate, because its rules are about
/// a twentieth of the collector's bundle, which a visitor's first request may wait for.
pub fn seed<S: Store>(store: &mut S, text: &str, digest: &str, now: u64) -> Result<Seeded, S::Error> {
    if store.seeded(digest)? {
        return Ok(Seeded { problem: None });
    }
    let config = match accepted(text) {
        Ok(config) => config,
        Err(problem) => return Ok(Seeded { problem: Some(problem) }),
    };
    for file in &config.forms {
        let entry = store.entry(&file.id)?;
        let published = match entry.as_ref().and_then(|e| e.published) {
            Some(n) => store.version(&file.id, n)?.map(|v| v.def),
            None => None,
        };
        if let Some(applied) = seeded(entry, published.as_ref(), file, now) {
            store.keep(&applied)?;
        }
    }
    store.note_seeded(digest, now)?;
    Ok(Seeded { problem: None })
}

/// A config file's text (the JSON of `LEADGATE_FORMS`) as the catalog accepts it: parsed, and without any
/// of the rule book's problems (`FormsConfig::problems`); else the first problem, with the path to fix.
pub fn accepted(text: &str) -> Result<FormsConfig, String> {
    let config = parsed(text)?;
    match config.problems().into_iter().next() {
        Some((path, problem)) => Err(format!("LEADGATE_FORMS {path}: {problem}")),
        None => Ok(config),
    }
}

/// A config file's text parsed, not checked: `Err` says why it is not a config file.
pub fn parsed(text: &str) -> Result<FormsConfig, String> {
    serde_json::from_str(text).map_err(|e| format!("LEADGATE_FORMS: {e}"))
}

/// The catalog's answer to a seed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeded {
    /// What is wrong with the file, when the catalog refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What an edit does to an entry (`target`: the version a rollback asks for, or the published one for a
/// publish, read by the caller).
pub fn apply(entry: Option<Entry>, form: &str, target: Option<Version>, action: Action, by: &str, now: u64) -> Result<Applied, Refusal> {
    let line = |did: Did, version: Option<u32>| Some(Trail { at: now, by: by.to_owned(), form: form.to_owned(), did, version });
    let mut entry = match (entry, action) {
        (None, Action::Save { draft }) => {
            let entry = Entry {
                id: form.to_owned(),
                managed: Managed::Editor,
                draft: FormDef { id: form.to_owned(), version: None, managed: Managed::Editor, ..*draft },
                published: None,
                latest: 0,
                archived: false,
                consents: BTreeMap::new(),
                changed_at: now,
                changed_by: by.to_owned(),
            };
            return Ok(Applied { entry, version: None, trail: line(Did::Created, None), republished: false });
        }
        (None, _) => return Err(Refusal::Unknown),
        (Some(e), _) if e.managed == Managed::File => return Err(Refusal::ManagedByFile),
        (Some(e), action) => (e, action),
    };
    let (ref mut e, action) = entry;
    e.changed_at = now;
    e.changed_by = by.to_owned();
    match action {
        Action::Save { draft } => {
            e.draft = FormDef { id: form.to_owned(), version: None, managed: Managed::Editor, ..*draft };
            Ok(Applied { entry: entry.0, version: None, trail: line(Did::Saved, None), republished: false })
        }
        Action::Publish if e.archived => Err(Refusal::Archived),
        Action::Publish => {
            let version = publish(e, target.as_ref(), by, now);
            let n = version.as_ref().map(|v| v.n);
            let republished = version.is_some();
            let trail = if republished { line(Did::Published, n) } else { None };
            Ok(Applied { entry: entry.0, version, trail, republished })
        }
        Action::Rollback { .. } if e.archived => Err(Refusal::Archived),
        Action::Rollback { to } => {
            let target = target.filter(|v| v.n == to).ok_or(Refusal::NoSuchVersion)?;
            e.draft = target.def;
            let republished = e.published != Some(to);
            e.published = Some(to);
            Ok(Applied { entry: entry.0, version: None, trail: line(Did::RolledBack, Some(to)), republished })
        }
        Action::Archive => {
            let republished = !e.archived;
            e.archived = true;
            Ok(Applied { entry: entry.0, version: None, trail: line(Did::Archived, None), republished })
        }
        Action::Restore => {
            let republished = e.archived;
            e.archived = false;
            Ok(Applied { entry: entry.0, version: None, trail: line(Did::Restored, None), republished })
        }
    }
}

/// What seeding one file form does to its entry, if anything.
fn seeded(entry: Option<Entry>, published: Option<&FormDef>, file: &FormDef, now: u64) -> Option<Applied> {
    let line = |did: Did, version: Option<u32>| Some(Trail { at: now, by: FILE.to_owned(), form: file.id.clone(), did, version });
    let mut e = match entry {
        None => Entry {
            id: file.id.clone(),
            managed: file.managed,
            draft: file.clone(),
            published: None,
            latest: 0,
            archived: false,
            consents: BTreeMap::new(),
            changed_at: now,
            changed_by: FILE.to_owned(),
        },
        Some(e) if file.managed == Managed::File => {
            if e.managed == Managed::File && !e.archived && published.is_some_and(|p| same(p, file)) {
                return None;
            }
            Entry { managed: Managed::File, draft: file.clone(), archived: false, changed_at: now, changed_by: FILE.to_owned(), ..e }
        }
        Some(e) if e.managed == Managed::File => {
            // The file no longer claims the form: the editor takes it over from what is published.
            let entry = Entry { managed: Managed::Editor, changed_at: now, changed_by: FILE.to_owned(), ..e };
            return Some(Applied { entry, version: None, trail: line(Did::HandedOver, None), republished: false });
        }
        Some(_) => return None,
    };
    let first = e.published.is_none();
    let current = published.map(|def| Version { form: file.id.clone(), n: def.version.unwrap_or(0), def: def.clone(), at: 0, by: String::new() });
    let version = publish(&mut e, current.as_ref(), FILE, now);
    let n = version.as_ref().map(|v| v.n).or(e.published);
    Some(Applied { entry: e, version, trail: line(if first { Did::Seeded } else { Did::Deployed }, n), republished: true })
}

/// Publishes the entry's draft as its next version, with each purpose's version set by its wording, unless
/// it says what the `current` published version says (then the draft becomes that version again).
fn publish(e: &mut Entry, current: Option<&Version>, by: &str, now: u64) -> Option<Version> {
    if let Some(current) = current.filter(|c| e.published == Some(c.n) && same(&c.def, &e.draft)) {
        e.draft = current.def.clone();
        return None;
    }
    let mut def = e.draft.clone();
    stamp(&mut e.consents, &mut def);
    let n = e.latest + 1;
    def.version = Some(n);
    def.id.clone_from(&e.id);
    e.latest = n;
    e.published = Some(n);
    e.draft = def.clone();
    Some(Version { form: e.id.clone(), n, def, at: now, by: by.to_owned() })
}

/// Gives each purpose of `def` the version of its wording: the one it had when this wording was published
/// before, else a new one above every earlier version (and at least the version written in the draft, so
/// a form seeded from a file keeps its hand-kept numbers). Old leads keep the version and text they saw.
pub fn stamp(consents: &mut BTreeMap<String, Vec<Wording>>, def: &mut FormDef) {
    for purpose in &mut def.consents {
        let sha256 = sha256_hex(serde_json::to_string(&purpose.text).unwrap_or_default().as_bytes());
        let known = consents.entry(purpose.id.clone()).or_default();
        match known.iter().find(|w| w.sha256 == sha256) {
            Some(w) => purpose.version = w.version,
            None => {
                let next = known.iter().map(|w| w.version + 1).max().unwrap_or(1).max(purpose.version);
                purpose.version = next;
                known.push(Wording { version: next, sha256 });
            }
        }
    }
}

/// Whether two definitions say the same, whatever their version numbers (the file's consent versions are
/// typed by hand; the published ones are stamped).
pub fn same(a: &FormDef, b: &FormDef) -> bool {
    let plain = |d: &FormDef| {
        let mut d = d.clone();
        d.version = None;
        d.managed = Managed::Editor;
        for p in &mut d.consents {
            p.version = 0;
        }
        d
    };
    plain(a) == plain(b)
}

/// The config a collector serves: the file's collector-wide settings, and as forms the published
/// definitions (the file's forms first, in its order, then the editor's, by id).
pub fn merge(file: &FormsConfig, mut published: Vec<FormDef>) -> FormsConfig {
    let place = |id: &str| file.forms.iter().position(|f| f.id == id).unwrap_or(usize::MAX);
    shared::order::sort_by(&mut published, |a, b| place(&a.id).cmp(&place(&b.id)).then_with(|| a.id.cmp(&b.id)));
    // Field by field rather than `..file.clone()`, which would copy every form of the file only to drop
    // them (on every refresh of every collector).
    let FormsConfig { forms: _, mail, rate_limit, integrations, feedback, owners } = file;
    FormsConfig {
        forms: published,
        mail: mail.clone(),
        rate_limit: *rate_limit,
        integrations: integrations.clone(),
        feedback: feedback.clone(),
        owners: owners.clone(),
    }
}

/// The digest that tells one config file from another (what [`seed`] notes): of its whole text, so a
/// changed setting is checked too (seeding the same forms again changes nothing).
pub fn digest(text: &str) -> String {
    sha256_hex(text.as_bytes())
}

/// A form as the admin API shows it in a list: its entry without the draft's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The form's id.
    pub id: String,
    /// Its kind.
    pub kind: shared::kind::FormKind,
    /// Who changes it.
    pub managed: Managed,
    /// The version pages get.
    pub published: Option<u32>,
    /// The highest version.
    pub latest: u32,
    /// Whether the draft differs from the published version.
    pub draft_changed: bool,
    /// Whether it is archived.
    pub archived: bool,
    /// When it last changed (RFC 3339).
    pub changed_at: String,
    /// Who changed it last.
    pub changed_by: String,
}

impl Entry {
    /// The entry's line in a list.
    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id.clone(),
            kind: self.draft.kind,
            managed: self.managed,
            published: self.published,
            latest: self.latest,
            draft_changed: self.published.is_none() || self.draft.version.is_none(),
            archived: self.archived,
            changed_at: shared::time::rfc3339(self.changed_at),
            changed_by: self.changed_by.clone(),
        }
    }
}
