//! Outbound TCP/TLS connections for stream sinks (Datadog's TCP intake, syslog
//! forwarding) that reconnect on their own terms, fixing the seed's silent idle drop:
//!
//! - a connection unused for `idle_timeout` is closed by nocwatch before the server's
//!   own idle cut can race with a write;
//! - before each write, the connection is checked for a close (FIN or RST) the server
//!   sent meanwhile, and replaced if so, so a write never goes into a dead socket;
//! - any error drops the connection and the request is retried on a new one.
//!
//! Residual risk, inherent to plain TCP syslog (Gerhards, "On the (un)reliability of
//! plain tcp syslog"): bytes the server's kernel accepted but its process never read,
//! because it crashed, are lost without any signal to the sender. For delivery with an
//! acknowledgement, use an HTTP sink.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::request::{Outcome, Request};
use crate::config;
use crate::net::tls::TlsClientConfig;

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> Stream for T {}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionConfig {
    /// Close a connection unused this long (shorter than the server's idle cut).
    pub idle_timeout: config::Duration,
    pub connect_timeout: config::Duration,
    pub write_timeout: config::Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            idle_timeout: config::Duration::from_secs(20),
            connect_timeout: config::Duration::from_secs(10),
            write_timeout: config::Duration::from_secs(30),
        }
    }
}

pub struct Connector {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    config: ConnectionConfig,
    stream: Option<(Pin<Box<dyn Stream>>, Instant)>,
}

impl Connector {
    pub fn new(host: &str, port: u16, tls: Option<&TlsClientConfig>, config: ConnectionConfig) -> anyhow::Result<Self> {
        let tls = match tls {
            None => None,
            Some(tls) => {
                let connector = TlsConnector::from(Arc::new(tls.client_config()?));
                Some((connector, tls.server_name(host)?))
            }
        };
        Ok(Connector { host: host.to_owned(), port, tls, config, stream: None })
    }

    /// Writes the request on a live connection; any failure is a retry on a new one.
    pub async fn send(&mut self, request: &Request) -> Outcome {
        if let Err(e) = self.ensure_connected().await {
            return Outcome::Retry { reason: format!("{e:#}"), after: None };
        }
        let Some((stream, used)) = self.stream.as_mut() else {
            return Outcome::Retry { reason: "not connected".to_owned(), after: None };
        };
        let write = async {
            stream.write_all(&request.body).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.config.write_timeout.get(), write).await {
            Ok(Ok(())) => {
                *used = Instant::now();
                Outcome::Delivered
            }
            Ok(Err(e)) => {
                self.stream = None;
                Outcome::Retry { reason: format!("write to {}:{} failed: {e}", self.host, self.port), after: None }
            }
            Err(_) => {
                self.stream = None;
                Outcome::Retry { reason: format!("write to {}:{} timed out", self.host, self.port), after: None }
            }
        }
    }

    async fn ensure_connected(&mut self) -> anyhow::Result<()> {
        if let Some((stream, used)) = self.stream.as_mut() {
            let idle = used.elapsed() >= self.config.idle_timeout.get();
            if idle || !still_open(stream).await {
                if idle && let Some((mut stream, _)) = self.stream.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
                }
                self.stream = None;
            }
        }
        if self.stream.is_none() {
            let stream = tokio::time::timeout(self.config.connect_timeout.get(), self.connect())
                .await
                .map_err(|_| anyhow::anyhow!("connecting to {}:{} timed out", self.host, self.port))??;
            self.stream = Some((stream, Instant::now()));
        }
        Ok(())
    }

    async fn connect(&self) -> anyhow::Result<Pin<Box<dyn Stream>>> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot resolve {}", self.host))?
            .collect();
        let mut last_error = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    crate::net::set_keepalive(&tcp);
                    return match &self.tls {
                        None => Ok(Box::pin(tcp)),
                        Some((connector, name)) => {
                            let tls = connector
                                .connect(name.clone(), tcp)
                                .await
                                .with_context(|| format!("TLS with {}:{}", self.host, self.port))?;
                            Ok(Box::pin(tls))
                        }
                    };
                }
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) => Err(anyhow::anyhow!("cannot connect to {}:{}: {e}", self.host, self.port)),
            None => Err(anyhow::anyhow!("{} has no address", self.host)),
        }
    }
}

/// A non-blocking look for a close from the server: EOF or an error means the
/// connection is gone. Data the server sent unasked is read and ignored.
async fn still_open(stream: &mut Pin<Box<dyn Stream>>) -> bool {
    let mut buf = [0u8; 512];
    loop {
        // A zero timeout polls the read once: ready data or a close shows at once.
        match tokio::time::timeout(Duration::ZERO, stream.read(&mut buf)).await {
            Err(_) => return true,
            Ok(Ok(0)) | Ok(Err(_)) => return false,
            Ok(Ok(_)) => continue,
        }
    }
}
