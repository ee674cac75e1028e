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
use crate::config::Invalid;
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

/// `endpoint` (a sink's `endpoint` key) as a base URL that the sink appends its paths to,
/// without a trailing `/`. http or https only, and no credentials, query or fragment: a URL
/// shows in logs and `/status` (request errors name it), so secrets go where `credentials_go`
/// says; and a path appended after a `?query` would be wrong. The errors never repeat the
/// URL.
pub fn base_url(endpoint: &str, example: &str, credentials_go: &str) -> Result<String, Invalid> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| Invalid::at("endpoint", format!("is not a URL ({e}); expected e.g. `{example}`")))?;
    if !matches!(url.scheme(), "http" | "https") {
        // Not naming the scheme: in `user:password@host` it is the user.
        return Err(Invalid::at("endpoint", "must start with `http://` or `https://`"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::at("endpoint", format!("must not carry credentials: give them in {credentials_go}")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Invalid::at(
            "endpoint",
            format!("is a base URL: no `?query` or `#fragment` (a credential goes in {credentials_go})"),
        ));
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
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
            // The error names the URL, never a header: API keys and tokens stay out of logs.
            // The sinks refuse endpoints with credentials ([`base_url`]); the URL is cut to
            // its origin and path all the same, so no later change can leak one.
            Err(e) => {
                Outcome::Retry { reason: format!("request failed: {}", error_chain(&without_secrets(e))), after: None }
            }
        }
    }
}

/// `error` with its URL's userinfo, query and fragment removed.
fn without_secrets(mut error: reqwest::Error) -> reqwest::Error {
    if let Some(url) = error.url_mut() {
        // Only fails for URLs that cannot have credentials (no host), which have none.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
    }
    error
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: [&str; 3] = ["KEY123", "s3cretpw", "relay"];

    #[test]
    fn a_base_url_is_http_with_no_credentials_query_or_fragment_and_errors_never_repeat_it() {
        let check = |endpoint| base_url(endpoint, "https://intake:443", "`api_key`");
        assert_eq!(check("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(check("https://api.uk1.datadoghq.com/prefix").unwrap(), "https://api.uk1.datadoghq.com/prefix");
        for bad in [
            "relay:s3cretpw@127.0.0.1:9",
            "ftp://relay:s3cretpw@127.0.0.1:9",
            "http://relay:s3cretpw@127.0.0.1:9/",
            "http://relay@127.0.0.1:9/",
            "http://127.0.0.1:9/?dd-api-key=KEY123",
            "http://127.0.0.1:9/#KEY123",
            "http://[KEY123/",
        ] {
            let error = check(bad).unwrap_err();
            assert_eq!(error.key.as_deref(), Some("endpoint"), "{bad}");
            assert!(!SECRETS.iter().any(|s| error.to_string().contains(s)), "{bad}: {error}");
        }
    }

    /// reqwest names the URL in its errors, query included; the reason a request failed
    /// (logs, `/status`) keeps none of its userinfo, query or fragment.
    #[tokio::test]
    async fn a_failed_request_is_reported_without_the_urls_secrets() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = format!("http://relay:s3cretpw@127.0.0.1:{port}/api/v2/series?dd-api-key=KEY123#KEY123");
        let client = client(&TlsClientConfig::default(), Duration::from_secs(10)).unwrap();
        let error = client.post(&url).send().await.unwrap_err();
        assert!(error_chain(&error).contains("KEY123"), "reqwest shows the query: the check below is not vacuous");
        let reason = error_chain(&without_secrets(error));
        assert!(reason.contains(&format!("127.0.0.1:{port}/api/v2/series")), "{reason}");
        assert!(!SECRETS.iter().any(|s| reason.contains(s)), "{reason}");
    }
}
