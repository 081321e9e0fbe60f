//! Every `defpool-ctl` subcommand against the real node binary, with `--json` output
//! parsed back, and the bad-input cases an operator's script relies on: an unknown
//! miner, a wrong token and a node that is down each give one `defpool-ctl: …` line
//! and exit code 1; bad flags exit 2.
//!
//! No daemon is needed: the node serves XMR with a daemon address nobody answers on
//! (so a stratum port opens and bans can be set) and no wallet (so payouts stay
//! pending). Miners, shares and a matured block are written through the node's own
//! store before it starts.

mod support;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use defpool_core::{Amount, FeeRate};
use defpool_node::accounting::compute_split;
use defpool_node::store::{now_ms, NewBlock, NewShare, Store};
use serde_json::Value;
use support::node::{ctl_bin, ctl_json, Node};
use support::pool::{walletless_stratum_config, MINER_B, MINER_C, TOKEN};
use support::{atomic, free_port};

/// A valid address the node has never seen.
const STRANGER: &str = "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm";
/// MINER_B's matured credit: 2 XMR.
const CREDIT: u64 = 2_000_000_000_000;

/// Shares of two miners (B on two workers) and a solo block by B, matured.
async fn seed(db_url: &str) {
    let store = Store::connect(db_url, 2).await.expect("open store");
    let now = now_ms();
    let share = |miner: &str, worker: &str, accepted: bool| NewShare {
        coin: "XMR".into(),
        miner: miner.into(),
        worker: worker.into(),
        difficulty: 1_000.0,
        network_difficulty: 1_000_000.0,
        height: 10,
        accepted,
        solo: false,
        created_at: now,
    };
    let last = store
        .insert_shares(&[
            share(MINER_B, "rig-b", true),
            share(MINER_B, "rig-b", true),
            share(MINER_B, "rig-b2", true),
            share(MINER_B, "rig-b", false),
            share(MINER_C, "rig-c", true),
        ])
        .await
        .expect("shares")
        .expect("last id");
    let id = store
        .insert_block(&NewBlock {
            coin: "XMR".into(),
            height: 10,
            hash: "ab".repeat(32),
            reward: Amount::from_atomic(CREDIT),
            finder: MINER_B.into(),
            worker: "rig-b".into(),
            mode: "solo".into(),
            scheme: "solo".into(),
            network_difficulty: 1_000_000.0,
            last_share_id: last,
            fee: FeeRate::ZERO,
            pplns_factor: 2.0,
            maturity: 10,
            found_at: now,
        })
        .await
        .expect("block");
    let block = store.block(id).await.expect("read").expect("block");
    let split = compute_split(&store, &block).await.expect("split");
    store
        .record_block_credits(&block, &split, MINER_C)
        .await
        .expect("credits");
    store.confirm_block(id, 10).await.expect("confirm");
    store.close().await;
}

struct Setup {
    node: Node,
    dir: tempfile::TempDir,
    config: String,
}

async fn start() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = format!(
        "sqlite://{}",
        dir.path().join("data/defpool.sqlite").display()
    );
    seed(&db_url).await;
    let dead_daemon = format!("http://127.0.0.1:{}", free_port());
    let config = walletless_stratum_config(
        dir.path(),
        free_port(),
        free_port(),
        &[&dead_daemon],
        "",
        "",
    )
    .replace(
        "network = \"regtest\"\n",
        "network = \"regtest\"\nmin_payout = \"0.1\"\nauto_payout = false\n",
    );
    let node = Node::start(dir.path(), &config, TOKEN, &[]).await;
    Setup { node, dir, config }
}

