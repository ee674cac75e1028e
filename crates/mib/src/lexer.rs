//! The SMI tokenizer: bytes in (MIB files are often Latin-1, sometimes have stray
//! control characters), tokens with line numbers out. ASN.1 comments run from `--`
//! to the end of the line or to the next `--`, as in net-snmp's default mode.

/// What a token is. Text is recovered from the source by span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// Identifier or keyword: letters, digits, `-`, `_` (vendors use `_`).
    Ident,
    /// Unsigned decimal number (a leading `-` is its own `Minus` token).
    Number,
    /// `"..."` (span includes the quotes).
    Str,
    /// `'0101'B` or `'0aff'H` (span includes the quotes and suffix).
    BinOrHex,
    Assign,
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Semi,
    Comma,
    Bar,
    DotDot,
    Dot,
    Minus,
    /// Any other byte (e.g. `<`, `@`): the parser decides whether it matters.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokKind,
    pub start: u32,
    pub end: u32,
    pub line: u32,
}

/// Problems the lexer found (the token stream is still usable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexProblem {
    pub line: u32,
    pub message: &'static str,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Splits `src` into tokens. Never fails: unterminated strings run to the end of
/// the file and are reported.
pub(crate) fn tokenize(src: &[u8]) -> (Vec<Token>, Vec<LexProblem>) {
    let mut tokens = Vec::with_capacity(src.len() / 6);
    let mut problems = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    let len = src.len();
    // Inside `X MACRO ::= BEGIN ... END` strings are grammar literals ("SYNTAX"
    // Syntax), so the stray-quote repair must not look at what follows them.
    let mut in_macro = false;
    while i < len {
        let b = src[i];
        let start = i;
        let token_line = line;
        let kind = match b {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'-' if src.get(i + 1) == Some(&b'-') => {
                // Comment: to end of line or the next "--".
                i += 2;
                while i < len && src[i] != b'\n' {
                    if src[i] == b'-' && src.get(i + 1) == Some(&b'-') {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'"' => {
                let (end, lines, repaired) = scan_string(src, i, in_macro);
                line += lines;
                if end > len {
                    problems.push(LexProblem { line: token_line, message: "unterminated string" });
                } else if repaired {
                    problems.push(LexProblem {
                        line: token_line,
                        message: "stray '\"' inside a quoted string (text after it is not SMI); treated as part of the string",
                    });
                }
                i = end.min(len);
                TokKind::Str
            }
            b'\'' => {
                // '...'B / '...'H; a lone quote is just an odd byte.
                let mut j = i + 1;
                while j < len && src[j] != b'\'' && src[j] != b'\n' {
                    j += 1;
                }
                if j < len && src[j] == b'\'' && matches!(src.get(j + 1), Some(b'B' | b'b' | b'H' | b'h')) {
                    i = j + 2;
                    TokKind::BinOrHex
                } else {
                    i += 1;
                    TokKind::Other
                }
            }
            b':' if src.get(i + 1) == Some(&b':') && src.get(i + 2) == Some(&b'=') => {
                i += 3;
                TokKind::Assign
            }
            b'{' => {
                i += 1;
                TokKind::LBrace
            }
            b'}' => {
                i += 1;
                TokKind::RBrace
            }
            b'(' => {
                i += 1;
                TokKind::LParen
            }
            b')' => {
                i += 1;
                TokKind::RParen
            }
            b'[' => {
                i += 1;
                TokKind::LBracket
            }
            b']' => {
                i += 1;
                TokKind::RBracket
            }
            b';' => {
                i += 1;
                TokKind::Semi
            }
            b',' => {
                i += 1;
                TokKind::Comma
            }
            b'|' => {
                i += 1;
                TokKind::Bar
            }
            b'.' if src.get(i + 1) == Some(&b'.') => {
                i += 2;
                TokKind::DotDot
            }
            b'.' => {
                i += 1;
                TokKind::Dot
            }
            b'-' => {
                i += 1;
                TokKind::Minus
            }
            b'0'..=b'9' => {
                while i < len && src[i].is_ascii_digit() {
                    i += 1;
                }
                // "3com-foo" style labels are identifiers.
                if i < len && (src[i].is_ascii_alphabetic() || src[i] == b'_') {
                    i = scan_ident(src, i);
                    TokKind::Ident
                } else {
                    TokKind::Number
                }
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                i = scan_ident(src, i + 1);
                match &src[start..i] {
                    b"MACRO" => in_macro = true,
                    b"END" => in_macro = false,
                    _ => {}
                }
                TokKind::Ident
            }
            _ => {
                i += 1;
                TokKind::Other
            }
        };
        tokens.push(Token { kind, start: start as u32, end: i as u32, line: token_line });
    }
    (tokens, problems)
}

/// How many extra quotes a string may swallow when repairing a stray `"`.
const MAX_STRAY_QUOTES: usize = 4;

/// The string opening at `start`: (index after its closing quote — `len + 1` if
/// unterminated —, newlines inside, whether a stray quote was skipped).
///
/// Vendor MIBs sometimes have a stray `"` inside a DESCRIPTION ("... 32Gbit."
/// followed by more description and another closing quote). Taken literally it
/// flips every later string of the file inside out. A closing quote is only
/// accepted where SMI can continue: punctuation, a comment, an ALL-CAPS keyword;
/// otherwise a later quote that is followed by such a thing closes the string.
fn scan_string(src: &[u8], start: usize, literal: bool) -> (usize, u32, bool) {
    let max_stray = if literal { 0 } else { MAX_STRAY_QUOTES };
    let quotes = src[start + 1..].iter().enumerate().filter(|(_, b)| **b == b'"').map(|(k, _)| start + 1 + k);
    let mut first = None;
    for (n, quote) in quotes.take(max_stray + 1).enumerate() {
        if first.is_none() {
            first = Some(quote);
        }
        if literal || plausible_string_end(src, quote + 1) {
            let newlines = src[start..quote].iter().filter(|&&b| b == b'\n').count() as u32;
            return (quote + 1, newlines, n > 0);
        }
    }
    match first {
        Some(quote) => (quote + 1, src[start..quote].iter().filter(|&&b| b == b'\n').count() as u32, false),
        None => (src.len() + 1, src[start..].iter().filter(|&&b| b == b'\n').count() as u32, false),
    }
}

fn plausible_string_end(src: &[u8], mut i: usize) -> bool {
    while i < src.len() && src[i].is_ascii_whitespace() {
        i += 1;
    }
    let Some(&b) = src.get(i) else { return true };
    match b {
        b'}' | b')' | b',' | b'{' | b'"' | b';' | b'|' | b'.' => true,
        b':' => src[i..].starts_with(b"::="),
        b'-' => src[i..].starts_with(b"--"),
        b'A'..=b'Z' => {
            let mut j = i;
            while j < src.len() && (src[j].is_ascii_uppercase() || src[j].is_ascii_digit() || src[j] == b'-') {
                j += 1;
            }
            let word_ends = j >= src.len() || !(src[j].is_ascii_alphanumeric() || src[j] == b'_');
            let colon = src.get(j) == Some(&b':') && !src[j..].starts_with(b"::=");
            j - i >= 2 && word_ends && !colon
        }
        _ => false,
    }
}

/// Identifier bytes from `i`; stops before a `--` (a comment glued to the name)
/// and does not end an identifier with `-`.
fn scan_ident(src: &[u8], mut i: usize) -> usize {
    while i < src.len() && is_ident_byte(src[i]) {
        if src[i] == b'-' && (src.get(i + 1) == Some(&b'-') || !src.get(i + 1).is_some_and(|&b| is_ident_byte(b))) {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokKind, String)> {
        let (tokens, _) = tokenize(src.as_bytes());
        tokens.iter().map(|t| (t.kind, src[t.start as usize..t.end as usize].to_string())).collect()
    }

    #[test]
    fn comments_end_at_line_or_double_dash() {
        let toks = kinds("a -- c1 -- b\n-- whole line\nc ------------\nd");
        let names: Vec<_> = toks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn punctuation_numbers_and_strings() {
        let toks = kinds("x ::= { a(1) -2 } \"s\ntwo\" '0A'H (0..255) 3com_x foo-bar-");
        let got: Vec<_> = toks.iter().map(|(k, _)| *k).collect();
        use TokKind::*;
        assert_eq!(
            got,
            [
                Ident, Assign, LBrace, Ident, LParen, Number, RParen, Minus, Number, RBrace, Str, BinOrHex, LParen,
                Number, DotDot, Number, RParen, Ident, Ident, Minus
            ]
        );
        assert_eq!(toks[17].1, "3com_x");
        assert_eq!(toks[18].1, "foo-bar");
    }

    #[test]
    fn stray_quote_inside_a_description_is_repaired() {
        let src = "DESCRIPTION \"speeds:\n tenG (8).\"\n fiftyG (14).\"\n SYNTAX INTEGER { a(1) }\nx DESCRIPTION \"ok\" ::= 1";
        let (tokens, problems) = tokenize(src.as_bytes());
        let texts: Vec<_> = tokens.iter().map(|t| &src[t.start as usize..t.end as usize]).collect();
        assert_eq!(texts[0], "DESCRIPTION");
        assert!(texts[1].ends_with("(14).\""), "{}", texts[1]);
        assert_eq!(texts[2], "SYNTAX");
        assert_eq!(tokens[2].line, 4);
        assert_eq!(problems.len(), 1);
        // A well-formed string followed by a keyword is left alone.
        assert_eq!(texts[texts.len() - 3], "\"ok\"");
    }

    #[test]
    fn lines_count_inside_strings() {
        let (tokens, problems) = tokenize(b"a\n\"x\ny\"\nb \"open");
        assert_eq!(tokens.iter().map(|t| t.line).collect::<Vec<_>>(), [1, 2, 4, 4]);
        assert_eq!(problems.len(), 1);
    }
}
