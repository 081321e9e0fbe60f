//! Payout requests and payout settings: the rules a miner's request must pass
//! before any money moves.

use defpool_core::address;
use defpool_core::api::{PayoutRequest, PayoutSettingsUpdate};
use defpool_core::{Amount, CoinSpec};

use crate::config::{CoinConfig, Config};
use crate::store::{PayoutRecord, PayoutSettingsRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PayoutRequestError {
    #[error("coin {0:?} is not configured on this pool")]
    UnknownCoin(String),
    #[error("{0}")]
    InvalidAddress(String),
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{requested} is below the {coin} minimum payout of {minimum}")]
    BelowThreshold {
        coin: String,
        requested: String,
        minimum: String,
    },
    #[error("insufficient balance: {available} {coin} available, {requested} {coin} requested")]
    InsufficientBalance {
        coin: String,
        available: String,
        requested: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidSettings(String),
    #[error(transparent)]
    Store(StoreError),
}

/// The configured coin and the validated address of a request.
pub fn resolve<'a>(
    config: &'a Config,
    wallet: &str,
    coin: &str,
) -> Result<&'a CoinConfig, PayoutRequestError> {
    let coin_cfg = config
        .coin(coin)
        .ok_or_else(|| PayoutRequestError::UnknownCoin(coin.to_string()))?;
    address::validate(coin_cfg.spec(), coin_cfg.network, wallet)
        .map_err(|e| PayoutRequestError::InvalidAddress(e.to_string()))?;
    Ok(coin_cfg)
}

fn parse_atomic(field: &str, s: &str) -> Result<Amount, PayoutRequestError> {
    s.parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .map(Amount::from_atomic)
        .ok_or_else(|| {
            PayoutRequestError::InvalidAmount(format!(
                "{field} must be a positive whole number of atomic units, got {s:?}"
            ))
        })
}

/// Validates and creates a manual payout; the balance is debited at once.
pub async fn request_payout(
    store: &Store,
    config: &Config,
    wallet: &str,
    req: &PayoutRequest,
) -> Result<PayoutRecord, PayoutRequestError> {
    let coin_cfg = resolve(config, wallet, &req.coin)?;
    let spec = coin_cfg.spec();
    let balance = store
        .balance(spec.symbol, wallet)
        .await
        .map_err(PayoutRequestError::Store)?
        .map(|b| b.balance)
        .unwrap_or(Amount::ZERO);
    let amount = match &req.atomic {
        Some(s) => parse_atomic("atomic", s)?,
        None => balance,
    };
    let minimum = coin_cfg.min_payout_amount();
    let show = |a: Amount| a.to_decimal(spec.decimals);
    if amount < minimum {
        return Err(PayoutRequestError::BelowThreshold {
            coin: spec.symbol.into(),
            requested: show(amount),
            minimum: show(minimum),
        });
    }
    if amount > balance {
        return Err(PayoutRequestError::InsufficientBalance {
            coin: spec.symbol.into(),
            available: show(balance),
            requested: show(amount),
        });
    }
    store
        .create_payout(spec.symbol, wallet, amount, "manual", None)
        .await
        .map_err(|e| match e {
            StoreError::InsufficientBalance {
                available,
                requested,
            } => PayoutRequestError::InsufficientBalance {
                coin: spec.symbol.into(),
                available: show(Amount::from_atomic(available)),
                requested: show(Amount::from_atomic(requested)),
            },
            StoreError::Conflict(m) => PayoutRequestError::Conflict(m),
            other => PayoutRequestError::Store(other),
        })
}

/// A miner's settings for a coin, or the pool defaults when never saved.
pub async fn current_settings(
    store: &Store,
    coin_cfg: &CoinConfig,
    wallet: &str,
) -> Result<(PayoutSettingsRecord, bool), PayoutRequestError> {
    let spec = coin_cfg.spec();
    let saved = store
        .payout_settings(spec.symbol, wallet)
        .await
        .map_err(PayoutRequestError::Store)?;
    Ok(match saved {
        Some(s) => (s, true),
        None => (
            PayoutSettingsRecord {
                coin: spec.symbol.into(),
                account: wallet.into(),
                threshold: coin_cfg.min_payout_amount(),
                target_coin: spec.symbol.into(),
                auto_exchange: false,
                updated_at: 0,
            },
            false,
        ),
    })
}

/// Applies a settings update; absent fields keep their current value.
pub async fn update_settings(
    store: &Store,
    config: &Config,
    wallet: &str,
    update: &PayoutSettingsUpdate,
) -> Result<PayoutSettingsRecord, PayoutRequestError> {
    let coin_cfg = resolve(config, wallet, &update.coin)?;
    let spec = coin_cfg.spec();
    let (mut settings, _) = current_settings(store, coin_cfg, wallet).await?;
    if let Some(t) = &update.threshold {
        let threshold = parse_atomic("threshold", t)?;
        let minimum = coin_cfg.min_payout_amount();
        if threshold < minimum {
            return Err(PayoutRequestError::BelowThreshold {
                coin: spec.symbol.into(),
                requested: threshold.to_decimal(spec.decimals),
                minimum: minimum.to_decimal(spec.decimals),
            });
        }
        settings.threshold = threshold;
    }
    if let Some(target) = &update.target_coin {
        let target_spec = CoinSpec::lookup(target).ok_or_else(|| {
            PayoutRequestError::InvalidSettings(format!(
                "target coin {target:?} is not a known coin"
            ))
        })?;
        settings.target_coin = target_spec.symbol.into();
    }
    if let Some(auto) = update.auto_exchange {
        settings.auto_exchange = auto;
    }
    if settings.target_coin != spec.symbol && !settings.auto_exchange {
        return Err(PayoutRequestError::InvalidSettings(format!(
            "paying {} balances in {} needs auto_exchange = true",
            spec.symbol, settings.target_coin
        )));
    }
    store
        .save_payout_settings(&settings)
        .await
        .map_err(PayoutRequestError::Store)?;
    let saved = store
        .payout_settings(spec.symbol, wallet)
        .await
        .map_err(PayoutRequestError::Store)?;
    Ok(saved.unwrap_or(settings))
}
