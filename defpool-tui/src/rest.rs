//! The REST calls behind the dashboard's actions: a miner's drill-in, a payout
//! request, reading and saving payout settings. Errors come back as one line for the
//! status bar (`code: message` from the node's error body when there is one).

use std::time::Duration;

use defpool_core::api::{
    ErrorBody, MinerView, PayoutRequest, PayoutSettingsUpdate, PayoutSettingsView, PayoutView,
};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A client bound to one node.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// `Bearer TOKEN`, marked sensitive so it never shows in debug output.
    authorization: Option<HeaderValue>,
}

impl Client {
    pub fn new(url: &str, token: Option<&str>) -> Result<Client, String> {
        let base = base_url(url)?;
        let authorization = token
            .map(|t| {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| "the token contains characters not allowed in a header")?;
                v.set_sensitive(true);
                Ok::<_, String>(v)
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("defpool-tui/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            base,
            authorization,
        })
    }

    /// `GET /miners/{wallet}`.
    pub async fn miner(&self, wallet: &str) -> Result<MinerView, String> {
        self.call::<(), _>(Method::GET, &["miners", wallet], &[], None)
            .await
    }

    /// `GET /miners/{wallet}/payout-settings?coin=COIN`.
    pub async fn payout_settings(
        &self,
        wallet: &str,
        coin: &str,
    ) -> Result<PayoutSettingsView, String> {
        self.call::<(), _>(
            Method::GET,
            &["miners", wallet, "payout-settings"],
            &[("coin", coin)],
            None,
        )
        .await
    }

    /// `POST /miners/{wallet}/payout` (admin).
    pub async fn request_payout(
        &self,
        wallet: &str,
        request: &PayoutRequest,
    ) -> Result<PayoutView, String> {
        self.call(
            Method::POST,
            &["miners", wallet, "payout"],
            &[],
            Some(request),
        )
        .await
    }

    /// `PUT /miners/{wallet}/payout-settings` (admin).
    pub async fn update_payout_settings(
        &self,
        wallet: &str,
        update: &PayoutSettingsUpdate,
    ) -> Result<PayoutSettingsView, String> {
        self.call(
            Method::PUT,
            &["miners", wallet, "payout-settings"],
            &[],
            Some(update),
        )
        .await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, String> {
        let url = endpoint(&self.base, segments, query);
        let mut request = self.http.request(method, url);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach the node: {}", root_cause(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("reading the answer: {}", root_cause(&e)))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => format!("{}: {}", e.error.code, e.error.message),
                Err(_) => format!("HTTP {status}"),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("invalid answer: {e}"))
    }
}

/// The node's base URL, checked: http only (this build has no TLS), with a host.
pub fn base_url(url: &str) -> Result<Url, String> {
    let mut base = Url::parse(url.trim()).map_err(|e| format!("invalid --url {url:?}: {e}"))?;
    if base.scheme() != "http" {
        return Err(format!(
            "invalid --url {url:?}: only http:// is supported (no TLS in this build)"
        ));
    }
    if base.host().is_none() {
        return Err(format!("invalid --url {url:?}: no host"));
    }
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

/// `/api/v1/<segments>?<query>` under `base`, each segment percent-encoded so a wallet
/// can never change the path.
pub fn endpoint(base: &Url, segments: &[&str], query: &[(&str, &str)]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(["api", "v1"]).extend(segments);
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix_and_encode_the_wallet() {
        let base = base_url("http://127.0.0.1:8080/pool/").unwrap();
        let url = endpoint(
            &base,
            &["miners", "a/b", "payout-settings"],
            &[("coin", "XMR")],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/pool/api/v1/miners/a%2Fb/payout-settings?coin=XMR"
        );
        assert!(base_url("https://x").is_err());
    }
}
