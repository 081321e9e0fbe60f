//! The real node binary on a temp SQLite file, a real regtest monerod and
//! monero-wallet-rpc: shares and a block are recorded, the block matures, the
//! processors credit and pay, and every endpoint and every `defpool-ctl` command is
//! driven against it, bad input included.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::node::{ctl_json, Node};
use support::pool::{Pool, MINER_B, MINER_C, TOKEN};
use support::{atomic, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_credits_pays_and_serves_every_endpoint_and_cli_command() {
    let Some(pool) = Pool::start().await else {
        return;
    };
    let (reward, credits, fee) = pool.record_round_and_block(5).await;
    assert_eq!(
        credits.iter().map(|(_, a)| u128::from(*a)).sum::<u128>() + u128::from(fee),
        u128::from(reward)
    );
    assert_eq!(credits.len(), 3, "the PPLNS window covers all three miners");

    let mut node = Node::start(pool.path(), &pool.config(false), TOKEN, &[]).await;

    // The balance updater computes the round and, the block being past maturity,
    // credits it.
    wait_until(
        "the block to be confirmed",
        Duration::from_secs(30),
        || async {
            node.get("/api/v1/blocks?status=confirmed").await["items"]
                .as_array()
                .map(|a| a.len())
                == Some(1)
        },
    )
    .await;
    let blocks = node.get("/api/v1/blocks").await;
    let block = &blocks["items"][0];
    assert_eq!(block["height"], 5);
    assert_eq!(block["status"], "confirmed");
    assert_eq!(atomic(&block["reward"]), reward);
    assert!(block["confirmations"].as_u64().unwrap() >= 10);

    // Credits are exactly the PPLNS split; the pool fee went to the pool address.
    for (miner, amount) in &credits {
        let b = node
            .get(&format!("/api/v1/miners/{miner}/balance/XMR"))
            .await;
        assert_eq!(atomic(&b["balance"]), *amount, "balance of {miner}");
        assert_eq!(atomic(&b["immature"]), 0);
    }
    let fee_balance = node
        .get(&format!("/api/v1/miners/{}/balance/XMR", pool.pool_address))
        .await;
    assert_eq!(atomic(&fee_balance["balance"]), fee);

    // Miner view: workers, valid and rejected shares, a hashrate estimate.
    let miner = node.get(&format!("/api/v1/miners/{}", pool.miner_a)).await;
    assert_eq!(miner["workers"][0]["name"], "rig1");
    assert_eq!(miner["valid_shares"], 12);
    assert_eq!(miner["invalid_shares"], 1);
    assert!(miner["hashrate"].as_f64().unwrap() > 0.0);
    let all_balances = node
        .get(&format!("/api/v1/miners/{MINER_B}/balances"))
        .await;
    assert_eq!(all_balances["balances"][0]["coin"], "XMR");

    let stats = node.get("/api/v1/pool/stats").await;
    assert_eq!(stats["coins"][0]["coin"], "XMR");
    assert_eq!(stats["coins"][0]["miners"], 3);
    assert_eq!(stats["coins"][0]["blocks_confirmed"], 1);
    assert_eq!(stats["coins"][0]["wallet_configured"], true);

    let health = node.get("/api/v1/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    let openapi = node.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/health",
        "/api/v1/pool/stats",
        "/api/v1/blocks",
        "/api/v1/miners/{wallet}",
        "/api/v1/miners/{wallet}/balances",
        "/api/v1/miners/{wallet}/balance/{coin}",
        "/api/v1/miners/{wallet}/payout",
        "/api/v1/miners/{wallet}/payouts",
        "/api/v1/miners/{wallet}/payout-settings",
        "/api/v1/admin/audit",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }

    // Bad input: each gets its stable error code, nothing moves.
    let a = pool.miner_a.clone();
    let bad = [
        ("POST", format!("/api/v1/miners/{a}/payout"), Some(TOKEN), Some(r#"{"coin":"DOGE"}"#.to_string()), 404, "unknown_coin"),
        ("POST", format!("/api/v1/miners/{a}/payout"), Some(TOKEN), Some(r#"{"coin":"LTC"}"#.to_string()), 404, "unknown_coin"),
        ("POST", "/api/v1/miners/4notanaddress/payout".to_string(), Some(TOKEN), Some(r#"{"coin":"XMR"}"#.to_string()), 400, "invalid_address"),
        ("GET", "/api/v1/miners/notanaddress/balances".to_string(), None, None, 400, "invalid_address"),
        ("POST", format!("/api/v1/miners/{a}/payout"), Some(TOKEN), Some(r#"{"coin":"XMR","atomic":"1000"}"#.to_string()), 422, "below_threshold"),
        ("POST", format!("/api/v1/miners/{a}/payout"), Some(TOKEN), Some(r#"{"coin":"XMR","atomic":"99999999999999999999"}"#.to_string()), 400, "invalid_amount"),
        ("POST", format!("/api/v1/miners/{a}/payout"), Some(TOKEN), Some(format!(r#"{{"coin":"XMR","atomic":"{}"}}"#, credits.iter().find(|(m, _)| *m == a).unwrap().1 + 1)), 422, "insufficient_balance"),
        ("POST", format!("/api/v1/miners/{a}/payout"), Some(TOKEN), Some("{not json".to_string()), 400, "invalid_json"),
        ("POST", format!("/api/v1/miners/{a}/payout"), None, Some(r#"{"coin":"XMR"}"#.to_string()), 401, "unauthorized"),
        ("POST", format!("/api/v1/miners/{a}/payout"), Some("wrong-token-000"), Some(r#"{"coin":"XMR"}"#.to_string()), 401, "unauthorized"),
        ("PUT", format!("/api/v1/miners/{a}/payout-settings"), None, Some(r#"{"coin":"XMR","threshold":"5000000000"}"#.to_string()), 401, "unauthorized"),
        ("PUT", format!("/api/v1/miners/{a}/payout-settings"), Some(TOKEN), Some(r#"{"coin":"XMR","threshold":"5"}"#.to_string()), 422, "below_threshold"),
        ("PUT", format!("/api/v1/miners/{a}/payout-settings"), Some(TOKEN), Some(r#"{"coin":"XMR","target_coin":"BTC"}"#.to_string()), 400, "bad_request"),
        ("GET", "/api/v1/admin/audit".to_string(), None, None, 401, "unauthorized"),
        ("GET", "/api/v1/blocks?limit=0".to_string(), None, None, 400, "bad_request"),
        ("GET", "/api/v1/blocks?cursor=abc".to_string(), None, None, 400, "bad_request"),
        ("GET", "/api/v1/blocks?status=lost".to_string(), None, None, 400, "bad_request"),
        ("GET", format!("/api/v1/miners/{}", "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm"), None, None, 404, "not_found"),
        ("GET", "/api/v1/nope".to_string(), None, None, 404, "not_found"),
    ];
    for (method, path, token, body, status, code) in bad {
        let (got, body_json) = node.request(method, &path, token, body.as_deref()).await;
        assert_eq!(got, status, "{method} {path}: {body_json}");
        assert_eq!(
            body_json["error"]["code"], code,
            "{method} {path}: {body_json}"
        );
        assert!(body_json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let b = node.get(&format!("/api/v1/miners/{a}/balance/XMR")).await;
    assert_eq!(
        atomic(&b["pending_payouts"]),
        0,
        "no bad request created a payout"
    );

    // Settings through the API and the CLI.
    let (st, s) = node
        .request(
            "PUT",
            &format!("/api/v1/miners/{a}/payout-settings"),
            Some(TOKEN),
            Some(r#"{"coin":"XMR","threshold":"5000000000"}"#),
        )
        .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(atomic(&s["threshold"]), 5_000_000_000);
    let s = ctl_json(
        &node,
        &["settings", "set", MINER_C, "XMR", "--threshold", "0.25"],
    );
    assert_eq!(s["threshold"]["atomic"], "250000000000");
    let s = ctl_json(&node, &["settings", "get", MINER_C, "XMR"]);
    assert_eq!(s["threshold"]["atomic"], "250000000000");
    assert_eq!(s["customized"], true);
    let s = ctl_json(&node, &["settings", "get", MINER_B, "XMR"]);
    assert_eq!(s["customized"], false);
    assert_eq!(s["threshold"]["atomic"], "1000000000");

    // A payout requested through the CLI is sent by the processor and arrives.
    let a_credit = credits.iter().find(|(m, _)| *m == a).unwrap().1;
    let p = ctl_json(&node, &["payout", "request", &a, "XMR", "1.5"]);
    assert_eq!(p["status"], "pending");
    assert_eq!(p["amount"]["atomic"], "1500000000000");
    let b = node.get(&format!("/api/v1/miners/{a}/balance/XMR")).await;
    assert_eq!(
        atomic(&b["balance"]),
        a_credit - 1_500_000_000_000,
        "debited at request time"
    );
    wait_until(
        "the payout to complete",
        Duration::from_secs(60),
        || async {
            node.get(&format!("/api/v1/miners/{a}/payouts?status=completed"))
                .await["items"]
                .as_array()
                .map(|i| i.len())
                == Some(1)
        },
    )
    .await;
    let paid = node.get(&format!("/api/v1/miners/{a}/payouts")).await;
    let tx = paid["items"][0]["tx_hash"]
        .as_str()
        .expect("tx hash")
        .to_string();
    assert_eq!(tx.len(), 64);
    assert!(atomic(&paid["items"][0]["fee"]) > 0);
    let out: Vec<Value> = pool
        .wallet
        .outgoing()
        .await
        .into_iter()
        .filter(|t| t["txid"] == tx.as_str())
        .collect();
    assert_eq!(out.len(), 1, "the wallet sent it exactly once");
    pool.monerod.generate(1, &pool.pool_address).await;
    let (received, _) = pool.miner_wallet.balance().await;
    assert_eq!(
        received, 1_500_000_000_000,
        "the payout arrived in the miner's wallet"
    );

    // The rest of the balance through the API (no amount = everything).
    let (st, p2) = node
        .request(
            "POST",
            &format!("/api/v1/miners/{a}/payout"),
            Some(TOKEN),
            Some(r#"{"coin":"XMR"}"#),
        )
        .await;
    assert_eq!(st, 201, "{p2}");
    assert_eq!(atomic(&p2["amount"]), a_credit - 1_500_000_000_000);
    // A second open payout is refused while the first is pending.
    let (st, e) = node
        .request(
            "POST",
            &format!("/api/v1/miners/{a}/payout"),
            Some(TOKEN),
            Some(r#"{"coin":"XMR"}"#),
        )
        .await;
    assert!(st == 409 || st == 422, "{st} {e}");
    wait_until(
        "the second payout to complete",
        Duration::from_secs(60),
        || async {
            node.get(&format!("/api/v1/miners/{a}/payouts?status=completed"))
                .await["items"]
                .as_array()
                .map(|i| i.len())
                == Some(2)
        },
    )
    .await;
    // Paging: one per page, the cursor leads to the older one, then the end.
    let page1 = node
        .get(&format!("/api/v1/miners/{a}/payouts?limit=1"))
        .await;
    let cursor = page1["next_cursor"].as_str().expect("cursor").to_string();
    let page2 = node
        .get(&format!(
            "/api/v1/miners/{a}/payouts?limit=1&cursor={cursor}"
        ))
        .await;
    assert_ne!(page1["items"][0]["id"], page2["items"][0]["id"]);
    let page3 = node
        .get(&format!(
            "/api/v1/miners/{a}/payouts?limit=1&cursor={}",
            page2["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page3["items"].as_array().unwrap().len(), 0);
    let all = ctl_json(&node, &["payouts", &a, "--all", "--limit", "1"]);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let b = node.get(&format!("/api/v1/miners/{a}/balance/XMR")).await;
    assert_eq!(atomic(&b["balance"]), 0);
    assert_eq!(atomic(&b["paid"]), a_credit);

    // Every CLI command, in JSON (parsed back) and in human form.
    assert_eq!(ctl_json(&node, &["health"])["status"], "ok");
    assert_eq!(ctl_json(&node, &["stats"])["coins"][0]["coin"], "XMR");
    assert_eq!(ctl_json(&node, &["miner", &a])["miner"], a.as_str());
    assert_eq!(
        ctl_json(&node, &["balances", MINER_B])["balances"][0]["coin"],
        "XMR"
    );
    assert_eq!(ctl_json(&node, &["balance", MINER_B, "XMR"])["coin"], "XMR");
    assert_eq!(ctl_json(&node, &["blocks"])["items"][0]["height"], 5);
    assert_eq!(
        ctl_json(&node, &["blocks", "--status", "confirmed", "--coin", "XMR"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let audit = ctl_json(&node, &["audit"]);
    assert_eq!(audit["ok"], true, "{audit}");
    assert!(audit["balances_checked"].as_u64().unwrap() >= 4);
    assert_eq!(audit["payouts_checked"], 2);

    let human = node.ctl(&["balances", MINER_B]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    let b_credit = credits.iter().find(|(m, _)| m == MINER_B).unwrap().1;
    let decimal = defpool_core::Amount::from_atomic(b_credit).to_decimal(12);
    assert!(
        text.contains(&decimal),
        "human balances show decimal XMR {decimal}: {text}"
    );
    let human = node.ctl(&["audit"]);
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("clean"));

    // CLI failures: one line on stderr and exit 1; usage errors exit 2.
    let out = node.ctl(&["miner", "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not_found"), "{err}");
    let out = node.ctl_with_token(
        Some("wrong-token-000"),
        &["payout", "request", MINER_B, "XMR"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"));
    let out = node.ctl(&["payout", "request", MINER_B, "XMR", "1000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("insufficient_balance"));
    let out = node.ctl(&["payout", "request", "bad-address", "XMR", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_address"));
    let out = node.ctl(&["settings", "set", MINER_B, "XMR"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no option to set is a usage error"
    );
    let out = node.ctl(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    // A clean stop, then the CLI against a node that is down.
    let status = node.stop();
    assert!(status.success(), "node exited with {status}");
    let out = node.ctl(&["health"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    let _ = json!({});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_wait_with_a_reason_when_no_wallet_is_configured() {
    let Some(pool) = Pool::start().await else {
        return;
    };
    let (_, credits, _) = pool.record_round_and_block(7).await;
    let config = pool.config(false).replace(
        &format!("  [coins.wallet]\n  url = \"{}\"\n", pool.wallet.url),
        "",
    );
    assert!(!config.contains("coins.wallet"));
    let node = Node::start(pool.path(), &config, TOKEN, &[]).await;
    wait_until(
        "the block to be confirmed",
        Duration::from_secs(30),
        || async {
            node.get("/api/v1/blocks?status=confirmed").await["items"]
                .as_array()
                .map(|a| a.len())
                == Some(1)
        },
    )
    .await;
    let (miner, amount) = credits[0].clone();
    let (st, p) = node
        .request(
            "POST",
            &format!("/api/v1/miners/{miner}/payout"),
            Some(TOKEN),
            Some(r#"{"coin":"XMR"}"#),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(atomic(&p["amount"]), amount);
    wait_until("the reason to show", Duration::from_secs(20), || async {
        let list = node.get(&format!("/api/v1/miners/{miner}/payouts")).await;
        list["items"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no wallet"))
    })
    .await;
    let list = node.get(&format!("/api/v1/miners/{miner}/payouts")).await;
    assert_eq!(
        list["items"][0]["status"], "pending",
        "never a fake success"
    );
    assert!(list["items"][0]["tx_hash"].is_null());
    let health = node.get("/api/v1/health").await;
    assert!(health["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "wallet:XMR" && c["status"] == "not_configured"));
    assert_eq!(node.get("/api/v1/admin/audit").await["ok"], true);

    // Tamper with the balances projection behind the node's back: the audit finds
    // it and `defpool-ctl audit` fails with exit code 1.
    let store = defpool_node::store::Store::connect(&pool.db_url, 1)
        .await
        .unwrap();
    sqlx::query("UPDATE balances SET balance = balance + 7 WHERE account = $1")
        .bind(MINER_C)
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let out = node.ctl(&["audit"]);
    assert_eq!(out.status.code(), Some(1), "a dirty audit exits 1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("balance") && text.contains(&MINER_C[..8]),
        "{text}"
    );
    let report = node.get("/api/v1/admin/audit").await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["differences"][0]["kind"], "balance");
    assert_eq!(report["differences"][0]["subject"], MINER_C);
}
