//! `getblocktemplate` as a Bitcoin-family daemon returns it, and the decoded template
//! jobs are built from.
//!
//! [`GetBlockTemplate`] mirrors the JSON (the fields a pool uses; others are ignored).
//! [`Template::from_gbt`] checks and decodes it once per template, so building a job
//! and assembling a block never parse hex again. Fields follow litecoind 0.21 (the
//! captured samples) and Bitcoin Core; Litecoin adds `mweb`, the MWEB block to append
//! after the transactions once MWEB is active.

use serde::{Deserialize, Serialize};

use crate::pow::bitcoin::{hash_from_display_hex, CompactTarget, Target, TargetError};
use crate::units::Amount;

/// The `getblocktemplate` result, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlockTemplate {
    /// Block version, with the version bits of deployments being signalled.
    pub version: u32,
    /// Display order (reversed), hex.
    pub previousblockhash: String,
    #[serde(default)]
    pub transactions: Vec<GbtTransaction>,
    /// Subsidy plus fees, in atomic units: what the coinbase may pay out.
    pub coinbasevalue: u64,
    /// Compact network target, 8 hex digits big-endian.
    pub bits: String,
    /// The daemon's time; the job's ntime starts here.
    pub curtime: u64,
    /// Earliest time the block may carry (median time past + 1).
    #[serde(default)]
    pub mintime: Option<u64>,
    pub height: u64,
    /// Script of the segwit commitment output, hex, when segwit is active.
    #[serde(default)]
    pub default_witness_commitment: Option<String>,
    /// Active rules; a `!` prefix means a client that does not know the rule must not
    /// use the template.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Litecoin: the serialized MWEB block, hex, once MWEB is active.
    #[serde(default)]
    pub mweb: Option<String>,
    /// The network target as 64 hex digits (redundant with `bits`).
    #[serde(default)]
    pub target: Option<String>,
    /// For long polling: pass it back to wait for the next template.
    #[serde(default)]
    pub longpollid: Option<String>,
}

/// One transaction of a template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GbtTransaction {
    /// The transaction as it goes into the block (with witness), hex.
    pub data: String,
    /// Txid, display order. Daemons before segwit only sent `hash`, which then was the
    /// txid.
    #[serde(default)]
    pub txid: Option<String>,
    /// Witness txid (wtxid), display order.
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub fee: Option<i64>,
    #[serde(default)]
    pub weight: Option<u64>,
}

/// Rules with a `!` prefix this pool knows how to build blocks for: segwit (the
/// witness commitment) and Litecoin's mweb (the MWEB block after the transactions).
pub const SUPPORTED_REQUIRED_RULES: [&str; 2] = ["segwit", "mweb"];

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("getblocktemplate is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("template field `{field}` is not valid hex of the right length")]
    BadHex { field: String },
    #[error("template `bits`: {0}")]
    Bits(#[from] TargetError),
    #[error("template `{field}` = {value} does not fit a 32-bit header time")]
    TimeOutOfRange { field: &'static str, value: u64 },
    #[error("template transaction {index} has no `txid` nor `hash`")]
    MissingTxid { index: usize },
    /// The daemon requires understanding a rule this pool does not implement; a block
    /// built anyway would be invalid.
    #[error("template requires rule {rule:?}, which this pool does not support")]
    UnsupportedRule { rule: String },
    #[error("template height {0} is too large for a coinbase height push")]
    HeightOutOfRange(u64),
}

/// A template transaction, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct TemplateTransaction {
    /// The bytes that go into the block as they are.
    pub data: Vec<u8>,
    /// Txid, internal order: the merkle leaf.
    pub txid: [u8; 32],
}

impl std::fmt::Debug for TemplateTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateTransaction")
            .field(
                "txid",
                &crate::pow::bitcoin::hash_to_display_hex(&self.txid),
            )
            .field("len", &self.data.len())
            .finish()
    }
}

/// A checked and decoded block template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub version: u32,
    /// Previous block hash, internal order (as in the header).
    pub prev_hash: [u8; 32],
    pub bits: CompactTarget,
    /// The network target `bits` stands for: a share meeting it is a block candidate.
    pub target: Target,
    pub curtime: u32,
    /// Earliest allowed ntime; `curtime` when the daemon sent none.
    pub mintime: u32,
    pub height: u64,
    pub coinbase_value: Amount,
    pub transactions: Vec<TemplateTransaction>,
    /// The segwit commitment output script, when segwit is active.
    pub witness_commitment: Option<Vec<u8>>,
    /// Litecoin's serialized MWEB block, when MWEB is active.
    pub mweb: Option<Vec<u8>>,
    pub rules: Vec<String>,
    pub longpollid: Option<String>,
}

