//! Reading datagrams in batches, for sources that take UDP at high rates (syslog): a
//! [`BatchReader`] runs on a thread of its own, blocked in the kernel until datagrams
//! arrive, and takes everything queued with one `recvmmsg` call (Linux) into a packed
//! [`Datagrams`] batch that is handed on to be parsed elsewhere. Reading stays cheap, so a
//! burst waits in the batches (user memory, packed) rather than in the socket buffer, where
//! the kernel accounts a kilobyte or more for every small datagram and drops the rest.
//!
//! Also answering datagrams from the address they were sent to ([`ReplySocket`]), for
//! request/response services (NTP) listening on a wildcard address of a multi-address host.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Datagrams one `recvmmsg` call may return. Each needs a slot of the largest message size
/// in the reader's scratch buffer; pages of a slot are only touched as far as datagrams
/// reach, so 64 slots of 64 KiB cost 64 pages for small datagrams.
const SLOTS: usize = 64;

/// No UDP datagram is longer (a slot never needs more, whatever the largest message size).
const MAX_UDP_PAYLOAD: usize = 65_535;

/// Received datagrams, their payloads packed one after the other in one buffer.
#[derive(Debug, Default)]
pub struct Datagrams {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    end: usize,
    peer: SocketAddr,
    truncated: bool,
}

/// One datagram of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub payload: &'a [u8],
    pub peer: SocketAddr,
    /// The datagram was longer than the reader's largest message size and was cut there.
    pub truncated: bool,
}

impl Datagrams {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of payload held.
    pub fn payload_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Memory the datagrams take: payload plus an entry each (an empty datagram is not free).
    pub fn memory_bytes(&self) -> usize {
        self.bytes.len() + self.entries.len() * std::mem::size_of::<Entry>()
    }

    /// Empties the batch, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    pub fn push(&mut self, payload: &[u8], peer: SocketAddr, truncated: bool) {
        self.bytes.extend_from_slice(payload);
        self.entries.push(Entry { end: self.bytes.len(), peer, truncated });
    }

    pub fn iter(&self) -> impl Iterator<Item = Datagram<'_>> {
        let mut start = 0;
        self.entries.iter().map(move |entry| {
            let payload = &self.bytes[start..entry.end];
            start = entry.end;
            Datagram { payload, peer: entry.peer, truncated: entry.truncated }
        })
    }
}

/// Whether [`BatchReader::read`] may wait for the first datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Block until a datagram arrives or the socket's read timeout passes.
    UntilOne,
    /// Take only what is queued now.
    No,
}

/// Reads a blocking UDP socket (one from [`super::bind_udp`], whose read timeout bounds
/// each wait) into [`Datagrams`]. Created on the thread that reads: the `recvmmsg`
/// headers hold pointers and cannot move between threads.
pub struct BatchReader {
    socket: UdpSocket,
    max_message: usize,
    scratch: Vec<u8>,
    #[cfg(target_os = "linux")]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
}

impl BatchReader {
    /// Datagrams longer than `max_message` are cut there and flagged `truncated`.
    pub fn new(socket: UdpSocket, max_message: usize) -> BatchReader {
        let max_message = max_message.clamp(1, MAX_UDP_PAYLOAD);
        BatchReader {
            socket,
            max_message,
            scratch: vec![0; max_message * SLOTS],
            #[cfg(target_os = "linux")]
            headers: nix::sys::socket::MultiHeaders::preallocate(SLOTS, None),
        }
    }

