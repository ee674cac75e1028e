//! End-to-end compiles of small hand-written modules that exercise the tricky
//! constructs (TC chains, BITS, AUGMENTS, SMIv1 traps, implicit `name(n)` arcs,
//! broken definitions, sloppy IMPORTS, duplicate modules) on top of net-snmp's
//! own SMI modules, and the cache. Every expected value is read off the module
//! text below.

use std::path::{Path, PathBuf};

use nocwatch_mib::{BaseType, Mibs, ModuleStatus, NodeKind, Severity};

fn net_snmp_mibs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mibs/net-snmp")
}

const TEST_TC: &str = r#"
TEST-TC DEFINITIONS ::= BEGIN
IMPORTS TEXTUAL-CONVENTION FROM SNMPv2-TC;

TestMac ::= TEXTUAL-CONVENTION
    DISPLAY-HINT "1x:"
    STATUS current
    DESCRIPTION "A MAC address; \"quoted\" text and ::= inside a string."
    SYNTAX OCTET STRING (SIZE (6))

TestAlias ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "Inherits the hint of TestMac."
    SYNTAX TestMac

TestState ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "d"
    SYNTAX INTEGER { on(1), off(2), -- a comment -- broken(-1) }

TestFlags ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "d"
    SYNTAX BITS { zero(0), one(1), nine(9) }
END
"#;

const TEST_MIB: &str = r#"
TEST-MIB DEFINITIONS ::= BEGIN
IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, NOTIFICATION-TYPE, Counter64, enterprises
        FROM SNMPv2-SMI
    DisplayString FROM SNMPv2-TC
    TestMac, TestAlias, TestState, TestFlags FROM TEST-TC
    ifIndex FROM IF-MIB;

testMIB MODULE-IDENTITY
    LAST-UPDATED "202401010000Z"
    ORGANIZATION "o"
    CONTACT-INFO "c"
    DESCRIPTION "d"
    ::= { enterprises 99999 }

testObjects OBJECT IDENTIFIER ::= { testMIB 1 }

testTable OBJECT-TYPE
    SYNTAX SEQUENCE OF TestEntry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "t"
    ::= { testObjects 1 }

testEntry OBJECT-TYPE
    SYNTAX TestEntry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "e"
    INDEX { ifIndex }
    ::= { testTable 1 }

TestEntry ::= SEQUENCE {
    testMac TestMac, testAlias TestAlias, testState TestState, testFlags TestFlags, testOctets Counter64 }

testMac OBJECT-TYPE
    SYNTAX TestMac
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "m"
    ::= { testEntry 1 }

testAlias OBJECT-TYPE
    SYNTAX TestAlias
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "a"
    ::= { testEntry 2 }

testState OBJECT-TYPE
    SYNTAX TestState
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "s"
    ::= { testEntry 3 }

testFlags OBJECT-TYPE
    SYNTAX TestFlags
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "f"
    ::= { testEntry 4 }

testOctets OBJECT-TYPE
    SYNTAX Counter64
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "o"
    ::= { testEntry 5 }

testExtTable OBJECT-TYPE
    SYNTAX SEQUENCE OF TestExtEntry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "t"
    ::= { testObjects 2 }

testExtEntry OBJECT-TYPE
    SYNTAX TestExtEntry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "e"
    AUGMENTS { testEntry }
    ::= { testExtTable 1 }

TestExtEntry ::= SEQUENCE { testName DisplayString }

testName OBJECT-TYPE
    SYNTAX DisplayString (SIZE (0..32))
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "n"
    ::= { testExtEntry 1 }

testBroken OBJECT-TYPE
    SYNTAX INTEGER
    MAX-ACCESS read-only
    STATUS current

testLevel OBJECT-TYPE
    SYNTAX INTEGER { low(1), high(2) }
    MAX-ACCESS read-write
    STATUS current
    DESCRIPTION "l"
    DEFVAL { low }
    ::= { testObjects 3 }

testNotifications OBJECT IDENTIFIER ::= { testMIB 0 }

testEvent NOTIFICATION-TYPE
    OBJECTS { testState, ifIndex, testName }
    STATUS current
    DESCRIPTION "n"
    ::= { testNotifications 1 }

testUnimported OBJECT IDENTIFIER ::= { otherRoot 5 }
END
"#;

