//! monero-wallet-rpc as a [`Wallet`]: `transfer` to many destinations, and
//! `get_transfers` to find what was sent before a crash.

use std::time::Duration;

use async_trait::async_trait;
use defpool_core::Amount;
use serde::Deserialize;
use serde_json::json;

use super::wallet::{Sent, Transfer, Wallet, WalletError};
use crate::daemon::{JsonRpcClient, RpcError};

/// monero-wallet-rpc error codes the processor treats specially
/// (wallet_rpc_server_error_codes.h).
const WRONG_ADDRESS: i64 = -2;
const DAEMON_IS_BUSY: i64 = -3;
const NOT_OPEN: i64 = -13;
const TX_NOT_POSSIBLE: i64 = -16;
const NOT_ENOUGH_MONEY: i64 = -17;
const ZERO_DESTINATION: i64 = -20;
const NOT_ENOUGH_UNLOCKED_MONEY: i64 = -37;

pub struct MoneroWallet {
    rpc: JsonRpcClient,
}

#[derive(Deserialize)]
struct TransferResult {
    tx_hash: String,
    fee: u64,
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
    pub fn new(url: &str, user: &str, password: &str) -> Result<Self, WalletError> {
        // A transfer builds and signs a transaction: give it far longer than a read.
        let rpc = JsonRpcClient::new(url, user, password, Duration::from_secs(120))
            .map_err(|e| WalletError::Unavailable(e.to_string()))?;
        Ok(MoneroWallet { rpc })
    }
}

fn classify(e: RpcError, sending: bool) -> WalletError {
    match e {
        RpcError::Remote { code, message, .. } => match code {
            WRONG_ADDRESS | ZERO_DESTINATION => WalletError::Rejected {
                message,
                bad_address: true,
            },
            // Locked coinbase or change outputs: the money is there, just not yet.
            NOT_ENOUGH_MONEY | NOT_ENOUGH_UNLOCKED_MONEY | TX_NOT_POSSIBLE => {
                WalletError::InsufficientFunds(message)
            }
            // Nothing was sent; the operator has to open the wallet or the daemon to
            // catch up, so wait instead of failing every payout.
            NOT_OPEN | DAEMON_IS_BUSY => {
                WalletError::Unavailable(format!("code {code}: {message}"))
            }
            _ => WalletError::Rejected {
                message: format!("code {code}: {message}"),
                bad_address: false,
            },
        },
        RpcError::Unreachable {
            message,
            connect_failed: false,
            ..
        } if sending => {
            // The request may have reached the wallet (timeout, reset mid-answer).
            WalletError::Unknown(message)
        }
        RpcError::Unreachable { message, .. } => WalletError::Unavailable(message),
        other if sending => WalletError::Unknown(other.to_string()),
        other => WalletError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl Wallet for MoneroWallet {
    async fn send(&self, transfers: &[Transfer]) -> Result<Sent, WalletError> {
        let destinations: Vec<_> = transfers
            .iter()
            .map(|t| json!({"amount": t.amount.atomic(), "address": t.address}))
            .collect();
        let r: TransferResult = self
            .rpc
            .call(
                "/json_rpc",
                "transfer",
                json!({"destinations": destinations, "priority": 0, "ring_size": 16, "get_tx_key": true}),
            )
            .await
            .map_err(|e| classify(e, true))?;
        Ok(Sent {
            tx_hash: r.tx_hash,
            fee: Amount::from_atomic(r.fee),
        })
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
            .map_err(|e| classify(e, false))?;
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

    async fn confirmations(&self, tx_hash: &str) -> Result<Option<u64>, WalletError> {
        match self
            .rpc
            .call::<serde_json::Value>(
                "/json_rpc",
                "get_transfer_by_txid",
                json!({"txid": tx_hash}),
            )
            .await
        {
            // In the pool (unconfirmed) the entry has no confirmations field yet.
            Ok(v) => Ok(Some(v["transfer"]["confirmations"].as_u64().unwrap_or(0))),
            // -8 WRONG_TXID: the wallet does not know the transaction.
            Err(RpcError::Remote { code: -8, .. }) => Ok(None),
            Err(e) => Err(classify(e, false)),
        }
    }

    async fn check(&self) -> Result<(), WalletError> {
        let _: serde_json::Value = self
            .rpc
            .call("/json_rpc", "get_height", json!({}))
            .await
            .map_err(|e| classify(e, false))?;
        Ok(())
    }
}
