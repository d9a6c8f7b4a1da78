//! SPDY/3.1 framing, the client's side, as far as containerd's stream server (moby/spdystream,
//! the kubelet's old `cri/streaming`) needs it: SYN_STREAM with a header block, DATA with FIN,
//! RST_STREAM, PING and GOAWAY written; every frame type read, DATA in bounded pieces.
//!
//! Header blocks are a zlib stream shared by all the frames of a connection. This writer
//! never compresses: it writes deflate *stored* blocks behind a zlib header that does not
//! claim SPDY's preset dictionary (Go's zlib reader then ignores the dictionary it was given),
//! and ends every frame's block with an empty stored block, the marker a sync flush writes,
//! which is what makes Go's inflater hand over the frame's headers without reading past the
//! frame. The server's header blocks (SYN_REPLY) are never decoded: remotecommand and
//! port-forward carry nothing in them this side needs.
//!
//! SPDY/3.1 flow control (WINDOW_UPDATE) is not used: spdystream neither sends nor honours it.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

const VERSION: u16 = 3;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;

const FLAG_FIN: u8 = 0x01;

/// RST_STREAM status REFUSED_STREAM, for streams the server tries to open.
pub const REFUSED_STREAM: u32 = 3;
/// GOAWAY status OK.
pub const GOAWAY_OK: u32 = 0;

/// The largest control frame read (a SYN_REPLY's header block is tens of bytes).
const MAX_CONTROL_BYTES: usize = 64 * 1024;
/// DATA payloads are handed over in pieces of at most this much (a frame may hold 16 MiB).
pub const MAX_DATA_PIECE: usize = 32 * 1024;
/// A deflate stored block holds at most this much.
const MAX_STORED_BLOCK: usize = 0xFFFF;

#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY version {0} (only 3 is spoken)")]
    Version(u16),
    #[error("a control frame of {0} bytes (at most {MAX_CONTROL_BYTES})")]
    TooLarge(usize),
    #[error("a malformed frame: {0}")]
    Malformed(&'static str),
}

/// One frame read from the server; DATA may come as several pieces of one frame, FIN on the
/// last.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        payload: Bytes,
        fin: bool,
    },
    SynReply {
        stream: u32,
        fin: bool,
    },
    /// A stream the server opens (never expected here).
    SynStream {
        stream: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
    },
    Reset {
        stream: u32,
        status: u32,
    },
    Ping(u32),
    GoAway {
        last_stream: u32,
        status: u32,
    },
    /// SETTINGS, WINDOW_UPDATE or a type this side has no use for.
    Other(u16),
}

/// Writes header blocks as one uncompressed zlib stream (see the module header).
#[derive(Default)]
pub struct HeaderEncoder {
    started: bool,
}

impl HeaderEncoder {
    /// The header block for `headers` (names are lowercased, as SPDY/3 requires).
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut block = Vec::with_capacity(raw.len() + 16);
        if !self.started {
            // CMF 0x78: deflate, 32 KiB window; FLG 0x01: no preset dictionary, and
            // 0x7801 is a multiple of 31 as RFC 1950 requires.
            block.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for chunk in raw.chunks(MAX_STORED_BLOCK) {
            stored_block(&mut block, chunk);
        }
        stored_block(&mut block, &[]);
        block
    }
}

/// A non-final deflate stored block (RFC 1951 3.2.4): header bits 000 padded to a byte,
/// LEN, NLEN, the bytes.
fn stored_block(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = bytes.len() as u16;
    out.push(0x00);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&(!length).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn control_frame(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    frame.extend_from_slice(&kind.to_be_bytes());
    frame.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// SYN_STREAM opening client stream `stream` (odd) with `header_block` (from the
/// connection's [`HeaderEncoder`], in the order the frames are sent).
pub fn syn_stream(stream: u32, header_block: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(10 + header_block.len());
    payload.extend_from_slice(&(stream & 0x7FFF_FFFF).to_be_bytes());
    // Associated-to stream 0, priority 0, slot 0.
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    payload.extend_from_slice(header_block);
    control_frame(TYPE_SYN_STREAM, 0, &payload)
}

/// DATA on `stream`; `fin` half-closes this side of it. `payload` is at most 16 MiB − 1
/// (callers send what one WebSocket message held, at most 1 MiB).
pub fn data(stream: u32, payload: &[u8], fin: bool) -> Vec<u8> {
    let flags = if fin { FLAG_FIN } else { 0 };
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&(stream & 0x7FFF_FFFF).to_be_bytes());
    frame.extend_from_slice(
        &((u32::from(flags) << 24) | (payload.len() as u32 & 0xFF_FFFF)).to_be_bytes(),
    );
    frame.extend_from_slice(payload);
    frame
}

pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut payload = [0u8; 8];
    payload[..4].copy_from_slice(&(stream & 0x7FFF_FFFF).to_be_bytes());
    payload[4..].copy_from_slice(&status.to_be_bytes());
    control_frame(TYPE_RST_STREAM, 0, &payload)
}

