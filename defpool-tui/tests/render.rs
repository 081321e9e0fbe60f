//! Rendering tests: a recorded stream (snapshot + events) from
//! `tests/fixtures/session.jsonl` is folded into an `App`, keys are pressed, and every
//! screen is drawn into ratatui's `TestBackend` at 80×24 (an SSH terminal) and 120×40;
//! the assertions read the buffer's text.
//!
//! `TUI_DUMP=1 cargo test -p defpool-tui --test render` prints every screen.

use defpool_core::api::{MinerView, PayoutStatus, PayoutView, WorkerView};
use defpool_core::stream::StreamMessage;
use defpool_tui::app::{Action, App, ConnState, DialogStage, Outcome, Screen};
use defpool_tui::ui;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

const MINER_A: &str = "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge";
/// The snapshot's `at`: 2025-11-25 19:00:00 UTC.
const RECORDING_START: i64 = 1_764_097_200_000;

fn recorded() -> Vec<StreamMessage> {
    include_str!("fixtures/session.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The dashboard after the whole recording, connected.
fn app() -> App {
    let mut app = App::new();
    app.tick(RECORDING_START);
    app.set_conn(ConnState::Connected);
    for m in recorded() {
        app.apply(m);
    }
    app
}

fn key(app: &mut App, code: KeyCode) -> Option<Action> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn keys(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The screen as text, one string per row (trailing blanks trimmed).
fn draw(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| ui::render(app, f)).unwrap();
    let buffer = terminal.backend().buffer();
    let rows: Vec<String> = (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    if std::env::var_os("TUI_DUMP").is_some() {
        println!("---- {width}x{height} {:?}", app.screen);
        for r in &rows {
            println!("{r}");
        }
    }
    rows
}

/// The full address of the miner whose address starts with `prefix`.
fn rows_miner(app: &App, prefix: &str) -> String {
    app.miners
        .keys()
        .find(|m| m.starts_with(prefix))
        .unwrap()
        .clone()
}

fn text(rows: &[String]) -> String {
    rows.join("\n")
}

#[track_caller]
fn assert_has(rows: &[String], needle: &str) {
    let t = text(rows);
    assert!(t.contains(needle), "{needle:?} not on screen:\n{t}");
}

#[track_caller]
fn assert_lacks(rows: &[String], needle: &str) {
    let t = text(rows);
    assert!(
        !t.contains(needle),
        "{needle:?} should not be on screen:\n{t}"
    );
}

/// No line may be wider than the terminal, and the status line stays the last row.
#[track_caller]
fn assert_fits(rows: &[String], width: u16) {
    for r in rows {
        assert!(r.chars().count() <= width as usize, "{r:?}");
    }
}

#[test]
fn the_recording_is_a_snapshot_then_consecutive_events() {
    let messages = recorded();
    assert!(matches!(messages[0], StreamMessage::Snapshot(_)));
    let app = app();
    assert_eq!(app.missed, 0);
    assert_eq!(app.last_seq, Some(298));
}

#[test]
fn overview_shows_coins_charts_health_and_blocks_at_80x24() {
    let app = app();
    let rows = draw(&app, 80, 24);
    assert_fits(&rows, 80);
    assert!(rows[0].starts_with("1 Overview 2 Miners 3 Blocks 4 Payouts 5 Profit 6 Events"));
    assert!(rows[0].ends_with("● connected"), "{}", rows[0]);
    assert_has(&rows, "sessions 4/1024");
    assert_has(
        &rows,
        "XMR   3124     119.80k   1.34 kH/s   3/4     pool/pplns 2/1/1",
    );
    assert_has(&rows, "LTC   906      0.0039    2.17 kH/s");
    assert_has(&rows, "XMR hashrate");
    assert_has(&rows, "LTC hashrate");
    assert_has(&rows, "shares/s ok");
    // The down daemon is listed first, with why.
    assert_has(&rows, "down daemon:LTC:127.0.0.1:19444: connection");
    assert_has(&rows, "Health: 1 not ok");
    assert_has(&rows, "XMR     3123 0/10");
    assert_has(&rows, "XMR     3121 orphaned");
    assert!(rows[23].contains("q quit"), "{}", rows[23]);
}

#[test]
fn overview_hashrate_is_the_share_difficulty_over_time() {
    let app = app();
    // XMR miners send ~9+4.5+1 shares of difficulty 100 a second until C stops at
    // second 70; RandomX counts one hash per difficulty: about 1.35 kH/s over 30 s.
    let xmr = app.hashrate["XMR"].last().unwrap().1;
    assert!((1200.0..1500.0).contains(&xmr), "{xmr}");
    // scrypt: difficulty × 65536.
    let ltc = app.hashrate["LTC"].last().unwrap().1;
    assert!((1000.0..5000.0).contains(&ltc), "{ltc}");
    let rows = draw(&app, 120, 40);
    assert_fits(&rows, 120);
    assert_has(
        &rows,
        &format!("XMR hashrate {}", defpool_tui::format::hashrate(xmr)),
    );
    assert_has(
        &rows,
        "down daemon:LTC:127.0.0.1:19444: connection refused (3 failures)",
    );
}

#[test]
fn reconnecting_state_shows_in_the_header_and_status_line() {
    let mut app = app();
    app.set_conn(ConnState::Reconnecting {
        attempt: 3,
        retry_in_secs: 4,
        error: "Connection refused (os error 111)".into(),
    });
    let rows = draw(&app, 80, 24);
    assert!(rows[0].ends_with("○ reconnecting in 4s"), "{}", rows[0]);
    assert_has(&rows, "attempt 3: Connection refused (os error 111)");
    // Open but silent (an idle pool, or a node stuck shutting down): say so.
    app.set_conn(ConnState::Connected);
    app.tick(app.now + 45_000);
    let rows = draw(&app, 80, 24);
    assert!(rows[0].ends_with("● connected, quiet 45s"), "{}", rows[0]);
    assert!(rows[0].starts_with("1 Overview"), "{}", rows[0]);
    let mut fresh = App::new();
    fresh.set_conn(ConnState::Connecting);
    let rows = draw(&fresh, 80, 24);
    assert!(rows[0].ends_with("◌ connecting"), "{}", rows[0]);
    assert_has(&rows, "waiting for the first snapshot");
}

#[test]
fn miners_table_sorts_filters_and_truncates_addresses() {
    let mut app = app();
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(app.screen, Screen::Miners);
    let rows = draw(&app, 80, 24);
    assert_fits(&rows, 80);
    assert_has(&rows, "Miners 3/4 online · by hashrate ↓");
    assert_has(&rows, "MINER");
    assert_has(&rows, "HASHRATE");
    // Highest hashrate first (the scrypt miner's 2 kH/s), head and tail of each
    // address kept.
    assert!(
        rows[3].starts_with("│rltc1qg9stkxrszkdqsu…4c7akvk36zvhqw7p6ck LTC  1   2.17 kH/s"),
        "{}",
        rows[3]
    );
    let a = rows.iter().position(|r| r.contains("4AdUndXHHZ")).unwrap();
    let b = rows.iter().position(|r| r.contains("48edfHu7V9")).unwrap();
    let c = rows.iter().position(|r| r.contains("44AFFq5k")).unwrap();
    assert!(a < b && b < c);
    assert!(
        rows[a].contains("…") && rows[a].contains("84Rge"),
        "{}",
        rows[a]
    );
    assert!(rows[a].contains(" 2 "), "two workers: {}", rows[a]);
    // The disconnected miner is still listed, with no open session.
    assert!(rows[c].contains("XMR  -   33"), "{}", rows[c]);
    assert!(!app.miners[&rows_miner(&app, "44AFF")].online(app.now));

    // Sort by miner address, then reverse.
    key(&mut app, KeyCode::Char('s'));
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "by miner ↓");
    let order: Vec<usize> = ["44AFF", "48edf", "4AdUnd", "rltc1q"]
        .iter()
        .map(|m| rows.iter().position(|r| r.contains(m)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    key(&mut app, KeyCode::Char('r'));
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "by miner ↑");

    // Filter by part of an address.
    key(&mut app, KeyCode::Char('/'));
    keys(&mut app, "rltc");
    let rows = draw(&app, 80, 24);
    assert!(rows[23].starts_with("/rltc█"), "{}", rows[23]);
    key(&mut app, KeyCode::Enter);
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "filter: rltc");
    assert_has(&rows, "rltc1qg9stkxrszkdqsu");
    assert_lacks(&rows, "4AdUnd");
    key(&mut app, KeyCode::Esc);
    assert!(app.filters[Screen::Miners.index()].is_empty());
}

#[test]
fn miner_drill_in_fetches_the_miner_and_shows_workers_and_recent_shares() {
    let mut app = app();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('j'));
    let action = key(&mut app, KeyCode::Enter);
    assert_eq!(
        action,
        Some(Action::FetchMiner {
            wallet: MINER_A.into()
        })
    );
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "loading from the node…");
    app.on_outcome(Outcome::Miner {
        wallet: MINER_A.into(),
        result: Ok(MinerView {
            miner: MINER_A.into(),
            coin: "XMR".into(),
            hashrate: 905.2,
            hashrate_window_secs: 600,
            valid_shares: 8123,
            invalid_shares: 3,
            last_share_at: Some(app.now - 1000),
            workers: vec![
                WorkerView {
                    name: "rig1".into(),
                    hashrate: 610.0,
                    valid_shares: 5400,
                    invalid_shares: 1,
                    last_share_at: Some(app.now - 1000),
                },
                WorkerView {
                    name: "rig2".into(),
                    hashrate: 295.2,
                    valid_shares: 2723,
                    invalid_shares: 2,
                    last_share_at: Some(app.now - 3000),
                },
            ],
            balances: vec![],
        }),
    });
    for (w, h) in [(80, 24), (120, 40)] {
        let rows = draw(&app, w, h);
        assert_fits(&rows, w);
        assert_has(&rows, "XMR 905 H/s over 600s · valid 8123 invalid 3");
        assert_has(&rows, "rig1");
        assert_has(&rows, "610 H/s");
        assert_has(&rows, "rig2");
        assert_has(&rows, "RECENT SHARES (live)");
        assert_has(&rows, "19:01:30 XMR");
    }
    key(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none());
}

