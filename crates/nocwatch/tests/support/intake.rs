//! A local Datadog intake for tests: it validates every request against Datadog's own
//! OpenAPI spec (`shared/testdata/datadog/openapi-v2.yaml`) and documented limits, records
//! what it accepted, and answers as scripted (errors, 413 above a size) for fault tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

pub const API_KEY: &str = "0123456789abcdef0123456789abcdef";

/// Datadog's OpenAPI v2 document as JSON (parsed once per test binary).
pub fn openapi() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(super::testdata("datadog/openapi-v2.yaml")).unwrap();
        // Our YAML reader expands `${VAR}` in values (keys such as `$ref` stay literal);
        // the spec's text must stay literal.
        let node = nocwatch::config::yaml::parse(&text.replace("${", "$${")).unwrap();
        let env = std::collections::HashMap::<String, String>::new();
        let ctx = nocwatch::config::yaml::Context { env: Some(&env), base_dir: Some(std::path::Path::new(".")) };
        nocwatch::config::yaml::from_node(&node, "", &ctx).unwrap()
    })
}

/// A validator for one of the spec's component schemas.
pub fn schema(name: &str) -> jsonschema::Validator {
    let root = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": openapi()["components"].clone(),
    });
    jsonschema::validator_for(&root).unwrap()
}

#[derive(Default)]
pub struct Recorded {
    /// Every log entry accepted, in arrival order.
    pub logs: Vec<Value>,
    /// Requests answered, with their status.
    pub requests: Vec<u16>,
    /// Anything that broke the spec or the documented limits.
    pub violations: Vec<String>,
    /// Statuses to answer next, before accepting again.
    pub script: VecDeque<u16>,
    /// Answer 413 to requests with more entries than this.
    pub too_large_above: Option<usize>,
    /// Answer this to every request while set (an intake that is down).
    pub down: Option<u16>,
    /// Every metric series accepted, in arrival order.
    pub series: Vec<Value>,
    /// Delays before answering the next log requests, by arrival (answers then come back
    /// out of order).
    pub delays: VecDeque<Duration>,
    /// Never answer (while set) a log request with an entry whose message contains this.
    pub hold_containing: Option<String>,
    /// Log requests held so far, and the entries of each.
    pub held: Vec<Vec<Value>>,
    /// Log requests being handled now, and the most at once.
    pub active: usize,
    pub peak_active: usize,
}

#[derive(Clone)]
pub struct Intake {
    pub address: SocketAddr,
    pub state: Arc<Mutex<Recorded>>,
}

struct Shared {
    state: Arc<Mutex<Recorded>>,
    logs_schema: jsonschema::Validator,
    series_schema: jsonschema::Validator,
}

impl Intake {
    /// Starts the intake on a free loopback port, in a thread of its own.
    pub fn start() -> Intake {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let shared = Arc::new(Shared {
            state: state.clone(),
            logs_schema: schema("HTTPLog"),
            series_schema: schema("MetricPayload"),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new()
                    .route("/api/v2/logs", post(logs))
                    .route("/api/v2/series", post(series))
                    .with_state(shared);
                axum::serve(listener, app).await.unwrap();
            });
        });
        Intake { address, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn logs(&self) -> Vec<Value> {
        self.state.lock().unwrap().logs.clone()
    }

    pub fn series(&self) -> Vec<Value> {
        self.state.lock().unwrap().series.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

/// Checks what every intake request must carry; returns the decompressed body.
fn common_checks(headers: &HeaderMap, body: &Bytes, violations: &mut Vec<String>) -> Vec<u8> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if header("dd-api-key").as_deref() != Some(API_KEY) {
        violations.push(format!("DD-API-KEY header: {:?}", header("dd-api-key").map(|_| "<wrong key>")));
    }
    if !header("content-type").is_some_and(|v| v.starts_with("application/json")) {
        violations.push(format!("Content-Type: {:?}", header("content-type")));
    }
    match header("content-encoding").as_deref() {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
                Ok(_) => out,
                Err(e) => {
                    violations.push(format!("gzip body does not decode: {e}"));
                    Vec::new()
                }
            }
        }
        Some(other) => {
            violations.push(format!("Content-Encoding {other} is not one nocwatch should send"));
            Vec::new()
        }
    }
}

