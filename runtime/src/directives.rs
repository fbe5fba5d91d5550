//! Directives: parsing and matching, nothing else. A directive list is
//! comma-separated; each directive is `on`, `off`, `+PATTERN` or
//! `-PATTERN`, where `PATTERN` is `::`-separated Rust identifiers in which
//! `*` matches any run of characters (see [`crate::control`] for how they
//! apply).

use std::fmt;

/// Name of the environment variable holding directives.
///
/// ```
/// assert_eq!(instrument_once::control::ENV_VAR, "INSTRUMENT_ONCE");
/// ```
pub const ENV_VAR: &str = "INSTRUMENT_ONCE";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Directive {
    All(bool),
    Pattern { on: bool, pattern: String },
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Directive::All(true) => f.write_str("on"),
            Directive::All(false) => f.write_str("off"),
            Directive::Pattern { on, pattern } => {
                write!(f, "{}{pattern}", if *on { '+' } else { '-' })
            }
        }
    }
}

/// An invalid directive.
///
/// ```
/// let err = instrument_once::control::set("+my_app::9lives").unwrap_err();
/// assert_eq!(err.directive(), "+my_app::9lives");
/// assert!(err.to_string().contains("identifier"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ParseError {
    pub(crate) directive: String,
    pub(crate) reason: &'static str,
    /// What a valid value looks like.
    pub(crate) expected: &'static str,
}

/// What a valid directive looks like.
const DIRECTIVE_SYNTAX: &str = "expected `on`, `off`, `+PATTERN` or `-PATTERN`, where PATTERN is \
                                `::`-separated identifiers in which `*` matches anything";

impl ParseError {
    /// The directive as written.
    ///
    /// ```
    /// assert_eq!(instrument_once::control::set("x y").unwrap_err().directive(), "x y");
    /// ```
    pub fn directive(&self) -> &str {
        &self.directive
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid instrument_once setting `{}`: {}; {}",
            self.directive, self.reason, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

fn parse_one(raw: &str) -> Result<Option<Directive>, ParseError> {
    let d = raw.trim();
    let err = |reason| ParseError {
        directive: d.to_owned(),
        reason,
        expected: DIRECTIVE_SYNTAX,
    };
    match d {
        "" => return Ok(None),
        "on" => return Ok(Some(Directive::All(true))),
        "off" => return Ok(Some(Directive::All(false))),
        _ => {}
    }
    let (on, pattern) = match d.as_bytes()[0] {
        b'+' => (true, &d[1..]),
        b'-' => (false, &d[1..]),
        _ => {
            return Err(err(
                "a directive starts with `+` or `-`, or is `on` or `off`",
            ))
        }
    };
    if pattern.is_empty() {
        return Err(err("the pattern is empty"));
    }
    for segment in pattern.split("::") {
        let valid = !segment.is_empty()
            && segment
                .chars()
                .all(|c| c == '_' || c == '*' || c.is_alphanumeric())
            && !segment.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(err(
                "each `::`-separated part must be a Rust identifier, optionally with `*`",
            ));
        }
    }
    Ok(Some(Directive::Pattern {
        on,
        pattern: pattern.to_owned(),
    }))
}

pub(crate) fn parse_strict(s: &str) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::new();
    for raw in s.split(',') {
        if let Some(d) = parse_one(raw)? {
            out.push(d);
        }
    }
    Ok(out)
}

pub(crate) fn parse_lenient(s: &str) -> (Vec<Directive>, Vec<ParseError>) {
    let mut out = Vec::new();
    let mut invalid = Vec::new();
    for raw in s.split(',') {
        match parse_one(raw) {
            Ok(Some(d)) => out.push(d),
            Ok(None) => {}
            Err(e) => invalid.push(e),
        }
    }
    (out, invalid)
}

/// Whether `pattern` matches `name` entirely, or a `::`-boundary prefix of it.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    if glob(pattern.as_bytes(), name.as_bytes()) {
        return true;
    }
    name.match_indices("::")
        .any(|(i, _)| glob(pattern.as_bytes(), &name.as_bytes()[..i]))
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names_and_module_prefixes() {
        assert!(matches("my_app::db", "my_app::db::load"));
        assert!(matches("my_app::db::load", "my_app::db::load"));
        assert!(!matches("my_app::db", "my_app::dbx::load"));
        assert!(matches("*::hot_*", "my_app::db::hot_path"));
        assert!(!matches("*::hot_*", "my_app::db::cold"));
        assert!(matches("*", "a::b"));
        assert!(matches("my_*::db", "my_app::db::load"));
    }

    #[test]
    fn parse_rejects_bad_directives_and_names_them() {
        for bad in ["db", "+", "-a::", "+a::::b", "-9x", "+a b", "-a.b"] {
            let e = parse_strict(bad).unwrap_err();
            assert_eq!(e.directive(), bad.trim());
        }
        assert_eq!(
            parse_strict(" off , +a::b ,").unwrap(),
            vec![
                Directive::All(false),
                Directive::Pattern {
                    on: true,
                    pattern: "a::b".into()
                }
            ]
        );
        let (ok, bad) = parse_lenient("-a,zz,+b");
        assert_eq!(ok.len(), 2);
        assert_eq!(bad.len(), 1);
    }
}
