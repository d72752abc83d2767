//! `cargo xtask forms pull|push`: moves forms between the config file and a running collector's catalog,
//! for teams that keep forms in Git as well as in the editor. This half reads and writes TOML (checked with
//! the same problems and line numbers as `check-config`); `xtask/js/forms.mjs` talks to the admin API.

use crate::{config, root, tools, Result};
use shared::form::FormDef;
use std::path::PathBuf;

/// `forms pull [--url URL] [--out FILE]` or `forms push FILE [--url URL] [--publish]`.
pub fn run(args: &[String]) -> Result {
    let mut url = "http://127.0.0.1:8787".to_owned();
    let (mut out, mut publish, mut positional) = (None, false, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--url" => url = it.next().ok_or("--url needs the collector's URL")?.clone(),
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a file")?)),
            "--publish" => publish = true,
            other => positional.push(other.to_owned()),
        }
    }
    tools::ensure_npm()?;
    let script = root().join("xtask/js/forms.mjs");
    let exchange = std::env::temp_dir().join(format!("leadgate-forms-{}.json", std::process::id()));
    let exchanged = exchange.to_string_lossy().into_owned();
    match positional.first().map(String::as_str) {
        Some("pull") => {
            tools::node(&[&script.to_string_lossy(), "pull", &url, &exchanged], &[])?;
            let forms: Vec<FormDef> = serde_json::from_str(&std::fs::read_to_string(&exchange).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&exchange);
            let text = to_toml(&forms)?;
            match out {
                Some(file) => {
                    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
                    println!("{} forms written to {} (add your collector-wide tables to it, or copy the forms into your file)", forms.len(), file.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        Some("push") => {
            let file = positional.get(1).ok_or("forms push needs the config file")?;
            let forms = config::load(&PathBuf::from(file))?.forms;
            std::fs::write(&exchange, serde_json::to_string(&forms).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            let mut argv = vec![script.to_string_lossy().into_owned(), "push".into(), url, exchanged];
            if publish {
                argv.push("--publish".into());
            }
            let done = tools::node(&argv.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
            let _ = std::fs::remove_file(&exchange);
            done
        }
        _ => Err("usage: cargo xtask forms pull [--url URL] [--out FILE] | forms push FILE [--url URL] [--publish]".into()),
    }
}

/// The forms as `[[forms]]` tables of a config file.
pub fn to_toml(forms: &[FormDef]) -> Result<String> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        forms: &'a [FormDef],
    }
    // Through JSON first: TOML has no null, so settings left empty are dropped rather than refused.
    let mut value = serde_json::to_value(File { forms }).map_err(|e| e.to_string())?;
    drop_nulls(&mut value);
    toml::to_string(&value).map_err(|e| e.to_string())
}

fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_forms_read_back_as_the_same_forms() {
        let config = config::parse(
            r#"
[[forms]]
id = "news"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "size", type = "select", label = { de = "Größe" }, options = [{ value = "m", label = { en = "M" } }] }]
consents = [{ id = "marketing_email", text = { en = "News", de = "Neuigkeiten" }, version = 4 }]
scoring = { company = 10, budget = { high = 20 } }
"#,
        )
        .expect("a config");
        let text = to_toml(&config.forms).expect("toml");
        let back = config::parse(&text).unwrap_or_else(|p| panic!("{p:?}\n{text}"));
        assert_eq!(back.forms, config.forms);
    }
}
