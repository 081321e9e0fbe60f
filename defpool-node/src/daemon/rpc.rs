//! A JSON-RPC 2.0 client over HTTP for daemons and wallets (monerod, litecoind,
//! monero-wallet-rpc): one request at a time per call, errors sorted into what a
//! caller can act on.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("no daemon configured")]
    NoDaemon,
    /// `connect_failed`: the request never reached the server (nothing can have
    /// happened there); otherwise it may have been processed (timeout, reset).
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        url: String,
        message: String,
        connect_failed: bool,
    },
    #[error("{url} answered HTTP {status}")]
    Http { url: String, status: u16 },
    /// The daemon understood and refused: code and message as it sent them.
    #[error("{method} failed with code {code}: {message}")]
    Remote {
        method: String,
        code: i64,
        message: String,
    },
    #[error("unexpected answer to {method}: {message}")]
    BadResponse { method: String, message: String },
}

impl RpcError {
    /// True for errors worth retrying later (network, HTTP 5xx), false when the
    /// daemon or wallet gave a definite answer.
    pub fn is_transient(&self) -> bool {
        match self {
            RpcError::NoDaemon | RpcError::Unreachable { .. } => true,
            RpcError::Http { status, .. } => *status >= 500 || *status == 429,
            RpcError::Remote { .. } | RpcError::BadResponse { .. } => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct JsonRpcClient {
    http: reqwest::Client,
    url: String,
    auth: Option<(String, String)>,
    /// Bitcoin Core's `.cookie` (`__cookie__:PASSWORD`), read at each call because the
    /// daemon writes a new one whenever it restarts.
    cookie_file: Option<std::path::PathBuf>,
}

impl JsonRpcClient {
    pub fn new(url: &str, user: &str, password: &str, timeout: Duration) -> Result<Self, RpcError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RpcError::Unreachable {
                url: url.to_string(),
                message: e.to_string(),
                connect_failed: true,
            })?;
        Ok(JsonRpcClient {
            http,
            url: url.to_string(),
            auth: (!user.is_empty()).then(|| (user.to_string(), password.to_string())),
            cookie_file: None,
        })
    }

    /// Authenticates with a cookie file instead of a user and password.
    pub fn with_cookie_file(mut self, path: &std::path::Path) -> Self {
        self.cookie_file = Some(path.to_path_buf());
        self.auth = None;
        self
    }

    /// The credentials of the next request.
    fn credentials(&self) -> Result<Option<(String, String)>, RpcError> {
        let Some(path) = &self.cookie_file else {
            return Ok(self.auth.clone());
        };
        let text = std::fs::read_to_string(path).map_err(|e| RpcError::Unreachable {
            url: self.url.clone(),
            message: format!("cannot read the cookie file {}: {e}", path.display()),
            connect_failed: true,
        })?;
        let (user, password) =
            text.trim()
                .split_once(':')
                .ok_or_else(|| RpcError::Unreachable {
                    url: self.url.clone(),
                    message: format!("{} is not a USER:PASSWORD cookie", path.display()),
                    connect_failed: true,
                })?;
        Ok(Some((user.to_string(), password.to_string())))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` on `path` (e.g. `/json_rpc` for monerod, `` for
    /// bitcoind) and decodes `result`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        let url = format!("{}{}", self.url.trim_end_matches('/'), path);
        let body = json!({"jsonrpc": "2.0", "id": "defpool", "method": method, "params": params});
        let mut req = self.http.post(&url).json(&body);
        if let Some((u, p)) = self.credentials()? {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.map_err(|e| RpcError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
            connect_failed: e.is_connect(),
        })?;
        let status = resp.status();
        // Bitcoin Core answers JSON-RPC errors with HTTP 500 and a JSON body; read the
        // body before judging the status.
        let text = resp.text().await.map_err(|e| RpcError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
            connect_failed: false,
        })?;
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) if !status.is_success() => {
                return Err(RpcError::Http {
                    url,
                    status: status.as_u16(),
                })
            }
            Err(e) => {
                return Err(RpcError::BadResponse {
                    method: method.to_string(),
                    message: format!("not JSON: {e}"),
                })
            }
        };
        if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
            return Err(RpcError::Remote {
                method: method.to_string(),
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_string(),
            });
        }
        let result = value.get("result").cloned().unwrap_or(Value::Null);
        serde_json::from_value(result).map_err(|e| RpcError::BadResponse {
            method: method.to_string(),
            message: e.to_string(),
        })
    }
}

impl JsonRpcClient {
    /// POSTs a plain JSON body to `path` (monerod's "other" RPC endpoints such as
    /// `/get_transactions`, which are not JSON-RPC) and decodes the whole answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, RpcError> {
        let url = format!("{}{}", self.url.trim_end_matches('/'), path);
        let mut req = self.http.post(&url).json(&body);
        if let Some((u, p)) = self.credentials()? {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.map_err(|e| RpcError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
            connect_failed: e.is_connect(),
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(RpcError::Http {
                url,
                status: status.as_u16(),
            });
        }
        let text = resp.text().await.map_err(|e| RpcError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
            connect_failed: false,
        })?;
        serde_json::from_str(&text).map_err(|e| RpcError::BadResponse {
            method: path.to_string(),
            message: e.to_string(),
        })
    }
}

/// The error with its sources ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
