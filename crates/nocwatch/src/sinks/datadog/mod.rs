//! Sinks to Datadog. What they share: the site (which region's intake) and the request
//! service of the JSON intakes (API key header, gzip).

pub mod logs;
pub mod metrics;

use crate::config::Secret;
use crate::sinks::util::http;
use crate::sinks::util::request::{Outcome, Request, Service};

/// POSTs encoded JSON to a Datadog intake. Clones share the client's connection pool:
/// one clone per request in flight.
#[derive(Clone)]
pub struct IntakeService {
    pub client: reqwest::Client,
    pub url: String,
    pub api_key: Secret,
    /// The body is gzip-compressed (by the encoder).
    pub gzip: bool,
}

impl Service for IntakeService {
    async fn send(&mut self, request: &Request) -> Outcome {
        let mut builder = self
            .client
            .post(&self.url)
            .header("DD-API-KEY", self.api_key.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        if self.gzip {
            builder = builder.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        http::outcome(builder).await
    }
}

/// Datadog sites, as documented for the public API.
pub const SITES: &[&str] = &[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "datadoghq.eu",
    "ddog-gov.com",
];

pub fn default_site() -> String {
    SITES[0].to_owned()
}

pub fn check_site(site: &str) -> Result<(), String> {
    if SITES.contains(&site) {
        Ok(())
    } else {
        Err(format!("site `{site}` is not a Datadog site{}", crate::config::yaml::suggestion(site, SITES)))
    }
}
