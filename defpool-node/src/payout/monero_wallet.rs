//! monero-wallet-rpc as a [`Wallet`], in two steps: `transfer` with `do_not_relay`
//! builds and signs the transaction (nothing is sent), the node records it, then
//! `relay_tx` broadcasts exactly that transaction. monerod's `/get_transactions` says
//! whether it reached the network, so an unclear broadcast is settled by asking, and a
//! retry can only republish the same transaction: never a second payment.
//!
//! Why not one `transfer` call: its errors cannot tell "nothing was built" from "the
//! relay failed after the daemon took it" (code -38 and -4 come from both), and a
//! wallet whose relay failed has not marked the inputs spent, so a second `transfer`
//! could pay again with other inputs.

use std::time::Duration;

use async_trait::async_trait;
use defpool_core::Amount;
use serde::Deserialize;
use serde_json::json;

use super::wallet::{Prepared, Sent, Transfer, TxStatus, Wallet, WalletError};
use crate::daemon::{JsonRpcClient, MoneroDaemon, RpcError, TxLocation};

/// monero-wallet-rpc error codes the processor treats specially
/// (wallet_rpc_server_error_codes.h).
const WRONG_ADDRESS: i64 = -2;
const DAEMON_IS_BUSY: i64 = -3;
const NOT_OPEN: i64 = -13;
const TX_NOT_POSSIBLE: i64 = -16;
const NOT_ENOUGH_MONEY: i64 = -17;
const ZERO_DESTINATION: i64 = -20;
const NOT_ENOUGH_UNLOCKED_MONEY: i64 = -37;
const NO_DAEMON_CONNECTION: i64 = -38;
const GENERIC_TRANSFER_ERROR: i64 = -4;
const NOT_ENOUGH_OUTS_TO_MIX: i64 = -19;

pub struct MoneroWallet {
    rpc: JsonRpcClient,
    /// The coin's daemons, asked where a transaction is (the wallet only knows the
    /// transactions it committed, and a failed relay is not committed).
    daemons: Vec<MoneroDaemon>,
}

#[derive(Deserialize)]
struct TransferResult {
    tx_hash: String,
    fee: u64,
    #[serde(default)]
    tx_metadata: String,
}

#[derive(Deserialize)]
struct RelayResult {
    tx_hash: String,
}

#[derive(Deserialize, Default)]
struct TransfersResult {
    #[serde(default)]
    out: Vec<TransferEntry>,
    #[serde(default)]
    pending: Vec<TransferEntry>,
    #[serde(default)]
    pool: Vec<TransferEntry>,
}

#[derive(Deserialize)]
struct TransferEntry {
    txid: String,
    #[serde(default)]
    fee: u64,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    destinations: Vec<Destination>,
}

#[derive(Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Destination {
    address: String,
    amount: u64,
}

