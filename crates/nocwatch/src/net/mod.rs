//! Network plumbing shared by sources and the admin server: UDP sockets with large receive
//! buffers ([`bind_udp`]), TCP accept loops with connection limits and idle timeouts
//! ([`tcp`]), and TLS server set-up ([`tls`]).

pub mod tcp;
pub mod tls;

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` UDP sockets on `address`, each with a large receive buffer so bursts wait
/// in the kernel instead of being dropped there. With more than one, they share the port
/// (`SO_REUSEPORT`) and the kernel spreads senders across them (one sender always lands on
/// the same socket, so its order holds). The kernel may grant a smaller buffer than asked
/// (`net.core.rmem_max`); the granted size is returned so it can be logged.
pub fn bind_udp(
    address: SocketAddr,
    receive_buffer: usize,
    count: usize,
) -> io::Result<(Vec<tokio::net::UdpSocket>, usize)> {
    if count > 1 {
        // SO_REUSEPORT would also let us join a port another process holds with it: check
        // first that the port is free, so a busy port fails start-up.
        drop(std::net::UdpSocket::bind(address)?);
    }
    let mut sockets = Vec::with_capacity(count);
    let mut granted = 0;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
        if address.is_ipv6() {
            // `[::]` takes IPv4 too, as operators expect from one listener.
            socket.set_only_v6(false)?;
        }
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        // Best effort: a smaller buffer still works.
        let _ = socket.set_recv_buffer_size(receive_buffer);
        granted = socket.recv_buffer_size().unwrap_or(0);
        socket.set_nonblocking(true)?;
        socket.bind(&address.into())?;
        sockets.push(tokio::net::UdpSocket::from_std(socket.into())?);
    }
    Ok((sockets, granted))
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
