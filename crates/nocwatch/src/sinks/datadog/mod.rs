//! Sinks to Datadog. What they share: the site (which region's intake), the checks of the
//! account keys, their HTTP settings' defaults, and how a request reaches a JSON intake
//! (API key header; the rest is `sinks::util::http`'s).

pub mod logs;
pub mod metrics;

use crate::config::{Invalid, Secret};
use crate::sinks::util::http::{self, Destination, HttpSinkConfig};
use crate::sinks::util::request::{Outcome, Request};

/// The HTTP keys of the Datadog sinks: a request may take 30 s.
pub type DatadogHttpConfig = HttpSinkConfig<30>;

/// A Datadog JSON intake (`/api/v2/logs`, `/api/v2/series`); its answers are read the
/// common way (Datadog's documented semantics).
#[derive(Clone)]
pub struct Intake {
    url: String,
    api_key: Secret,
}

impl Intake {
    /// The intake's `path` on `endpoint` (a base URL, checked: [`http::base_url`]) when the
    /// config sets one, else on `https://<host>` (the site's).
    pub fn new(endpoint: Option<&str>, host: &str, path: &str, api_key: &Secret) -> Result<Intake, Invalid> {
        let base = match endpoint {
            Some(endpoint) => http::base_url(endpoint, "https://api.datadoghq.com", "`api_key`")?,
            None => format!("https://{host}"),
        };
        Ok(Intake { url: format!("{base}{path}"), api_key: api_key.clone() })
    }
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
pub fn check_account(site: &str, api_key: &Secret) -> Result<(), Invalid> {
    if !SITES.contains(&site) {
        let hint = crate::config::yaml::suggestion(site, SITES);
        return Err(Invalid::at("site", format!("`{site}` is not a Datadog site{hint}")));
    }
    if api_key.expose().trim().is_empty() {
        return Err(Invalid::at("api_key", "is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The URLs of Datadog's documentation for a site (docs/config.md, "Sites and
    /// endpoints"; `/api/v2/series` on `api.<site>`), or the configured endpoint's.
    #[test]
    fn each_sink_posts_to_its_sites_intake_or_to_the_endpoint() {
        let logs =
            |config| serde_json::from_value::<super::logs::DatadogLogsConfig>(config).unwrap().intake().unwrap().url;
        let metrics = |config| {
            serde_json::from_value::<super::metrics::DatadogMetricsConfig>(config).unwrap().intake().unwrap().url
        };
        assert_eq!(logs(json!({"api_key": "k"})), "https://http-intake.logs.datadoghq.com/api/v2/logs");
        assert_eq!(
            logs(json!({"api_key": "k", "site": "ap1.datadoghq.com"})),
            "https://http-intake.logs.ap1.datadoghq.com/api/v2/logs"
        );
        assert_eq!(metrics(json!({"api_key": "k", "site": "datadoghq.eu"})), "https://api.datadoghq.eu/api/v2/series");
        assert_eq!(
            logs(json!({"api_key": "k", "endpoint": "http://127.0.0.1:8080/"})),
            "http://127.0.0.1:8080/api/v2/logs"
        );
        assert_eq!(
            metrics(json!({"api_key": "k", "endpoint": "https://api.uk1.datadoghq.com"})),
            "https://api.uk1.datadoghq.com/api/v2/series"
        );
        // The path goes on the base URL; a query (an API key in `?dd-api-key=`) is refused.
        let error = serde_json::from_value::<super::metrics::DatadogMetricsConfig>(
            json!({"api_key": "k", "endpoint": "http://127.0.0.1:9/?dd-api-key=KEY123"}),
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert_eq!(error.key.as_deref(), Some("endpoint"));
        assert!(!error.to_string().contains("KEY123"), "{error}");
    }
}
