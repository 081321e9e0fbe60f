//! The Bitcoin-family daemon client and wallet against real `litecoind -regtest`
//! (two connected nodes, as Litecoin's `getblocktemplate` requires): templates with
//! the coin's rules, block submission answers, address checks, and payouts built,
//! recorded and broadcast in two steps, with a bad address isolated and a
//! republished transaction never paying twice.

mod support;

use defpool_core::coin::LTC;
use defpool_core::Amount;
use defpool_node::daemon::{BitcoinDaemon, ChainView, RpcError, SubmitOutcome};
use defpool_node::payout::bitcoin_wallet::BitcoinWallet;
use defpool_node::payout::{Transfer, TxStatus, Wallet, WalletError};
use serde_json::json;
use support::litecoin::{LitecoinPair, Litecoind, RPC_PASSWORD, RPC_USER};

fn ltc(atomic: u64) -> Amount {
    Amount::from_atomic(atomic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litecoind_templates_blocks_and_addresses() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let node = &pair.main;
    let address = node.wallet_with_address("pool").await;
    node.generate(3, &address).await;

    let daemon = BitcoinDaemon::new(&node.url, RPC_USER, RPC_PASSWORD).unwrap();
    assert_eq!(daemon.tip_height().await.unwrap(), 3);
    let info = daemon.chain_info().await.unwrap();
    assert_eq!((info.chain.as_str(), info.blocks), ("regtest", 3));
    assert_eq!(daemon.best_block_hash().await.unwrap(), info.bestblockhash);
    assert_eq!(
        daemon.block_hash(3).await.unwrap(),
        Some(info.bestblockhash.clone())
    );
    assert_eq!(daemon.block_hash(4).await.unwrap(), None, "above the tip");
    assert_eq!(daemon.mining_info().await.unwrap().blocks, 3);

    // The template needs LTC's rules (mweb + segwit), which CoinSpec supplies.
    let template = daemon.block_template(&LTC).await.unwrap();
    assert_eq!(template["height"], 4);
    assert_eq!(template["previousblockhash"], info.bestblockhash.as_str());
    assert!(template["coinbasevalue"].as_u64().unwrap() > 0);
    assert!(template["default_witness_commitment"].is_string());

    // submitblock: undecodable → -22 error; a decodable but wrong block → reason.
    match daemon.submit_block("00").await {
        Err(RpcError::Remote { code: -22, .. }) => {}
        other => panic!("garbage block: {other:?}"),
    }
    let best = node
        .call("", "getblock", json!([info.bestblockhash, 0]))
        .await;
    assert_eq!(
        daemon.submit_block(best.as_str().unwrap()).await.unwrap(),
        SubmitOutcome::Duplicate,
        "resubmitting the tip is reported as a duplicate"
    );

    let check = daemon.validate_address(&address).await.unwrap();
    assert!(check.isvalid && !check.ismweb && !check.script_pubkey.is_empty());
    assert!(!daemon.validate_address("rltc1qnot").await.unwrap().isvalid);

    // Cookie authentication reads the daemon's .cookie... which exists only when no
    // rpcuser is set; a missing file is a clear, retryable error.
    let missing = node.data_dir.join("regtest/.cookie-absent");
    let cookie_daemon = BitcoinDaemon::with_cookie_file(&node.url, &missing).unwrap();
    match cookie_daemon.tip_height().await {
        Err(RpcError::Unreachable { message, .. }) => {
            assert!(message.contains("cookie"), "{message}")
        }
        other => panic!("missing cookie: {other:?}"),
    }
    let cookie = node.data_dir.join("test.cookie");
    std::fs::write(&cookie, format!("{RPC_USER}:{RPC_PASSWORD}")).unwrap();
    let cookie_daemon = BitcoinDaemon::with_cookie_file(&node.url, &cookie).unwrap();
    assert_eq!(cookie_daemon.tip_height().await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litecoin_payouts_are_built_recorded_then_broadcast_once() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let node = &pair.main;
    let pool_address = node.wallet_with_address("pool").await;
    let alice = node.wallet_with_address("miners").await;
    let bob = node
        .call(
            &Litecoind::wallet_path("miners"),
            "getnewaddress",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    let wallet = BitcoinWallet::new(
        &LTC,
        &format!("{}/wallet/pool", node.url),
        RPC_USER,
        RPC_PASSWORD,
        None,
    )
    .unwrap();
    wallet.check().await.unwrap();

    let transfers = vec![
        Transfer {
            payout_id: 1,
            address: alice.clone(),
            amount: ltc(123_456_789),
        },
        Transfer {
            payout_id: 2,
            address: bob.clone(),
            amount: ltc(100_000),
        },
    ];
    // Coinbase is immature for 100 blocks: the wallet has nothing spendable yet.
    node.generate(1, &pool_address).await;
    match wallet.prepare(&transfers).await {
        Err(WalletError::InsufficientFunds(_)) => {}
        other => panic!("no mature funds: {other:?}"),
    }
    node.generate(101, &pool_address).await;

    // A bad destination is named as such (the processor then isolates it).
    let mut with_bad = transfers.clone();
    with_bad.push(Transfer {
        payout_id: 3,
        address: "rltc1qthisisnotanaddress".into(),
        amount: ltc(5_000),
    });
    match wallet.prepare(&with_bad).await {
        Err(WalletError::Rejected {
            bad_address: true, ..
        }) => {}
        other => panic!("bad address: {other:?}"),
    }

    // Built and signed, not broadcast: the network does not know it.
    let prepared = wallet.prepare(&transfers).await.unwrap();
    assert_eq!(prepared.tx_hash.len(), 64);
    assert!(prepared.fee.atomic() > 0 && prepared.fee.atomic() < 1_000_000);
    assert_eq!(
        wallet.tx_status(&prepared.tx_hash).await.unwrap(),
        TxStatus::Unknown
    );
    assert_eq!(mempool_size(node).await, 0);

    // Broadcast, then again (as after an unclear answer): one transaction.
    wallet.broadcast(&prepared).await.unwrap();
    wallet.broadcast(&prepared).await.unwrap();
    assert_eq!(
        wallet.tx_status(&prepared.tx_hash).await.unwrap(),
        TxStatus::InPool
    );
    assert_eq!(mempool_size(node).await, 1);
    node.generate(2, &pool_address).await;
    assert_eq!(
        wallet.tx_status(&prepared.tx_hash).await.unwrap(),
        TxStatus::Mined { confirmations: 2 }
    );
    // Republishing a mined transaction is still success, and pays nothing more.
    wallet.broadcast(&prepared).await.unwrap();

    let received = |address: String| async move {
        let v = node
            .call(
                &Litecoind::wallet_path("miners"),
                "getreceivedbyaddress",
                json!([address, 1]),
            )
            .await;
        Amount::from_decimal(&format!("{:.8}", v.as_f64().unwrap()), 8)
            .unwrap()
            .atomic()
    };
    assert_eq!(
        received(alice.clone()).await,
        123_456_789,
        "paid exactly, once"
    );
    assert_eq!(received(bob).await, 100_000);

    // Proxy reconciliation reads the same through the wallet client: payments in,
    // never the pool's own block rewards.
    let miners_wallet = BitcoinWallet::new(
        &LTC,
        &format!("{}/wallet/miners", node.url),
        RPC_USER,
        RPC_PASSWORD,
        None,
    )
    .unwrap();
    assert_eq!(
        miners_wallet.received(&alice).await.unwrap().atomic(),
        123_456_789
    );
    assert_eq!(wallet.received(&pool_address).await.unwrap().atomic(), 0);
}

async fn mempool_size(node: &Litecoind) -> u64 {
    node.call("", "getmempoolinfo", json!([])).await["size"]
        .as_u64()
        .unwrap()
}