    /// Appends what the socket holds (up to [`SLOTS`] datagrams) to `into` and returns how
    /// many were appended: 0 when `wait` is [`Wait::No`] and nothing was queued, or when
    /// the read timeout passed first.
    #[cfg(target_os = "linux")]
    pub fn read(&mut self, into: &mut Datagrams, wait: Wait) -> io::Result<usize> {
        use nix::sys::socket::{MsgFlags, recvmmsg};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        let flags = match wait {
            Wait::UntilOne => MsgFlags::MSG_WAITFORONE,
            Wait::No => MsgFlags::MSG_DONTWAIT,
        };
        let mut received = [(0usize, None::<SocketAddr>, false); SLOTS];
        let mut count = 0;
        {
            let mut slots: Vec<[IoSliceMut<'_>; 1]> =
                self.scratch.chunks_exact_mut(self.max_message).map(|slot| [IoSliceMut::new(slot)]).collect();
            match recvmmsg(self.socket.as_raw_fd(), &mut self.headers, slots.iter_mut(), flags, None) {
                Ok(results) => {
                    for (slot, message) in received.iter_mut().zip(results) {
                        let peer = message.address.as_ref().and_then(socket_address);
                        *slot = (message.bytes, peer, message.flags.contains(MsgFlags::MSG_TRUNC));
                        count += 1;
                    }
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(0),
                Err(errno) => return Err(errno.into()),
            }
        }
        let mut appended = 0;
        let mut unaddressed = 0;
        for (index, (len, peer, truncated)) in received[..count].iter().copied().enumerate() {
            // A datagram without an IP source cannot come from a UDP/IP socket: reported
            // (after the others are appended) rather than given an invented sender.
            let Some(peer) = peer else {
                unaddressed += 1;
                continue;
            };
            let start = index * self.max_message;
            into.push(&self.scratch[start..start + len.min(self.max_message)], peer, truncated);
            appended += 1;
        }
        if unaddressed > 0 {
            return Err(io::Error::other(format!("{unaddressed} datagrams without a sender address skipped")));
        }
        Ok(appended)
    }

    /// One datagram per call where `recvmmsg` does not exist.
    #[cfg(not(target_os = "linux"))]
    pub fn read(&mut self, into: &mut Datagrams, wait: Wait) -> io::Result<usize> {
        self.socket.set_nonblocking(wait == Wait::No)?;
        // One byte more than allowed, to see that a datagram was longer.
        if self.scratch.len() <= self.max_message {
            self.scratch.resize(self.max_message + 1, 0);
        }
        match self.socket.recv_from(&mut self.scratch) {
            Ok((len, peer)) => {
                into.push(&self.scratch[..len.min(self.max_message)], peer, len > self.max_message);
                Ok(1)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
}

/// The local address a datagram was sent to, when the socket that took it is bound to a
/// wildcard address: where a reply must come from. Clients that check their server's
/// address (ntpd, chrony, anything on a connected socket) drop a reply whose source is
/// whatever routing picked instead (another address of a multi-address host, a keepalived
/// VIP's host address). Empty ([`ReplyFrom::ROUTED`]) on a socket bound to one address,
/// where the kernel uses that address anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyFrom(Option<LocalAddress>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LocalAddress {
    ip: IpAddr,
    /// The interface an IPv6 link-local address belongs to (its scope); 0 otherwise, so
    /// routing still picks the way out.
    interface: u32,
}

impl ReplyFrom {
    /// Let the kernel's routing pick the source address.
    pub const ROUTED: ReplyFrom = ReplyFrom(None);

    /// The address replies leave from; `None` where routing picks it.
    pub fn address(&self) -> Option<IpAddr> {
        self.0.map(|local| local.ip)
    }
}

/// A UDP socket that answers datagrams: bound to a wildcard address (`0.0.0.0`, `[::]`),
/// it learns each datagram's destination address (`IP_PKTINFO`, `IPV6_RECVPKTINFO`) and
/// sends the reply from it (`sendmsg` with an `IP_PKTINFO` / `IPV6_PKTINFO` control
/// message), as ntpd and chronyd do. Bound to one address it is a plain socket
/// (`recv_from`, `send_to`). Blocking or not as the socket given ([`super::bind_udp`]'s
/// block with a read timeout); one thread receives, any may reply.
#[derive(Debug)]
pub struct ReplySocket {
    socket: UdpSocket,
    /// Bound to a wildcard address: datagrams carry their destination.
    wildcard: bool,
}

/// Scratch space for the control messages of one [`ReplySocket::receive`]; one per
/// receiving thread.
pub struct ControlBuffer(#[cfg_attr(not(target_os = "linux"), allow(dead_code))] Vec<u8>);

impl ReplySocket {
    /// Asks for destination addresses when `socket` is bound to a wildcard address.
    pub fn new(socket: UdpSocket) -> io::Result<ReplySocket> {
        let local = socket.local_addr()?;
        let wildcard = local.ip().is_unspecified() && cfg!(target_os = "linux");
        #[cfg(target_os = "linux")]
        if wildcard {
            use nix::sys::socket::{setsockopt, sockopt};
            if local.is_ipv4() {
                setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
            } else {
                setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
                // IPv4 clients of a dual-stack socket: `IP_PKTINFO` gives the address the
                // kernel would answer from (`ipi_spec_dst`), which, unlike the header's
                // destination that `IPV6_PKTINFO` maps, is never a broadcast address.
                setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
            }
        }
        Ok(ReplySocket { socket, wildcard })
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Whether replies are sent from each datagram's destination address.
    pub fn replies_from_destination(&self) -> bool {
        self.wildcard
    }

    pub fn control_buffer() -> ControlBuffer {
        #[cfg(target_os = "linux")]
        return ControlBuffer(nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::in6_pktinfo));
        #[cfg(not(target_os = "linux"))]
        return ControlBuffer(Vec::new());
    }

    /// One datagram into `buf` (cut at its length, as `recv_from`): its length, its sender,
    /// and where to reply from.
    pub fn receive(&self, buf: &mut [u8], control: &mut ControlBuffer) -> io::Result<(usize, SocketAddr, ReplyFrom)> {
        #[cfg(target_os = "linux")]
        if self.wildcard {
            return self.receive_with_destination(buf, &mut control.0);
        }
        let _ = control;
        let (len, peer) = self.socket.recv_from(buf)?;
        Ok((len, peer, ReplyFrom::ROUTED))
    }

    #[cfg(target_os = "linux")]
    fn receive_with_destination(
        &self,
        buf: &mut [u8],
        control: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, ReplyFrom)> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
        use std::io::IoSliceMut;
        use std::net::{Ipv4Addr, Ipv6Addr};
        use std::os::fd::AsRawFd;

        let mut iov = [IoSliceMut::new(buf)];
        let message = recvmsg::<SockaddrStorage>(self.socket.as_raw_fd(), &mut iov, Some(control), MsgFlags::empty())
            .map_err(io::Error::from)?;
        let peer = message
            .address
            .as_ref()
            .and_then(socket_address)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a datagram without an IP source"))?;
        let (mut v4, mut v6) = (None, None);
        // Truncated control data (it cannot be: the buffer holds both kinds) leaves the
        // choice to routing.
        for control in message.cmsgs().into_iter().flatten() {
            match control {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    v4 = Some(Ipv4Addr::from(info.ipi_spec_dst.s_addr.to_ne_bytes()));
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    v6 = Some((Ipv6Addr::from(info.ipi6_addr.s6_addr), info.ipi6_ifindex));
                }
                _ => {}
            }
        }
        let local = match (v4, v6) {
            (Some(v4), _) if v4.is_unspecified() => None,
            (Some(v4), _) => Some(LocalAddress { ip: IpAddr::V4(v4), interface: 0 }),
            // A multicast destination is not an address to send from: routing picks one.
            (None, Some((v6, _))) if v6.is_multicast() || v6.is_unspecified() => None,
            (None, Some((v6, interface))) => {
                let link_local = v6.is_unicast_link_local();
                Some(LocalAddress { ip: IpAddr::V6(v6), interface: if link_local { interface } else { 0 } })
            }
            (None, None) => None,
        };
        Ok((message.bytes, peer, ReplyFrom(local)))
    }

    /// Sends `bytes` to `to`, from `from` (what [`ReplySocket::receive`] returned with the
    /// request).
    pub fn reply(&self, bytes: &[u8], to: SocketAddr, from: ReplyFrom) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Some(local) = from.0 {
            return self.send_from(bytes, to, local);
        }
        self.socket.send_to(bytes, to)
    }

    #[cfg(target_os = "linux")]
    fn send_from(&self, bytes: &[u8], to: SocketAddr, local: LocalAddress) -> io::Result<usize> {
        use nix::libc::{in_addr, in_pktinfo, in6_addr, in6_pktinfo};
        use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn, SockaddrIn6, sendmsg};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;

        let iov = [IoSlice::new(bytes)];
        let fd = self.socket.as_raw_fd();
        let sent = match (to, local.ip) {
            (SocketAddr::V4(to), IpAddr::V4(source)) => {
                let info = in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: in_addr { s_addr: u32::from_ne_bytes(source.octets()) },
                    ipi_addr: in_addr { s_addr: 0 },
                };
                sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv4PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&SockaddrIn::from(to)),
                )
            }
            // A dual-stack socket: IPv4 clients have v4-mapped addresses, and the kernel
            // takes a v4-mapped source in IPV6_PKTINFO for them.
            (SocketAddr::V6(to), source) => {
                let source = match source {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                let info =
                    in6_pktinfo { ipi6_addr: in6_addr { s6_addr: source.octets() }, ipi6_ifindex: local.interface };
                sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&info)],
                    MsgFlags::empty(),
                    Some(&SockaddrIn6::from(to)),
                )
            }
            (SocketAddr::V4(_), IpAddr::V6(_)) => return self.socket.send_to(bytes, to),
        };
        sent.map_err(io::Error::from)
    }
}

