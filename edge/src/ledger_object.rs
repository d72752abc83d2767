//! The ledger itself: a Durable Object with SQLite storage that answers [`ledger::Command`]s.
//!
//! Each command runs its statements without an `await` between them, so no other command interleaves and
//! the runtime commits them together: each command is one transaction. See `ledger` for the protocol and
//! ARCHITECTURE.md for why one object serves the collector.

use crate::ledger::{self, Command, Holder, Replay, Standing, Tombstone};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, SqlStorage, SqlStorageValue, State};

/// The binding of the ledger's namespace in the wrangler config.
pub const BINDING: &str = "LEDGER";

/// The one ledger object's name.
pub const NAME: &str = "ledger";

#[durable_object]
pub struct Ledger {
    sql: SqlStorage,
}

impl DurableObject for Ledger {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // Creating what exists is a no-op; a failure here shows up as an error on the first command.
        for statement in SCHEMA {
            if let Err(e) = sql.exec(statement, None) {
                worker::console_error!("ledger schema: {e}");
            }
        }
        Ledger { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command: Command = match req.json().await {
            Ok(c) => c,
            Err(e) => return Response::error(format!("not a ledger command: {e}"), 400),
        };
        match self.run(command) {
            Ok(answer) => Response::from_json(&answer),
            Err(e) => Response::error(format!("ledger: {e}"), 500),
        }
    }
}

const SCHEMA: &[&str] = &[
    // One row per address and form: the lead that holds it (`live = 1`) or the request storing one (`live = 0`).
    // `held` is when a repeat took the lead (0 when nobody holds it): one repeat at a time.
    "CREATE TABLE IF NOT EXISTS emails (form TEXT NOT NULL, email TEXT NOT NULL, lead TEXT NOT NULL, live INTEGER NOT NULL, at INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (form, email))",
    "CREATE INDEX IF NOT EXISTS emails_by_lead ON emails (lead)",
    // The first answer per idempotency key (`answer` is NULL while the first request is in progress).
    "CREATE TABLE IF NOT EXISTS answers (form TEXT NOT NULL, key TEXT NOT NULL, answer TEXT, at INTEGER NOT NULL, PRIMARY KEY (form, key))",
    "CREATE INDEX IF NOT EXISTS answers_by_time ON answers (at)",
    // The lead index: one row per stored lead, what admin lists and draws filter and sort on.
    "CREATE TABLE IF NOT EXISTS leads (id TEXT PRIMARY KEY, form TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL, score INTEGER NOT NULL, created INTEGER NOT NULL, source TEXT)",
    "CREATE INDEX IF NOT EXISTS leads_by_form ON leads (form, id)",
    // Erased leads: nothing may bring their data back.
    "CREATE TABLE IF NOT EXISTS tombstones (lead TEXT PRIMARY KEY, at INTEGER NOT NULL)",
];

#[derive(Deserialize)]
struct EmailRow {
    lead: String,
    live: f64,
    at: f64,
    held: f64,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct AnswerRow {
    answer: Option<String>,
    at: f64,
}

/// Unix ms as SQLite stores them (JavaScript numbers hold them exactly).
fn ms(v: u64) -> SqlStorageValue {
    SqlStorageValue::Float(v as f64)
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_owned())
}

