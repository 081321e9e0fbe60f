//! Request, response and error types of the REST API under `/api/v1`.
//!
//! Shared by the node (which serves them), `defpool-ctl` and `defpool-tui` (which read
//! them), so the three can never disagree on a field. Amounts travel as strings of
//! atomic units next to their coin; timestamps are unix milliseconds.

use serde::{Deserialize, Serialize};

use crate::units::Amount;
use crate::CoinSpec;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// An amount on the wire: `{"coin":"XMR","atomic":"1250000000000"}`.
///
/// Atomic units as a string so JavaScript clients never round a u64 through a double.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CoinAmount {
    pub coin: String,
    #[cfg_attr(feature = "openapi", schema(example = "1250000000000"))]
    pub atomic: String,
}

impl CoinAmount {
    pub fn new(coin: &str, amount: Amount) -> Self {
        CoinAmount {
            coin: coin.to_string(),
            atomic: amount.atomic().to_string(),
        }
    }

    /// The atomic amount, if the string is a valid u64.
    pub fn amount(&self) -> Option<Amount> {
        self.atomic.parse::<u64>().ok().map(Amount::from_atomic)
    }

    /// Decimal coins for humans (`"1.25"`), or the raw atomic string for an unknown coin.
    pub fn to_decimal(&self) -> String {
        match (CoinSpec::lookup(&self.coin), self.amount()) {
            (Some(spec), Some(a)) => a.to_decimal(spec.decimals),
            _ => self.atomic.clone(),
        }
    }
}

/// Every error the API returns: `{"error":{"code":"…","message":"…"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable machine-readable `code` and a human `message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// One of: `bad_request`, `invalid_json`, `unknown_coin`, `invalid_address`,
    /// `invalid_amount`, `below_threshold`, `insufficient_balance`, `not_found`,
    /// `unauthorized`, `conflict`, `internal`, `unavailable`.
    pub code: String,
    pub message: String,
}

/// One page of a list. Pass `next_cursor` back as `cursor` for the next page; it is
/// absent on the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A miner's money in one coin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BalanceView {
    pub coin: String,
    /// Confirmed credits minus debits: what can be paid out now.
    pub balance: CoinAmount,
    /// Credits of blocks that are not yet mature.
    pub immature: CoinAmount,
    /// Payouts created but not yet completed (already debited from `balance`).
    pub pending_payouts: CoinAmount,
    /// Sum of completed payouts.
    pub paid: CoinAmount,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MinerBalances {
    pub miner: String,
    pub balances: Vec<BalanceView>,
}