/// Heights up to 2^31 - 1 have a 4-byte (or shorter) script number; no chain is near.
const MAX_HEIGHT: u64 = 0x7fff_ffff;

impl Template {
    /// Parses the `result` of `getblocktemplate` from JSON text.
    pub fn from_json(json: &str) -> Result<Template, TemplateError> {
        let gbt: GetBlockTemplate =
            serde_json::from_str(json).map_err(|e| TemplateError::Json(e.to_string()))?;
        Template::from_gbt(&gbt)
    }

    /// Checks and decodes a template.
    pub fn from_gbt(gbt: &GetBlockTemplate) -> Result<Template, TemplateError> {
        for rule in &gbt.rules {
            if let Some(required) = rule.strip_prefix('!') {
                if !SUPPORTED_REQUIRED_RULES.contains(&required) {
                    return Err(TemplateError::UnsupportedRule { rule: rule.clone() });
                }
            }
        }
        let bad_hex = |field: &str| TemplateError::BadHex {
            field: field.to_string(),
        };
        let prev_hash = hash_from_display_hex(&gbt.previousblockhash)
            .ok_or_else(|| bad_hex("previousblockhash"))?;
        let bits = CompactTarget::from_hex(&gbt.bits)?;
        let target = bits.to_target()?;
        let time = |field: &'static str, value: u64| {
            u32::try_from(value).map_err(|_| TemplateError::TimeOutOfRange { field, value })
        };
        let curtime = time("curtime", gbt.curtime)?;
        let mintime = match gbt.mintime {
            Some(m) => time("mintime", m)?,
            None => curtime,
        };
        if gbt.height > MAX_HEIGHT {
            return Err(TemplateError::HeightOutOfRange(gbt.height));
        }
        let transactions = gbt
            .transactions
            .iter()
            .enumerate()
            .map(|(index, tx)| {
                let data = hex::decode(&tx.data)
                    .map_err(|_| bad_hex(&format!("transactions[{index}].data")))?;
                let shown = tx
                    .txid
                    .as_deref()
                    .or(tx.hash.as_deref())
                    .ok_or(TemplateError::MissingTxid { index })?;
                let txid = hash_from_display_hex(shown)
                    .ok_or_else(|| bad_hex(&format!("transactions[{index}].txid")))?;
                Ok(TemplateTransaction { data, txid })
            })
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let witness_commitment = gbt
            .default_witness_commitment
            .as_deref()
            .map(|h| hex::decode(h).map_err(|_| bad_hex("default_witness_commitment")))
            .transpose()?;
        let mweb = gbt
            .mweb
            .as_deref()
            .map(|h| hex::decode(h).map_err(|_| bad_hex("mweb")))
            .transpose()?;
        Ok(Template {
            version: gbt.version,
            prev_hash,
            bits,
            target,
            curtime,
            mintime,
            height: gbt.height,
            coinbase_value: Amount::from_atomic(gbt.coinbasevalue),
            transactions,
            witness_commitment,
            mweb,
            rules: gbt.rules.clone(),
            longpollid: gbt.longpollid.clone(),
        })
    }

    /// Txids of the template's transactions in block order (internal byte order).
    pub fn txids(&self) -> Vec<[u8; 32]> {
        self.transactions.iter().map(|t| t.txid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{
        LTC_GBT, LTC_GBT_MWEB_ACTIVE, LTC_GBT_MWEB_FIRST, LTC_GBT_WITH_TX,
    };
    use super::*;
    use crate::pow::bitcoin::{hash_to_display_hex, sha256d};

    #[test]
    fn pre_mweb_template() {
        let t = Template::from_json(LTC_GBT).unwrap();
        assert_eq!(t.version, 0x2000_0000);
        assert_eq!(t.height, 102);
        assert_eq!(t.bits, CompactTarget(0x207fffff));
        assert_eq!(
            t.target,
            Target::from_hex("7fffff0000000000000000000000000000000000000000000000000000000000")
                .unwrap()
        );
        assert_eq!(t.curtime, 1_795_615_682);
        assert_eq!(t.mintime, 1_795_615_676);
        assert_eq!(t.coinbase_value, Amount::from_atomic(5_000_000_000));
        assert!(t.transactions.is_empty());
        assert_eq!(
            hash_to_display_hex(&t.prev_hash),
            "dc511b42cfb33f3c8a86450e35b4add604b4a2471e020d8563ef47a8fb9d1ad7"
        );
        assert_eq!(
            t.witness_commitment.as_deref().map(hex::encode).as_deref(),
            Some("6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9")
        );
        assert_eq!(t.mweb, None);
    }

    #[test]
    fn template_transactions_keep_their_bytes_and_txid() {
        let t = Template::from_json(LTC_GBT_WITH_TX).unwrap();
        assert_eq!(t.transactions.len(), 1);
        let tx = &t.transactions[0];
        assert_eq!(
            hash_to_display_hex(&tx.txid),
            "10a618d446ed5ee54b538175bcba682f15ae075dda3727e70f7ac123903d9a82"
        );
        // The data is the witness serialization: its hash is the wtxid, not the txid.
        assert_eq!(
            hash_to_display_hex(&sha256d(&tx.data)),
            "63a4a9f1987d19120fa56b989cd8a2ae5d832f4f816fd66d8817eef37e1be127"
        );
        assert_eq!(t.coinbase_value, Amount::from_atomic(5_000_001_410));
    }

    #[test]
    fn mweb_templates_carry_the_hogex_and_the_mweb_block() {
        let first = Template::from_json(LTC_GBT_MWEB_FIRST).unwrap();
        assert_eq!(first.height, 432);
        assert_eq!(first.transactions.len(), 2);
        // The HogEx is last; its txid equals its hash (it has no witness).
        let hogex = &first.transactions[1];
        assert_eq!(
            hash_to_display_hex(&hogex.txid),
            "f83a4b0ca08c8884578e3c801a857d894d065c28d5e910dfd333010412e8ec34"
        );
        assert!(first.mweb.as_ref().is_some_and(|m| m.len() > 1000));
        let active = Template::from_json(LTC_GBT_MWEB_ACTIVE).unwrap();
        assert_eq!(active.transactions.len(), 1);
        assert_eq!(active.mweb.as_ref().map(Vec::len), Some(167));
        assert!(active.rules.iter().any(|r| r == "mweb"));
    }

    #[test]
    fn unknown_required_rules_are_refused() {
        let mut gbt: GetBlockTemplate = serde_json::from_str(LTC_GBT).unwrap();
        gbt.rules.push("!futurefork".into());
        assert_eq!(
            Template::from_gbt(&gbt),
            Err(TemplateError::UnsupportedRule {
                rule: "!futurefork".into()
            })
        );
        // Rules without `!` may be ignored.
        gbt.rules.pop();
        gbt.rules.push("signet".into());
        assert!(Template::from_gbt(&gbt).is_ok());
    }

    #[test]
    fn malformed_fields_are_named() {
        let gbt: GetBlockTemplate = serde_json::from_str(LTC_GBT).unwrap();
        let with = |f: &dyn Fn(&mut GetBlockTemplate)| {
            let mut g = gbt.clone();
            f(&mut g);
            Template::from_gbt(&g)
        };
        assert_eq!(
            with(&|g| g.previousblockhash.truncate(10)),
            Err(TemplateError::BadHex {
                field: "previousblockhash".into()
            })
        );
        assert!(matches!(
            with(&|g| g.bits = "zz".into()),
            Err(TemplateError::Bits(_))
        ));
        assert!(matches!(
            with(&|g| g.bits = "04923456".into()),
            Err(TemplateError::Bits(TargetError::Negative(_)))
        ));
        assert_eq!(
            with(&|g| g.curtime = 1 << 32),
            Err(TemplateError::TimeOutOfRange {
                field: "curtime",
                value: 1 << 32
            })
        );
        assert_eq!(
            with(&|g| g.transactions.push(GbtTransaction {
                data: "00".into(),
                txid: None,
                hash: None,
                fee: None,
                weight: None
            })),
            Err(TemplateError::MissingTxid { index: 0 })
        );
        assert_eq!(
            with(&|g| g.default_witness_commitment = Some("6a2".into())),
            Err(TemplateError::BadHex {
                field: "default_witness_commitment".into()
            })
        );
        assert!(matches!(
            Template::from_json("{\"version\": 1}"),
            Err(TemplateError::Json(_))
        ));
        assert_eq!(
            with(&|g| g.height = 1 << 40),
            Err(TemplateError::HeightOutOfRange(1 << 40))
        );
    }
}