impl Ledger {
    fn run(&self, command: Command) -> Result<serde_json::Value> {
        let value = match command {
            Command::Claim { form, email, lead, key, legacy, now } => {
                let replay = self.reserve_key(&form, key.as_deref(), now)?;
                if replay != Replay::Fresh {
                    return Ok(serde_json::to_value(Standing { holder: self.holder(&form, &email, now)?, replay })?);
                }
                if let Some(old) = legacy {
                    self.sql.exec("INSERT OR IGNORE INTO emails VALUES (?, ?, ?, 1, ?, 0)", vec![text(&form), text(&email), text(&old), ms(now)])?;
                }
                self.sql.exec(
                    "DELETE FROM emails WHERE form = ? AND email = ? AND live = 0 AND at <= ?",
                    vec![text(&form), text(&email), ms(now.saturating_sub(ledger::RESERVATION_MS))],
                )?;
                self.sql.exec("INSERT OR IGNORE INTO emails VALUES (?, ?, ?, 0, ?, 0)", vec![text(&form), text(&email), text(&lead), ms(now)])?;
                let holder = match self.row(&form, &email)? {
                    Some(row) if row.lead == lead => Holder::Claimed,
                    _ => match self.holder(&form, &email, now)? {
                        Holder::Lead { lead } => {
                            // The repeat holds the lead until it settles or releases (or the hold lapses).
                            self.sql.exec("UPDATE emails SET held = ? WHERE form = ? AND email = ?", vec![ms(now.max(1)), text(&form), text(&email)])?;
                            Holder::Lead { lead }
                        }
                        other => other,
                    },
                };
                serde_json::to_value(Standing { holder, replay })?
            }
            Command::Settle { form, email, lead, held, key, answer } => {
                if let Some(lead) = lead {
                    self.sql.exec("UPDATE emails SET live = 1 WHERE form = ? AND email = ? AND lead = ?", vec![text(&form), text(&email), text(&lead)])?;
                }
                if held {
                    self.sql.exec("UPDATE emails SET held = 0 WHERE form = ? AND email = ?", vec![text(&form), text(&email)])?;
                }
                if let (Some(key), Some(answer)) = (key, answer) {
                    self.sql.exec("UPDATE answers SET answer = ? WHERE form = ? AND key = ?", vec![text(&answer), text(&form), text(&key)])?;
                }
                serde_json::json!({"ok": true})
            }
            Command::Release { form, email, lead, held, key } => {
                if let Some(lead) = lead {
                    self.sql.exec("DELETE FROM emails WHERE form = ? AND email = ? AND lead = ? AND live = 0", vec![text(&form), text(&email), text(&lead)])?;
                }
                if held {
                    self.sql.exec("UPDATE emails SET held = 0 WHERE form = ? AND email = ?", vec![text(&form), text(&email)])?;
                }
                if let Some(key) = key {
                    self.sql.exec("DELETE FROM answers WHERE form = ? AND key = ? AND answer IS NULL", vec![text(&form), text(&key)])?;
                }
                serde_json::json!({"ok": true})
            }
            Command::Look { form, email, key, now } => {
                let replay = match key {
                    Some(key) => self.replay(&form, &key, now)?,
                    None => Replay::Fresh,
                };
                serde_json::to_value(Standing { holder: self.holder(&form, &email, now)?, replay })?
            }
            Command::Reserve { form, key, now } => serde_json::to_value(self.reserve_key(&form, Some(&key), now)?)?,
            Command::Hold { form, email, now } => {
                let holder = self.holder(&form, &email, now)?;
                if let Holder::Lead { .. } = holder {
                    self.sql.exec("UPDATE emails SET held = ? WHERE form = ? AND email = ?", vec![ms(now.max(1)), text(&form), text(&email)])?;
                }
                serde_json::to_value(holder)?
            }
            Command::Index { entry, only_if_missing } => {
                // An erased lead's row never comes back, whatever write arrives late.
                let verb = if only_if_missing { "INSERT OR IGNORE" } else { "INSERT OR REPLACE" };
                self.sql.exec(
                    &format!("{verb} INTO leads SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE lead = ?1)"),
                    vec![
                        text(&entry.id),
                        text(&entry.form),
                        text(&entry.status),
                        text(&entry.stage),
                        SqlStorageValue::Float(entry.score as f64),
                        ms(entry.created),
                        entry.source.as_deref().map_or(SqlStorageValue::Null, text),
                    ],
                )?;
                serde_json::json!({"ok": true})
            }
            Command::List { form, status, since, before, limit } => {
                let limit = limit.clamp(1, ledger::MAX_LIST);
                // One more than asked: whether a next page exists.
                let rows: Vec<IdRow> = self
                    .sql
                    .exec(
                        "SELECT id FROM leads WHERE (?1 IS NULL OR form = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR created >= ?3) AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5",
                        vec![
                            form.as_deref().map_or(SqlStorageValue::Null, text),
                            status.as_deref().map_or(SqlStorageValue::Null, text),
                            since.map_or(SqlStorageValue::Null, ms),
                            before.as_deref().map_or(SqlStorageValue::Null, text),
                            SqlStorageValue::Float(f64::from(limit) + 1.0),
                        ],
                    )?
                    .to_array()?;
                let mut ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
                let more = ids.len() > limit as usize;
                ids.truncate(limit as usize);
                let cursor = if more { ids.last().cloned() } else { None };
                serde_json::to_value(ledger::Page { ids, cursor })?
            }
            Command::Unindex { lead } => {
                self.sql.exec("DELETE FROM leads WHERE id = ?", vec![text(&lead)])?;
                serde_json::json!({"ok": true})
            }
            Command::Forget { lead, now } => {
                self.sql.exec("DELETE FROM leads WHERE id = ?", vec![text(&lead)])?;
                self.sql.exec("DELETE FROM emails WHERE lead = ?", vec![text(&lead)])?;
                self.sql.exec("INSERT OR REPLACE INTO tombstones VALUES (?, ?)", vec![text(&lead), ms(now)])?;
                serde_json::json!({"ok": true})
            }
            Command::Erased { lead } => {
                let rows: Vec<serde_json::Value> = self.sql.exec("SELECT lead FROM tombstones WHERE lead = ?", vec![text(&lead)])?.to_array()?;
                serde_json::to_value(Tombstone { erased: !rows.is_empty() })?
            }
        };
        Ok(value)
    }