/// Body of `POST /miners/{wallet}/payout`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayoutRequest {
    pub coin: String,
    /// Atomic units to pay; the whole balance when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PayoutStatus {
    /// Created and debited; waiting for the payout processor.
    Pending,
    /// Written as intent; the wallet is being (or was, before a crash) called.
    Processing,
    /// The wallet sent it; `tx_hash` is set.
    Completed,
    /// Not sent; the amount was credited back. `reason` says why.
    Failed,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 4] = [
        PayoutStatus::Pending,
        PayoutStatus::Processing,
        PayoutStatus::Completed,
        PayoutStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Completed => "completed",
            PayoutStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<PayoutStatus> {
        PayoutStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayoutView {
    pub id: i64,
    pub miner: String,
    pub coin: String,
    pub amount: CoinAmount,
    /// Network fee the wallet charged, once known.
    pub fee: Option<CoinAmount>,
    pub status: PayoutStatus,
    /// Why a payout is still pending or why it failed.
    pub reason: Option<String>,
    pub tx_hash: Option<String>,
    /// `manual` (requested through API/CLI) or `auto` (threshold reached).
    pub origin: String,
    pub attempts: u32,
    /// Confirmations of `tx_hash` (followed until `payouts.final_confirmations`).
    #[serde(default)]
    pub confirmations: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Body of `PUT /miners/{wallet}/payout-settings`; absent fields keep their value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayoutSettingsUpdate {
    pub coin: String,
    /// Automatic payout threshold in atomic units; never below the coin's minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// Coin the miner wants to be paid in (equal to `coin` unless auto-exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_coin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_exchange: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayoutSettingsView {
    pub miner: String,
    pub coin: String,
    pub threshold: CoinAmount,
    pub target_coin: String,
    pub auto_exchange: bool,
    /// False while the miner has never saved settings and pool defaults apply.
    pub customized: bool,
    pub updated_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BlockStatus {
    /// Accepted by the daemon, not yet mature; its credits are immature.
    Pending,
    /// Mature: its credits moved into balances.
    Confirmed,
    /// No longer on the main chain: its immature credits were dropped.
    Orphaned,
}

impl BlockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockStatus::Pending => "pending",
            BlockStatus::Confirmed => "confirmed",
            BlockStatus::Orphaned => "orphaned",
        }
    }

    pub fn parse(s: &str) -> Option<BlockStatus> {
        [
            BlockStatus::Pending,
            BlockStatus::Confirmed,
            BlockStatus::Orphaned,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BlockView {
    pub id: i64,
    pub coin: String,
    pub height: u64,
    pub hash: String,
    pub reward: CoinAmount,
    /// Miner whose share found the block.
    pub finder: String,
    pub worker: String,
    /// `pool` or `solo`.
    pub mode: String,
    /// `pplns`, `prop` or `solo`.
    pub scheme: String,
    pub status: BlockStatus,
    pub confirmations: u64,
    /// Confirmations needed before the block's credits mature.
    pub maturity: u64,
    pub network_difficulty: f64,
    pub found_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkerView {
    pub name: String,
    /// Estimated hashes per second over the hashrate window.
    pub hashrate: f64,
    pub valid_shares: u64,
    pub invalid_shares: u64,
    pub last_share_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MinerView {
    pub miner: String,
    pub coin: String,
    pub hashrate: f64,
    /// Window the hashrate estimate covers, in seconds.
    pub hashrate_window_secs: u64,
    pub valid_shares: u64,
    pub invalid_shares: u64,
    pub last_share_at: Option<i64>,
    pub workers: Vec<WorkerView>,
    pub balances: Vec<BalanceView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CoinStats {
    pub coin: String,
    pub mode: String,
    pub scheme: String,
    pub fee_percent: f64,
    pub miners: u64,
    pub workers: u64,
    pub hashrate: f64,
    pub blocks_pending: u64,
    pub blocks_confirmed: u64,
    pub blocks_orphaned: u64,
    pub last_block_height: Option<u64>,
    pub last_block_at: Option<i64>,
    pub total_paid: CoinAmount,
    pub wallet_configured: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PoolStats {
    pub coins: Vec<CoinStats>,
    pub hashrate_window_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ComponentHealth {
    /// `database`, `daemon:XMR:http://…`, `wallet:XMR`, …
    pub name: String,
    /// `ok`, `down` or `not_configured`.
    pub status: String,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `ok` when every configured component answers, else `degraded`.
    pub status: String,
    pub version: String,
    pub uptime_secs: u64,
    pub components: Vec<ComponentHealth>,
}

/// One inconsistency found by the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditDifference {
    /// `balance`, `immature`, `paid`, `block_credits`, `block_round`, `block_ledger`,
    /// `payout_debit`, `payout_refund`.
    pub kind: String,
    pub coin: String,
    /// The miner / account or `block:ID` / `payout:ID` concerned.
    pub subject: String,
    /// What the ledger (or recomputation) says, in atomic units.
    pub expected: String,
    /// What the projection holds.
    pub actual: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditReport {
    pub ok: bool,
    pub balances_checked: u64,
    pub blocks_checked: u64,
    pub payouts_checked: u64,
    pub differences: Vec<AuditDifference>,
}

/// One miner of a coin in `GET /miners` (admin).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MinerSummaryView {
    pub miner: String,
    pub coin: String,
    /// Workers the miner ever used in this coin.
    pub workers: u64,
    /// Estimated hashes per second over the hashrate window.
    pub hashrate: f64,
    pub last_share_at: Option<i64>,
    /// Payable balance in `coin`.
    pub balance: CoinAmount,
    /// When the miner's first share in `coin` was stored.
    pub first_seen_at: i64,
}

/// A banned stratum address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BanView {
    /// IPv4 or IPv6 address.
    pub ip: String,
    /// When the ban ends (unix milliseconds).
    pub expires_at: i64,
    /// Seconds left, rounded up.
    pub remaining_secs: u64,
}

/// Body of `GET /bans`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BanList {
    /// Soonest expiry first.
    pub bans: Vec<BanView>,
}

/// Body of `POST /bans`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BanRequest {
    pub ip: String,
    /// Length of the ban, 1 s to 365 days; a ban of the same address is replaced.
    pub duration_secs: u64,
}

/// Body of `GET /config` (admin): the configuration the node runs with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EffectiveConfig {
    /// The file the node started with; `None` when it runs on built-in defaults.
    pub source: Option<String>,
    /// Every key after file, environment and flags, secrets replaced by
    /// `<redacted>`, as TOML.
    pub toml: String,
    /// The same as a JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
    /// Keys `POST /config/reload` applies without a restart.
    pub reloadable: Vec<String>,
}

/// Body of a successful `POST /config/reload`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConfigReload {
    /// The file that was read again.
    pub source: String,
    /// Keys whose value changed and now applies, e.g. `coins[XMR].min_payout`; empty
    /// when the file held no change.
    pub changed: Vec<String>,
}

/// `GET /api/v1/profitability`: what a unit of hashrate earns on each coin, from the
/// profit monitor's latest data, and the switcher's latest decisions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProfitabilityReport {
    /// False when the node has no `[profit]` section (then `coins` is empty).
    pub enabled: bool,
    /// Data older than this is stale: shown, never used.
    pub max_age_secs: u64,
    pub margin_percent: f64,
    pub min_time_secs: u64,
    pub coins: Vec<CoinProfitability>,
    /// Newest first.
    pub decisions: Vec<ProfitDecisionView>,
    /// Profit-switching (`auto`) ports and how many miners each sends to each coin.
    #[serde(default)]
    pub ports: Vec<RoutedPortView>,
}

/// One profit-switching port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RoutedPortView {
    /// The port's `listen` address.
    pub port: String,
    /// Every coin of the port, in configured order, with the miners on it now.
    pub coins: Vec<RoutedCoinView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RoutedCoinView {
    pub coin: String,
    pub miners: u64,
}

/// One coin's row of the profitability table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CoinProfitability {
    pub coin: String,
    /// `randomx`, `sha256d` or `scrypt`.
    pub algorithm: String,
    /// The last good price, fresh or not; `None` before any source answered.
    pub price: Option<PriceView>,
    /// The last good network figures, fresh or not.
    pub network: Option<NetworkView>,
    /// Expected BTC per (hash/s) per day; `None` while any input is stale or missing.
    pub revenue_per_hash_day_btc: Option<f64>,
    /// True when the price or the network figures are missing or older than
    /// `max_age_secs`: the coin is then never chosen and never credited by it.
    pub stale: bool,
    /// Sources whose last query failed, with why.
    pub errors: Vec<SourceErrorView>,
}

/// A coin's price in BTC as a source gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PriceView {
    /// Decimal BTC per coin, exact as the source sent it (`"0.00291"`).
    #[cfg_attr(feature = "openapi", schema(example = "0.00291"))]
    pub btc: String,
    /// `binance`, `kraken`, `json:<url>`, or `fixed` (BTC itself).
    pub source: String,
    pub at: i64,
    pub age_secs: u64,
}

