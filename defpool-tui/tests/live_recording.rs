//! The dashboard fed a real recording: `defpool-tui --record` against a node mining
//! Litecoin regtest (two litecoind, three miners submitting scrypt shares, a manual
//! payout of 5 LTC, then the node killed and restarted twice). Every message must
//! parse with the core types and the screens must show what happened.

use defpool_core::stream::StreamMessage;
use defpool_tui::app::{App, ConnState, Screen};
use defpool_tui::ui;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn recording() -> Vec<StreamMessage> {
    include_str!("fixtures/live-ltc-regtest.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| ui::render(app, f)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..24)
        .map(|y| (0..80).map(|x| buffer[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The recording up to (not including) the `n`th snapshot.
fn until_snapshot(n: usize) -> App {
    let mut app = App::new();
    app.set_conn(ConnState::Connected);
    let mut seen = 0;
    for m in recording() {
        if matches!(m, StreamMessage::Snapshot(_)) {
            seen += 1;
            if seen == n {
                break;
            }
        }
        app.apply(m);
    }
    app
}

#[test]
fn a_live_session_reads_without_gaps_and_fills_every_screen() {
    let mut app = until_snapshot(2);
    assert_eq!(app.missed, 0, "no sequence gap in a live session");

    let overview = screen(&app);
    assert!(overview.contains("LTC   "), "{overview}");
    assert!(
        overview.contains("ok   template:LTC:127.0.0.1:29443"),
        "{overview}"
    );
    assert!(overview.contains("Health: all ok"), "{overview}");

    // Miners connected before the dashboard: known by their shares, all online.
    app.screen = Screen::Miners;
    let miners = screen(&app);
    assert!(miners.contains("Miners 3/3 online"), "{miners}");
    assert!(
        miners.contains("rltc1qv8kdcx37axuj9h…2ct5ys3eefme2ug8hpd LTC  -"),
        "{miners}"
    );

    // The 5 LTC payout: requested, sent, then confirmations (one log line per state).
    app.screen = Screen::Payouts;
    let payouts = screen(&app);
    assert!(payouts.contains("1 completed"), "{payouts}");
    assert!(payouts.contains("5 LTC completed"), "{payouts}");
    let payout_lines = app
        .log
        .iter()
        .filter(|l| l.text.starts_with("payout #1 "))
        .count();
    assert_eq!(
        payout_lines, 2,
        "pending and completed, not every confirmation"
    );

    app.screen = Screen::Blocks;
    let blocks = screen(&app);
    assert!(blocks.contains("Pending ("), "{blocks}");
    assert!(blocks.contains("12.5 LTC"), "{blocks}");
    assert!(blocks.contains("Orphaned (0)"), "{blocks}");
}

#[test]
fn a_restarted_node_s_snapshot_replaces_the_state_even_with_lower_sequence_numbers() {
    let before = until_snapshot(2);
    let mut app = App::new();
    for m in recording() {
        app.apply(m);
    }
    assert!(
        app.last_seq < before.last_seq,
        "the new node counts from scratch"
    );
    assert_eq!(app.missed, 0);
    assert!(
        app.blocks.iter().any(|b| b.height >= 380),
        "blocks after the restart"
    );
}

#[test]
fn a_warning_repeated_by_the_node_is_one_line_with_a_count() {
    use defpool_core::stream::{Event, StreamEvent};
    let mut app = App::new();
    for seq in 1..=25 {
        app.apply(StreamMessage::Event(StreamEvent {
            seq,
            at: seq as i64 * 200,
            event: Event::Log {
                level: "WARN".into(),
                target: "defpool_node::mining::bitcoin_source".into(),
                message: "daemon taken out".into(),
            },
        }));
    }
    assert_eq!(app.log.len(), 1);
    app.screen = Screen::Events;
    let events = screen(&app);
    assert!(
        events.contains(
            "00:00:05 warn  (×25) defpool_node::mining::bitcoin_source: daemon taken out"
        ),
        "{events}"
    );
}