const OLD_MIB: &str = r#"
-- SMIv1 with vendor habits: no MODULE-IDENTITY, TRAP-TYPE, implicit arcs.
OLD-MIB DEFINITIONS ::= BEGIN
IMPORTS enterprises FROM RFC1155-SMI
        TRAP-TYPE FROM RFC-1215
        testState FROM TEST-MIB;

acme        OBJECT IDENTIFIER ::= { enterprises 4242 }
acmeLab     OBJECT IDENTIFIER ::= { acme products(1) lab(7) }
otherRoot   OBJECT IDENTIFIER ::= { acme 9 }

acmeStateChange TRAP-TYPE
    ENTERPRISE acme
    VARIABLES { testState }
    DESCRIPTION "d"
    ::= 3
END
"#;

/// An older copy of OLD-MIB under another file name: the file named after the
/// module wins.
const OLD_MIB_COPY: &str = "OLD-MIB DEFINITIONS ::= BEGIN\nacme OBJECT IDENTIFIER ::= { enterprises 1111 }\nEND\n";

fn write_set(dir: &Path) {
    std::fs::write(dir.join("TEST-TC.txt"), TEST_TC).expect("write");
    std::fs::write(dir.join("TEST-MIB.my"), TEST_MIB).expect("write");
    std::fs::write(dir.join("OLD-MIB"), OLD_MIB).expect("write");
    std::fs::write(dir.join("A-COPY-OF-OLD.mib"), OLD_MIB_COPY).expect("write");
    std::fs::write(dir.join("README"), "These are test modules.\n").expect("write");
    std::fs::write(dir.join("TEST-MIB.my~"), "editor backup: ignored").expect("write");
}

fn oid(text: &str) -> Vec<u32> {
    text.split('.').map(|s| s.parse().expect("number")).collect()
}

