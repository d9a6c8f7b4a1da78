//! WebSocket (RFC 6455), the server's side as kubectl's streams use it: the opening handshake
//! (`Sec-WebSocket-Accept`, the subprotocol), reading the client's masked frames as whole
//! messages (fragments joined, control frames passed up between them so pings are answered
//! at once, size bounded) and writing unmasked frames. No extension is ever negotiated, so a
//! frame with a reserved bit set is a protocol error.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest message accepted from a client; kubectl's stdin messages and tunnelled SPDY
/// frames are a few KiB to 32 KiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// RFC 6455 5.5: a control frame carries at most 125 bytes and is never fragmented.
const MAX_CONTROL_BYTES: u64 = 125;
/// RFC 6455 1.3: appended to the client's key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub(crate) const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Close codes (RFC 6455 7.4.1) this server sends.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_TOO_BIG: u16 = 1009;

#[derive(Debug, thiserror::Error)]
pub enum WebSocketError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    #[error("a message of more than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
}

impl WebSocketError {
    /// The close code that tells the client why the connection ends.
    pub fn close_code(&self) -> u16 {
        match self {
            WebSocketError::TooLarge => CLOSE_TOO_BIG,
            WebSocketError::Io(_) | WebSocketError::Protocol(_) => CLOSE_PROTOCOL_ERROR,
        }
    }
}

/// Whether the request asks to switch to WebSocket (`Upgrade: websocket`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    tokens(headers, header::UPGRADE.as_str()).any(|t| t.eq_ignore_ascii_case("websocket"))
}

/// The subprotocols the client offers (`Sec-WebSocket-Protocol`, comma-separated, possibly
/// over several header lines), in its order of preference.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    tokens(headers, "sec-websocket-protocol")
        .map(str::to_string)
        .collect()
}

