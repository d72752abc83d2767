//! Forms as data over the memory backend: the file seeds the catalog once per file, drafts are saved with
//! their problems and published as immutable numbered versions, a rollback publishes an earlier one, a
//! changed consent text gets a new version while the leads keep theirs, file-managed forms follow the file
//! and refuse edits, and a page open during a publish is checked against the version it showed.

use crate::fixtures::{intake, memory, NOW};
use edge::platform::memory::{Memory, Op};
use edge::protocol::backend::Backend;
use edge::protocol::catalog::{self, Did};
use edge::services::catalog::{archive, detail, end_test, list, problems, publish, refresh, rollback, save, trail, version, File};
use edge::services::submission::take;
use edge::Error;
use futures::executor::block_on;
use shared::form::{FormDef, FormsConfig};

fn file() -> FormsConfig {
    serde_json::from_value(serde_json::json!({
        "forms": [
            {"id": "news", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
             "consents": [{"id": "marketing_email", "text": {"en": "Send me news.", "de": "Schickt mir News."}, "version": 3}]},
            {"id": "git", "kind": "newsletter", "managed": "file", "fields": [{"name": "email", "required": true}]}
        ]
    }))
    .expect("a config")
}

/// The collector's config as it would serve it now.
fn served(m: &Memory, file: &FormsConfig) -> FormsConfig {
    block_on(refresh(m, &File::of(file), None)).expect("a refresh").expect("a config").1
}

fn news(config: &FormsConfig) -> FormDef {
    config.form("news").expect("news").clone()
}

#[test]
fn the_file_seeds_the_catalog_once_and_versions_are_numbered_and_immutable() {
    let (m, file) = (memory(), file());
    let config = served(&m, &file);
    assert_eq!(config.forms.iter().map(|f| (f.id.as_str(), f.version)).collect::<Vec<_>>(), vec![("news", Some(1)), ("git", Some(1))]);
    assert_eq!(news(&config).consents[0].version, 3, "a seeded form keeps its hand-kept consent version");
    // The same file again changes nothing, and a collector whose copy is current gets no forms.
    let (revision, _) = block_on(refresh(&m, &File::of(&file), None)).unwrap().unwrap();
    assert_eq!(block_on(refresh(&m, &File::of(&file), Some(revision))).unwrap(), None);

    // A draft with a new label, saved and published: version 2; version 1 stays as it was.
    let mut draft = news(&config);
    draft.title = Some(shared::lang::Texts { en: Some("Our news".into()), de: None });
    let saved = block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    assert!(saved.form.draft_changed && saved.problems.is_empty());
    assert_eq!(served(&m, &file).form("news").unwrap().title, None, "a saved draft reaches no page");
    let published = block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap();
    assert_eq!((published.form.published, published.form.latest, published.form.draft_changed), (Some(2), 2, false));
    let config = served(&m, &file);
    assert_eq!(news(&config).version, Some(2));
    assert_eq!(news(&config).title.unwrap().en.as_deref(), Some("Our news"));
    assert_eq!(block_on(version(&m, "news", 1)).unwrap().unwrap().title, None, "version 1 is kept unchanged");
    // Publishing again without a change makes no version.
    assert_eq!(block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap().form.latest, 2);

    // Back to version 1: pages get it again, under its own number.
    let back = block_on(rollback(&m, &config, "news", 1, catalog::ADMIN)).unwrap();
    assert_eq!((back.form.published, back.form.latest), (Some(1), 2));
    assert_eq!(news(&served(&m, &file)).version, Some(1));
    assert!(matches!(block_on(rollback(&m, &config, "news", 9, catalog::ADMIN)), Err(Error::NotFound)));

    // Archived: on no page, its versions kept; restored: back.
    block_on(archive(&m, &config, "news", true, catalog::ADMIN)).unwrap();
    assert!(served(&m, &file).form("news").is_none());
    assert!(matches!(block_on(publish(&m, &config, "news", catalog::ADMIN)), Err(Error::FormArchived)));
    block_on(archive(&m, &config, "news", false, catalog::ADMIN)).unwrap();
    assert_eq!(news(&served(&m, &file)).version, Some(1));

    // The trail names who did what, newest first.
    let lines = block_on(trail(&m, Some("news"), None, 50)).unwrap();
    let did: Vec<(Did, Option<u32>)> = lines.iter().map(|t| (t.did, t.version)).collect();
    assert_eq!(
        did,
        vec![(Did::Restored, None), (Did::Archived, None), (Did::RolledBack, Some(1)), (Did::Published, Some(2)), (Did::Saved, None), (Did::Seeded, Some(1))]
    );
    assert_eq!(lines.last().unwrap().by, catalog::FILE);
    assert_eq!(lines.first().unwrap().by, catalog::ADMIN);
}