#[test]
fn tricky_constructs() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_set(dir.path());
    let compiled = Mibs::compile(&[dir.path().to_path_buf(), net_snmp_mibs()]).expect("compile");
    let mibs = &compiled.mibs;

    // OIDs: enterprises = 1.3.6.1.4.1
    assert_eq!(mibs.lookup("TEST-MIB::testMIB"), Some(oid("1.3.6.1.4.1.99999")));
    assert_eq!(mibs.lookup("testMac"), Some(oid("1.3.6.1.4.1.99999.1.1.1.1")));
    assert_eq!(mibs.lookup("testName.7"), Some(oid("1.3.6.1.4.1.99999.1.2.1.1.7")));
    assert_eq!(mibs.lookup("lab"), Some(oid("1.3.6.1.4.1.4242.1.7")));
    assert_eq!(mibs.lookup("OLD-MIB::products"), Some(oid("1.3.6.1.4.1.4242.1")));
    // SMIv1 trap: enterprise.0.specific (RFC 3584)
    assert_eq!(mibs.lookup("acmeStateChange"), Some(oid("1.3.6.1.4.1.4242.0.3")));
    // A name used without IMPORTS resolves (as in net-snmp), with a warning.
    assert_eq!(mibs.lookup("testUnimported"), Some(oid("1.3.6.1.4.1.4242.9.5")));

    // resolve: longest prefix + instance suffix
    let instance = oid("1.3.6.1.4.1.99999.1.1.1.3.42");
    let (node, suffix) = mibs.resolve(&instance).expect("resolves");
    assert_eq!((node.module(), node.name(), suffix), ("TEST-MIB", "testState", &[42][..]));
    assert_eq!(node.oid(), oid("1.3.6.1.4.1.99999.1.1.1.3"));
    let below_module = oid("1.3.6.1.4.1.99999.77.1");
    let (node, suffix) = mibs.resolve(&below_module).expect("resolves");
    assert_eq!((node.name(), suffix), ("testMIB", &[77, 1][..]));
    assert!(mibs.resolve(&oid("3.1")).is_none(), "no module defines arc 3");

    // kinds
    let kind = |name: &str| mibs.find_named(None, name).expect(name).kind();
    assert_eq!(kind("testTable"), NodeKind::Table);
    assert_eq!(kind("testEntry"), NodeKind::Row);
    assert_eq!(kind("testExtEntry"), NodeKind::Row);
    assert_eq!(kind("testMac"), NodeKind::Column);
    assert_eq!(kind("testName"), NodeKind::Column);
    assert_eq!(kind("testLevel"), NodeKind::Scalar);
    assert_eq!(kind("testEvent"), NodeKind::Notification);
    assert_eq!(kind("acmeStateChange"), NodeKind::Notification);
    assert_eq!(kind("testObjects"), NodeKind::Node);

    // syntaxes through textual conventions
    let syntax = |name: &str| mibs.find_named(None, name).and_then(|n| n.syntax()).expect(name);
    let mac = syntax("testMac");
    assert_eq!(
        (mac.base(), mac.textual_convention(), mac.display_hint()),
        (BaseType::OctetString, Some("TestMac"), Some("1x:"))
    );
    let alias = syntax("testAlias");
    assert_eq!((alias.textual_convention(), alias.display_hint()), (Some("TestAlias"), Some("1x:")));
    let state = syntax("testState");
    assert_eq!(state.base(), BaseType::Integer32);
    assert_eq!(
        (state.enum_label(1), state.enum_label(2), state.enum_label(-1), state.enum_label(3)),
        (Some("on"), Some("off"), Some("broken"), None)
    );
    let flags = syntax("testFlags");
    assert_eq!(flags.base(), BaseType::Bits);
    assert_eq!(flags.bits_labels(&[0b1100_0000, 0b0100_0000]), ["zero", "one", "nine"]);
    assert_eq!(flags.bits_labels(&[0b0100_0000]), ["one"]);
    assert_eq!(flags.enum_label(0), None);
    assert_eq!(syntax("testOctets").base(), BaseType::Counter64);
    assert_eq!(syntax("testLevel").enum_label(2), Some("high"));
    let name = syntax("testName");
    assert_eq!(
        (name.base(), name.textual_convention(), name.display_hint()),
        (BaseType::OctetString, Some("DisplayString"), Some("255a"))
    );
    assert!(mibs.find_named(None, "testTable").expect("table").syntax().is_none());

    // notification objects, in order, across modules
    let objects = |name: &str| -> Vec<String> {
        mibs.find_named(None, name)
            .expect(name)
            .objects()
            .iter()
            .map(|n| format!("{}::{}", n.module(), n.name()))
            .collect()
    };
    assert_eq!(objects("testEvent"), ["TEST-MIB::testState", "IF-MIB::ifIndex", "TEST-MIB::testName"]);
    assert_eq!(objects("acmeStateChange"), ["TEST-MIB::testState"]);

    // diagnostics: the broken definition is dropped with its file:line, the rest loads
    assert!(mibs.lookup("testBroken").is_none());
    let test_mib = dir.path().join("TEST-MIB.my");
    let broken_line = TEST_MIB.lines().position(|l| l.starts_with("testBroken")).expect("line") as u32 + 1;
    let broken =
        compiled.diagnostics.iter().find(|d| d.file == test_mib && d.severity == Severity::Error).expect("an error");
    assert_eq!(broken.line, broken_line, "{broken}");
    assert!(
        broken.to_string().starts_with(&format!("{}:{broken_line}: error: TEST-MIB: ", test_mib.display())),
        "{broken}"
    );
    let unimported_line = TEST_MIB.lines().position(|l| l.starts_with("testUnimported")).expect("line") as u32 + 1;
    assert!(compiled.diagnostics.iter().any(|d| d.file == test_mib
        && d.line == unimported_line
        && d.severity == Severity::Warning
        && d.message.contains("otherRoot")));

    // module reports: the copy is shadowed by the file named after the module
    let report = |name: &str, file: &str| {
        compiled.modules.iter().find(|m| m.name == name && m.file.ends_with(file)).expect(name)
    };
    assert_eq!(report("OLD-MIB", "OLD-MIB").status, ModuleStatus::Ok);
    assert_eq!(report("OLD-MIB", "A-COPY-OF-OLD.mib").status, ModuleStatus::Shadowed);
    assert_eq!(report("TEST-MIB", "TEST-MIB.my").status, ModuleStatus::Partial);
    assert_eq!(report("TEST-TC", "TEST-TC.txt").status, ModuleStatus::Ok);
    assert_eq!(compiled.files_without_module, [dir.path().join("README")]);
    assert!(!compiled.modules.iter().any(|m| m.file.to_string_lossy().ends_with('~')));
}