impl MoneroWallet {
    pub fn new(
        url: &str,
        user: &str,
        password: &str,
        daemon_urls: &[String],
    ) -> Result<Self, WalletError> {
        // A transfer builds and signs a transaction: give it far longer than a read.
        let rpc = JsonRpcClient::new(url, user, password, Duration::from_secs(120))
            .map_err(|e| WalletError::Unavailable(e.to_string()))?;
        let daemons = daemon_urls
            .iter()
            .map(|u| MoneroDaemon::new(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WalletError::Unavailable(e.to_string()))?;
        Ok(MoneroWallet { rpc, daemons })
    }

    /// Asks the wallet itself, when no daemon is configured.
    async fn wallet_tx_status(&self, tx_hash: &str) -> Result<TxStatus, WalletError> {
        match self
            .rpc
            .call::<serde_json::Value>(
                "/json_rpc",
                "get_transfer_by_txid",
                json!({"txid": tx_hash}),
            )
            .await
        {
            Ok(v) => {
                let t = &v["transfer"];
                Ok(match t["type"].as_str() {
                    Some("pending" | "pool") => TxStatus::InPool,
                    Some("failed") => TxStatus::Unknown,
                    _ => match t["confirmations"].as_u64().unwrap_or(0) {
                        0 => TxStatus::InPool,
                        c => TxStatus::Mined { confirmations: c },
                    },
                })
            }
            // -8 WRONG_TXID: the wallet does not know the transaction.
            Err(RpcError::Remote { code: -8, .. }) => Ok(TxStatus::Unknown),
            Err(e) => Err(classify_read(e)),
        }
    }
}

/// Errors of a read: whatever went wrong, asking again later is safe.
fn classify_read(e: RpcError) -> WalletError {
    WalletError::Unavailable(e.to_string())
}

/// Errors of building a transaction (`transfer` with `do_not_relay`). Nothing can
/// have been sent, so the only question is whether to retry or to give up.
fn classify_build(e: RpcError) -> WalletError {
    match e {
        RpcError::Remote { code, message, .. } => match code {
            WRONG_ADDRESS | ZERO_DESTINATION => WalletError::Rejected {
                message,
                bad_address: true,
            },
            // Locked coinbase or change outputs: the money is there, just not yet.
            NOT_ENOUGH_MONEY
            | NOT_ENOUGH_UNLOCKED_MONEY
            | TX_NOT_POSSIBLE
            | NOT_ENOUGH_OUTS_TO_MIX => WalletError::InsufficientFunds(message),
            // No wallet open, the daemon busy or unreachable from the wallet, or a
            // generic failure while gathering decoys and fork heights from the daemon
            // ("Failed to get earliest fork height", "failed to get random outputs"):
            // all pass; nothing was sent, so wait and retry.
            NOT_OPEN | DAEMON_IS_BUSY | NO_DAEMON_CONNECTION | GENERIC_TRANSFER_ERROR => {
                WalletError::Unavailable(format!("code {code}: {message}"))
            }
            _ => WalletError::Rejected {
                message: format!("code {code}: {message}"),
                bad_address: false,
            },
        },
        other => WalletError::Unavailable(other.to_string()),
    }
}

/// Errors of `relay_tx`. Only a definite refusal is `Rejected`; anything that may
/// have reached the daemon is `Unknown`, settled later through `/get_transactions`.
fn classify_relay(e: RpcError) -> WalletError {
    match e {
        RpcError::Remote { code, message, .. } => match code {
            NOT_OPEN | DAEMON_IS_BUSY | NO_DAEMON_CONNECTION => {
                WalletError::Unavailable(format!("code {code}: {message}"))
            }
            _ => WalletError::Rejected {
                message: format!("code {code}: {message}"),
                bad_address: false,
            },
        },
        RpcError::Unreachable {
            connect_failed: true,
            message,
            ..
        } => WalletError::Unavailable(message),
        other => WalletError::Unknown(other.to_string()),
    }
}

#[async_trait]
impl Wallet for MoneroWallet {
    async fn prepare(&self, transfers: &[Transfer]) -> Result<Prepared, WalletError> {
        let destinations: Vec<_> = transfers
            .iter()
            .map(|t| json!({"amount": t.amount.atomic(), "address": t.address}))
            .collect();
        let r: TransferResult = self
            .rpc
            .call(
                "/json_rpc",
                "transfer",
                json!({
                    "destinations": destinations,
                    "priority": 0,
                    "ring_size": 16,
                    "get_tx_key": true,
                    "do_not_relay": true,
                    "get_tx_metadata": true,
                }),
            )
            .await
            .map_err(classify_build)?;
        if r.tx_metadata.is_empty() {
            return Err(WalletError::Rejected {
                message: "the wallet returned no tx_metadata for a do_not_relay transfer".into(),
                bad_address: false,
            });
        }
        Ok(Prepared {
            tx_hash: r.tx_hash,
            fee: Amount::from_atomic(r.fee),
            signed: r.tx_metadata,
        })
    }

    async fn broadcast(&self, prepared: &Prepared) -> Result<(), WalletError> {
        let r: RelayResult = self
            .rpc
            .call("/json_rpc", "relay_tx", json!({"hex": prepared.signed}))
            .await
            .map_err(classify_relay)?;
        if r.tx_hash != prepared.tx_hash {
            // Cannot happen for metadata the wallet built; if it does, the record and
            // the network disagree and the operator must look.
            return Err(WalletError::Unknown(format!(
                "relay_tx published {} but {} was prepared",
                r.tx_hash, prepared.tx_hash
            )));
        }
        Ok(())
    }