async fn logs(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut violations = Vec::new();
    let plain = common_checks(&headers, &body, &mut violations);
    if plain.len() > 5_000_000 {
        violations.push(format!("payload of {} bytes is over 5 MB uncompressed", plain.len()));
    }
    let payload: Value = serde_json::from_slice(&plain).unwrap_or_else(|e| {
        violations.push(format!("body is not JSON: {e}"));
        Value::Null
    });
    for error in shared.logs_schema.iter_errors(&payload) {
        violations.push(format!("HTTPLog schema: {error} at {}", error.instance_path()));
    }
    let entries = payload.as_array().cloned().unwrap_or_default();
    if entries.len() > 1000 {
        violations.push(format!("{} entries in one request (max 1000)", entries.len()));
    }
    for entry in &entries {
        let size = serde_json::to_vec(entry).map(|v| v.len()).unwrap_or(0);
        if size > 1_000_000 {
            violations.push(format!("an entry of {size} bytes is over 1 MB"));
        }
    }

    let (delay, hold) = {
        let mut state = shared.state.lock().unwrap();
        state.active += 1;
        state.peak_active = state.peak_active.max(state.active);
        let hold = state.hold_containing.clone().filter(|marker| {
            entries.iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains(marker.as_str())))
        });
        if hold.is_some() {
            state.held.push(entries.clone());
        }
        (state.delays.pop_front(), hold)
    };
    if let Some(marker) = hold {
        // Held until the test lets go; the sender has usually been killed by then.
        while shared.state.lock().unwrap().hold_containing.as_ref() == Some(&marker) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut state = shared.state.lock().unwrap();
        state.active -= 1;
        state.requests.push(503);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut state = shared.state.lock().unwrap();
    state.active -= 1;
    state.violations.extend(violations);
    let status = if let Some(status) = state.down {
        status
    } else if let Some(status) = state.script.pop_front() {
        status
    } else if state.too_large_above.is_some_and(|max| entries.len() > max) {
        413
    } else {
        state.logs.extend(entries);
        202
    };
    state.requests.push(status);
    StatusCode::from_u16(status).unwrap()
}

async fn series(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut violations = Vec::new();
    if body.len() > 512_000 {
        violations.push(format!("series payload of {} bytes is over 512000 bytes", body.len()));
    }
    let plain = common_checks(&headers, &body, &mut violations);
    if plain.len() >= 5_242_880 {
        violations.push(format!("series payload decompresses to {} bytes (limit 5242880)", plain.len()));
    }
    let payload: Value = serde_json::from_slice(&plain).unwrap_or_else(|e| {
        violations.push(format!("body is not JSON: {e}"));
        Value::Null
    });
    for error in shared.series_schema.iter_errors(&payload) {
        violations.push(format!("MetricPayload schema: {error} at {}", error.instance_path()));
    }
    let now = jiff::Timestamp::now().as_second();
    let series = payload["series"].as_array().cloned().unwrap_or_default();
    for s in &series {
        for point in s["points"].as_array().into_iter().flatten() {
            let t = point["timestamp"].as_i64().unwrap_or(0);
            if t > now + 600 || t < now - 3600 {
                violations.push(format!("point timestamp {t} is not current (now {now})"));
            }
        }
        if matches!(s["type"].as_i64(), Some(1 | 2)) && s.get("interval").is_none() {
            violations.push(format!("count or rate series without interval: {s}"));
        }
    }
    let mut state = shared.state.lock().unwrap();
    state.violations.extend(violations);
    let status = state.down.or_else(|| state.script.pop_front()).unwrap_or_else(|| {
        state.series.extend(series);
        202
    });
    state.requests.push(status);
    StatusCode::from_u16(status).unwrap()
}