fn tokens<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key` (RFC 6455 4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + ACCEPT_GUID.len());
    input.extend_from_slice(key.as_bytes());
    input.extend_from_slice(ACCEPT_GUID.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// The 101 answer switching to WebSocket with `protocol`, or why the handshake is invalid
/// (RFC 6455 4.2.1: a key, version 13).
pub fn switching_protocols(
    request: &HeaderMap,
    protocol: &str,
) -> Result<Response<Body>, &'static str> {
    let key = request
        .get("sec-websocket-key")
        .and_then(|k| k.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or("a WebSocket handshake needs Sec-WebSocket-Key")?;
    if !tokens(request, "sec-websocket-version").any(|v| v == "13") {
        return Err("only WebSocket version 13 is supported");
    }
    let protocol =
        HeaderValue::from_str(protocol).map_err(|_| "the chosen subprotocol is not a header")?;
    let accept =
        HeaderValue::from_str(&accept_key(key)).map_err(|_| "the accept key is not a header")?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert("sec-websocket-accept", accept);
    headers.insert("sec-websocket-protocol", protocol);
    Ok(response)
}

/// One message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Binary(Bytes),
    Text(Bytes),
    Ping(Bytes),
    Pong,
    /// The client's close frame, with its code when it gave one.
    Close(Option<u16>),
}

/// One frame as read (payload unmasked).
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Bytes,
}

/// Reads the client's messages.
pub struct MessageReader<R> {
    io: R,
    /// A fragmented data message being joined: (is text, the bytes so far). Kept here because
    /// control frames in between are returned before it completes.
    partial: Option<(bool, BytesMut)>,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    pub fn new(io: R) -> Self {
        Self { io, partial: None }
    }

    /// The next message; `None` when the connection ends between frames.
    pub async fn next(&mut self) -> Result<Option<Message>, WebSocketError> {
        loop {
            let Some(frame) = self.frame().await? else {
                return if self.partial.is_some() {
                    Err(WebSocketError::Protocol(
                        "the connection ended inside a message",
                    ))
                } else {
                    Ok(None)
                };
            };
            match frame.opcode {
                OP_TEXT | OP_BINARY => {
                    if self.partial.is_some() {
                        return Err(WebSocketError::Protocol(
                            "a new message began before the previous one ended",
                        ));
                    }
                    let text = frame.opcode == OP_TEXT;
                    if frame.fin {
                        return Ok(Some(data(text, frame.payload)));
                    }
                    self.partial = Some((text, BytesMut::from(&frame.payload[..])));
                }
                OP_CONTINUATION => {
                    let Some((text, mut bytes)) = self.partial.take() else {
                        return Err(WebSocketError::Protocol("a continuation without a message"));
                    };
                    bytes.extend_from_slice(&frame.payload);
                    if frame.fin {
                        return Ok(Some(data(text, bytes.freeze())));
                    }
                    self.partial = Some((text, bytes));
                }
                OP_CLOSE => {
                    return match frame.payload.len() {
                        0 => Ok(Some(Message::Close(None))),
                        1 => Err(WebSocketError::Protocol("a close frame of one byte")),
                        _ => Ok(Some(Message::Close(Some(u16::from_be_bytes([
                            frame.payload[0],
                            frame.payload[1],
                        ]))))),
                    };
                }
                OP_PING => return Ok(Some(Message::Ping(frame.payload))),
                OP_PONG => return Ok(Some(Message::Pong)),
                _ => return Err(WebSocketError::Protocol("an unknown opcode")),
            }
        }
    }

    /// The next frame, unmasked; `None` on a clean end of the connection before one.
    async fn frame(&mut self) -> Result<Option<Frame>, WebSocketError> {
        let mut head = [0u8; 2];
        if self.io.read(&mut head[..1]).await? == 0 {
            return Ok(None);
        }
        self.io.read_exact(&mut head[1..]).await?;
        let fin = head[0] & 0x80 != 0;
        if head[0] & 0x70 != 0 {
            return Err(WebSocketError::Protocol("a reserved bit is set"));
        }
        let opcode = head[0] & 0x0F;
        if head[1] & 0x80 == 0 {
            // RFC 6455 5.1: a server must close the connection on an unmasked client frame.
            return Err(WebSocketError::Protocol("a client frame is not masked"));
        }
        let length = match head[1] & 0x7F {
            126 => u64::from(self.io.read_u16().await?),
            127 => self.io.read_u64().await?,
            short => u64::from(short),
        };
        if opcode & 0x08 != 0 && (!fin || length > MAX_CONTROL_BYTES) {
            return Err(WebSocketError::Protocol(
                "a control frame is fragmented or too long",
            ));
        }
        // A continuation counts with the fragments before it; a control frame stands alone.
        let joined = match (&self.partial, opcode) {
            (Some((_, bytes)), OP_CONTINUATION) => bytes.len(),
            _ => 0,
        };
        let length = usize::try_from(length).map_err(|_| WebSocketError::TooLarge)?;
        if length.saturating_add(joined) > MAX_MESSAGE_BYTES {
            return Err(WebSocketError::TooLarge);
        }
        let mut mask = [0u8; 4];
        self.io.read_exact(&mut mask).await?;
        let mut payload = vec![0u8; length];
        self.io.read_exact(&mut payload).await?;
        apply_mask(&mut payload, mask);
        Ok(Some(Frame {
            fin,
            opcode,
            payload: Bytes::from(payload),
        }))
    }
}

fn data(text: bool, payload: Bytes) -> Message {
    if text {
        Message::Text(payload)
    } else {
        Message::Binary(payload)
    }
}

/// RFC 6455 5.3: byte i is XORed with byte i mod 4 of the key (masking and unmasking alike).
fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// One unmasked (server) frame with FIN set whose payload is `parts` joined.
fn encode_frame(opcode: u8, parts: &[&[u8]]) -> Vec<u8> {
    let length: usize = parts.iter().map(|p| p.len()).sum();
    let mut frame = Vec::with_capacity(length + 10);
    frame.push(0x80 | opcode);
    match length {
        0..=125 => frame.push(length as u8),
        126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(length as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    for part in parts {
        frame.extend_from_slice(part);
    }
    frame
}

/// Writes messages to the client. After the close frame nothing more is sent (RFC 6455 5.5.1).
pub struct MessageWriter<W> {
    io: W,
    close_sent: bool,
}

impl<W: AsyncWrite + Unpin> MessageWriter<W> {
    pub fn new(io: W) -> Self {
        Self {
            io,
            close_sent: false,
        }
    }

    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// One binary message whose payload is `parts` joined.
    pub async fn binary(&mut self, parts: &[&[u8]]) -> std::io::Result<()> {
        self.send(OP_BINARY, parts).await
    }

    pub async fn pong(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.send(OP_PONG, &[payload]).await
    }

    /// The close frame with `code` (once; later calls do nothing).
    pub async fn close(&mut self, code: u16) -> std::io::Result<()> {
        self.send(OP_CLOSE, &[&code.to_be_bytes()]).await?;
        self.close_sent = true;
        Ok(())
    }

    /// Ends the connection's sending side (TLS close_notify, then FIN).
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.io.shutdown().await
    }

    async fn send(&mut self, opcode: u8, parts: &[&[u8]]) -> std::io::Result<()> {
        if self.close_sent {
            return Ok(());
        }
        self.io.write_all(&encode_frame(opcode, parts)).await?;
        self.io.flush().await
    }
}

/// The client's side, for tests of the sessions built on this.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]

    use super::*;

    pub(crate) use super::{OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG};

    /// A client frame: masked with `mask`.
    pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut frame = encode_frame(opcode, &[payload]);
        if !fin {
            frame[0] &= 0x7F;
        }
        frame[1] |= 0x80;
        let start = frame.len() - payload.len();
        let mut masked = payload.to_vec();
        apply_mask(&mut masked, mask);
        frame.truncate(start);
        frame.extend_from_slice(&mask);
        frame.extend_from_slice(&masked);
        frame
    }

    /// The next server frame: (opcode, payload); it must be unmasked and final.
    pub async fn server_frame(io: &mut (impl AsyncRead + Unpin)) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        io.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0] & 0xF0, 0x80, "final, no reserved bits");
        assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
        let length = match head[1] & 0x7F {
            126 => usize::from(io.read_u16().await.unwrap()),
            127 => usize::try_from(io.read_u64().await.unwrap()).unwrap(),
            short => usize::from(short),
        };
        let mut payload = vec![0u8; length];
        io.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0F, payload)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::testing::client_frame;
    use super::*;

    async fn read_all(bytes: Vec<u8>) -> Vec<Result<Option<Message>, String>> {
        let mut reader = MessageReader::new(&bytes[..]);
        let mut out = Vec::new();
        loop {
            let next = reader.next().await.map_err(|e| e.to_string());
            let end = !matches!(next, Ok(Some(_)));
            out.push(next);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_handshake_names_the_protocol_and_needs_a_key_and_version_13() {
        let mut headers = HeaderMap::new();
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("v5.channel.k8s.io, v4.channel.k8s.io"),
        );
        headers.append(
            "sec-websocket-protocol",
            HeaderValue::from_static("base64.channel.k8s.io"),
        );
        assert!(is_upgrade(&headers));
        assert_eq!(
            offered_protocols(&headers),
            [
                "v5.channel.k8s.io",
                "v4.channel.k8s.io",
                "base64.channel.k8s.io"
            ]
        );
        assert!(switching_protocols(&headers, "v5.channel.k8s.io").is_err());
        headers.insert(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers.insert("sec-websocket-version", HeaderValue::from_static("8"));
        assert!(switching_protocols(&headers, "v5.channel.k8s.io").is_err());
        headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
        let response = switching_protocols(&headers, "v5.channel.k8s.io").unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "v5.channel.k8s.io"
        );
        let mut spdy = HeaderMap::new();
        spdy.insert("upgrade", HeaderValue::from_static("SPDY/3.1"));
        assert!(!is_upgrade(&spdy));
    }

    #[tokio::test]
    async fn masked_frames_of_every_length_form_round_trip() {
        for length in [0usize, 1, 125, 126, 65_535, 65_536, 200_000] {
            let payload: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
            let frame = client_frame(true, OP_BINARY, &payload, [0x12, 0x34, 0x56, 0x78]);
            let messages = read_all(frame).await;
            assert_eq!(
                messages[0],
                Ok(Some(Message::Binary(Bytes::from(payload)))),
                "length {length}"
            );
            assert_eq!(messages[1], Ok(None));
        }
    }

    #[tokio::test]
    async fn fragments_are_joined_around_control_frames() {
        let mask = [1, 2, 3, 4];
        let mut bytes = client_frame(false, OP_BINARY, b"\x00hel", mask);
        bytes.extend(client_frame(true, OP_PING, b"beat", mask));
        bytes.extend(client_frame(false, OP_CONTINUATION, b"lo ", mask));
        bytes.extend(client_frame(true, OP_CONTINUATION, b"world", mask));
        bytes.extend(client_frame(true, OP_TEXT, b"text", mask));
        bytes.extend(client_frame(true, OP_PONG, b"", mask));
        bytes.extend(client_frame(true, OP_CLOSE, &1000u16.to_be_bytes(), mask));
        let messages = read_all(bytes).await;
        assert_eq!(
            messages,
            [
                Ok(Some(Message::Ping(Bytes::from_static(b"beat")))),
                Ok(Some(Message::Binary(Bytes::from_static(
                    b"\x00hello world"
                )))),
                Ok(Some(Message::Text(Bytes::from_static(b"text")))),
                Ok(Some(Message::Pong)),
                Ok(Some(Message::Close(Some(1000)))),
                Ok(None),
            ]
        );
    }

    #[tokio::test]
    async fn protocol_violations_and_oversized_messages_are_errors() {
        let mask = [9, 8, 7, 6];
        let unmasked = encode_frame(OP_BINARY, &[b"x"]);
        let stray = client_frame(true, OP_CONTINUATION, b"x", mask);
        let mut reserved = client_frame(true, OP_BINARY, b"x", mask);
        reserved[0] |= 0x40;
        let long_ping = client_frame(true, OP_PING, &[0u8; 126], mask);
        let mut interleaved = client_frame(false, OP_BINARY, b"a", mask);
        interleaved.extend(client_frame(true, OP_BINARY, b"b", mask));
        let cut = client_frame(false, OP_BINARY, b"a", mask);
        let mut too_big = client_frame(false, OP_BINARY, &vec![0u8; MAX_MESSAGE_BYTES], mask);
        too_big.extend(client_frame(true, OP_CONTINUATION, b"!", mask));
        for bytes in [unmasked, reserved, long_ping, interleaved, stray, cut] {
            assert!(read_all(bytes).await[0].is_err());
        }
        let messages = read_all(too_big).await;
        assert_eq!(
            messages[0],
            Err(WebSocketError::TooLarge.to_string()),
            "the second fragment passes the bound"
        );
    }

    #[tokio::test]
    async fn the_writer_frames_unmasked_and_stops_after_close() {
        let mut out = Vec::new();
        let mut writer = MessageWriter::new(&mut out);
        writer.binary(&[b"\x01", b"out"]).await.unwrap();
        writer.pong(b"beat").await.unwrap();
        writer.binary(&[&[0u8; 300]]).await.unwrap();
        writer.close(CLOSE_NORMAL).await.unwrap();
        writer.binary(&[b"late"]).await.unwrap();
        assert!(writer.close_sent());
        let mut expected = vec![0x82, 4, 1, b'o', b'u', b't', 0x8A, 4];
        expected.extend_from_slice(b"beat");
        expected.extend_from_slice(&[0x82, 126, 0x01, 0x2C]);
        expected.extend_from_slice(&[0u8; 300]);
        expected.extend_from_slice(&[0x88, 2, 0x03, 0xE8]);
        assert_eq!(out, expected);
    }
}
