//! Newline-delimited reading with a hard line limit and no buffer while idle.
//!
//! A session holds only the unfinished tail of a line between reads, usually
//! nothing, so tens of thousands of idle miners cost no read buffers. Data is read
//! when the connection has some, into a buffer that lives only for that read.

use super::transport::MinerRead;

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The unfinished line of a session.
pub struct LineBuffer {
    partial: Vec<u8>,
    max: usize,
}

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        LineBuffer {
            partial: Vec::new(),
            max,
        }
    }

    /// Waits for data and reads what the connection has. Returns the complete lines
    /// received (separated by `\n`, the final newline removed), or `None` when no line
    /// is complete yet. Cancel-safe: nothing is lost when the wait is dropped.
    pub async fn read_from<R: MinerRead>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<Vec<u8>>, LineError> {
        match reader.read_into(&mut self.partial).await {
            Ok(0) => return Err(LineError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        self.take_lines()
    }

    /// Splits off the complete lines, checking every line against the limit.
    fn take_lines(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        let Some(last_newline) = self.partial.iter().rposition(|b| *b == b'\n') else {
            if self.partial.len() > self.max {
                return Err(LineError::TooLong(self.max));
            }
            if self.partial.is_empty() {
                self.partial = Vec::new();
            }
            return Ok(None);
        };
        let rest = self.partial.split_off(last_newline + 1);
        let mut complete = std::mem::replace(&mut self.partial, rest);
        complete.truncate(last_newline);
        if complete.split(|b| *b == b'\n').any(|l| l.len() > self.max)
            || self.partial.len() > self.max
        {
            return Err(LineError::TooLong(self.max));
        }
        if self.partial.is_empty() {
            // Give the read capacity back: an idle session keeps no buffer.
            self.partial = Vec::new();
        } else {
            self.partial.shrink_to_fit();
        }
        Ok(Some(complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::tcp::OwnedReadHalf;

    async fn pair() -> (tokio::net::TcpStream, OwnedReadHalf) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, _write) = server.into_split();
        std::mem::forget(_write);
        (client, read)
    }

    /// The next complete lines, reading as often as it takes.
    async fn next<R: MinerRead>(buf: &mut LineBuffer, r: &mut R) -> Result<Vec<u8>, LineError> {
        loop {
            if let Some(lines) = buf.read_from(r).await? {
                return Ok(lines);
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_keeps_partial_and_frees_the_buffer() {
        let (mut client, mut read) = pair().await;
        let mut buf = LineBuffer::new(64);
        client.write_all(b"{\"a\":1}\r\nsecond\nthi").await.unwrap();
        let lines = next(&mut buf, &mut read).await.unwrap();
        assert_eq!(lines, b"{\"a\":1}\r\nsecond");
        assert_eq!(buf.partial, b"thi");
        client.write_all(b"rd\n").await.unwrap();
        let lines = next(&mut buf, &mut read).await.unwrap();
        assert_eq!(lines, b"third");
        assert_eq!(buf.partial.capacity(), 0, "no buffer kept while idle");
    }

    #[tokio::test]
    async fn enforces_the_limit_and_sees_the_close() {
        let (mut client, mut read) = pair().await;
        let mut buf = LineBuffer::new(50);
        client.write_all(&[b'x'; 100]).await.unwrap();
        assert!(matches!(
            next(&mut buf, &mut read).await,
            Err(LineError::TooLong(50))
        ));

        let (client, mut read) = pair().await;
        drop(client);
        let mut buf = LineBuffer::new(50);
        assert!(matches!(
            buf.read_from(&mut read).await,
            Err(LineError::Closed)
        ));
    }

    #[tokio::test]
    async fn reads_lines_through_a_split_stream_as_tls_does() {
        let (mut client, server) = tokio::io::duplex(64);
        let (mut read, _write) = tokio::io::split(server);
        let mut buf = LineBuffer::new(64);
        client.write_all(b"one\ntw").await.unwrap();
        assert_eq!(next(&mut buf, &mut read).await.unwrap(), b"one");
        client.write_all(b"o\n").await.unwrap();
        assert_eq!(next(&mut buf, &mut read).await.unwrap(), b"two");
        assert_eq!(buf.partial.capacity(), 0, "no buffer kept while idle");
        drop(client);
        assert!(matches!(
            buf.read_from(&mut read).await,
            Err(LineError::Closed)
        ));
    }
}