#[test]
fn a_changed_consent_text_gets_a_new_version_and_old_leads_keep_theirs() {
    let (m, file) = (memory(), file());
    let config = served(&m, &file);
    let sub = |email: &str| {
        serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": email}, "consent": ["marketing_email"], "meta": {"elapsed_ms": 9000}}))
            .unwrap()
    };
    let before = block_on(take(&m, &intake(&config, "news"), sub("a@example.com"))).unwrap();
    let a = block_on(m.lead(before.body["id"].as_str().unwrap())).unwrap().unwrap();
    assert_eq!((a.form_version, a.consent.entries[0].version), (Some(1), 3));

    let mut draft = news(&config);
    draft.consents[0].text.en = Some("Send me news and offers.".into());
    block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap();
    let config = served(&m, &file);
    assert_eq!(news(&config).consents[0].version, 4, "a new wording gets the next version");
    let after = block_on(take(&m, &intake(&config, "news"), sub("b@example.com"))).unwrap();
    let b = block_on(m.lead(after.body["id"].as_str().unwrap())).unwrap().unwrap();
    assert_eq!((b.form_version, b.consent.entries[0].version, b.consent.entries[0].text.as_str()), (Some(2), 4, "Send me news and offers."));
    let a = block_on(m.lead(&a.id)).unwrap().unwrap();
    assert_eq!((a.consent.entries[0].version, a.consent.entries[0].text.as_str()), (3, "Send me news."), "the old lead keeps what it saw");

    // A label change publishes a version but keeps the consent's; going back to the first wording
    // gives it its first version again, not a new one.
    let mut draft = news(&config);
    draft.consents[0].text.en = Some("Send me news.".into());
    block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap();
    let config = served(&m, &file);
    assert_eq!((news(&config).version, news(&config).consents[0].version), (Some(3), 3));
}

#[test]
fn a_page_open_during_a_publish_is_checked_against_the_version_it_showed() {
    let (m, file) = (memory(), file());
    let config = served(&m, &file);
    let mut draft = news(&config);
    draft.fields.push(serde_json::from_value(serde_json::json!({"name": "company", "required": true})).unwrap());
    block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap();
    let config = served(&m, &file);
    // The page still shows version 1 (no company field): its submission names that version.
    let shown = block_on(version(&m, "news", 1)).unwrap();
    let form = edge::services::catalog::as_shown(config.form("news").unwrap(), shown);
    assert_eq!(form.version, Some(1));
    let sub = serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": "late@example.com"}, "meta": {"elapsed_ms": 9000, "version": 1}}))
        .unwrap();
    let taken = block_on(take(&m, &edge::services::submission::Intake { form: &form, ..intake(&config, "news") }, sub)).unwrap();
    assert_eq!(taken.status, 201);
    let lead = block_on(m.lead(taken.body["id"].as_str().unwrap())).unwrap().unwrap();
    assert_eq!(lead.form_version, Some(1));
    // Against the current version the same submission lacks the company.
    let sub = serde_json::from_value(serde_json::json!({"form": "news", "fields": {"email": "now@example.com"}, "meta": {"elapsed_ms": 9000}})).unwrap();
    assert!(matches!(block_on(take(&m, &intake(&config, "news"), sub)), Err(Error::Validation(_))));
}

