//! Sinks to Datadog. What they share: the site (which region's intake) and its URLs.

pub mod logs;
pub mod metrics;

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
