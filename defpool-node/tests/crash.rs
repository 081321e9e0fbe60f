//! `kill -9` of the real node in the middle of crediting a block and of processing a
//! payout, against a real monerod and monero-wallet-rpc: after each restart the audit
//! is clean, no credit is lost or doubled, and no payout is sent twice.

mod support;

use std::time::Duration;

use defpool_core::api::{BlockStatus, PayoutStatus};
use defpool_node::accounting::run_audit;
use defpool_node::store::{BlockQuery, PayoutQuery, Store};
use support::node::Node;
use support::pool::{Pool, TOKEN};

async fn open(pool: &Pool) -> Store {
    Store::connect(&pool.db_url, 2).await.expect("open store")
}

async fn assert_audit_clean(store: &Store, when: &str) {
    let report = run_audit(store).await.expect("audit");
    assert!(report.ok, "audit after {when}: {:?}", report.differences);
}

/// Starts the node with a failpoint armed, waits until it pauses there, kills it.
async fn kill_at(pool: &Pool, failpoint: &str, auto_payout: bool) {
    let mut node = Node::start(
        pool.path(),
        &pool.config(auto_payout),
        TOKEN,
        &[("DEFPOOL_FAILPOINT", failpoint)],
    )
    .await;
    node.wait_for_log(
        &format!("FAILPOINT {failpoint} reached"),
        Duration::from_secs(60),
    )
    .await;
    node.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_crediting_a_block_and_while_paying_leaves_the_ledger_clean() {
    let Some(pool) = Pool::start().await else {
        return;
    };
    let (reward, credits, fee) = pool.record_round_and_block(5).await;

    // 1. Killed while fixing the block's split: nothing of it is stored.
    kill_at(&pool, "block_credits.mid", false).await;
    let store = open(&pool).await;
    let block = store
        .blocks(&BlockQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(block.status, BlockStatus::Pending);
    assert!(
        !block.credits_computed,
        "the interrupted split was rolled back"
    );
    assert!(store.block_credits(block.id).await.unwrap().is_empty());
    assert_audit_clean(&store, "kill -9 in the split").await;
    store.close().await;

    // 2. Killed while moving the matured credits into balances: no half credit.
    kill_at(&pool, "confirm_block.mid", false).await;
    let store = open(&pool).await;
    let block = store.block(block.id).await.unwrap().unwrap();
    assert_eq!(
        block.status,
        BlockStatus::Pending,
        "the interrupted credit was rolled back"
    );
    assert!(
        block.credits_computed,
        "the split committed in the earlier run"
    );
    for (miner, amount) in &credits {
        let b = store
            .balance("XMR", miner)
            .await
            .unwrap()
            .expect("balance row");
        assert_eq!(b.balance.atomic(), 0);
        assert_eq!(b.immature.atomic(), *amount);
    }
    assert!(
        store.ledger_sums().await.unwrap().is_empty(),
        "no ledger entry survived the kill"
    );
    assert_audit_clean(&store, "kill -9 in the credit").await;
    store.close().await;

    // 3. Killed after the payout intent, before the wallet call: the restart finds
    //    nothing sent and sends once. Automatic payouts create the payouts here.
    kill_at(&pool, "payout.before_send", true).await;
    let store = open(&pool).await;
    let block = store.block(block.id).await.unwrap().unwrap();
    assert_eq!(block.status, BlockStatus::Confirmed);
    let processing = store.processing_payouts("XMR").await.unwrap();
    assert!(
        !processing.is_empty(),
        "the intent was committed before the kill"
    );
    assert!(
        pool.wallet.outgoing().await.is_empty(),
        "nothing was sent before the kill"
    );
    assert_audit_clean(&store, "kill -9 before sending").await;
    let payees: Vec<(String, u64)> = processing
        .iter()
        .map(|p| (p.account.clone(), p.amount.atomic()))
        .collect();
    store.close().await;

    let node = Node::start(pool.path(), &pool.config(true), TOKEN, &[]).await;
    let store = open(&pool).await;
    support::wait_until(
        "the payouts to be sent after the restart",
        Duration::from_secs(60),
        || async {
            store.processing_payouts("XMR").await.unwrap().is_empty()
                && store
                    .payouts(&PayoutQuery {
                        status: Some(PayoutStatus::Pending),
                        limit: 100,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .is_empty()
        },
    )
    .await;
    drop(node);
    let outgoing = pool.wallet.outgoing().await;
    for (account, amount) in &payees {
        let sent: Vec<_> = outgoing
            .iter()
            .filter(|t| {
                t["destinations"].as_array().is_some_and(|d| {
                    d.iter()
                        .any(|x| x["address"] == account.as_str() && x["amount"] == *amount)
                })
            })
            .collect();
        assert_eq!(sent.len(), 1, "{account} was paid exactly once");
    }
    assert_audit_clean(&store, "restart after kill before sending").await;

    // 4. Killed after the transaction was built and recorded, before it was
    //    broadcast: the restart republishes exactly that transaction, nothing else.
    let (reward2, credits2, _) = pool.record_round_and_block(6).await;
    assert!(reward2 > 0 && !credits2.is_empty());
    let sent_before = pool.wallet.outgoing().await.len();
    kill_at(&pool, "payout.prepared", true).await;
    assert_eq!(
        pool.wallet.outgoing().await.len(),
        sent_before,
        "a prepared transaction is not broadcast"
    );
    let prepared = store.processing_payouts("XMR").await.unwrap();
    assert!(!prepared.is_empty(), "the node died before broadcasting");
    let prepared_tx = prepared[0].tx_hash.clone().expect("transaction recorded");
    assert!(prepared
        .iter()
        .all(|p| p.tx_hash.as_deref() == Some(&prepared_tx)));
    assert_audit_clean(&store, "kill -9 after preparing").await;
    store.close().await;

    let node = Node::start(pool.path(), &pool.config(true), TOKEN, &[]).await;
    node.wait_for_log("payout transaction republished", Duration::from_secs(60))
        .await;
    drop(node);
    let store = open(&pool).await;
    for p in &prepared {
        let p = store.payout(p.id).await.unwrap().unwrap();
        assert_eq!(p.status, PayoutStatus::Completed);
        assert_eq!(p.tx_hash.as_deref(), Some(prepared_tx.as_str()));
    }
    let outgoing = pool.wallet.outgoing().await;
    assert_eq!(outgoing.len(), sent_before + 1, "broadcast once");
    assert!(
        outgoing.iter().any(|t| t["txid"] == prepared_tx.as_str()),
        "the wallet sent the transaction that was recorded"
    );
    assert_audit_clean(&store, "restart after kill after preparing").await;
    store.close().await;

    // 5. Killed after the broadcast, before the node recorded the payouts completed:
    //    the restart finds the transaction on the network and records it instead of
    //    sending again.
    let (reward3, credits3, _) = pool.record_round_and_block(7).await;
    assert!(reward3 > 0 && !credits3.is_empty());
    let sent_before = pool.wallet.outgoing().await.len();
    kill_at(&pool, "payout.after_send", true).await;
    let after_kill = pool.wallet.outgoing().await;
    assert_eq!(
        after_kill.len(),
        sent_before + 1,
        "the wallet sent one transaction before the kill"
    );
    let store = open(&pool).await;
    let stuck = store.processing_payouts("XMR").await.unwrap();
    assert!(!stuck.is_empty(), "the node died before recording the send");
    let txid = stuck[0]
        .tx_hash
        .clone()
        .expect("transaction recorded before broadcast");
    assert!(
        after_kill.iter().any(|t| t["txid"] == txid.as_str()),
        "the broadcast transaction is the recorded one"
    );
    assert_audit_clean(&store, "kill -9 after sending").await;
    store.close().await;

    let node = Node::start(pool.path(), &pool.config(true), TOKEN, &[]).await;
    node.wait_for_log(
        "found on the network; recorded as sent",
        Duration::from_secs(60),
    )
    .await;
    drop(node);
    let store = open(&pool).await;
    for p in &stuck {
        let p = store.payout(p.id).await.unwrap().unwrap();
        assert_eq!(p.status, PayoutStatus::Completed);
        assert_eq!(
            p.tx_hash.as_deref(),
            Some(txid.as_str()),
            "recorded with the transaction the wallet sent"
        );
    }
    assert_eq!(
        pool.wallet.outgoing().await.len(),
        sent_before + 1,
        "not sent a second time"
    );
    assert_audit_clean(&store, "restart after kill after sending").await;

    // Money check: everything credited is either paid or still a balance.
    let total_credited: u128 = credits
        .iter()
        .chain(credits2.iter())
        .chain(credits3.iter())
        .map(|(_, a)| u128::from(*a))
        .sum();
    let _ = (reward, fee);
    let distinct: std::collections::BTreeSet<&String> = credits
        .iter()
        .chain(credits2.iter())
        .chain(credits3.iter())
        .map(|(m, _)| m)
        .collect();
    let mut accounted = 0u128;
    for miner in distinct {
        let b = store.balance("XMR", miner).await.unwrap().unwrap();
        accounted += u128::from(b.balance.atomic())
            + u128::from(b.paid.atomic())
            + u128::from(b.pending_payouts.atomic());
    }
    assert_eq!(accounted, total_credited, "no credit lost or doubled");
    store.close().await;
}
