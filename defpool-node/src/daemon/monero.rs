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
        let r: HeaderResult = self
            .rpc
            .call("/json_rpc", "get_last_block_header", json!({}))
            .await?;
        Ok(r.block_header)
    }

    pub async fn block_header_by_height(&self, height: u64) -> Result<BlockHeader, RpcError> {
        let r: HeaderResult = self
            .rpc
            .call(
                "/json_rpc",
                "get_block_header_by_height",
                json!({ "height": height }),
            )
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

/// monerod's `get_block_template` answer (the fields the pool uses).
#[derive(Clone, Debug, Deserialize)]
pub struct MoneroBlockTemplate {
    pub blocktemplate_blob: String,
    #[serde(default)]
    pub blockhashing_blob: String,
    pub difficulty: u64,
    /// Full difficulty as `0x…` hex when it exceeds 64 bits.
    #[serde(default)]
    pub wide_difficulty: Option<String>,
    pub height: u64,
    pub prev_hash: String,
    pub reserved_offset: usize,
    pub seed_hash: String,
    #[serde(default)]
    pub next_seed_hash: String,
    pub expected_reward: u64,
}

impl MoneroBlockTemplate {
    /// The network difficulty, wide when monerod gave it.
    pub fn network_difficulty(&self) -> u128 {
        self.wide_difficulty
            .as_deref()
            .and_then(|h| u128::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            .unwrap_or(u128::from(self.difficulty))
    }
}

/// Where a daemon sees a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxLocation {
    Pool,
    /// Mined at this height.
    Block(u64),
}

#[derive(Deserialize)]
struct TransactionsResult {
    #[serde(default)]
    status: String,
    #[serde(default)]
    txs: Vec<TransactionEntry>,
}

#[derive(Deserialize)]
struct TransactionEntry {
    tx_hash: String,
    #[serde(default)]
    in_pool: bool,
    #[serde(default)]
    block_height: u64,
}

/// `get_info`'s chain position, for new-block detection and lag checks.
#[derive(Clone, Debug, Deserialize)]
pub struct MoneroInfo {
    /// Block count (the next block's height).
    pub height: u64,
    pub top_block_hash: String,
    #[serde(default)]
    pub difficulty: u64,
}

impl MoneroDaemon {
    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    pub async fn get_info(&self) -> Result<MoneroInfo, RpcError> {
        // get_info is also on /json_rpc; the answer carries a status field we ignore.
        self.rpc.call("/json_rpc", "get_info", json!({})).await
    }

    pub async fn get_block_template(
        &self,
        wallet_address: &str,
        reserve_size: usize,
    ) -> Result<MoneroBlockTemplate, RpcError> {
        self.rpc
            .call(
                "/json_rpc",
                "get_block_template",
                json!({"wallet_address": wallet_address, "reserve_size": reserve_size}),
            )
            .await
    }

    /// Where a transaction is, from `/get_transactions`: `None` when this daemon has
    /// never seen it (neither in its pool nor in the chain).
    pub async fn transaction_location(
        &self,
        tx_hash: &str,
    ) -> Result<Option<TxLocation>, RpcError> {
        let r: TransactionsResult = self
            .rpc
            .post_json("/get_transactions", json!({"txs_hashes": [tx_hash]}))
            .await?;
        if r.status != "OK" {
            return Err(RpcError::Remote {
                method: "get_transactions".into(),
                code: 0,
                message: r.status,
            });
        }
        let Some(tx) = r.txs.into_iter().find(|t| t.tx_hash == tx_hash) else {
            return Ok(None);
        };
        Ok(Some(if tx.in_pool {
            TxLocation::Pool
        } else {
            TxLocation::Block(tx.block_height)
        }))
    }

    /// Submits a block blob. monerod answers -7 "Block not accepted" for stale and
    /// too-weak blocks and -6 for an undecodable blob; those come back as `Remote`.
    pub async fn submit_block(&self, blob_hex: &str) -> Result<(), RpcError> {
        let _: serde_json::Value = self
            .rpc
            .call("/json_rpc", "submit_block", json!([blob_hex]))
            .await?;
        Ok(())
    }
}