pub fn ping(id: u32) -> Vec<u8> {
    control_frame(TYPE_PING, 0, &id.to_be_bytes())
}

pub fn goaway(last_stream: u32, status: u32) -> Vec<u8> {
    let mut payload = [0u8; 8];
    payload[..4].copy_from_slice(&(last_stream & 0x7FFF_FFFF).to_be_bytes());
    payload[4..].copy_from_slice(&status.to_be_bytes());
    control_frame(TYPE_GOAWAY, 0, &payload)
}

/// SYN_REPLY, as the server answers a stream (its header block is opaque here).
#[cfg(test)]
pub(crate) fn syn_reply(stream: u32) -> Vec<u8> {
    control_frame(TYPE_SYN_REPLY, 0, &stream.to_be_bytes())
}

/// What is left of a DATA frame being handed over in pieces.
struct DataLeft {
    stream: u32,
    bytes: usize,
    fin: bool,
}

/// Reads the server's frames.
pub struct FrameReader<R> {
    io: R,
    data_left: Option<DataLeft>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        Self {
            io,
            data_left: None,
        }
    }

    /// The next frame (or piece of a DATA frame); `None` when the connection ends between
    /// frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, SpdyError> {
        if let Some(left) = self.data_left.take() {
            return self.data_piece(left).await.map(Some);
        }
        let mut head = [0u8; 8];
        if self.io.read(&mut head[..1]).await? == 0 {
            return Ok(None);
        }
        self.io.read_exact(&mut head[1..]).await?;
        let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let second = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let flags = (second >> 24) as u8;
        let length = (second & 0xFF_FFFF) as usize;
        if first & 0x8000_0000 == 0 {
            let left = DataLeft {
                stream: first & 0x7FFF_FFFF,
                bytes: length,
                fin: flags & FLAG_FIN != 0,
            };
            return self.data_piece(left).await.map(Some);
        }
        let version = ((first >> 16) & 0x7FFF) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        if length > MAX_CONTROL_BYTES {
            return Err(SpdyError::TooLarge(length));
        }
        let mut payload = vec![0u8; length];
        self.io.read_exact(&mut payload).await?;
        control((first & 0xFFFF) as u16, flags, &payload).map(Some)
    }

    async fn data_piece(&mut self, mut left: DataLeft) -> Result<Frame, SpdyError> {
        let size = left.bytes.min(MAX_DATA_PIECE);
        let mut payload = vec![0u8; size];
        self.io.read_exact(&mut payload).await?;
        left.bytes -= size;
        let (stream, fin) = (left.stream, left.fin);
        let last = left.bytes == 0;
        if !last {
            self.data_left = Some(left);
        }
        Ok(Frame::Data {
            stream,
            payload: Bytes::from(payload),
            fin: fin && last,
        })
    }
}

