//! What the HTTP sinks (`datadog_logs` over http, `datadog_metrics`, `otlp`) share: their
//! common keys ([`HttpSinkConfig`], written inline in each sink's config), the client, the
//! service that POSTs a request and reads the answer, and [`HttpSinkConfig::deliver`], which
//! builds those and runs the delivery loop. A sink brings its encoder and a
//! [`Destination`]: where a request goes, with which headers, and (when it is not the
//! common reading) what an answer means. Also request body compression.

use std::io::Write as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, HeaderMap, RETRY_AFTER};
use serde::de::{self, MapAccess};
use serde::{Deserialize, Serialize};

use super::request::{self, BatchConfig, Encoder, Outcome, Request, RequestConfig, Service};
use super::retry::RetryConfig;
use crate::component::Running;
use crate::config;
use crate::config::inline::InlineKeys;
use crate::net::tls::TlsClientConfig;
use crate::sinks::SinkContext;

/// An error body is read up to this size (the reason in logs needs a few hundred bytes; a
/// hostile or broken server can send anything).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// A server's `Retry-After` is followed up to this long.
const MAX_RETRY_AFTER_SECS: u64 = 300;

/// The keys every HTTP sink has, written beside the sink's own (`docs/config.md`, "Settings
/// shared by the network sinks"). `DEFAULT_TIMEOUT_SECS` is `request_timeout` when not
/// given: destinations have their own conventions.
#[derive(Debug, Clone, Serialize)]
pub struct HttpSinkConfig<const DEFAULT_TIMEOUT_SECS: u64> {
    /// The request body gzip-compressed (default) or as is.
    pub compression: Compress,
    /// Longest a request may take, from connecting to the end of the answer.
    pub request_timeout: config::Duration,
    pub batch: BatchConfig,
    /// Requests in flight at once.
    pub request: RequestConfig,
    pub retry: RetryConfig,
    pub tls: TlsClientConfig,
    /// The keys the file wrote, so a sink can refuse one that its mode has no use for.
    #[serde(skip)]
    written: Vec<&'static str>,
}

const KEYS: [&str; 6] = ["compression", "request_timeout", "batch", "request", "retry", "tls"];

impl<const DEFAULT_TIMEOUT_SECS: u64> Default for HttpSinkConfig<DEFAULT_TIMEOUT_SECS> {
    fn default() -> Self {
        HttpSinkConfig {
            compression: Compress::default(),
            request_timeout: config::Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            batch: BatchConfig::default(),
            request: RequestConfig::default(),
            retry: RetryConfig::default(),
            tls: TlsClientConfig::default(),
            written: Vec::new(),
        }
    }
}

impl<const DEFAULT_TIMEOUT_SECS: u64> InlineKeys for HttpSinkConfig<DEFAULT_TIMEOUT_SECS> {
    fn keys() -> Vec<&'static str> {
        KEYS.to_vec()
    }

    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "compression" => self.compression = map.next_value()?,
            "request_timeout" => self.request_timeout = map.next_value()?,
            "batch" => self.batch = map.next_value()?,
            "request" => self.request = map.next_value()?,
            "retry" => self.retry = map.next_value()?,
            "tls" => self.tls = map.next_value()?,
            other => return Err(de::Error::unknown_field(other, &KEYS)),
        }
        self.written.extend(KEYS.iter().find(|k| **k == key));
        Ok(())
    }
}

impl<const DEFAULT_TIMEOUT_SECS: u64> HttpSinkConfig<DEFAULT_TIMEOUT_SECS> {
    /// Whether the config file wrote `key` (one of these keys).
    pub fn written(&self, key: &str) -> bool {
        self.written.contains(&key)
    }

    pub fn gzip(&self) -> bool {
        self.compression == Compress::Gzip
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.request_timeout.get().is_zero() {
            // Every request would time out and be retried forever.
            return Err("request_timeout must be more than 0s".to_owned());
        }
        self.tls.client_config().map(drop).map_err(|e| format!("{e:#}"))
    }

