//! End to end: `nocwatch snmp` against a real net-snmp `snmpd` (started here on a free
//! loopback port with a generated config), compared with net-snmp's own tools.
//!
//! The whole-tree comparison walks snmpd with `nocwatch snmp bulkwalk -On` and with
//! `snmpbulkwalk -On` (`snmpwalk` for v1) and requires the same OIDs in the same order
//! with the same type labels and the same values, for v1, v2c and every v3 user
//! (noAuthNoPriv, each auth protocol at authNoPriv, each auth × priv at authPriv).
//!
//! What may legitimately differ between two walks, and how the test allows for it:
//! - Values that move on their own (sysUpTime, the SNMP agent's own counters,
//!   interface and IP counters, engine time, caches): the test walks the tree with
//!   net-snmp once before and once after all other walks; every OID whose value
//!   differs between those two bracketing walks is compared by type only. Counters
//!   only grow, so anything that changed in between shows up there. Gauges that can
//!   go up and come back (memory, load, storage used, CPU) are masked by subtree too.
//! - Tables whose rows are other processes and sockets of this machine, including the
//!   walking tool's own UDP socket and process: UDP/TCP endpoint and connection
//!   tables, the ARP/neighbour tables, hrSWRun/hrSWRunPerf. They are left out of the
//!   comparison (both sides).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::netsnmp::V3User;
use support::{BIN, Peer, free_port};

const AUTH: [&str; 6] = ["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"];
const PRIV: [&str; 6] = ["DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C"];
const AUTH_PASS: &str = "auth-pass-1234";
const PRIV_PASS: &str = "priv-pass-5678";

/// Rows that list the machine's processes and sockets (the walkers' own among them).
const EXCLUDED: [&str; 18] = [
    // UCD systemStats rates (ssSwapIn .. ssCpuIdle): snmpd answers them only once it holds two
    // CPU samples, about a minute after start, so on a slow machine the first walks of a
    // pair may lack them while later ones have them. The raw counters (.11.50 on) stay compared.
    ".1.3.6.1.4.1.2021.11.3.",
    ".1.3.6.1.4.1.2021.11.4.",
    ".1.3.6.1.4.1.2021.11.5.",
    ".1.3.6.1.4.1.2021.11.6.",
    ".1.3.6.1.4.1.2021.11.7.",
    ".1.3.6.1.4.1.2021.11.8.",
    ".1.3.6.1.4.1.2021.11.9.",
    ".1.3.6.1.4.1.2021.11.10.",
    ".1.3.6.1.4.1.2021.11.11.",
    ".1.3.6.1.2.1.4.22.", // ipNetToMediaTable
    ".1.3.6.1.2.1.4.35.", // ipNetToPhysicalTable
    ".1.3.6.1.2.1.6.13.", // tcpConnTable
    ".1.3.6.1.2.1.6.19.", // tcpConnectionTable
    ".1.3.6.1.2.1.6.20.", // tcpListenerTable
    ".1.3.6.1.2.1.7.5.",  // udpTable
    ".1.3.6.1.2.1.7.7.",  // udpEndpointTable
    ".1.3.6.1.2.1.25.4.", // hrSWRun
    ".1.3.6.1.2.1.25.5.", // hrSWRunPerf
];

/// Gauges that can change and change back between the bracketing walks.
const GAUGES: [&str; 10] = [
    ".1.3.6.1.4.1.8072.1.5.",   // nsCache: cache states flip as snmpd's caches expire
    ".1.3.6.1.2.1.6.9.",        // tcpCurrEstab (other processes' connections)
    ".1.3.6.1.4.1.2021.9.",     // UCD dskTable (disk usage)
    ".1.3.6.1.2.1.25.1.",       // hrSystem: uptime, date, users, processes
    ".1.3.6.1.2.1.25.2.3.1.6.", // hrStorageUsed
    ".1.3.6.1.2.1.25.3.3.1.2.", // hrProcessorLoad
    ".1.3.6.1.4.1.2021.4.",     // UCD memory
    ".1.3.6.1.4.1.2021.10.",    // UCD load averages
    ".1.3.6.1.4.1.2021.11.",    // UCD systemStats
    ".1.3.6.1.4.1.2021.13.15.", // UCD diskIO
];