/// The IP socket address of a received datagram's sender.
#[cfg(target_os = "linux")]
fn socket_address(address: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    address
        .as_sockaddr_in()
        .map(|v4| SocketAddr::V4((*v4).into()))
        .or_else(|| address.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn blocking_socket() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        socket
    }

    /// Several datagrams queued before the read come out in one batch, in order, with their
    /// senders, and one longer than the limit is cut and flagged.
    #[test]
    fn one_read_takes_every_queued_datagram() {
        let receiver = blocking_socket();
        let address = receiver.local_addr().unwrap();
        let senders = [UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap()];
        let mut reader = BatchReader::new(receiver, 8);
        for n in 0..10u8 {
            senders[usize::from(n % 2)].send_to(&[b'a' + n; 3], address).unwrap();
        }
        senders[0].send_to(b"0123456789", address).unwrap();
        let mut batch = Datagrams::default();
        let mut reads = 0;
        while batch.len() < 11 {
            reads += 1;
            assert!(reads < 20, "only {} of 11 datagrams read", batch.len());
            reader.read(&mut batch, Wait::UntilOne).unwrap();
        }
        let got: Vec<_> = batch.iter().collect();
        for (n, datagram) in got[..10].iter().enumerate() {
            assert_eq!(datagram.payload, &[b'a' + n as u8; 3]);
            assert_eq!(datagram.peer, senders[n % 2].local_addr().unwrap());
            assert!(!datagram.truncated);
        }
        assert_eq!(got[10].payload, b"01234567");
        assert!(got[10].truncated);
        assert_eq!(batch.payload_bytes(), 38);
    }

    /// Nothing queued: `Wait::No` returns at once, `Wait::UntilOne` after the read timeout.
    #[test]
    fn an_empty_socket_reads_nothing() {
        let mut reader = BatchReader::new(blocking_socket(), 64);
        let mut batch = Datagrams::default();
        assert_eq!(reader.read(&mut batch, Wait::No).unwrap(), 0);
        assert_eq!(reader.read(&mut batch, Wait::UntilOne).unwrap(), 0);
        assert!(batch.is_empty());
    }

    /// Sends `request` from a client connected to `server` (so the kernel drops anything
    /// from another address), has `socket` answer it, and returns what the client got back
    /// and from where, with the `ReplyFrom` the server saw.
    fn ask(socket: &ReplySocket, client: &str, server: SocketAddr) -> (Option<(Vec<u8>, SocketAddr)>, ReplyFrom) {
        let client = UdpSocket::bind(client).unwrap();
        client.connect(server).unwrap();
        client.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        client.send(b"request").unwrap();
        let mut control = ReplySocket::control_buffer();
        let mut buf = [0u8; 64];
        let (len, peer, reply_from) = socket.receive(&mut buf, &mut control).unwrap();
        // A dual-stack socket sees IPv4 clients v4-mapped.
        let sender = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        assert_eq!((&buf[..len], sender), (&b"request"[..], client.local_addr().unwrap()));
        socket.reply(b"reply", peer, reply_from).unwrap();
        let mut buf = [0u8; 64];
        let got = client.recv_from(&mut buf).ok().map(|(len, from)| (buf[..len].to_vec(), from));
        (got, reply_from)
    }

    fn reply_socket(address: &str) -> ReplySocket {
        let (mut sockets, _) = super::super::bind_udp(address.parse().unwrap(), 1 << 16, 1).unwrap();
        ReplySocket::new(sockets.pop().unwrap()).unwrap()
    }

    /// Bound to 0.0.0.0, a request to 127.0.0.2 from 127.0.0.1 is answered from 127.0.0.2
    /// (routing alone would pick 127.0.0.1, and the connected client would drop it).
    #[test]
    #[cfg(target_os = "linux")]
    fn a_wildcard_socket_replies_from_the_address_the_request_was_sent_to() {
        let socket = reply_socket("0.0.0.0:0");
        assert!(socket.replies_from_destination());
        let port = socket.socket().local_addr().unwrap().port();
        for destination in ["127.0.0.2", "127.0.0.1", "127.1.2.3"] {
            let server = SocketAddr::new(destination.parse().unwrap(), port);
            let (got, reply_from) = ask(&socket, "127.0.0.1:0", server);
            assert_eq!(reply_from.address(), Some(server.ip()));
            assert_eq!(got, Some((b"reply".to_vec(), server)), "to {destination}");
        }
    }

    /// A dual-stack `[::]` socket: IPv4 clients (v4-mapped) and IPv6 ones are both answered
    /// from their destination.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_dual_stack_wildcard_socket_replies_from_the_destination_in_both_families() {
        let socket = reply_socket("[::]:0");
        assert!(socket.replies_from_destination());
        let port = socket.socket().local_addr().unwrap().port();
        let server = SocketAddr::new("127.0.0.2".parse().unwrap(), port);
        let (got, reply_from) = ask(&socket, "127.0.0.1:0", server);
        assert_eq!(reply_from.address(), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(got, Some((b"reply".to_vec(), server)));
        let server = SocketAddr::new("::1".parse().unwrap(), port);
        let (got, reply_from) = ask(&socket, "[::1]:0", server);
        assert_eq!(reply_from.address(), Some(server.ip()));
        assert_eq!(got, Some((b"reply".to_vec(), server)));
    }

    /// Bound to one address, the socket is a plain one: routing (that address) answers.
    #[test]
    fn a_socket_bound_to_one_address_leaves_the_source_to_routing() {
        let socket = reply_socket("127.0.0.2:0");
        assert!(!socket.replies_from_destination());
        let server = socket.socket().local_addr().unwrap();
        let (got, reply_from) = ask(&socket, "127.0.0.1:0", server);
        assert_eq!(reply_from, ReplyFrom::ROUTED);
        assert_eq!(got, Some((b"reply".to_vec(), server)));
    }
}