    /// The sink: `encoder`'s requests POSTed to `destination`, up to `request.concurrency`
    /// at once, batched and retried as configured.
    pub fn deliver<E: Encoder, D: Destination>(
        &self,
        ctx: SinkContext,
        encoder: E,
        destination: D,
    ) -> anyhow::Result<Running> {
        let service =
            HttpService { client: client(&self.tls, self.request_timeout.get())?, destination, gzip: self.gzip() };
        Ok(Box::pin(request::run_concurrent(
            ctx,
            encoder,
            service,
            self.request.clone(),
            self.batch.clone(),
            self.retry.clone(),
        )))
    }
}

pub fn client(tls: &TlsClientConfig, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls.client_config()?)
        .timeout(timeout)
        .user_agent(concat!("nocwatch/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// What is particular to one HTTP sink's requests once they are encoded. Clones share
/// nothing that changes: one clone per request in flight.
pub trait Destination: Clone + Send + Sync + 'static {
    /// What [`Destination::outcome`] needs to know of the request it reads the answer to.
    type Sent: Send;

    /// The POST that carries `request`, with every header but `Content-Encoding` (set from
    /// `compression`); an `Err` is the request's outcome, unsent.
    fn post(
        &self,
        client: &reqwest::Client,
        request: &Request,
    ) -> Result<(reqwest::RequestBuilder, Self::Sent), Outcome>;

    /// What the destination made of the request. By default the common reading,
    /// [`Answer::outcome`].
    fn outcome(&self, _sent: Self::Sent, answer: &Answer) -> Outcome {
        answer.outcome()
    }
}

/// What a server answered to a request.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// At most [`MAX_ANSWER_BYTES`]; a body that fails half-way is what arrived.
    pub body: Vec<u8>,
    /// The server's `Retry-After`, in seconds (an HTTP date is not followed), capped.
    pub retry_after: Option<Duration>,
}

impl Answer {
    async fn read(mut response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)));
        let mut body = Vec::new();
        while body.len() < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER_BYTES - body.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        Answer { status, headers, body, retry_after }
    }

    /// The common reading (Datadog's documented semantics): 2xx delivered; 408, 429 and
    /// 5xx retried; 413 split; anything else refused for good.
    pub fn outcome(&self) -> Outcome {
        let status = self.status;
        if status.is_success() {
            return Outcome::Delivered;
        }
        let reason = format!("HTTP {status}: {}", clip(&String::from_utf8_lossy(&self.body)));
        let after = self.retry_after;
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Outcome::TooLarge,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Outcome::Retry { reason, after },
            s if s.is_server_error() => Outcome::Retry { reason, after },
            _ => Outcome::Reject { reason },
        }
    }
}

/// The part of a server's text that goes into a reason (logs, `/status`).
pub fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

/// POSTs requests to a [`Destination`]. Clones share the client's connection pool.
#[derive(Clone)]
struct HttpService<D> {
    client: reqwest::Client,
    destination: D,
    /// The body is gzip-compressed (by the encoder).
    gzip: bool,
}

impl<D: Destination> Service for HttpService<D> {
    async fn send(&mut self, request: &Request) -> Outcome {
        let (mut post, sent) = match self.destination.post(&self.client, request) {
            Ok(post) => post,
            Err(outcome) => return outcome,
        };
        if self.gzip {
            post = post.header(CONTENT_ENCODING, "gzip");
        }
        match post.send().await {
            Ok(response) => self.destination.outcome(sent, &Answer::read(response).await),
            // The error names the URL, never a header: API keys and tokens stay out of logs
            // (and URLs carry no credentials: the sinks check their endpoints).
            Err(e) => Outcome::Retry { reason: format!("request failed: {}", error_chain(&e)), after: None },
        }
    }
}

/// An error and its causes ("connection refused" is a cause of reqwest's error).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `compression` of every HTTP sink: the request body gzip-compressed (default) or as is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compress {
    #[default]
    Gzip,
    None,
}

/// Gzip at the fastest level: intake payloads are repetitive JSON or protobuf, and CPU per
/// flush matters more than the last percent of size.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    gzip_into(body, Vec::with_capacity(body.len() / 4))
}

/// As [`gzip`], into `out` (cleared first), to reuse a buffer.
pub fn gzip_into(body: &[u8], mut out: Vec<u8>) -> Vec<u8> {
    out.clear();
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}
