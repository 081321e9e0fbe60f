//! A Bitcoin-family daemon's wallet (bitcoind, litecoind) as a [`Wallet`].
//!
//! One `sendmany` would build, sign and broadcast in a single call, and a timeout
//! would leave open whether the coins left. Instead the transaction is built
//! (`createrawtransaction` with one output per payout, `fundrawtransaction` adds inputs
//! and change, the pool paying the network fee), signed
//! (`signrawtransactionwithwallet`) and only then, after the node recorded it,
//! broadcast with `sendrawtransaction`. Republishing the same signed bytes is
//! harmless, so an unclear broadcast is settled by asking the wallet and the mempool.

use std::time::Duration;

use async_trait::async_trait;
use defpool_core::{Amount, CoinSpec};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::wallet::{Prepared, Sent, Transfer, TxStatus, Wallet, WalletError};
use crate::daemon::{JsonRpcClient, RpcError};

/// Bitcoin Core RPC error codes (src/rpc/protocol.h) the wallet treats specially.
const MISC_ERROR: i64 = -1;
const WALLET_ERROR: i64 = -4;
const INVALID_ADDRESS_OR_KEY: i64 = -5;
const WALLET_INSUFFICIENT_FUNDS: i64 = -6;
const WALLET_UNLOCK_NEEDED: i64 = -13;
const WALLET_NOT_FOUND: i64 = -18;
const WALLET_NOT_SPECIFIED: i64 = -19;
const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
const VERIFY_REJECTED: i64 = -26;
const IN_WARMUP: i64 = -28;

pub struct BitcoinWallet {
    rpc: JsonRpcClient,
    decimals: u8,
}

#[derive(Deserialize)]
struct Funded {
    hex: String,
    /// The fee in coins, e.g. `0.0000141`.
    fee: f64,
}

#[derive(Deserialize)]
struct Signed {
    hex: String,
    complete: bool,
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Deserialize)]
struct Decoded {
    txid: String,
}