#[test]
fn blocks_screen_groups_pending_confirmed_and_orphaned() {
    let mut app = app();
    key(&mut app, KeyCode::Char('3'));
    for (w, h) in [(80, 24), (120, 40)] {
        let rows = draw(&app, w, h);
        assert_fits(&rows, w);
        let pending = rows.iter().position(|r| r.contains("Pending (1)")).unwrap();
        let confirmed = rows
            .iter()
            .position(|r| r.contains("Confirmed (3)"))
            .unwrap();
        let orphaned = rows
            .iter()
            .position(|r| r.contains("Orphaned (2)"))
            .unwrap();
        assert!(pending < confirmed && confirmed < orphaned);
        // Pending with confirmations toward maturity; reward in coins.
        assert!(
            rows[pending + 2].contains("3123 XMR  0/10"),
            "{}",
            rows[pending + 2]
        );
        assert!(
            rows[orphaned + 2].contains("3121 XMR  0"),
            "{}",
            rows[orphaned + 2]
        );
        assert_has(&rows, "0.6 XMR");
        assert_has(&rows, "12.5 LTC");
        assert_has(&rows, "3121 XMR");
    }
    keys(&mut app, "/");
    keys(&mut app, "ltc");
    key(&mut app, KeyCode::Enter);
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "Pending (0)  filter: ltc");
    assert_has(&rows, "Confirmed (1)");
    assert_has(&rows, "Orphaned (0)");
    assert_has(&rows, "905 LTC  100");
}

