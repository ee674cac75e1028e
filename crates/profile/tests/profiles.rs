//! Loading: every shared profile (Datadog's and netdata's) loads; effective metric lists
//! after `extends` match an independent flattening done here over the raw YAML tree;
//! sysObjectID matching; errors name file, line and field.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use nocwatch_profile::Profiles;
use nocwatch_snmp::Oid;
use nocwatch_yaml::{Node, NodeKind};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata").join(rel)
}

fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn oid(text: &str) -> Oid {
    text.parse().expect("oid")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shared_profile_loads() {
    for dir in ["profiles/datadog", "profiles/netdata"] {
        let dir = testdata(dir);
        let profiles = Profiles::load(std::slice::from_ref(&dir)).unwrap_or_else(|e| panic!("{e}"));
        let files = yaml_files(&dir);
        assert!(files.len() >= 5, "{}", dir.display());
        for file in files {
            let name = file.file_stem().and_then(|s| s.to_str()).expect("name");
            let profile = profiles.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(profile.source, file, "{name} comes from the user directory");
        }
    }
}

#[test]
fn every_bundled_file_is_compiled_in_and_loads() {
    let profiles = Profiles::bundled();
    let files = yaml_files(&bundled_dir());
    assert_eq!(profiles.len(), files.len(), "a file in profiles/ is missing from load::BUNDLED");
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("name");
        assert!(profiles.get(name).is_some(), "{name} is not bundled");
    }
}

// --- An independent flattening over the YAML node tree, to check `extends` ---

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.kind {
        NodeKind::Mapping(entries) => entries.iter().find(|(k, _)| k.key_text() == Some(key)).map(|(_, v)| v),
        _ => None,
    }
}

fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Sequence(items)) => items,
        _ => &[],
    }
}

fn text(node: Option<&Node>) -> Option<&str> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Scalar { text, .. }) => Some(text),
        _ => None,
    }
}

/// Metric names of one file, in order: `symbol.name`, legacy `name`, `symbols[].name`.
fn own_metric_names(root: &Node) -> Vec<String> {
    let mut names = Vec::new();
    for metric in items(get(root, "metrics")) {
        let symbols = items(get(metric, "symbols"));
        if symbols.is_empty() {
            let name = get(metric, "symbol").and_then(|s| text(get(s, "name"))).or_else(|| text(get(metric, "name")));
            names.extend(name.map(str::to_owned));
        } else {
            names.extend(symbols.iter().filter_map(|s| text(get(s, "name"))).map(str::to_owned));
        }
    }
    names
}

