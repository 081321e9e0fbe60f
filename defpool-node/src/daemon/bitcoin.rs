//! Bitcoin-family daemons (bitcoind, litecoind) as far as the ledger needs them.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::{ChainView, JsonRpcClient, RpcError};

pub struct BitcoinDaemon {
    rpc: JsonRpcClient,
}

impl BitcoinDaemon {
    pub fn new(url: &str, user: &str, password: &str) -> Result<Self, RpcError> {
        Ok(BitcoinDaemon {
            rpc: JsonRpcClient::new(url, user, password, Duration::from_secs(10))?,
        })
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
