//! TLS for listeners (RFC 5425 syslog over TLS and any later TCP source): certificate and
//! key as PEM (given inline, from `${ENV}`, or with `cert_file` / `key_file`), and optional
//! client-certificate verification against a CA.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

use crate::config::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Server certificate chain, PEM. Usually given as `cert_file: PATH`.
    pub cert: String,
    /// Private key, PEM. Usually given as `key_file: PATH`.
    pub key: Secret,
    /// CA certificates, PEM. When set, clients must present a certificate it signed.
    #[serde(default)]
    pub client_ca: Option<String>,
}

impl TlsServerConfig {
    pub fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        let certs = CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("tls.cert is not a PEM certificate chain")?;
        if certs.is_empty() {
            bail!("tls.cert holds no certificate");
        }
        // The key's parse error is not shown: it could quote key material.
        let key = PrivateKeyDer::from_pem_slice(self.key.expose().as_bytes())
            .map_err(|_| anyhow::anyhow!("tls.key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(cert.context("tls.client_ca is not PEM")?).context("tls.client_ca")?;
                }
                if roots.is_empty() {
                    bail!("tls.client_ca holds no certificate");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .context("tls.client_ca")?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(certs, key).context("tls.cert and tls.key do not match")?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// TLS for connections nocwatch makes (Datadog intake, syslog forwarding): the server is
/// verified against the Mozilla roots (built in, so a bare container works) plus `ca`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// Extra CA certificates, PEM (usually `ca_file: PATH`), for private servers.
    #[serde(default)]
    pub ca: Option<String>,
    /// The name the server's certificate must carry, when it differs from the host
    /// connected to (rsyslog's `StreamDriverPermittedPeers`).
    #[serde(default)]
    pub server_name: Option<String>,
}

impl TlsClientConfig {
    pub fn client_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(pem) = &self.ca {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert.context("tls.ca is not PEM")?).context("tls.ca")?;
                added += 1;
            }
            if added == 0 {
                bail!("tls.ca holds no certificate");
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// Checks the CA and the name to verify for connections to `host`.
    pub fn validate(&self, host: &str) -> Result<(), String> {
        self.client_config().map_err(|e| format!("{e:#}"))?;
        self.server_name(host).map(drop).map_err(|e| format!("{e:#}"))
    }

    /// The server name to verify for a connection to `host`.
    pub fn server_name(&self, host: &str) -> anyhow::Result<rustls::pki_types::ServerName<'static>> {
        let name = self.server_name.as_deref().unwrap_or(host);
        rustls::pki_types::ServerName::try_from(name.to_owned())
            .with_context(|| format!("`{name}` is not a valid TLS server name"))
    }
}
