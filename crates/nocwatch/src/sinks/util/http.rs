//! The HTTP client every HTTP sink uses, request body compression, and how an HTTP
//! status becomes an [`Outcome`].

use std::io::Write as _;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::request::Outcome;
use crate::net::tls::TlsClientConfig;

pub fn client(tls: &TlsClientConfig, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls.client_config()?)
        .timeout(timeout)
        .user_agent(concat!("nocwatch/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Sends `request` and classifies the answer (Datadog's documented semantics, which are
/// also the common ones).
pub async fn outcome(request: reqwest::RequestBuilder) -> Outcome {
    let response = match request.send().await {
        Ok(response) => response,
        // The error text names the URL, never a header: the API key stays out of logs.
        Err(e) => return Outcome::Retry { reason: format!("request failed: {e}"), after: None },
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered;
    }
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs.min(300)));
    let body = response.text().await.unwrap_or_default();
    let reason = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Outcome::TooLarge,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Outcome::Retry { reason, after },
        s if s.is_server_error() => Outcome::Retry { reason, after },
        _ => Outcome::Reject { reason },
    }
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
