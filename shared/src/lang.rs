//! The two languages Leadgate speaks (German and English) and texts given in both.

use alloc::string::String;

use serde::{Deserialize, Serialize};

/// A language the forms and messages are available in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English, the fallback when nothing else is known.
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// Picks the language from a BCP 47 tag such as a page's `lang` attribute (`de-AT` is German);
    /// anything unknown or empty is `None` so the caller can fall back.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim();
        // The primary subtag ends at the first `-` or `_`; found by bytes, which costs the widget less
        // than a multi-character searcher.
        let primary = tag.get(..tag.bytes().position(|b| b == b'-' || b == b'_').unwrap_or(tag.len())).unwrap_or("");
        if primary.eq_ignore_ascii_case("de") {
            Some(Lang::De)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language to show a form in: its own configured language, else the page's, else English.
    pub fn choose(form: Option<Lang>, page: Option<Lang>) -> Lang {
        form.or(page).unwrap_or_default()
    }

    /// The language's tag, as used in `lang` attributes and stored consent records.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }
}

/// A text the website owner writes in one or both languages (labels, consent texts).
///
/// At least one language must be given (the config check enforces it); a missing one falls back to the other
/// so a form never shows an empty label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Texts {
    /// The English text.
    #[serde(default)]
    pub en: Option<String>,
    /// The German text.
    #[serde(default)]
    pub de: Option<String>,
}

impl Texts {
    /// The text in `lang`, else in the other language, else the empty string.
    pub fn get(&self, lang: Lang) -> &str {
        let (first, second) = match lang {
            Lang::En => (&self.en, &self.de),
            Lang::De => (&self.de, &self.en),
        };
        first.as_deref().or(second.as_deref()).unwrap_or("")
    }

    /// Which language `get(lang)` actually answers in, for consent records that must say what was shown.
    pub fn shown_lang(&self, lang: Lang) -> Lang {
        match (lang, &self.en, &self.de) {
            (Lang::En, None, Some(_)) => Lang::De,
            (Lang::De, Some(_), None) => Lang::En,
            _ => lang,
        }
    }

    /// Whether no language is given.
    pub fn is_empty(&self) -> bool {
        self.en.as_deref().is_none_or(str::is_empty) && self.de.as_deref().is_none_or(str::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn tags_pick_the_primary_language() {
        assert_eq!(Lang::from_tag("de-AT"), Some(Lang::De));
        assert_eq!(Lang::from_tag("DE"), Some(Lang::De));
        assert_eq!(Lang::from_tag("en_GB"), Some(Lang::En));
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::from_tag(""), None);
    }

    #[test]
    fn the_form_language_wins_then_the_page_then_english() {
        assert_eq!(Lang::choose(Some(Lang::En), Some(Lang::De)), Lang::En);
        assert_eq!(Lang::choose(None, Some(Lang::De)), Lang::De);
        assert_eq!(Lang::choose(None, None), Lang::En);
    }

    #[test]
    fn texts_fall_back_to_the_other_language() {
        let only_de = Texts { en: None, de: Some("Hallo".into()) };
        assert_eq!(only_de.get(Lang::En), "Hallo");
        assert_eq!(only_de.shown_lang(Lang::En), Lang::De);
        let both = Texts { en: Some("Hi".into()), de: Some("Hallo".into()) };
        assert_eq!(both.get(Lang::En), "Hi");
        assert_eq!(both.get(Lang::De), "Hallo");
        assert!(Texts::default().is_empty());
    }
}
