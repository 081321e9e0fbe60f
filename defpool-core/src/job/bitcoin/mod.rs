//! Bitcoin-family work: from `getblocktemplate` to `mining.notify`, and from a miner's
//! `mining.submit` back to the block `submitblock` takes.
//!
//! One [`BitcoinJob`] is built per template and shared by every session: the coinbase
//! is split around the extranonce ([`coinbase`]), so sessions differ only in their
//! extranonce1 and nothing per session is built until a share arrives. What the miner
//! is sent is the [`StratumWork`]; what only the pool needs for a block (the template's
//! transactions, the witness flag, Litecoin's MWEB block) stays in the job.
//!
//! Byte orders are the trap here, and each is pinned by a test against what a real
//! miner hashed: see [`header`] for the stratum encodings.

pub mod coinbase;
pub mod encode;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod header;
pub mod merkle;
pub mod script;
pub mod template;

use std::sync::Arc;

pub use coinbase::{build_coinbase, CoinbaseError, CoinbaseParts, CoinbaseSplit};
pub use encode::TxOut;
pub use header::BlockHeader;
pub use script::{script_pubkey_for, ScriptError, ScriptPubKey};
pub use template::{GetBlockTemplate, Template, TemplateError};

use crate::pow::bitcoin::{CompactTarget, Target};
use crate::stratum::bitcoin::Notify;
use crate::units::Amount;
use header::{
    prevhash_from_stratum, prevhash_to_stratum, u32_from_stratum_hex, u32_to_stratum_hex,
};

/// What a miner is given: the header fields and the coinbase around the extranonce.
/// Everything a share needs to be checked, whether the job came from a template or an
/// upstream pool's `mining.notify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StratumWork {
    /// Previous block hash, internal order.
    pub prev_hash: [u8; 32],
    pub coinbase: CoinbaseSplit,
    /// Siblings on the coinbase's path to the merkle root, internal order.
    pub merkle_branch: Vec<[u8; 32]>,
    /// The block version before any rolled bits.
    pub version: u32,
    pub bits: CompactTarget,
    /// The ntime the job starts at; miners may move it forward.
    pub ntime: u32,
}

/// Why an upstream `mining.notify` cannot be read as work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("mining.notify `{field}` is not valid hex of the right length")]
    BadField { field: &'static str },
}

impl StratumWork {
    /// The non-witness coinbase with the extranonces in place (its sha256d is the txid).
    pub fn coinbase_tx(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        self.coinbase.assemble(extranonce1, extranonce2)
    }

    /// The coinbase's txid: [`Self::coinbase_tx`] hashed piece by piece, without
    /// assembling it (this runs for every share).
    pub fn coinbase_txid(&self, extranonce1: &[u8], extranonce2: &[u8]) -> [u8; 32] {
        crate::pow::bitcoin::sha256d_parts(&[
            &self.coinbase.coinb1,
            extranonce1,
            extranonce2,
            &self.coinbase.coinb2,
        ])
    }

    /// The merkle root with this coinbase at leaf 0.
    pub fn merkle_root(&self, extranonce1: &[u8], extranonce2: &[u8]) -> [u8; 32] {
        let txid = self.coinbase_txid(extranonce1, extranonce2);
        merkle::root_from_branch(&txid, &self.merkle_branch)
    }

    /// The header a miner hashed: `version` is the final one (rolled bits applied, see
    /// [`crate::share::bitcoin::rolled_version`]); `ntime` and `nonce` are the submitted
    /// values.
    pub fn header(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
        version: u32,
        ntime: u32,
        nonce: u32,
    ) -> BlockHeader {
        BlockHeader {
            version,
            prev_hash: self.prev_hash,
            merkle_root: self.merkle_root(extranonce1, extranonce2),
            time: ntime,
            bits: self.bits,
            nonce,
        }
    }

    /// The `mining.notify` params for this work.
    pub fn notify(&self, job_id: &str, clean_jobs: bool) -> Notify {
        Notify {
            job_id: job_id.to_string(),
            prevhash: hex::encode(prevhash_to_stratum(&self.prev_hash)),
            coinb1: hex::encode(&self.coinbase.coinb1),
            coinb2: hex::encode(&self.coinbase.coinb2),
            merkle_branch: self.merkle_branch.iter().map(hex::encode).collect(),
            version: u32_to_stratum_hex(self.version),
            nbits: self.bits.to_hex(),
            ntime: u32_to_stratum_hex(self.ntime),
            clean_jobs,
        }
    }