/// A coin's network difficulty and block reward as last read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NetworkView {
    /// In the coin's share-difficulty units (hashes for XMR; 2^32 hashes for BTC;
    /// 2^16 hashes for LTC).
    pub difficulty: f64,
    pub reward: CoinAmount,
    /// `daemon` or `json:<url>`.
    pub source: String,
    pub at: i64,
    pub age_secs: u64,
}

/// A price or network source whose last query failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SourceErrorView {
    pub source: String,
    pub message: String,
    /// Since when it has failed with this message.
    pub since: i64,
}

/// One decision of the profit switcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProfitDecisionView {
    pub at: i64,
    /// Whose decision: a port, a miner or a worker, as the router names it.
    pub scope: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub switched: bool,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_amount_prints_decimal() {
        let a = CoinAmount::new("XMR", Amount::from_atomic(1_250_000_000_000));
        assert_eq!(a.to_decimal(), "1.25");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"coin":"XMR","atomic":"1250000000000"}"#
        );
    }

    #[test]
    fn payout_status_round_trips() {
        for s in PayoutStatus::ALL {
            assert_eq!(PayoutStatus::parse(s.as_str()), Some(s));
        }
    }
}

/// `GET /api/v1/proxy`: proxy-mode coins, their upstream connections and the
/// accounting of the shares forwarded through them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProxyReport {
    pub coins: Vec<ProxyCoinView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProxyCoinView {
    pub coin: String,
    pub connections: Vec<UpstreamConnectionView>,
    /// Forwarded shares the upstream accepted, rejected, or never answered.
    pub accepted: u64,
    pub rejected: u64,
    pub lost: u64,
    /// Accepted shares waiting for network data before they are credited.
    pub uncredited: u64,
    /// PPS credited to miners, and the pool's fees on it: together, what the
    /// upstream is expected to pay for the accepted shares.
    pub credited: CoinAmount,
    pub fees: CoinAmount,
    /// Reconciliation: what the upstream is expected to have paid for the accepted
    /// shares (credited + fees), against what the pool's wallet actually received
    /// at `pool_address` (confirmed incoming transfers). `None` without a wallet or
    /// when the wallet cannot be asked (`received_error` says why).
    pub expected: CoinAmount,
    pub received: Option<CoinAmount>,
    pub received_error: Option<String>,
}

/// One upstream connection and the miners on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpstreamConnectionView {
    /// The upstream in use; `None` while reconnecting.
    pub upstream: Option<String>,
    pub miners: u64,
    pub height: Option<u64>,
    pub jobs: u64,
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub lost: u64,
}