fn expected_metric_names(name: &str, files: &BTreeMap<String, Node>) -> Vec<String> {
    fn visit(name: &str, files: &BTreeMap<String, Node>, seen: &mut HashSet<String>, out: &mut Vec<String>) {
        let root = &files[name];
        for base in items(get(root, "extends")) {
            let base = text(Some(base)).expect("extends entry").trim_end_matches(".yaml").to_owned();
            if seen.insert(base.clone()) {
                out.extend(own_metric_names(&files[&base]));
                visit(&base, files, seen, out);
            }
        }
    }
    let mut out = own_metric_names(&files[name]);
    visit(name, files, &mut HashSet::from([name.to_owned()]), &mut out);
    let mut unique = Vec::new();
    for name in out {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}

fn raw_files(user_dir: &Path) -> BTreeMap<String, Node> {
    let mut files = BTreeMap::new();
    for dir in [bundled_dir(), user_dir.to_owned()] {
        for file in yaml_files(&dir) {
            let name = file.file_stem().and_then(|s| s.to_str()).expect("name").to_owned();
            let node = nocwatch_yaml::parse(&std::fs::read_to_string(&file).expect("read")).expect("yaml");
            files.insert(name, node);
        }
    }
    files
}

#[test]
fn effective_metric_lists_follow_extends() {
    for dir in ["profiles/datadog", "profiles/netdata"] {
        let dir = testdata(dir);
        let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
        let files = raw_files(&dir);
        for name in files.keys() {
            let profile = profiles.get(name).expect("profile");
            let expected = expected_metric_names(name, &files);
            assert_eq!(profile.metric_names(), expected, "{name} in {}", dir.display());
        }
    }
}

#[test]
fn effective_metric_lists_of_a_few_written_out() {
    let dir = testdata("profiles/datadog");
    let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
    // datadog/_generic-if.yaml, read by eye: the scalar, then each table's symbols.
    let generic_if = [
        "ifNumber",
        "ifInErrors",
        "ifInDiscards",
        "ifOutErrors",
        "ifOutDiscards",
        "ifAdminStatus",
        "ifOperStatus",
        "ifSpeed",
        "ifHCInUcastPkts",
        "ifHCInMulticastPkts",
        "ifHCInBroadcastPkts",
        "ifHCOutUcastPkts",
        "ifHCOutMulticastPkts",
        "ifHCOutBroadcastPkts",
        "ifHCInOctets",
        "ifHCOutOctets",
        "ifHighSpeed",
    ];
    assert_eq!(profiles.get("_generic-if").expect("if").metric_names(), generic_if);
    // datadog/_base.yaml has no metrics; its sysName tags are profile-level.
    assert!(profiles.get("_base").expect("base").metric_names().is_empty());
    // datadog/juniper-srx.yaml has no metrics of its own: _base (none), then _generic-if
    // (the user's copy above), then our bundled _generic-ip... in `extends` order.
    let srx = profiles.get("juniper-srx").expect("srx");
    let names = srx.metric_names();
    assert_eq!(&names[..generic_if.len()], generic_if);
    assert_eq!(names[generic_if.len()], "ipSystemStatsHCInReceives");
    // datadog/cisco-catalyst.yaml: _cisco-generic (bundled) first, then the user's
    // _cisco-catalyst mixin (entSensorValue, cieIf*).
    let catalyst = profiles.get("cisco-catalyst").expect("catalyst");
    let catalyst = catalyst.metric_names();
    assert_eq!(catalyst[0], "cpu.usage");
    assert!(catalyst.contains(&"entSensorValue") && catalyst.contains(&"cieIfInputQueueDrops"));
    assert!(catalyst.contains(&"ifHCInOctets") && catalyst.contains(&"memory.used"));
}

#[test]
fn sys_object_id_most_specific_match_wins() {
    let profiles = Profiles::bundled();
    let name = |text: &str| profiles.for_sys_object_id(&oid(text)).map(|p| p.name.clone());
    assert_eq!(name(".1.3.6.1.4.1.9.1.617").as_deref(), Some("cisco-catalyst"));
    assert_eq!(name(".1.3.6.1.4.1.2636.1.1.1.2.35").as_deref(), Some("juniper-srx"));
    assert_eq!(name(".1.3.6.1.4.1.2636.1.1.1.4.35.2").as_deref(), Some("juniper-srx"));
    assert_eq!(name(".1.3.6.1.4.1.2636.1.1.1.2.21").as_deref(), Some("juniper-mx"));
    // Unknown devices get the generic fallback.
    assert_eq!(name(".1.3.6.1.4.1.8072.3.2.10").as_deref(), Some("generic-device"));

    let dir = tempdir("matching");
    write(&dir, "cisco-any.yaml", "extends: [_base.yaml]\nsysobjectid: 1.3.6.1.4.1.9.*\n");
    write(&dir, "cisco-1.yaml", "extends: [_base.yaml]\nsysobjectid:\n  - 1.3.6.1.4.1.9.1.*\n");
    write(&dir, "my-3560.yaml", "sysobjectid: [1.3.6.1.4.1.9.1.617]\n");
    let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
    let name = |text: &str| profiles.for_sys_object_id(&oid(text)).map(|p| p.name.clone());
    // Exact beats both wildcards; a user profile beats a bundled one with the same pattern.
    assert_eq!(name("1.3.6.1.4.1.9.1.617").as_deref(), Some("my-3560"));
    // 1.3.6.1.4.1.9.1.* is longer than 1.3.6.1.4.1.9.*.
    assert_eq!(name("1.3.6.1.4.1.9.1.99999").as_deref(), Some("cisco-1"));
    assert_eq!(name("1.3.6.1.4.1.9.12.3").as_deref(), Some("cisco-any"));
    // `*` also spans dots, as in Datadog.
    assert_eq!(name("1.3.6.1.4.1.9.1.5.6").as_deref(), Some("cisco-1"));
    assert_eq!(profiles.get("my-3560").expect("get").sys_object_ids().collect::<Vec<_>>(), ["1.3.6.1.4.1.9.1.617"]);
}

#[test]
fn user_profile_overrides_bundled_by_name_also_for_extends() {
    let dir = tempdir("override");
    write(
        &dir,
        "_generic-tcp.yaml",
        "metrics:\n  - symbol:\n      OID: 1.3.6.1.2.1.6.9.0\n      name: onlyThisTcpMetric\n",
    );
    let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
    let generic = profiles.get("generic-device").expect("generic");
    let generic = generic.metric_names();
    assert!(generic.contains(&"onlyThisTcpMetric"));
    assert!(!generic.contains(&"tcpActiveOpens"));
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nocwatch-profile-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write");
}

/// Loads one bad profile and returns the error text.
fn load_error(case: &str, text: &str) -> String {
    let dir = tempdir(case);
    write(&dir, "bad.yaml", text);
    let error = Profiles::load(std::slice::from_ref(&dir)).expect_err("should fail").to_string();
    assert!(error.contains("bad.yaml"), "{error}");
    error
}

#[test]
fn errors_name_file_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown key, with a suggestion",
            "metrics:\n  - MIB: IF-MIB\n    symbol:\n      OID: 1.3.6.1.2.1.2.1.0\n      nmae: ifNumber\n",
            "bad.yaml:5:7: metrics[0].symbol.nmae: unknown key `nmae`; did you mean `name`?",
        ),
        (
            "bad OID",
            "metrics:\n  - symbol:\n      OID: 1.3.6.x\n      name: a\n",
            "bad.yaml:3:12: metrics[0].symbol.OID: `1.3.6.x` is not a numeric OID",
        ),
        (
            "bad regex",
            "metrics:\n  - symbol:\n      OID: 1.3.6.1\n      name: a\n      extract_value: '(['\n",
            "bad.yaml:5:22: metrics[0].symbol.extract_value: invalid regular expression",
        ),
        (
            "metric without a name",
            "metrics:\n  - table:\n      OID: 1.3.6.1.2.1.2.2\n    symbols:\n      - OID: 1.3.6.1.2.1.2.2.1.10\n",
            "bad.yaml:5:9: metrics[0].symbols[0]: missing `name`",
        ),
        (
            "unknown metric type",
            "metrics:\n  - metric_type: gauges\n    symbol:\n      OID: 1.3.6.1\n      name: a\n",
            "bad.yaml:2:18: metrics[0].metric_type: unknown value `gauges`; did you mean `gauge`?",
        ),
        (
            "index 0",
            "metrics:\n  - table: {OID: 1.3.6.1.2.1.2.2}\n    symbols: [{OID: 1.3.6.1.2.1.2.2.1.10, name: x}]\n    metric_tags:\n      - index: 0\n        tag: i\n",
            "bad.yaml:5:9: metrics[0].metric_tags[0]: `index` is 1-based",
        ),
        (
            "missing base",
            "extends:\n  - _base.yaml\n  - _nope.yaml\n",
            "bad.yaml:3:5: extends[1]: no profile named `_nope`",
        ),
        (
            "sysobjectid pattern",
            "sysobjectid: [1.3.6.1.4.1.9.1.617, '1.3.6.1.4.1.9.a']\n",
            "bad.yaml:1:36: sysobjectid[1]: `1.3.6.1.4.1.9.a` is not a sysObjectID pattern",
        ),
        (
            "interface metadata field",
            "metadata:\n  interface:\n    fields:\n      speed:\n        value: '1'\n",
            "bad.yaml:5:9: metadata.interface.fields.speed: unknown interface field `speed`",
        ),
        ("not YAML", "metrics: [\n", "bad.yaml:2:1: invalid YAML"),
    ];
    for (what, text, expected) in cases {
        let error = load_error(&what.replace(' ', "-"), text);
        assert!(error.contains(expected), "{what}:\n  got      {error}\n  expected {expected}");
    }
}

