//! JSON Lines in and out: inputs named by path or `-` (stdin), errors that carry `name:line:`,
//! and a writer that surfaces a closed pipe as `BrokenPipe`.

use crate::record::JobStatus;
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One input stream: a file, or stdin for `-` (and when no path is given).
pub struct Input {
    /// How errors name it: the path as given, or `<stdin>`.
    pub name: String,
    reader: Box<dyn BufRead>,
}

impl Input {
    /// Opens `path`; `-` means stdin.
    pub fn open(path: &Path) -> Result<Input> {
        if path == Path::new("-") {
            return Ok(Input::stdin());
        }
        let file =
            File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
        Ok(Input {
            name: path.display().to_string(),
            reader: Box::new(BufReader::with_capacity(64 * 1024, file)),
        })
    }

    /// Standard input, named `<stdin>` in errors.
    pub fn stdin() -> Input {
        Input {
            name: "<stdin>".to_string(),
            reader: Box::new(BufReader::with_capacity(64 * 1024, io::stdin())),
        }
    }

    /// Opens every path in order; no paths means stdin alone.
    pub fn open_all(paths: &[PathBuf]) -> Result<Vec<Input>> {
        if paths.is_empty() {
            return Ok(vec![Input::stdin()]);
        }
        paths.iter().map(|p| Input::open(p)).collect()
    }

    /// The underlying reader, for stages that read something other than JSON Lines (a whole
    /// manifest, a YAML file).
    pub fn reader(&mut self) -> &mut dyn BufRead {
        &mut self.reader
    }

    /// Reads the next non-blank line into `buf` (without its newline) and returns its 1-based
    /// line number, or `None` at end of input.
    fn next_line(&mut self, buf: &mut String, line_no: &mut usize) -> Result<Option<usize>> {
        loop {
            buf.clear();
            let n = match self.reader.read_line(buf) {
                Ok(n) => n,
                // Bad bytes are bad input: name the line, as for any other invalid record.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let at = format!("{}:{}", self.name, *line_no + 1);
                    return Err(e).with_context(|| format!("{at}: invalid record"));
                }
                Err(e) => return Err(e).with_context(|| format!("failed to read {}", self.name)),
            };
            if n == 0 {
                return Ok(None);
            }
            *line_no += 1;
            let trimmed = buf.trim_end_matches(['\n', '\r']).len();
            buf.truncate(trimmed);
            if !buf.trim().is_empty() {
                return Ok(Some(*line_no));
            }
        }
    }

    /// Iterates over the records of this input, each with its line number. A line that is not
    /// a valid record is an error `name:N: invalid record: ...`.
    pub fn records<T: DeserializeOwned>(self) -> Records<T> {
        Records {
            input: self,
            buf: String::new(),
            line_no: 0,
            _t: std::marker::PhantomData,
        }
    }
}

/// Iterator over `(line, record)` pairs of one [`Input`].
pub struct Records<T> {
    input: Input,
    buf: String,
    line_no: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: DeserializeOwned> Iterator for Records<T> {
    type Item = Result<(usize, T)>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.input.next_line(&mut self.buf, &mut self.line_no) {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        Some(
            parse_record(&self.buf)
                .map(|r| (line, r))
                .map_err(|e| anyhow::anyhow!("{}:{line}: invalid record: {e}", self.input.name)),
        )
    }
}

/// Parses one record (a line, or a manifest's job) from its text; the error says what is
/// wrong without the position, naming the field it is about (`parameters.sglang: invalid
/// type: ...`): serde alone says only what was wrong, not where in the record.
///
/// Straight from the text, not through a `serde_json::Value`: numbers keep their text
/// (`arbitrary_precision`) and a big integer in a field of the user's own reaches the record
/// unchanged (through a `Value`, serde's buffer for flattened fields refuses one above u64).
pub fn parse_record<T: DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    if !text.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Err(format!("expected a JSON object, found {}", kind_of(&value)));
    }
    // Fast path first: tracking the path costs a third of the parse, and only an error
    // needs it.
    if let Ok(record) = serde_json::from_str(text) {
        return Ok(record);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let record = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = without_position(&inner);
        if path != "." {
            return format!("{path}: {msg}");
        }
        // Fields flattened into the record (its job state) are read from a buffer that has
        // lost their names: find the one at fault on its own.
        let value = serde_json::from_str(text).ok();
        match value.as_ref().and_then(flattened_field) {
            Some(named) if !inner.is_syntax() && !inner.is_eof() => named,
            _ => msg,
        }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok(record)
}

/// The message without serde_json's ` at line L column C`: the caller gives the position (the
/// line of a record, or its manifest's).
fn without_position(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    msg.strip_suffix(&suffix).unwrap_or(&msg).to_string()
}

/// `field: error` for the first field of `value` that [`JobStatus`] (flattened into the
/// record) refuses.
fn flattened_field(value: &serde_json::Value) -> Option<String> {
    value.as_object()?.iter().find_map(|(k, v)| {
        // From text, as the record itself (an error then quotes a number's value).
        let one = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
        let text = one.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let e = serde_path_to_error::deserialize::<_, JobStatus>(&mut de).err()?;
        let path = e.path().to_string();
        Some(format!("{path}: {}", without_position(&e.into_inner())))
    })
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Writes one compact JSON value per line to a buffered stdout (or any writer).
pub struct Writer<W: Write> {
    out: BufWriter<W>,
}

impl Writer<io::StdoutLock<'static>> {
    /// A writer on the locked stdout.
    pub fn stdout() -> Self {
        Writer::new(io::stdout().lock())
    }
}

impl<W: Write> Writer<W> {
    /// Wraps `w` in a 64 KiB buffer.
    pub fn new(w: W) -> Self {
        Writer {
            out: BufWriter::with_capacity(64 * 1024, w),
        }
    }

    /// Writes `value` and a newline into the buffer. Errors keep their `io::ErrorKind`, so a
    /// closed pipe is recognised by [`crate::cli::is_broken_pipe`].
    pub fn write<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::from)?;
        self.out.write_all(b"\n")
    }

    /// Writes `value` and flushes at once: the record has left this process when it returns.
    pub fn write_flush<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        self.write(value)?;
        self.out.flush()
    }

    /// Flushes what is buffered; call at the end, errors included.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer underneath (flush first: what is buffered has not reached it).
    pub fn get_mut(&mut self) -> &mut W {
        self.out.get_mut()
    }
}