impl BitcoinWallet {
    /// `url` is the wallet endpoint of the daemon (`http://host:port/wallet/NAME`);
    /// node calls such as `sendrawtransaction` are served there too.
    pub fn new(
        spec: &CoinSpec,
        url: &str,
        user: &str,
        password: &str,
        cookie_file: Option<&std::path::Path>,
    ) -> Result<Self, WalletError> {
        let mut rpc = JsonRpcClient::new(url, user, password, Duration::from_secs(60))
            .map_err(|e| WalletError::Unavailable(e.to_string()))?;
        if let Some(cookie) = cookie_file {
            rpc = rpc.with_cookie_file(cookie);
        }
        Ok(BitcoinWallet {
            rpc,
            decimals: spec.decimals,
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        self.rpc.call("", method, params).await
    }
}

/// Converts a fee the daemon gives in coins (a JSON number with at most `decimals`
/// places) to atomic units.
fn coins_to_atomic(coins: f64, decimals: u8) -> Result<Amount, WalletError> {
    let atomic = (coins * 10f64.powi(i32::from(decimals))).round();
    if !(0.0..9.0e15).contains(&atomic) {
        return Err(WalletError::Rejected {
            message: format!("the wallet reported an impossible fee {coins}"),
            bad_address: false,
        });
    }
    Ok(Amount::from_atomic(atomic as u64))
}

/// Errors while building and signing: nothing can have been broadcast.
fn classify_build(e: RpcError) -> WalletError {
    match e {
        RpcError::Remote { code, message, .. } => match code {
            // createrawtransaction: "Invalid Litecoin address: ..."
            INVALID_ADDRESS_OR_KEY => WalletError::Rejected {
                message,
                bad_address: true,
            },
            WALLET_INSUFFICIENT_FUNDS => WalletError::InsufficientFunds(message),
            // fundrawtransaction in 0.21 reports "Insufficient funds" as a wallet error.
            WALLET_ERROR if message.to_ascii_lowercase().contains("insufficient funds") => {
                WalletError::InsufficientFunds(message)
            }
            WALLET_ERROR | WALLET_UNLOCK_NEEDED | WALLET_NOT_FOUND | WALLET_NOT_SPECIFIED
            | IN_WARMUP | MISC_ERROR => WalletError::Unavailable(format!("code {code}: {message}")),
            _ => WalletError::Rejected {
                message: format!("code {code}: {message}"),
                bad_address: false,
            },
        },
        other => WalletError::Unavailable(other.to_string()),
    }
}

/// `sendrawtransaction` answers. "Already known" counts as success: the bytes are
/// the ones recorded, so the network having them is all that matters.
fn classify_broadcast(e: RpcError) -> Result<(), WalletError> {
    match e {
        RpcError::Remote { code, message, .. } => match code {
            VERIFY_ALREADY_IN_CHAIN => Ok(()),
            VERIFY_REJECTED
                if message.contains("txn-already-in-mempool")
                    || message.contains("txn-already-known") =>
            {
                Ok(())
            }
            IN_WARMUP | WALLET_NOT_FOUND | WALLET_NOT_SPECIFIED => {
                Err(WalletError::Unavailable(format!("code {code}: {message}")))
            }
            _ => Err(WalletError::Rejected {
                message: format!("code {code}: {message}"),
                bad_address: false,
            }),
        },
        RpcError::Unreachable {
            connect_failed: true,
            message,
            ..
        } => Err(WalletError::Unavailable(message)),
        other => Err(WalletError::Unknown(other.to_string())),
    }
}

#[async_trait]
impl Wallet for BitcoinWallet {
    async fn prepare(&self, transfers: &[Transfer]) -> Result<Prepared, WalletError> {
        let mut outputs = Map::new();
        for t in transfers {
            // Exact decimal text: Bitcoin Core accepts amounts as strings, which keeps
            // the atomic value exact (no float on the way).
            let amount = Value::String(t.amount.to_decimal(self.decimals));
            if outputs.insert(t.address.clone(), amount).is_some() {
                return Err(WalletError::Rejected {
                    message: format!("{} appears twice in one payout transaction", t.address),
                    bad_address: true,
                });
            }
        }
        let raw: String = self
            .call("createrawtransaction", json!([[], outputs]))
            .await
            .map_err(classify_build)?;
        // The pool pays the fee (change absorbs it); no inputs are locked because no
        // second transaction is built while this one is unsettled.
        let funded: Funded = self
            .call("fundrawtransaction", json!([raw, {"lockUnspents": false}]))
            .await
            .map_err(classify_build)?;
        let signed: Signed = self
            .call("signrawtransactionwithwallet", json!([funded.hex]))
            .await
            .map_err(classify_build)?;
        if !signed.complete {
            return Err(WalletError::Unavailable(format!(
                "the wallet could not sign every input (locked wallet?): {}",
                Value::Array(signed.errors)
            )));
        }
        let decoded: Decoded = self
            .call("decoderawtransaction", json!([signed.hex]))
            .await
            .map_err(classify_build)?;
        Ok(Prepared {
            tx_hash: decoded.txid,
            fee: coins_to_atomic(funded.fee, self.decimals)?,
            signed: signed.hex,
        })
    }

    async fn broadcast(&self, prepared: &Prepared) -> Result<(), WalletError> {
        match self
            .call::<String>("sendrawtransaction", json!([prepared.signed]))
            .await
        {
            Ok(txid) if txid == prepared.tx_hash => Ok(()),
            Ok(txid) => Err(WalletError::Unknown(format!(
                "sendrawtransaction published {txid} but {} was prepared",
                prepared.tx_hash
            ))),
            Err(e) => classify_broadcast(e),
        }
    }

    async fn tx_status(&self, tx_hash: &str) -> Result<TxStatus, WalletError> {
        match self.call::<Value>("gettransaction", json!([tx_hash])).await {
            Ok(v) => {
                let confirmations = v["confirmations"].as_i64().unwrap_or(0);
                if confirmations > 0 {
                    return Ok(TxStatus::Mined {
                        confirmations: confirmations as u64,
                    });
                }
                // 0: in the mempool, or known to the wallet but dropped; negative:
                // conflicted by a mined transaction. The mempool decides.
                if confirmations < 0 {
                    return Ok(TxStatus::Unknown);
                }
            }
            // -5: not a wallet transaction (never broadcast through this wallet).
            Err(RpcError::Remote {
                code: INVALID_ADDRESS_OR_KEY,
                ..
            }) => {}
            Err(e) => return Err(WalletError::Unavailable(e.to_string())),
        }
        match self
            .call::<Value>("getmempoolentry", json!([tx_hash]))
            .await
        {
            Ok(_) => Ok(TxStatus::InPool),
            Err(RpcError::Remote {
                code: INVALID_ADDRESS_OR_KEY,
                ..
            }) => Ok(TxStatus::Unknown),
            Err(e) => Err(WalletError::Unavailable(e.to_string())),
        }
    }

    async fn find_sent(
        &self,
        _transfers: &[Transfer],
        _since_ms: i64,
    ) -> Result<Option<Sent>, WalletError> {
        // Only for payouts an older version left `processing` after sending in one
        // step; no version ever paid Bitcoin-family coins that way.
        Ok(None)
    }

    async fn check(&self) -> Result<(), WalletError> {
        let _: Value = self
            .call("getwalletinfo", json!([]))
            .await
            .map_err(|e| WalletError::Unavailable(e.to_string()))?;
        Ok(())
    }

    async fn received(&self, address: &str) -> Result<Amount, WalletError> {
        // Coinbase outputs are not counted by getreceivedbyaddress unless asked
        // (include_immature_coinbase defaults to false).
        let v: Value = self
            .call("getreceivedbyaddress", json!([address, 1]))
            .await
            .map_err(|e| WalletError::Unavailable(e.to_string()))?;
        let coins = v.as_f64().ok_or_else(|| {
            WalletError::Unavailable(format!("getreceivedbyaddress answered {v}"))
        })?;
        Amount::from_decimal(&format!("{coins:.8}"), 8)
            .map_err(|e| WalletError::Unavailable(format!("getreceivedbyaddress: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(code: i64, message: &str) -> RpcError {
        RpcError::Remote {
            method: "m".into(),
            code,
            message: message.into(),
        }
    }

    #[test]
    fn fees_in_coins_become_exact_atomic_units() {
        assert_eq!(coins_to_atomic(0.0000141, 8).unwrap().atomic(), 1410);
        assert_eq!(coins_to_atomic(0.00022600, 8).unwrap().atomic(), 22_600);
        assert!(coins_to_atomic(-1.0, 8).is_err());
    }

    #[test]
    fn a_bad_address_is_isolated_and_missing_funds_wait() {
        assert!(matches!(
            classify_build(remote(-5, "Invalid Litecoin address: x")),
            WalletError::Rejected {
                bad_address: true,
                ..
            }
        ));
        assert!(matches!(
            classify_build(remote(-4, "Insufficient funds")),
            WalletError::InsufficientFunds(_)
        ));
        assert!(matches!(
            classify_build(remote(-6, "Insufficient funds")),
            WalletError::InsufficientFunds(_)
        ));
        assert!(matches!(
            classify_build(remote(
                -18,
                "Requested wallet does not exist or is not loaded"
            )),
            WalletError::Unavailable(_)
        ));
    }

    #[test]
    fn republishing_known_bytes_is_success() {
        assert!(classify_broadcast(remote(-27, "Transaction already in block chain")).is_ok());
        assert!(classify_broadcast(remote(-26, "txn-already-in-mempool")).is_ok());
        assert!(matches!(
            classify_broadcast(remote(-25, "bad-txns-inputs-missingorspent")),
            Err(WalletError::Rejected { .. })
        ));
        let timeout = RpcError::Unreachable {
            url: "u".into(),
            message: "timed out".into(),
            connect_failed: false,
        };
        assert!(matches!(
            classify_broadcast(timeout),
            Err(WalletError::Unknown(_))
        ));
    }
}
