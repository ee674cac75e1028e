//! Every vendor sample under shared/testdata/syslog, parsed and checked
//! against what the line itself says (an independent reading, not the parser's).
//!
//! - a line that starts like syslog (a PRI, or a BSD date) parses without error;
//! - every `%FAC-[SUB-]SEV-MNEMONIC:` tag shows up in the cisco.* attributes;
//! - every `k="v"` in a `[junos@...]` element shows up in structured data;
//! - every RT_FLOW / APPTRACK event name ends up in `msg_id`;
//! - anything else is the explicit fallback: whole line, `Unknown`, `no_header`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use nocwatch_syslog::{Message, ParseError, Protocol, parse};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/syslog")
}

/// (file, line) for every sample line, from every sample file.
fn sample_lines() -> Vec<(String, String)> {
    let root = testdata();
    let mut files = Vec::new();
    for dir in
        ["collected", "elastic-integrations/cisco_ios", "elastic-integrations/juniper_srx", "logstash-patterns-core"]
    {
        let entries =
            std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("reading {}: {e}", root.join(dir).display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let is_sample = match dir {
                "collected" => name.ends_with(".txt") && name != "README.txt",
                "logstash-patterns-core" => name.ends_with("-messages.txt"),
                _ => name.ends_with(".log"),
            };
            if is_sample {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut lines = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        lines.extend(text.lines().filter(|l| !l.is_empty()).map(|l| (name.clone(), l.to_owned())));
    }
    lines
}

/// Starts with `<digits>` or a BSD `Mmm dd ` date: a syslog line.
fn looks_like_syslog(line: &str) -> bool {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = line.as_bytes();
    if b.first() == Some(&b'<') {
        let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        return (1..=3).contains(&digits) && b.get(1 + digits) == Some(&b'>');
    }
    MONTHS.iter().any(|m| line.starts_with(m))
        && b.get(3) == Some(&b' ')
        && b.get(4).is_some_and(|c| c.is_ascii_digit() || *c == b' ')
}

/// The first Cisco tag in the line: (facility, severity, mnemonic).
fn cisco_tag(line: &str) -> Option<(String, String, String)> {
    for (at, _) in line.match_indices('%') {
        let rest = &line[at + 1..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(rest.len());
        let after = &rest[end..];
        if !(after.is_empty() || after.starts_with(':') || after.starts_with(" :")) {
            continue;
        }
        let parts: Vec<&str> = rest[..end].split('-').collect();
        let n = parts.len();
        if n >= 3 && parts[n - 2].len() == 1 && ("0"..="7").contains(&parts[n - 2]) {
            return Some((parts[0].into(), parts[n - 2].into(), parts[n - 1].into()));
        }
    }
    None
}

/// The `k="v"` pairs of the first `[junos@...]` element, unescaped, read the
/// simple way (also accepting the typographic quotes found in one sample).
fn junos_params(line: &str) -> Option<Vec<(String, String)>> {
    let start = line.find("[junos@")?;
    let mut chars = line[start..].chars().skip_while(|&c| c != ' ').peekable();
    let mut params = Vec::new();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek() == Some(&']') || chars.peek().is_none() {
            return Some(params);
        }
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let close = match chars.next() {
            Some('"') => '"',
            Some('\u{201C}' | '\u{201D}') => '\u{201D}',
            other => panic!("unexpected {other:?} after {name}= in {line}"),
        };
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' if close == '"' => match chars.next() {
                    Some(e @ ('"' | '\\' | ']')) => value.push(e),
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => break,
                },
                c if c == close => break,
                c => value.push(c),
            }
        }
        params.push((name.trim().to_owned(), value));
    }
}

/// `RT_FLOW_SESSION_CREATE`-style event names (RT_FLOW and APPTRACK).
fn flow_event(line: &str) -> Option<&str> {
    let at = ["RT_FLOW_SESSION_", "APPTRACK_SESSION_"].iter().filter_map(|p| line.find(p)).min()?;
    let rest = &line[at..];
    let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn all_params<'m>(m: &'m Message<'_>) -> Vec<(&'m str, &'m str)> {
    m.structured_data.iter().flat_map(|e| e.params.iter()).map(|p| (p.name.as_ref(), p.value.as_ref())).collect()
}

#[test]
fn every_sample_line_parses_with_vendor_fields() {
    let ctx = common::ctx();
    let lines = sample_lines();
    let (mut syslog, mut fallback, mut cisco, mut junos, mut flows) = (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for (file, line) in &lines {
        let m = parse(line.as_bytes(), &ctx);
        let mut fail = |what: String| failures.push(format!("{file}: {what}\n    {line}"));

        if looks_like_syslog(line) {
            syslog += 1;
            if m.parse_error.is_some() || m.protocol == Protocol::Unknown {
                fail(format!("parse_error {:?}, protocol {:?}", m.parse_error, m.protocol));
            }
        } else {
            fallback += 1;
            if m.protocol != Protocol::Unknown
                || m.parse_error != Some(ParseError::NoHeader)
                || m.message != line.as_str()
            {
                fail(format!(
                    "expected the whole-line fallback, got {:?} {:?} {:?}",
                    m.protocol, m.parse_error, m.message
                ));
            }
        }

        if let Some((facility, severity, mnemonic)) = cisco_tag(line) {
            cisco += 1;
            let got = (m.attribute("cisco.facility"), m.attribute("cisco.severity"), m.attribute("cisco.mnemonic"));
            let want = (Some(&*facility), Some(&*severity), Some(&*mnemonic));
            if got != want {
                fail(format!("cisco tag: got {got:?}, want {want:?}"));
            }
            if m.severity.is_none() {
                fail("no severity".into());
            }
        }

        if let Some(params) = junos_params(line) {
            junos += 1;
            let got = all_params(&m);
            let want: Vec<_> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            if got != want {
                fail(format!("junos params: got {got:?}\n    want {want:?}"));
            }
            if !m.structured_data[0].id.starts_with("junos@") {
                fail(format!("sd id {}", m.structured_data[0].id));
            }
        }

        if let Some(event) = flow_event(line) {
            flows += 1;
            if m.msg_id.as_deref() != Some(event) {
                fail(format!("flow event: got {:?}, want {event}", m.msg_id));
            }
        }
    }
    eprintln!(
        "{} lines: {syslog} syslog, {fallback} not syslog; {cisco} Cisco tags, {junos} Junos SD lines, {flows} flow events",
        lines.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // Guard against the sample set silently shrinking (or the readers above
    // silently matching nothing).
    assert!(lines.len() >= 190, "only {} sample lines", lines.len());
    assert!(cisco >= 70 && junos >= 40 && flows >= 25, "{cisco} {junos} {flows}");
    assert!(fallback >= 20, "{fallback}");
}
