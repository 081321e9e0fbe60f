//! A Bitcoin-dialect SV1 test miner (like cpuminer): subscribe, optional BIP 310
//! version rolling, authorize, then real sha256d or scrypt hashing of the headers it
//! builds from `mining.notify`, submitting what meets the pool's difficulty.

use std::time::Duration;

use defpool_core::job::bitcoin::StratumWork;
use defpool_core::pow::bitcoin::PowAlgorithm;
use defpool_core::stratum::bitcoin::Notify;
use defpool_core::Difficulty;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub struct BtcMiner {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    pub algorithm: PowAlgorithm,
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    pub difficulty: f64,
    /// The newest job the pool sent.
    pub job: Option<Notify>,
    /// Every job the pool sent, oldest first.
    pub jobs: Vec<Notify>,
    /// Negotiated BIP 310 mask (0 when not negotiated).
    pub version_mask: u32,
    next_nonce: u32,
    next_extranonce2: u64,
}

/// A share found by hashing.
#[derive(Clone, Debug)]
pub struct FoundShare {
    pub job_id: String,
    pub extranonce2: String,
    pub ntime: String,
    pub nonce: String,
    /// Rolled version bits (hex) when version rolling is in use.
    pub version_bits: Option<String>,
    pub hash: [u8; 32],
}

impl FoundShare {
    /// `mining.submit` params.
    pub fn params(&self, worker: &str) -> Value {
        let mut p = vec![
            json!(worker),
            json!(self.job_id),
            json!(self.extranonce2),
            json!(self.ntime),
            json!(self.nonce),
        ];
        if let Some(v) = &self.version_bits {
            p.push(json!(v));
        }
        Value::Array(p)
    }
}

impl BtcMiner {
    pub async fn connect(addr: &str, algorithm: PowAlgorithm) -> BtcMiner {
        let stream = TcpStream::connect(addr).await.expect("connect to stratum");
        let (r, w) = stream.into_split();
        BtcMiner {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            algorithm,
            extranonce1: Vec::new(),
            extranonce2_size: 0,
            difficulty: 1.0,
            job: None,
            jobs: Vec::new(),
            version_mask: 0,
            next_nonce: rand::random::<u32>() & 0x00ff_ffff,
            next_extranonce2: 0,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// The next line from the pool as JSON; `None` when the pool closed the connection.
    /// Notifications update the miner's state as they pass.
    pub async fn read(&mut self) -> Option<Value> {
        let mut line = String::new();
        match tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("pool sent invalid JSON ({e}): {line}"));
                match v["method"].as_str() {
                    Some("mining.notify") => {
                        let n: Notify = serde_json::from_value(v["params"].clone())
                            .unwrap_or_else(|e| panic!("bad mining.notify ({e}): {line}"));
                        self.job = Some(n.clone());
                        self.jobs.push(n);
                    }
                    Some("mining.set_difficulty") => {
                        self.difficulty = v["params"][0].as_f64().expect("difficulty");
                    }
                    Some("mining.set_extranonce") => {
                        self.extranonce1 =
                            hex::decode(v["params"][0].as_str().unwrap_or_default()).unwrap();
                        self.extranonce2_size = v["params"][1].as_u64().unwrap_or(4) as usize;
                    }
                    _ => {}
                }
                Some(v)
            }
            Err(_) => panic!("no message from the pool within 30 s"),
        }
    }

    /// Sends a request and returns its response, keeping notifications that arrive
    /// first.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = format!(
            "{}\n",
            json!({"id": id, "method": method, "params": params})
        );
        self.send_raw(line.as_bytes()).await.expect("send");
        loop {
            let v = self.read().await.expect("pool closed the connection");
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// Reads until a message satisfying `pred` arrives.
    pub async fn read_until(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let v = self.read().await.expect("pool closed the connection");
            if pred(&v) {
                return v;
            }
        }
    }

    pub async fn subscribe(&mut self) -> Value {
        let r = self
            .request("mining.subscribe", json!(["defpool-test-miner/1.0"]))
            .await;
        let result = &r["result"];
        self.extranonce1 = hex::decode(result[1].as_str().expect("extranonce1")).unwrap();
        self.extranonce2_size = result[2].as_u64().expect("extranonce2 size") as usize;
        r
    }

    /// Negotiates version rolling with the mask cpuminer-style miners ask for.
    pub async fn configure_version_rolling(&mut self, mask: u32) -> Value {
        let r = self
            .request(
                "mining.configure",
                json!([["version-rolling"], {"version-rolling.mask": format!("{mask:08x}"), "version-rolling.min-bit-count": 2}]),
            )
            .await;
        if r["result"]["version-rolling"] == json!(true) {
            self.version_mask = u32::from_str_radix(
                r["result"]["version-rolling.mask"].as_str().unwrap_or("0"),
                16,
            )
            .unwrap_or(0);
        }
        r
    }

    pub async fn authorize(&mut self, user: &str, password: &str) -> Value {
        self.request("mining.authorize", json!([user, password]))
            .await
    }

    /// Waits until the pool sent at least one job.
    pub async fn wait_for_job(&mut self) {
        while self.job.is_none() {
            self.read().await.expect("pool closed the connection");
        }
    }

    /// Hashes the newest job until a header meets `difficulty`; gives up after
    /// `max_hashes`.
    pub fn find_share(&mut self, difficulty: f64, max_hashes: u64) -> Option<FoundShare> {
        let job = self.job.clone()?;
        let work = StratumWork::from_notify(&job).expect("valid notify");
        let target = self
            .algorithm
            .target_for_difficulty(Difficulty::new(difficulty).expect("difficulty"));
        let extranonce2_value = self.next_extranonce2;
        self.next_extranonce2 += 1;
        let extranonce2 =
            extranonce2_value.to_be_bytes()[8 - self.extranonce2_size.min(8)..].to_vec();
        let ntime = work.ntime;
        // Roll one version bit inside the mask when negotiated, like ASICs do.
        let version_bits = if self.version_mask != 0 {
            1u32 << self.version_mask.trailing_zeros()
        } else {
            0
        };
        let version = (work.version & !self.version_mask) | version_bits;
        for _ in 0..max_hashes {
            let nonce = self.next_nonce;
            self.next_nonce = self.next_nonce.wrapping_add(1);
            let header = work.header(&self.extranonce1, &extranonce2, version, ntime, nonce);
            let hash = self.algorithm.hash_header(&header.to_bytes());
            if target.is_met_by(&hash) {
                return Some(FoundShare {
                    job_id: job.job_id.clone(),
                    extranonce2: hex::encode(&extranonce2),
                    ntime: format!("{ntime:08x}"),
                    nonce: format!("{nonce:08x}"),
                    version_bits: (self.version_mask != 0).then(|| format!("{version_bits:08x}")),
                    hash,
                });
            }
        }
        None
    }

    /// Submits a share and returns the pool's response.
    pub async fn submit(&mut self, worker: &str, share: &FoundShare) -> Value {
        self.request("mining.submit", share.params(worker)).await
    }
}
