//! The byte stream under a session: plain TCP or TLS.
//!
//! Sessions are generic over the two sides defined here, so each kind of port gets
//! its own code and the plain path pays nothing for TLS. Plain TCP reads on readiness
//! into a buffer that exists only for the read and writes with `try_write` first (a
//! job line almost always fits the socket buffer, so no timer is armed). A TLS stream
//! cannot report readiness of decrypted bytes, so it is polled with a stack buffer
//! that, likewise, no idle session holds; its writes are ordinary async writes,
//! flushed so the record leaves rustls at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes read per wake-up at most; a request line is far smaller.
pub const READ_CHUNK: usize = 4096;

/// The side of a connection a session reads the miner's requests from.
pub trait MinerRead: Send {
    /// Waits until the miner has sent something and appends what is there to `buf`.
    /// `Ok(0)` means the miner closed the connection; `WouldBlock` is a spurious
    /// wake-up with nothing read.
    fn read_into(&mut self, buf: &mut Vec<u8>) -> impl Future<Output = io::Result<usize>> + Send;
}

/// The side of a connection a session writes replies and jobs to.
pub trait MinerWrite: Send {
    /// Writes all of `bytes`; a miner that does not take them within `timeout` gets
    /// `TimedOut`.
    fn send(
        &mut self,
        bytes: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send;
}

impl MinerRead for OwnedReadHalf {
    fn read_into(&mut self, buf: &mut Vec<u8>) -> impl Future<Output = io::Result<usize>> + Send {
        // Polling readiness directly keeps the wait as small as the session it is in
        // (no readiness future with its own waiter node).
        std::future::poll_fn(move |cx| {
            ready!(self.as_ref().poll_read_ready(cx))?;
            buf.reserve(READ_CHUNK);
            Poll::Ready(self.try_read_buf(buf))
        })
    }
}

impl MinerWrite for OwnedWriteHalf {
    async fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        // Almost always the socket takes the whole line at once: no timer needed.
        let rest = match self.try_write(bytes) {
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(n) => &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => bytes,
            Err(e) => return Err(e),
        };
        tokio::time::timeout(timeout, self.write_all(rest))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// Any async stream split in two, as a TLS session is.
impl<S: AsyncRead + Send> MinerRead for ReadHalf<S> {
    fn read_into(&mut self, buf: &mut Vec<u8>) -> impl Future<Output = io::Result<usize>> + Send {
        std::future::poll_fn(move |cx| {
            // On the stack only while polled: a pending read keeps no buffer.
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut *self).poll_read(cx, &mut read)) {
                Ok(()) => {}
                // A TLS peer that closes without close_notify (xmrig does) has closed;
                // a cut-off request line is dropped either way.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            buf.extend_from_slice(read.filled());
            Poll::Ready(Ok(read.filled().len()))
        })
    }
}

impl<S: AsyncWrite + Send> MinerWrite for WriteHalf<S> {
    async fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let write = async {
            self.write_all(bytes).await?;
            // rustls keeps what the socket did not take; flushing sends it now.
            self.flush().await
        };
        tokio::time::timeout(timeout, write)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}
