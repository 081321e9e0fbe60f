//! Command-line shape of `defpool-ctl` and the translation of what a human typed into
//! API requests.
//!
//! Everything clap can check (missing arguments, unknown statuses, conflicting flags)
//! is a usage error with exit code 2. What needs coin knowledge (decimal amounts) is
//! checked here against [`CoinSpec`] before anything is sent, so an operator never pays
//! 1000× what they meant because of a misplaced decimal.

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use defpool_core::api::{BlockStatus, PayoutRequest, PayoutSettingsUpdate, PayoutStatus};
use defpool_core::units::AmountError;
use defpool_core::{Amount, CoinSpec};

/// Help section of the options every subcommand accepts.
const GLOBAL: &str = "Global options";

/// Admin CLI of a DefPool node: miners, balances, payouts, blocks, bans, config, the
/// ledger audit and the live event stream, over the node's REST API.
#[derive(Debug, Parser)]
#[command(name = "defpool-ctl", version, about, propagate_version = true)]
pub struct Cli {
    /// Base URL of the node's REST API.
    #[arg(
        long,
        env = "DEFPOOL_URL",
        default_value = "http://127.0.0.1:8080",
        global = true,
        help_heading = GLOBAL
    )]
    pub url: String,

    /// Admin token, sent as `Authorization: Bearer TOKEN`; needed by `miners list`,
    /// `payouts` without WALLET, `payout`, `settings set`, `bans`, `config`, `audit` and
    /// `watch` without --miner.
    #[arg(
        long,
        env = "DEFPOOL_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    pub token: Option<String>,

    /// Print the node's JSON response (pretty-printed) instead of tables, for scripts.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Seconds to wait for the node before giving up on a request.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true,
        help_heading = GLOBAL
    )]
    pub timeout: u64,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The token, unless it is absent or empty (an empty `DEFPOOL_TOKEN=` means none).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.trim().is_empty())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Node health; exits 1 unless every component is ok.
    Health,
    /// Per-coin pool statistics.
    Stats,
    /// One miner: hashrate, shares, workers and balances (same as `miners show`).
    Miner {
        /// Payout address of the miner.
        wallet: String,
    },
    /// List miners (needs the token) or show one.
    #[command(subcommand)]
    Miners(MinersCommand),
    /// A miner's workers: hashrate and shares over the hashrate window.
    Workers {
        /// Payout address of the miner.
        wallet: String,
    },
    /// A miner's balances in every coin.
    Balances {
        /// Payout address of the miner.
        wallet: String,
    },
    /// A miner's balance in one coin.
    Balance {
        /// Payout address of the miner.
        wallet: String,
        /// Coin ticker (XMR, LTC, BTC).
        coin: String,
    },
    /// A miner's payouts, or every miner's (needs the token) without WALLET; newest
    /// first.
    Payouts(PayoutsArgs),
    /// Request, cancel or retry payouts (needs the token).
    #[command(subcommand)]
    Payout(PayoutCommand),
    /// Read or change a miner's payout settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Blocks found by the pool, newest first.
    Blocks(BlocksArgs),
    /// Stratum bans (needs the token).
    #[command(subcommand)]
    Bans(BansCommand),
    /// The node's effective configuration (needs the token).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Recompute every balance from the ledger and compare; exits 1 on any difference.
    Audit,
    /// Proxy mode: upstream connections, forwarded share verdicts, PPS credits and
    /// the reconciliation with what the pool wallet received.
    Proxy,
    /// Follow the node's live stream: one line per event, or NDJSON with --json.
    Watch(WatchArgs),
    /// Print a shell completion script.
    Completions {
        /// Shell to generate completions for.
        shell: Shell,
    },
}

