//! Syslog over TCP (RFC 6587) and TLS (RFC 5425): the shared accept loop of
//! `crate::net::tcp`, and per connection a frame decoder that detects octet-counting or
//! newline framing for every frame.

use std::sync::Arc;

use anyhow::Context as _;
use nocwatch_syslog::FrameDecoder;
use tokio_rustls::TlsAcceptor;

use super::SyslogSourceConfig;
use super::event::{CountingMapper, EventMapper, Peer};
use crate::component::Running;
use crate::net::tcp::{ConnectionHandler, TcpLimits, serve};
use crate::pipeline::SourceOutput;
use crate::sources::SourceContext;

pub async fn build(
    config: &SyslogSourceConfig,
    tls: Option<TlsAcceptor>,
    mapper: EventMapper,
    ctx: SourceContext,
) -> anyhow::Result<Running> {
    let scheme = if tls.is_some() { "tls" } else { "tcp" };
    let listener = crate::net::bind_tcp(config.address)
        .with_context(|| format!("cannot listen on {scheme}://{}", config.address))?;
    tracing::info!(source = %ctx.id, address = %config.address, scheme, "syslog listening");
    let limits = TcpLimits {
        max_connections: config.max_connections,
        idle_timeout: config.idle_timeout.map(|d| d.get()),
        handshake_timeout: std::time::Duration::from_secs(10),
    };
    let max_message = config.max_message_size.as_usize();
    Ok(Box::pin(async move {
        let shared = Arc::new(Shared { mapper: CountingMapper::new(mapper, &ctx.metrics), output: ctx.output });
        let _ = ctx.healthy.send(true);
        serve(listener, tls, limits, ctx.metrics, ctx.shutdown, |peer| Connection {
            peer: Peer::new(peer),
            decoder: FrameDecoder::new(max_message),
            shared: shared.clone(),
        })
        .await;
        let _ = ctx.healthy.send(false);
        Ok(())
    }))
}

struct Shared {
    mapper: CountingMapper,
    output: SourceOutput,
}

struct Connection {
    peer: Peer,
    decoder: FrameDecoder,
    shared: Arc<Shared>,
}

impl ConnectionHandler for Connection {
    async fn on_data(&mut self, data: Option<&[u8]>) {
        let ctx = self.shared.mapper.context();
        let mut batch = Vec::new();
        let mut take = |frame: nocwatch_syslog::Frame<'_>| {
            batch.push(self.shared.mapper.event(frame.data, &self.peer, frame.truncated, &ctx));
        };
        match data {
            Some(bytes) => {
                self.decoder.push(bytes);
                while let Some(frame) = self.decoder.next_frame() {
                    take(frame);
                }
            }
            None => {
                while let Some(frame) = self.decoder.finish() {
                    take(frame);
                }
            }
        }
        self.shared.output.send(batch).await;
    }
}
