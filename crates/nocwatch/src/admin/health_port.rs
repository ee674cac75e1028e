//! TCP health-check ports for UDP services.
//!
//! Load balancers such as AWS NLB health-check UDP targets over TCP. Instead of an invented
//! TCP service, each UDP source may name a `health_check` address: while the source can
//! receive, nocwatch accepts and at once closes connections there; when the source fails or
//! nocwatch starts draining, the port stops listening, so the check fails at once and the
//! load balancer moves traffic elsewhere.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::net::tcp::accept_failed;
use crate::telemetry::{ComponentMetrics, RateLimit};

/// Runs one health port. `listener` is bound at start-up, so a busy port fails start-up.
/// Failed accepts count as the source's `errors{kind="health_accept"}`.
pub async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    mut healthy: watch::Receiver<bool>,
    mut draining: watch::Receiver<bool>,
    metrics: ComponentMetrics,
) {
    static ACCEPT_ERRORS: RateLimit = RateLimit::new(Duration::from_secs(10));
    let accept_errors = metrics.error_counter("health_accept");
    let mut listener = Some(listener);
    loop {
        if *draining.borrow() {
            return;
        }
        let is_healthy = *healthy.borrow_and_update();
        match (is_healthy, listener.as_ref()) {
            (true, None) => match crate::net::bind_tcp(address) {
                Ok(bound) => listener = Some(bound),
                Err(e) => {
                    tracing::warn!(%address, error = %e, "cannot re-open health-check port; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            (false, Some(_)) => listener = None,
            _ => {}
        }
        tokio::select! {
            changed = healthy.changed() => {
                if changed.is_err() {
                    // The source is gone for good.
                    return;
                }
            }
            _ = draining.changed() => {}
            accepted = accept(listener.as_ref()) => match accepted {
                // Accept-and-close is the whole check; nothing is read or written.
                Ok(stream) => drop(stream),
                Err(e) => {
                    accept_failed(&e, &accept_errors, &ACCEPT_ERRORS, address, "health-check port: accept failed").await;
                }
            }
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}
