//! A record's own concurrencies: the loads its next job's benchmark measures instead of
//! `--profiler`'s list (`"concurrencies": [24, 32, 45]`, set by `sweep-collect --next-round`,
//! the adaptive search's follow-up rounds).
//!
//! They are part of what a submission *is*: the same combination measured at other loads is
//! another measurement, so never twice holds per combination and concurrencies (a follow-up
//! round is submitted once, and a round already pending, running or completed is not
//! submitted again). A submission without them measured `--profiler`'s list. Written
//! `24x32x45` where they are text (the tag, `--profiler`'s own syntax).

/// Checks a list: at least one, each a positive integer, strictly ascending (so one set of
/// loads has one spelling, and one identity).
pub fn check(c: &[u64]) -> Result<(), String> {
    if c.is_empty() {
        return Err("concurrencies: an empty list (give at least one, or leave the field out to measure --profiler's)".to_string());
    }
    if c.contains(&0) {
        return Err(format!(
            "concurrencies {c:?}: each must be a positive integer"
        ));
    }
    if c.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "concurrencies {c:?}: must be in ascending order, each once"
        ));
    }
    Ok(())
}

/// `24x32x45`.
pub fn text(c: &[u64]) -> String {
    c.iter().map(u64::to_string).collect::<Vec<_>>().join("x")
}

/// The list written as [`text`] writes it; `None` for anything else (or a list [`check`]
/// refuses).
pub fn parse(text: &str) -> Option<Vec<u64>> {
    let c: Vec<u64> = text
        .split('x')
        .map(|n| {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                n.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    check(&c).ok()?;
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_set_of_loads() {
        assert_eq!(text(&[24, 32, 45]), "24x32x45");
        assert_eq!(parse("24x32x45"), Some(vec![24, 32, 45]));
        assert_eq!(parse(&text(&[7])), Some(vec![7]));
        for bad in ["", "x", "24x", "32x24", "24x24", "0x3", "+1", "1x-2", "a"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(check(&[]).is_err());
        assert!(check(&[3, 2]).is_err());
        assert!(check(&[0]).is_err());
        assert!(check(&[1, 2, 1000]).is_ok());
    }
}
