//! Network plumbing shared by sources and the admin server: UDP sockets with large receive
//! buffers ([`bind_udp`]) read by threads of their own, in batches where rates are high
//! ([`udp`]), TCP accept loops with connection limits and idle timeouts ([`tcp`]), and TLS
//! server set-up ([`tls`]).

pub mod tcp;
pub mod tls;
pub mod udp;

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` UDP sockets on `address`, each with a large receive buffer so bursts wait
/// in the kernel instead of being dropped there. With more than one, they share the port
/// (`SO_REUSEPORT`) and the kernel spreads senders across them (one sender always lands on
/// the same socket, so its order holds). The buffer is asked for with `SO_RCVBUFFORCE`
/// first, which root or `CAP_NET_ADMIN` may set past `net.core.rmem_max`; without that
/// privilege `SO_RCVBUF`, which the kernel caps at `rmem_max`. The size the kernel granted
/// (as it reports it: twice the usable payload) is returned so it can be logged.
///
/// The sockets block, with [`RECEIVER_WAKE`] as their read timeout: UDP sources read them
/// from threads of their own, blocked in the kernel until a datagram arrives, so neither
/// the event loop nor a wake-up per datagram is in the path.
pub fn bind_udp(
    address: SocketAddr,
    receive_buffer: usize,
    count: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, usize)> {
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
        granted = set_receive_buffer(&socket, receive_buffer);
        socket.bind(&address.into())?;
        socket.set_read_timeout(Some(RECEIVER_WAKE))?;
        sockets.push(socket.into());
    }
    Ok((sockets, granted))
}

/// How often a thread blocked reading a [`bind_udp`] socket looks whether it should stop.
pub const RECEIVER_WAKE: std::time::Duration = std::time::Duration::from_millis(100);

/// How many datagrams the kernel has dropped for `socket` because its receive buffer was
/// full: the socket's `drops` column in `/proc/net/{udp,udp6,icmp,icmp6,raw,raw6}` (the
/// kernel's `sk_drops`, which `SO_RXQ_OVFL` would carry per datagram; read here without
/// the unsafe control-message parsing that needs). `None` where /proc does not show it.
pub fn receive_drops(socket: &impl std::os::fd::AsRawFd) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
    let inode = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned();
    ["udp", "udp6", "icmp", "icmp6", "raw", "raw6"].into_iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).ok()?;
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
        text.lines().skip(1).find_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            (columns.get(9) == Some(&inode.as_str())).then(|| columns.last()?.parse().ok())?
        })
    })
}

/// Datagrams the kernel dropped, receive buffers full, on the sockets a source watches:
/// their [`receive_drops`] since the last look. The one way sources count them (as
/// `errors{reason="receive_buffer_full"}`); each socket is watched through its own
/// duplicated descriptor, so the source keeps using the socket as it likes.
#[derive(Default)]
pub struct KernelDrops {
    sockets: Vec<(std::os::fd::OwnedFd, u64)>,
}

impl KernelDrops {
    /// Starts counting `socket`'s drops from now.
    pub fn watch(&mut self, socket: &impl std::os::fd::AsFd) -> io::Result<()> {
        let fd = socket.as_fd().try_clone_to_owned()?;
        let seen = receive_drops(&fd).unwrap_or(0);
        self.sockets.push((fd, seen));
        Ok(())
    }

    /// Drops since the last call, over all watched sockets (a /proc read per socket: call
    /// it about once a second, not per datagram).
    pub fn take_new(&mut self) -> u64 {
        let mut new = 0;
        for (fd, seen) in &mut self.sockets {
            if let Some(drops) = receive_drops(fd) {
                new += drops.saturating_sub(*seen);
                *seen = drops;
            }
        }
        new
    }
}

/// How often sources read [`KernelDrops`].
pub const KERNEL_DROPS_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Sets the receive buffer of `socket` to `size` as far as allowed (best effort: a smaller
/// buffer still works) and returns what the kernel granted. For any datagram socket (UDP
/// here, ICMP in the ping source).
pub fn set_receive_buffer(socket: &Socket, size: usize) -> usize {
    #[cfg(target_os = "linux")]
    let forced = rustix::net::sockopt::set_socket_recv_buffer_size_force(socket, size).is_ok();
    #[cfg(not(target_os = "linux"))]
    let forced = false;
    if !forced {
        let _ = socket.set_recv_buffer_size(size);
    }
    socket.recv_buffer_size().unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams sent to a socket with a small buffer that nobody reads: what the kernel
    /// did not queue, it dropped, and `receive_drops` must say how many.
    #[test]
    fn receive_drops_counts_what_a_full_buffer_refused() {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        let receiver = std::net::UdpSocket::from(socket);
        assert_eq!(receive_drops(&receiver), Some(0));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = 200;
        for _ in 0..sent {
            sender.send_to(&[0u8; 100], receiver.local_addr().unwrap()).unwrap();
        }
        receiver.set_nonblocking(true).unwrap();
        let mut queued = 0;
        while receiver.recv_from(&mut [0u8; 200]).is_ok() {
            queued += 1;
        }
        let dropped = receive_drops(&receiver).unwrap();
        assert!(dropped > 0, "a 4 KiB buffer cannot hold {sent} datagrams");
        assert_eq!(dropped + queued, sent);
    }
}
