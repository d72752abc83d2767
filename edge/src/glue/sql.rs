//! The ledger object's SQLite, with statements sent and rows read as one JSON text each instead of value by
//! value.
//!
//! `worker::SqlCursor::to_array` converts each column of each row with `serde_wasm_bindgen`, which asks
//! JavaScript about every value's type one call at a time (is it undefined, a boolean, a number, a bigint,
//! a string): about five calls between the wasm and JavaScript per value, most of the ledger object's calls
//! per submission (`cargo xtask bench crossings`). Here the runtime's own `JSON.stringify` turns the whole
//! result into one string that crosses once and `serde_json` reads in the wasm. The same way in: a
//! statement and its parameters are written as one JSON array that the runtime's `JSON.parse` reads, and
//! `exec` is applied to it, where building the arguments took a call to make the array and two per
//! parameter. The object stores no blobs (which JSON cannot carry) and its numbers are integers below 2^53
//! or plain floats, which JSON keeps; a parameter crosses as the same JavaScript value either way.

use serde::de::DeserializeOwned;
use worker::js_sys::{Function, Reflect, JSON};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{SqlStorage as RawStorage, SqlStorageCursor};
use worker::{Error, Result, SqlStorage, SqlStorageValue};

/// A Durable Object's SQL storage, and its `exec` method (looked up once).
pub struct Sql {
    storage: RawStorage,
    exec: Function,
}

impl Sql {
    /// The SQL storage of an object (`state.storage().sql()`). Should it have no `exec` method, every
    /// statement fails with the runtime's error, as a missing storage would.
    pub fn of(storage: &SqlStorage) -> Sql {
        let raw: &RawStorage = storage.as_ref().unchecked_ref();
        let exec = Reflect::get(raw, &JsValue::from_str("exec")).unwrap_or(JsValue::UNDEFINED);
        Sql { storage: raw.clone(), exec: exec.unchecked_into() }
    }

    /// Runs one statement with its `?` parameters.
    pub fn exec(&self, query: &str, bindings: impl Into<Option<Vec<SqlStorageValue>>>) -> Result<Cursor> {
        let arguments = JSON::parse(&arguments(query, bindings.into().unwrap_or_default())?).map_err(Error::from)?;
        let cursor = self.exec.apply(&self.storage, arguments.unchecked_ref()).map_err(Error::from)?;
        Ok(Cursor(cursor.unchecked_into()))
    }
}

/// `exec`'s arguments as a JSON array: the statement, then its parameters as the JavaScript values
/// `worker` would make of them (integers and floats as numbers).
fn arguments(query: &str, bindings: Vec<SqlStorageValue>) -> Result<String> {
    let json = |e: serde_json::Error| Error::RustError(format!("a ledger statement: {e}"));
    let mut out = String::with_capacity(query.len() + 16 * bindings.len() + 4);
    out.push('[');
    out.push_str(&serde_json::to_string(query).map_err(json)?);
    for value in bindings {
        out.push(',');
        match value {
            SqlStorageValue::Null => out.push_str("null"),
            SqlStorageValue::Boolean(b) => out.push_str(if b { "true" } else { "false" }),
            SqlStorageValue::Integer(i) => out.push_str(&i.to_string()),
            // NaN and the infinities, which JSON cannot write, are bound as NULL as SQLite would store them.
            SqlStorageValue::Float(f) => out.push_str(&serde_json::to_string(&f).map_err(json)?),
            SqlStorageValue::String(s) => out.push_str(&serde_json::to_string(&s).map_err(json)?),
            SqlStorageValue::Blob(_) => return Err(Error::RustError("the ledger stores no blobs".into())),
        }
    }
    out.push(']');
    Ok(out)
}

/// What a statement returned.
pub struct Cursor(SqlStorageCursor);

impl Cursor {
    /// The remaining rows, each read into a `T` from its columns by name.
    pub fn to_array<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        let text = worker::js_sys::JSON::stringify(&self.0.to_array()).map_err(Error::from)?;
        serde_json::from_str(&String::from(text)).map_err(|e| Error::RustError(format!("a ledger row: {e}")))
    }

    /// Whether the statement returned a row (a lookup that found one, an `INSERT ... RETURNING` that inserted
    /// or updated one): the rows are counted where they are, not turned into JSON and read.
    pub fn returned_a_row(&self) -> bool {
        self.0.to_array().length() > 0
    }

    /// The rows SQLite read for the statement.
    pub fn rows_read(&self) -> usize {
        self.0.rows_read() as usize
    }

    /// The rows the statement wrote.
    pub fn rows_written(&self) -> usize {
        self.0.rows_written() as usize
    }
}