/// Paging flags shared by the list commands.
#[derive(Debug, Args, Clone, PartialEq, Eq)]
pub struct PageArgs {
    /// Items per page (the node caps it).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Start at this cursor (the `next_cursor` of a previous page).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Follow `next_cursor` until the last page and print everything.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct PayoutsArgs {
    /// Payout address of the miner; without it every miner's payouts (needs the token).
    pub wallet: Option<String>,
    /// Only payouts in this coin.
    #[arg(long)]
    pub coin: Option<String>,
    /// Only payouts in this state.
    #[arg(long, value_enum)]
    pub status: Option<PayoutStatusArg>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
pub struct BlocksArgs {
    /// Only blocks of this coin.
    #[arg(long)]
    pub coin: Option<String>,
    /// Only blocks in this state.
    #[arg(long, value_enum)]
    pub status: Option<BlockStatusArg>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// [`PayoutStatus`] as a command-line value, so `--help` lists the choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PayoutStatusArg {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl From<PayoutStatusArg> for PayoutStatus {
    fn from(arg: PayoutStatusArg) -> Self {
        match arg {
            PayoutStatusArg::Pending => PayoutStatus::Pending,
            PayoutStatusArg::Processing => PayoutStatus::Processing,
            PayoutStatusArg::Completed => PayoutStatus::Completed,
            PayoutStatusArg::Failed => PayoutStatus::Failed,
        }
    }
}

/// [`BlockStatus`] as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BlockStatusArg {
    Pending,
    Confirmed,
    Orphaned,
}

