//! Bitcoin-family daemons (bitcoind, litecoind): chain view for the ledger, and the
//! calls mining needs (`getblocktemplate`, `submitblock`, new-block detection,
//! address checks). What differs between coins (the `getblocktemplate` rules) comes
//! from [`CoinSpec`] data.

use std::time::Duration;

use async_trait::async_trait;
use defpool_core::CoinSpec;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ChainView, JsonRpcClient, RpcError};

pub struct BitcoinDaemon {
    rpc: JsonRpcClient,
}

/// `getblockchaininfo`, the fields the node reads.
#[derive(Clone, Debug, Deserialize)]
pub struct ChainInfo {
    pub chain: String,
    pub blocks: u64,
    #[serde(default)]
    pub headers: u64,
    pub bestblockhash: String,
    #[serde(default)]
    pub difficulty: f64,
    #[serde(default)]
    pub initialblockdownload: bool,
}

/// `getmininginfo`, the fields the node reads.
#[derive(Clone, Debug, Deserialize)]
pub struct MiningInfo {
    pub blocks: u64,
    #[serde(default)]
    pub difficulty: f64,
    #[serde(default)]
    pub networkhashps: f64,
}

/// `validateaddress` as the daemon sees it.
#[derive(Clone, Debug, Deserialize)]
pub struct AddressCheck {
    pub isvalid: bool,
    #[serde(default, rename = "scriptPubKey")]
    pub script_pubkey: String,
    /// Litecoin: an MWEB address, which a coinbase cannot pay.
    #[serde(default)]
    pub ismweb: bool,
}

/// How a daemon answered `submitblock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    Accepted,
    /// Already known ("duplicate", "inconclusive" for a known side block).
    Duplicate,
    /// Refused with the daemon's reason (`high-hash`, `bad-txnmrklroot`, ...).
    Rejected(String),
}

impl BitcoinDaemon {
    pub fn new(url: &str, user: &str, password: &str) -> Result<Self, RpcError> {
        Ok(BitcoinDaemon {
            rpc: JsonRpcClient::new(url, user, password, Duration::from_secs(10))?,
        })
    }

    /// Authenticates with the daemon's `.cookie` file instead of a user and password.
    /// The file is read at each call, so a restarted daemon's new cookie is picked up.
    pub fn with_cookie_file(url: &str, cookie_file: &std::path::Path) -> Result<Self, RpcError> {
        Ok(BitcoinDaemon {
            rpc: JsonRpcClient::new(url, "", "", Duration::from_secs(10))?
                .with_cookie_file(cookie_file),
        })
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// `getblocktemplate` with the rules the coin needs. The raw answer is returned:
    /// parsing it into a job is pure logic and lives in `defpool-core`.
    pub async fn block_template(&self, spec: &CoinSpec) -> Result<Value, RpcError> {
        self.rpc
            .call("", "getblocktemplate", json!([{"rules": spec.gbt_rules}]))
            .await
    }

    /// Submits a block. Bitcoin Core reports a refusal as a result string and
    /// success as `null`; an undecodable block is error -22.
    pub async fn submit_block(&self, block_hex: &str) -> Result<SubmitOutcome, RpcError> {
        let v: Value = self.rpc.call("", "submitblock", json!([block_hex])).await?;
        Ok(match v.as_str() {
            None => SubmitOutcome::Accepted,
            Some("duplicate" | "duplicate-inconclusive" | "inconclusive") => {
                SubmitOutcome::Duplicate
            }
            Some(reason) => SubmitOutcome::Rejected(reason.to_string()),
        })
    }

    pub async fn best_block_hash(&self) -> Result<String, RpcError> {
        self.rpc.call("", "getbestblockhash", json!([])).await
    }

    pub async fn chain_info(&self) -> Result<ChainInfo, RpcError> {
        self.rpc.call("", "getblockchaininfo", json!([])).await
    }

    pub async fn mining_info(&self) -> Result<MiningInfo, RpcError> {
        self.rpc.call("", "getmininginfo", json!([])).await
    }

    pub async fn validate_address(&self, address: &str) -> Result<AddressCheck, RpcError> {
        self.rpc.call("", "validateaddress", json!([address])).await
    }
}

#[async_trait]
impl ChainView for BitcoinDaemon {
    async fn tip_height(&self) -> Result<u64, RpcError> {
        self.rpc.call("", "getblockcount", json!([])).await
    }

    async fn block_hash(&self, height: u64) -> Result<Option<String>, RpcError> {
        match self.rpc.call("", "getblockhash", json!([height])).await {
            Ok(h) => Ok(Some(h)),
            // -8: "Block height out of range"
            Err(RpcError::Remote { code: -8, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
