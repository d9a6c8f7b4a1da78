//! `kubectl exec` and `attach` over WebSocket: the client's remote command protocol v5
//! (`v5.channel.k8s.io`) translated to the SPDY protocol v4 (`v4.channel.k8s.io`) that
//! containerd's stream server speaks, the job of upstream's StreamTranslator (apiserver
//! `pkg/util/proxy/streamtranslator.go`; the client is client-go's
//! `tools/remotecommand/websocket.go`).
//!
//! WebSocket side: every binary message is `[channel][payload]`: 0 stdin, 1 stdout, 2 stderr,
//! 3 error (a metav1.Status in JSON), 4 resize (`{"Width":…,"Height":…}`); v5 adds
//! `[255][channel]`, the client's end of a channel (stdin's end of input). SPDY side: one
//! stream per channel, named by its `streamType` header, opened in client-go's order.
//!
//! The session ends as the SPDY executor's does: when the runtime has ended the error,
//! stdout and stderr streams (it writes the status, then resets every stream). The status
//! goes to the client on channel 3 as the runtime wrote it, then a normal close frame; the
//! connection is dropped once the client answers with its own (upstream's `finish`: closing
//! at once could reset output still in flight).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use super::spdy::{self, Frame, FrameReader, HeaderEncoder};
use super::websocket::{CLOSE_NORMAL, Message, MessageReader, MessageWriter};

/// The WebSocket subprotocol served.
pub const WEBSOCKET_PROTOCOL: &str = "v5.channel.k8s.io";
/// The SPDY stream protocol asked of the runtime.
pub const SPDY_PROTOCOL: &str = "v4.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: `[CLOSE][channel]` ends the client's side of a channel.
const CLOSE: u8 = 255;

/// How long the runtime may take to accept the streams (spdystream answers each SYN_STREAM
/// with a SYN_REPLY once its handler took it).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long, once the status is sent, the client may take to read what is left and close.
/// Only a client that neither reads nor closes is cut off.
const FINISH_TIMEOUT: Duration = Duration::from_secs(300);
/// The most of the runtime's status kept (one metav1.Status is a few hundred bytes).
const MAX_STATUS_BYTES: usize = 64 * 1024;

/// The streams a client asked for (exec's and attach's query flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// One SPDY stream of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Error,
    Stdin,
    Stdout,
    Stderr,
    Resize,
}

impl Kind {
    fn stream_type(self) -> &'static str {
        match self {
            Kind::Error => "error",
            Kind::Stdin => "stdin",
            Kind::Stdout => "stdout",
            Kind::Stderr => "stderr",
            Kind::Resize => "resize",
        }
    }

    fn channel(self) -> u8 {
        match self {
            Kind::Error => ERROR,
            Kind::Stdin => STDIN,
            Kind::Stdout => STDOUT,
            Kind::Stderr => STDERR,
            Kind::Resize => RESIZE,
        }
    }

    /// Whether the runtime writes on it, so the session lasts until it ends.
    fn written_by_runtime(self) -> bool {
        matches!(self, Kind::Error | Kind::Stdout | Kind::Stderr)
    }
}

/// The SPDY streams protocol v4 expects for `streams`, in client-go's order (the error stream
/// first; a terminal has no stderr but a resize stream), with their client stream ids.
fn plan(streams: Streams) -> Vec<(u32, Kind)> {
    let wanted = [
        (true, Kind::Error),
        (streams.stdin, Kind::Stdin),
        (streams.stdout, Kind::Stdout),
        (streams.stderr && !streams.tty, Kind::Stderr),
        (streams.tty, Kind::Resize),
    ];
    wanted
        .into_iter()
        .filter(|(wanted, _)| *wanted)
        .zip((1u32..).step_by(2))
        .map(|((_, kind), id)| (id, kind))
        .collect()
}

/// What one client message asks for.
#[derive(Debug, PartialEq, Eq)]
enum ClientData<'a> {
    Write(u8, &'a [u8]),
    End(u8),
    Nothing,
}

fn client_data(message: &[u8]) -> ClientData<'_> {
    match message {
        [CLOSE, channel, ..] => ClientData::End(*channel),
        [] | [CLOSE] => ClientData::Nothing,
        [channel, payload @ ..] => ClientData::Write(*channel, payload),
    }
}