/// A control frame from its type, flags and payload.
fn control(kind: u16, flags: u8, payload: &[u8]) -> Result<Frame, SpdyError> {
    let word = |at: usize| -> Result<u32, SpdyError> {
        payload
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(SpdyError::Malformed("a control frame is too short"))
    };
    let fin = flags & FLAG_FIN != 0;
    Ok(match kind {
        TYPE_SYN_STREAM => Frame::SynStream {
            stream: word(0)? & 0x7FFF_FFFF,
        },
        TYPE_SYN_REPLY => Frame::SynReply {
            stream: word(0)? & 0x7FFF_FFFF,
            fin,
        },
        TYPE_HEADERS => Frame::Headers {
            stream: word(0)? & 0x7FFF_FFFF,
            fin,
        },
        TYPE_RST_STREAM => Frame::Reset {
            stream: word(0)? & 0x7FFF_FFFF,
            status: word(4)?,
        },
        TYPE_PING => Frame::Ping(word(0)?),
        TYPE_GOAWAY => Frame::GoAway {
            last_stream: word(0)? & 0x7FFF_FFFF,
            status: word(4)?,
        },
        other => Frame::Other(other),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Inflates a zlib stream made only of stored blocks (what [`HeaderEncoder`] writes),
    /// checking the framing as an inflater would: the header, then per block BFINAL/BTYPE,
    /// LEN and its complement.
    fn inflate_stored(mut bytes: &[u8], expect_header: bool) -> Vec<u8> {
        if expect_header {
            assert_eq!(bytes[0] & 0x0F, 8, "deflate");
            assert_eq!(bytes[1] & 0x20, 0, "no preset dictionary");
            assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]) % 31, 0);
            bytes = &bytes[2..];
        }
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0, "a non-final stored block");
            let length = u16::from_le_bytes([bytes[1], bytes[2]]);
            assert_eq!(!length, u16::from_le_bytes([bytes[3], bytes[4]]));
            out.extend_from_slice(&bytes[5..5 + usize::from(length)]);
            bytes = &bytes[5 + usize::from(length)..];
        }
        out
    }

    #[test]
    fn header_blocks_are_stored_blocks_ending_in_a_sync_flush_marker() {
        let mut encoder = HeaderEncoder::default();
        let first = encoder.encode(&[("streamType", "error")]);
        let second = encoder.encode(&[("streamtype", "stdin")]);
        assert_eq!(&first[..2], &[0x78, 0x01]);
        assert_eq!(&first[first.len() - 5..], &[0, 0, 0, 0xFF, 0xFF]);
        assert_eq!(&second[second.len() - 5..], &[0, 0, 0, 0xFF, 0xFF]);
        let mut expected = vec![0, 0, 0, 1, 0, 0, 0, 10];
        expected.extend_from_slice(b"streamtype");
        expected.extend_from_slice(&[0, 0, 0, 5]);
        expected.extend_from_slice(b"error");
        assert_eq!(inflate_stored(&first, true), expected);
        // The zlib header comes once per connection, not per frame.
        let inflated = inflate_stored(&second, false);
        assert_eq!(&inflated[inflated.len() - 5..], b"stdin");
    }

    #[test]
    fn large_header_values_span_several_stored_blocks() {
        let value = "v".repeat(70_000);
        let block = HeaderEncoder::default().encode(&[("big", &value)]);
        let inflated = inflate_stored(&block, true);
        assert_eq!(inflated.len(), 4 + 4 + 3 + 4 + 70_000);
    }

    #[tokio::test]
    async fn written_frames_read_back() {
        let mut encoder = HeaderEncoder::default();
        let mut wire = syn_stream(1, &encoder.encode(&[("streamtype", "error")]));
        assert_eq!(&wire[..4], &[0x80, 0x03, 0x00, 0x01]);
        wire.extend(data(3, b"hello", false));
        wire.extend(data(3, b"", true));
        wire.extend(rst_stream(5, 5));
        wire.extend(ping(2));
        wire.extend(goaway(7, GOAWAY_OK));
        // A SYN_REPLY as spdystream writes it (its header block is opaque here).
        wire.extend(control_frame(
            TYPE_SYN_REPLY,
            FLAG_FIN,
            &[0, 0, 0, 9, 0xAA, 0xBB],
        ));
        wire.extend(control_frame(9, 0, &[0, 0, 0, 0, 0, 1, 0, 0]));
        let mut reader = FrameReader::new(&wire[..]);
        let mut frames = Vec::new();
        while let Some(frame) = reader.next().await.unwrap() {
            frames.push(frame);
        }
        assert_eq!(
            frames,
            [
                Frame::SynStream { stream: 1 },
                Frame::Data {
                    stream: 3,
                    payload: Bytes::from_static(b"hello"),
                    fin: false
                },
                Frame::Data {
                    stream: 3,
                    payload: Bytes::new(),
                    fin: true
                },
                Frame::Reset {
                    stream: 5,
                    status: 5
                },
                Frame::Ping(2),
                Frame::GoAway {
                    last_stream: 7,
                    status: 0
                },
                Frame::SynReply {
                    stream: 9,
                    fin: true
                },
                Frame::Other(9),
            ]
        );
    }

    #[tokio::test]
    async fn large_data_frames_come_in_pieces_with_fin_on_the_last() {
        let payload: Vec<u8> = (0..MAX_DATA_PIECE * 2 + 10).map(|i| i as u8).collect();
        let wire = data(5, &payload, true);
        let mut reader = FrameReader::new(&wire[..]);
        let mut joined = Vec::new();
        let mut fins = Vec::new();
        while let Some(Frame::Data {
            stream,
            payload,
            fin,
        }) = reader.next().await.unwrap()
        {
            assert_eq!(stream, 5);
            assert!(payload.len() <= MAX_DATA_PIECE);
            joined.extend_from_slice(&payload);
            fins.push(fin);
        }
        assert_eq!(joined, payload);
        assert_eq!(fins, [false, false, true]);
    }

    #[tokio::test]
    async fn bad_frames_are_errors() {
        let mut wrong_version = ping(1);
        wrong_version[1] = 2;
        let oversized = control_frame(TYPE_SYN_REPLY, 0, &vec![0u8; MAX_CONTROL_BYTES + 1]);
        let short = control_frame(TYPE_RST_STREAM, 0, &[0, 0, 0, 1]);
        let mut truncated = data(1, b"hello", false);
        truncated.truncate(10);
        for wire in [wrong_version, oversized, short, truncated] {
            assert!(FrameReader::new(&wire[..]).next().await.is_err());
        }
    }
}
