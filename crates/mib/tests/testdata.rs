//! The real MIB collections of `../shared/testdata/mibs` (net-snmp's, the IETF's,
//! Cisco's, Juniper's): the share of modules that load, and agreement with net-snmp's
//! `snmptranslate` over the same directories — OID ↔ name for every object
//! (`-Tz`, one process), and syntax / textual convention / DISPLAY-HINT / enums /
//! notification OBJECTS for every object of a sample of modules (`-Td`, one process).
//!
//! Directory precedence: nocwatch lets the first configured directory win when two
//! files define the same module; net-snmp lets the last one win. So snmptranslate
//! gets the same directories in reverse order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nocwatch_mib::{BaseType, Compiled, Mibs, ModuleStatus, NodeKind};

const SETS: [&str; 4] = ["net-snmp", "rfc", "cisco", "juniper"];

fn dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mibs");
    SETS.iter().map(|set| root.join(set)).collect()
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| Mibs::compile(&dirs()).expect("the test MIB directories exist"))
}

fn snmptranslate(args: &[String]) -> String {
    let reversed: Vec<String> = dirs().iter().rev().map(|d| d.display().to_string()).collect();
    let output = Command::new("snmptranslate")
        .arg("-M")
        .arg(reversed.join(":"))
        .args(["-m", "ALL"])
        .args(args)
        .output()
        .expect("net-snmp's snmptranslate (Debian package `snmp`, installed by scripts/test)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn module_parse_share() {
    let compiled = compiled();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for module in &compiled.modules {
        *by_status.entry(format!("{:?}", module.status)).or_default() += 1;
    }
    let considered: Vec<_> = compiled.modules.iter().filter(|m| m.status != ModuleStatus::Shadowed).collect();
    let ok = considered.iter().filter(|m| m.status == ModuleStatus::Ok).count();
    let loaded = considered.iter().filter(|m| m.status != ModuleStatus::Failed).count();
    println!("modules by status: {by_status:?}");
    for m in considered.iter().filter(|m| m.status != ModuleStatus::Ok) {
        println!(
            "  {:?} {} ({}): {} linked, {} dropped, {} errors",
            m.status,
            m.name,
            m.file.display(),
            m.linked,
            m.dropped,
            m.errors
        );
    }
    let share_ok = ok as f64 / considered.len() as f64;
    let share_loaded = loaded as f64 / considered.len() as f64;
    println!(
        "without error: {ok}/{} = {:.2}%; loaded: {loaded} = {:.2}%",
        considered.len(),
        share_ok * 100.0,
        share_loaded * 100.0
    );
    assert!(considered.len() > 2000, "expected the whole collection, got {} modules", considered.len());
    assert!(share_ok >= 0.99, "share of modules without error {share_ok}");
    assert!(share_loaded >= 0.99, "share of modules loaded {share_loaded}");
    // Whole definitions count too: nearly everything gets an OID.
    let linked: u64 = considered.iter().map(|m| u64::from(m.linked)).sum();
    let dropped: u64 = considered.iter().map(|m| u64::from(m.dropped)).sum();
    println!("definitions: {linked} linked, {dropped} dropped");
    assert!(dropped * 1000 < linked, "{dropped} of {linked} definitions dropped");
}

/// net-snmp's made-up labels (TRAP-TYPE's "enterprise#", anonymous arcs) are not names.
fn is_real_name(name: &str) -> bool {
    !name.ends_with('#') && !name.starts_with("anonymous#")
}

fn parse_oid(text: &str) -> Option<Vec<u32>> {
    text.trim_start_matches('.').split('.').map(|s| s.parse().ok()).collect()
}

#[test]
fn oid_and_name_agree_with_snmptranslate() {
    let mibs = &compiled().mibs;
    let dump = snmptranslate(&["-Tz".to_string()]);
    // -Tz: "label"<tabs>"1.3.6..."; an OID with several labels appears once per label,
    // the one net-snmp prints for the OID first.
    let mut pairs = Vec::new();
    for line in dump.lines() {
        let mut fields = line.split('"').filter(|f| !f.trim().is_empty());
        if let (Some(name), Some(oid)) = (fields.next(), fields.next())
            && is_real_name(name)
            && let Some(oid) = parse_oid(oid)
        {
            pairs.push((name.to_string(), oid));
        }
    }
    assert!(pairs.len() > 150_000, "snmptranslate -Tz gave only {} objects", pairs.len());

    // name -> OID: every (name, OID) of net-snmp is one of our definitions of that name.
    let mut name_misses = Vec::new();
    for (name, oid) in &pairs {
        if !mibs.definitions(name).any(|(_, node)| node.oid() == *oid) {
            let ours: Vec<_> = mibs.definitions(name).map(|(m, n)| format!("{m}::{:?}", n.oid())).collect();
            name_misses.push(format!("{name}: net-snmp {oid:?}, nocwatch {ours:?}"));
        }
    }
    // OID -> name: our name for the OID is the one net-snmp prints.
    let mut first_name: HashMap<&[u32], &str> = HashMap::new();
    for (name, oid) in &pairs {
        first_name.entry(oid.as_slice()).or_insert(name.as_str());
    }
    let mut oid_misses = Vec::new();
    for (oid, name) in &first_name {
        let ours = mibs.node(oid).map(|n| format!("{}::{}", n.module(), n.name()));
        if !ours.as_deref().is_some_and(|o| o.ends_with(&format!("::{name}"))) {
            let others: Vec<_> = pairs.iter().filter(|(_, o)| o.as_slice() == *oid).map(|(n, _)| n.as_str()).collect();
            oid_misses.push(format!("{oid:?}: net-snmp {others:?}, nocwatch {ours:?}"));
        }
    }
    oid_misses.sort();
    let name_agreement = 1.0 - name_misses.len() as f64 / pairs.len() as f64;
    let oid_agreement = 1.0 - oid_misses.len() as f64 / first_name.len() as f64;
    println!(
        "name -> OID: {}/{} = {:.3}%; OID -> name: {}/{} = {:.3}%",
        pairs.len() - name_misses.len(),
        pairs.len(),
        name_agreement * 100.0,
        first_name.len() - oid_misses.len(),
        first_name.len(),
        oid_agreement * 100.0
    );
    for miss in name_misses.iter().take(40) {
        println!("  name differs: {miss}");
    }
    for miss in oid_misses.iter().take(80) {
        println!("  OID differs: {miss}");
    }
    assert!(name_agreement >= 0.995, "name -> OID agreement {name_agreement}");
    assert!(oid_agreement >= 0.995, "OID -> name agreement {oid_agreement}");
}

/// What `snmptranslate -Td` says about one object.
#[derive(Debug, Default)]
struct Described {
    tc: Option<String>,
    syntax: Option<String>,
    hint: Option<String>,
    objects: Option<Vec<String>>,
}

fn parse_td(output: &str) -> HashMap<String, Described> {
    let mut described: HashMap<String, Described> = HashMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        if !line.starts_with(' ') && !line.starts_with('\t') && line.contains("::") && !line.contains(' ') {
            current = Some(line.to_string());
            described.entry(line.to_string()).or_default();
            continue;
        }
        let Some(key) = &current else { continue };
        let entry = described.entry(key.clone()).or_default();
        let line = line.trim_start();
        if let Some(tc) = line.strip_prefix("-- TEXTUAL CONVENTION ") {
            entry.tc = Some(tc.trim().to_string());
        } else if let Some(syntax) = line.strip_prefix("SYNTAX\t") {
            entry.syntax = Some(syntax.trim().to_string());
        } else if let Some(hint) = line.strip_prefix("DISPLAY-HINT\t") {
            entry.hint = Some(hint.trim().trim_matches('"').to_string());
        } else if let Some(objects) = line.strip_prefix("OBJECTS\t").or_else(|| line.strip_prefix("VARIABLES\t")) {
            let list = objects.trim().trim_start_matches('{').trim_end_matches('}');
            entry.objects = Some(list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
        }
    }
    described
}

fn base_of(syntax: &str) -> Option<BaseType> {
    let word: String = syntax.split(['{', '(']).next().unwrap_or("").trim().to_string();
    Some(match word.as_str() {
        "INTEGER" | "Integer32" => BaseType::Integer32,
        "OCTET STRING" => BaseType::OctetString,
        "OBJECT IDENTIFIER" => BaseType::ObjectIdentifier,
        "BITS" => BaseType::Bits,
        "IpAddress" | "NetworkAddress" => BaseType::IpAddress,
        "Counter32" => BaseType::Counter32,
        "Gauge32" => BaseType::Gauge32,
        "Unsigned32" | "UInteger32" => BaseType::Unsigned32,
        "TimeTicks" => BaseType::TimeTicks,
        "Opaque" => BaseType::Opaque,
        "Counter64" => BaseType::Counter64,
        _ => return None,
    })
}

/// "INTEGER {up(1), down(2)}" -> [(1, "up"), (2, "down")]
fn labels_of(syntax: &str) -> Vec<(i64, String)> {
    let Some(list) = syntax.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(l, _)| l) else {
        return Vec::new();
    };
    let mut labels: Vec<(i64, String)> = list
        .split(',')
        .filter_map(|item| {
            let (name, value) = item.trim().split_once('(')?;
            Some((value.trim_end_matches(')').trim().parse().ok()?, name.trim().to_string()))
        })
        .collect();
    labels.sort();
    labels
}