#[test]
fn payouts_screen_lists_the_queue_by_state() {
    let mut app = app();
    key(&mut app, KeyCode::Char('4'));
    for (w, h) in [(80, 24), (120, 40)] {
        let rows = draw(&app, w, h);
        assert_fits(&rows, w);
        assert_has(
            &rows,
            "Payouts: 1 pending, 0 processing, 1 failed, 1 completed",
        );
        // The queue first, then failed, then completed.
        let pending = rows.iter().position(|r| r.contains("   42 ")).unwrap();
        let failed = rows.iter().position(|r| r.contains("   43 ")).unwrap();
        let completed = rows.iter().position(|r| r.contains("   41 ")).unwrap();
        assert!(pending < failed && failed < completed);
        assert!(rows[pending].contains("pending"), "{}", rows[pending]);
        assert!(rows[failed].contains("failed"), "{}", rows[failed]);
        assert_has(&rows, "0.1 XMR");
        assert_has(&rows, "1 conf");
        assert_has(&rows, "not sent");
        // Details of the selected (first) payout.
        assert_has(&rows, "#42 manual pending");
        assert_has(&rows, "waiting for unlocked funds");
    }
    key(&mut app, KeyCode::Char('j'));
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "#43 auto failed");
    assert_has(&rows, "wallet: not enough unlocked money");
}

