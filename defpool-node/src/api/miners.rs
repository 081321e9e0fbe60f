//! Miner endpoints: activity, balances, payouts and payout settings.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use defpool_core::api::{
    BalanceView, CoinAmount, ErrorBody, MinerBalances, MinerSummaryView, MinerView, Page,
    PayoutRequest, PayoutSettingsUpdate, PayoutSettingsView, PayoutStatus, PayoutView, WorkerView,
};
use defpool_core::{address, CoinSpec};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::{next_cursor, page_limit, parse_cursor, ApiError, ApiJson, AppState};
use crate::payout::requests::{current_settings, resolve};
use crate::payout::{request_payout as create_request, update_settings};
use crate::store::{
    now_ms, BalanceRecord, MinerQuery, PayoutQuery, PayoutRecord, PayoutSettingsRecord,
};

pub(crate) fn balance_view(b: BalanceRecord) -> BalanceView {
    BalanceView {
        balance: CoinAmount::new(&b.coin, b.balance),
        immature: CoinAmount::new(&b.coin, b.immature),
        pending_payouts: CoinAmount::new(&b.coin, b.pending_payouts),
        paid: CoinAmount::new(&b.coin, b.paid),
        coin: b.coin,
        updated_at: b.updated_at,
    }
}

pub(crate) fn payout_view(p: PayoutRecord) -> PayoutView {
    PayoutView {
        id: p.id,
        amount: CoinAmount::new(&p.coin, p.amount),
        fee: p.fee.map(|f| CoinAmount::new(&p.coin, f)),
        miner: p.account,
        coin: p.coin,
        status: p.status,
        reason: p.reason,
        tx_hash: p.tx_hash,
        origin: p.origin,
        attempts: p.attempts,
        confirmations: p.confirmations,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn settings_view(s: PayoutSettingsRecord, customized: bool) -> PayoutSettingsView {
    PayoutSettingsView {
        threshold: CoinAmount::new(&s.coin, s.threshold),
        miner: s.account,
        coin: s.coin,
        target_coin: s.target_coin,
        auto_exchange: s.auto_exchange,
        customized,
        updated_at: s.updated_at,
    }
}

/// The configured coins whose address rules accept `wallet`; an address no coin
/// accepts is a 400, so typos are caught before a lookup.
fn coins_of(s: &AppState, wallet: &str) -> Result<Vec<&'static CoinSpec>, ApiError> {
    let mut first_error = None;
    let mut coins = Vec::new();
    for c in &s.config.coins {
        match address::validate(c.spec(), c.network, wallet) {
            Ok(_) => coins.push(c.spec()),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if coins.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_address",
            first_error.unwrap_or_else(|| "no coin is configured on this pool".into()),
        ));
    }
    Ok(coins)
}

/// A miner's workers, shares and hashrate over the hashrate window, and balances.
#[utoipa::path(get, path = "/api/v1/miners/{wallet}", tag = "miners",
    params(("wallet" = String, Path, description = "Payout address")),
    responses((status = 200, body = MinerView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn miner(
    State(s): State<AppState>,
    Path(wallet): Path<String>,
) -> Result<Json<MinerView>, ApiError> {
    let coins = coins_of(&s, &wallet)?;
    if !s.store.miner_known(&wallet).await? {
        return Err(ApiError::not_found(format!(
            "miner {wallet} has no shares or balances on this pool"
        )));
    }
    let window = s.config.accounting.hashrate_window;
    let since = now_ms() - window.as_millis() as i64;
    let activity = s.store.worker_activity(&wallet, since).await?;
    let per_diff = |coin: &str| {
        CoinSpec::lookup(coin)
            .map(|c| c.algorithm.hashes_per_difficulty())
            .unwrap_or(1.0)
    };
    let workers: Vec<WorkerView> = activity
        .iter()
        .map(|w| WorkerView {
            name: w.name.clone(),
            hashrate: w.accepted_difficulty * per_diff(&w.coin) / window.as_secs_f64(),
            valid_shares: w.valid_shares,
            invalid_shares: w.invalid_shares,
            last_share_at: w.last_share_at,
        })
        .collect();
    let balances = s
        .store
        .balances_of(&wallet)
        .await?
        .into_iter()
        .map(balance_view)
        .collect();
    Ok(Json(MinerView {
        miner: wallet,
        coin: coins[0].symbol.into(),
        hashrate: workers.iter().map(|w| w.hashrate).sum(),
        hashrate_window_secs: window.as_secs(),
        valid_shares: workers.iter().map(|w| w.valid_shares).sum(),
        invalid_shares: workers.iter().map(|w| w.invalid_shares).sum(),
        last_share_at: workers.iter().filter_map(|w| w.last_share_at).max(),
        workers,
        balances,
    }))
}

/// Every coin balance of a miner (zero balances for coins it never earned).
#[utoipa::path(get, path = "/api/v1/miners/{wallet}/balances", tag = "miners",
    params(("wallet" = String, Path, description = "Payout address")),
    responses((status = 200, body = MinerBalances), (status = 400, body = ErrorBody)))]
