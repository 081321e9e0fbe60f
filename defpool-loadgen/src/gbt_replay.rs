//! `defpool-gbt-replay`: a stand-in Bitcoin-family daemon for share-throughput runs.
//!
//! A regtest daemon's network difficulty is so low that every share is a block
//! candidate, which turns a throughput run into a block-submission run. This server
//! answers the JSON-RPC calls the node's job source makes (`getblockchaininfo`,
//! `getblocktemplate`, …) with a template of mainnet difficulty instead, so shares
//! at a tiny port difficulty are only shares.
//!
//! The built-in template has the shape of Bitcoin block 840,000: its `bits`
//! (17034219, difficulty ~86.4 T), its height and its transaction count (3,050, so a
//! 12-entry merkle branch). The previous-block hash, the txids and the witness
//! commitment are synthetic and each transaction's data is one byte: nothing of that
//! changes what a share costs the node, but no daemon would accept a block built on
//! it (none is expected at this difficulty; `submitblock` answers `high-hash`).
//! `--template FILE` replays a saved `getblocktemplate` result instead.
//!
//! One thread per HTTP connection, keep-alive, no authentication checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use defpool_core::pow::bitcoin::{hash_to_display_hex, sha256d, CompactTarget, PowAlgorithm};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(
    name = "defpool-gbt-replay",
    version,
    about = "Stand-in bitcoind/litecoind for share-throughput runs: serves a mainnet-difficulty getblocktemplate"
)]
struct Cli {
    /// Address to serve JSON-RPC on.
    #[arg(long, default_value = "127.0.0.1:28332")]
    listen: String,
    /// A saved `getblocktemplate` result (JSON) to serve instead of the built-in one;
    /// its `curtime` is moved to the current time on every call.
    #[arg(long)]
    template: Option<std::path::PathBuf>,
    /// Transactions in the built-in template (3,050 as in block 840,000).
    #[arg(long, default_value_t = 3050)]
    transactions: usize,
    /// Compact target of the built-in template, 8 hex digits (block 840,000's).
    #[arg(long, default_value = "17034219")]
    bits: String,
    /// `chain` reported by getblockchaininfo.
    #[arg(long, default_value = "main")]
    chain: String,
    /// Pretend a new block arrives every this many seconds (0 = never): height and
    /// previous-block hash move on, so the node sends clean jobs.
    #[arg(long, default_value_t = 0.0)]
    new_block_every: f64,
}

const BASE_HEIGHT: u64 = 840_000;

struct Chain {
    template: Value,
    bits: CompactTarget,
    begin: Instant,
    new_block_every: f64,
    chain: String,
    calls: AtomicU64,
    submits: AtomicU64,
}

impl Chain {
    /// Blocks "mined" since the start.
    fn advanced(&self) -> u64 {
        if self.new_block_every > 0.0 {
            (self.begin.elapsed().as_secs_f64() / self.new_block_every) as u64
        } else {
            0
        }
    }

    fn base_height(&self) -> u64 {
        self.template["height"].as_u64().unwrap_or(BASE_HEIGHT)
    }

    /// Height of the block the template builds (the tip is one below).
    fn height(&self) -> u64 {
        self.base_height() + self.advanced()
    }

    fn block_hash(&self, height: u64) -> String {
        if height + 1 == self.base_height() {
            if let Some(prev) = self.template["previousblockhash"]
                .as_str()
                .filter(|p| !p.is_empty())
            {
                return prev.to_string();
            }
        }
        let mut seed = b"defpool-gbt-replay".to_vec();
        seed.extend_from_slice(&height.to_le_bytes());
        hash_to_display_hex(&sha256d(&seed))
    }

    fn difficulty(&self) -> f64 {
        self.bits
            .to_target()
            .map(|t| PowAlgorithm::Sha256d.difficulty_of_target(&t))
            .unwrap_or(0.0)
    }

