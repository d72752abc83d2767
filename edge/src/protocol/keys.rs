//! Every key the collector uses in Workers KV and in the ledger's idempotency namespaces, made in one place
//! so no two kinds of record can collide and a key is never assembled by hand at a call site.
//!
//! KV holds one document per lead (`lead:<id>`) and the upgrade's bookkeeping; the rest of the keys here
//! belong to the KV-only layout of earlier collectors, which are read for the upgrade and never written
//! (its `spam:` bot counts are no longer read: bots are counted in the ledger).

/// A KV key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// The document of a lead.
    pub fn lead(id: &str) -> Key {
        Key(format!("{}{id}", Prefix::Leads.as_str()))
    }

    /// The KV-only layout's email index entry of an address (its hash) on a form: read for the upgrade,
    /// deleted on erasure, never written.
    pub fn legacy_email(form: &str, email_hash: &str) -> Key {
        Key(format!("email:{form}:{email_hash}"))
    }

    /// Where the scheduled backfill of the ledger's lead index stands.
    pub fn index_backfill() -> Key {
        Key("meta:index-backfill".into())
    }

    /// Set once every delivery of the KV-only layout is in the ledger's outbox.
    pub fn outbox_backfill() -> Key {
        Key("meta:outbox-backfill".into())
    }

    /// Whether the KV-only layout left email index entries (`left`) or none (`gone`): looked up once, by
    /// the first isolate that needed to know, so that the others read this instead of listing KV.
    pub fn legacy_emails() -> Key {
        Key("meta:legacy-emails".into())
    }

    /// The key as KV takes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A family of KV keys, listed by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix<'a> {
    /// Lead documents.
    Leads,
    /// Deliveries of the KV-only layout (moved into the ledger's outbox by the scheduled handler).
    LegacyDeliveries,
    /// The KV-only layout's email index, of every form.
    LegacyEmails,
    /// Giveaway draws of the KV-only layout, of one form.
    LegacyDraws(&'a str),
}

impl Prefix<'_> {
    /// The prefix as KV lists it.
    pub fn as_str(&self) -> String {
        match self {
            Prefix::Leads => "lead:".into(),
            Prefix::LegacyDeliveries => "dlv:".into(),
            Prefix::LegacyEmails => "email:".into(),
            Prefix::LegacyDraws(form) => format!("draw:{form}:"),
        }
    }

    /// What follows the prefix in `key` (a lead's id), if `key` is of this family.
    pub fn rest<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.as_str().as_str())
    }
}

/// The ledger's idempotency namespace of a giveaway's draw requests (submissions use their form's id).
pub fn draw_scope(form: &str) -> String {
    format!("draw:{form}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_different_kinds_never_collide_and_prefixes_find_their_own() {
        let lead = Key::lead("ld_1");
        assert_eq!(lead.as_str(), "lead:ld_1");
        assert_eq!(Prefix::Leads.rest(lead.as_str()), Some("ld_1"));
        assert_eq!(Prefix::LegacyDeliveries.rest(lead.as_str()), None);
        // A form may be called `lead`: its keys still cannot be read as a lead's.
        let email = Key::legacy_email("lead", "ab");
        assert_eq!(Prefix::Leads.rest(email.as_str()), None);
        assert_eq!(Prefix::LegacyEmails.rest(email.as_str()), Some("lead:ab"));
        assert!(Prefix::LegacyDraws("win").rest("draw:win:dr_1").is_some());
        assert!(Prefix::LegacyDraws("win").rest("draw:winter:dr_1").is_none(), "one form's draws are not another's");
        let all = [Key::index_backfill(), Key::outbox_backfill(), Key::legacy_emails(), Key::lead("x"), Key::legacy_email("x", "y")];
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }
}
