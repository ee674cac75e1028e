//! RFC 6587 framing: mixed framings in one stream, any split of the input,
//! oversized frames, NUL terminators and hostile octet counts.
#![allow(clippy::unwrap_used)]

use nocwatch_syslog::{FrameDecoder, Framing};

type Owned = (Vec<u8>, Framing, bool);

/// Feeds `chunks` in order, then finishes; returns every frame.
fn decode(max: usize, chunks: &[&[u8]]) -> Vec<Owned> {
    let mut decoder = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(f) = decoder.next_frame() {
            frames.push((f.data.to_vec(), f.framing, f.truncated));
        }
    }
    while let Some(f) = decoder.finish() {
        frames.push((f.data.to_vec(), f.framing, f.truncated));
    }
    frames
}

fn frame(data: &str, framing: Framing, truncated: bool) -> Owned {
    (data.as_bytes().to_vec(), framing, truncated)
}

use Framing::{NonTransparent as Nt, OctetCounting as Oc};

const MIXED: &[u8] = b"15 <13>1 - - - - -<14>lf line\n21 <165>1 - h a - - - x\n<15>crlf line\r\n<16>nul line\x0017 <17>\ncontains LF\n\n<18>last";

fn mixed_expected() -> Vec<Owned> {
    vec![
        frame("<13>1 - - - - -", Oc, false),
        frame("<14>lf line", Nt, false),
        frame("<165>1 - h a - - - x\n", Oc, false),
        frame("<15>crlf line", Nt, false),
        frame("<16>nul line", Nt, false),
        frame("<17>\ncontains LF\n", Oc, false),
        frame("<18>last", Nt, false),
    ]
}

#[test]
fn mixed_framings_in_one_stream() {
    assert_eq!(decode(1024, &[MIXED]), mixed_expected());
}

#[test]
fn mixed_stream_byte_by_byte() {
    let chunks: Vec<&[u8]> = MIXED.chunks(1).collect();
    assert_eq!(decode(1024, &chunks), mixed_expected());
}

#[test]
fn mixed_stream_split_at_every_boundary() {
    for i in 0..=MIXED.len() {
        for j in i..=MIXED.len() {
            let chunks = [&MIXED[..i], &MIXED[i..j], &MIXED[j..]];
            assert_eq!(decode(1024, &chunks), mixed_expected(), "split at {i}, {j}");
        }
    }
}

#[test]
fn oversized_octet_frame_is_truncated_then_resyncs() {
    let stream = b"29 <13>0123456789012345678901234<14>next\n";
    let expected = vec![frame("<13>01234567", Oc, true), frame("<14>next", Nt, false)];
    assert_eq!(decode(12, &[stream]), expected);
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(12, &chunks), expected);
}

#[test]
fn oversized_lf_frame_is_truncated_then_resyncs() {
    let stream = b"<13>0123456789012345\n<14>ok\n";
    let expected = vec![frame("<13>01234567", Nt, true), frame("<14>ok", Nt, false)];
    assert_eq!(decode(12, &[stream]), expected);
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(12, &chunks), expected);
    // A frame of exactly the maximum, CRLF-terminated, is not truncated;
    // one byte more is.
    assert_eq!(decode(12, &[b"<13>01234567\r\n"]), vec![frame("<13>01234567", Nt, false)]);
    assert_eq!(decode(12, &[b"<13>012345678\n"]), vec![frame("<13>01234567", Nt, true)]);
}

#[test]
fn nul_terminators() {
    assert_eq!(
        decode(64, &[b"<13>a\x00<14>b\x00\x00<15>c\x00"]),
        vec![frame("<13>a", Nt, false), frame("<14>b", Nt, false), frame("<15>c", Nt, false)]
    );
}

#[test]
fn hostile_octet_counts_are_bounded() {
    // Twelve digits: not trusted as a count, read as a line.
    assert_eq!(
        decode(64, &[b"999999999999 <13>x\n<14>y\n"]),
        vec![frame("999999999999 <13>x", Nt, false), frame("<14>y", Nt, false)]
    );
    // A count not followed by `<`: a line.
    assert_eq!(decode(64, &[b"12 hello\n"]), vec![frame("12 hello", Nt, false)]);

    // A trusted nine-digit count: one truncated frame, the rest skipped
    // without being held in memory.
    let mut decoder = FrameDecoder::new(64);
    decoder.push(b"999999999 <13>");
    let mut frames = 0;
    let chunk = vec![b'A'; 4096];
    for _ in 0..1000 {
        decoder.push(&chunk);
        while let Some(f) = decoder.next_frame() {
            assert!(f.truncated && f.data.len() == 64);
            frames += 1;
        }
        assert!(decoder.buffered_len() <= 64 + chunk.len());
    }
    assert_eq!(frames, 1);
}

#[test]
fn endless_line_without_terminator_is_bounded() {
    let mut decoder = FrameDecoder::new(100);
    let chunk = vec![b'x'; 1000];
    let mut truncated = 0;
    for _ in 0..1000 {
        decoder.push(&chunk);
        while let Some(f) = decoder.next_frame() {
            assert_eq!((f.data.len(), f.truncated), (100, true));
            truncated += 1;
        }
        assert!(decoder.buffered_len() <= 100 + chunk.len());
    }
    assert_eq!(truncated, 1, "one frame for the one oversized line");
    decoder.push(b"\n<13>after\n");
    assert_eq!(decoder.next_frame().unwrap().data, b"<13>after");
    assert!(decoder.next_frame().is_none());
}

#[test]
fn finish_returns_trailing_partial_frames() {
    assert_eq!(decode(64, &[b"<13>no newline"]), vec![frame("<13>no newline", Nt, false)]);
    assert_eq!(decode(64, &[b"20 <13>short"]), vec![frame("<13>short", Oc, true)]);
    assert_eq!(decode(64, &[b"123"]), vec![frame("123", Nt, false)]);
    assert_eq!(decode(64, &[b"12 "]), vec![frame("12 ", Nt, false)]);
    assert_eq!(decode(64, &[b"", b"\n\r\n"]), vec![]);
    let mut decoder = FrameDecoder::new(8);
    assert!(decoder.finish().is_none());
}

#[test]
fn zero_max_is_one() {
    let decoder = FrameDecoder::new(0);
    assert_eq!(decoder.max_frame_len(), 1);
    assert_eq!(decode(0, &[b"ab\n"]), vec![frame("a", Nt, true)]);
}