    fn answer(&self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
        let height = self.height();
        let tip = height - 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match method {
            "getblockchaininfo" => Ok(json!({
                "chain": self.chain,
                "blocks": tip,
                "headers": tip,
                "bestblockhash": self.block_hash(tip),
                "difficulty": self.difficulty(),
                "initialblockdownload": false,
            })),
            "getblocktemplate" => {
                let mut t = self.template.clone();
                t["height"] = json!(height);
                t["previousblockhash"] = json!(self.block_hash(tip));
                t["curtime"] = json!(now);
                t["mintime"] = json!(now - 3600);
                Ok(t)
            }
            "getmininginfo" => Ok(json!({
                "blocks": tip,
                "difficulty": self.difficulty(),
                "networkhashps": self.difficulty() * 4_294_967_296.0 / 600.0,
            })),
            "getblockcount" => Ok(json!(tip)),
            "getbestblockhash" => Ok(json!(self.block_hash(tip))),
            "getblockhash" => match params.get(0).and_then(Value::as_u64) {
                Some(h) if h <= tip => Ok(json!(self.block_hash(h))),
                _ => Err((-8, "Block height out of range".into())),
            },
            "submitblock" => {
                let n = self.submits.fetch_add(1, Ordering::Relaxed) + 1;
                eprintln!("defpool-gbt-replay: submitblock #{n} answered high-hash");
                Ok(json!("high-hash"))
            }
            "validateaddress" => Ok(json!({
                "isvalid": true,
                "address": params.get(0).cloned().unwrap_or(Value::Null),
            })),
            _ => Err((-32601, "Method not found".into())),
        }
    }
}

/// The built-in template: block 840,000's bits, height and transaction count,
/// synthetic hashes.
fn builtin_template(transactions: usize, bits: &str) -> Value {
    let txs: Vec<Value> = (0..transactions as u64)
        .map(|i| {
            let mut seed = b"defpool-gbt-replay tx".to_vec();
            seed.extend_from_slice(&i.to_le_bytes());
            json!({
                "data": "00",
                "txid": hash_to_display_hex(&sha256d(&seed)),
                "hash": hash_to_display_hex(&sha256d(&seed)),
                "depends": [],
                "fee": 10_000,
                "sigops": 1,
                "weight": 560,
            })
        })
        .collect();
    let commitment = hex::encode(sha256d(b"defpool-gbt-replay witness"));
    json!({
        "capabilities": ["proposal"],
        "version": 0x2000_0000u32,
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": "",
        "transactions": txs,
        "coinbaseaux": {},
        "coinbasevalue": 312_500_000u64 + 10_000 * transactions as u64,
        "longpollid": "",
        "mintime": 0,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80_000,
        "sizelimit": 4_000_000,
        "weightlimit": 4_000_000,
        "curtime": 0,
        "bits": bits,
        "height": BASE_HEIGHT,
        "default_witness_commitment": format!("6a24aa21a9ed{commitment}"),
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bits = CompactTarget::from_hex(&cli.bits).context("--bits")?;
    let template = match &cli.template {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let v: Value = serde_json::from_str(&text).context("template is not JSON")?;
            // A whole JSON-RPC answer or just its result.
            match v.get("result") {
                Some(r) if r.is_object() => r.clone(),
                _ => v,
            }
        }
        None => builtin_template(cli.transactions, &cli.bits),
    };
    let bits = template["bits"]
        .as_str()
        .and_then(|b| CompactTarget::from_hex(b).ok())
        .unwrap_or(bits);
    let chain = Arc::new(Chain {
        template,
        bits,
        begin: Instant::now(),
        new_block_every: cli.new_block_every,
        chain: cli.chain,
        calls: AtomicU64::new(0),
        submits: AtomicU64::new(0),
    });
    let listener = TcpListener::bind(&cli.listen)
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    eprintln!(
        "defpool-gbt-replay: serving height {} bits {} (difficulty {:.4e}, {} transactions) on {}",
        chain.height(),
        chain.bits,
        chain.difficulty(),
        chain.template["transactions"]
            .as_array()
            .map_or(0, Vec::len),
        cli.listen
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let chain = chain.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, &chain);
        });
    }
    Ok(())
}

/// Serves one keep-alive HTTP connection.
fn serve(stream: TcpStream, chain: &Chain) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length.min(16 << 20)];
        reader.read_exact(&mut body)?;
        chain.calls.fetch_add(1, Ordering::Relaxed);
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let method = request["method"].as_str().unwrap_or("");
        let reply = match chain.answer(method, &request["params"]) {
            Ok(result) => json!({"result": result, "error": null, "id": id}),
            Err((code, message)) => {
                json!({"result": null, "error": {"code": code, "message": message}, "id": id})
            }
        };
        let body = serde_json::to_vec(&reply)?;
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            body.len()
        )?;
        writer.write_all(&body)?;
        writer.flush()?;
    }
}
