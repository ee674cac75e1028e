//! Arbitrary bytes through the TCP framing and the parser, then each parsed
//! message through `format_rfc5424` and back.
//!
//! Input layout: byte 0 picks where the stream is split into two reads,
//! byte 1 the maximum frame length; the rest is the stream.
//! Checks, beyond "no panic":
//! - frames never exceed the maximum;
//! - the frames do not depend on where the stream was split;
//! - `parse(format_rfc5424(parse(frame)))` has no error and the same fields.
#![no_main]

use jiff::Timestamp;
use jiff::tz::Offset;
use libfuzzer_sys::fuzz_target;
use nocwatch_syslog::{FrameDecoder, Framing, Message, ParseContext, format_rfc3164, format_rfc5424, parse};

type Frames = Vec<(Vec<u8>, Framing, bool)>;

fn decode(stream: &[u8], split: usize, max: usize) -> Frames {
    let mut decoder = FrameDecoder::new(max);
    let mut frames = Frames::new();
    for read in [&stream[..split], &stream[split..]] {
        decoder.push(read);
        while let Some(f) = decoder.next_frame() {
            frames.push((f.data.to_vec(), f.framing, f.truncated));
        }
    }
    while let Some(f) = decoder.finish() {
        frames.push((f.data.to_vec(), f.framing, f.truncated));
    }
    frames
}

/// What RFC 5424 can carry, with PRI's user.notice default.
fn carried<'m>(m: &'m Message<'_>) -> impl PartialEq + std::fmt::Debug + 'm {
    (
        m.facility.map_or(1, |f| f.code()),
        m.severity.map_or(5, |s| s.code()),
        m.timestamp,
        (&m.hostname, &m.app_name, &m.proc_id, &m.msg_id),
        &m.structured_data,
        &m.message,
    )
}

fn check_message(data: &[u8], ctx: &ParseContext, out: &mut Vec<u8>) {
    let first = parse(data, ctx);
    out.clear();
    format_rfc5424(&first, out);
    let second = parse(out, ctx);
    assert_eq!(second.parse_error, None, "{:?}", String::from_utf8_lossy(out));
    assert_eq!(carried(&second), carried(&first), "{:?}", String::from_utf8_lossy(out));
    out.clear();
    format_rfc3164(&first, Offset::UTC, out);
    let _ = parse(out, ctx);
}

fuzz_target!(|data: &[u8]| {
    let [split_byte, max_byte, stream @ ..] = data else {
        return;
    };
    let split = usize::from(*split_byte) * stream.len() / 255;
    let max = 1 + usize::from(*max_byte) * 8;
    let ctx = ParseContext::new(Timestamp::from_second(1_718_452_800).unwrap_or(Timestamp::UNIX_EPOCH), Offset::UTC);

    let frames = decode(stream, split, max);
    assert_eq!(frames, decode(stream, 0, max), "frames depend on the read split");
    let mut out = Vec::new();
    for (frame, _, _) in &frames {
        assert!(frame.len() <= max);
        check_message(frame, &ctx, &mut out);
    }
    // The whole input as one UDP datagram.
    check_message(stream, &ctx, &mut out);
});
