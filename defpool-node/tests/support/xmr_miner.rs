//! A CryptoNote stratum test miner that really computes RandomX, speaking the
//! protocol on the socket like xmrig does.

use std::sync::Arc;
use std::time::Duration;

use defpool_core::pow::{check_hash, difficulty_from_job_target};
use defpool_core::randomx::{RandomxKey, RandomxMode, RandomxVm};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct XmrMiner {
    reader: BufReader<Box<dyn AsyncRead + Send + Unpin>>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    next_id: u64,
    pub session: Option<String>,
    /// The newest job the pool sent.
    pub job: Option<Value>,
    /// Every job the pool sent, oldest first.
    pub jobs: Vec<Value>,
    vm: Option<(String, RandomxVm)>,
    next_nonce: u32,
    /// The pool announced xmrig's `nicehash` extension: keep the top nonce byte of
    /// the job's blob (a proxy's slot), as xmrig does.
    pub nicehash: bool,
}

/// A share found by hashing.
#[derive(Clone, Debug)]
pub struct FoundShare {
    pub job_id: String,
    pub nonce: [u8; 4],
    pub hash: [u8; 32],
}

impl XmrMiner {
    pub async fn connect(addr: &str) -> XmrMiner {
        let stream = TcpStream::connect(addr).await.expect("connect to stratum");
        let (r, w) = stream.into_split();
        XmrMiner::over(Box::new(r), Box::new(w))
    }

    /// A miner on an established connection (a TLS stream, for instance), given as
    /// its read and write halves.
    pub fn over(
        reader: Box<dyn AsyncRead + Send + Unpin>,
        writer: Box<dyn AsyncWrite + Send + Unpin>,
    ) -> XmrMiner {
        XmrMiner {
            reader: BufReader::new(reader),
            writer,
            next_id: 1,
            session: None,
            job: None,
            jobs: Vec::new(),
            vm: None,
            next_nonce: rand::random::<u32>() & 0x00ff_ffff,
            nicehash: false,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        // A TLS stream holds written data until flushed.
        self.writer.flush().await
    }

    /// The next line from the pool as JSON; `None` when the pool closed the connection.
    pub async fn read(&mut self) -> Option<Value> {
        let mut line = String::new();
        match tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("pool sent invalid JSON ({e}): {line}"));
                if v["method"] == "job" {
                    self.job = Some(v["params"].clone());
                    self.jobs.push(v["params"].clone());
                }
                Some(v)
            }
            Err(_) => panic!("no message from the pool within 30 s"),
        }
    }

    /// Sends a request and returns its response, keeping job notifications seen on the way.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = format!(
            "{}\n",
            json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params})
        );
        self.send_raw(line.as_bytes()).await.expect("send");
        loop {
            let v = self
                .read()
                .await
                .unwrap_or_else(|| panic!("pool closed the connection during {method}"));
            if v["id"] == id {
                return v;
            }
        }
    }

    pub async fn login(&mut self, login: &str, pass: &str) -> Value {
        let r = self
            .call("login", json!({"login": login, "pass": pass, "agent": "defpool-test-miner/1.0", "algo": ["rx/0"]}))
            .await;
        if let Some(result) = r.get("result").filter(|v| !v.is_null()) {
            self.session = result["id"].as_str().map(String::from);
            self.nicehash = result["extensions"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x == "nicehash"));
            self.job = Some(result["job"].clone());
            self.jobs.push(result["job"].clone());
        }
        r
    }

    /// Hashes nonces of the current job until one meets `want` (the job's own target
    /// when `None`); `at_most` bounds the attempts.
    pub fn find_share(&mut self, want: Option<u128>, at_most: u32) -> Option<FoundShare> {
        let job = self.job.clone().expect("a job");
        self.hash_job(
            &job,
            |hash, target| check_hash(hash, want.unwrap_or(target)),
            at_most,
        )
    }

    /// A nonce whose hash does NOT meet the job's difficulty (for the low-difficulty case).
    pub fn find_weak_share(&mut self) -> FoundShare {
        let job = self.job.clone().expect("a job");
        self.hash_job(&job, |hash, target| !check_hash(hash, target), 1000)
            .expect("a weak hash")
    }

    fn hash_job(
        &mut self,
        job: &Value,
        accept: impl Fn(&[u8; 32], u128) -> bool,
        at_most: u32,
    ) -> Option<FoundShare> {
        let seed = job["seed_hash"].as_str().expect("seed_hash").to_string();
        if self.vm.as_ref().is_none_or(|(s, _)| *s != seed) {
            let key: Arc<RandomxKey> = RandomxKey::new(
                &hex::decode(&seed).expect("seed hex"),
                RandomxMode::Light,
                1,
            )
            .expect("randomx key");
            self.vm = Some((seed.clone(), RandomxVm::new(key).expect("randomx vm")));
        }
        let target = u128::from(
            difficulty_from_job_target(job["target"].as_str().expect("target"))
                .expect("target hex"),
        );
        let mut blob = hex::decode(job["blob"].as_str().expect("blob")).expect("blob hex");
        let (_, vm) = self.vm.as_mut().expect("vm");
        for _ in 0..at_most {
            let mut nonce = self.next_nonce.to_le_bytes();
            self.next_nonce = self.next_nonce.wrapping_add(1);
            if self.nicehash {
                nonce[3] = blob[42];
            }
            blob[39..43].copy_from_slice(&nonce);
            let hash = vm.hash(&blob);
            if accept(&hash, target) {
                return Some(FoundShare {
                    job_id: job["job_id"].as_str().expect("job_id").to_string(),
                    nonce,
                    hash,
                });
            }
        }
        None
    }

    pub async fn submit(&mut self, share: &FoundShare) -> Value {
        let session = self.session.clone().unwrap_or_default();
        self.call(
            "submit",
            json!({"id": session, "job_id": share.job_id, "nonce": hex::encode(share.nonce), "result": hex::encode(share.hash), "algo": "rx/0"}),
        )
        .await
    }
}

/// The error message of a response, or "" for a success.
pub fn error_message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or("").to_string()
}
