//! Socket set-up shared by the network sources.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a UDP socket with a large receive buffer, so bursts wait in the kernel instead of
/// being dropped there. The kernel may grant less than asked (`net.core.rmem_max`); the
/// granted size is returned so it can be logged.
pub fn bind_udp(address: SocketAddr, receive_buffer: usize) -> io::Result<(tokio::net::UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    if address.is_ipv6() {
        // `[::]` takes IPv4 too, as operators expect from one listener.
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    // Best effort: a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(receive_buffer);
    let granted = socket.recv_buffer_size().unwrap_or(0);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    let socket = tokio::net::UdpSocket::from_std(socket.into())?;
    Ok((socket, granted))
}
