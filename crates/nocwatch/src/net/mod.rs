//! Network plumbing shared by sources and the admin server: UDP sockets with large receive
//! buffers ([`bind_udp`]), TCP accept loops with connection limits and idle timeouts
//! ([`tcp`]), and TLS server set-up ([`tls`]).

pub mod tcp;
pub mod tls;

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a UDP socket with a large receive buffer, so bursts wait in the kernel instead of
/// being dropped there. The kernel may grant less than asked (`net.core.rmem_max`); the
/// granted size is returned so it can be logged.
/// With `reuse_port`, several sockets may bind the same address and the kernel spreads
/// senders across them (one sender always lands on the same socket, so its order holds).
pub fn bind_udp(
    address: SocketAddr,
    receive_buffer: usize,
    reuse_port: bool,
) -> io::Result<(tokio::net::UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    if address.is_ipv6() {
        // `[::]` takes IPv4 too, as operators expect from one listener.
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Best effort: a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(receive_buffer);
    let granted = socket.recv_buffer_size().unwrap_or(0);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    let socket = tokio::net::UdpSocket::from_std(socket.into())?;
    Ok((socket, granted))
}

/// Binds a TCP listener; `SO_REUSEADDR` so a restart does not wait for TIME_WAIT.
pub fn bind_tcp(address: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// Keepalive on accepted connections, so a device that vanished without a FIN frees its
/// slot within minutes even without an idle timeout.
pub fn set_keepalive(stream: &tokio::net::TcpStream) {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(60))
        .with_interval(std::time::Duration::from_secs(10))
        .with_retries(6);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}