#[test]
fn extends_cycles_are_refused_with_the_path() {
    let dir = tempdir("cycle");
    write(&dir, "a.yaml", "extends: [b.yaml]\n");
    write(&dir, "b.yaml", "extends:\n  - _base.yaml\n  - a.yaml\n");
    let error = Profiles::load(std::slice::from_ref(&dir)).expect_err("cycle").to_string();
    assert!(error.contains("`extends` cycle: a -> b -> a"), "{error}");
    assert!(error.contains("b.yaml:3:5: extends[1]"), "{error}");
}

#[test]
fn diamond_extends_merge_a_base_once() {
    let dir = tempdir("diamond");
    write(&dir, "top.yaml", "extends: [left.yaml, right.yaml]\n");
    write(&dir, "left.yaml", "extends: [_generic-udp.yaml]\n");
    write(&dir, "right.yaml", "extends: [_generic-udp.yaml]\n");
    let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
    let top = profiles.get("top").expect("top");
    let names = top.metric_names();
    assert_eq!(names, ["udpNoPorts", "udpInErrors", "udpHCInDatagrams", "udpHCOutDatagrams"]);
    let plan = profiles.get("top").expect("top").plan().clone();
    assert_eq!(plan.scalars.iter().filter(|o| o.arcs().starts_with(&[1, 3, 6, 1, 2, 1, 7])).count(), 4);
}

