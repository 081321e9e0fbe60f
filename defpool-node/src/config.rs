//! Node configuration: one TOML file, `DEFPOOL_*` environment overrides, CLI flags.
//!
//! Precedence is built-in defaults < file < environment < flags. Everything is
//! validated once at start; each problem names the key it concerns, so an operator can
//! fix a file without reading code.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use defpool_core::address;
use defpool_core::coin::Family;
use defpool_core::payout::Scheme;
use defpool_core::{Amount, CoinSpec, FeeRate, Network};
use serde::{Deserialize, Serialize};

/// The prefix of environment overrides: `DEFPOOL_API__LISTEN` sets `api.listen`.
pub const ENV_PREFIX: &str = "DEFPOOL_";

/// The whole node configuration as read (after defaults, file and overrides).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the embedded database and other node state.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub intervals: IntervalsConfig,
    pub accounting: AccountingConfig,
    pub payouts: PayoutsConfig,
    pub stratum: StratumConfig,
    /// Proxy mode: how upstream connections behave and how often shares are credited.
    pub proxy: ProxyConfig,
    pub coins: Vec<CoinConfig>,
    pub ports: Vec<PortConfig>,
    /// Prices, network figures and profit switching; absent = no profit monitor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profit: Option<crate::profit::ProfitConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database: DatabaseConfig::default(),
            api: ApiConfig::default(),
            intervals: IntervalsConfig::default(),
            accounting: AccountingConfig::default(),
            payouts: PayoutsConfig::default(),
            stratum: StratumConfig::default(),
            proxy: ProxyConfig::default(),
            coins: Vec::new(),
            ports: Vec::new(),
            profit: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`; defaults to `sqlite://<data_dir>/defpool.sqlite`.
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 8,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token for mutations and admin reads; without it those are refused.
    pub admin_token: Option<String>,
    /// Longest a live-stream client may take to accept one message before it is
    /// disconnected as too slow.
    #[serde(with = "humantime_serde_compat")]
    pub stream_send_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token: None,
            stream_send_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IntervalsConfig {
    /// How often pending blocks are checked for maturity and credited.
    #[serde(with = "humantime_serde_compat")]
    pub balance_update: Duration,
    /// How often pending payouts are sent and automatic payouts created.
    #[serde(with = "humantime_serde_compat")]
    pub payout_process: Duration,
    /// How often prices and network difficulty are refreshed (proxy mode).
    #[serde(with = "humantime_serde_compat")]
    pub profit_monitor: Duration,
}

impl Default for IntervalsConfig {
    fn default() -> Self {
        IntervalsConfig {
            balance_update: Duration::from_secs(300),
            payout_process: Duration::from_secs(60),
            profit_monitor: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// How long a forwarded share (or a login) waits for the upstream's answer; a
    /// share without an answer by then is recorded as lost.
    #[serde(with = "humantime_serde_compat")]
    pub verdict_timeout: Duration,
    /// `keepalived` to CryptoNote upstreams this often.
    #[serde(with = "humantime_serde_compat")]
    pub keepalive: Duration,
    /// An upstream that sends no new job for this long is left for the next one.
    #[serde(with = "humantime_serde_compat")]
    pub job_timeout: Duration,
    /// Share verdicts looked at for the reject rate.
    pub reject_window: usize,
    /// Rejected percentage of the window that makes the node leave an upstream.
    pub max_reject_percent: u32,
    /// Longest wait between rounds of reconnect attempts once every upstream failed.
    #[serde(with = "humantime_serde_compat")]
    pub backoff_max: Duration,
    /// Miners per upstream connection; by default the most the dialect allows
    /// (CryptoNote 256, one per value of the top nonce byte; Bitcoin 65,536, one per
    /// 2-byte extranonce2 prefix). CryptoNote caps a larger value at 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miners_per_connection: Option<usize>,
    /// How often accepted proxy shares are credited PPS.
    #[serde(with = "humantime_serde_compat")]
    pub credit_interval: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout: Duration::from_secs(10),
            verdict_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(60),
            job_timeout: Duration::from_secs(600),
            reject_window: 50,
            max_reject_percent: 50,
            backoff_max: Duration::from_secs(60),
            miners_per_connection: None,
            credit_interval: Duration::from_secs(10),
        }
    }
}