#[test]
fn payout_request_goes_through_a_confirmation_then_the_status_line() {
    let mut app = app();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('p'));
    let rows = draw(&app, 80, 24);
    assert_fits(&rows, 80);
    assert_has(&rows, "Request a payout");
    assert_has(&rows, "Wallet");
    assert_has(&rows, "Amount     █");
    keys(&mut app, "0.5");
    assert_eq!(key(&mut app, KeyCode::Enter), None, "Enter only reviews");
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "Pay 0.5 XMR to 4AdUndXHHZ6c…2K5Jv2684Rge now?");
    assert_has(&rows, "[y] yes, send");
    // n goes back to the form, y sends.
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.dialog.as_ref().unwrap().stage, DialogStage::Editing);
    key(&mut app, KeyCode::Enter);
    let action = key(&mut app, KeyCode::Char('y'));
    match action {
        Some(Action::RequestPayout { wallet, request }) => {
            assert_eq!(wallet, MINER_A);
            assert_eq!(request.coin, "XMR");
            assert_eq!(request.atomic.as_deref(), Some("500000000000"));
        }
        other => panic!("{other:?}"),
    }
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "Sending to the node…");
    app.on_outcome(Outcome::PayoutRequested(Ok(PayoutView {
        id: 44,
        miner: MINER_A.into(),
        coin: "XMR".into(),
        amount: defpool_core::api::CoinAmount {
            coin: "XMR".into(),
            atomic: "500000000000".into(),
        },
        fee: None,
        status: PayoutStatus::Pending,
        reason: None,
        tx_hash: None,
        origin: "manual".into(),
        attempts: 0,
        confirmations: 0,
        created_at: app.now,
        updated_at: app.now,
    })));
    let rows = draw(&app, 80, 24);
    assert!(app.dialog.is_none());
    assert!(
        rows[23].starts_with("payout #44 of 0.5 XMR to 4AdUndXHHZ6c…2K5Jv2684Rge is pending"),
        "{}",
        rows[23]
    );
    key(&mut app, KeyCode::Char('4'));
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "Payouts: 2 pending");

    // A refusal is shown as the node's message.
    key(&mut app, KeyCode::Char('p'));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('y'));
    app.on_outcome(Outcome::PayoutRequested(Err(
        "conflict: miner already has an open XMR payout".into(),
    )));
    let rows = draw(&app, 80, 24);
    assert!(
        rows[23].starts_with("payout refused: conflict: miner already has an open XMR payout"),
        "{}",
        rows[23]
    );
}

