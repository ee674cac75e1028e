//! `${VAR}` expansion inside config values, with the shell/compose forms operators know:
//! `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}` / `${VAR?message}` (fail with the message), and `$$` for a literal `$`.
//! A `$` not followed by `{` or `$` is kept as is, so `pa$word` needs no escaping.

use std::borrow::Cow;

/// Where variables come from: the process environment, or a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Expands every `${...}` in `text`. The error names the variable, never its value.
pub fn interpolate<'a>(text: &'a str, env: &dyn Env) -> Result<Cow<'a, str>, String> {
    if !text.contains('$') {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| format!("unterminated `${{` in `{}`", shorten(rest)))?;
            out.push_str(&expand(&after[..end], env)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn expand(expr: &str, env: &dyn Env) -> Result<String, String> {
    let name_end = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`${{{expr}}}` is not a valid variable reference"));
    }
    let value = env.var(name);
    let set_and_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (use_fallback, fallback) = if let Some(default) = op.strip_prefix(":-") {
        (!set_and_nonempty, Fallback::Default(default))
    } else if let Some(default) = op.strip_prefix('-') {
        (value.is_none(), Fallback::Default(default))
    } else if let Some(message) = op.strip_prefix(":?") {
        (!set_and_nonempty, Fallback::Fail(message))
    } else if let Some(message) = op.strip_prefix('?') {
        (value.is_none(), Fallback::Fail(message))
    } else if op.is_empty() {
        (value.is_none(), Fallback::Fail(""))
    } else {
        return Err(format!("`${{{expr}}}`: unknown operator `{op}` (use :-, -, :? or ?)"));
    };
    if !use_fallback {
        return Ok(value.unwrap_or_default());
    }
    match fallback {
        Fallback::Default(default) => Ok(default.to_owned()),
        Fallback::Fail("") => Err(format!("environment variable `{name}` is not set (and has no default)")),
        Fallback::Fail(message) => Err(format!("environment variable `{name}` is required: {message}")),
    }
}

enum Fallback<'a> {
    Default(&'a str),
    Fail(&'a str),
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<String, String> {
        [("HOST", "10.0.0.1"), ("EMPTY", ""), ("PORT", "161")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn expands_the_compose_forms() {
        let env = env();
        let cases = [
            ("${HOST}:${PORT}", "10.0.0.1:161"),
            ("${MISSING:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${EMPTY-fallback}", ""),
            ("${MISSING-fallback}", "fallback"),
            ("${MISSING:-}", ""),
            ("pa$word", "pa$word"),
            ("cost $$5 and $${HOST}", "cost $5 and ${HOST}"),
            ("trailing $", "trailing $"),
            ("no vars", "no vars"),
        ];
        for (input, expected) in cases {
            assert_eq!(interpolate(input, &env).unwrap(), expected, "input {input}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let env = env();
        let err = interpolate("${API_KEY}", &env).unwrap_err();
        assert!(err.contains("`API_KEY` is not set"), "{err}");
        let err = interpolate("${API_KEY:?set it from the secrets store}", &env).unwrap_err();
        assert!(err.contains("`API_KEY` is required: set it from the secrets store"), "{err}");
        let err = interpolate("${EMPTY:?must not be empty}", &env).unwrap_err();
        assert!(err.contains("EMPTY"), "{err}");
        assert!(interpolate("${EMPTY?x}", &env).unwrap().is_empty());
        assert!(interpolate("${HOST", &env).unwrap_err().contains("unterminated"));
        assert!(interpolate("${HOST:+x}", &env).unwrap_err().contains("unknown operator"));
        assert!(interpolate("${1X}", &env).unwrap_err().contains("not a valid"));
    }
}