pub async fn balances(
    State(s): State<AppState>,
    Path(wallet): Path<String>,
) -> Result<Json<MinerBalances>, ApiError> {
    let coins = coins_of(&s, &wallet)?;
    let mut stored = s.store.balances_of(&wallet).await?;
    for c in coins {
        if !stored.iter().any(|b| b.coin == c.symbol) {
            stored.push(BalanceRecord {
                coin: c.symbol.into(),
                account: wallet.clone(),
                balance: Default::default(),
                immature: Default::default(),
                paid: Default::default(),
                pending_payouts: Default::default(),
                updated_at: 0,
            });
        }
    }
    stored.sort_by(|a, b| a.coin.cmp(&b.coin));
    Ok(Json(MinerBalances {
        miner: wallet,
        balances: stored.into_iter().map(balance_view).collect(),
    }))
}

/// A miner's balance in one coin.
#[utoipa::path(get, path = "/api/v1/miners/{wallet}/balance/{coin}", tag = "miners",
    params(("wallet" = String, Path, description = "Payout address"), ("coin" = String, Path, description = "Coin symbol")),
    responses((status = 200, body = BalanceView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn balance(
    State(s): State<AppState>,
    Path((wallet, coin)): Path<(String, String)>,
) -> Result<Json<BalanceView>, ApiError> {
    let coin_cfg = resolve(&s.config, &wallet, &coin)?;
    let symbol = coin_cfg.spec().symbol;
    let b = s
        .store
        .balance(symbol, &wallet)
        .await?
        .unwrap_or(BalanceRecord {
            coin: symbol.into(),
            account: wallet.clone(),
            balance: Default::default(),
            immature: Default::default(),
            paid: Default::default(),
            pending_payouts: Default::default(),
            updated_at: 0,
        });
    Ok(Json(balance_view(b)))
}

/// Requests a payout of `atomic` units (the whole balance when absent). The balance
/// is debited at once; the payout processor sends it.
#[utoipa::path(post, path = "/api/v1/miners/{wallet}/payout", tag = "miners", security(("admin_token" = [])),
    params(("wallet" = String, Path, description = "Payout address")),
    request_body = PayoutRequest,
    responses((status = 201, body = PayoutView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request_payout(
    _admin: Admin,
    State(s): State<AppState>,
    Path(wallet): Path<String>,
    ApiJson(req): ApiJson<PayoutRequest>,
) -> Result<(StatusCode, Json<PayoutView>), ApiError> {
    let payout = create_request(&s.store, &s.live.current(), &wallet, &req).await?;
    tracing::info!(payout = payout.id, coin = %payout.coin, miner = %wallet, amount = %payout.amount, "payout requested");
    let view = payout_view(payout);
    s.events
        .publish(defpool_core::stream::Event::PayoutChanged {
            payout: view.clone(),
        });
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PayoutParams {
    /// Only this coin.
    pub coin: Option<String>,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A miner's payout history, newest first.
#[utoipa::path(get, path = "/api/v1/miners/{wallet}/payouts", tag = "miners",
    params(("wallet" = String, Path, description = "Payout address"), PayoutParams),
    responses((status = 200, body = Page<PayoutView>), (status = 400, body = ErrorBody)))]
pub async fn payouts(
    State(s): State<AppState>,
    Path(wallet): Path<String>,
    q: Result<Query<PayoutParams>, QueryRejection>,
) -> Result<Json<Page<PayoutView>>, ApiError> {
    let Query(q) = q?;
    coins_of(&s, &wallet)?;
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(st) => Some(PayoutStatus::parse(st).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be pending, processing, completed or failed, got {st:?}"
            ))
        })?),
    };
    let coin = match q.coin.as_deref() {
        None | Some("") => None,
        Some(c) => Some(resolve(&s.config, &wallet, c)?.spec().symbol.to_string()),
    };
    let rows = s
        .store
        .payouts(&PayoutQuery {
            account: Some(wallet),
            coin,
            status,
            before_id: parse_cursor(q.cursor.as_deref())?,
            limit,
        })
        .await?;
    let next = next_cursor(rows.iter().map(|p| p.id), rows.len(), limit);
    Ok(Json(Page {
        items: rows.into_iter().map(payout_view).collect(),
        next_cursor: next,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SettingsParams {
    /// Coin the settings are for.
    pub coin: String,
}

/// A miner's payout settings for a coin (pool defaults until saved).
#[utoipa::path(get, path = "/api/v1/miners/{wallet}/payout-settings", tag = "miners",
    params(("wallet" = String, Path, description = "Payout address"), SettingsParams),
    responses((status = 200, body = PayoutSettingsView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_payout_settings(
    State(s): State<AppState>,
    Path(wallet): Path<String>,
    q: Result<Query<SettingsParams>, QueryRejection>,
) -> Result<Json<PayoutSettingsView>, ApiError> {
    let Query(q) = q?;
    let config = s.live.current();
    let coin_cfg = resolve(&config, &wallet, &q.coin)?;
    let (settings, customized) = current_settings(&s.store, coin_cfg, &wallet).await?;
    Ok(Json(settings_view(settings, customized)))
}

/// Changes a miner's payout settings; absent fields keep their value.
#[utoipa::path(put, path = "/api/v1/miners/{wallet}/payout-settings", tag = "miners", security(("admin_token" = [])),
    params(("wallet" = String, Path, description = "Payout address")),
    request_body = PayoutSettingsUpdate,
    responses((status = 200, body = PayoutSettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_payout_settings(
    _admin: Admin,
    State(s): State<AppState>,
    Path(wallet): Path<String>,
    ApiJson(update): ApiJson<PayoutSettingsUpdate>,
) -> Result<Json<PayoutSettingsView>, ApiError> {
    let saved = update_settings(&s.store, &s.live.current(), &wallet, &update).await?;
    tracing::info!(miner = %wallet, coin = %saved.coin, "payout settings changed");
    Ok(Json(settings_view(saved, true)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MinerListParams {
    /// Only miners of this coin.
    pub coin: Option<String>,
    /// Only miners with a share within the hashrate window.
    pub active: Option<bool>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Every miner per coin, newest first, with workers, hashrate over the hashrate
/// window, last share and balance (admin: it lists every address).
#[utoipa::path(get, path = "/api/v1/miners", tag = "admin", security(("admin_token" = [])),
    params(MinerListParams),
    responses((status = 200, body = Page<MinerSummaryView>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_miners(
    _admin: Admin,
    State(s): State<AppState>,
    q: Result<Query<MinerListParams>, QueryRejection>,
) -> Result<Json<Page<MinerSummaryView>>, ApiError> {
    let Query(q) = q?;
    let limit = page_limit(q.limit)?;
    let coin = super::coin_filter(&s, q.coin.as_deref())?;
    let window = s.config.accounting.hashrate_window;
    let since = now_ms() - window.as_millis() as i64;
    let rows = s
        .store
        .miners(
            &MinerQuery {
                coin,
                active_since: q.active.unwrap_or(false).then_some(since),
                before_id: parse_cursor(q.cursor.as_deref())?,
                limit,
            },
            since,
        )
        .await?;
    let next = next_cursor(rows.iter().map(|m| m.id), rows.len(), limit);
    let items = rows
        .into_iter()
        .map(|m| {
            let per_diff = CoinSpec::lookup(&m.coin)
                .map(|c| c.algorithm.hashes_per_difficulty())
                .unwrap_or(1.0);
            MinerSummaryView {
                hashrate: m.accepted_difficulty * per_diff / window.as_secs_f64(),
                balance: CoinAmount::new(&m.coin, m.balance),
                miner: m.address,
                coin: m.coin,
                workers: m.workers,
                last_share_at: m.last_share_at,
                first_seen_at: m.created_at,
            }
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: next,
    }))
}
