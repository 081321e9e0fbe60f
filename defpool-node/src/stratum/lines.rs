//! Newline-delimited reading with a hard line limit and no buffer while idle.
//!
//! A session holds only the unfinished tail of a line between reads, usually
//! nothing, so tens of thousands of idle miners cost no read buffers. Data is read
//! when the socket is readable, into a buffer that lives only for that read.

use tokio::net::tcp::OwnedReadHalf;

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

/// Bytes read per readiness event at most; a request line is far smaller.
const READ_CHUNK: usize = 4096;

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        LineBuffer {
            partial: Vec::new(),
            max,
        }
    }

    /// Reads what the socket has now. Returns the complete lines received (separated
    /// by `\n`, the final newline removed), or `None` when no line is complete yet.
    pub fn read_from(&mut self, reader: &OwnedReadHalf) -> Result<Option<Vec<u8>>, LineError> {
        self.partial.reserve(READ_CHUNK);
        match reader.try_read_buf(&mut self.partial) {
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

    async fn next(buf: &mut LineBuffer, r: &OwnedReadHalf) -> Result<Option<Vec<u8>>, LineError> {
        loop {
            r.readable().await.unwrap();
            match buf.read_from(r)? {
                Some(lines) => return Ok(Some(lines)),
                None => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
            if buf.partial.is_empty() {
                return Ok(None);
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_keeps_partial_and_frees_the_buffer() {
        let (mut client, read) = pair().await;
        let mut buf = LineBuffer::new(64);
        client.write_all(b"{\"a\":1}\r\nsecond\nthi").await.unwrap();
        let lines = next(&mut buf, &read).await.unwrap().unwrap();
        assert_eq!(lines, b"{\"a\":1}\r\nsecond");
        assert_eq!(buf.partial, b"thi");
        client.write_all(b"rd\n").await.unwrap();
        let lines = next(&mut buf, &read).await.unwrap().unwrap();
        assert_eq!(lines, b"third");
        assert_eq!(buf.partial.capacity(), 0, "no buffer kept while idle");
    }

    #[tokio::test]
    async fn enforces_the_limit_and_sees_the_close() {
        let (mut client, read) = pair().await;
        let mut buf = LineBuffer::new(50);
        client.write_all(&[b'x'; 100]).await.unwrap();
        let mut result = Ok(None);
        for _ in 0..20 {
            read.readable().await.unwrap();
            result = buf.read_from(&read);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(LineError::TooLong(50))));

        let (client, read) = pair().await;
        drop(client);
        read.readable().await.unwrap();
        let mut buf = LineBuffer::new(50);
        assert!(matches!(buf.read_from(&read), Err(LineError::Closed)));
    }
}
