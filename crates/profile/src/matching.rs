//! `sysobjectid` patterns and "most specific match wins", as Datadog defines them: a
//! pattern is a dotted OID where `*` matches any run of characters (dots included), and
//! among the patterns that match, the one with more parts wins; at equal length, parts are
//! compared left to right with a literal number beating `*`.

use std::cmp::Ordering;

use nocwatch_snmp::Oid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysObjectIdPattern {
    /// Without a leading dot.
    text: String,
    /// Each part's number, or `None` for a part with a `*`.
    specificity: Vec<Option<u32>>,
}

impl SysObjectIdPattern {
    pub(crate) fn parse(text: &str) -> Result<SysObjectIdPattern, String> {
        let trimmed = text.trim();
        let body = trimmed.strip_prefix('.').unwrap_or(trimmed);
        if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '*') {
            return Err(format!("`{text}` is not a sysObjectID pattern (digits, dots and `*`)"));
        }
        let mut specificity = Vec::new();
        for part in body.split('.') {
            if part.is_empty() {
                return Err(format!("`{text}` has an empty part"));
            }
            specificity.push(if part.contains('*') {
                None
            } else {
                Some(part.parse().map_err(|_| format!("`{part}` in `{text}` is out of range"))?)
            });
        }
        Ok(SysObjectIdPattern { text: body.to_owned(), specificity })
    }

    /// The Datadog-style pattern a regex's literal OID prefix stands for: `^1\.3\.6\..+$`
    /// ranks like `1.3.6.*`. Used only to rank regex matches among the others.
    pub(crate) fn regex_prefix(regex: &str) -> SysObjectIdPattern {
        let body = regex.trim().strip_prefix('^').unwrap_or(regex.trim());
        let mut prefix = String::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '0'..='9' => prefix.push(c),
                '\\' if chars.peek() == Some(&'.') => {
                    chars.next();
                    prefix.push('.');
                }
                _ => break,
            }
        }
        let parts: Vec<&str> = prefix.split('.').filter(|p| !p.is_empty()).collect();
        let mut specificity: Vec<Option<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
        specificity.push(None);
        SysObjectIdPattern { text: body.to_owned(), specificity }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the dotted form of `oid` (no leading dot) matches.
    pub(crate) fn matches(&self, dotted: &str) -> bool {
        glob(self.text.as_bytes(), dotted.as_bytes())
    }

    /// `Greater` when `self` is more specific than `other`.
    pub(crate) fn specificity_cmp(&self, other: &SysObjectIdPattern) -> Ordering {
        self.specificity.len().cmp(&other.specificity.len()).then_with(|| {
            // None (wildcard) sorts before any number, as Datadog's -1.
            self.specificity.cmp(&other.specificity)
        })
    }
}

/// `oid` without its leading dot.
pub(crate) fn dotted(oid: &Oid) -> String {
    let text = oid.to_string();
    text.strip_prefix('.').map(str::to_owned).unwrap_or(text)
}

/// `*` matches any run of bytes; everything else literally. Iterative with one backtrack
/// point, so linear-ish and never recursive.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> SysObjectIdPattern {
        SysObjectIdPattern::parse(text).unwrap()
    }

    #[test]
    fn glob_matching() {
        assert!(p("1.3.6.1.4.1.9.1.617").matches("1.3.6.1.4.1.9.1.617"));
        assert!(!p("1.3.6.1.4.1.9.1.61").matches("1.3.6.1.4.1.9.1.617"));
        assert!(p("1.3.6.1.4.1.9.1.*").matches("1.3.6.1.4.1.9.1.617"));
        assert!(p("1.3.6.1.4.1.9.*").matches("1.3.6.1.4.1.9.1.617.5"));
        assert!(!p("1.3.6.1.4.1.9.1.*").matches("1.3.6.1.4.1.9.1"));
        assert!(p(".1.3.6.1.4.1.2636.1.1.1.4.26.*").matches("1.3.6.1.4.1.2636.1.1.1.4.26.3"));
        assert!(p("*").matches("1.2.3"));
        assert!(SysObjectIdPattern::parse("1.3.x").is_err());
        assert!(SysObjectIdPattern::parse("1..3").is_err());
    }

    #[test]
    fn specificity() {
        let exact = p("1.3.6.1.4.1.9.1.617");
        let wild = p("1.3.6.1.4.1.9.1.*");
        let shorter = p("1.3.6.1.4.1.9.*");
        assert_eq!(exact.specificity_cmp(&wild), Ordering::Greater);
        assert_eq!(wild.specificity_cmp(&shorter), Ordering::Greater);
        let regex = SysObjectIdPattern::regex_prefix(r"^1\.3\.6\.1\.4\.1\.9\.1\..+$");
        assert_eq!(regex.specificity_cmp(&wild), Ordering::Equal);
        assert_eq!(exact.specificity_cmp(&regex), Ordering::Greater);
    }
}
