//! Loading the forms config file: TOML for people, checked at start with file, line and problem.

use crate::Result;
use shared::form::FormsConfig;
use std::path::Path;

/// Reads, parses and checks a config file. Every error names the file and a line.
pub fn load(path: &Path) -> Result<FormsConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|problems| problems.iter().map(|p| format!("{}:{p}", path.display())).collect::<Vec<_>>().join("\n"))
}

/// Parses and checks config text; problems read `LINE: PATH: PROBLEM`.
pub fn parse(text: &str) -> std::result::Result<FormsConfig, Vec<String>> {
    let config: FormsConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        vec![format!("{line}: {}", e.message())]
    })?;
    let mut problems = config.problems();
    if problems.is_empty() {
        // Only a sound config can be sized: the largest event is built through the real rules.
        for (i, form) in config.forms.iter().enumerate() {
            let bytes = edge::rules::webhook::largest_event(form);
            if bytes > edge::rules::webhook::MAX_PAYLOAD_BYTES {
                problems.push((
                    format!("forms[{i}] ({})", form.id),
                    format!(
                        "a lead event of this form could reach {bytes} bytes, over the {} promised to webhook receivers; lower fields' max_length or shorten consent texts",
                        edge::rules::webhook::MAX_PAYLOAD_BYTES
                    ),
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(config);
    }
    Err(problems
        .into_iter()
        .map(|(path, problem)| {
            // Point at the form's `id = "..."` line: the closest a checked value can be tied to the text.
            let form_id = path.split_once(" (").and_then(|(_, r)| r.split_once(')')).map(|(id, _)| id);
            let line = form_id.and_then(|id| find_line(text, &format!("\"{id}\""))).unwrap_or(1);
            format!("{line}: {path}: {problem}")
        })
        .collect())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.trim_start().starts_with("id") && l.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_sound() {
        let config = load(&crate::root().join("leadgate.toml")).unwrap();
        let kinds: Vec<_> = config.forms.iter().map(|f| f.kind).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("[[forms]]\nid = \"a\"\nkind = \n").unwrap_err();
        assert!(err[0].starts_with("3: "), "{err:?}");
        let err = parse("[[forms]]\nid = \"a\"\nkind = \"newsletter\"\nfields = [{ name = \"email\", required = true, colour = \"red\" }]\n").unwrap_err();
        assert!(err[0].starts_with("4: ") && err[0].contains("colour"), "{err:?}");
    }

    #[test]
    fn semantic_problems_point_at_the_form() {
        let text = "[[forms]]\nid = \"ok\"\nkind = \"newsletter\"\nfields = [{ name = \"email\", required = true }]\n\n[[forms]]\nid = \"broken\"\nkind = \"download_gate\"\nfields = [{ name = \"email\", required = true }]\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err, vec!["7: forms[1] (broken).asset: a download gate needs an asset (key, filename)"]);
    }

    #[test]
    fn forms_whose_events_could_outgrow_20_kb_are_refused() {
        let mut text = String::from("[[forms]]\nid = \"essay\"\nkind = \"newsletter\"\nfields = [{ name = \"email\", required = true }");
        for i in 0..6 {
            text.push_str(&format!(", {{ name = \"essay{i}\", type = \"textarea\", label = {{ en = \"Essay\" }} }}"));
        }
        text.push_str("]\n");
        let err = parse(&text).unwrap_err();
        assert!(err[0].starts_with("2: forms[0] (essay): a lead event of this form could reach"), "{err:?}");
        let demo = load(&crate::root().join("leadgate.toml")).unwrap();
        for form in &demo.forms {
            let bytes = edge::rules::webhook::largest_event(form);
            assert!(bytes < edge::rules::webhook::MAX_PAYLOAD_BYTES, "{}: {bytes}", form.id);
            println!("largest {} event: {bytes} bytes", form.id);
        }
    }
}