    fn row(&self, form: &str, email: &str) -> Result<Option<EmailRow>> {
        let rows: Vec<EmailRow> = self.sql.exec("SELECT lead, live, at, held FROM emails WHERE form = ? AND email = ?", vec![text(form), text(email)])?.to_array()?;
        Ok(rows.into_iter().next())
    }

    fn holder(&self, form: &str, email: &str, now: u64) -> Result<Holder> {
        Ok(match self.row(form, email)? {
            Some(row) if row.live >= 1.0 && row.held > 0.0 && ledger::reservation_holds(row.held as u64, now) => Holder::Reserved,
            Some(row) if row.live >= 1.0 => Holder::Lead { lead: row.lead },
            Some(row) if ledger::reservation_holds(row.at as u64, now) => Holder::Reserved,
            _ => Holder::Nobody,
        })
    }

    fn replay(&self, form: &str, key: &str, now: u64) -> Result<Replay> {
        let rows: Vec<AnswerRow> = self.sql.exec("SELECT answer, at FROM answers WHERE form = ? AND key = ?", vec![text(form), text(key)])?.to_array()?;
        Ok(match rows.into_iter().next() {
            Some(AnswerRow { answer: Some(answer), at }) if ledger::answer_holds(at as u64, now) => Replay::Answered { answer },
            Some(AnswerRow { answer: None, at }) if ledger::reservation_holds(at as u64, now) => Replay::InProgress,
            _ => Replay::Fresh,
        })
    }

    /// The key's replay, reserving it for this request when it is fresh. Expired answers are cleared on the
    /// way, so the table holds a day's keys at most.
    fn reserve_key(&self, form: &str, key: Option<&str>, now: u64) -> Result<Replay> {
        let Some(key) = key else { return Ok(Replay::Fresh) };
        self.sql.exec("DELETE FROM answers WHERE at <= ?", vec![ms(now.saturating_sub(ledger::ANSWER_MS))])?;
        let replay = self.replay(form, key, now)?;
        if replay == Replay::Fresh {
            self.sql.exec("INSERT OR REPLACE INTO answers VALUES (?, ?, NULL, ?)", vec![text(form), text(key), ms(now)])?;
        }
        Ok(replay)
    }
}

/// The Worker's handle on the ledger object.
pub struct LedgerStub {
    stub: worker::Stub,
}

impl LedgerStub {
    /// The ledger of this collector.
    pub fn of(env: &Env) -> std::result::Result<LedgerStub, crate::Error> {
        let missing = |e: worker::Error| crate::Error::Config(format!("the Durable Object binding {BINDING} is unusable: {e}"));
        let namespace = env.durable_object(BINDING).map_err(missing)?;
        let stub = namespace.id_from_name(NAME).and_then(|id| id.get_stub()).map_err(missing)?;
        Ok(LedgerStub { stub })
    }

    /// Sends one command and reads the answer.
    pub async fn call<T: DeserializeOwned>(&self, command: &Command) -> std::result::Result<T, crate::Error> {
        let failed = |e: worker::Error| crate::Error::Internal(format!("ledger: {e}"));
        let body = serde_json::to_string(command).map_err(|e| crate::Error::Internal(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let request = Request::new_with_init("https://ledger.internal/", &init).map_err(failed)?;
        let mut response = self.stub.fetch_with_request(request).await.map_err(failed)?;
        if response.status_code() != 200 {
            let text = response.text().await.unwrap_or_default();
            return Err(crate::Error::Internal(format!("ledger answered {}: {text}", response.status_code())));
        }
        response.json().await.map_err(failed)
    }
}