    /// Reads work back from `mining.notify` params (an upstream pool's job in proxy
    /// mode; the captured sessions in tests).
    pub fn from_notify(notify: &Notify) -> Result<StratumWork, NotifyError> {
        let bad = |field| NotifyError::BadField { field };
        let mut stratum_prev = [0u8; 32];
        hex::decode_to_slice(&notify.prevhash, &mut stratum_prev).map_err(|_| bad("prevhash"))?;
        let coinb1 = hex::decode(&notify.coinb1).map_err(|_| bad("coinb1"))?;
        let coinb2 = hex::decode(&notify.coinb2).map_err(|_| bad("coinb2"))?;
        let merkle_branch = notify
            .merkle_branch
            .iter()
            .map(|h| {
                let mut node = [0u8; 32];
                hex::decode_to_slice(h, &mut node).map(|_| node)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("merkle_branch"))?;
        Ok(StratumWork {
            prev_hash: prevhash_from_stratum(&stratum_prev),
            coinbase: CoinbaseSplit { coinb1, coinb2 },
            merkle_branch,
            version: u32_from_stratum_hex(&notify.version).ok_or_else(|| bad("version"))?,
            bits: CompactTarget::from_hex(&notify.nbits).map_err(|_| bad("nbits"))?,
            ntime: u32_from_stratum_hex(&notify.ntime).ok_or_else(|| bad("ntime"))?,
        })
    }
}

/// Longest extranonce2 a session can be given. Miners use 2 to 8 bytes; the bound keeps
/// a share's duplicate key ([`crate::share::bitcoin::DuplicateKey`]) fixed-size.
pub const MAX_EXTRANONCE2_LEN: usize = 16;

/// How the pool shapes its jobs: who the coinbase pays and how the extranonce is cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobParams {
    /// The pool's payout script; the whole `coinbasevalue` goes to it.
    pub payout_script: ScriptPubKey,
    /// Pushed into the coinbase after the extranonce (e.g. `/DefPool/`).
    pub pool_tag: Vec<u8>,
    /// Bytes of the per-session extranonce1.
    pub extranonce1_len: usize,
    /// Bytes the miner rolls (`extranonce2_size` in the subscribe result).
    pub extranonce2_len: usize,
}

/// Why a job cannot be built or a block assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitcoinJobError {
    #[error(transparent)]
    Coinbase(#[from] CoinbaseError),
    #[error("extranonce2 size {0}: it must be 1 to {MAX_EXTRANONCE2_LEN} bytes")]
    Extranonce2Size(usize),
    #[error("{which} is {got} bytes, the job expects {expected}")]
    ExtranonceLength {
        which: &'static str,
        expected: usize,
        got: usize,
    },
}

/// Work built from one template, shared by every session mining it.
#[derive(Clone, Debug)]
pub struct BitcoinJob {
    work: StratumWork,
    /// The template the job was built from: its transactions go into the block.
    template: Arc<Template>,
    extranonce1_len: usize,
    extranonce2_len: usize,
}

