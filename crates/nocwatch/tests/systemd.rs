//! End to end: running under systemd. `Type=notify` readiness with a real notification
//! socket (what systemd binds for the service), `nocwatch health` (the container
//! HEALTHCHECK), and the shipped unit file checked by `systemd-analyze verify`.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn config(udp: u16, health: u16) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 1s, flush_timeout: 5s}}
sources:
  syslog:
    type: syslog
    address: 127.0.0.1:{udp}
    health_check: 127.0.0.1:{health}
sinks:
  file:
    type: file
    path: ${{DIR}}/events.jsonl
"
    )
}

fn health(admin: std::net::SocketAddr, path: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nocwatch"))
        .args(["health", "--address", &admin.to_string(), "--path", path])
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn tells_systemd_ready_once_listening_and_stopping_when_the_drain_starts() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let notifications = UnixDatagram::bind(&socket_path).unwrap();
    notifications.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (udp, health_port) = (free_port(), free_port());
    let mut agent = Agent::start_live(
        &config(udp, health_port),
        Stdio::null(),
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );

    let mut buf = [0u8; 256];
    let len = notifications.recv(&mut buf).expect("READY=1 from nocwatch");
    assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), "READY=1");
    // At once, without retrying: the source's socket was bound before READY=1, so this
    // datagram waits in it and is received (to an unbound port it would be dropped).
    send_udp(addr(udp), &["<14>sent the moment systemd heard READY".to_owned()]);
    let events = agent.path("events.jsonl");
    eventually(Duration::from_secs(5), "the datagram sent right after READY=1", || {
        read_json_lines(&events).iter().any(|e| e["message"] == "sent the moment systemd heard READY")
    });

    // `nocwatch health`, the image's HEALTHCHECK: 0 while healthy, 1 once draining.
    eventually(Duration::from_secs(5), "ready", || health(agent.admin, "/health/ready").0);
    let (live, output) = health(agent.admin, "/health/live");
    assert!(live, "{output}");
    assert!(output.contains("/health/live 200"), "{output}");

    agent.signal("TERM");
    let len = notifications.recv(&mut buf).expect("STOPPING=1 from nocwatch");
    assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), "STOPPING=1");
    let (ready, output) = health(agent.admin, "/health/ready");
    assert!(!ready, "draining is not ready: {output}");
    assert!(output.contains("503"), "{output}");
    assert!(agent.wait_exit(Duration::from_secs(15)).success());
    let (live, _) = health(agent.admin, "/health/live");
    assert!(!live, "nothing listens any more");
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/nocwatch.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in ["Type=notify", "ExecStart=/usr/bin/nocwatch run", "AmbientCapabilities=", "StateDirectory=nocwatch"] {
        assert!(text.lines().any(|l| l.starts_with(line)), "{line} missing");
    }
    // verify checks the binary ExecStart names exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("nocwatch.service");
    std::fs::write(&copy, text.replace("/usr/bin/nocwatch", env!("CARGO_BIN_EXE_nocwatch"))).unwrap();
    let output = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&copy).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Lines about the host's own units (systemd-analyze loads the default target) are not ours.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("nocwatch.service")).collect();
    assert!(output.status.success() && ours.is_empty(), "systemd-analyze verify:\n{stderr}");
}
