//! The captured cpuminer / SRI sessions as test vectors: every share with the job it
//! was mined on, what the stub pool computed for it, and whether litecoind took it as
//! a block.

use serde_json::Value;

use crate::stratum::bitcoin::{parse_request, ClientRequest, Notify, SubmitParams};

pub(crate) const CPUMINER_SCRYPT_SESSION: &str =
    include_str!("../../../tests/fixtures/cpuminer_scrypt_session.jsonl");
pub(crate) const CPUMINER_SHA256D_SESSION: &str =
    include_str!("../../../tests/fixtures/cpuminer_sha256d_session.jsonl");
pub(crate) const SRI_SV1_SESSION: &str =
    include_str!("../../../tests/fixtures/sri_mining_device_sv1_session.jsonl");

pub(crate) const LTC_GBT: &str = include_str!("../../../tests/fixtures/ltc_gbt.json");
pub(crate) const LTC_GBT_WITH_TX: &str =
    include_str!("../../../tests/fixtures/ltc_gbt_with_tx.json");
pub(crate) const LTC_GBT_MWEB_FIRST: &str =
    include_str!("../../../tests/fixtures/ltc_gbt_mweb_first.json");
pub(crate) const LTC_GBT_MWEB_ACTIVE: &str =
    include_str!("../../../tests/fixtures/ltc_gbt_mweb_active.json");

/// One submitted share and everything the session recorded about it.
#[derive(Clone, Debug)]
pub(crate) struct CapturedShare {
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    /// The stratum difficulty in force when it was submitted.
    pub difficulty: f64,
    /// The job the share names.
    pub notify: Notify,
    pub submit: SubmitParams,
    /// The 80-byte header the stub hashed, hex.
    pub header: String,
    /// The stub's proof-of-work hash, display order.
    pub hash: String,
    /// litecoind's id of the block it became, display order, when it was submitted.
    pub block_hash: Option<String>,
}

/// Every `mining.submit` of a captured session, in order.
pub(crate) fn captured_shares(jsonl: &str) -> Vec<CapturedShare> {
    let mut extranonce1 = Vec::new();
    let mut extranonce2_size = 0;
    let mut difficulty = 0.0;
    let mut jobs: Vec<Notify> = Vec::new();
    let mut shares: Vec<CapturedShare> = Vec::new();
    let mut pending: Option<SubmitParams> = None;
    for line in jsonl.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let msg = &record["msg"];
        match record["dir"].as_str().unwrap() {
            "recv" => {
                let wire = serde_json::to_vec(msg).unwrap();
                if let (_, ClientRequest::Submit(submit)) = parse_request(&wire).unwrap() {
                    pending = Some(submit);
                }
            }
            "send" => match msg["method"].as_str() {
                Some("mining.notify") => {
                    jobs.push(serde_json::from_value(msg["params"].clone()).unwrap())
                }
                Some("mining.set_difficulty") => {
                    difficulty = msg["params"][0].as_f64().unwrap();
                }
                _ => {
                    // The subscribe result carries the extranonce.
                    if let Some(en1) = msg["result"].get(1).and_then(Value::as_str) {
                        extranonce1 = hex::decode(en1).unwrap();
                        extranonce2_size = msg["result"][2].as_u64().unwrap() as usize;
                    }
                }
            },
            "check" => {
                let submit = pending.take().unwrap();
                let notify = jobs
                    .iter()
                    .rev()
                    .find(|j| j.job_id == submit.job_id)
                    .unwrap()
                    .clone();
                shares.push(CapturedShare {
                    extranonce1: extranonce1.clone(),
                    extranonce2_size,
                    difficulty,
                    notify,
                    submit,
                    header: msg["header"].as_str().unwrap().to_string(),
                    hash: msg["hash"].as_str().unwrap().to_string(),
                    block_hash: None,
                });
                assert_eq!(msg["share_ok"], true);
            }
            "submitblock" => {
                assert_eq!(msg["result"], Value::Null, "litecoind accepted it");
                let last = shares.last_mut().unwrap();
                last.block_hash = Some(msg["hash"].as_str().unwrap().to_string());
            }
            other => panic!("unknown record {other}"),
        }
    }
    shares
}
