//! monerod's JSON-RPC as far as the ledger needs it.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{ChainView, JsonRpcClient, RpcError};

pub struct MoneroDaemon {
    rpc: JsonRpcClient,
}

#[derive(Deserialize)]
struct HeaderResult {
    block_header: BlockHeader,
}

/// The fields of monerod's `block_header` the node reads.
#[derive(Clone, Debug, Deserialize)]
pub struct BlockHeader {
    pub height: u64,
    pub hash: String,
    #[serde(default)]
    pub reward: u64,
    #[serde(default)]
    pub difficulty: u64,
}

impl MoneroDaemon {
    pub fn new(url: &str) -> Result<Self, RpcError> {
        Ok(MoneroDaemon {
            rpc: JsonRpcClient::new(url, "", "", Duration::from_secs(10))?,
        })
    }

    pub async fn last_block_header(&self) -> Result<BlockHeader, RpcError> {
        let r: HeaderResult = self.rpc.call("/json_rpc", "get_last_block_header", json!({})).await?;
        Ok(r.block_header)
    }

    pub async fn block_header_by_height(&self, height: u64) -> Result<BlockHeader, RpcError> {
        let r: HeaderResult = self
            .rpc
            .call("/json_rpc", "get_block_header_by_height", json!({ "height": height }))
            .await?;
        Ok(r.block_header)
    }
}

#[async_trait]
impl ChainView for MoneroDaemon {
    async fn tip_height(&self) -> Result<u64, RpcError> {
        Ok(self.last_block_header().await?.height)
    }

    async fn block_hash(&self, height: u64) -> Result<Option<String>, RpcError> {
        match self.block_header_by_height(height).await {
            Ok(h) => Ok(Some(h.hash)),
            // -2: "Requested block height: H greater than current top block height"
            Err(RpcError::Remote { code: -2, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
