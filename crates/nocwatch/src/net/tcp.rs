//! The accept loop of TCP (and TLS) listeners: a connection limit, an idle timeout, the
//! TLS handshake, and a clean stop when the source is told to stop. What is read from a
//! connection is the source's business ([`ConnectionHandler`]). [`accept_failed`] is the
//! back-off of every accept loop (this one and the health-check ports').

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::telemetry::{ComponentMetrics, RateLimit};

/// Limits of one listener.
#[derive(Debug, Clone)]
pub struct TcpLimits {
    pub max_connections: usize,
    /// A connection silent this long is closed (`None`: never; keepalive still applies).
    pub idle_timeout: Option<Duration>,
    /// How long a client gets to finish the TLS handshake.
    pub handshake_timeout: Duration,
}

/// What a source does with the bytes of one connection. Called for every read, then once
/// with `None` at the end of the connection.
pub trait ConnectionHandler: Send + 'static {
    fn on_data(&mut self, data: Option<&[u8]>) -> impl Future<Output = ()> + Send;
}

/// Accepts connections until `stop`; `new_handler` makes the handler of each.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: TcpLimits,
    metrics: ComponentMetrics,
    stop: CancellationToken,
    new_handler: F,
) where
    H: ConnectionHandler,
    F: Fn(SocketAddr) -> H,
{
    static ACCEPT_ERRORS: RateLimit = RateLimit::new(Duration::from_secs(10));
    static REFUSED: RateLimit = RateLimit::new(Duration::from_secs(10));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refused = metrics.error_counter("connection_limit");
    let accept_errors = metrics.error_counter("accept");
    // Only for the log line: a bound listener always has its address.
    let address = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e, &accept_errors, &ACCEPT_ERRORS, address, "accept failed").await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.inc();
            if let Some(suppressed) = REFUSED.allow() {
                tracing::warn!(%peer, max_connections = limits.max_connections, suppressed, "connection limit reached; connection closed");
            }
            continue;
        };
        super::set_keepalive(&stream);
        let handler = new_handler(peer);
        let tls = tls.clone();
        let limits = limits.clone();
        let metrics = metrics.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => read_loop(stream, handler, &limits, &stop).await,
                Some(acceptor) => match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => read_loop(stream, handler, &limits, &stop).await,
                    Ok(Err(e)) => {
                        metrics.error_counter("tls_handshake").inc();
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        metrics.error_counter("tls_handshake").inc();
                        tracing::debug!(%peer, "TLS handshake timed out");
                    }
                },
            }
        });
    }
}

/// What an accept loop does when `accept` fails (out of file descriptors and the like):
/// counts it in `errors`, logs `message` at most once per `log`'s period, and pauses, since
/// the pending connection stays queued and accepting again at once would spin a core.
pub async fn accept_failed(
    error: &std::io::Error,
    errors: &Counter,
    log: &RateLimit,
    address: SocketAddr,
    message: &str,
) {
    errors.inc();
    if let Some(suppressed) = log.allow() {
        tracing::warn!(%address, %error, suppressed, "{message}");
    }
    tokio::time::sleep(ACCEPT_RETRY).await;
}

/// The pause after a failed accept: short enough that a listener recovers at once when file
/// descriptors free up, long enough not to spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

async fn read_loop<S, H>(mut stream: S, mut handler: H, limits: &TcpLimits, stop: &CancellationToken)
where
    S: AsyncRead + Unpin,
    H: ConnectionHandler,
{
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            read = read_with_timeout(&mut stream, &mut buf, limits.idle_timeout) => read,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => handler.on_data(Some(&buf[..n])).await,
        }
    }
    handler.on_data(None).await;
}

async fn read_with_timeout<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    timeout: Option<Duration>,
) -> Result<std::io::Result<usize>, tokio::time::error::Elapsed> {
    match timeout {
        Some(timeout) => tokio::time::timeout(timeout, stream.read(buf)).await,
        None => Ok(stream.read(buf).await),
    }
}