#[test]
fn settings_edit_prefills_the_threshold_and_confirms() {
    let mut app = app();
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('j')); // payout 43 of miner A
    let action = key(&mut app, KeyCode::Char('e'));
    assert_eq!(
        action,
        Some(Action::LoadSettings {
            wallet: MINER_A.into(),
            coin: "XMR".into()
        })
    );
    app.on_outcome(Outcome::SettingsLoaded {
        wallet: MINER_A.into(),
        result: Ok(defpool_core::api::PayoutSettingsView {
            miner: MINER_A.into(),
            coin: "XMR".into(),
            threshold: defpool_core::api::CoinAmount {
                coin: "XMR".into(),
                atomic: "100000000000".into(),
            },
            target_coin: "XMR".into(),
            auto_exchange: false,
            customized: false,
            updated_at: 0,
        }),
    });
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "Edit payout settings");
    assert_has(&rows, "Threshold  0.1█");
    for _ in 0..3 {
        key(&mut app, KeyCode::Backspace);
    }
    keys(&mut app, "2.5");
    key(&mut app, KeyCode::Enter);
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "Set the XMR payout threshold of");
    assert_has(&rows, "to 2.5 XMR?");
    match key(&mut app, KeyCode::Char('y')) {
        Some(Action::SaveSettings { wallet, update }) => {
            assert_eq!(wallet, MINER_A);
            assert_eq!(update.threshold.as_deref(), Some("2500000000000"));
        }
        other => panic!("{other:?}"),
    }
    app.on_outcome(Outcome::SettingsSaved(Err(
        "below_threshold: threshold below the coin's min_payout".into(),
    )));
    let rows = draw(&app, 80, 24);
    assert!(
        rows[23].starts_with("settings not saved: below_threshold"),
        "{}",
        rows[23]
    );
    // The result gives way to the key hints after a while; Events keeps it.
    app.tick(app.now + 21_000);
    let rows = draw(&app, 80, 24);
    assert!(rows[23].contains("q quit"), "{}", rows[23]);
    assert!(app
        .log
        .iter()
        .any(|l| l.text.starts_with("settings not saved")));
}

#[test]
fn an_invalid_amount_keeps_the_dialog_open_with_the_reason() {
    let mut app = app();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('p'));
    keys(&mut app, "1.2.3");
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    let d = app.dialog.as_ref().unwrap();
    assert_eq!(d.stage, DialogStage::Editing);
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "amount \"1.2.3\"");
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());
}

#[test]
fn profitability_shows_the_choice_and_why() {
    let mut app = app();
    key(&mut app, KeyCode::Char('5'));
    for (w, h) in [(80, 24), (120, 40)] {
        let rows = draw(&app, w, h);
        assert_fits(&rows, w);
        assert_has(&rows, "Profitability: mining XMR");
        assert_has(&rows, "▶ XMR");
        assert_has(&rows, "0.0041");
        assert_has(&rows, "XMR pays 12% more per hash");
        assert_has(&rows, "LTC → XMR");
        assert_has(&rows, "3.100e-6");
    }
    let mut empty = App::new();
    empty.screen = Screen::Profitability;
    let rows = draw(&empty, 80, 24);
    assert_has(&rows, "not in proxy mode");
}

