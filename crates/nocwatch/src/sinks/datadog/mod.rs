//! Sinks to Datadog. What they share: the site (which region's intake), the checks of the
//! account keys, their HTTP settings' defaults, and how a request reaches a JSON intake
//! (API key header; the rest is `sinks::util::http`'s).

pub mod logs;
pub mod metrics;

use crate::config::Secret;
use crate::sinks::util::http::{Destination, HttpSinkConfig};
use crate::sinks::util::request::{Outcome, Request};

/// The HTTP keys of the Datadog sinks: a request may take 30 s.
pub type DatadogHttpConfig = HttpSinkConfig<30>;

/// A Datadog JSON intake (`/api/v2/logs`, `/api/v2/series`); its answers are read the
/// common way (Datadog's documented semantics).
#[derive(Clone)]
pub struct Intake {
    pub url: String,
    pub api_key: Secret,
}

impl Destination for Intake {
    type Sent = ();

    fn post(&self, client: &reqwest::Client, request: &Request) -> Result<(reqwest::RequestBuilder, ()), Outcome> {
        let post = client
            .post(&self.url)
            .header("DD-API-KEY", self.api_key.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        Ok((post, ()))
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

/// The checks of `site` and `api_key` both sinks make.
pub fn check_account(site: &str, api_key: &Secret) -> Result<(), String> {
    if !SITES.contains(&site) {
        return Err(format!("site `{site}` is not a Datadog site{}", crate::config::yaml::suggestion(site, SITES)));
    }
    if api_key.expose().trim().is_empty() {
        return Err("api_key is empty".to_owned());
    }
    Ok(())
}
