//! The flat attribute representation (`nocwatch::event::Attributes`) writes the same JSON
//! bytes as the `serde_json::Map` tree it replaced, for the benchmark line mix and every
//! recorded vendor sample: the expected attributes are built here the former way (the
//! syslog mapper's code before the change, over `nocwatch_syslog::parse`), serialized by
//! serde_json, and compared with what the sinks' JSON writer and serde write for the
//! event the syslog source builds now.

use std::net::SocketAddr;

use nocwatch::sinks::util::json;
use nocwatch::sources::syslog::event::{EventMapper, Peer};
use nocwatch_syslog::Message;
use serde_json::{Map, Value};

#[path = "../../../bench/loadgen/src/mix.rs"]
mod mix;

/// The attribute tree as the syslog source built it before `Attributes` (verbatim logic).
fn former_attributes(message: &Message<'_>, peer_ip: &str, truncated: bool) -> Map<String, Value> {
    let parsed_host = message.hostname.as_deref().filter(|h| !h.is_empty() && *h != "-");
    let mut syslog = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            syslog.insert(key.to_owned(), value);
        }
    };
    put("facility", message.facility.map(|f| f.as_str().into()));
    put("severity", message.severity.map(|s| s.as_str().into()));
    put("appname", message.app_name.as_deref().map(Into::into));
    put("procid", message.proc_id.as_deref().map(Into::into));
    put("msgid", message.msg_id.as_deref().map(Into::into));
    put("hostname", parsed_host.map(Into::into));
    put("protocol", Some(message.protocol.as_str().into()));

    let mut attributes = Map::new();
    attributes.insert("syslog".to_owned(), Value::Object(syslog));
    if !message.structured_data.is_empty() {
        let mut sd = Map::new();
        for element in &message.structured_data {
            let params: Map<String, Value> =
                element.params.iter().map(|p| (p.name.to_string(), Value::from(p.value.as_ref()))).collect();
            sd.insert(element.id.to_string(), Value::Object(params));
        }
        attributes.insert("structured_data".to_owned(), Value::Object(sd));
    }
    for attribute in &message.attributes {
        insert_dotted(&mut attributes, attribute.key, Value::from(attribute.value.as_ref()));
    }
    insert_dotted(&mut attributes, "peer.ip", Value::from(peer_ip));
    if truncated {
        attributes.insert("truncated".to_owned(), Value::Bool(true));
    }
    if let Some(error) = message.parse_error {
        attributes.insert("parse_error".to_owned(), Value::from(error.as_str()));
    }
    attributes
}

fn insert_dotted(map: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            map.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            if !map.contains_key(head) {
                map.insert(head.to_owned(), Value::Object(Map::new()));
            }
            match map.get_mut(head) {
                Some(Value::Object(inner)) => insert_dotted(inner, rest, value),
                _ => {
                    map.insert(key.to_owned(), value);
                }
            }
        }
    }
}

fn testdata(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata").join(path)
}

fn sample_lines() -> Vec<String> {
    let mut lines: Vec<String> = (0..500)
        .map(|n| {
            let mut line = String::new();
            mix::line(n, &mut line);
            line
        })
        .collect();
    for dir in [
        "syslog/collected",
        "syslog/elastic-integrations/cisco_ios",
        "syslog/elastic-integrations/juniper_srx",
        "syslog/logstash-patterns-core",
    ] {
        let Ok(entries) = std::fs::read_dir(testdata(dir)) else { continue };
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
            }
        }
    }
    // Repeated SD-IDs and parameters, an element without parameters, junk.
    lines.push(r#"<14>1 2024-04-29T13:58:40Z h app - - [a@1 x="1" y="2"][a@1 z="3"][b@1][c@1 k="1" k="2"] m"#.into());
    lines.push("\u{1}\u{2} not syslog at all".into());
    lines
}

#[test]
fn attributes_write_the_bytes_the_map_tree_wrote() {
    let mapper = EventMapper::new(Default::default(), None).expect("mapper");
    let ctx = mapper.context();
    let addr: SocketAddr = "10.0.0.1:514".parse().expect("address");
    let peer = Peer::new(addr);
    let lines = sample_lines();
    assert!(lines.len() > 550, "samples found: {}", lines.len());
    // Keys a Datadog entry sets itself and leaves out of the attributes.
    const RESERVED: [&str; 8] =
        ["message", "ddsource", "ddtags", "hostname", "service", "status", "timestamp", "truncated"];
    for (i, line) in lines.iter().enumerate() {
        let truncated = i % 7 == 3;
        let event = mapper.to_event_from(line.as_bytes(), &peer, truncated, &ctx);
        let message = nocwatch_syslog::parse(line.as_bytes(), &ctx);
        let former = former_attributes(&message, "10.0.0.1", truncated);
        let expected = serde_json::to_string(&former).expect("serializable");

        let mut written = Vec::new();
        json::attributes(&mut written, &event.attributes);
        assert_eq!(String::from_utf8_lossy(&written), expected, "line {i}: {line}");
        assert_eq!(serde_json::to_string(&event.attributes).expect("serializable"), expected, "line {i}");

        // A Datadog entry's attribute part: the same members, reserved keys left out.
        let kept: Map<String, Value> = former
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut entry = vec![b'{'];
        json::members(&mut entry, event.attributes.members(), |key| !RESERVED.contains(&key));
        entry.push(b'}');
        assert_eq!(String::from_utf8_lossy(&entry), serde_json::to_string(&kept).expect("serializable"), "line {i}");

        // What the disk buffer writes reads back equal (and old records read as they were).
        let back: nocwatch::event::Attributes = serde_json::from_str(&expected).expect("readable");
        assert_eq!(back, event.attributes, "line {i}");
    }
}
