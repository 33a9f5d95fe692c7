//! Getting values into a bash script safely: single quotes for the body, a plain-character
//! check for `#SBATCH` lines (sbatch reads them itself, not bash) and pyxis mount lists.

use anyhow::{bail, Result};
use std::path::Path;

/// `value` as one bash word: `'...'`, each `'` written as `'\''`. Nothing inside single
/// quotes is expanded, so `$(...)`, backticks, `\` and newlines stay literal.
pub fn sh(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A value for an `#SBATCH` line: sbatch splits those lines itself, so whitespace, quotes,
/// backslashes and control characters cannot be carried safely.
pub fn check_header_value(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        bail!("{what} must not be empty");
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "'\"\\#".contains(*c))
    {
        bail!("{what} {value:?} cannot go on an #SBATCH line: it contains {c:?} (no whitespace, quotes, backslashes, '#' or control characters)");
    }
    Ok(())
}

/// A path for `#SBATCH --output`: as [`check_header_value`], and no `%` (Slurm's file-name
/// patterns).
pub fn check_header_path(what: &str, path: &Path) -> Result<()> {
    let s = path.to_string_lossy();
    check_header_value(what, &s)?;
    if s.contains('%') {
        bail!("{what} {s:?} cannot go on an #SBATCH line: '%' starts a Slurm file-name pattern");
    }
    Ok(())
}

/// A directory mounted with pyxis `--container-mounts=SRC:DST,...`: `,` and `:` would split
/// the list.
pub fn check_mount_source(what: &str, path: &Path) -> Result<()> {
    let s = path.to_string_lossy();
    if let Some(c) = s.chars().find(|c| *c == ',' || *c == ':' || c.is_control()) {
        bail!("{what} {s:?} cannot be mounted in the container: it contains {c:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sh;

    #[test]
    fn single_quotes() {
        assert_eq!(sh("plain"), "'plain'");
        assert_eq!(sh("it's"), "'it'\\''s'");
        assert_eq!(sh("$(touch x) `y`\n"), "'$(touch x) `y`\n'");
        assert_eq!(sh(""), "''");
    }
}
