//! Newline-delimited reading with a hard line limit, cancel-safe inside `select!`.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    #[error("connection closed in the middle of a line")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads the next line into `buf` (without the newline). `buf` must be cleared by the
/// caller after each line: partial data stays in it across a cancelled call, so
/// the function is safe to use as a `select!` branch. `Ok(false)` is a clean EOF.
pub async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>, max: usize) -> Result<bool, LineError> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return if buf.is_empty() { Ok(false) } else { Err(LineError::Truncated) };
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(pos) => {
                if buf.len() + pos > max {
                    return Err(LineError::TooLong(max));
                }
                buf.extend_from_slice(&available[..pos]);
                reader.consume(pos + 1);
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                return Ok(true);
            }
            None => {
                let n = available.len();
                if buf.len() + n > max {
                    return Err(LineError::TooLong(max));
                }
                buf.extend_from_slice(available);
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_lines_and_enforces_the_limit() {
        let data: &[u8] = b"{\"a\":1}\r\nsecond\n";
        let mut r = tokio::io::BufReader::with_capacity(4, data);
        let mut buf = Vec::new();
        assert!(read_line(&mut r, &mut buf, 64).await.unwrap());
        assert_eq!(buf, b"{\"a\":1}");
        buf.clear();
        assert!(read_line(&mut r, &mut buf, 64).await.unwrap());
        assert_eq!(buf, b"second");
        buf.clear();
        assert!(!read_line(&mut r, &mut buf, 64).await.unwrap());

        let long = vec![b'x'; 100];
        let mut r = tokio::io::BufReader::with_capacity(16, &long[..]);
        let mut buf = Vec::new();
        assert!(matches!(read_line(&mut r, &mut buf, 50).await, Err(LineError::TooLong(50))));

        let mut r = tokio::io::BufReader::new(&b"no newline"[..]);
        let mut buf = Vec::new();
        assert!(matches!(read_line(&mut r, &mut buf, 50).await, Err(LineError::Truncated)));
    }
}