impl ProxyConfig {
    pub fn upstream_settings(&self) -> crate::upstream::UpstreamSettings {
        crate::upstream::UpstreamSettings {
            connect_timeout: self.connect_timeout,
            call_timeout: self.verdict_timeout,
            keepalive: self.keepalive,
            backoff_min: Duration::from_secs(1).min(self.backoff_max),
            backoff_max: self.backoff_max,
            limits: crate::upstream::HealthLimits {
                reject_window: self.reject_window,
                max_reject_percent: self.max_reject_percent,
                job_timeout: self.job_timeout,
            },
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AccountingConfig {
    /// Shares written per multi-row insert at most.
    pub share_batch_size: usize,
    /// Longest a share waits in the sink before it is written.
    #[serde(with = "humantime_serde_compat")]
    pub share_flush_interval: Duration,
    /// Capacity of the bounded channel in front of the share writer.
    pub share_queue_capacity: usize,
    /// Window of accepted share work that hashrate estimates cover.
    #[serde(with = "humantime_serde_compat")]
    pub hashrate_window: Duration,
}

impl Default for AccountingConfig {
    fn default() -> Self {
        AccountingConfig {
            share_batch_size: 2_000,
            share_flush_interval: Duration::from_millis(200),
            share_queue_capacity: 100_000,
            hashrate_window: Duration::from_secs(600),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutsConfig {
    /// How long a payout may sit in `processing` before the processor asks the wallet
    /// whether it was sent (longer than a wallet call can take).
    #[serde(with = "humantime_serde_compat")]
    pub reconcile_after: Duration,
    /// Most destinations in one payout transaction (Monero allows 16 outputs
    /// including change).
    pub max_batch: usize,
    /// First wait before retrying a payout the wallet could not send yet (locked
    /// funds, wallet unreachable); doubles per attempt up to one hour.
    #[serde(with = "humantime_serde_compat")]
    pub retry_backoff: Duration,
    /// Confirmations after which a payout transaction is final and no longer followed.
    pub final_confirmations: u64,
    /// Tries before a payout the wallet keeps failing to build (locked funds, wallet
    /// or its daemon unreachable) is failed and credited back to the miner's balance.
    pub max_attempts: u32,
}

impl Default for PayoutsConfig {
    fn default() -> Self {
        PayoutsConfig {
            reconcile_after: Duration::from_secs(180),
            max_batch: 15,
            retry_backoff: Duration::from_secs(60),
            final_confirmations: 10,
            max_attempts: 10,
        }
    }
}

/// Stratum sessions: limits, bans, share verification.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StratumConfig {
    /// Longest request line a miner may send; longer ones close the session.
    pub max_line_bytes: usize,
    /// A session with no request for this long is closed.
    #[serde(with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// Malformed or unknown requests tolerated per minute before the session is closed.
    pub max_bad_messages_per_minute: u32,
    /// Invalid shares (wrong hash, bad nonce) before the address of the session is banned.
    pub ban_after_invalid_shares: u32,
    #[serde(with = "humantime_serde_compat")]
    pub ban_duration: Duration,
    /// How long jobs of the previous block are still accepted (credited, never
    /// submitted as blocks) after a new block.
    #[serde(with = "humantime_serde_compat")]
    pub stale_grace: Duration,
    /// How often daemons are asked for a new block (new-block detection).
    #[serde(with = "humantime_serde_compat")]
    pub block_poll_interval: Duration,
    /// How often the template is refreshed on the same block (to include new txs).
    #[serde(with = "humantime_serde_compat")]
    pub template_refresh: Duration,
    /// RandomX verification: `light` (256 MiB shared cache) or `full` (2.3 GiB dataset).
    pub randomx_mode: RandomxModeConfig,
    /// Threads hashing RandomX shares (0 = number of cores).
    pub verify_threads: usize,
    /// Verified valid shares after which a miner is trusted and only sampled.
    pub trust_after: u32,
    /// Percentage of a trusted miner's shares still verified (block candidates always are).
    pub trust_sample_percent: u32,
}

impl Default for StratumConfig {
    fn default() -> Self {
        StratumConfig {
            max_line_bytes: 8 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_bad_messages_per_minute: 10,
            ban_after_invalid_shares: 10,
            ban_duration: Duration::from_secs(600),
            stale_grace: Duration::from_secs(10),
            block_poll_interval: Duration::from_millis(250),
            template_refresh: Duration::from_secs(30),
            randomx_mode: RandomxModeConfig::Light,
            verify_threads: 0,
            trust_after: 100,
            trust_sample_percent: 10,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RandomxModeConfig {
    Light,
    Full,
}

/// Mining mode of a coin.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Pool,
    Solo,
    Proxy,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Pool => "pool",
            Mode::Solo => "solo",
            Mode::Proxy => "proxy",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CoinConfig {
    pub symbol: String,
    /// A coin that is not built in, declared on the rules of a built-in one (`XMR`,
    /// `LTC`, `BTC`): a fork or separately run chain whose daemon speaks the base's
    /// RPC and whose addresses look like the base's. Absent for the built-in coins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub mode: Mode,
    /// Reward scheme; `solo` mode implies `solo`.
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default = "default_pplns_factor")]
    pub pplns_factor: f64,
    #[serde(default = "default_fee_percent")]
    pub fee_percent: f64,
    /// Address block rewards are paid to by the daemon.
    pub pool_address: String,
    /// Account the pool fee is credited to; defaults to `pool_address`.
    #[serde(default)]
    pub fee_address: Option<String>,
    /// Confirmations before a block's credits mature; defaults to the coin's coinbase
    /// maturity (60 for XMR, 100 for LTC/BTC).
    #[serde(default)]
    pub maturity: Option<u64>,
    /// Smallest payout and the default automatic threshold, in decimal coins.
    #[serde(default = "default_min_payout")]
    pub min_payout: String,
    /// Create payouts automatically when a balance reaches its threshold.
    #[serde(default = "default_true")]
    pub auto_payout: bool,
    #[serde(default)]
    pub daemons: Vec<DaemonConfig>,
    #[serde(default)]
    pub wallet: Option<WalletConfig>,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
}

fn default_pplns_factor() -> f64 {
    2.0
}
fn default_fee_percent() -> f64 {
    1.0
}
fn default_min_payout() -> String {
    "0.1".to_string()
}
fn default_true() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    pub url: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
    /// Bitcoin-family daemons: authenticate with the daemon's `.cookie` file instead
    /// of `user`/`password` (read at each call, so a restart's new cookie is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// monero-wallet-rpc's URL, or for Bitcoin-family coins the daemon's wallet
    /// endpoint (`http://127.0.0.1:9332/wallet/pool`).
    pub url: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
    /// Bitcoin-family wallets: the daemon's `.cookie` file instead of user/password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub url: String,
    pub login: String,
    #[serde(default = "default_upstream_password")]
    pub password: String,
}

fn default_upstream_password() -> String {
    "x".to_string()
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Sv1,
    Sv2,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    pub listen: SocketAddr,
    pub protocol: Protocol,
    /// A configured coin symbol, or `auto` for profit switching.
    pub coin: String,
    /// With `coin = "auto"`: the coins the router may send miners to (configured
    /// proxy-mode coins of one family, so one dialect). Unused otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coins: Vec<String>,
    #[serde(default = "default_port_difficulty")]
    pub difficulty: f64,
    /// Every miner on this port mines solo (as with a `solo:` login).
    #[serde(default)]
    pub solo: bool,
    #[serde(default)]
    pub vardiff: Option<VardiffConfig>,
    #[serde(default)]
    pub authority_public_key: Option<String>,
    #[serde(default)]
    pub authority_secret_key: Option<String>,
    #[serde(default)]
    pub certificate_validity: Option<String>,
    /// Serve this port over TLS (xmrig's `"tls": true`) instead of plain TCP.
    #[serde(default)]
    pub tls: Option<PortTlsConfig>,
}

/// The certificate and key of a TLS port, as PEM files (relative paths are from the
/// node's working directory).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortTlsConfig {
    /// Certificate chain, the port's own certificate first.
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 RSA or SEC1 EC); may be the same
    /// file as `cert`.
    pub key: PathBuf,
}

fn default_port_difficulty() -> f64 {
    10_000.0
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VardiffConfig {
    /// Seconds between shares the difficulty aims for.
    pub target_seconds: f64,
    pub min: f64,
    pub max: f64,
    /// Shortest time between two retargets (the measuring window).
    #[serde(default = "default_retarget_seconds")]
    pub retarget_seconds: f64,
    /// Largest change factor per retarget, both directions.
    #[serde(default = "default_max_jump")]
    pub max_jump: f64,
}

fn default_retarget_seconds() -> f64 {
    60.0
}

fn default_max_jump() -> f64 {
    4.0
}

/// One problem in the configuration, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub problem: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment variable {var}: {problem}")]
    Env { var: String, problem: String },
    #[error("config key {key}: {message}")]
    Shape { key: String, message: String },
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

/// Values given on the command line; they win over file and environment.
#[derive(Clone, Debug, Default)]
pub struct CliOverrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub api_listen: Option<SocketAddr>,
}

/// Where the config came from, for logs.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl Config {
    /// Loads the config: `path` if given (it must exist), else `./defpool.toml` if
    /// present, else built-in defaults; then environment, then CLI overrides; then
    /// validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        cli: &CliOverrides,
    ) -> Result<(Config, ConfigSource), ConfigError> {
        let (mut table, source) = match path {
            Some(p) => (read_toml(p)?, ConfigSource::File(p.to_path_buf())),
            None => {
                let default = Path::new("defpool.toml");
                if default.exists() {
                    (
                        read_toml(default)?,
                        ConfigSource::File(default.to_path_buf()),
                    )
                } else {
                    (toml::Table::new(), ConfigSource::Defaults)
                }
            }
        };
        let env_paths = apply_env(&mut table, env)?;
        let mut config = deserialize_with_env_strings(table, &env_paths)?;
        if let Some(d) = &cli.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(u) = &cli.database_url {
            config.database.url = Some(u.clone());
        }
        if let Some(l) = cli.api_listen {
            config.api.listen = l;
        }
        config.validate()?;
        Ok((config, source))
    }

    /// Parses a config from TOML text with no environment (tests, examples).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: PathBuf::from("<string>"),
                    message: e.to_string(),
                })?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                ConfigError::Shape {
                    key: e.path().to_string(),
                    message: e.inner().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("defpool.sqlite").display()
            ),
        }
    }

    pub fn coin(&self, symbol: &str) -> Option<&CoinConfig> {
        self.coins
            .iter()
            .find(|c| c.symbol.eq_ignore_ascii_case(symbol))
    }

    /// What is wrong with a profit-switching port (`coin = "auto"`), keyed like
    /// every config problem.
    fn auto_port_problems(&self, i: usize, port: &PortConfig) -> Vec<(String, String)> {
        let k = |field: &str| format!("ports[{i}].{field}");
        let mut out = Vec::new();
        if port.coins.len() < 2 {
            out.push((
                k("coins"),
                "a profit-switching port needs at least two coins to choose from".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut families = BTreeSet::new();
        let mut algorithms = BTreeSet::new();
        for (j, symbol) in port.coins.iter().enumerate() {
            let key = k(&format!("coins[{j}]"));
            let Some(coin) = self.coin(symbol) else {
                out.push((key, format!("{symbol:?} is not a configured coin")));
                continue;
            };
            if !seen.insert(coin.symbol.to_ascii_uppercase()) {
                out.push((key, format!("{symbol} is listed twice")));
                continue;
            }
            if coin.mode != Mode::Proxy {
                out.push((
                    key.clone(),
                    format!(
                        "{symbol} is in {} mode: the router sends miners to proxy-mode coins",
                        coin.mode.as_str()
                    ),
                ));
            }
            if let Some(spec) = CoinSpec::lookup(&coin.symbol) {
                families.insert(format!("{:?}", spec.family));
                if spec.family == defpool_core::coin::Family::Bitcoin {
                    algorithms.insert(format!("{:?}", spec.algorithm));
                }
            }
        }
        if algorithms.len() > 1 {
            // A Bitcoin-dialect miner mines the one algorithm it was started with.
            out.push((
                k("coins"),
                "the Bitcoin-family coins of one port must share an algorithm (a miner cannot change its algorithm on a connection)".into(),
            ));
        }
        if families.len() > 1 {
            out.push((
                k("coins"),
                "the coins of one port must speak one stratum dialect (all Monero family or all Bitcoin family)".into(),
            ));
        }
        if port.solo {
            out.push((
                k("solo"),
                "a profit-switching port cannot be a solo port; miners log in with solo: instead"
                    .into(),
            ));
        }
        match &self.profit {
            None => out.push((
                k("coin"),
                "profit switching needs a [profit] section with a price source for each of the port's coins".into(),
            )),
            Some(profit) => {
                for symbol in &port.coins {
                    if !profit.prices.iter().any(|p| p.coin.eq_ignore_ascii_case(symbol)) {
                        out.push((
                            k("coins"),
                            format!("{symbol} has no price source in [[profit.prices]]"),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Checks every rule and returns all problems at once. A TLS port's certificate
    /// and key files are read and checked too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut push = |key: String, problem: String| problems.push(ConfigProblem { key, problem });

        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            push(
                "database.url".into(),
                format!("must start with sqlite:// or postgres://, got {url:?}"),
            );
        }
        if self.database.max_connections == 0 {
            push(
                "database.max_connections".into(),
                "must be at least 1".into(),
            );
        }
        if let Some(n) = self.proxy.miners_per_connection {
            if !(1..=65_536).contains(&n) {
                push(
                    "proxy.miners_per_connection".into(),
                    format!("must be 1 to 65536, got {n}"),
                );
            }
        }
        if self.proxy.max_reject_percent > 100 {
            push(
                "proxy.max_reject_percent".into(),
                "must be at most 100".into(),
            );
        }
        for (key, d) in [
            ("proxy.connect_timeout", self.proxy.connect_timeout),
            ("proxy.verdict_timeout", self.proxy.verdict_timeout),
            ("proxy.keepalive", self.proxy.keepalive),
            ("proxy.job_timeout", self.proxy.job_timeout),
            ("proxy.backoff_max", self.proxy.backoff_max),
            ("proxy.credit_interval", self.proxy.credit_interval),
        ] {
            if d < Duration::from_millis(100) {
                push(key.into(), "must be at least 100ms".into());
            }
        }
        if let Some(t) = &self.api.admin_token {
            if t.len() < 8 {
                push(
                    "api.admin_token".into(),
                    "must be at least 8 characters".into(),
                );
            }
        }
        for (key, d) in [
            ("intervals.balance_update", self.intervals.balance_update),
            ("intervals.payout_process", self.intervals.payout_process),
            ("intervals.profit_monitor", self.intervals.profit_monitor),
            (
                "accounting.share_flush_interval",
                self.accounting.share_flush_interval,
            ),
            (
                "accounting.hashrate_window",
                self.accounting.hashrate_window,
            ),
            ("stratum.idle_timeout", self.stratum.idle_timeout),
            (
                "stratum.block_poll_interval",
                self.stratum.block_poll_interval,
            ),
            ("stratum.template_refresh", self.stratum.template_refresh),
        ] {
            if d.is_zero() {
                push(key.into(), "must be longer than zero".into());
            }
        }
        if self.accounting.share_batch_size == 0 || self.accounting.share_batch_size > 10_000 {
            push(
                "accounting.share_batch_size".into(),
                "must be between 1 and 10000".into(),
            );
        }
        if self.accounting.share_queue_capacity < self.accounting.share_batch_size {
            push(
                "accounting.share_queue_capacity".into(),
                "must be at least share_batch_size".into(),
            );
        }

        if self.stratum.max_line_bytes < 512 || self.stratum.max_line_bytes > 1 << 20 {
            push(
                "stratum.max_line_bytes".into(),
                "must be between 512 and 1048576".into(),
            );
        }
        if self.stratum.trust_sample_percent > 100 {
            push(
                "stratum.trust_sample_percent".into(),
                "must be between 0 and 100".into(),
            );
        }
        if self.payouts.reconcile_after < Duration::from_secs(1) {
            push(
                "payouts.reconcile_after".into(),
                "must be at least 1s (longer than a wallet call in production)".into(),
            );
        }
        if self.payouts.max_attempts == 0 {
            push("payouts.max_attempts".into(), "must be at least 1".into());
        }
        if self.payouts.max_batch == 0 || self.payouts.max_batch > 255 {
            push(
                "payouts.max_batch".into(),
                "must be between 1 and 255".into(),
            );
        }

        let mut seen = BTreeSet::new();
        for (i, coin) in self.coins.iter().enumerate() {
            let k = |field: &str| format!("coins[{i}].{field}");
            let spec = match &coin.base {
                Some(base) => match CoinSpec::derive(&coin.symbol, base) {
                    Ok(spec) => spec,
                    Err(e) => {
                        push(k("base"), e.to_string());
                        continue;
                    }
                },
                None => match CoinSpec::lookup(&coin.symbol) {
                    Some(spec) if spec.base().symbol == spec.symbol => spec,
                    _ => {
                        push(
                            k("symbol"),
                            format!(
                                "unknown coin {:?} (known: XMR, LTC, BTC; another coin needs `base`)",
                                coin.symbol
                            ),
                        );
                        continue;
                    }
                },
            };
            if !seen.insert(spec.symbol) {
                push(k("symbol"), format!("{} is configured twice", spec.symbol));
            }
            if !spec.supports_network(coin.network) {
                push(
                    k("network"),
                    format!("{} has no {} network", spec.symbol, coin.network),
                );
            }
            if !(coin.pplns_factor.is_finite()
                && coin.pplns_factor > 0.0
                && coin.pplns_factor <= 100.0)
            {
                push(k("pplns_factor"), "must be above 0 and at most 100".into());
            }
            if let Err(e) = FeeRate::from_percent(coin.fee_percent) {
                push(k("fee_percent"), e.to_string());
            }
            if coin.scheme == Scheme::Pps && coin.mode != Mode::Proxy {
                push(k("scheme"), "pps is only for proxy mode".into());
            }
            match address::validate(spec, coin.network, &coin.pool_address) {
                // monerod refuses to build templates for a subaddress (-12).
                Ok(address::AddressKind::MoneroSubaddress) => push(
                    k("pool_address"),
                    "must be a primary or integrated address: monerod cannot mine to a subaddress"
                        .into(),
                ),
                Ok(_) => {}
                Err(e) => push(k("pool_address"), e.to_string()),
            }
            if let Some(fee) = &coin.fee_address {
                if let Err(e) = address::validate(spec, coin.network, fee) {
                    push(k("fee_address"), e.to_string());
                }
            }
            if coin.maturity == Some(0) {
                push(k("maturity"), "must be at least 1 confirmation".into());
            }
            match Amount::from_decimal(&coin.min_payout, spec.decimals) {
                Ok(a) if a.is_zero() => push(k("min_payout"), "must be above zero".into()),
                Ok(_) => {}
                Err(e) => push(k("min_payout"), e.to_string()),
            }
            let mut check_cookie = |key: String, cookie: &Option<PathBuf>, user: &str| {
                if cookie.is_none() {
                    return;
                }
                // Not read here: the daemon may write it after the node starts.
                if spec.family != Family::Bitcoin {
                    push(key, "only Bitcoin-family daemons use a cookie file".into());
                } else if !user.is_empty() {
                    push(
                        key,
                        "set either user/password or cookie_file, not both".into(),
                    );
                }
            };
            for (j, d) in coin.daemons.iter().enumerate() {
                check_cookie(
                    format!("coins[{i}].daemons[{j}].cookie_file"),
                    &d.cookie_file,
                    &d.user,
                );
            }
            if let Some(w) = &coin.wallet {
                check_cookie(
                    format!("coins[{i}].wallet.cookie_file"),
                    &w.cookie_file,
                    &w.user,
                );
            }
            // The daemon/wallet client speaks plain HTTP (keep them on loopback or
            // behind a tunnel); an https URL would only fail later at run time.
            for (j, d) in coin.daemons.iter().enumerate() {
                if !d.url.starts_with("http://") {
                    push(
                        format!("coins[{i}].daemons[{j}].url"),
                        format!("must be an http:// URL, got {:?}", d.url),
                    );
                }
            }
            if let Some(w) = &coin.wallet {
                if !w.url.starts_with("http://") {
                    push(
                        format!("coins[{i}].wallet.url"),
                        format!("must be an http:// URL, got {:?}", w.url),
                    );
                }
            }
            if coin.mode == Mode::Proxy && coin.upstreams.is_empty() {
                push(
                    k("upstreams"),
                    "proxy mode needs at least one upstream".into(),
                );
            }
            for (j, u) in coin.upstreams.iter().enumerate() {
                if let Err(e) = crate::upstream::UpstreamUrl::parse(&u.url) {
                    push(format!("coins[{i}].upstreams[{j}].url"), e);
                }
                if u.login.trim().is_empty() {
                    push(
                        format!("coins[{i}].upstreams[{j}].login"),
                        "must not be empty (the upstream account, usually this pool's wallet address)".into(),
                    );
                }
            }
        }

        let mut listens = BTreeSet::new();
        for (i, port) in self.ports.iter().enumerate() {
            let k = |field: &str| format!("ports[{i}].{field}");
            if !listens.insert(port.listen) {
                push(
                    k("listen"),
                    format!("{} is used by another port", port.listen),
                );
            }
            if port.listen == self.api.listen {
                push(k("listen"), "is the API's address".into());
            }
            if port.is_auto() {
                for (key, problem) in self.auto_port_problems(i, port) {
                    push(key, problem);
                }
            } else {
                if self.coin(&port.coin).is_none() {
                    push(
                        k("coin"),
                        format!("{:?} is neither a configured coin nor \"auto\"", port.coin),
                    );
                }
                if !port.coins.is_empty() {
                    push(
                        k("coins"),
                        "only a port with coin = \"auto\" has coins".into(),
                    );
                }
            }
            if !(port.difficulty.is_finite() && port.difficulty > 0.0) {
                push(k("difficulty"), "must be above zero".into());
            }
            if let Some(v) = &port.vardiff {
                if !(v.target_seconds > 0.0
                    && v.min > 0.0
                    && v.max >= v.min
                    && v.retarget_seconds > 0.0
                    && v.max_jump > 1.0)
                {
                    push(
                        k("vardiff"),
                        "needs target_seconds > 0, 0 < min <= max, retarget_seconds > 0 and max_jump > 1".into(),
                    );
                }
            }
            if port.protocol == Protocol::Sv2 {
                // Keys in SRI's encoding, belonging together, and a usable validity.
                if let Err(e) = crate::stratum::sv2::authority::Authority::from_port(port) {
                    push(k(e.field), e.message);
                }
                if port.tls.is_some() {
                    push(
                        k("tls"),
                        "an sv2 port is encrypted by its Noise handshake; tls is for sv1 ports"
                            .into(),
                    );
                }
            }
            // The files are read here, not at first use, so a missing or wrong one
            // stops the start with the key named like any other config problem.
            if let Some(tls) = &port.tls {
                if let Err(e) = crate::stratum::tls::load(tls) {
                    push(k(&format!("tls.{}", e.file().key())), e.to_string());
                }
            }
        }

        if let Some(profit) = &self.profit {
            problems.extend(profit.problems(&self.coins));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The effective config as TOML with secrets replaced, for `--print-config`.
    pub fn to_redacted_toml(&self) -> String {
        const REDACTED: &str = "<redacted>";
        let mut c = self.clone();
        if c.api.admin_token.is_some() {
            c.api.admin_token = Some(REDACTED.into());
        }
        if let Some(url) = &c.database.url {
            c.database.url = Some(redact_url_password(url));
        } else {
            c.database.url = Some(self.database_url());
        }
        for coin in &mut c.coins {
            for d in &mut coin.daemons {
                if !d.password.is_empty() {
                    d.password = REDACTED.into();
                }
            }
            if let Some(w) = &mut coin.wallet {
                if !w.password.is_empty() {
                    w.password = REDACTED.into();
                }
            }
            for u in &mut coin.upstreams {
                if !u.password.is_empty() && u.password != "x" {
                    u.password = REDACTED.into();
                }
            }
        }
        for p in &mut c.ports {
            if p.authority_secret_key.is_some() {
                p.authority_secret_key = Some(REDACTED.into());
            }
        }
        toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

impl PortConfig {
    /// Whether the port switches miners between coins by profitability.
    pub fn is_auto(&self) -> bool {
        self.coin.eq_ignore_ascii_case("auto")
    }
}

impl CoinConfig {
    pub fn spec(&self) -> &'static CoinSpec {
        // Validation guarantees the symbol is known.
        CoinSpec::lookup(&self.symbol).unwrap_or(&defpool_core::coin::XMR)
    }

    pub fn fee_rate(&self) -> FeeRate {
        FeeRate::from_percent(self.fee_percent).unwrap_or(FeeRate::ZERO)
    }

    pub fn maturity(&self) -> u64 {
        self.maturity.unwrap_or(self.spec().coinbase_maturity)
    }

    pub fn min_payout_amount(&self) -> Amount {
        Amount::from_decimal(&self.min_payout, self.spec().decimals).unwrap_or(Amount::ZERO)
    }

    pub fn fee_account(&self) -> &str {
        self.fee_address.as_deref().unwrap_or(&self.pool_address)
    }

    /// The scheme blocks of this coin are split by.
    pub fn effective_scheme(&self) -> Scheme {
        if self.mode == Mode::Solo {
            Scheme::Solo
        } else {
            self.scheme
        }
    }
}

fn redact_url_password(url: &str) -> String {
    // scheme://user:password@host → scheme://user:<redacted>@host
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:<redacted>@{host}");
            }
        }
    }
    url.to_string()
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Top-level keys an environment variable may address. Other `DEFPOOL_*` variables
/// (`DEFPOOL_URL`, `DEFPOOL_TOKEN`, test gates) belong to clients and tests.
const TOP_LEVEL_KEYS: [&str; 11] = [
    "data_dir",
    "database",
    "api",
    "intervals",
    "accounting",
    "payouts",
    "stratum",
    "coins",
    "ports",
    "profit",
    "proxy",
];

/// Applies `DEFPOOL_SECTION__KEY=value` overrides. Array elements are addressed by
/// index (`DEFPOOL_COINS__0__FEE_PERCENT=0.5`). Values are read as TOML scalars
/// (numbers, booleans) when they parse as such, else as strings.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(Vec<String>, String)>, ConfigError> {
    let mut applied = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (var, value) in vars {
        let path: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let Some(first) = path.first() else { continue };
        if !TOP_LEVEL_KEYS.contains(&first.as_str()) {
            if path.len() > 1 {
                return Err(ConfigError::Env {
                    var,
                    problem: format!(
                        "{first:?} is not a config section ({})",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                });
            }
            continue;
        }
        if path.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Env {
                var,
                problem: "empty key segment".into(),
            });
        }
        set_path(table, &path, parse_env_value(&value)).map_err(|problem| ConfigError::Env {
            var: var.clone(),
            problem,
        })?;
        applied.push((path, value));
    }
    Ok(applied)
}

/// Deserializes the merged table. An environment value that looked like a number
/// (`DEFPOOL_API__ADMIN_TOKEN=12345678`) but sits where a string belongs is retried
/// as the string the operator typed.
fn deserialize_with_env_strings(
    mut table: toml::Table,
    env_paths: &[(Vec<String>, String)],
) -> Result<Config, ConfigError> {
    for _ in 0..=env_paths.len() {
        match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table.clone())) {
            Ok(c) => return Ok(c),
            Err(e) => {
                let key = e.path().to_string();
                let hit = env_paths.iter().find(|(p, _)| path_key(p) == key);
                let stringified = hit.is_some_and(|(p, raw)| stringify_at(&mut table, p, raw));
                if !stringified {
                    return Err(ConfigError::Shape {
                        key,
                        message: e.inner().to_string(),
                    });
                }
            }
        }
    }
    Err(ConfigError::Shape {
        key: String::new(),
        message: "environment overrides do not fit the config".into(),
    })
}

/// `coins.0.fee_percent` → `coins[0].fee_percent`, as serde_path_to_error prints it.
fn path_key(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Puts back the operator's text `raw` where a non-string scalar was read at `path`;
/// false if it already is a string.
fn stringify_at(table: &mut toml::Table, path: &[String], raw: &str) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = table;
    let mut iter = parents.iter().peekable();
    while let Some(seg) = iter.next() {
        let next = match cur.get_mut(seg) {
            Some(toml::Value::Table(t)) => t,
            Some(toml::Value::Array(items)) => {
                let Some(idx) = iter.next().and_then(|i| i.parse::<usize>().ok()) else {
                    return false;
                };
                match items.get_mut(idx) {
                    Some(toml::Value::Table(t)) => t,
                    _ => return false,
                }
            }
            _ => return false,
        };
        cur = next;
    }
    match cur.get_mut(last) {
        Some(v) if !v.is_str() => {
            *v = toml::Value::String(raw.to_string());
            true
        }
        _ => false,
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>() {
        if f.is_finite() {
            return toml::Value::Float(f);
        }
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (head, rest) = path.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        // A string field given a number-looking value (a password "1234") must stay a
        // string; serde would reject an integer there, so keep strings where the file
        // had a string.
        let value = match (table.get(head), value) {
            (Some(toml::Value::String(_)), v) if !v.is_str() => {
                toml::Value::String(scalar_text(&v))
            }
            (_, v) => v,
        };
        table.insert(head.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(head.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => set_path(t, rest, value),
        toml::Value::Array(items) => {
            let idx: usize = rest[0]
                .parse()
                .map_err(|_| format!("{head} is a list; address an element by index"))?;
            let item = items
                .get_mut(idx)
                .ok_or_else(|| format!("{head} has no element {idx}"))?;
            match item {
                toml::Value::Table(t) if rest.len() > 1 => set_path(t, &rest[1..], value),
                _ => Err(format!("{head}[{idx}] cannot be set as a whole")),
            }
        }
        _ => Err(format!("{head} is not a section")),
    }
}

fn scalar_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `Duration` as humantime strings (`"5m"`, `"200ms"`) in TOML.
pub(crate) mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration like \"30s\" or \"5m\": {e}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XMR_ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// SRI's published example authority pair.
    const SV2_PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    const SV2_SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

    fn sv2_config(public: &str, secret: &str, extra: &str) -> String {
        format!(
            "[[coins]]\nsymbol = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n\
             [[ports]]\nlisten = \"127.0.0.1:3336\"\nprotocol = \"sv2\"\ncoin = \"XMR\"\n\
             authority_public_key = \"{public}\"\nauthority_secret_key = \"{secret}\"\n{extra}"
        )
    }

    fn problem_keys(text: &str) -> Vec<String> {
        match Config::from_toml_str(text) {
            Err(ConfigError::Invalid(problems)) => problems.into_iter().map(|p| p.key).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn sv2_ports_take_an_sri_key_pair_that_belongs_together() {
        let c = Config::from_toml_str(&sv2_config(SV2_PUBLIC, SV2_SECRET, "")).unwrap();
        assert_eq!(c.ports[0].certificate_validity, None, "1 h when unset");
        Config::from_toml_str(&sv2_config(
            SV2_PUBLIC,
            SV2_SECRET,
            "certificate_validity = \"30m\"\n",
        ))
        .unwrap();
        // Swapped keys, another secret, a bad duration, TLS: each names its key.
        assert_eq!(
            problem_keys(&sv2_config(SV2_SECRET, SV2_PUBLIC, "")),
            vec!["ports[0].authority_public_key"]
        );
        let other = defpool_core::stratum::sv2_key::AuthoritySecretKey::from_bytes([3; 32]);
        assert_eq!(
            problem_keys(&sv2_config(SV2_PUBLIC, &other.to_string(), "")),
            vec!["ports[0].authority_public_key"]
        );
        assert_eq!(
            problem_keys(&sv2_config(
                SV2_PUBLIC,
                SV2_SECRET,
                "certificate_validity = \"forever\"\n"
            )),
            vec!["ports[0].certificate_validity"]
        );
        let text = sv2_config(
            SV2_PUBLIC,
            SV2_SECRET,
            "tls = { cert = \"/nonexistent.pem\", key = \"/nonexistent.pem\" }\n",
        );
        assert!(problem_keys(&text).contains(&"ports[0].tls".to_string()));
        // The secret never appears in a problem or in --print-config.
        let err = Config::from_toml_str(&sv2_config(SV2_PUBLIC, SV2_PUBLIC, ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ports[0].authority_secret_key"), "{err}");
        let c = Config::from_toml_str(&sv2_config(SV2_PUBLIC, SV2_SECRET, "")).unwrap();
        assert!(!c.to_redacted_toml().contains(SV2_SECRET));
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::from_toml_str("").unwrap();
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.intervals.balance_update, Duration::from_secs(300));
        assert_eq!(c.intervals.payout_process, Duration::from_secs(60));
        assert_eq!(c.intervals.profit_monitor, Duration::from_secs(30));
        assert_eq!(c.database_url(), "sqlite://./data/defpool.sqlite");
    }

    #[test]
    fn env_overrides_nested_keys_and_list_elements() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("defpool.toml");
        std::fs::write(
            &path,
            format!("[[coins]]\nsymbol = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n"),
        )
        .unwrap();
        let (c, _) = Config::load(
            Some(&path),
            env(&[
                ("DEFPOOL_API__LISTEN", "127.0.0.1:9090"),
                ("DEFPOOL_INTERVALS__PAYOUT_PROCESS", "5s"),
                ("DEFPOOL_COINS__0__FEE_PERCENT", "0.5"),
                ("DEFPOOL_PROXY__JOB_TIMEOUT", "2m"),
                ("DEFPOOL_URL", "http://ignored-by-the-node"),
            ]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(c.proxy.job_timeout, Duration::from_secs(120));
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:9090");
        assert_eq!(c.intervals.payout_process, Duration::from_secs(5));
        assert_eq!(c.coins[0].fee_percent, 0.5);
    }

    #[test]
    fn cli_flags_win_over_env() {
        let (c, _) = Config::load(
            None,
            env(&[("DEFPOOL_API__LISTEN", "127.0.0.1:9090")]),
            &CliOverrides {
                api_listen: Some("127.0.0.1:7070".parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:7070");
    }

    #[test]
    fn numeric_looking_env_value_stays_a_string_where_a_string_belongs() {
        let (c, _) = Config::load(
            None,
            env(&[
                ("DEFPOOL_API__ADMIN_TOKEN", "0012345678"),
                ("DEFPOOL_DATABASE__MAX_CONNECTIONS", "3"),
            ]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.api.admin_token.as_deref(),
            Some("0012345678"),
            "exactly as typed"
        );
        assert_eq!(c.database.max_connections, 3);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml_str("[api]\nlisten = \"127.0.0.1:1\"\nadmin_tokn = \"x\"\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("api"), "{text}");
        assert!(text.contains("admin_tokn"), "{text}");
    }

    #[test]
    fn bad_values_are_named_by_key() {
        let err = Config::from_toml_str(
            "[[coins]]\nsymbol = \"XMR\"\npool_address = \"4notanaddress\"\nfee_percent = 150.0\nmin_payout = \"abc\"\n\n[[coins]]\nsymbol = \"DOGE\"\npool_address = \"x\"\n\n[[ports]]\nlisten = \"0.0.0.0:3333\"\nprotocol = \"sv1\"\ncoin = \"LTC\"\n",
        )
        .unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected validation errors, got {err}");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"coins[0].pool_address"), "{keys:?}");
        assert!(keys.contains(&"coins[0].fee_percent"), "{keys:?}");
        assert!(keys.contains(&"coins[0].min_payout"), "{keys:?}");
        assert!(keys.contains(&"coins[1].symbol"), "{keys:?}");
        assert!(keys.contains(&"ports[0].coin"), "{keys:?}");
    }

    fn problems_of(toml: &str) -> Vec<(String, String)> {
        match Config::from_toml_str(toml) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(problems)) => {
                problems.into_iter().map(|p| (p.key, p.problem)).collect()
            }
            Err(e) => panic!("expected validation errors, got {e}"),
        }
    }

    #[test]
    fn a_coin_on_a_built_in_coins_rules_needs_a_known_base_and_its_own_symbol() {
        let ok = format!(
            "[[coins]]\nsymbol = \"CFGA\"\nbase = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n"
        );
        assert_eq!(problems_of(&ok), vec![]);
        let c = Config::from_toml_str(&ok).unwrap();
        assert_eq!(c.coins[0].spec().symbol, "CFGA");
        assert_eq!(c.coins[0].spec().decimals, 12);
        // Its addresses are the base's: an LTC address is refused.
        let p = problems_of(
            "[[coins]]\nsymbol = \"CFGB\"\nbase = \"XMR\"\npool_address = \"rltc1qxyz\"\n",
        );
        assert!(p.iter().any(|(k, _)| k == "coins[0].pool_address"), "{p:?}");
        let p =
            problems_of("[[coins]]\nsymbol = \"CFGC\"\nbase = \"DOGE\"\npool_address = \"x\"\n");
        assert!(
            p.iter()
                .any(|(k, m)| k == "coins[0].base" && m.contains("DOGE")),
            "{p:?}"
        );
        let p = problems_of(&format!(
            "[[coins]]\nsymbol = \"LTC\"\nbase = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n"
        ));
        assert!(
            p.iter()
                .any(|(k, m)| k == "coins[0].base" && m.contains("built-in")),
            "{p:?}"
        );
        // Without `base`, an unknown symbol is still an unknown coin.
        let p = problems_of("[[coins]]\nsymbol = \"CFGD\"\npool_address = \"x\"\n");
        assert!(
            p.iter()
                .any(|(k, m)| k == "coins[0].symbol" && m.contains("base")),
            "{p:?}"
        );
    }

    #[test]
    fn a_profit_switching_port_needs_proxy_coins_of_one_family_with_prices() {
        let coin = |symbol: &str, base: &str, mode: &str| {
            format!(
                "[[coins]]\nsymbol = \"{symbol}\"\n{base}mode = \"{mode}\"\nscheme = \"pps\"\npool_address = \"{XMR_ADDR}\"\n  [[coins.upstreams]]\n  url = \"stratum+tcp://127.0.0.1:1\"\n  login = \"x\"\n"
            )
        };
        let prices = "[profit]\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"binance\"\n[[profit.prices]]\ncoin = \"CFGE\"\nprovider = \"binance\"\n[[profit.network]]\ncoin = \"XMR\"\nprovider = \"json\"\nurl = \"http://127.0.0.1:1/x\"\ndifficulty_pointer = \"/d\"\nreward_pointer = \"/r\"\n[[profit.network]]\ncoin = \"CFGE\"\nprovider = \"json\"\nurl = \"http://127.0.0.1:1/z\"\ndifficulty_pointer = \"/d\"\nreward_pointer = \"/r\"\n";
        let port = |coins: &str| {
            format!("[[ports]]\nlisten = \"127.0.0.1:3333\"\nprotocol = \"sv1\"\ncoin = \"auto\"\ncoins = {coins}\n")
        };
        let two = format!(
            "{}{}{prices}{}",
            coin("XMR", "", "proxy"),
            coin("CFGE", "base = \"XMR\"\n", "proxy"),
            port("[\"XMR\", \"CFGE\"]")
        );
        assert_eq!(problems_of(&two), vec![]);
        // One coin, unknown coins, no prices.
        let p = problems_of(&format!(
            "{}{}",
            coin("XMR", "", "proxy"),
            port("[\"XMR\", \"NOPE\"]")
        ));
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"ports[0].coins[1]"), "{p:?}");
        assert!(keys.contains(&"ports[0].coin"), "no [profit]: {p:?}");
        let p = problems_of(&format!(
            "{}{prices}{}",
            coin("XMR", "", "proxy"),
            port("[\"XMR\"]")
        ));
        assert!(
            p.iter()
                .any(|(k, m)| k == "ports[0].coins" && m.contains("two")),
            "{p:?}"
        );
        // A pool-mode coin is not a proxy target.
        let p = problems_of(&format!(
            "{}{}{prices}{}",
            coin("XMR", "", "proxy"),
            coin("CFGE", "base = \"XMR\"\n", "pool"),
            port("[\"XMR\", \"CFGE\"]")
        ));
        assert!(
            p.iter()
                .any(|(k, m)| k == "ports[0].coins[1]" && m.contains("pool mode")),
            "{p:?}"
        );
        // `coins` belongs to auto ports only.
        let p = problems_of(&format!(
            "{}[[ports]]\nlisten = \"127.0.0.1:3333\"\nprotocol = \"sv1\"\ncoin = \"XMR\"\ncoins = [\"XMR\"]\n",
            coin("XMR", "", "proxy")
        ));
        assert!(p.iter().any(|(k, _)| k == "ports[0].coins"), "{p:?}");
    }

    #[test]
    fn bad_duration_is_named() {
        let err = Config::from_toml_str("[intervals]\nbalance_update = \"soon\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("intervals.balance_update"), "{text}");
        assert!(text.contains("soon"), "{text}");
    }

    #[test]
    fn env_section_typo_is_an_error() {
        let err = Config::load(
            None,
            env(&[("DEFPOOL_APY__LISTEN", "127.0.0.1:1")]),
            &CliOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("DEFPOOL_APY__LISTEN"));
    }

    #[test]
    fn print_config_redacts_secrets_and_parses_back() {
        let c = Config::from_toml_str(&format!(
            "[api]\nadmin_token = \"supersecret\"\n[[coins]]\nsymbol = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n[coins.wallet]\nurl = \"http://127.0.0.1:18083\"\npassword = \"pw\"\n"
        ))
        .unwrap();
        let printed = c.to_redacted_toml();
        assert!(!printed.contains("supersecret"));
        assert!(!printed.contains("\"pw\""));
        assert!(printed.contains("balance_update = \"5m\""), "{printed}");
        let back = Config::from_toml_str(&printed).unwrap();
        assert_eq!(back.coins[0].pool_address, XMR_ADDR);
    }
}
