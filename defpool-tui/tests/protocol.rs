//! How the dashboard reads the stream protocol: sequence gaps, resyncs, snapshots of
//! another version, events already contained in the snapshot.

use defpool_core::stream::{Event, StreamEvent, StreamMessage, STREAM_VERSION};
use defpool_tui::app::{App, Level};

fn snapshot(version: u32, seq: u64) -> StreamMessage {
    let line = include_str!("fixtures/session.jsonl")
        .lines()
        .next()
        .unwrap();
    let mut m: StreamMessage = serde_json::from_str(line).unwrap();
    if let StreamMessage::Snapshot(s) = &mut m {
        s.version = version;
        s.seq = seq;
    }
    m
}

fn template(seq: u64, height: u64) -> StreamMessage {
    StreamMessage::Event(StreamEvent {
        seq,
        at: 1_764_097_200_000 + seq as i64,
        event: Event::NewTemplate {
            coin: "XMR".into(),
            height,
            network_difficulty: 1000.0,
        },
    })
}

#[test]
fn events_up_to_the_snapshot_seq_are_skipped_and_gaps_are_counted() {
    let mut app = App::new();
    app.apply(snapshot(STREAM_VERSION, 100));
    app.apply(template(99, 1)); // already in the snapshot
    assert_eq!(app.coins["XMR"].job_height, Some(3122));
    app.apply(template(101, 2));
    assert_eq!(app.coins["XMR"].job_height, Some(2));
    app.apply(template(105, 3));
    assert_eq!(app.missed, 3);
    assert_eq!(app.last_seq, Some(105));
    assert!(app
        .log
        .iter()
        .any(|l| l.level == Level::Warn && l.text == "3 events missed"));
}

#[test]
fn a_resync_is_counted_and_the_next_snapshot_is_the_truth() {
    let mut app = App::new();
    app.apply(snapshot(STREAM_VERSION, 100));
    app.apply(StreamMessage::Resync { missed: 40 });
    assert_eq!(app.missed, 40);
    app.apply(snapshot(STREAM_VERSION, 140));
    assert_eq!(app.last_seq, Some(140));
    app.apply(template(141, 9));
    assert_eq!(app.coins["XMR"].job_height, Some(9));
    assert_eq!(app.missed, 40, "no gap after the fresh snapshot");
}

#[test]
fn a_snapshot_of_another_version_is_not_read() {
    let mut app = App::new();
    app.apply(snapshot(STREAM_VERSION + 1, 100));
    assert!(app.coins.is_empty(), "nothing misread");
    let why = app.incompatible.clone().unwrap();
    assert!(why.contains("stream version 2"), "{why}");
    app.apply(template(101, 1));
    assert!(
        app.coins.is_empty(),
        "events of an unread stream are ignored"
    );
}
