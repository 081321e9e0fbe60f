//! HTTP client of the node's REST API under `/api/v1`.
//!
//! One method per endpoint, each returning the typed view (for tables) together with
//! the raw JSON the node sent (for `--json`, so scripts see every field, even ones this
//! build does not know). Every way a request can fail is one [`ClientError`] variant
//! whose message fits on one line.

use std::collections::HashSet;
use std::time::Duration;

use defpool_core::api::{
    AuditReport, BalanceView, BanList, BanRequest, BanView, BlockStatus, BlockView, ConfigReload,
    EffectiveConfig, ErrorBody, Health, MinerBalances, MinerSummaryView, MinerView, Page,
    PayoutRequest, PayoutSettingsUpdate, PayoutSettingsView, PayoutStatus, PayoutView, PoolStats,
};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Longest piece of a non-API error body quoted in a message.
const MAX_BODY_IN_MESSAGE: usize = 200;

/// Why a request did not produce the answer the command needs.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--url` is not an http URL this build can talk to.
    #[error("invalid --url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The token cannot be put in an HTTP header.
    #[error("invalid token: it contains characters not allowed in an HTTP header")]
    InvalidToken,
    /// The command changes state or reads admin data and no token was given.
    #[error("this command needs the admin token: pass --token or set DEFPOOL_TOKEN")]
    MissingToken,
    /// No HTTP answer: connection refused, DNS failure, timeout, connection dropped.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The node answered with its JSON error body.
    #[error("{code}: {message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// An HTTP error without the API's error shape (a proxy, a wrong URL, a crash).
    #[error("HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http { status: StatusCode, body: String },
    /// A success status whose body is not the expected JSON.
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse { url: String, reason: String },
}

/// A successful answer: the typed view and the JSON exactly as the node sent it.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub value: T,
    pub raw: Value,
}

/// Which part of a list to fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Follow `next_cursor` to the end and return one merged page.
    pub all: bool,
}

/// Filters of `GET /miners/{wallet}/payouts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutFilter {
    pub coin: Option<String>,
    pub status: Option<PayoutStatus>,
}

/// Filters of `GET /blocks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockFilter {
    pub coin: Option<String>,
    pub status: Option<BlockStatus>,
}

/// Filters of `GET /miners`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinerFilter {
    pub coin: Option<String>,
    pub active: bool,
}

/// Whether an endpoint needs the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Sent when given, not required.
    Optional,
    /// Fail before sending when no token was given.
    Required,
}