#[test]
fn cache_round_trip_invalidation_and_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mibs_dir = dir.path().join("mibs");
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir(&mibs_dir).expect("mkdir");
    write_set(&mibs_dir);
    let dirs = [mibs_dir.clone(), net_snmp_mibs()];

    let (compiled, diagnostics) = Mibs::load(&dirs, Some(&cache_dir)).expect("load");
    let cache_files: Vec<_> =
        std::fs::read_dir(&cache_dir).expect("cache dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(cache_files.len(), 1);
    let (cached, cached_diagnostics) = Mibs::load(&dirs, Some(&cache_dir)).expect("load");
    assert_eq!(cached, compiled);
    assert_eq!(cached_diagnostics, diagnostics);
    assert_eq!(cached.lookup("testMac"), Some(oid("1.3.6.1.4.1.99999.1.1.1.1")));

    // A changed file (size and mtime) invalidates the cache.
    let changed = TEST_MIB.replace("{ enterprises 99999 }", "{ enterprises 99998 }");
    std::fs::write(mibs_dir.join("TEST-MIB.my"), changed).expect("write");
    let (recompiled, _) = Mibs::load(&dirs, Some(&cache_dir)).expect("load");
    assert_eq!(recompiled.lookup("testMac"), Some(oid("1.3.6.1.4.1.99998.1.1.1.1")));

    // Corrupt caches (flipped byte, truncation, garbage) are recompiled, not trusted.
    let path = &cache_files[0];
    let good = std::fs::read(path).expect("read");
    for corrupt in [
        {
            let mut b = good.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0x55;
            b
        },
        good[..good.len() - 9].to_vec(),
        b"NWMIBC\0\x01garbage".to_vec(),
    ] {
        std::fs::write(path, &corrupt).expect("write");
        let (reloaded, _) = Mibs::load(&dirs, Some(&cache_dir)).expect("load");
        assert_eq!(reloaded, recompiled);
    }

    // An unwritable cache directory is a warning, not a failure.
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").expect("write");
    let (mibs, diagnostics) = Mibs::load(&dirs, Some(&not_a_dir)).expect("load");
    assert_eq!(mibs, recompiled);
    assert!(diagnostics.iter().any(|d| d.message.contains("cannot write the MIB cache")));
}

#[test]
fn missing_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Mibs::load(&[dir.path().join("nope")], None).expect_err("must fail");
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Hostile or broken input never panics, hangs or overflows the stack: every
/// truncation of a real module, pseudo-random bytes, and a 5,000-deep chain of OID
/// definitions written child-first (recursion is bounded and reported).
#[test]
fn broken_input_is_survived() {
    let if_mib = std::fs::read(net_snmp_mibs().join("IF-MIB.txt")).expect("IF-MIB");
    let dir = tempfile::tempdir().expect("tempdir");
    for cut in (0..if_mib.len()).step_by(if_mib.len() / 97 + 1) {
        std::fs::write(dir.path().join("IF-MIB.txt"), &if_mib[..cut]).expect("write");
        let compiled = Mibs::compile(&[dir.path().to_path_buf()]).expect("compile");
        assert!(compiled.mibs.len() <= 200);
    }

    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = Vec::with_capacity(256 * 1024);
    for _ in 0..256 * 1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Bias towards SMI punctuation and keywords' letters.
        const ALPHABET: &[u8] = b"{}()\"'-:=. \nOBJECT-TYPEx0123456789,;|[]";
        noise.push(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
    }
    let mut with_header = b"NOISE-MIB DEFINITIONS ::= BEGIN\n".to_vec();
    with_header.extend_from_slice(&noise);
    std::fs::write(dir.path().join("IF-MIB.txt"), &noise).expect("write");
    std::fs::write(dir.path().join("NOISE-MIB"), &with_header).expect("write");
    Mibs::compile(&[dir.path().to_path_buf()]).expect("compile");

    let mut chain = String::from("CHAIN-MIB DEFINITIONS ::= BEGIN\n");
    for i in (1..=5000).rev() {
        chain.push_str(&format!("c{i} OBJECT IDENTIFIER ::= {{ c{} 1 }}\n", i - 1));
    }
    chain.push_str("c0 OBJECT IDENTIFIER ::= { iso 99 }\nEND\n");
    let chain_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(chain_dir.path().join("CHAIN-MIB"), chain).expect("write");
    // A thread with a small stack, like a test runner's or a tokio blocking thread's.
    let dirs = [chain_dir.path().to_path_buf()];
    let compiled = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || Mibs::compile(&dirs).expect("compile"))
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(compiled.mibs.lookup("c0"), Some(oid("1.99")));
    assert_eq!(compiled.mibs.lookup("c3"), Some(oid("1.99.1.1.1")));
    assert!(compiled.diagnostics.iter().any(|d| d.message.contains("definitions deep")));
}
