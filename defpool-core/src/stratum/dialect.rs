//! Which SV1 dialect a miner speaks, from the first line it sends.
//!
//! One port can serve both: xmrig-style miners open with `login`, Bitcoin-style miners
//! with `mining.subscribe` (or `mining.configure`, or even `mining.authorize`). The
//! session reads one line, picks the dialect, and parses that line and every later one
//! with it.

use serde::Deserialize;

/// An SV1 dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// xmrig / CryptoNote: `login`, `getjob`, `submit`, `keepalived`.
    CryptoNote,
    /// Bitcoin: `mining.*`.
    Bitcoin,
}

/// Methods a CryptoNote miner may open a connection with. `submit` and `getjob` need a
/// session id from `login`, but a reconnecting miner's first line is still this dialect.
const CRYPTONOTE_METHODS: [&str; 5] = ["login", "getjob", "submit", "keepalived", "keepalive"];

/// The dialect of a connection's first line, or `None` when it is neither (not JSON,
/// no `method`, an HTTP request or TLS handshake on a plain port): close or answer with
/// a generic error.
pub fn detect_dialect(first_line: &[u8]) -> Option<Dialect> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    let head: Head<'_> = serde_json::from_slice(first_line).ok()?;
    let method = head.method?;
    if method.starts_with("mining.") {
        Some(Dialect::Bitcoin)
    } else if CRYPTONOTE_METHODS.contains(&method.as_ref()) {
        Some(Dialect::CryptoNote)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines_of_real_miners() {
        // cpuminer 2.5.1, the SRI SV1 miner (configure first), xmrig 6.26.
        assert_eq!(
            detect_dialect(
                br#"{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}"#
            ),
            Some(Dialect::Bitcoin)
        );
        assert_eq!(
            detect_dialect(
                b"{\"id\": 1795616836, \"method\": \"mining.configure\", \"params\": [[], {}]}\n"
            ),
            Some(Dialect::Bitcoin)
        );
        assert_eq!(
            detect_dialect(br#"{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4...","pass":"x","agent":"XMRig/6.26.0"}}"#),
            Some(Dialect::CryptoNote)
        );
        // Escaped method names still read as the method.
        assert_eq!(
            detect_dialect(br#"{"method":"mining\u002esubscribe"}"#),
            Some(Dialect::Bitcoin)
        );
    }

    #[test]
    fn anything_else_has_no_dialect() {
        for line in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01",
            b"",
            b"{}",
            b"[]",
            br#"{"method": 5}"#,
            br#"{"method": "eth_submitLogin"}"#,
            br#"{"id": 1, "method": "mining.subscribe""#,
        ] {
            assert_eq!(
                detect_dialect(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
