//! End to end: the `local_store` sink in the real binary with syslog from `logger`. History
//! survives a restart; a damaged store file gives a clear error in `/status` and on the
//! page's API, its events are dropped and counted, and the other sinks keep delivering.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

fn logger(port: u16, message: &str) {
    let status = Command::new("logger")
        .args(["-d", "-n", "127.0.0.1", "-P", &port.to_string(), "-t", "storetest", message])
        .status()
        .unwrap();
    assert!(status.success());
}

fn config(syslog: u16, web: SocketAddr, store: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, mode: udp, address: '127.0.0.1:{syslog}'}}
sinks:
  store: {{type: local_store, path: '{store}', batch: {{timeout: 100ms}}, web: {{address: '{web}'}}}}
  file: {{type: file, path: '${{DIR}}/events.jsonl'}}
"
    )
}

fn search(web: SocketAddr, text: &str) -> Vec<String> {
    let (status, body) = http_get(web, &format!("/api/logs?q={text}")).unwrap();
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    body["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let (syslog, web) = (free_port(), addr(free_port()));
    let config = config(syslog, web, store.to_str().unwrap());
    let marker = format!("before-restart-{}", std::process::id());
    {
        let mut agent = Agent::start(&config, Stdio::null());
        logger(syslog, &marker);
        eventually(Duration::from_secs(10), "the line stored", || search(web, &marker).len() == 1);
        agent.signal("TERM");
        assert!(agent.wait_exit(Duration::from_secs(20)).success());
    }
    let _agent = Agent::start(&config, Stdio::null());
    let after = format!("after-restart-{}", std::process::id());
    logger(syslog, &after);
    eventually(Duration::from_secs(10), "the new line stored", || search(web, &after).len() == 1);
    assert_eq!(search(web, &marker).len(), 1, "the line from before the restart is still there");
}

#[test]
fn a_damaged_store_is_reported_and_other_sinks_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let junk = vec![0x42u8; 32 * 1024];
    std::fs::write(&store, &junk).unwrap();
    let (syslog, web) = (free_port(), addr(free_port()));
    let agent = Agent::start(&config(syslog, web, store.to_str().unwrap()), Stdio::null());
    let marker = format!("while-damaged-{}", std::process::id());
    logger(syslog, &marker);
    // The file sink delivers.
    eventually(Duration::from_secs(10), "the file sink's event", || {
        agent.events().iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains(&marker)))
    });
    // The store's error is clear, in /status and on the page's API; its drops are counted.
    eventually(Duration::from_secs(10), "the store's drop counted", || {
        agent
            .metric("nocwatch_component_dropped_events_total", &["component_id=\"store\"", "write_error"])
            .is_some_and(|n| n >= 1.0)
    });
    let (_, status) = http_get(agent.admin, "/status").unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    let store_status = status["components"].as_array().unwrap().iter().find(|c| c["id"] == "store").unwrap();
    let error = store_status["last_error"].as_str().unwrap();
    assert!(error.contains(store.to_str().unwrap()) && error.contains("move it aside"), "{error}");
    let (code, body) = http_get(web, "/api/devices").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("move it aside"), "{body}");
    let (code, body) = http_get(web, "/api/status").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("move it aside"), "{body}");
    assert!(agent.stderr().contains("cannot open the local store"), "{}", agent.stderr());
    assert_eq!(std::fs::read(&store).unwrap(), junk, "the damaged file is left as it was");
}