#[test]
fn events_log_scrolls_and_filters_by_level_and_text() {
    let mut app = app();
    key(&mut app, KeyCode::Char('6'));
    let rows = draw(&app, 80, 24);
    assert_fits(&rows, 80);
    assert_has(&rows, "level ≥ info");
    // Newest first: the disconnect at 19:01:11 is on top.
    assert!(
        rows[2].contains("19:01:11 info  XMR miner 44AFFq5kSiGB"),
        "{}",
        rows[2]
    );
    key(&mut app, KeyCode::Char('l'));
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "level ≥ warn");
    assert_has(&rows, "XMR block 3121 orphaned");
    assert_has(&rows, "sent 12 invalid s");
    assert_lacks(&rows, "connected from");
    // The selected line is shown whole below the list.
    keys(&mut app, "jjj");
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "banned for 600s");
    key(&mut app, KeyCode::Char('l'));
    let rows = draw(&app, 80, 24);
    assert_has(&rows, "level ≥ error");
    assert_has(&rows, "payout 43 failed");
    assert_lacks(&rows, "orphaned");
    key(&mut app, KeyCode::Char('l'));
    key(&mut app, KeyCode::Char('/'));
    keys(&mut app, "template");
    key(&mut app, KeyCode::Enter);
    let rows = draw(&app, 120, 40);
    assert_has(&rows, "Events: 2");
    assert_has(&rows, "XMR new template at height 3124, difficulty 119.80k");
    // j/k move the selection within the list.
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selection(Screen::Events), 1);
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selection(Screen::Events), 0);
}

#[test]
fn help_lists_the_keys_and_any_key_closes_it() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    let rows = draw(&app, 80, 24);
    assert_fits(&rows, 80);
    assert_has(&rows, "Help");
    assert_has(&rows, "Tab / S-Tab");
    assert_has(&rows, "q  Ctrl-C");
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.help);
}

#[test]
fn tab_numbers_and_q_navigate_and_quit() {
    let mut app = app();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Miners);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.screen, Screen::Events);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Overview);
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(app.screen, Screen::Blocks);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selection(Screen::Blocks), 2);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.selection(Screen::Blocks), 1);
    // q inside the filter is text, not quit.
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    key(&mut app, KeyCode::Esc);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Some(Action::Quit));
    assert!(app.quit);
}

#[test]
fn every_screen_renders_at_80x24_and_120x40_without_overflow() {
    let mut app = app();
    for s in Screen::ALL {
        app.screen = s;
        for (w, h) in [(80, 24), (120, 40)] {
            let rows = draw(&app, w, h);
            assert_fits(&rows, w);
            assert!(rows[0].contains(s.title()));
            assert!(!rows[h as usize - 1].is_empty(), "status line on {s:?}");
        }
    }
}

#[test]
fn three_coins_still_fit_the_overview_at_80x24() {
    use defpool_core::stream::{Event, StreamEvent};
    let mut app = app();
    let at = app.now;
    for (seq, event) in [
        Event::NewTemplate {
            coin: "BTC".into(),
            height: 150,
            network_difficulty: 4.6e-10,
        },
        Event::Shares {
            coin: "BTC".into(),
            accepted: 2,
            rejected: 0,
            accepted_difficulty: 2.0,
            window_ms: 1000,
            miners: vec![],
        },
    ]
    .into_iter()
    .enumerate()
    {
        app.apply(StreamMessage::Event(StreamEvent {
            seq: 299 + seq as u64,
            at: at + 1000,
            event,
        }));
    }
    // Too short for three charts: one sparkline per coin, each with its rate.
    let rows = draw(&app, 80, 24);
    assert_fits(&rows, 80);
    assert_has(&rows, "┌ Hashrate ─");
    // sha256d: difficulty 2 over the first second is 2 × 2^32 hashes.
    assert_has(&rows, "│BTC 8.59 GH/s  █");
    assert_has(&rows, "│LTC 2.17 kH/s  ▅");
    assert_has(&rows, "│XMR 1.34 kH/s  ▇");
    assert_has(&rows, "BTC   150");
    assert!(rows[23].contains("q quit"));
    // Tall enough: a chart per coin.
    let rows = draw(&app, 120, 40);
    for coin in ["BTC", "LTC", "XMR"] {
        assert_has(&rows, &format!("{coin} hashrate"));
    }
}