impl From<BlockStatusArg> for BlockStatus {
    fn from(arg: BlockStatusArg) -> Self {
        match arg {
            BlockStatusArg::Pending => BlockStatus::Pending,
            BlockStatusArg::Confirmed => BlockStatus::Confirmed,
            BlockStatusArg::Orphaned => BlockStatus::Orphaned,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PayoutCommand {
    /// Ask the node to pay a miner now (needs the token). Without AMOUNT or --atomic the
    /// whole balance is paid.
    Request(PayoutRequestArgs),
    /// Cancel a pending payout: it fails as "cancelled by the operator" and its amount
    /// goes back to the balance. A processing payout cannot be cancelled.
    Cancel {
        /// Payout id (the ID column of `payouts`).
        id: i64,
    },
    /// Retry a failed payout once: a new pending payout of the same amount, paid from
    /// the balance the failure credited back.
    Retry {
        /// Id of the failed payout.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum MinersCommand {
    /// Every miner per coin, newest first, with hashrate, last share and balance.
    List(MinersListArgs),
    /// One miner: hashrate, shares, workers and balances.
    Show {
        /// Payout address of the miner.
        wallet: String,
    },
}

#[derive(Debug, Args)]
pub struct MinersListArgs {
    /// Only miners of this coin.
    #[arg(long)]
    pub coin: Option<String>,
    /// Only miners with a share within the node's hashrate window.
    #[arg(long)]
    pub active: bool,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub enum BansCommand {
    /// Addresses banned from the stratum ports now.
    List,
    /// Ban an address from every stratum port (replaces its current ban).
    Add {
        /// IPv4 or IPv6 address.
        ip: String,
        /// How long: seconds, or a number with s, m, h or d (`90`, `15m`, `2h`, `7d`).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        duration: u64,
    },
    /// Lift a ban.
    Remove {
        /// The banned address.
        ip: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted) as TOML.
    Show,
    /// Read the node's config file again and apply the keys that can change without a
    /// restart; nothing is applied if any other key changed.
    Reload,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Follow one miner's public stream instead of the admin stream (no token needed).
    #[arg(long, value_name = "ADDRESS")]
    pub miner: Option<String>,
    /// Do not reconnect when the stream drops: exit (1 unless the node closed it).
    #[arg(long)]
    pub once: bool,
    /// Exit after N messages (the first is the snapshot); implies --once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// Longest ban `bans add` accepts (the node's limit).
const MAX_BAN_SECS: u64 = 365 * 86_400;

/// `90`, `90s`, `15m`, `2h`, `7d` to seconds, 1 s to 365 days.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?} is not a duration like 90, 15m, 2h or 7d"))?;
    if !(1..=MAX_BAN_SECS).contains(&secs) {
        return Err(format!("must be between 1s and 365d, got {secs}s"));
    }
    Ok(secs)
}

#[derive(Debug, Args)]
pub struct PayoutRequestArgs {
    /// Payout address of the miner.
    pub wallet: String,
    /// Coin ticker (XMR, LTC, BTC).
    pub coin: String,
    /// Amount in decimal coins, e.g. 0.5.
    #[arg(conflicts_with = "atomic")]
    pub amount: Option<String>,
    /// Amount in atomic units (piconero, litoshi, satoshi) instead of AMOUNT.
    #[arg(long, value_name = "N")]
    pub atomic: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show a miner's payout settings for one coin.
    Get {
        /// Payout address of the miner.
        wallet: String,
        /// Coin ticker (XMR, LTC, BTC).
        coin: String,
    },
    /// Change a miner's payout settings for one coin (needs the token); options not
    /// given keep their value.
    Set(SettingsSetArgs),
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["threshold", "target_coin", "auto_exchange"])
))]
pub struct SettingsSetArgs {
    /// Payout address of the miner.
    pub wallet: String,
    /// Coin ticker (XMR, LTC, BTC).
    pub coin: String,
    /// Automatic payout threshold in decimal coins, e.g. 0.25.
    #[arg(long, value_name = "DECIMAL")]
    pub threshold: Option<String>,
    /// Coin to be paid in (differs from COIN only with auto-exchange).
    #[arg(long, value_name = "COIN")]
    pub target_coin: Option<String>,
    /// Convert earnings to the target coin on an exchange.
    #[arg(long, value_name = "BOOL")]
    pub auto_exchange: Option<bool>,
}

/// Why arguments that clap accepted still cannot become a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// Decimal coins can only be converted for coins this build knows the decimals of.
    #[error("unknown coin {0}")]
    UnknownCoin(String),
    #[error("invalid {what}: {source}")]
    Amount {
        what: &'static str,
        #[source]
        source: AmountError,
    },
}

/// The ticker as the node spells it (`xmr` → `XMR`); unknown tickers pass unchanged so
/// the node, which knows its own coins, gives the answer.
pub fn coin_symbol(coin: &str) -> String {
    CoinSpec::lookup(coin)
        .map(|spec| spec.symbol.to_string())
        .unwrap_or_else(|| coin.to_string())
}

/// Decimal coins typed by a human to atomic units, exactly.
pub fn decimal_to_atomic(
    coin: &str,
    decimal: &str,
    what: &'static str,
) -> Result<Amount, InputError> {
    let spec = CoinSpec::lookup(coin).ok_or_else(|| InputError::UnknownCoin(coin.to_string()))?;
    Amount::from_decimal(decimal, spec.decimals)
        .map_err(|source| InputError::Amount { what, source })
}

impl PayoutRequestArgs {
    pub fn to_request(&self) -> Result<PayoutRequest, InputError> {
        let atomic = match (&self.amount, self.atomic) {
            (Some(decimal), _) => Some(decimal_to_atomic(&self.coin, decimal, "amount")?.atomic()),
            (None, atomic) => atomic,
        };
        Ok(PayoutRequest {
            coin: coin_symbol(&self.coin),
            atomic: atomic.map(|a| a.to_string()),
        })
    }
}

impl SettingsSetArgs {
    pub fn to_update(&self) -> Result<PayoutSettingsUpdate, InputError> {
        let threshold = self
            .threshold
            .as_deref()
            .map(|t| decimal_to_atomic(&self.coin, t, "threshold"))
            .transpose()?;
        Ok(PayoutSettingsUpdate {
            coin: coin_symbol(&self.coin),
            threshold: threshold.map(|a| a.atomic().to_string()),
            target_coin: self.target_coin.as_deref().map(coin_symbol),
            auto_exchange: self.auto_exchange,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    const WALLET: &str = "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge";

    fn parse(args: &[&str]) -> Cli {
        let mut argv = vec!["defpool-ctl"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?} did not parse: {e}"),
        }
    }

    fn parse_err(args: &[&str]) -> ErrorKind {
        let mut argv = vec!["defpool-ctl"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => panic!("{args:?} parsed but should not: {cli:?}"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_have_defaults() {
        // Only checks the defaults when the environment does not override them.
        if std::env::var_os("DEFPOOL_URL").is_some() || std::env::var_os("DEFPOOL_TOKEN").is_some()
        {
            return;
        }
        let cli = parse(&["health"]);
        assert_eq!(cli.url, "http://127.0.0.1:8080");
        assert_eq!(cli.token(), None);
        assert!(!cli.json);
        assert_eq!(cli.timeout, 10);
        assert!(matches!(cli.command, Command::Health));
    }

    #[test]
    fn global_options_are_accepted_after_the_subcommand() {
        let cli = parse(&[
            "stats",
            "--url",
            "http://node:9090",
            "--token",
            "t0k",
            "--json",
            "--timeout",
            "3",
        ]);
        assert_eq!(cli.url, "http://node:9090");
        assert_eq!(cli.token(), Some("t0k"));
        assert!(cli.json);
        assert_eq!(cli.timeout, 3);
        assert!(matches!(cli.command, Command::Stats));
    }

    #[test]
    fn empty_token_counts_as_none() {
        let cli = parse(&["--token", "", "audit"]);
        assert_eq!(cli.token(), None);
    }

    #[test]
    fn zero_timeout_is_a_usage_error() {
        assert_eq!(
            parse_err(&["--timeout", "0", "health"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn parses_miner_balances_and_balance() {
        assert!(
            matches!(parse(&["miner", WALLET]).command, Command::Miner { wallet } if wallet == WALLET)
        );
        assert!(
            matches!(parse(&["balances", WALLET]).command, Command::Balances { wallet } if wallet == WALLET)
        );
        match parse(&["balance", WALLET, "XMR"]).command {
            Command::Balance { wallet, coin } => {
                assert_eq!(wallet, WALLET);
                assert_eq!(coin, "XMR");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_err(&["balance", WALLET]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(parse_err(&["miner"]), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn parses_payouts_with_filters_and_paging() {
        let cli = parse(&[
            "payouts", WALLET, "--coin", "LTC", "--status", "failed", "--limit", "5", "--cursor",
            "abc",
        ]);
        match cli.command {
            Command::Payouts(args) => {
                assert_eq!(args.wallet.as_deref(), Some(WALLET));
                assert_eq!(args.coin.as_deref(), Some("LTC"));
                assert_eq!(
                    args.status.map(PayoutStatus::from),
                    Some(PayoutStatus::Failed)
                );
                assert_eq!(
                    args.page,
                    PageArgs {
                        limit: Some(5),
                        cursor: Some("abc".into()),
                        all: false
                    }
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse(&["payouts", WALLET, "--all"]).command {
            Command::Payouts(args) => assert!(args.page.all && args.status.is_none()),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_err(&["payouts", WALLET, "--status", "done"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            parse_err(&["payouts", WALLET, "--limit", "0"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn parses_the_admin_commands() {
        match parse(&["miners", "list", "--coin", "XMR", "--active", "--all"]).command {
            Command::Miners(MinersCommand::List(args)) => {
                assert_eq!(args.coin.as_deref(), Some("XMR"));
                assert!(args.active && args.page.all);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(&["miners", "show", WALLET]).command,
            Command::Miners(MinersCommand::Show { wallet }) if wallet == WALLET
        ));
        assert!(matches!(
            parse(&["workers", WALLET]).command,
            Command::Workers { wallet } if wallet == WALLET
        ));
        match parse(&["payouts", "--status", "pending"]).command {
            Command::Payouts(args) => assert!(args.wallet.is_none()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(&["payout", "cancel", "12"]).command,
            Command::Payout(PayoutCommand::Cancel { id: 12 })
        ));
        assert!(matches!(
            parse(&["payout", "retry", "7"]).command,
            Command::Payout(PayoutCommand::Retry { id: 7 })
        ));
        assert_eq!(
            parse_err(&["payout", "cancel", "twelve"]),
            ErrorKind::ValueValidation
        );
        assert!(matches!(
            parse(&["bans", "add", "10.0.0.1", "--duration", "2h"]).command,
            Command::Bans(BansCommand::Add { duration: 7200, .. })
        ));
        assert_eq!(
            parse_err(&["bans", "add", "10.0.0.1"]),
            ErrorKind::MissingRequiredArgument
        );
        assert!(matches!(
            parse(&["bans", "remove", "::1"]).command,
            Command::Bans(BansCommand::Remove { .. })
        ));
        assert!(matches!(
            parse(&["bans", "list"]).command,
            Command::Bans(BansCommand::List)
        ));
        assert!(matches!(
            parse(&["config", "show"]).command,
            Command::Config(ConfigCommand::Show)
        ));
        assert!(matches!(
            parse(&["config", "reload"]).command,
            Command::Config(ConfigCommand::Reload)
        ));
        match parse(&["watch", "--miner", WALLET, "--count", "3"]).command {
            Command::Watch(args) => {
                assert_eq!(args.miner.as_deref(), Some(WALLET));
                assert_eq!(args.count, Some(3));
                assert!(!args.once);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_err(&["watch", "--count", "0"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn ban_durations_parse_with_units_and_limits() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("365d"), Ok(MAX_BAN_SECS));
        assert!(parse_duration("366d").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn parses_payout_request_with_decimal_or_atomic_or_nothing() {
        match parse(&["payout", "request", WALLET, "XMR", "0.5"]).command {
            Command::Payout(PayoutCommand::Request(args)) => {
                assert_eq!(args.amount.as_deref(), Some("0.5"));
                assert_eq!(args.atomic, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse(&["payout", "request", WALLET, "LTC", "--atomic", "1000"]).command {
            Command::Payout(PayoutCommand::Request(args)) => {
                assert_eq!(args.amount, None);
                assert_eq!(args.atomic, Some(1000));
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse(&["payout", "request", WALLET, "BTC"]).command {
            Command::Payout(PayoutCommand::Request(args)) => {
                assert_eq!((args.amount, args.atomic), (None, None));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_err(&["payout", "request", WALLET, "XMR", "0.5", "--atomic", "5"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            parse_err(&["payout", "request", WALLET, "XMR", "--atomic", "-1"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            parse_err(&["payout"]),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    }

    #[test]
    fn parses_settings_get_and_set() {
        match parse(&["settings", "get", WALLET, "XMR"]).command {
            Command::Settings(SettingsCommand::Get { wallet, coin }) => {
                assert_eq!((wallet.as_str(), coin.as_str()), (WALLET, "XMR"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = parse(&[
            "settings",
            "set",
            WALLET,
            "XMR",
            "--threshold",
            "0.25",
            "--target-coin",
            "LTC",
            "--auto-exchange",
            "true",
        ]);
        match cli.command {
            Command::Settings(SettingsCommand::Set(args)) => {
                assert_eq!(args.threshold.as_deref(), Some("0.25"));
                assert_eq!(args.target_coin.as_deref(), Some("LTC"));
                assert_eq!(args.auto_exchange, Some(true));
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse(&["settings", "set", WALLET, "XMR", "--auto-exchange", "false"]).command {
            Command::Settings(SettingsCommand::Set(args)) => {
                assert_eq!(args.auto_exchange, Some(false));
                assert_eq!(args.threshold, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn settings_set_without_a_change_is_a_usage_error() {
        let err = Cli::try_parse_from(["defpool-ctl", "settings", "set", WALLET, "XMR"])
            .expect_err("must require an option");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            parse_err(&["settings", "set", WALLET, "XMR", "--auto-exchange", "maybe"]),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn parses_blocks_audit_health_stats_and_completions() {
        match parse(&[
            "blocks", "--coin", "XMR", "--status", "orphaned", "--limit", "20", "--all",
        ])
        .command
        {
            Command::Blocks(args) => {
                assert_eq!(args.coin.as_deref(), Some("XMR"));
                assert_eq!(
                    args.status.map(BlockStatus::from),
                    Some(BlockStatus::Orphaned)
                );
                assert_eq!(args.page.limit, Some(20));
                assert!(args.page.all);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(parse(&["blocks"]).command, Command::Blocks(_)));
        assert_eq!(
            parse_err(&["blocks", "--status", "failed"]),
            ErrorKind::InvalidValue
        );
        assert!(matches!(parse(&["audit"]).command, Command::Audit));
        assert!(matches!(parse(&["health"]).command, Command::Health));
        assert!(matches!(parse(&["stats"]).command, Command::Stats));
        assert!(matches!(
            parse(&["completions", "bash"]).command,
            Command::Completions { shell: Shell::Bash }
        ));
        assert_eq!(parse_err(&["completions", "tcsh"]), ErrorKind::InvalidValue);
        assert_eq!(
            parse_err(&[]),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    }

    fn request_args(coin: &str, amount: Option<&str>, atomic: Option<u64>) -> PayoutRequestArgs {
        PayoutRequestArgs {
            wallet: WALLET.into(),
            coin: coin.into(),
            amount: amount.map(Into::into),
            atomic,
        }
    }

    #[test]
    fn payout_request_converts_decimal_coins_exactly() {
        let req = request_args("XMR", Some("0.5"), None)
            .to_request()
            .expect("valid");
        assert_eq!(
            req,
            PayoutRequest {
                coin: "XMR".into(),
                atomic: Some("500000000000".into())
            }
        );
        let req = request_args("ltc", Some("1.23456789"), None)
            .to_request()
            .expect("valid");
        assert_eq!(
            req,
            PayoutRequest {
                coin: "LTC".into(),
                atomic: Some("123456789".into())
            }
        );
        let req = request_args("BTC", Some("0.1"), None)
            .to_request()
            .expect("valid");
        assert_eq!(req.atomic.as_deref(), Some("10000000"));
    }

    #[test]
    fn payout_request_passes_atomic_and_whole_balance_through() {
        let req = request_args("XMR", None, Some(42))
            .to_request()
            .expect("valid");
        assert_eq!(req.atomic.as_deref(), Some("42"));
        let req = request_args("XMR", None, None).to_request().expect("valid");
        assert_eq!(
            req,
            PayoutRequest {
                coin: "XMR".into(),
                atomic: None
            }
        );
        assert_eq!(
            serde_json::to_string(&req).expect("serializes"),
            r#"{"coin":"XMR"}"#
        );
    }

    #[test]
    fn payout_request_rejects_unknown_coins_and_bad_amounts() {
        let err = request_args("DOGE", Some("1"), None)
            .to_request()
            .expect_err("unknown coin");
        assert_eq!(err, InputError::UnknownCoin("DOGE".into()));
        assert_eq!(err.to_string(), "unknown coin DOGE");

        let err = request_args("LTC", Some("0.000000001"), None)
            .to_request()
            .expect_err("too precise");
        assert!(matches!(
            err,
            InputError::Amount {
                source: AmountError::TooPrecise { .. },
                ..
            }
        ));
        assert!(err.to_string().starts_with("invalid amount: "), "{err}");

        assert!(request_args("XMR", Some("1,5"), None).to_request().is_err());
        assert!(request_args("XMR", Some("-1"), None).to_request().is_err());
        assert!(request_args("XMR", Some("20000000"), None)
            .to_request()
            .is_err());
    }

    fn set_args(coin: &str, threshold: Option<&str>) -> SettingsSetArgs {
        SettingsSetArgs {
            wallet: WALLET.into(),
            coin: coin.into(),
            threshold: threshold.map(Into::into),
            target_coin: None,
            auto_exchange: None,
        }
    }

    #[test]
    fn settings_update_converts_threshold_to_atomic() {
        let update = set_args("XMR", Some("0.25")).to_update().expect("valid");
        assert_eq!(
            update,
            PayoutSettingsUpdate {
                coin: "XMR".into(),
                threshold: Some("250000000000".into()),
                target_coin: None,
                auto_exchange: None,
            }
        );
        let update = set_args("LTC", Some("0.00000001"))
            .to_update()
            .expect("valid");
        assert_eq!(update.threshold.as_deref(), Some("1"));
    }

    #[test]
    fn settings_update_keeps_absent_fields_absent() {
        let mut args = set_args("xmr", None);
        args.target_coin = Some("ltc".into());
        args.auto_exchange = Some(true);
        let update = args.to_update().expect("valid");
        assert_eq!(
            serde_json::to_string(&update).expect("serializes"),
            r#"{"coin":"XMR","target_coin":"LTC","auto_exchange":true}"#
        );
    }

    #[test]
    fn settings_update_rejects_unknown_coin_and_bad_threshold() {
        assert_eq!(
            set_args("DOGE", Some("1")).to_update(),
            Err(InputError::UnknownCoin("DOGE".into()))
        );
        let err = set_args("BTC", Some("abc"))
            .to_update()
            .expect_err("not decimal");
        assert!(err.to_string().starts_with("invalid threshold: "), "{err}");
        // Without a threshold no decimals are needed, so the node judges the coin.
        let mut args = set_args("DOGE", None);
        args.auto_exchange = Some(false);
        assert_eq!(args.to_update().map(|u| u.coin), Ok("DOGE".to_string()));
    }
}