#[test]
fn file_managed_forms_follow_the_file_and_refuse_edits() {
    let (m, mut file) = (memory(), file());
    let config = served(&m, &file);
    let git = config.form("git").unwrap().clone();
    assert!(matches!(block_on(save(&m, &config, "git", FormDef { managed: Default::default(), ..git.clone() }, catalog::ADMIN)), Err(Error::ManagedByFile)));
    assert!(matches!(block_on(publish(&m, &config, "git", catalog::ADMIN)), Err(Error::ManagedByFile)));
    assert!(matches!(block_on(archive(&m, &config, "git", true, catalog::ADMIN)), Err(Error::ManagedByFile)));
    // The news form is the editor's: a new file's definition of it is ignored; git's is published.
    let mut draft = news(&config);
    draft.title = Some(shared::lang::Texts { en: Some("Edited".into()), de: None });
    block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap();
    for form in &mut file.forms {
        form.title = Some(shared::lang::Texts { en: Some("From the file".into()), de: None });
    }
    let config = served(&m, &file);
    assert_eq!(config.form("news").unwrap().title.as_ref().unwrap().en.as_deref(), Some("Edited"));
    assert_eq!(config.form("git").unwrap().title.as_ref().unwrap().en.as_deref(), Some("From the file"));
    assert_eq!(config.form("git").unwrap().version, Some(2));
    let lines = block_on(trail(&m, Some("git"), None, 10)).unwrap();
    assert_eq!((lines[0].did, lines[0].by.as_str()), (Did::Deployed, catalog::FILE));
    // An older collector still running the first file does not seed it back.
    let old = self::file();
    assert_eq!(served(&m, &old).form("git").unwrap().version, Some(2));
    // The file hands the form to the editor: it can be edited from then on.
    for form in &mut file.forms {
        form.managed = Default::default();
    }
    let config = served(&m, &file);
    let handed = block_on(detail(&m, &config, "git")).unwrap();
    assert_eq!(handed.form.managed, shared::form::Managed::Editor);
    block_on(archive(&m, &config, "git", true, catalog::ADMIN)).unwrap();
}

#[test]
fn a_draft_is_checked_like_the_file_with_paths_in_the_form() {
    let (m, file) = (memory(), file());
    let config = served(&m, &file);
    let mut draft = news(&config);
    draft.fields.push(serde_json::from_value(serde_json::json!({"name": "Bad-Name", "type": "select"})).unwrap());
    draft.allowed_origins.push("not an origin".into());
    let found = problems(&config, &draft);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"fields[1].name"), "{found:?}");
    assert!(paths.contains(&"fields[1].options"), "{found:?}");
    assert!(paths.iter().any(|p| p.starts_with("allowed_origins")), "{found:?}");
    // The same problems as the file's check names, word for word.
    let mut whole = config.clone();
    whole.forms[0] = draft.clone();
    for p in &found {
        assert!(whole.problems().iter().any(|(_, problem)| *problem == p.problem), "{p:?}");
    }
    // Saved, the draft keeps its problems; published, it is refused with them.
    let saved = block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    assert_eq!(saved.problems, found);
    match block_on(publish(&m, &config, "news", catalog::ADMIN)) {
        Err(Error::FormProblems(listed)) => assert_eq!(listed.len(), found.len()),
        other => panic!("{other:?}"),
    }
    assert_eq!(news(&served(&m, &file)).version, Some(1), "nothing was published");
    // A draft for another id is refused; a new form is created by its first draft.
    assert!(matches!(block_on(save(&m, &config, "other", news(&config), catalog::ADMIN)), Err(Error::FormProblems(_))));
    let fresh = FormDef { id: "fresh".into(), version: None, ..news(&config) };
    let created = block_on(save(&m, &config, "fresh", fresh, catalog::ADMIN)).unwrap();
    assert_eq!((created.form.published, created.form.latest), (None, 0));
    assert!(served(&m, &file).form("fresh").is_none(), "unpublished");
    block_on(publish(&m, &config, "fresh", catalog::ADMIN)).unwrap();
    assert_eq!(served(&m, &file).form("fresh").unwrap().version, Some(1));
    assert_eq!(block_on(list(&m)).unwrap().iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["fresh", "git", "news"]);
    // Its shard count is fixed once published.
    let mut sharded = served(&m, &file).form("fresh").unwrap().clone();
    sharded.shards = 4;
    let config = served(&m, &file);
    block_on(save(&m, &config, "fresh", sharded, catalog::ADMIN)).unwrap();
    assert!(matches!(block_on(publish(&m, &config, "fresh", catalog::ADMIN)), Err(Error::FormProblems(p)) if p[0].0 == "shards"));
}