/// A client bound to one node.
pub struct Client {
    http: reqwest::Client,
    /// Base URL with its path prefix (a node behind a reverse proxy may live under one).
    base: Url,
    /// The URL as the operator typed it, for messages.
    shown_url: String,
    /// `Bearer TOKEN`, marked sensitive so it never shows in debug output.
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl Client {
    pub fn new(url: &str, token: Option<&str>, timeout: Duration) -> Result<Client, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let mut base = Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
        match base.scheme() {
            "http" => {}
            "https" => {
                return Err(invalid(
                    "https is not supported by this build (no TLS); use http://",
                ))
            }
            _ => return Err(invalid("the URL must start with http://")),
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(invalid("the URL has no host"));
        }
        base.set_query(None);
        base.set_fragment(None);
        let authorization = token
            .map(|t| {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", t.trim()))
                    .map_err(|_| ClientError::InvalidToken)?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("defpool-ctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(&error_chain(&e)))?;
        Ok(Client {
            http,
            base,
            shown_url: url.trim().to_string(),
            authorization,
            timeout,
        })
    }

    /// `GET /health`. A degraded node may answer 503 with a health body; that is still
    /// an answer to show, not a failure.
    pub async fn health(&self) -> Result<Reply<Health>, ClientError> {
        let url = self.endpoint(&["health"], &[])?;
        let (status, body) = self
            .send(self.http.get(url.clone()), Auth::Optional)
            .await?;
        if !status.is_success() {
            if let Ok(reply) = parse_reply::<Health>(&url, &body) {
                return Ok(reply);
            }
            return Err(error_from_response(status, &body));
        }
        parse_reply(&url, &body)
    }

    /// `GET /pool/stats`.
    pub async fn stats(&self) -> Result<Reply<PoolStats>, ClientError> {
        self.get(&["pool", "stats"], &[], Auth::Optional).await
    }

    /// `GET /miners/{wallet}`.
    pub async fn miner(&self, wallet: &str) -> Result<Reply<MinerView>, ClientError> {
        self.get(&["miners", wallet], &[], Auth::Optional).await
    }

    /// `GET /miners/{wallet}/balances`.
    pub async fn balances(&self, wallet: &str) -> Result<Reply<MinerBalances>, ClientError> {
        self.get(&["miners", wallet, "balances"], &[], Auth::Optional)
            .await
    }

    /// `GET /miners/{wallet}/balance/{coin}`.
    pub async fn balance(
        &self,
        wallet: &str,
        coin: &str,
    ) -> Result<Reply<BalanceView>, ClientError> {
        self.get(&["miners", wallet, "balance", coin], &[], Auth::Optional)
            .await
    }

    /// `GET /miners/{wallet}/payouts`, or every miner's `GET /payouts` (admin) without
    /// a wallet; one page or all of them.
    pub async fn payouts(
        &self,
        wallet: Option<&str>,
        filter: &PayoutFilter,
        paging: &Paging,
    ) -> Result<Reply<Page<PayoutView>>, ClientError> {
        let filters = [
            ("coin", filter.coin.clone()),
            ("status", filter.status.map(|s| s.as_str().to_string())),
        ];
        match wallet {
            Some(wallet) => {
                self.list(
                    &["miners", wallet, "payouts"],
                    &filters,
                    paging,
                    Auth::Optional,
                )
                .await
            }
            None => {
                self.list(&["payouts"], &filters, paging, Auth::Required)
                    .await
            }
        }
    }

    /// `GET /miners` (admin), one page or all of them.
    pub async fn miners(
        &self,
        filter: &MinerFilter,
        paging: &Paging,
    ) -> Result<Reply<Page<MinerSummaryView>>, ClientError> {
        let filters = [
            ("coin", filter.coin.clone()),
            ("active", filter.active.then(|| "true".to_string())),
        ];
        self.list(&["miners"], &filters, paging, Auth::Required)
            .await
    }

    /// `POST /payouts/{id}/cancel` (admin).
    pub async fn cancel_payout(&self, id: i64) -> Result<Reply<PayoutView>, ClientError> {
        let id = id.to_string();
        self.send_json(
            Method::POST,
            &["payouts", &id, "cancel"],
            &serde_json::json!({}),
        )
        .await
    }

    /// `POST /payouts/{id}/retry` (admin).
    pub async fn retry_payout(&self, id: i64) -> Result<Reply<PayoutView>, ClientError> {
        let id = id.to_string();
        self.send_json(
            Method::POST,
            &["payouts", &id, "retry"],
            &serde_json::json!({}),
        )
        .await
    }

    /// `GET /bans` (admin).
    pub async fn bans(&self) -> Result<Reply<BanList>, ClientError> {
        self.get(&["bans"], &[], Auth::Required).await
    }

    /// `POST /bans` (admin).
    pub async fn ban(&self, request: &BanRequest) -> Result<Reply<BanView>, ClientError> {
        self.send_json(Method::POST, &["bans"], request).await
    }

    /// `DELETE /bans/{ip}` (admin).
    pub async fn unban(&self, ip: &str) -> Result<Reply<BanView>, ClientError> {
        let url = self.endpoint(&["bans", ip], &[])?;
        let (status, body) = self
            .send(self.http.delete(url.clone()), Auth::Required)
            .await?;
        if !status.is_success() {
            return Err(error_from_response(status, &body));
        }
        parse_reply(&url, &body)
    }

    /// `GET /config` (admin).
    pub async fn config(&self) -> Result<Reply<EffectiveConfig>, ClientError> {
        self.get(&["config"], &[], Auth::Required).await
    }

    /// `POST /config/reload` (admin).
    pub async fn reload_config(&self) -> Result<Reply<ConfigReload>, ClientError> {
        self.send_json(Method::POST, &["config", "reload"], &serde_json::json!({}))
            .await
    }

    /// The `ws://` URL of `GET /stream`, for one miner's public stream or the admin one.
    pub fn stream_url(&self, miner: Option<&str>) -> Result<Url, ClientError> {
        let mut url = self.endpoint(&["stream"], &[("miner", miner.map(str::to_string))])?;
        // http → ws keeps host, port and path; only the scheme differs.
        url.set_scheme("ws").map_err(|()| ClientError::InvalidUrl {
            url: self.shown_url.clone(),
            reason: "cannot make a ws:// URL of it".to_string(),
        })?;
        Ok(url)
    }

    /// The `Authorization` header value, or `MissingToken` when `auth` requires one.
    pub fn authorization(&self, auth: Auth) -> Result<Option<HeaderValue>, ClientError> {
        match (&self.authorization, auth) {
            (Some(value), _) => Ok(Some(value.clone())),
            (None, Auth::Required) => Err(ClientError::MissingToken),
            (None, Auth::Optional) => Ok(None),
        }
    }

    /// The URL as the operator typed it, for messages.
    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `POST /miners/{wallet}/payout` (admin).
    pub async fn request_payout(
        &self,
        wallet: &str,
        request: &PayoutRequest,
    ) -> Result<Reply<PayoutView>, ClientError> {
        self.send_json(Method::POST, &["miners", wallet, "payout"], request)
            .await
    }

    /// `GET /miners/{wallet}/payout-settings?coin=COIN`.
    pub async fn payout_settings(
        &self,
        wallet: &str,
        coin: &str,
    ) -> Result<Reply<PayoutSettingsView>, ClientError> {
        self.get(
            &["miners", wallet, "payout-settings"],
            &[("coin", Some(coin.to_string()))],
            Auth::Optional,
        )
        .await
    }

    /// `PUT /miners/{wallet}/payout-settings` (admin).
    pub async fn update_payout_settings(
        &self,
        wallet: &str,
        update: &PayoutSettingsUpdate,
    ) -> Result<Reply<PayoutSettingsView>, ClientError> {
        self.send_json(Method::PUT, &["miners", wallet, "payout-settings"], update)
            .await
    }

    /// `GET /blocks`, one page or all of them.
    pub async fn blocks(
        &self,
        filter: &BlockFilter,
        paging: &Paging,
    ) -> Result<Reply<Page<BlockView>>, ClientError> {
        let filters = [
            ("coin", filter.coin.clone()),
            ("status", filter.status.map(|s| s.as_str().to_string())),
        ];
        self.list(&["blocks"], &filters, paging, Auth::Optional)
            .await
    }

    /// `GET /admin/audit` (admin).
    pub async fn proxy(&self) -> Result<Reply<defpool_core::api::ProxyReport>, ClientError> {
        self.get(&["proxy"], &[], Auth::Optional).await
    }

    pub async fn audit(&self) -> Result<Reply<AuditReport>, ClientError> {
        self.get(&["admin", "audit"], &[], Auth::Required).await
    }

    /// The URL of `/api/v1/<segments>?<query>`, every segment percent-encoded so a
    /// wallet or cursor can never change the path.
    fn endpoint(
        &self,
        segments: &[&str],
        query: &[(&str, Option<String>)],
    ) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::InvalidUrl {
                url: self.shown_url.clone(),
                reason: "the URL cannot have a path".to_string(),
            })?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        Ok(url)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, Option<String>)],
        auth: Auth,
    ) -> Result<Reply<T>, ClientError> {
        let url = self.endpoint(segments, query)?;
        let (status, body) = self.send(self.http.get(url.clone()), auth).await?;
        if !status.is_success() {
            return Err(error_from_response(status, &body));
        }
        parse_reply(&url, &body)
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<Reply<T>, ClientError> {
        let url = self.endpoint(segments, &[])?;
        let request = self.http.request(method, url.clone()).json(body);
        let (status, body) = self.send(request, Auth::Required).await?;
        if !status.is_success() {
            return Err(error_from_response(status, &body));
        }
        parse_reply(&url, &body)
    }

    /// One page, or with `paging.all` every page from `paging.cursor` on, merged into
    /// one page without a `next_cursor`.
    async fn list<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        filters: &[(&str, Option<String>)],
        paging: &Paging,
        auth: Auth,
    ) -> Result<Reply<Page<T>>, ClientError> {
        let mut cursor = paging.cursor.clone();
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        let mut raw_items = Vec::new();
        loop {
            let mut query = filters.to_vec();
            query.push(("limit", paging.limit.map(|l| l.to_string())));
            query.push(("cursor", cursor.clone()));
            let mut page: Reply<Page<T>> = self.get(segments, &query, auth).await?;
            if !paging.all {
                return Ok(page);
            }
            if let Some(Value::Array(raw)) = page.raw.get_mut("items").map(Value::take) {
                raw_items.extend(raw);
            }
            items.append(&mut page.value.items);
            match page.value.next_cursor {
                None => break,
                Some(next) => {
                    if !seen.insert(next.clone()) || cursor.as_deref() == Some(next.as_str()) {
                        return Err(ClientError::InvalidResponse {
                            url: self.shown_url.clone(),
                            reason: format!("the node returned cursor {next:?} twice"),
                        });
                    }
                    cursor = Some(next);
                }
            }
        }
        Ok(Reply {
            value: Page {
                items,
                next_cursor: None,
            },
            raw: serde_json::json!({ "items": raw_items, "next_cursor": null }),
        })
    }

    /// Sends a request and reads the whole body; only transport failures are errors here.
    async fn send(
        &self,
        request: RequestBuilder,
        auth: Auth,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let request = match (&self.authorization, auth) {
            (Some(value), _) => request.header(AUTHORIZATION, value.clone()),
            (None, Auth::Required) => return Err(ClientError::MissingToken),
            (None, Auth::Optional) => request,
        };
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Ok((status, body.to_vec()))
    }

    fn transport_error(&self, error: &reqwest::Error) -> ClientError {
        let reason = if error.is_timeout() {
            format!("no answer within {} s", self.timeout.as_secs())
        } else {
            error_chain(error)
        };
        ClientError::Unreachable {
            url: self.shown_url.clone(),
            reason,
        }
    }
}

