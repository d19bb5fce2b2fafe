//! A folder of JSON files, one record per file (`Format::Folder`). The walking and per-file
//! loop are in [`super::files`], shared with [`super::prompty`].

use std::path::Path;

use crate::error::Problem;
use crate::json::{self, JsonPath, Value};

use super::files::{BOM, FileParser, FilesReader, Parsed, write_files};
use super::{Feed, Layout, RecordReader, SourceSpec, Style};

/// Opens a folder of JSON files for reading.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn RecordReader>, Problem> {
    let parser = JsonFiles { max_depth: spec.limits.max_depth, style: None };
    Ok(Box::new(FilesReader::new(spec, parser)?))
}

/// Writes each record of member 0 to `out_dir/<key>` in the layout's style.
pub fn write(spec: &SourceSpec, layout: &Layout, out_dir: &Path, feed: &mut Feed) -> anyhow::Result<()> {
    let _ = spec;
    write_files(out_dir, layout.bom, feed, &mut |value| {
        let text = json_text(value, &layout.style)?;
        Ok(text.into_bytes())
    })
}

/// The JSON text of a record in `style` (indented or compact, ASCII escapes, final newline).
fn json_text(value: &Value, style: &Style) -> anyhow::Result<String> {
    let mut out = String::new();
    json::write_value(&mut out, value, style, 0)?;
    if style.trailing_newline {
        out.push('\n');
    }
    Ok(out)
}

/// The default formatting for a folder whose style cannot be detected (no readable file).
pub fn default_style() -> Style {
    Style {
        indent: Some("  ".into()),
        colon: ": ".into(),
        comma: ",".into(),
        ascii: false,
        trailing_newline: true,
    }
}

struct JsonFiles {
    max_depth: usize,
    /// The style of the first file read successfully.
    style: Option<Style>,
}

impl FileParser for JsonFiles {
    fn parse(&mut self, bytes: &[u8], file: &str) -> Result<Parsed, Problem> {
        let value = json::parse(bytes, self.max_depth).map_err(|e| {
            let (line, col) = json::line_col(bytes, e.offset);
            Problem::new(file, e.message).at(line, col).with_path(e.path)
        })?;
        let start = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
        if !matches!(value, Value::Object(_)) {
            let at = json::locate(bytes, &[]).unwrap_or(start);
            let (line, col) = json::line_col(bytes, at);
            return Err(Problem::new(
                file,
                format!("a record file must hold an object, found {}", value.kind()),
            )
            .at(line, col)
            .with_path(JsonPath::root()));
        }
        if self.style.is_none() {
            self.style = Some(json::detect_style(bytes));
        }
        let at = json::locate(bytes, &[]).unwrap_or(start);
        let (line, col) = json::line_col(bytes, at);
        Ok(Parsed { value, offset: start as u64, len: (bytes.len() - start) as u64, line, col })
    }

    fn style(&self) -> Style {
        self.style.clone().unwrap_or_else(default_style)
    }
}