#[test]
fn an_ab_test_ends_by_publishing_the_winners_texts() {
    let (m, file) = (memory(), file());
    let config = served(&m, &file);
    let mut draft = news(&config);
    draft.variants = serde_json::from_value(serde_json::json!([{"name": "plain"}, {"name": "bold", "button": {"en": "Count me in"}}])).unwrap();
    block_on(save(&m, &config, "news", draft, catalog::ADMIN)).unwrap();
    block_on(publish(&m, &config, "news", catalog::ADMIN)).unwrap();
    let config = served(&m, &file);
    assert_eq!(news(&config).variants.len(), 2, "the test runs on pages");

    let refused = block_on(end_test(&m, &config, "news", "loud", catalog::ADMIN));
    assert!(matches!(&refused, Err(Error::FormProblems(p)) if p[0].0 == "variant" && p[0].1.contains("plain, bold")), "{refused:?}");
    assert!(matches!(block_on(end_test(&m, &config, "git", "plain", catalog::ADMIN)), Err(Error::ManagedByFile)));
    let ended = block_on(end_test(&m, &config, "news", "bold", catalog::ADMIN)).unwrap();
    assert_eq!((ended.form.published, ended.form.draft_changed), (Some(3), false));
    let live = news(&served(&m, &file));
    assert!(live.variants.is_empty(), "the test is over");
    assert_eq!(live.button.unwrap().en.as_deref(), Some("Count me in"), "the winner's texts are the form's own");
    let lines = block_on(trail(&m, Some("news"), None, 2)).unwrap();
    assert_eq!(lines.iter().map(|t| t.did).collect::<Vec<_>>(), vec![Did::Published, Did::Saved]);
}

#[test]
fn a_hundred_forms_are_one_config() {
    let m = memory();
    let mut file = file();
    for i in 0..98 {
        file.forms.push(FormDef { id: format!("f{i:02}"), ..file.forms[0].clone() });
    }
    let config = served(&m, &file);
    assert_eq!(config.forms.len(), 100);
    assert!(config.problems().is_empty());
    // The 101st is one too many, said of the new form as a whole.
    let extra = FormDef { id: "extra".into(), version: None, ..news(&config) };
    let found = problems(&config, &extra);
    assert_eq!(found.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), vec!["form"], "{found:?}");
    assert_eq!(m.now_ms(), NOW, "the clock stood still: nothing here waited");
}

#[test]
fn a_file_the_rules_refuse_is_served_by_no_worker_and_seeds_nothing() {
    let m = memory();
    let mut broken = file();
    broken.forms[0].allowed_origins = vec!["example.com".into()];
    let refused = block_on(refresh(&m, &File::of(&broken), None));
    let Err(Error::Config(problem)) = refused else { panic!("a broken file must be refused, got {refused:?}") };
    assert!(problem.starts_with("LEADGATE_FORMS forms[0] (news).allowed_origins"), "{problem}");
    assert!(block_on(list(&m)).unwrap().is_empty(), "a refused file seeds no form");
    // Refused again the next time (it was not noted as seen), and a file that is not JSON says so.
    assert!(matches!(block_on(refresh(&m, &File::of(&broken), None)), Err(Error::Config(_))));
    assert!(File::read("{\"forms\": [".into()).unwrap_err().starts_with("LEADGATE_FORMS: "));
    // The mended file seeds and is served.
    assert_eq!(served(&m, &file()).forms.len(), 2);
}

#[test]
fn a_seed_that_fails_leaves_nothing_and_the_next_refresh_seeds() {
    let m = memory();
    // A refresh asks the catalog, seeds, and asks again: the seed is its second catalog command.
    m.fail(Op::LedgerOther, 2);
    assert!(block_on(refresh(&m, &File::of(&file()), None)).is_err(), "a failed seed serves nothing");
    assert_eq!(m.count(Op::LedgerOther), 2, "the refresh stopped at its seed");
    assert!(block_on(list(&m)).unwrap().is_empty(), "and stores no form");
    // The file was not noted as seen: the next refresh checks and seeds it.
    assert_eq!(served(&m, &file()).forms.len(), 2);
}
