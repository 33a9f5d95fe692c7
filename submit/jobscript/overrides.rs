//! Swept values must reach the engine: Dynamo's config merger lets a command-line flag beat
//! `--config`, so a flag that the launch script hard-codes silently overrides the sweep.
//! Look for `--<key>` of every swept SGLang key in the launch script before submitting.

use anyhow::Result;
use std::path::Path;
use sweep::{Mode, Record, Role};

/// One message per swept key that the launch script also sets, naming the key, the script
/// and the line.
pub fn find(record: &Record, script: &Path) -> Result<Vec<String>> {
    let text = super::read_to_string(script)?;
    let mut keys: Vec<String> = Vec::new();
    let values = match record.mode {
        Mode::Disagg => Role::ALL.map(|role| record.sglang_for_role(role)).to_vec(),
        Mode::Agg => vec![record.parameters.sglang.clone()],
    };
    for key in values.iter().flat_map(|v| v.keys()) {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let mut found = Vec::new();
    for key in &keys {
        if let Some(line) = flag_line(&text, key) {
            found.push(format!(
                "swept key {key:?} is also set by {}:{line} (--{key} on the command line overrides the swept value)",
                script.display()
            ));
        }
    }
    Ok(found)
}

/// First line (1-based) that passes `--key` as a whole flag, outside comments.
fn flag_line(text: &str, key: &str) -> Option<usize> {
    let flag = format!("--{key}");
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for (n, line) in text.lines().enumerate() {
        let code = strip_comment(line);
        let mut rest = code;
        let mut offset = 0;
        while let Some(pos) = rest.find(&flag) {
            let start = offset + pos;
            let end = start + flag.len();
            let before_ok = code[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !is_word(c));
            let after_ok = code[end..].chars().next().is_none_or(|c| !is_word(c));
            if before_ok && after_ok {
                return Some(n + 1);
            }
            offset = end;
            rest = &code[end..];
        }
    }
    None
}

/// `line` without a shell comment: `#` at the start or after whitespace (not `${#x}`, `$#`).
fn strip_comment(line: &str) -> &str {
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        if c == '#' && prev.is_whitespace() {
            return &line[..i];
        }
        prev = c;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::flag_line;

    #[test]
    fn whole_flags_only() {
        let s = "# --mem-fraction-static 1\npython3 x --mem-fraction-static-x 2 \\\n  --mem-fraction-static 0.8\n";
        assert_eq!(flag_line(s, "mem-fraction-static"), Some(3));
        assert_eq!(flag_line("a --context-length=4", "context-length"), Some(1));
        assert_eq!(
            flag_line("a --max-context-length 4", "context-length"),
            None
        );
    }
}