fn user_name(auth: Option<&str>, privacy: Option<&str>) -> String {
    let part = |s: Option<&str>| s.map_or("none".to_owned(), |s| s.to_lowercase().replace('-', ""));
    format!("u_{}_{}", part(auth), part(privacy))
}

/// A running snmpd on 127.0.0.1:`port`, killed when dropped.
struct Snmpd {
    port: u16,
    _dir: tempfile::TempDir,
    peer: Option<Peer>,
}

impl Snmpd {
    /// snmpd with community `public` and the given v3 users (`createUser` lines).
    fn start(users: &[(Option<&str>, Option<&str>)]) -> Snmpd {
        Snmpd::start_with(users, false)
    }

    /// With `ipv6`, snmpd also listens on [::1] (same port) with community `public`.
    fn start_with(users: &[(Option<&str>, Option<&str>)], ipv6: bool) -> Snmpd {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut conf = format!("agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n");
        if ipv6 {
            conf = format!(
                "agentAddress udp:127.0.0.1:{port},udp6:[::1]:{port}\nrocommunity public 127.0.0.1\nrocommunity6 public ::1\n"
            );
        }
        conf.push_str("sysLocation \"quoted\" \\ back\\slash\nsysContact noc@example.net\n");
        for (auth, privacy) in users {
            let name = user_name(*auth, *privacy);
            match (auth, privacy) {
                (None, _) => conf.push_str(&format!("createUser {name}\nrouser {name} noauth\n")),
                (Some(a), None) => conf.push_str(&format!("createUser {name} {a} {AUTH_PASS}\nrouser {name} auth\n")),
                (Some(a), Some(p)) => {
                    conf.push_str(&format!("createUser {name} {a} {AUTH_PASS} {p} {PRIV_PASS}\nrouser {name} priv\n"))
                }
            }
        }
        let peer = support::spawn_snmpd(dir.path(), &conf);
        let snmpd = Snmpd { port, _dir: dir, peer: Some(peer) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe =
                net_snmp("snmpget", &["-v2c", "-c", "public", "-t", "0.2", "-r", "0"], port, &[".1.3.6.1.2.1.1.5.0"]);
            if probe.status.success() {
                return snmpd;
            }
            assert!(Instant::now() < deadline, "snmpd did not start: {}", snmpd.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("snmpd.log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        self.peer.take();
    }
}

fn agent(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn net_snmp(tool: &str, args: &[&str], port: u16, oids: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .args(["-On", "-m", ""])
        .env("MIBS", "")
        .arg(agent(port))
        .args(oids)
        .output()
        .expect("net-snmp tools (Debian package snmp) must be installed: scripts/test installs them")
}

fn nocwatch(args: &[&str], port: u16, oids: &[&str]) -> Output {
    Command::new(BIN).arg("snmp").args(args).arg("-On").arg(agent(port)).args(oids).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// v3 flags for a user.
fn v3_flags(auth: Option<&str>, privacy: Option<&str>) -> Vec<String> {
    let name = user_name(auth, privacy);
    let user = V3User { name: &name, auth: auth.map(|a| (a, AUTH_PASS)), privacy: privacy.map(|p| (p, PRIV_PASS)) };
    user.flags().into_iter().map(str::to_owned).collect()
}

/// One printed binding: OID, type label and value text (continuation lines included).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    oid: String,
    label: String,
    value: String,
}

fn entries(output: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for line in output.lines() {
        match line.split_once(" = ") {
            Some((oid, rest)) if oid.starts_with('.') => {
                let (label, value) = match rest.split_once(": ") {
                    Some((label, value)) if !label.contains(' ') || label.starts_with("Opaque") => (label, value),
                    // An empty string is printed without its type: `= ""`.
                    _ if rest == "\"\"" => ("STRING", rest),
                    _ => (rest, ""),
                };
                out.push(Entry { oid: oid.to_owned(), label: label.to_owned(), value: value.to_owned() });
            }
            _ => match out.last_mut() {
                Some(last) => {
                    last.value.push('\n');
                    last.value.push_str(line);
                }
                None => out.push(Entry { oid: String::new(), label: line.to_owned(), value: String::new() }),
            },
        }
    }
    out.retain(|e| !EXCLUDED.iter().any(|prefix| e.oid.starts_with(prefix)));
    out
}

/// OIDs whose values differ between two walks.
fn moving(a: &[Entry], b: &[Entry]) -> HashSet<String> {
    let b: std::collections::HashMap<&str, &Entry> = b.iter().map(|e| (e.oid.as_str(), e)).collect();
    a.iter().filter(|e| b.get(e.oid.as_str()).is_none_or(|other| *other != *e)).map(|e| e.oid.clone()).collect()
}

fn compare(what: &str, ours: &str, theirs: &str, volatile: &HashSet<String>) {
    let (ours, theirs) = (entries(ours), entries(theirs));
    let mut compared_values = 0;
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o.oid, t.oid, "{what}: entry {i}: OID differs\nnocwatch: {o:?}\nnet-snmp: {t:?}");
        assert_eq!(o.label, t.label, "{what}: {}: type differs\nnocwatch: {o:?}\nnet-snmp: {t:?}", o.oid);
        let masked = volatile.contains(&o.oid) || GAUGES.iter().any(|p| o.oid.starts_with(p));
        if !masked {
            assert_eq!(o.value, t.value, "{what}: {}: value differs", o.oid);
            compared_values += 1;
        }
    }
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{what}: nocwatch printed {} bindings, net-snmp {}; first extra: {:?} / {:?}",
        ours.len(),
        theirs.len(),
        ours.get(theirs.len()),
        theirs.get(ours.len())
    );
    assert!(
        ours.len() > 1000 && compared_values > ours.len() * 8 / 10,
        "{what}: too little compared: {compared_values}"
    );
}

#[test]
fn bulkwalk_of_the_whole_tree_matches_net_snmp_for_v1_v2c_and_every_v3_user() {
    let mut users: Vec<(Option<&str>, Option<&str>)> = vec![(None, None)];
    for auth in AUTH {
        users.push((Some(auth), None));
        for privacy in PRIV {
            users.push((Some(auth), Some(privacy)));
        }
    }
    let snmpd = Snmpd::start(&users);
    let port = snmpd.port;
    let reps = "-Cr50";
    let v2c = ["-v2c", "-c", "public", reps];
    let noauth = v3_flags(None, None);
    let noauth: Vec<&str> = noauth.iter().map(String::as_str).chain([reps]).collect();

    let before_v2c = text(&net_snmp("snmpbulkwalk", &v2c, port, &[".1"]).stdout);
    let before_v3 = text(&net_snmp("snmpbulkwalk", &noauth, port, &[".1"]).stdout);

    // (what, nocwatch's output, net-snmp's output), walks interleaved so both see the
    // agent in the same state as far as possible.
    // One job per pair: (what, nocwatch's arguments, the net-snmp tool and its flags).
    let mut jobs: Vec<(String, Vec<String>, &str, Vec<String>)> = Vec::new();
    let strings = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    jobs.push((
        "v1 (bulkwalk falls back to GETNEXT; vs snmpwalk)".into(),
        strings(&["bulkwalk", "-v1", "-c", "public"]),
        "snmpwalk",
        strings(&["-v1", "-c", "public"]),
    ));
    jobs.push((
        "v2c walk (vs snmpwalk)".into(),
        strings(&["walk", "-v2c", "-c", "public"]),
        "snmpwalk",
        strings(&["-v2c", "-c", "public"]),
    ));
    jobs.push(("v2c".into(), strings(&[&["bulkwalk"][..], &v2c[..]].concat()), "snmpbulkwalk", strings(&v2c)));
    for (auth, privacy) in users.iter().copied() {
        let mut flags = v3_flags(auth, privacy);
        flags.push(reps.into());
        let ours = std::iter::once("bulkwalk".to_owned()).chain(flags.iter().cloned()).collect();
        jobs.push((format!("v3 {}", user_name(auth, privacy)), ours, "snmpbulkwalk", flags));
    }
    // Three walkers at a time: snmpd answers one request at a time anyway, the rest is
    // process start-up and key hashing on both sides. Each pair runs nocwatch first,
    // then net-snmp, so the two see the agent as close in time as possible.
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((what, ours, tool, theirs)) = jobs.get(i) else { break };
                    let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
                    let theirs: Vec<&str> = theirs.iter().map(String::as_str).collect();
                    let ours = nocwatch(&ours, port, &[".1"]);
                    let theirs = net_snmp(tool, &theirs, port, &[".1"]);
                    results.lock().unwrap().push((i, what.clone(), ours, theirs));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, ..)| *i);
    let mut runs: Vec<(String, String, String)> = Vec::new();
    for (_, what, ours, theirs) in results {
        assert!(ours.status.success(), "{what}: {}", text(&ours.stderr));
        assert!(theirs.status.success(), "{what}: net-snmp: {}", text(&theirs.stderr));
        runs.push((what, text(&ours.stdout), text(&theirs.stdout)));
    }
    let walking = started.elapsed();

    let after_v2c = text(&net_snmp("snmpbulkwalk", &v2c, port, &[".1"]).stdout);
    let after_v3 = text(&net_snmp("snmpbulkwalk", &noauth, port, &[".1"]).stdout);
    let mut volatile = moving(&entries(&before_v2c), &entries(&after_v2c));
    volatile.extend(moving(&entries(&before_v3), &entries(&after_v3)));
    assert!(volatile.len() < 400, "too much moved between the bracketing walks: {}", volatile.len());

    assert_eq!(runs.len(), 2 + 1 + users.len());
    for (what, ours, theirs) in &runs {
        compare(what, ours, theirs, &volatile);
    }
    // The last line of a whole-tree walk: endOfMibView for v2c/v3, noSuchName for v1.
    assert!(runs[0].1.ends_with("End of MIB\n"), "{}", &runs[0].1[runs[0].1.len().saturating_sub(200)..]);
    assert!(runs[2].1.trim_end().ends_with("(It is past the end of the MIB tree)"));
    // The quoting of sysLocation went through both tools the same way.
    assert!(runs[2].1.contains(r#".1.3.6.1.2.1.1.6.0 = STRING: "\"quoted\" \\ back\\slash""#), "sysLocation");
    eprintln!("{} whole-tree walk pairs in {walking:?}", runs.len());
}

#[test]
fn get_and_getnext_print_like_net_snmp() {
    let snmpd = Snmpd::start(&[(Some("SHA-256"), Some("AES"))]);
    let port = snmpd.port;
    let oids = [
        ".1.3.6.1.2.1.1.1.0",
        ".1.3.6.1.2.1.1.4.0",
        ".1.3.6.1.2.1.1.6.0",
        ".1.3.6.1.2.1.1.99.0",
        ".1.3.6.1.6.3.10.2.1.1.0", // snmpEngineID: a Hex-STRING over two lines
    ];
    let v3 = v3_flags(Some("SHA-256"), Some("AES"));
    let v3: Vec<&str> = v3.iter().map(String::as_str).collect();
    for (tool, command, flags) in [
        ("snmpget", "get", &["-v2c", "-c", "public"][..]),
        ("snmpgetnext", "getnext", &["-v2c", "-c", "public"][..]),
        ("snmpget", "get", &v3[..]),
        ("snmpgetnext", "getnext", &["-v1", "-c", "public"][..]),
    ] {
        let ours = nocwatch(&[&[command][..], flags].concat(), port, &oids);
        let theirs = net_snmp(tool, flags, port, &oids);
        assert!(ours.status.success(), "{command} {flags:?}: {}", text(&ours.stderr));
        assert_eq!(text(&ours.stdout), text(&theirs.stdout), "{command} {flags:?}");
    }
    // v1 GET of a missing OID: net-snmp's error text, the other OIDs still printed, exit 2.
    let ours = nocwatch(&["get", "-v1", "-c", "public"], port, &oids);
    assert_eq!(ours.status.code(), Some(2));
    assert!(text(&ours.stderr).contains("(noSuchName)") && text(&ours.stderr).contains(".1.3.6.1.2.1.1.99.0"));
    let theirs = net_snmp("snmpget", &["-v1", "-c", "public"], port, &oids);
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
    assert_eq!(text(&ours.stdout).lines().filter(|l| l.starts_with('.')).count(), 4);
    // An empty subtree: like snmpwalk, the GET of the root is shown.
    let ours = nocwatch(&["walk", "-v2c", "-c", "public"], port, &[".1.3.6.1.2.1.1.99"]);
    let theirs = net_snmp("snmpwalk", &["-v2c", "-c", "public"], port, &[".1.3.6.1.2.1.1.99"]);
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
    assert!(text(&ours.stdout).contains("No Such Object available on this agent at this OID"));
}

#[test]
fn wrong_community_times_out_after_the_retries_without_printing_the_community() {
    // A silent agent that counts what it receives: retries are visible on the wire.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let port = socket.local_addr().unwrap().port();
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(["snmp", "get", "-v2c", "-c", "s3cret-community", "-t", "0.2", "-r", "2"])
        .arg(agent(port))
        .arg(".1.3.6.1.2.1.1.1.0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut received = 0;
    let mut buf = [0u8; 2048];
    while started.elapsed() < Duration::from_secs(2) {
        if socket.recv_from(&mut buf).is_ok() {
            received += 1;
        }
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(received, 3, "1 attempt + 2 retries");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("Timeout: No Response from 127.0.0.1:{port} (3 attempts)")), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");

    // And against snmpd itself: a wrong community is silently dropped.
    let snmpd = Snmpd::start(&[]);
    let started = Instant::now();
    let output = nocwatch(&["get", "-v2c", "-c", "wrong", "-t", "0.2", "-r", "1"], snmpd.port, &[".1.3.6.1.2.1.1.1.0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("Timeout: No Response") && text(&output.stderr).contains("wrong community"));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn v3_security_failures_are_clear_errors_naming_device_and_user() {
    let mut snmpd = Snmpd::start(&[(Some("SHA"), Some("AES")), (None, None)]);
    let port = snmpd.port;
    let device = format!("127.0.0.1:{port}");
    let user = user_name(Some("SHA"), Some("AES"));
    let base = ["get", "-v3", "-l", "authPriv", "-a", "SHA", "-x", "AES", "-t", "0.3", "-r", "1"];
    let run = |extra: &[&str]| nocwatch(&[&base[..], extra].concat(), port, &[".1.3.6.1.2.1.1.5.0"]);

    let ok = run(&["-u", &user, "-A", AUTH_PASS, "-X", PRIV_PASS]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    let wrong_auth = run(&["-u", &user, "-A", "not-the-pass-1", "-X", PRIV_PASS]);
    assert_eq!(wrong_auth.status.code(), Some(1));
    let stderr = text(&wrong_auth.stderr);
    assert!(stderr.contains(&device) && stderr.contains(&format!("user \"{user}\"")), "{stderr}");
    assert!(stderr.contains("usmStatsWrongDigests") && stderr.contains("-A"), "{stderr}");
    assert!(!stderr.contains("not-the-pass") && !stderr.contains(PRIV_PASS), "{stderr}");

    let unknown = run(&["-u", "nobody", "-A", AUTH_PASS, "-X", PRIV_PASS]);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = text(&unknown.stderr);
    assert!(stderr.contains("user \"nobody\"") && stderr.contains("usmStatsUnknownUserNames"), "{stderr}");

    // A user without authentication asked for authPriv.
    let level = run(&["-u", &user_name(None, None), "-A", AUTH_PASS, "-X", PRIV_PASS]);
    let stderr = text(&level.stderr);
    assert!(stderr.contains("usmStatsUnsupportedSecLevels"), "{stderr}");

    // A wrong privacy pass phrase: snmpd cannot decrypt and stays silent.
    let wrong_priv = run(&["-u", &user, "-A", AUTH_PASS, "-X", "not-the-pass-2"]);
    let stderr = text(&wrong_priv.stderr);
    assert!(stderr.contains("Timeout") && stderr.contains("privacy pass phrase"), "{stderr}");
    assert!(!stderr.contains("not-the-pass-2"));

    // Known engine ID (-e): no discovery; boots/time come from the notInTimeWindow report.
    let engine = net_snmp("snmpget", &["-v2c", "-c", "public", "-Oqv"], port, &[".1.3.6.1.6.3.10.2.1.1.0"]);
    let engine_hex: String = text(&engine.stdout).split_whitespace().filter(|s| s.len() == 2).collect();
    assert!(engine_hex.len() >= 10, "{}", text(&engine.stdout));
    let with_engine = run(&["-u", &user, "-A", AUTH_PASS, "-X", PRIV_PASS, "-e", &engine_hex]);
    assert!(with_engine.status.success(), "{}", text(&with_engine.stderr));
    // A stale engine ID (device replaced): the unknownEngineIDs report carries the real
    // one, and the request goes through after rediscovery.
    let stale_engine = run(&["-u", &user, "-A", AUTH_PASS, "-X", PRIV_PASS, "-e", "8000000001020304"]);
    assert!(stale_engine.status.success(), "{}", text(&stale_engine.stderr));

    snmpd.kill();
    let gone = run(&["-u", &user, "-A", AUTH_PASS, "-X", PRIV_PASS]);
    assert!(text(&gone.stderr).contains("Timeout: No Response"), "{}", text(&gone.stderr));
}

#[test]
fn a_device_that_dies_mid_walk_ends_the_walk_with_a_timeout_after_what_it_returned() {
    let mut snmpd = Snmpd::start(&[]);
    let port = snmpd.port;
    let full = text(&net_snmp("snmpwalk", &["-v2c", "-c", "public"], port, &[".1"]).stdout);
    let mut child = Command::new(BIN)
        .args(["snmp", "walk", "-v2c", "-c", "public", "-t", "0.3", "-r", "1"])
        .arg(agent(port))
        .arg(".1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    // Wait until the walk is under way, then kill the agent.
    while lines.len() < 200 {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "walk ended before the agent was killed");
        lines.push(line.clone());
    }
    snmpd.kill();
    let started = Instant::now();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Timeout: No Response") && stderr.contains("(2 attempts)"), "{stderr}");
    let got = lines.concat() + &rest;
    let got_oids: Vec<&str> =
        got.lines().filter_map(|l| l.split(" = ").next()).filter(|o| o.starts_with('.')).collect();
    let full_count = full.lines().filter(|l| l.starts_with('.')).count();
    assert!(got_oids.len() >= 200 && got_oids.len() < full_count, "{} of {full_count}", got_oids.len());
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn bad_arguments_are_explained() {
    for (args, expect) in [
        (&["get", "-v2c", "-c", "p", "127.0.0.1:1"][..], "missing OID"),
        (&["get", "-v2", "127.0.0.1:1", ".1.3"][..], "community is required"),
        (
            &["get", "-v3", "-l", "authPriv", "-u", "x", "-A", "short", "-X", "longenough", "127.0.0.1:1", ".1.3"][..],
            "shorter than 8",
        ),
        (&["get", "-v3", "-l", "authNoPriv", "-u", "x", "127.0.0.1:1", ".1.3"][..], "-A PASSPHRASE"),
        (
            &["get", "-v3", "-l", "authPriv", "-u", "x", "-a", "SHA-1024", "-A", "12345678", "127.0.0.1:1", ".1.3"][..],
            "unknown authentication protocol",
        ),
        (&["get", "-v2c", "-c", "p", "127.0.0.1:1", "1.3.x"][..], "invalid OID"),
        (&["bulkwalk", "-v2c", "-c", "p", "-Crx", "127.0.0.1:1"][..], "-Cr needs a number"),
    ] {
        let output = Command::new(BIN).arg("snmp").args(args).env_remove("NOCWATCH_SNMP_COMMUNITY").output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(text(&output.stderr).contains(expect), "{args:?}: {}", text(&output.stderr));
    }
}

#[test]
fn ipv6_agents_are_reached_over_the_ipv6_socket() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let snmpd = Snmpd::start_with(&[], true);
    let port = snmpd.port;
    let oids = [".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.1.0"];
    let v6 = format!("udp6:[::1]:{port}");
    let ours = Command::new(BIN).args(["snmp", "get", "-v2c", "-c", "public", "-On", &v6]).args(oids).output().unwrap();
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let theirs = Command::new("snmpget")
        .args(["-v2c", "-c", "public", "-On", "-m", "", &v6])
        .args(oids)
        .env("MIBS", "")
        .output()
        .unwrap();
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
    let v4 = nocwatch(&["get", "-v2c", "-c", "public"], port, &oids);
    assert_eq!(text(&v4.stdout), text(&ours.stdout));
}

/// `nocwatch snmp walk` with MIB directories prints what `snmpwalk` prints with the same
/// MIBs: `MODULE::name.index` OIDs, enum labels, DISPLAY-HINTs (ifPhysAddress,
/// DisplayString), OID values by name (sysORID, hrStorageType), UNITS. Values that move
/// between two net-snmp walks bracketing ours are compared by type only.
#[test]
fn walks_print_names_like_net_snmp_when_mibs_are_configured() {
    let snmpd = Snmpd::start(&[]);
    let mibs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mibs");
    // The IETF sets only: the objects walked are IETF ones, and net-snmp needs ~3 s per
    // command to load the Cisco and Juniper sets too.
    let sets: Vec<String> = ["net-snmp", "rfc"].iter().map(|s| mibs.join(s).display().to_string()).collect();
    // nocwatch: the first directory wins for a module defined twice; net-snmp: the last.
    let reversed: Vec<String> = sets.iter().rev().cloned().collect();
    let cache = tempfile::tempdir().unwrap();
    const ROOTS: [&str; 6] = [
        ".1.3.6.1.2.1.1",      // system, sysORTable (OID values)
        ".1.3.6.1.2.1.2",      // interfaces (enums, PhysAddress "1x:")
        ".1.3.6.1.2.1.31.1.1", // ifXTable (DisplayString, Counter64, ifHighSpeed)
        ".1.3.6.1.2.1.25.2",   // hrStorage (OID values, UNITS "Bytes")
        ".1.3.6.1.2.1.25.3.2", // hrDeviceTable (enums, OID values)
        ".1.3.6.1.2.1.4.20",   // ipAddrTable (IpAddress indexes)
    ];
    let net_snmp_walk = |root: &str| {
        let out = Command::new("snmpwalk")
            .args(["-v2c", "-c", "public", "-M", &reversed.join(":"), "-m", "ALL"])
            .arg(agent(snmpd.port))
            .arg(root)
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let named = |output: &str| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in output.lines() {
            match line.split_once(" = ") {
                Some((oid, value)) if !oid.starts_with(' ') && !oid.is_empty() => out.push((oid.into(), value.into())),
                _ => {
                    if let Some(last) = out.last_mut() {
                        last.1.push('\n');
                        last.1.push_str(line);
                    }
                }
            }
        }
        out
    };
    let (mut compared, mut names, mut module_differences) = (0, 0, 0);
    for root in ROOTS {
        let before = named(&net_snmp_walk(root));
        let mut args: Vec<String> = vec!["snmp".into(), "walk".into(), "-v2c".into(), "-c".into(), "public".into()];
        for set in &sets {
            args.extend(["--mib-dir".into(), set.clone()]);
        }
        let ours = Command::new(BIN)
            .args(&args)
            .arg(agent(snmpd.port))
            .arg(root)
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("NOCWATCH_CONFIG")
            .output()
            .unwrap();
        assert!(ours.status.success(), "{root}: {}", text(&ours.stderr));
        let ours = named(&text(&ours.stdout));
        let after = named(&net_snmp_walk(root));
        assert!(!before.is_empty(), "{root}: net-snmp printed nothing");
        assert_eq!(before.len(), after.len(), "{root}: the tree changed during the test");
        // The name must be the same; the module may differ when several modules define
        // the same name for the same OID (DISMAN-EVENT-MIB and EXPRESSION-MIB both define
        // sysUpTimeInstance): net-snmp names the first it loaded, nocwatch prefers SMIv2
        // modules and the one others import from. Counted, and must stay rare.
        let without_module = |v: &[(String, String)]| {
            v.iter().map(|(k, _)| k.split_once("::").map_or(k.clone(), |(_, n)| n.to_string())).collect::<Vec<_>>()
        };
        assert_eq!(without_module(&ours), without_module(&before), "{root}: names differ");
        module_differences += ours.iter().zip(&before).filter(|((a, _), (b, _))| a != b).count();
        names += ours.len();
        for ((oid, ours), ((_, first), (_, second))) in ours.iter().zip(before.iter().zip(&after)) {
            let type_of = |v: &str| v.split_once(": ").map(|(t, _)| t.to_string()).unwrap_or_default();
            if first == second && !oid.contains("hrStorageUsed") {
                assert_eq!(ours, first, "{oid}: value differs");
                compared += 1;
            } else {
                assert_eq!(type_of(ours), type_of(first), "{oid}: type differs");
            }
        }
    }
    println!("{names} bindings, {compared} values compared, {module_differences} named in another module");
    assert!(compared > 100, "only {compared} values compared");
    assert!(module_differences * 50 <= names, "{module_differences} of {names} names in another module");
}
