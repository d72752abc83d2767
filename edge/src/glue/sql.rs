//! The ledger object's SQLite, with rows read as one JSON text instead of value by value.
//!
//! `worker::SqlCursor::to_array` converts each column of each row with `serde_wasm_bindgen`, which asks
//! JavaScript about every value's type one call at a time (is it undefined, a boolean, a number, a bigint,
//! a string): about five calls between the wasm and JavaScript per value, most of the ledger object's calls
//! per submission (`cargo xtask bench crossings`). Here the runtime's own `JSON.stringify` turns the whole
//! result into one string that crosses once and `serde_json` reads in the wasm. The object stores no blobs
//! (which JSON cannot carry) and its numbers are integers below 2^53 or plain floats, which JSON keeps.

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsCast;
use worker::worker_sys::{SqlStorage as RawStorage, SqlStorageCursor};
use worker::{Error, Result, SqlStorage, SqlStorageValue};

/// A Durable Object's SQL storage.
pub struct Sql(RawStorage);

impl Sql {
    /// The SQL storage of an object (`state.storage().sql()`).
    pub fn of(storage: &SqlStorage) -> Sql {
        let raw: &RawStorage = storage.as_ref().unchecked_ref();
        Sql(raw.clone())
    }

    /// Runs one statement with its `?` parameters.
    pub fn exec(&self, query: &str, bindings: impl Into<Option<Vec<SqlStorageValue>>>) -> Result<Cursor> {
        let array = worker::js_sys::Array::new();
        for value in bindings.into().unwrap_or_default() {
            array.push(&value.into());
        }
        Ok(Cursor(self.0.exec(query, array).map_err(Error::from)?))
    }
}

/// What a statement returned.
pub struct Cursor(SqlStorageCursor);

impl Cursor {
    /// The remaining rows, each read into a `T` from its columns by name.
    pub fn to_array<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        let text = worker::js_sys::JSON::stringify(&self.0.to_array()).map_err(Error::from)?;
        serde_json::from_str(&String::from(text)).map_err(|e| Error::RustError(format!("a ledger row: {e}")))
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
