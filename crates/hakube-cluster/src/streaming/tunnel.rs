//! `kubectl port-forward` over WebSocket: the client speaks SPDY (the port-forward protocol)
//! inside WebSocket binary messages, subprotocol `SPDY/3.1+portforward.k8s.io` (upstream's
//! tunnelling: apiserver `pkg/util/proxy/streamtunnel.go`, client-go
//! `tools/portforward/tunneling_connection.go`). The tunnel ends here: message payloads go
//! to containerd's SPDY connection as they are and its bytes come back as binary messages;
//! the SPDY inside is not looked at.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use super::websocket::{CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, Message, MessageReader, MessageWriter};

/// The stream protocol the SPDY inside speaks, asked of the runtime.
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol served: upstream's prefix, then the SPDY protocol the runtime
/// chose (what client-go's tunnelling dialer checks).
pub const WEBSOCKET_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// The most the runtime's bytes put in one message.
const MAX_PIECE: usize = 32 * 1024;
/// How long, once the runtime closed, the client may take to close too.
const FINISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Carries the tunnel between the client's WebSocket connection (already switched) and the
/// runtime's SPDY connection (already upgraded) until either ends.
pub async fn run<C, R>(client: C, runtime: R)
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
    R: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (mut runtime_read, mut runtime_write) = tokio::io::split(runtime);
    let writer = Mutex::new(MessageWriter::new(client_write));
    // Whether the client can still be written to.
    let from_runtime = async {
        let mut buffer = vec![0u8; MAX_PIECE];
        loop {
            let read = match runtime_read.read(&mut buffer).await {
                Ok(0) => return true,
                Ok(read) => read,
                Err(error) => {
                    tracing::debug!(%error, "reading the runtime's port-forward stream failed");
                    return true;
                }
            };
            if writer
                .lock()
                .await
                .binary(&[&buffer[..read]])
                .await
                .is_err()
            {
                return false;
            }
        }
    };
    let from_client = async {
        // Frame headers are read a few bytes at a time: buffered, not a read each.
        let mut reader = MessageReader::new(BufReader::new(client_read));
        loop {
            match reader.next().await {
                Ok(Some(Message::Binary(payload))) => {
                    let written = runtime_write.write_all(&payload).await;
                    if written.and(runtime_write.flush().await).is_err() {
                        break;
                    }
                }
                Ok(Some(Message::Ping(payload))) => {
                    let _ = writer.lock().await.pong(&payload).await;
                }
                Ok(Some(Message::Pong)) => {}
                Ok(Some(Message::Close(_))) => {
                    let _ = writer.lock().await.close(CLOSE_NORMAL).await;
                    break;
                }
                // The tunnel carries bytes only (client-go refuses text too).
                Ok(Some(Message::Text(_))) => {
                    let _ = writer.lock().await.close(CLOSE_PROTOCOL_ERROR).await;
                    break;
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "a tunnelling client broke the protocol");
                    let _ = writer.lock().await.close(error.close_code()).await;
                    break;
                }
            }
        }
        let _ = runtime_write.shutdown().await;
    };
    tokio::pin!(from_runtime, from_client);
    tokio::select! {
        writable = &mut from_runtime => {
            if writable {
                let finish = async {
                    let _ = writer.lock().await.close(CLOSE_NORMAL).await;
                    (&mut from_client).await;
                };
                let _ = tokio::time::timeout(FINISH_TIMEOUT, finish).await;
            }
        }
        () = &mut from_client => {}
    }
    let _ = writer.lock().await.shutdown().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::streaming::websocket::testing::*;

    #[tokio::test]
    async fn payloads_pass_as_bytes_both_ways_and_the_runtimes_end_closes() {
        let (client, mut kubectl) = tokio::io::duplex(64 * 1024);
        let (runtime, mut containerd) = tokio::io::duplex(64 * 1024);
        let tunnel = tokio::spawn(run(client, runtime));
        let mask = [1, 2, 3, 4];
        let mut sent = client_frame(true, OP_BINARY, b"SPDY ", mask);
        sent.extend(client_frame(true, OP_PING, b"", mask));
        sent.extend(client_frame(true, OP_BINARY, b"frames", mask));
        kubectl.write_all(&sent).await.unwrap();
        let mut inside = [0u8; 11];
        containerd.read_exact(&mut inside).await.unwrap();
        assert_eq!(&inside, b"SPDY frames");
        assert_eq!(server_frame(&mut kubectl).await, (OP_PONG, Vec::new()));
        containerd.write_all(b"reply").await.unwrap();
        assert_eq!(
            server_frame(&mut kubectl).await,
            (OP_BINARY, b"reply".to_vec())
        );
        drop(containerd);
        assert_eq!(server_frame(&mut kubectl).await.0, OP_CLOSE);
        kubectl
            .write_all(&client_frame(true, OP_CLOSE, &[0x03, 0xE8], mask))
            .await
            .unwrap();
        tunnel.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_close_is_answered_and_ends_the_runtime_connection() {
        let (client, mut kubectl) = tokio::io::duplex(64 * 1024);
        let (runtime, mut containerd) = tokio::io::duplex(64 * 1024);
        let tunnel = tokio::spawn(run(client, runtime));
        kubectl
            .write_all(&client_frame(true, OP_CLOSE, &[0x03, 0xE8], [9, 9, 9, 9]))
            .await
            .unwrap();
        assert_eq!(
            server_frame(&mut kubectl).await,
            (OP_CLOSE, vec![0x03, 0xE8])
        );
        tunnel.await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(containerd.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