/// A metav1.Status for a failure of this side (upstream's `NewInternalError`).
fn internal_error(why: &str) -> Vec<u8> {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {why}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": why}]},
        "code": 500,
    })
    .to_string()
    .into_bytes()
}

/// The status of a command that ended well, when the runtime wrote none.
const SUCCESS: &[u8] = br#"{"metadata":{},"status":"Success"}"#;

/// How the runtime's side ended.
enum Ending {
    /// Every stream it writes ended; what it wrote on the error stream.
    Finished(Vec<u8>),
    /// The connection failed before that.
    Failed(String),
    /// The client cannot be written to any more.
    ClientGone,
}

/// Translates between the client's WebSocket connection (already switched) and the
/// runtime's SPDY connection (already upgraded) until the session ends.
pub async fn run<C, R>(client: C, runtime: R, streams: Streams)
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
    R: AsyncRead + AsyncWrite + Send + Unpin,
{
    // Frames are read a few bytes at a time: buffered (8 KiB each), that is not a read of
    // the connection each.
    let (client_read, client_write) = tokio::io::split(client);
    let (runtime_read, runtime_write) = tokio::io::split(runtime);
    let session = Session {
        plan: plan(streams),
        client: Mutex::new(MessageWriter::new(client_write)),
        runtime: Mutex::new(runtime_write),
    };
    let (ready, ready_seen) = watch::channel(false);
    let runtime_side = async {
        let ending = session
            .pump_runtime(FrameReader::new(BufReader::new(runtime_read)), &ready)
            .await;
        // The client side waits for this; release it whatever happened.
        ready.send_replace(true);
        ending
    };
    let client_side =
        session.pump_client(MessageReader::new(BufReader::new(client_read)), ready_seen);
    tokio::pin!(runtime_side, client_side);
    tokio::select! {
        ending = &mut runtime_side => {
            let finish = async {
                session.finish(ending).await;
                (&mut client_side).await;
            };
            if tokio::time::timeout(FINISH_TIMEOUT, finish).await.is_err() {
                tracing::debug!("a WebSocket client neither read the end of its stream nor closed");
            }
        }
        () = &mut client_side => {
            tracing::debug!("a WebSocket client left before its command ended");
            session.write_runtime(&spdy::goaway(0, spdy::GOAWAY_OK)).await;
        }
    }
    let _ = session.client.lock().await.shutdown().await;
}

/// What both directions share: the streams and the two writing halves.
struct Session<C, R> {
    plan: Vec<(u32, Kind)>,
    client: Mutex<MessageWriter<WriteHalf<C>>>,
    runtime: Mutex<WriteHalf<R>>,
}