    async fn tx_status(&self, tx_hash: &str) -> Result<TxStatus, WalletError> {
        if self.daemons.is_empty() {
            return self.wallet_tx_status(tx_hash).await;
        }
        let mut last_error = None;
        for daemon in &self.daemons {
            let location = match daemon.transaction_location(tx_hash).await {
                Ok(l) => l,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            return Ok(match location {
                None => TxStatus::Unknown,
                Some(TxLocation::Pool) => TxStatus::InPool,
                Some(TxLocation::Block(height)) => {
                    let count = match daemon.get_info().await {
                        Ok(info) => info.height,
                        Err(e) => {
                            last_error = Some(e);
                            continue;
                        }
                    };
                    TxStatus::Mined {
                        confirmations: count.saturating_sub(height).max(1),
                    }
                }
            });
        }
        Err(WalletError::Unavailable(format!(
            "no daemon answered get_transactions: {}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    async fn find_sent(
        &self,
        transfers: &[Transfer],
        since_ms: i64,
    ) -> Result<Option<Sent>, WalletError> {
        let r: TransfersResult = self
            .rpc
            .call(
                "/json_rpc",
                "get_transfers",
                json!({"out": true, "pending": true, "pool": true}),
            )
            .await
            .map_err(classify_read)?;
        let mut wanted: Vec<Destination> = transfers
            .iter()
            .map(|t| Destination {
                address: t.address.clone(),
                amount: t.amount.atomic(),
            })
            .collect();
        wanted.sort();
        // Wallet timestamps are seconds and may lag the node's clock a little.
        let since = since_ms / 1000 - 300;
        let found = r
            .out
            .into_iter()
            .chain(r.pending)
            .chain(r.pool)
            .filter(|e| e.timestamp == 0 || e.timestamp >= since)
            .find(|e| {
                let mut d = e.destinations.clone();
                d.sort();
                d == wanted
            });
        Ok(found.map(|e| Sent {
            tx_hash: e.txid,
            fee: Amount::from_atomic(e.fee),
        }))
    }

    async fn check(&self) -> Result<(), WalletError> {
        let _: serde_json::Value = self
            .rpc
            .call("/json_rpc", "get_height", json!({}))
            .await
            .map_err(classify_read)?;
        Ok(())
    }

    async fn received(&self, address: &str) -> Result<Amount, WalletError> {
        let r: serde_json::Value = self
            .rpc
            .call(
                "/json_rpc",
                "get_transfers",
                json!({"in": true, "all_accounts": true}),
            )
            .await
            .map_err(classify_read)?;
        sum_received(&r, address)
    }
}

/// Σ confirmed incoming transfers (`type` "in", not "block") to `address` in a
/// `get_transfers` result.
fn sum_received(result: &serde_json::Value, address: &str) -> Result<Amount, WalletError> {
    let mut total: u128 = 0;
    for t in result["in"].as_array().into_iter().flatten() {
        if t["type"] == "in" && t["address"] == address {
            let amount = t["amount"].as_u64().ok_or_else(|| {
                WalletError::Unavailable(format!("get_transfers: transfer without an amount: {t}"))
            })?;
            total += u128::from(amount);
        }
    }
    u64::try_from(total)
        .map(Amount::from_atomic)
        .map_err(|_| WalletError::Unavailable("received total overflows u64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_counts_incoming_transfers_to_the_address_only() {
        let sample: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../shared/samples/xmr_wallet_get_transfers_in.json"
        ))
        .unwrap();
        let result = &sample["result"];
        let address = result["in"][0]["address"].as_str().unwrap();
        // The capture holds block rewards only: they are not payments received.
        assert_eq!(sum_received(result, address).unwrap(), Amount::ZERO);
        let mut paid = result.clone();
        paid["in"][0]["type"] = json!("in");
        paid["in"][1]["type"] = json!("in");
        paid["in"][1]["address"] = json!("someone else");
        let first = result["in"][0]["amount"].as_u64().unwrap();
        assert_eq!(sum_received(&paid, address).unwrap().atomic(), first);
    }

    fn remote(code: i64, message: &str) -> RpcError {
        RpcError::Remote {
            method: "transfer".into(),
            code,
            message: message.into(),
        }
    }

    #[test]
    fn building_errors_from_the_wallets_daemon_are_retried_not_failed() {
        // Seen in CI: the wallet could not read fork heights from monerod while it was
        // restarting. Nothing was built; the payout must wait, not be failed.
        let e = classify_build(remote(-4, "Failed to get earliest fork height"));
        assert!(matches!(e, WalletError::Unavailable(_)), "{e:?}");
        let e = classify_build(remote(-38, "no connection to daemon"));
        assert!(matches!(e, WalletError::Unavailable(_)), "{e:?}");
        let e = classify_build(remote(-37, "not enough unlocked money"));
        assert!(matches!(e, WalletError::InsufficientFunds(_)), "{e:?}");
    }

    #[test]
    fn a_bad_destination_is_named_as_such() {
        let e = classify_build(remote(-2, "WALLET_RPC_ERROR_CODE_WRONG_ADDRESS"));
        assert!(matches!(
            e,
            WalletError::Rejected {
                bad_address: true,
                ..
            }
        ));
    }

    #[test]
    fn an_interrupted_relay_is_unknown_and_a_refused_one_rejected() {
        let timeout = RpcError::Unreachable {
            url: "http://w".into(),
            message: "operation timed out".into(),
            connect_failed: false,
        };
        assert!(matches!(classify_relay(timeout), WalletError::Unknown(_)));
        let refused_connect = RpcError::Unreachable {
            url: "http://w".into(),
            message: "connection refused".into(),
            connect_failed: true,
        };
        assert!(matches!(
            classify_relay(refused_connect),
            WalletError::Unavailable(_)
        ));
        assert!(matches!(
            classify_relay(remote(-4, "Failed to commit tx.")),
            WalletError::Rejected { .. }
        ));
    }
}