/// Asserts exit code 1 with exactly one `defpool-ctl: …` line on stderr containing
/// `needle`; returns the line.
fn fails(out: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("defpool-ctl: "), "{err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    err
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn ctl_at(url: &str, args: &[&str]) -> Output {
    Command::new(ctl_bin())
        .arg("--url")
        .arg(url)
        .args(args)
        .env("DEFPOOL_TOKEN", TOKEN)
        .env_remove("DEFPOOL_URL")
        .output()
        .expect("run defpool-ctl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_command_prints_json_that_parses_back() {
    let Setup {
        node, dir: _dir, ..
    } = start().await;

    // Health: the daemon nobody answers on makes the node degraded, which exits 1
    // and still prints the document.
    let out = node.ctl(&["--json", "health"]);
    assert_eq!(out.status.code(), Some(1));
    let health = json_of(&out);
    assert_eq!(health["status"], "degraded");
    let components = health["components"].as_array().expect("components");
    assert!(components
        .iter()
        .any(|c| c["name"].as_str().unwrap().starts_with("daemon:XMR:") && c["status"] == "down"));
    assert!(components
        .iter()
        .any(|c| c["name"] == "wallet:XMR" && c["status"] == "not_configured"));

    let stats = ctl_json(&node, &["stats"]);
    assert_eq!(stats["coins"][0]["coin"], "XMR");

    // Miners: list (admin), filters, show, workers.
    let list = ctl_json(&node, &["miners", "list"]);
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    let b = items
        .iter()
        .find(|m| m["miner"] == MINER_B)
        .expect("B listed");
    assert_eq!(b["coin"], "XMR");
    assert_eq!(b["workers"], 2);
    assert!(b["hashrate"].as_f64().unwrap() > 0.0);
    assert!(b["last_share_at"].as_i64().unwrap() > 0);
    assert_eq!(atomic(&b["balance"]), CREDIT);
    let page = ctl_json(
        &node,
        &[
            "miners", "list", "--coin", "xmr", "--active", "--limit", "1",
        ],
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let all = ctl_json(&node, &["miners", "list", "--limit", "1", "--all"]);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert!(all["next_cursor"].is_null());
    let text = String::from_utf8_lossy(&node.ctl(&["miners", "list"]).stdout).to_string();
    assert!(text.starts_with("MINER"), "{text}");

    let miner = ctl_json(&node, &["miners", "show", MINER_B]);
    assert_eq!(miner["miner"], MINER_B);
    assert_eq!(miner["valid_shares"], 3);
    assert_eq!(miner["invalid_shares"], 1);
    assert_eq!(
        ctl_json(&node, &["miner", MINER_B])["workers"],
        miner["workers"]
    );
    let workers = ctl_json(&node, &["workers", MINER_B]);
    assert_eq!(workers["miner"], MINER_B);
    let names: Vec<&str> = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["rig-b", "rig-b2"]);
    assert!(workers.get("balances").is_none());

    // Money.
    let balances = ctl_json(&node, &["balances", MINER_B]);
    assert_eq!(atomic(&balances["balances"][0]["balance"]), CREDIT);
    let balance = ctl_json(&node, &["balance", MINER_B, "xmr"]);
    assert_eq!(atomic(&balance["balance"]), CREDIT);
    let blocks = ctl_json(&node, &["blocks", "--status", "confirmed"]);
    assert_eq!(blocks["items"][0]["finder"], MINER_B);
    let audit = ctl_json(&node, &["audit"]);
    assert_eq!(audit["ok"], true);

    // Config: effective and redacted.
    let config = ctl_json(&node, &["config", "show"]);
    assert!(config["source"].as_str().unwrap().ends_with("defpool.toml"));
    let toml_text = config["toml"].as_str().unwrap();
    assert!(toml_text.contains("<redacted>") && !toml_text.contains(TOKEN));
    assert_eq!(config["config"]["api"]["admin_token"], "<redacted>");
    assert_eq!(config["config"]["coins"][0]["symbol"], "XMR");
    assert!(config["reloadable"]
        .as_array()
        .unwrap()
        .contains(&Value::from("coins[].min_payout")));
    let text = String::from_utf8_lossy(&node.ctl(&["config", "show"]).stdout).to_string();
    assert!(text.contains("[api]") && !text.contains(TOKEN), "{text}");

    // The OpenAPI document has every new endpoint.
    let openapi = node.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/miners",
        "/api/v1/payouts",
        "/api/v1/payouts/{id}/cancel",
        "/api/v1/payouts/{id}/retry",
        "/api/v1/bans",
        "/api/v1/bans/{ip}",
        "/api/v1/config",
        "/api/v1/config/reload",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_are_requested_listed_cancelled_and_retried() {
    let Setup { node, dir, .. } = start().await;

    let p = ctl_json(&node, &["payout", "request", MINER_B, "XMR", "0.5"]);
    assert_eq!(p["status"], "pending");
    assert_eq!(atomic(&p["amount"]), 500_000_000_000);
    let id = p["id"].as_i64().unwrap().to_string();

    // Every miner's payouts by state (admin), and one miner's.
    let pending = ctl_json(&node, &["payouts", "--status", "pending"]);
    assert_eq!(pending["items"][0]["id"].to_string(), id);
    assert_eq!(pending["items"][0]["miner"], MINER_B);
    let none = ctl_json(&node, &["payouts", "--status", "failed"]);
    assert_eq!(none["items"], Value::Array(vec![]));
    let mine = ctl_json(&node, &["payouts", MINER_B, "--all"]);
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);

    // Cancel: failed with the operator's reason, credited back; a second cancel fails.
    let cancelled = ctl_json(&node, &["payout", "cancel", &id]);
    assert_eq!(cancelled["status"], "failed");
    assert_eq!(cancelled["reason"], "cancelled by the operator");
    let balance = ctl_json(&node, &["balance", MINER_B, "XMR"]);
    assert_eq!(atomic(&balance["balance"]), CREDIT);
    let line = fails(&node.ctl(&["payout", "cancel", &id]), "conflict: payout");
    assert!(line.contains("only a pending payout"), "{line}");
    fails(
        &node.ctl(&["payout", "cancel", "999999"]),
        "not_found: no payout 999999",
    );

    // Retry: a new pending payout of the same amount, once.
    let retry = ctl_json(&node, &["payout", "retry", &id]);
    assert_eq!(retry["status"], "pending");
    assert_eq!(atomic(&retry["amount"]), 500_000_000_000);
    assert_eq!(retry["reason"], format!("retry of payout {id}"));
    assert_ne!(retry["id"].to_string(), id);
    let balance = ctl_json(&node, &["balance", MINER_B, "XMR"]);
    assert_eq!(atomic(&balance["balance"]), CREDIT - 500_000_000_000);
    fails(&node.ctl(&["payout", "retry", &id]), "was already retried");
    let retry_id = retry["id"].to_string();
    fails(
        &node.ctl(&["payout", "retry", &retry_id]),
        "only a failed payout",
    );

    // A payout the processor took (processing) may already be on the network: the
    // cancel is refused and names why. (Marked through the store: this node has no
    // wallet, so its processor never takes one.)
    let store = Store::connect(
        &format!(
            "sqlite://{}",
            dir.path().join("data/defpool.sqlite").display()
        ),
        1,
    )
    .await
    .expect("open store");
    let retry_id_num = retry["id"].as_i64().unwrap();
    assert_eq!(
        store.mark_processing(&[retry_id_num]).await.expect("mark"),
        vec![retry_id_num]
    );
    store.close().await;
    let line = fails(&node.ctl(&["payout", "cancel", &retry_id]), "conflict");
    assert!(line.contains("is processing"), "{line}");
    let still = ctl_json(&node, &["payouts", "--status", "processing"]);
    assert_eq!(still["items"][0]["id"], retry["id"]);
    let text = String::from_utf8_lossy(&node.ctl(&["payouts"]).stdout).to_string();
    assert!(text.contains("cancelled by the operator"), "{text}");
    assert_eq!(ctl_json(&node, &["audit"])["ok"], true);

    // Settings.
    let settings = ctl_json(&node, &["settings", "get", MINER_B, "XMR"]);
    assert_eq!(settings["customized"], false);
    assert_eq!(
        atomic(&settings["threshold"]),
        100_000_000_000,
        "min_payout 0.1"
    );
    let saved = ctl_json(
        &node,
        &[
            "settings",
            "set",
            MINER_B,
            "XMR",
            "--threshold",
            "0.25",
            "--auto-exchange",
            "false",
        ],
    );
    assert_eq!(saved["customized"], true);
    assert_eq!(atomic(&saved["threshold"]), 250_000_000_000);
    fails(
        &node.ctl(&["settings", "set", MINER_B, "XMR", "--threshold", "0.01"]),
        "below_threshold",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_are_listed_added_and_removed() {
    let Setup {
        node,
        dir: _dir,
        config,
    } = start().await;
    // A miner connected before its address is banned is cut off at its next line.
    let stratum = config
        .split("[[ports]]")
        .nth(1)
        .and_then(|p| p.split("listen = \"").nth(1))
        .and_then(|l| l.split('"').next())
        .expect("the stratum port")
        .to_string();
    let early = tokio::net::TcpStream::connect(&stratum).await.unwrap();
    let (r, mut w) = early.into_split();
    let mut lines = tokio::io::BufReader::new(r).lines();
    let keepalive = b"{\"id\":1,\"method\":\"keepalived\",\"params\":{}}\n";
    w.write_all(keepalive).await.unwrap();
    assert!(
        lines.next_line().await.unwrap().is_some(),
        "answered before the ban"
    );
    ctl_json(&node, &["bans", "add", "127.0.0.1", "--duration", "1h"]);
    let _ = w.write_all(keepalive).await;
    assert_eq!(
        lines.next_line().await.ok().flatten(),
        None,
        "a banned address's open session is closed"
    );
    ctl_json(&node, &["bans", "remove", "127.0.0.1"]);

    assert_eq!(
        ctl_json(&node, &["bans", "list"])["bans"],
        Value::Array(vec![])
    );
    let ban = ctl_json(&node, &["bans", "add", "10.1.2.3", "--duration", "1h"]);
    assert_eq!(ban["ip"], "10.1.2.3");
    let remaining = ban["remaining_secs"].as_u64().unwrap();
    assert!((3599..=3600).contains(&remaining), "{ban}");
    assert!(ban["expires_at"].as_i64().unwrap() > now_ms());
    ctl_json(&node, &["bans", "add", "2001:db8::1", "--duration", "90"]);
    let list = ctl_json(&node, &["bans", "list"]);
    let ips: Vec<&str> = list["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, vec!["2001:db8::1", "10.1.2.3"], "soonest expiry first");
    let text = String::from_utf8_lossy(&node.ctl(&["bans", "list"]).stdout).to_string();
    assert!(
        text.contains("10.1.2.3") && text.contains("REMAINING"),
        "{text}"
    );
    let removed = ctl_json(&node, &["bans", "remove", "10.1.2.3"]);
    assert_eq!(removed["ip"], "10.1.2.3");
    fails(
        &node.ctl(&["bans", "remove", "10.1.2.3"]),
        "not_found: 10.1.2.3 is not banned",
    );
    fails(
        &node.ctl(&["bans", "add", "not-an-ip", "--duration", "1h"]),
        "bad_request: \"not-an-ip\" is not an IPv4 or IPv6 address",
    );
    assert_eq!(
        node.ctl(&["bans", "add", "10.0.0.1", "--duration", "5x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        node.ctl(&["bans", "add", "10.0.0.1"]).status.code(),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_applies_payout_keys_and_refuses_the_rest() {
    let Setup { node, dir, config } = start().await;
    let path = dir.path().join("defpool.toml");
    let unchanged = ctl_json(&node, &["config", "reload"]);
    assert_eq!(unchanged["changed"], Value::Array(vec![]));

    std::fs::write(
        &path,
        config.replace("min_payout = \"0.1\"", "min_payout = \"0.3\""),
    )
    .expect("write config");
    let reload = ctl_json(&node, &["config", "reload"]);
    assert_eq!(
        reload["changed"],
        serde_json::json!(["coins[XMR].min_payout"])
    );
    // Applied: the pool default threshold and the payout minimum follow.
    let settings = ctl_json(&node, &["settings", "get", MINER_B, "XMR"]);
    assert_eq!(atomic(&settings["threshold"]), 300_000_000_000);
    fails(
        &node.ctl(&["payout", "request", MINER_B, "XMR", "0.2"]),
        "below_threshold",
    );
    let shown = ctl_json(&node, &["config", "show"]);
    assert_eq!(shown["config"]["coins"][0]["min_payout"], "0.3");

    // A key that needs a restart: nothing applied, the key named, exit 1.
    std::fs::write(
        &path,
        config
            .replace("min_payout = \"0.1\"", "min_payout = \"0.5\"")
            .replace("verify_threads = 1", "verify_threads = 2"),
    )
    .expect("write config");
    let line = fails(&node.ctl(&["config", "reload"]), "restart_required");
    assert!(line.contains("stratum.verify_threads"), "{line}");
    assert!(!line.contains("min_payout\""), "{line}");
    let shown = ctl_json(&node, &["config", "show"]);
    assert_eq!(
        shown["config"]["coins"][0]["min_payout"], "0.3",
        "nothing applied"
    );

    std::fs::write(&path, "this is = not [valid").expect("write config");
    fails(&node.ctl(&["config", "reload"]), "invalid_config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_the_snapshot_and_events_as_lines_or_ndjson() {
    let Setup {
        node, dir: _dir, ..
    } = start().await;

    let out = node.ctl(&["--json", "watch", "--count", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    let snapshot: Value = serde_json::from_str(text.trim()).expect("NDJSON");
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["scope"], "admin");

    let out = node.ctl_with_token(None, &["watch", "--miner", MINER_B, "--count", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        line.contains("snapshot") && line.contains("(miner)"),
        "{line}"
    );

    // Events arrive as they happen: a payout request shows up as a line. (Other events,
    // such as the dead daemon's health and warnings, may come in between.)
    let mut watch = Watch::spawn(&node.api);
    assert_eq!(watch.next_json()["type"], "snapshot");
    ctl_json(&node, &["payout", "request", MINER_B, "XMR", "0.5"]);
    let event = watch.until(|m| m["kind"] == "payout_changed");
    assert_eq!(event["type"], "event", "{event}");
    assert_eq!(event["payout"]["miner"], MINER_B);
    assert_eq!(event["payout"]["status"], "pending");
    drop(watch);

    // Bad input.
    fails(
        &node.ctl_with_token(Some("wrong-token-000"), &["watch", "--count", "1"]),
        "unauthorized: wrong token",
    );
    fails(
        &node.ctl_with_token(None, &["watch", "--count", "1"]),
        "needs the admin token",
    );
    fails(
        &node.ctl_with_token(None, &["watch", "--miner", "4nope", "--count", "1"]),
        "bad_request",
    );
    assert_eq!(node.ctl(&["watch", "--count", "0"]).status.code(), Some(2));
}

/// `defpool-ctl --json watch` running in the background, its lines read on a thread so
/// a test can wait with a deadline; killed on drop.
struct Watch {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Watch {
    fn spawn(api: &str) -> Watch {
        let mut child = Command::new(ctl_bin())
            .args(["--url", api, "--json", "watch"])
            .env("DEFPOOL_TOKEN", TOKEN)
            .env_remove("DEFPOOL_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watch { child, lines }
    }

    /// The next line, parsed (each line is one JSON message).
    fn next_json(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("watch printed a line within 30 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not NDJSON ({e}): {line}"))
    }

    /// Reads lines until one matches.
    fn until(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.next_json();
            if matches(&message) {
                return message;
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reconnects_when_the_node_comes_back() {
    let Setup {
        mut node,
        dir,
        config,
    } = start().await;
    let mut watch = Watch::spawn(&node.api);
    let first = watch.next_json();
    assert_eq!(first["type"], "snapshot");
    // A crash drops the connection without a close frame; the new node on the same
    // address gets the watch back.
    node.kill9();
    let node = Node::start(dir.path(), &config, TOKEN, &[]).await;
    let again = watch.until(|m| m["type"] == "snapshot");
    assert_eq!(again["scope"], "admin");
    assert!(
        again["at"].as_i64() > first["at"].as_i64(),
        "a fresh snapshot from the new node"
    );
    // A clean stop closes the stream (1001) instead; the watch comes back again.
    let mut node = node;
    assert_eq!(node.stop().code(), Some(0));
    let node = Node::start(dir.path(), &config, TOKEN, &[]).await;
    let third = watch.until(|m| m["type"] == "snapshot");
    assert!(third["at"].as_i64() > again["at"].as_i64());
    assert!(
        watch.child.try_wait().expect("status").is_none(),
        "still watching"
    );
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_line_with_the_right_exit_code() {
    let Setup {
        node, dir: _dir, ..
    } = start().await;

    // An unknown miner.
    fails(
        &node.ctl(&["miners", "show", STRANGER]),
        "not_found: miner 42ey",
    );
    fails(&node.ctl(&["workers", STRANGER]), "not_found");
    fails(&node.ctl(&["miner", "4notanaddress"]), "invalid_address");

    // A wrong or missing token on every admin command.
    let admin: &[&[&str]] = &[
        &["miners", "list"],
        &["payouts"],
        &["payout", "request", MINER_B, "XMR", "0.5"],
        &["payout", "cancel", "1"],
        &["payout", "retry", "1"],
        &["settings", "set", MINER_B, "XMR", "--threshold", "0.5"],
        &["bans", "list"],
        &["bans", "add", "10.0.0.1", "--duration", "1m"],
        &["bans", "remove", "10.0.0.1"],
        &["config", "show"],
        &["config", "reload"],
        &["audit"],
    ];
    for args in admin {
        fails(
            &node.ctl_with_token(Some("wrong-token-000"), args),
            "unauthorized: wrong token",
        );
        fails(&node.ctl_with_token(None, args), "needs the admin token");
    }

    // The node down: every command fails on one line.
    let down = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["health"][..],
        &["miners", "list"],
        &["bans", "list"],
        &["config", "show"],
        &["watch", "--count", "1"],
        &["watch"],
    ] {
        fails(&ctl_at(&down, args), "cannot reach the node");
    }

    // Usage errors exit 2 before anything is sent.
    for args in [
        &["payout", "cancel", "abc"][..],
        &["payout", "retry"],
        &["miners"],
        &["miners", "list", "--limit", "0"],
        &["bans", "add", "10.0.0.1", "--duration", "0"],
        &["config", "edit"],
        &["payouts", "--status", "lost"],
    ] {
        assert_eq!(node.ctl(args).status.code(), Some(2), "{args:?}");
    }

    // Completions know the new commands.
    let out = node.ctl(&["completions", "bash"]);
    let script = String::from_utf8_lossy(&out.stdout);
    for word in [
        "miners", "workers", "bans", "config", "watch", "cancel", "retry",
    ] {
        assert!(script.contains(word), "completions lack {word}");
    }
}