impl<C, R> Session<C, R>
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
    R: AsyncRead + AsyncWrite + Send + Unpin,
{
    fn kind(&self, stream: u32) -> Option<Kind> {
        self.plan
            .iter()
            .find(|(id, _)| *id == stream)
            .map(|(_, kind)| *kind)
    }

    /// The stream a client channel writes to (stdin, resize).
    fn stream_for_channel(&self, channel: u8) -> Option<u32> {
        self.plan
            .iter()
            .find(|(_, kind)| !kind.written_by_runtime() && kind.channel() == channel)
            .map(|(id, _)| *id)
    }

    /// Writes to the runtime; whether that worked (a failure ends the runtime's side by
    /// itself, as its reading fails too).
    async fn write_runtime(&self, bytes: &[u8]) -> bool {
        let mut runtime = self.runtime.lock().await;
        let written = runtime.write_all(bytes).await.and(runtime.flush().await);
        if let Err(error) = &written {
            tracing::debug!(%error, "writing to the runtime's stream server failed");
        }
        written.is_ok()
    }

    /// Opens the streams, then passes the runtime's output to the client and keeps its
    /// status, until it has ended every stream it writes.
    async fn pump_runtime(
        &self,
        mut reader: FrameReader<BufReader<ReadHalf<R>>>,
        ready: &watch::Sender<bool>,
    ) -> Ending {
        let mut encoder = HeaderEncoder::default();
        let mut opening = Vec::new();
        for (id, kind) in &self.plan {
            let block = encoder.encode(&[("streamType", kind.stream_type())]);
            opening.extend(spdy::syn_stream(*id, &block));
        }
        if !self.write_runtime(&opening).await {
            return Ending::Failed("cannot open streams to the runtime".into());
        }
        let mut unreplied: Vec<u32> = self.plan.iter().map(|(id, _)| *id).collect();
        let mut open: Vec<u32> = self
            .plan
            .iter()
            .filter(|(_, kind)| kind.written_by_runtime())
            .map(|(id, _)| *id)
            .collect();
        let mut status = Vec::new();
        let replies_due = Instant::now() + REPLY_TIMEOUT;
        loop {
            let next = if unreplied.is_empty() {
                reader.next().await
            } else {
                match tokio::time::timeout_at(replies_due, reader.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        return Ending::Failed(format!(
                            "the runtime did not accept the streams within {} s",
                            REPLY_TIMEOUT.as_secs()
                        ));
                    }
                }
            };
            let frame = match next {
                Ok(Some(frame)) => frame,
                Ok(None) => return ended_early(status, "the runtime closed the connection"),
                Err(error) => {
                    return ended_early(status, &format!("the runtime's stream: {error}"));
                }
            };
            match frame {
                Frame::SynReply { stream, fin } => {
                    unreplied.retain(|id| *id != stream);
                    if fin {
                        open.retain(|id| *id != stream);
                    }
                    if unreplied.is_empty() && !*ready.borrow() {
                        if !self.announce().await {
                            return Ending::ClientGone;
                        }
                        ready.send_replace(true);
                    }
                }
                Frame::Data {
                    stream,
                    payload,
                    fin,
                } => {
                    match self.kind(stream) {
                        Some(kind @ (Kind::Stdout | Kind::Stderr)) if !payload.is_empty() => {
                            let mut client = self.client.lock().await;
                            if client.binary(&[&[kind.channel()], &payload]).await.is_err() {
                                return Ending::ClientGone;
                            }
                        }
                        Some(Kind::Error) => {
                            let room = MAX_STATUS_BYTES.saturating_sub(status.len());
                            status.extend_from_slice(&payload[..payload.len().min(room)]);
                        }
                        _ => {}
                    }
                    if fin {
                        open.retain(|id| *id != stream);
                    }
                }
                Frame::Reset {
                    stream,
                    status: why,
                } => {
                    if unreplied.contains(&stream) {
                        return Ending::Failed(format!(
                            "the runtime refused the {} stream (status {why})",
                            self.kind(stream).map_or("unknown", Kind::stream_type)
                        ));
                    }
                    open.retain(|id| *id != stream);
                }
                // Its pings have even ids (spdystream's server numbering); answer them.
                Frame::Ping(id) if id % 2 == 0 => {
                    self.write_runtime(&spdy::ping(id)).await;
                }
                Frame::SynStream { stream } => {
                    self.write_runtime(&spdy::rst_stream(stream, spdy::REFUSED_STREAM))
                        .await;
                }
                Frame::Ping(_) | Frame::GoAway { .. } | Frame::Headers { .. } | Frame::Other(_) => {
                }
            }
            if open.is_empty() && unreplied.is_empty() {
                return Ending::Finished(status);
            }
        }
    }

    /// Tells the client the session is established, as upstream does: an empty message on
    /// the lowest channel it reads.
    async fn announce(&self) -> bool {
        let channel = self
            .plan
            .iter()
            .map(|(_, kind)| *kind)
            .filter(|kind| kind.written_by_runtime())
            .map(Kind::channel)
            .min()
            .unwrap_or(ERROR);
        self.client.lock().await.binary(&[&[channel]]).await.is_ok()
    }

    /// Passes the client's stdin, its end and terminal sizes to the runtime, and answers its
    /// pings, until it closes.
    async fn pump_client(
        &self,
        mut reader: MessageReader<BufReader<ReadHalf<C>>>,
        mut ready: watch::Receiver<bool>,
    ) {
        // spdystream drops DATA on a stream it has not replied to yet, so nothing is read
        // before the runtime accepted every stream.
        if ready.wait_for(|ready| *ready).await.is_err() {
            return;
        }
        let mut ended: Vec<u32> = Vec::new();
        loop {
            let message = match reader.next().await {
                Ok(Some(message)) => message,
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%error, "a WebSocket client broke the protocol");
                    let _ = self.client.lock().await.close(error.close_code()).await;
                    return;
                }
            };
            match message {
                Message::Binary(payload) => match client_data(&payload) {
                    ClientData::Write(channel, bytes) if !bytes.is_empty() => {
                        if let Some(id) = self.stream_for_channel(channel)
                            && !ended.contains(&id)
                        {
                            self.write_runtime(&spdy::data(id, bytes, false)).await;
                        }
                    }
                    ClientData::End(channel) => {
                        if let Some(id) = self.stream_for_channel(channel)
                            && !ended.contains(&id)
                        {
                            ended.push(id);
                            self.write_runtime(&spdy::data(id, &[], true)).await;
                        }
                    }
                    ClientData::Write(..) | ClientData::Nothing => {}
                },
                Message::Ping(payload) => {
                    let _ = self.client.lock().await.pong(&payload).await;
                }
                Message::Close(_) => {
                    let _ = self.client.lock().await.close(CLOSE_NORMAL).await;
                    return;
                }
                // v5 is binary only; upstream ignores anything else too.
                Message::Text(_) | Message::Pong => {}
            }
        }
    }

    /// Sends the status and the close frame.
    async fn finish(&self, ending: Ending) {
        let status = match ending {
            Ending::ClientGone => return,
            Ending::Finished(status) if status.is_empty() => SUCCESS.to_vec(),
            Ending::Finished(status) => status,
            Ending::Failed(why) => {
                tracing::debug!(%why, "a translated stream failed");
                internal_error(&why)
            }
        };
        let mut client = self.client.lock().await;
        if client.binary(&[&[ERROR], &status]).await.is_ok() {
            let _ = client.close(CLOSE_NORMAL).await;
        }
    }
}