/// The most specific cause of an error (`Connection refused (os error 111)` rather than
/// reqwest's `error sending request for url (…)`, which repeats the URL).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    one_line(&innermost.to_string())
}

/// Turns an HTTP error into the API's `code: message`, or the status and a bounded
/// excerpt of the body when it is not the API's error shape.
pub fn error_from_response(status: StatusCode, body: &[u8]) -> ClientError {
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        return ClientError::Api {
            status,
            code: one_line(&error.code),
            message: one_line(&error.message),
        };
    }
    let text = one_line(&String::from_utf8_lossy(body));
    let body = match text.char_indices().nth(MAX_BODY_IN_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    };
    ClientError::Http { status, body }
}

/// Parses a success body into the typed view, keeping the raw JSON.
pub fn parse_reply<T: DeserializeOwned>(url: &Url, body: &[u8]) -> Result<Reply<T>, ClientError> {
    let invalid = |reason: String| ClientError::InvalidResponse {
        url: url.to_string(),
        reason: one_line(&reason),
    };
    let raw: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let value = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            invalid(e.into_inner().to_string())
        } else {
            invalid(format!("{path}: {}", e.into_inner()))
        }
    })?;
    Ok(Reply { value, raw })
}

/// Collapses whitespace and control characters so a message stays on one line.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        match Client::new(url, None, Duration::from_secs(2)) {
            Ok(c) => c,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn api_error_body_becomes_code_and_message() {
        let body = br#"{"error":{"code":"insufficient_balance","message":"balance 0.1 XMR is below 0.5 XMR"}}"#;
        let err = error_from_response(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(
            err.to_string(),
            "insufficient_balance: balance 0.1 XMR is below 0.5 XMR"
        );
        assert!(
            matches!(err, ClientError::Api { status, .. } if status == StatusCode::UNPROCESSABLE_ENTITY)
        );
    }

    #[test]
    fn api_error_with_newlines_stays_on_one_line() {
        let body = br#"{"error":{"code":"internal","message":"database\nlocked\t(retry)"}}"#;
        let err = error_from_response(StatusCode::INTERNAL_SERVER_ERROR, body);
        assert_eq!(err.to_string(), "internal: database locked (retry)");
    }

    #[test]
    fn other_error_bodies_fall_back_to_status_and_text() {
        let err = error_from_response(StatusCode::BAD_GATEWAY, b"<html>\n  upstream down\n</html>");
        assert_eq!(
            err.to_string(),
            "HTTP 502 Bad Gateway: <html> upstream down </html>"
        );

        let err = error_from_response(StatusCode::NOT_FOUND, b"");
        assert_eq!(err.to_string(), "HTTP 404 Not Found");

        // JSON, but not the API's error shape.
        let err = error_from_response(StatusCode::BAD_REQUEST, br#"{"error":"nope"}"#);
        assert_eq!(err.to_string(), r#"HTTP 400 Bad Request: {"error":"nope"}"#);
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let body = "x".repeat(5000);
        let msg =
            error_from_response(StatusCode::INTERNAL_SERVER_ERROR, body.as_bytes()).to_string();
        assert!(msg.len() < 300, "{msg}");
        assert!(msg.ends_with('…'));
    }

    #[test]
    fn success_body_that_does_not_fit_is_an_invalid_response() {
        let url = Url::parse("http://127.0.0.1:8080/api/v1/health").expect("static URL");
        let err = parse_reply::<Health>(&url, b"not json").expect_err("not JSON");
        assert!(
            err.to_string()
                .starts_with("invalid response from http://127.0.0.1:8080/api/v1/health: not JSON"),
            "{err}"
        );

        let err = parse_reply::<Health>(
            &url,
            br#"{"status":"ok","version":"1","uptime_secs":"x","components":[]}"#,
        )
        .expect_err("wrong type");
        assert!(err.to_string().contains("uptime_secs"), "{err}");

        let reply = parse_reply::<Health>(
            &url,
            br#"{"status":"ok","version":"0.1.0","uptime_secs":5,"components":[],"extra":1}"#,
        )
        .expect("fits");
        assert_eq!(reply.value.uptime_secs, 5);
        assert_eq!(
            reply.raw["extra"], 1,
            "raw JSON keeps fields this build does not know"
        );
    }

    #[test]
    fn endpoints_are_under_api_v1_and_percent_encoded() {
        let c = client("http://127.0.0.1:8080");
        let url = c
            .endpoint(&["miners", "4abc", "balance", "XMR"], &[])
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/api/v1/miners/4abc/balance/XMR"
        );

        let url = c
            .endpoint(&["miners", "a/b?c#d", "payouts"], &[])
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/api/v1/miners/a%2Fb%3Fc%23d/payouts"
        );

        let url = c
            .endpoint(
                &["blocks"],
                &[
                    ("coin", Some("XMR".into())),
                    ("status", None),
                    ("cursor", Some("a+b=&c".into())),
                ],
            )
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/api/v1/blocks?coin=XMR&cursor=a%2Bb%3D%26c"
        );
    }

    #[test]
    fn a_base_path_prefix_is_kept() {
        let c = client("http://pool.example:80/defpool/");
        let url = c.endpoint(&["health"], &[]).expect("url");
        assert_eq!(url.as_str(), "http://pool.example/defpool/api/v1/health");
        let c = client("http://pool.example/defpool?x=1");
        let url = c.endpoint(&["health"], &[]).expect("url");
        assert_eq!(url.as_str(), "http://pool.example/defpool/api/v1/health");
    }

    #[test]
    fn bad_urls_and_tokens_are_rejected_before_sending() {
        let timeout = Duration::from_secs(1);
        for url in [
            "127.0.0.1:8080",
            "ftp://x",
            "https://pool.example",
            "not a url",
            "http://",
        ] {
            let err = Client::new(url, None, timeout).err();
            assert!(
                matches!(err, Some(ClientError::InvalidUrl { .. })),
                "{url}: {err:?}"
            );
        }
        let err = Client::new("http://127.0.0.1:8080", Some("a\nb"), timeout).err();
        assert!(matches!(err, Some(ClientError::InvalidToken)), "{err:?}");
    }

    #[tokio::test]
    async fn admin_endpoints_need_a_token_before_anything_is_sent() {
        // Port 9 (discard) on a reserved address: the request must fail before it is sent.
        let c = client("http://192.0.2.1:9");
        let err = c.audit().await.expect_err("no token");
        assert!(matches!(err, ClientError::MissingToken), "{err:?}");
        let err = c
            .request_payout(
                "w",
                &PayoutRequest {
                    coin: "XMR".into(),
                    atomic: None,
                },
            )
            .await
            .expect_err("no token");
        assert!(matches!(err, ClientError::MissingToken), "{err:?}");
    }

    #[tokio::test]
    async fn a_node_that_is_down_is_reported_as_unreachable() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let err = client(&url).health().await.expect_err("nothing listens");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot reach the node at {url}: ")),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
    }
}
