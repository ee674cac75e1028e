//! RFC 6587 framing for syslog over TCP/TLS, as a sans-IO decoder.
//!
//! Each frame is detected on its own: `LEN SP <...` is octet counting
//! (RFC 6587 3.4.1), anything else is non-transparent framing ended by LF
//! (a CR before it is dropped) or NUL (3.4.2). Frames are never longer than
//! `max_frame_len`: a longer one is cut to that length, flagged `truncated`,
//! and the rest of it is skipped, so memory stays bounded by `max_frame_len`
//! plus what one `push` adds.
//!
//! An octet count is trusted only when it has at most nine digits and the
//! frame then starts with `<` (every syslog message starts with its PRI).
//! That keeps garbage such as `999999999999 ...` from making the decoder skip
//! a terabyte: it is read as a non-transparent frame instead.
//!
//! ```
//! use nocwatch_syslog::{FrameDecoder, Framing};
//!
//! let mut decoder = FrameDecoder::new(1024);
//! decoder.push(b"11 <13>1 - - -<14>hello\n<15>partial");
//! let first = decoder.next_frame().unwrap();
//! assert_eq!((first.data, first.framing), (&b"<13>1 - - -"[..], Framing::OctetCounting));
//! assert_eq!(decoder.next_frame().unwrap().data, b"<14>hello");
//! assert!(decoder.next_frame().is_none());
//! assert_eq!(decoder.finish().unwrap().data, b"<15>partial"); // at EOF
//! ```

use memchr::memchr2;

/// How a frame was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// `LEN SP MSG`.
    OctetCounting,
    /// Ended by LF, CRLF or NUL (or by the end of the stream).
    NonTransparent,
}

/// One syslog message cut out of the stream, without its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub data: &'a [u8],
    pub framing: Framing,
    /// The frame was longer than `max_frame_len` (and cut to it), or the
    /// stream ended before the octet count was reached.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary, or inside a non-transparent frame being scanned.
    Frame,
    /// Discarding the rest of an oversized octet-counted frame.
    SkipOctets(u64),
    /// Discarding the rest of an oversized non-transparent frame.
    SkipToTerminator,
}

/// Incremental RFC 6587 decoder: [`push`](Self::push) bytes as they arrive,
/// then take frames with [`next_frame`](Self::next_frame) until it returns
/// `None`; at end of stream take the rest with [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`; the prefix is dropped on `push`.
    start: usize,
    /// Bytes after `start` already searched for a terminator, so byte-by-byte
    /// input is not rescanned.
    scanned: usize,
    max_frame_len: usize,
    state: State,
    eof: bool,
}

/// Longest octet count we trust (nine digits, under 1 GB).
const MAX_COUNT_DIGITS: usize = 9;

enum OctetHeader {
    /// (message length, header length including the space)
    Count(u64, usize),
    NeedMore,
    NotCounted,
}

fn octet_header(avail: &[u8]) -> OctetHeader {
    if !matches!(avail.first(), Some(b'1'..=b'9')) {
        return OctetHeader::NotCounted;
    }
    let digits = avail.iter().take(MAX_COUNT_DIGITS + 1).take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_COUNT_DIGITS {
        return OctetHeader::NotCounted;
    }
    match (avail.get(digits), avail.get(digits + 1)) {
        (None, _) | (Some(b' '), None) => OctetHeader::NeedMore,
        (Some(b' '), Some(b'<')) => {
            let len = avail[..digits].iter().fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
            OctetHeader::Count(len, digits + 1)
        }
        _ => OctetHeader::NotCounted,
    }
}

impl FrameDecoder {
    /// A decoder that never returns a frame longer than `max_frame_len`
    /// bytes (at least 1).
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_frame_len: max_frame_len.max(1),
            state: State::Frame,
            eof: false,
        }
    }

    /// The maximum frame length this decoder was made with.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes held for a frame not yet complete.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes from the stream. Take the frames out with `next_frame`
    /// after each push: the buffer only shrinks then.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            let avail = self.buf.len() - self.start;
            match self.state {
                State::SkipOctets(remaining) => {
                    let n = remaining.min(avail as u64);
                    self.start += n as usize;
                    if n < remaining {
                        self.state = State::SkipOctets(remaining - n);
                        return None;
                    }
                    self.state = State::Frame;
                }
                State::SkipToTerminator => match memchr2(b'\n', b'\0', &self.buf[self.start..]) {
                    Some(i) => {
                        self.start += i + 1;
                        self.state = State::Frame;
                    }
                    None => {
                        self.start = self.buf.len();
                        return None;
                    }
                },
                State::Frame => {
                    if avail == 0 {
                        return None;
                    }
                    match octet_header(&self.buf[self.start..]) {
                        OctetHeader::Count(len, header) => {
                            return self.octet_frame(len, header);
                        }
                        OctetHeader::NeedMore if !self.eof => return None,
                        _ => {}
                    }
                    match self.non_transparent_frame() {
                        Some((from, to, truncated)) if to > from => {
                            return Some(Frame {
                                data: &self.buf[from..to],
                                framing: Framing::NonTransparent,
                                truncated,
                            });
                        }
                        // An empty frame (blank line, CRLF after a counted frame): skip it.
                        Some(_) => {}
                        None => return None,
                    }
                }
            }
        }
    }

    /// Signals end of stream and returns the next remaining frame: complete
    /// ones first, then the trailing partial one (an unterminated line, or a
    /// short octet-counted frame flagged `truncated`). Call until `None`.
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        self.eof = true;
        self.next_frame()
    }

    fn octet_frame(&mut self, len: u64, header: usize) -> Option<Frame<'_>> {
        let avail = self.buf.len() - self.start;
        let body = self.start + header;
        let want = len.min(self.max_frame_len as u64) as usize;
        let have = avail - header;
        let (take, truncated) = if have >= want {
            if len > want as u64 {
                self.state = State::SkipOctets(len - want as u64);
            }
            (want, len > want as u64)
        } else if self.eof {
            (have, true)
        } else {
            return None;
        };
        self.start = body + take;
        self.scanned = 0;
        Some(Frame { data: &self.buf[body..body + take], framing: Framing::OctetCounting, truncated })
    }

    /// Finds the end of a non-transparent frame. Returns (from, to, truncated)
    /// into `buf` with the frame consumed, or `None` to wait for more bytes.
    fn non_transparent_frame(&mut self) -> Option<(usize, usize, bool)> {
        let max = self.max_frame_len;
        let from = self.start;
        let avail = &self.buf[from..];
        // A terminator can be at most at index max + 1 (max bytes, CR, LF).
        let limit = avail.len().min(max.saturating_add(2));
        let found = memchr2(b'\n', b'\0', &avail[self.scanned.min(limit)..limit]).map(|i| i + self.scanned.min(limit));
        let (mut end, consumed, cut) = match found {
            Some(i) => (i, i + 1, false),
            None if avail.len() >= max.saturating_add(2) => {
                self.state = State::SkipToTerminator;
                (max, max, true)
            }
            None if self.eof => (avail.len(), avail.len(), false),
            None => {
                self.scanned = limit;
                return None;
            }
        };
        let ends_line = found.is_some_and(|i| avail[i] == b'\n') || self.eof;
        if ends_line && !cut && end > 0 && avail[end - 1] == b'\r' {
            end -= 1;
        }
        let truncated = cut || end > max;
        end = end.min(max);
        self.start = from + consumed;
        self.scanned = 0;
        Some((from, from + end, truncated))
    }
}