/// The runtime's connection ended before its streams did: its status if it wrote one, else a
/// failure.
fn ended_early(status: Vec<u8>, why: &str) -> Ending {
    if status.is_empty() {
        Ending::Failed(why.to_string())
    } else {
        Ending::Finished(status)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn streams_are_planned_in_client_gos_order_with_odd_ids() {
        let all = Streams {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        assert_eq!(
            plan(all),
            [
                (1, Kind::Error),
                (3, Kind::Stdin),
                (5, Kind::Stdout),
                (7, Kind::Stderr)
            ]
        );
        // A terminal merges stderr into stdout and adds the resize stream.
        let terminal = Streams { tty: true, ..all };
        assert_eq!(
            plan(terminal),
            [
                (1, Kind::Error),
                (3, Kind::Stdin),
                (5, Kind::Stdout),
                (7, Kind::Resize)
            ]
        );
        let output_only = Streams {
            stdout: true,
            ..Streams::default()
        };
        assert_eq!(plan(output_only), [(1, Kind::Error), (3, Kind::Stdout)]);
    }

    #[test]
    fn channels_map_to_stream_types() {
        let pairs: Vec<_> = [
            Kind::Stdin,
            Kind::Stdout,
            Kind::Stderr,
            Kind::Error,
            Kind::Resize,
        ]
        .into_iter()
        .map(|k| (k.channel(), k.stream_type()))
        .collect();
        assert_eq!(
            pairs,
            [
                (0, "stdin"),
                (1, "stdout"),
                (2, "stderr"),
                (3, "error"),
                (4, "resize")
            ]
        );
    }

    #[test]
    fn client_messages_write_or_end_a_channel() {
        assert_eq!(client_data(b"\x00ls\n"), ClientData::Write(0, b"ls\n"));
        assert_eq!(
            client_data(b"\x04{\"Width\":80,\"Height\":24}"),
            ClientData::Write(4, br#"{"Width":80,"Height":24}"#)
        );
        assert_eq!(client_data(&[255, 0]), ClientData::End(0));
        assert_eq!(client_data(&[255]), ClientData::Nothing);
        assert_eq!(client_data(&[]), ClientData::Nothing);
        assert_eq!(client_data(&[0]), ClientData::Write(0, b""));
    }

    /// A whole session over in-memory connections: kubectl's side speaks v5, a fake
    /// spdystream server speaks v4.
    #[tokio::test]
    async fn a_session_translates_both_ways_and_ends_with_the_runtimes_status() {
        let (client, mut kubectl) = tokio::io::duplex(64 * 1024);
        let (runtime, containerd) = tokio::io::duplex(64 * 1024);
        let streams = Streams {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let session = tokio::spawn(run(client, runtime, streams));
        let status = br#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode"}"#;

        let fake_runtime = tokio::spawn(async move {
            let (read, mut write) = tokio::io::split(containerd);
            let mut frames = FrameReader::new(read);
            for id in [1, 3, 5, 7] {
                assert_eq!(
                    frames.next().await.unwrap(),
                    Some(Frame::SynStream { stream: id })
                );
            }
            for id in [1, 3, 5, 7] {
                write.write_all(&spdy::syn_reply(id)).await.unwrap();
            }
            // stdin arrives, then its end.
            let mut stdin = Vec::new();
            loop {
                match frames.next().await.unwrap() {
                    Some(Frame::Data {
                        stream: 3,
                        payload,
                        fin,
                    }) => {
                        stdin.extend_from_slice(&payload);
                        if fin {
                            break;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            let mut output = spdy::data(5, b"out", false);
            output.extend(spdy::data(7, b"err", false));
            output.extend(spdy::data(1, status, false));
            for id in [3, 5, 1, 7] {
                output.extend(spdy::rst_stream(id, 5));
            }
            write.write_all(&output).await.unwrap();
            stdin
        });

        use crate::streaming::websocket::testing::*;
        let mask = [7, 7, 7, 7];
        let mut sent = client_frame(true, OP_BINARY, b"\x00hello ", mask);
        sent.extend(client_frame(false, OP_BINARY, b"\x00wor", mask));
        sent.extend(client_frame(true, OP_PING, b"beat", mask));
        sent.extend(client_frame(true, OP_CONTINUATION, b"ld", mask));
        sent.extend(client_frame(true, OP_BINARY, &[255, 0], mask));
        kubectl.write_all(&sent).await.unwrap();
        let mut received = Vec::new();
        loop {
            let frame = server_frame(&mut kubectl).await;
            let close = frame.0 == OP_CLOSE;
            received.push(frame);
            if close {
                break;
            }
        }
        kubectl
            .write_all(&client_frame(true, OP_CLOSE, &1000u16.to_be_bytes(), mask))
            .await
            .unwrap();
        session.await.unwrap();
        assert_eq!(fake_runtime.await.unwrap(), b"hello world");
        let mut error = vec![ERROR];
        error.extend_from_slice(status);
        let data: Vec<_> = received
            .iter()
            .filter(|(op, _)| *op == OP_BINARY)
            .map(|(_, payload)| payload.clone())
            .collect();
        assert_eq!(
            data,
            [
                vec![STDOUT],
                b"\x01out".to_vec(),
                b"\x02err".to_vec(),
                error
            ]
        );
        assert!(received.contains(&(OP_PONG, b"beat".to_vec())));
        assert_eq!(received.last(), Some(&(OP_CLOSE, vec![0x03, 0xE8])));
    }

    #[tokio::test]
    async fn a_runtime_that_vanishes_gives_an_internal_error() {
        let (client, mut kubectl) = tokio::io::duplex(64 * 1024);
        let (runtime, containerd) = tokio::io::duplex(64 * 1024);
        let streams = Streams {
            stdout: true,
            ..Streams::default()
        };
        let session = tokio::spawn(run(client, runtime, streams));
        drop(containerd);
        use crate::streaming::websocket::testing::*;
        let (op, payload) = server_frame(&mut kubectl).await;
        assert_eq!(op, OP_BINARY);
        assert_eq!(payload[0], ERROR);
        let status: serde_json::Value = serde_json::from_slice(&payload[1..]).unwrap();
        assert_eq!(status["reason"], "InternalError");
        assert_eq!(server_frame(&mut kubectl).await.0, OP_CLOSE);
        drop(kubectl);
        session.await.unwrap();
    }

    #[test]
    fn an_internal_error_is_a_failure_status() {
        let status: serde_json::Value = serde_json::from_slice(&internal_error("boom")).unwrap();
        assert_eq!(status["status"], "Failure");
        assert_eq!(status["reason"], "InternalError");
        assert_eq!(status["code"], 500);
        let success: serde_json::Value = serde_json::from_slice(SUCCESS).unwrap();
        assert_eq!(success["status"], "Success");
    }
}
