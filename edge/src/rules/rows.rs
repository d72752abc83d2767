//! Reading an import's rows: CSV with a header row (comma or semicolon separated, as spreadsheets export
//! it, quotes per RFC 4180) or JSON lines (one object per line). Pure: bytes in, rows out; each row that
//! cannot be read says why, without its content.

use crate::Error;
use std::collections::BTreeMap;

/// The most rows one import call takes.
pub const MAX_ROWS: usize = 1_000;
/// The longest batch source, in characters.
pub const MAX_SOURCE: usize = 200;
/// The longest proof reference, in characters.
pub const MAX_PROOF: usize = 300;
/// The longest statement an imported consent entry records instead of a form's text.
pub const MAX_STATEMENT: usize = MAX_SOURCE + MAX_PROOF + 100;

/// The two shapes an import comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// The format a `Content-Type` names.
pub fn format(content_type: Option<&str>) -> Result<Format, Error> {
    let essence = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/x-ndjson" | "application/jsonl" | "application/jsonlines" | "application/x-jsonlines" => Ok(Format::JsonLines),
        _ => Err(Error::UnsupportedMediaType),
    }
}

/// A row: column (or key) to value; or why it could not be read.
pub type Row = Result<BTreeMap<String, String>, String>;

/// Reads at most `max` rows (more is an error naming the limit). Empty lines are skipped.
pub fn read(format: Format, body: &[u8], max: usize) -> Result<Vec<Row>, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::Malformed("The body is not UTF-8.".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = match format {
        Format::Csv => csv(text)?,
        Format::JsonLines => text.lines().filter(|l| !l.trim().is_empty()).map(json_line).collect(),
    };
    if rows.len() > max {
        return Err(Error::Malformed(format!("At most {max} rows per call; this one has {}.", rows.len())));
    }
    Ok(rows)
}

fn json_line(line: &str) -> Row {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let mut row = BTreeMap::new();
    for (k, v) in object {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
            _ => return Err(format!("`{k}` is not a text, number or true/false")),
        };
        row.insert(k.clone(), text);
    }
    Ok(row)
}

/// Splits CSV into records of cells (quotes may hold separators, quotes and line breaks).
fn records(text: &str, separator: char) -> Result<Vec<Vec<String>>, Error> {
    let mut out = Vec::new();
    let (mut record, mut cell) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, c) if c == separator => record.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut cell));
                out.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    if quoted {
        return Err(Error::Malformed("The CSV ends inside a quoted cell.".into()));
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        out.push(record);
    }
    Ok(out)
}

fn csv(text: &str) -> Result<Vec<Row>, Error> {
    let first = text.lines().next().unwrap_or("");
    // Spreadsheets set to German export with semicolons.
    let separator = if first.contains(';') && !first.contains(',') { ';' } else { ',' };
    let mut records = records(text, separator)?.into_iter().filter(|r| r.iter().any(|c| !c.trim().is_empty()));
    let header: Vec<String> =
        records.next().ok_or_else(|| Error::Malformed("The CSV has no header row.".into()))?.into_iter().map(|h| h.trim().to_owned()).collect();
    if header.iter().any(String::is_empty) || (1..header.len()).any(|i| header.iter().skip(i).any(|h| header.get(i - 1) == Some(h))) {
        return Err(Error::Malformed("Every column of the header row needs a name, each once.".into()));
    }
    Ok(records
        .map(|cells| {
            if cells.len() > header.len() {
                return Err(format!("{} cells, but the header names {} columns", cells.len(), header.len()));
            }
            Ok(header.iter().cloned().zip(cells).filter(|(_, v)| !v.trim().is_empty()).collect())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_separators_and_line_breaks_in_cells() {
        let body = "\u{feff}email,company,message\r\nada@example.com,\"Lovelace, Ltd\",\"said \"\"hi\"\"\nand left\"\r\n\r\ngrace@example.com,,\n";
        let rows = read(Format::Csv, body.as_bytes(), 10).unwrap();
        assert_eq!(rows.len(), 2);
        let ada = rows[0].as_ref().unwrap();
        assert_eq!(ada["company"], "Lovelace, Ltd");
        assert_eq!(ada["message"], "said \"hi\"\nand left");
        assert_eq!(rows[1].as_ref().unwrap().keys().collect::<Vec<_>>(), vec!["email"], "empty cells are no values");
    }

    #[test]
    fn semicolons_too_many_cells_and_limits() {
        let rows = read(Format::Csv, "E-Mail;Firma\nx@y.de;ACME;extra\n".replace("E-Mail", "email").as_bytes(), 10).unwrap();
        assert!(rows[0].as_ref().unwrap_err().contains("3 cells"));
        assert!(read(Format::Csv, b"email\n\"open", 10).is_err());
        assert!(read(Format::Csv, b"email,email\na,b", 10).is_err());
        let many = "email\n".to_owned() + &"a@b.de\n".repeat(11);
        assert!(matches!(read(Format::Csv, many.as_bytes(), 10), Err(Error::Malformed(m)) if m.contains("At most 10 rows")));
        assert!(read(Format::Csv, b"", 10).is_err());
    }

    #[test]
    fn json_lines_with_bad_lines_reported_by_row() {
        let rows = read(Format::JsonLines, b"{\"email\":\"a@b.de\",\"decision_maker\":true,\"note\":null}\n\nnot json\n[1]\n{\"x\":{}}\n", 10).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].as_ref().unwrap()["decision_maker"], "true");
        assert!(rows[1].is_err() && rows[2].is_err() && rows[3].is_err());
        assert_eq!(format(Some("text/csv; charset=utf-8")).unwrap(), Format::Csv);
        assert_eq!(format(Some("application/x-ndjson")).unwrap(), Format::JsonLines);
        assert!(format(Some("application/json")).is_err());
    }
}