#[test]
fn profiles_are_literal_no_variable_expansion() {
    let dir = tempdir("literal");
    write(&dir, "lit.yaml", "static_tags: ['site:${SITE}']\nmetrics: [{symbol: {OID: 1.3.6.1.2.1.1.3.0, name: up}}]\n");
    let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
    let mut fetched = nocwatch_profile::Fetched::new();
    fetched.insert(oid("1.3.6.1.2.1.1.3.0"), nocwatch_snmp::Value::TimeTicks(5));
    let evaluation = profiles.get("lit").expect("lit").evaluate(&fetched);
    assert!(evaluation.tags.contains(&("site".to_owned(), "${SITE}".to_owned())), "{:?}", evaluation.tags);
}

#[test]
fn netdata_selectors_match_with_regexes_excludes_and_sysdescr() {
    let dir = testdata("profiles/netdata");
    let profiles = Profiles::load(std::slice::from_ref(&dir)).expect("load");
    let name = |text: &str, descr: Option<&str>| profiles.for_device(&oid(text), descr).map(|p| p.name.clone());
    // cisco-nexus.yaml: include '^1\.3\.6\.1\.4\.1\.9\.12\.3\.1\.3\..+$', exclude ...3.1062.
    assert_eq!(name("1.3.6.1.4.1.9.12.3.1.3.77", None).as_deref(), Some("cisco-nexus"));
    assert_ne!(name("1.3.6.1.4.1.9.12.3.1.3.1062", None).as_deref(), Some("cisco-nexus"));
    // cisco-nexus.yaml: a plain include entry.
    assert_eq!(name("1.3.6.1.4.1.9.1.1924", None).as_deref(), Some("cisco-nexus"));
    // synology-disk-station.yaml: the Net-SNMP identity only when sysDescr says synology.
    let linux = "1.3.6.1.4.1.8072.3.2.10";
    assert_eq!(
        name(linux, Some("Linux nas 4.4.180+ #42962 SMP synology_apollolake_918+")).as_deref(),
        Some("synology-disk-station")
    );
    assert_ne!(name(linux, Some("Linux server 6.1.0")).as_deref(), Some("synology-disk-station"));
    assert_ne!(name(linux, None).as_deref(), Some("synology-disk-station"));
    // 1.3.6.1.4.1.6574.* with no sysDescr condition.
    assert_eq!(name("1.3.6.1.4.1.6574.1", None).as_deref(), Some("synology-disk-station"));
}
