//! How results are printed: aligned tables or one-line confirmations for
//! people, JSON for scripts (`--json`).

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Map, Value};

/// A list result: column headings, the rows as text for the table, and the
/// same rows as JSON objects.
pub struct Listing {
    headings: Vec<&'static str>,
    right_aligned: Vec<usize>,
    rows: Vec<Vec<String>>,
    objects: Vec<Value>,
}

impl Listing {
    /// An empty listing with these column headings.
    pub fn new(headings: &[&'static str]) -> Listing {
        Listing {
            headings: headings.to_vec(),
            right_aligned: Vec::new(),
            rows: Vec::new(),
            objects: Vec::new(),
        }
    }

    /// Right-aligns the columns at these indexes (numbers read better so).
    pub fn numeric(mut self, columns: &[usize]) -> Listing {
        self.right_aligned = columns.to_vec();
        self
    }

    /// Adds one row, as table cells and as a JSON object.
    pub fn push(&mut self, cells: Vec<String>, object: Value) {
        self.rows.push(cells);
        self.objects.push(object);
    }

    /// Prints the table, or the JSON array. An empty list prints no table
    /// (so `aox list users | wc -l` counts users), but `[]` in JSON.
    pub fn print(self, json: bool) {
        if json {
            println!("{}", Value::Array(self.objects));
            return;
        }
        if self.rows.is_empty() {
            return;
        }
        let mut table = Table::new();
        table.load_style(presets::NOTHING).set_header(self.headings);
        for row in self.rows {
            table.add_row(row);
        }
        for index in self.right_aligned {
            if let Some(column) = table.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        for line in table.lines() {
            println!("{}", line.trim_end());
        }
    }
}

/// Prints a single object: `name: value` lines for people, the object as JSON.
pub fn show(json: bool, fields: &[(&str, Value)]) {
    if json {
        let object: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        println!("{}", Value::Object(object));
        return;
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (name, value) in fields {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_string(),
            other => other.to_string(),
        };
        println!(
            "{:width$}  {text}",
            format!("{}:", name.replace('_', " ")),
            width = width + 1
        );
    }
}

/// Confirms a change: the sentence for people; `{"ok":true,"message":…,…}`
/// with `details` merged in for scripts.
pub fn done(json: bool, message: &str, details: Value) {
    if json {
        let mut object = Map::new();
        object.insert("ok".into(), Value::Bool(true));
        object.insert("message".into(), Value::String(message.to_string()));
        if let Value::Object(extra) = details {
            object.extend(extra);
        }
        println!("{}", Value::Object(object));
    } else {
        println!("{message}");
    }
}

/// An optional string as a table cell.
pub fn cell(s: Option<&str>) -> String {
    s.unwrap_or("-").to_string()
}

/// "1 message", "2 messages".
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    match n.into() {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}
