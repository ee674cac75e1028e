//! From a received syslog message to a log event.

use std::net::SocketAddr;

use serde_json::{Map, Value};

use crate::event::{LogEvent, Status};

pub fn to_event(bytes: &[u8], peer: SocketAddr, truncated: bool) -> LogEvent {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    let (severity, message) = split_pri(text);
    let mut attributes = Map::new();
    attributes.insert("peer".to_owned(), Value::String(peer.ip().to_string()));
    if truncated {
        attributes.insert("truncated".to_owned(), Value::Bool(true));
    }
    LogEvent {
        timestamp: jiff::Timestamp::now(),
        host: Some(peer.ip().to_string()),
        source: "syslog".to_owned(),
        service: None,
        status: severity.map_or(Status::Info, Status::from_syslog_severity),
        message: message.to_owned(),
        tags: Default::default(),
        attributes,
    }
}

fn split_pri(text: &str) -> (Option<u8>, &str) {
    let Some(rest) = text.strip_prefix('<') else {
        return (None, text);
    };
    let Some(end) = rest.find('>').filter(|&end| (1..=3).contains(&end)) else {
        return (None, text);
    };
    match rest[..end].parse::<u8>() {
        Ok(pri) if pri <= 191 => (Some(pri & 7), &rest[end + 1..]),
        _ => (None, text),
    }
}
