//! Reading datagrams in batches, for sources that take UDP at high rates (syslog): a
//! [`BatchReader`] runs on a thread of its own, blocked in the kernel until datagrams
//! arrive, and takes everything queued with one `recvmmsg` call (Linux) into a packed
//! [`Datagrams`] batch that is handed on to be parsed elsewhere. Reading stays cheap, so a
//! burst waits in the batches (user memory, packed) rather than in the socket buffer, where
//! the kernel accounts a kilobyte or more for every small datagram and drops the rest.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Datagrams one `recvmmsg` call may return. Each needs a slot of the largest message size
/// in the reader's scratch buffer; pages of a slot are only touched as far as datagrams
/// reach, so 64 slots of 64 KiB cost 64 pages for small datagrams.
const SLOTS: usize = 64;

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
        let max_message = max_message.max(1);
        BatchReader {
            socket,
            max_message,
            scratch: vec![0; max_message * SLOTS],
            #[cfg(target_os = "linux")]
            headers: nix::sys::socket::MultiHeaders::preallocate(SLOTS, None),
        }
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
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
                        let peer = message.address.and_then(|address| {
                            address
                                .as_sockaddr_in()
                                .map(|v4| SocketAddr::V4((*v4).into()))
                                .or_else(|| address.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
                        });
                        *slot = (message.bytes, peer, message.flags.contains(MsgFlags::MSG_TRUNC));
                        count += 1;
                    }
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(0),
                Err(errno) => return Err(errno.into()),
            }
        }
        let mut appended = 0;
        for (index, (len, peer, truncated)) in received[..count].iter().copied().enumerate() {
            // A datagram without an IP source cannot come from a UDP/IP socket; skip it
            // rather than invent one.
            let Some(peer) = peer else { continue };
            let start = index * self.max_message;
            into.push(&self.scratch[start..start + len.min(self.max_message)], peer, truncated);
            appended += 1;
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
}