impl BitcoinJob {
    /// Builds the coinbase (BIP34 height, extranonce space, pool tag, the payout of
    /// `coinbasevalue`, the witness commitment when the template has one) and the
    /// merkle branch of the template's transactions.
    pub fn new(template: Arc<Template>, params: &JobParams) -> Result<BitcoinJob, BitcoinJobError> {
        if params.extranonce2_len == 0 || params.extranonce2_len > MAX_EXTRANONCE2_LEN {
            return Err(BitcoinJobError::Extranonce2Size(params.extranonce2_len));
        }
        let mut outputs = vec![TxOut {
            value: template.coinbase_value,
            script_pubkey: params.payout_script.as_bytes().to_vec(),
        }];
        if let Some(commitment) = &template.witness_commitment {
            outputs.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: commitment.clone(),
            });
        }
        let coinbase = build_coinbase(&CoinbaseParts {
            height: template.height,
            extranonce_len: params.extranonce1_len + params.extranonce2_len,
            pool_tag: &params.pool_tag,
            outputs: &outputs,
        })?;
        let work = StratumWork {
            prev_hash: template.prev_hash,
            coinbase,
            merkle_branch: merkle::merkle_branch(&template.txids()),
            version: template.version,
            bits: template.bits,
            ntime: template.curtime,
        };
        Ok(BitcoinJob {
            work,
            template,
            extranonce1_len: params.extranonce1_len,
            extranonce2_len: params.extranonce2_len,
        })
    }

    pub fn work(&self) -> &StratumWork {
        &self.work
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The network target: a share whose hash meets it is a block candidate.
    pub fn network_target(&self) -> Target {
        self.template.target
    }

    pub fn height(&self) -> u64 {
        self.template.height
    }

    pub fn extranonce2_len(&self) -> usize {
        self.extranonce2_len
    }

    /// The `mining.notify` params.
    pub fn notify(&self, job_id: &str, clean_jobs: bool) -> Notify {
        self.work.notify(job_id, clean_jobs)
    }

    fn check_extranonces(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
    ) -> Result<(), BitcoinJobError> {
        for (which, expected, got) in [
            ("extranonce1", self.extranonce1_len, extranonce1.len()),
            ("extranonce2", self.extranonce2_len, extranonce2.len()),
        ] {
            if expected != got {
                return Err(BitcoinJobError::ExtranonceLength {
                    which,
                    expected,
                    got,
                });
            }
        }
        Ok(())
    }

    /// The header of a share (see [`StratumWork::header`]), checking the extranonce
    /// lengths against the job's split.
    pub fn header(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
        version: u32,
        ntime: u32,
        nonce: u32,
    ) -> Result<BlockHeader, BitcoinJobError> {
        self.check_extranonces(extranonce1, extranonce2)?;
        Ok(self
            .work
            .header(extranonce1, extranonce2, version, ntime, nonce))
    }

    /// The block for `submitblock` (hex-encode it): header, transaction count, the
    /// coinbase (witness form when the template commits to witnesses), the template's
    /// transactions as given, and for Litecoin after MWEB activation `0x01` followed by
    /// the template's MWEB block.
    pub fn block(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
        header: &BlockHeader,
    ) -> Result<Vec<u8>, BitcoinJobError> {
        self.check_extranonces(extranonce1, extranonce2)?;
        let plain = self.work.coinbase_tx(extranonce1, extranonce2);
        let coinbase = if self.template.witness_commitment.is_some() {
            coinbase::with_witness(&plain)
        } else {
            plain
        };
        let tx_bytes: usize = self
            .template
            .transactions
            .iter()
            .map(|t| t.data.len())
            .sum();
        let mweb_len = self.template.mweb.as_ref().map_or(0, |m| m.len() + 1);
        let mut block = Vec::with_capacity(80 + 9 + coinbase.len() + tx_bytes + mweb_len);
        block.extend_from_slice(&header.to_bytes());
        encode::write_compact_size(&mut block, 1 + self.template.transactions.len() as u64);
        block.extend_from_slice(&coinbase);
        for tx in &self.template.transactions {
            block.extend_from_slice(&tx.data);
        }
        if let Some(mweb) = &self.template.mweb {
            // The MWEB block is an optional field: a presence byte, then the block.
            block.push(0x01);
            block.extend_from_slice(mweb);
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::encode::decode_transaction;
    use super::fixtures::*;
    use super::*;
    use crate::coin::{Network, LTC};
    use crate::pow::bitcoin::{hash_from_display_hex, hash_to_display_hex, sha256d, PowAlgorithm};
    use proptest::prelude::*;

    /// The payout address of the captured scrypt session (its coinbase paid
    /// `0014 3efd2896…6409`), and of the sha256d one.
    const SCRYPT_SESSION_ADDRESS: &str = "rltc1q8m7j395cwaem22rrujwtcxuammjyweqf9xrch6";
    const SHA256D_SESSION_ADDRESS: &str = "rltc1qf9vex7yyvu7yeka02yysrkxrucnqtsduql7erj";
    /// litecoind's own regtest address (samples/ltc_validateaddress.txt).
    const REGTEST_ADDRESS: &str = "rltc1q8w9trsek7jws6uzqaky24x2n2yrdwx8zzt7qcz";

    fn params(address: &str, tag: &[u8]) -> JobParams {
        JobParams {
            payout_script: script_pubkey_for(&LTC, Network::Regtest, address).unwrap(),
            pool_tag: tag.to_vec(),
            extranonce1_len: 4,
            extranonce2_len: 4,
        }
    }

    /// The template the stub pool must have had for a captured job: what its notify
    /// shows (height from the coinbase, value, commitment, the one txid of the branch),
    /// on top of a real post-MWEB template for the rest.
    fn template_behind(notify: &Notify, height: u64, commitment: &str) -> Template {
        let mut gbt: GetBlockTemplate = serde_json::from_str(LTC_GBT_MWEB_ACTIVE).unwrap();
        let work = StratumWork::from_notify(notify).unwrap();
        gbt.previousblockhash = hash_to_display_hex(&work.prev_hash);
        gbt.height = height;
        gbt.coinbasevalue = 1_250_000_000;
        gbt.curtime = u64::from(work.ntime);
        gbt.default_witness_commitment = Some(commitment.into());
        gbt.transactions[0].txid = Some(hash_to_display_hex(&work.merkle_branch[0]));
        Template::from_gbt(&gbt).unwrap()
    }

    #[test]
    fn rebuilds_the_coinbase_of_a_block_litecoind_accepted() {
        // The first share of the scrypt session became block 436. Building the job from
        // the template behind it must give the stub's notify byte for byte, and the
        // share's header must hash to the id litecoind reported: so coinbase, merkle
        // root and header are exactly what the chain took.
        let share = &captured_shares(CPUMINER_SCRYPT_SESSION)[0];
        let template = template_behind(
            &share.notify,
            436,
            "6a24aa21a9ed14f0be4622784034a9b1775db1828c6294affef6719a44fa83f08e8426dd2602",
        );
        let job = BitcoinJob::new(
            Arc::new(template),
            &params(SCRYPT_SESSION_ADDRESS, b"/lab-stub/"),
        )
        .unwrap();
        assert_eq!(job.notify("1", true), share.notify);

        let en2 = hex::decode(&share.submit.extranonce2).unwrap();
        let ntime = u32::from_str_radix(&share.submit.ntime, 16).unwrap();
        let nonce = u32::from_str_radix(&share.submit.nonce, 16).unwrap();
        let header = job
            .header(&share.extranonce1, &en2, job.work().version, ntime, nonce)
            .unwrap();
        assert_eq!(hex::encode(header.to_bytes()), share.header);
        assert_eq!(
            Some(hash_to_display_hex(&header.block_hash())),
            share.block_hash
        );
        let pow = PowAlgorithm::Scrypt.hash_header(&header.to_bytes());
        assert_eq!(hash_to_display_hex(&pow), share.hash);
        assert!(job.network_target().is_met_by(&pow));
    }

    #[test]
    fn sha256d_session_coinbase_matches_too() {
        let share = &captured_shares(CPUMINER_SHA256D_SESSION)[0];
        let template = template_behind(
            &share.notify,
            440,
            "6a24aa21a9edac5737b99c24c2d05d01c83b0bc6fb47c34b8e368ccec5dff5c10d3f63d6291b",
        );
        let job = BitcoinJob::new(
            Arc::new(template),
            &params(SHA256D_SESSION_ADDRESS, b"/lab-stub/"),
        )
        .unwrap();
        assert_eq!(job.notify("1", true), share.notify);
    }

    /// Splits a block into header, coinbase, the other transactions and what follows.
    fn split_block(
        block: &[u8],
        coinbase_len: usize,
        tx_lens: &[usize],
    ) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>, Vec<u8>) {
        let mut r = encode::Reader::new(block);
        let header = r.bytes(80, "header").unwrap().to_vec();
        let count = r.compact_size("count").unwrap();
        assert_eq!(count as usize, 1 + tx_lens.len());
        let coinbase = r.bytes(coinbase_len, "coinbase").unwrap().to_vec();
        let txs = tx_lens
            .iter()
            .map(|&n| r.bytes(n, "tx").unwrap().to_vec())
            .collect();
        let rest = r.bytes(r.remaining(), "rest").unwrap().to_vec();
        (header, coinbase, txs, rest)
    }

    #[test]
    fn mweb_block_appends_the_mweb_block_after_the_hogex() {
        let template = Arc::new(Template::from_json(LTC_GBT_MWEB_FIRST).unwrap());
        let job =
            BitcoinJob::new(template.clone(), &params(REGTEST_ADDRESS, b"/DefPool/")).unwrap();
        let (en1, en2) = ([0xf0, 0, 0, 0x0f], [1, 2, 3, 4]);
        let header = job
            .header(&en1, &en2, 0x2000_0000, template.curtime, 7)
            .unwrap();
        let block = job.block(&en1, &en2, &header).unwrap();

        let plain = job.work().coinbase_tx(&en1, &en2);
        let witness_len = plain.len() + 2 + 34;
        let lens: Vec<usize> = template.transactions.iter().map(|t| t.data.len()).collect();
        let (head, coinbase, txs, rest) = split_block(&block, witness_len, &lens);
        assert_eq!(head, header.to_bytes());
        for (tx, t) in txs.iter().zip(&template.transactions) {
            assert_eq!(tx, &t.data);
        }
        let mweb = template.mweb.as_ref().unwrap();
        assert_eq!(rest[0], 0x01);
        assert_eq!(&rest[1..], &mweb[..]);

        // The coinbase in the block is the witness form of the one the miner hashed.
        let decoded = decode_transaction(&coinbase).unwrap();
        assert_eq!(decoded.witness, Some(vec![vec![vec![0u8; 32]]]));
        assert_eq!(decoded.outputs[0].value, template.coinbase_value);
        assert_eq!(
            decoded.outputs[1].script_pubkey,
            template.witness_commitment.clone().unwrap()
        );

        // The header commits to the txids, coinbase first (the HogEx counts like any tx).
        let mut leaves = vec![sha256d(&plain)];
        leaves.extend(template.txids());
        assert_eq!(Some(header.merkle_root), merkle::merkle_root(&leaves));

        // The daemon's commitment is to the wtxids with the coinbase's as zero and our
        // 32-byte zero reserved value: sha256d(witness root ‖ 0^32).
        let gbt: GetBlockTemplate = serde_json::from_str(LTC_GBT_MWEB_FIRST).unwrap();
        let mut wtxids = vec![[0u8; 32]];
        wtxids.extend(
            gbt.transactions
                .iter()
                .map(|t| hash_from_display_hex(t.hash.as_deref().unwrap()).unwrap()),
        );
        let mut preimage = merkle::merkle_root(&wtxids).unwrap().to_vec();
        preimage.extend_from_slice(&[0u8; 32]);
        let commitment = template.witness_commitment.as_ref().unwrap();
        assert_eq!(&commitment[..6], &[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]);
        assert_eq!(&commitment[6..], &sha256d(&preimage));
    }

    #[test]
    fn pre_mweb_block_ends_with_the_transactions() {
        let template = Arc::new(Template::from_json(LTC_GBT_WITH_TX).unwrap());
        let job = BitcoinJob::new(template.clone(), &params(REGTEST_ADDRESS, b"")).unwrap();
        let (en1, en2) = ([0; 4], [0xff; 4]);
        let header = job
            .header(&en1, &en2, 0x2000_0000, template.curtime, 1)
            .unwrap();
        let block = job.block(&en1, &en2, &header).unwrap();
        let witness_len = job.work().coinbase_tx(&en1, &en2).len() + 36;
        let lens = [template.transactions[0].data.len()];
        let (_, _, txs, rest) = split_block(&block, witness_len, &lens);
        assert_eq!(txs[0], template.transactions[0].data);
        assert!(rest.is_empty());
        assert_eq!(
            job.work().merkle_branch,
            vec![template.transactions[0].txid]
        );
    }

    #[test]
    fn without_a_witness_commitment_the_coinbase_has_no_witness() {
        let mut template = Template::from_json(LTC_GBT).unwrap();
        template.witness_commitment = None;
        let job = BitcoinJob::new(Arc::new(template), &params(REGTEST_ADDRESS, b"/x/")).unwrap();
        let (en1, en2) = ([1; 4], [2; 4]);
        let header = job.header(&en1, &en2, 0x2000_0000, 0, 0).unwrap();
        let block = job.block(&en1, &en2, &header).unwrap();
        let plain = job.work().coinbase_tx(&en1, &en2);
        assert_eq!(block.len(), 80 + 1 + plain.len());
        assert_eq!(&block[81..], &plain[..]);
        // One output only: the payout.
        assert_eq!(decode_transaction(&plain).unwrap().outputs.len(), 1);
        // A coinbase alone: the root is its txid and the branch is empty.
        assert_eq!(header.merkle_root, sha256d(&plain));
    }

    #[test]
    fn extranonces_must_fit_the_split() {
        let job = BitcoinJob::new(
            Arc::new(Template::from_json(LTC_GBT).unwrap()),
            &params(REGTEST_ADDRESS, b""),
        )
        .unwrap();
        assert_eq!(
            job.header(&[0; 4], &[0; 8], 1, 0, 0),
            Err(BitcoinJobError::ExtranonceLength {
                which: "extranonce2",
                expected: 4,
                got: 8
            })
        );
        assert_eq!(
            job.block(&[0; 3], &[0; 4], &BlockHeader::from_bytes(&[0; 80])),
            Err(BitcoinJobError::ExtranonceLength {
                which: "extranonce1",
                expected: 4,
                got: 3
            })
        );
    }

    #[test]
    fn extranonce2_size_is_bounded() {
        for size in [0, MAX_EXTRANONCE2_LEN + 1] {
            let got = BitcoinJob::new(
                Arc::new(Template::from_json(LTC_GBT).unwrap()),
                &JobParams {
                    extranonce2_len: size,
                    ..params(REGTEST_ADDRESS, b"")
                },
            );
            assert_eq!(got.err(), Some(BitcoinJobError::Extranonce2Size(size)));
        }
    }

    #[test]
    fn a_too_long_pool_tag_is_refused() {
        let got = BitcoinJob::new(
            Arc::new(Template::from_json(LTC_GBT).unwrap()),
            &params(REGTEST_ADDRESS, &[b'x'; 80]),
        );
        assert!(matches!(
            got,
            Err(BitcoinJobError::Coinbase(CoinbaseError::PoolTagTooLong(80)))
        ));
    }

    #[test]
    fn from_notify_refuses_bad_fields() {
        let share = &captured_shares(CPUMINER_SCRYPT_SESSION)[0];
        let with = |f: &dyn Fn(&mut Notify)| {
            let mut n = share.notify.clone();
            f(&mut n);
            StratumWork::from_notify(&n)
        };
        for (field, change) in [
            (
                "prevhash",
                &(|n: &mut Notify| n.prevhash.push('0')) as &dyn Fn(&mut Notify),
            ),
            ("coinb1", &|n: &mut Notify| n.coinb1.push('z')),
            ("coinb2", &|n: &mut Notify| n.coinb2 = "0".into()),
            ("merkle_branch", &|n: &mut Notify| {
                n.merkle_branch[0].truncate(62)
            }),
            ("version", &|n: &mut Notify| n.version = "2000000".into()),
            ("nbits", &|n: &mut Notify| n.nbits = "x07fffff".into()),
            ("ntime", &|n: &mut Notify| n.ntime = String::new()),
        ] {
            assert_eq!(
                with(change),
                Err(NotifyError::BadField { field }),
                "{field}"
            );
        }
    }

    proptest! {
        #[test]
        fn notify_round_trips(
            prev in any::<[u8; 32]>(),
            coinb1 in proptest::collection::vec(any::<u8>(), 0..60),
            coinb2 in proptest::collection::vec(any::<u8>(), 0..60),
            branch in proptest::collection::vec(any::<[u8; 32]>(), 0..12),
            version in any::<u32>(),
            bits in any::<u32>(),
            ntime in any::<u32>(),
        ) {
            let work = StratumWork {
                prev_hash: prev,
                coinbase: CoinbaseSplit { coinb1, coinb2 },
                merkle_branch: branch,
                version,
                bits: CompactTarget(bits),
                ntime,
            };
            let notify = work.notify("j", false);
            prop_assert_eq!(StratumWork::from_notify(&notify), Ok(work));
        }
    }
}