#[test]
fn syntax_and_notification_objects_agree_with_snmptranslate() {
    const SAMPLE: [&str; 14] = [
        "IF-MIB",
        "BGP4-MIB",
        "CISCO-CDP-MIB",
        "CISCO-MEMORY-POOL-MIB",
        "JUNIPER-IF-MIB",
        "SNMPv2-MIB",
        "ENTITY-MIB",
        "HOST-RESOURCES-MIB",
        "IP-MIB",
        "CISCO-CONFIG-MAN-MIB",
        "CISCO-ENVMON-MIB",
        "CISCO-PROCESS-MIB",
        "JUNIPER-MIB",
        "JUNIPER-ALARM-MIB",
    ];
    let mibs = &compiled().mibs;
    let sample: Vec<_> = mibs
        .nodes()
        .filter(|n| SAMPLE.contains(&n.module()))
        .filter(|n| matches!(n.kind(), NodeKind::Scalar | NodeKind::Column | NodeKind::Notification))
        .collect();
    assert!(sample.len() > 800, "sample of {} objects", sample.len());
    let args: Vec<String> = std::iter::once("-Td".to_string())
        .chain(sample.iter().map(|n| format!("{}::{}", n.module(), n.name())))
        .collect();
    let described = parse_td(&snmptranslate(&args));

    let (mut compared, mut differences) = (0usize, Vec::new());
    for node in &sample {
        let key = format!("{}::{}", node.module(), node.name());
        let Some(theirs) = described.get(&key) else {
            differences.push(format!("{key}: not described by snmptranslate"));
            continue;
        };
        compared += 1;
        if node.kind() == NodeKind::Notification {
            let ours: Vec<String> = node.objects().iter().map(|o| o.name().to_string()).collect();
            if theirs.objects.clone().unwrap_or_default() != ours {
                differences.push(format!("{key}: OBJECTS net-snmp {:?}, nocwatch {ours:?}", theirs.objects));
            }
            continue;
        }
        let Some(syntax) = node.syntax() else {
            differences.push(format!("{key}: no syntax (net-snmp {:?})", theirs.syntax));
            continue;
        };
        let their_syntax = theirs.syntax.clone().unwrap_or_default();
        if let Some(base) = base_of(&their_syntax)
            && base != syntax.base()
            // net-snmp prints Gauge32 for Unsigned32 types.
            && !(base == BaseType::Gauge32 && syntax.base() == BaseType::Unsigned32)
        {
            differences.push(format!("{key}: base net-snmp {their_syntax:?}, nocwatch {:?}", syntax.base()));
        }
        let ours: Vec<(i64, String)> = syntax.named_numbers().map(|(v, l)| (v, l.to_string())).collect();
        if labels_of(&their_syntax) != ours {
            differences.push(format!("{key}: labels net-snmp {their_syntax:?}, nocwatch {ours:?}"));
        }
        if theirs.tc.is_some() && theirs.tc.as_deref() != syntax.textual_convention() {
            differences.push(format!("{key}: TC net-snmp {:?}, nocwatch {:?}", theirs.tc, syntax.textual_convention()));
        }
        if theirs.hint.as_deref() != syntax.display_hint() {
            differences.push(format!(
                "{key}: DISPLAY-HINT net-snmp {:?}, nocwatch {:?}",
                theirs.hint,
                syntax.display_hint()
            ));
        }
    }
    let count = |f: fn(&Described) -> bool| described.values().filter(|d| f(d)).count();
    let (with_tc, with_hint, with_labels, with_objects) = (
        count(|d| d.tc.is_some()),
        count(|d| d.hint.is_some()),
        count(|d| d.syntax.as_deref().is_some_and(|s| s.contains('{'))),
        count(|d| d.objects.is_some()),
    );
    println!(
        "{compared} objects compared ({with_tc} with a textual convention, {with_hint} with a DISPLAY-HINT, \
         {with_labels} with enums/BITS, {with_objects} notifications), {} differences",
        differences.len()
    );
    assert!(
        with_tc > 100 && with_hint > 50 && with_labels > 100 && with_objects > 20,
        "the -Td output was not understood"
    );
    for d in &differences {
        println!("  {d}");
    }
    assert!(compared * 100 >= sample.len() * 99, "snmptranslate described only {compared} of {}", sample.len());
    assert!(differences.len() * 100 <= compared, "{} differences in {compared} objects", differences.len());
}
