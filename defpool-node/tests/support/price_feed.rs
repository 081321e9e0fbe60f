//! A local price feed speaking Binance's and Kraken's documented public-ticker JSON,
//! plus a JSON network-stats endpoint, whose prices and failure modes a test changes
//! while the node polls it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

/// How an exchange endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The documented JSON.
    Ok,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// HTTP 500.
    ServerError,
    /// Valid JSON without the price field.
    MissingField,
}

#[derive(Default)]
struct FeedState {
    /// Binance symbol (`XMRBTC`) → price string.
    binance: HashMap<String, String>,
    /// Kraken pair (`LTCXBT`) → last trade price string.
    kraken: HashMap<String, String>,
    /// Coin → (difficulty, reward atomic).
    network: HashMap<String, (f64, u64)>,
    binance_reply: Option<Reply>,
    kraken_reply: Option<Reply>,
    hits: HashMap<&'static str, u64>,
}

/// The running feed; stops when dropped.
pub struct PriceFeed {
    pub url: String,
    state: Arc<Mutex<FeedState>>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl PriceFeed {
    pub async fn start() -> PriceFeed {
        let state = Arc::new(Mutex::new(FeedState::default()));
        let app = Router::new()
            .route("/api/v3/ticker/price", get(binance))
            .route("/0/public/Ticker", get(kraken))
            .route("/stats/{coin}", get(network))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind price feed");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        // Graceful shutdown also closes idle keep-alive connections, so after
        // `shut_down` the node's pooled connections fail like a feed that went away.
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.notified().await })
                .await;
        });
        PriceFeed {
            url,
            state,
            stop,
            task,
        }
    }

    pub fn set_binance(&self, symbol: &str, price: &str) {
        self.state
            .lock()
            .unwrap()
            .binance
            .insert(symbol.into(), price.into());
    }

    pub fn set_kraken(&self, pair: &str, price: &str) {
        self.state
            .lock()
            .unwrap()
            .kraken
            .insert(pair.into(), price.into());
    }

    pub fn set_network(&self, coin: &str, difficulty: f64, reward: u64) {
        self.state
            .lock()
            .unwrap()
            .network
            .insert(coin.into(), (difficulty, reward));
    }

    pub fn binance_replies(&self, reply: Reply) {
        self.state.lock().unwrap().binance_reply = Some(reply);
    }

    pub fn kraken_replies(&self, reply: Reply) {
        self.state.lock().unwrap().kraken_reply = Some(reply);
    }

    /// Requests served by an endpoint (`binance`, `kraken`, `network`).
    pub fn hits(&self, endpoint: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Stops serving: the listener closes and requests fail to connect.
    pub fn shut_down(&self) {
        self.stop.notify_one();
    }
}

impl Drop for PriceFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = State<Arc<Mutex<FeedState>>>;

fn failure(reply: Reply) -> Option<Response> {
    match reply {
        Reply::Ok | Reply::MissingField => None,
        Reply::Garbage => Some((StatusCode::OK, "<html>gateway says hello").into_response()),
        Reply::ServerError => {
            Some((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
        }
    }
}

async fn binance(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = s.lock().unwrap();
    *st.hits.entry("binance").or_default() += 1;
    let reply = st.binance_reply.unwrap_or(Reply::Ok);
    if let Some(r) = failure(reply) {
        return r;
    }
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    // Binance's documented answer to an unknown symbol.
    let Some(price) = st.binance.get(&symbol) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": -1121, "msg": "Invalid symbol."})),
        )
            .into_response();
    };
    if reply == Reply::MissingField {
        return axum::Json(json!({ "symbol": symbol })).into_response();
    }
    axum::Json(json!({ "symbol": symbol, "price": price })).into_response()
}

async fn kraken(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = s.lock().unwrap();
    *st.hits.entry("kraken").or_default() += 1;
    let reply = st.kraken_reply.unwrap_or(Reply::Ok);
    if let Some(r) = failure(reply) {
        return r;
    }
    let pair = q.get("pair").cloned().unwrap_or_default();
    let Some(price) = st.kraken.get(&pair) else {
        return axum::Json(json!({"error": ["EQuery:Unknown asset pair"]})).into_response();
    };
    // Kraken answers under its own name for the pair: XMRXBT → XXMRXXBT.
    let key = if pair.len() == 6 {
        format!("X{}X{}", &pair[..3], &pair[3..])
    } else {
        pair.clone()
    };
    let mut ticker = json!({
        "a": [price, "1", "1.000"],
        "b": [price, "1", "1.000"],
        "c": [price, "0.50000000"],
        "v": ["100.0", "200.0"],
        "p": [price, price],
        "t": [10, 20],
        "l": [price, price],
        "h": [price, price],
        "o": price
    });
    if reply == Reply::MissingField {
        if let Some(o) = ticker.as_object_mut() {
            o.remove("c");
        }
    }
    axum::Json(json!({ "error": [], "result": { key: ticker } })).into_response()
}

async fn network(State(s): Shared, Path(coin): Path<String>) -> Response {
    let mut st = s.lock().unwrap();
    *st.hits.entry("network").or_default() += 1;
    match st.network.get(&coin) {
        Some((difficulty, reward)) => axum::Json(json!({
            "network": { "difficulty": difficulty, "reward": reward, "height": 1000 }
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "no such coin").into_response(),
    }
}
