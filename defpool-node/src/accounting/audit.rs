//! The audit: recomputes every projection from the ledger, and every block's split
//! from its shares, and lists each difference. A clean audit is the proof that no
//! money was created, lost or counted twice.

use std::collections::BTreeSet;

use defpool_core::api::{AuditDifference, AuditReport, BlockStatus};

use crate::accounting::compute_split;
use crate::store::{BlockQuery, Store, StoreResult};

pub async fn run_audit(store: &Store) -> StoreResult<AuditReport> {
    let mut diffs = Vec::new();
    let mut diff = |kind: &str, coin: &str, subject: String, expected: i128, actual: i128| {
        diffs.push(AuditDifference {
            kind: kind.into(),
            coin: coin.into(),
            subject,
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    };

    // 1. Balances against the ledger, pending block credits and completed payouts.
    let ledger = store.ledger_sums().await?;
    let immature = store.pending_credit_sums().await?;
    let paid = store.completed_payout_sums().await?;
    let rows = store.balance_rows().await?;
    let keys: BTreeSet<&(String, String)> = ledger
        .keys()
        .chain(immature.keys())
        .chain(paid.keys())
        .chain(rows.keys())
        .collect();
    for key in &keys {
        let (coin, account) = key;
        let row = rows.get(*key);
        let actual =
            |f: fn(&crate::store::BalanceRow) -> i64| row.map(|r| i128::from(f(r))).unwrap_or(0);
        let expected_balance = ledger.get(*key).copied().unwrap_or(0);
        if expected_balance != actual(|r| r.balance) {
            diff(
                "balance",
                coin,
                account.clone(),
                expected_balance,
                actual(|r| r.balance),
            );
        }
        let expected_immature = immature.get(*key).copied().unwrap_or(0);
        if expected_immature != actual(|r| r.immature) {
            diff(
                "immature",
                coin,
                account.clone(),
                expected_immature,
                actual(|r| r.immature),
            );
        }
        let expected_paid = paid.get(*key).copied().unwrap_or(0);
        if expected_paid != actual(|r| r.paid) {
            diff(
                "paid",
                coin,
                account.clone(),
                expected_paid,
                actual(|r| r.paid),
            );
        }
    }

    // 2. Every block: credits sum to the reward, match a fresh recomputation from the
    //    shares, and a confirmed block's ledger entries equal its credits.
    // Proxy mode: every PPS entry is the sum of its shares, and the PPS fees in the
    // ledger are the fees of the credited shares.
    for (coin, subject, expected, actual) in store.pps_entry_differences().await? {
        diff("pps_entry", &coin, subject, expected, actual);
    }
    for (coin, (ledger_fees, share_fees)) in store.pps_fee_sums().await? {
        if ledger_fees != share_fees {
            diff(
                "pps_fees",
                &coin,
                "pps_fees".into(),
                share_fees,
                ledger_fees,
            );
        }
    }

    let block_ledger = store.block_ledger_sums().await?;
    let mut blocks_checked = 0u64;
    let mut before = None;
    loop {
        let page = store
            .blocks(&BlockQuery {
                before_id: before,
                limit: 500,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for block in &page {
            blocks_checked += 1;
            let subject = format!("block:{}", block.id);
            let ledger_sum = block_ledger.get(&block.id).copied().unwrap_or(0);
            if !block.credits_computed {
                if ledger_sum != 0 {
                    diff("block_ledger", &block.coin, subject, 0, ledger_sum);
                }
                continue;
            }
            let credits = store.block_credits(block.id).await?;
            let credit_sum: i128 = credits.iter().map(|c| i128::from(c.amount.atomic())).sum();
            let reward = i128::from(block.reward.atomic());
            if credit_sum != reward {
                diff(
                    "block_credits",
                    &block.coin,
                    subject.clone(),
                    reward,
                    credit_sum,
                );
            }
            let recomputed = compute_split(store, block).await?;
            for (account, amount) in &recomputed.credits {
                let stored: i128 = credits
                    .iter()
                    .filter(|c| &c.account == account && c.kind == "block_reward")
                    .map(|c| i128::from(c.amount.atomic()))
                    .sum();
                if stored != i128::from(amount.atomic()) {
                    diff(
                        "block_round",
                        &block.coin,
                        format!("{subject}:{account}"),
                        i128::from(amount.atomic()),
                        stored,
                    );
                }
            }
            let expected_ledger = if block.status == BlockStatus::Confirmed {
                reward
            } else {
                0
            };
            if ledger_sum != expected_ledger {
                diff(
                    "block_ledger",
                    &block.coin,
                    subject,
                    expected_ledger,
                    ledger_sum,
                );
            }
        }
    }

    // 3. Every payout: debited once; refunded once exactly when it failed.
    let payouts = store.payout_ledger_rows().await?;
    for p in &payouts {
        let subject = format!("payout:{}", p.id);
        if p.debit != -p.amount {
            diff(
                "payout_debit",
                &p.coin,
                subject.clone(),
                -i128::from(p.amount),
                i128::from(p.debit),
            );
        }
        let expected_refund = if p.status == "failed" { p.amount } else { 0 };
        if p.refund != expected_refund {
            diff(
                "payout_refund",
                &p.coin,
                subject,
                i128::from(expected_refund),
                i128::from(p.refund),
            );
        }
    }

    Ok(AuditReport {
        ok: diffs.is_empty(),
        balances_checked: keys.len() as u64,
        blocks_checked,
        payouts_checked: payouts.len() as u64,
        differences: diffs,
    })
}
