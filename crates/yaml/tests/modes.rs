//! The two ways files are read: the config (environment, `_file` keys) and profiles
//! (literal text), and the located errors both get.

use std::collections::HashMap;

use nocwatch_yaml::{Context, Location, from_node, parse};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Symbol {
    name: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[test]
fn literal_mode_keeps_dollars_and_has_no_file_keys() {
    let node = parse("name: ${NOT_EXPANDED}\ntags: a,b\n").unwrap();
    let parsed: Symbol = from_node(&node, "", &Context::LITERAL).unwrap();
    assert_eq!(parsed.name, "${NOT_EXPANDED}");
    assert_eq!(parsed.tags, ["a", "b"]);

    let node = parse("name: x\nname_file: /etc/passwd\n").unwrap();
    let error = from_node::<Symbol>(&node, "", &Context::LITERAL).unwrap_err();
    assert!(error.message.contains("unknown key `name_file`"), "{error}");
    assert_eq!(error.location, Some(Location { line: 2, column: 1 }));
}

#[test]
fn config_mode_expands_variables() {
    let env: HashMap<String, String> = [("NAME".to_owned(), "ifInOctets".to_owned())].into();
    let ctx = Context { env: Some(&env), base_dir: None };
    let node = parse("name: ${NAME}\n").unwrap();
    let parsed: Symbol = from_node(&node, "", &ctx).unwrap();
    assert_eq!(parsed.name, "ifInOctets");
}

#[test]
fn errors_carry_line_column_and_path() {
    let node = parse("name: a\ntags:\n  - x\n  - [y]\n").unwrap();
    let error = from_node::<Symbol>(&node, "metrics[2]", &Context::LITERAL).unwrap_err();
    assert_eq!(error.location, Some(Location { line: 4, column: 5 }));
    assert_eq!(error.path.as_deref(), Some("metrics[2].tags[1]"));
}
