//! The stream client against a local WebSocket server: it sends the token, forwards
//! messages, reports the connection state, reconnects after the server drops it, and
//! reports a refused upgrade with the node's error message.

// tungstenite's handshake callback returns its own (large) error response type.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use defpool_core::stream::StreamMessage;
use defpool_tui::app::ConnState;
use defpool_tui::stream_client::{self, Incoming};
use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// Any stream message will do; a resync is the shortest.
const FIRST_MESSAGE: &str = r#"{"type":"resync","missed":0}"#;

async fn next(rx: &mut mpsc::Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the client reports within 10 s")
        .expect("client running")
}

#[tokio::test]
async fn sends_the_token_forwards_messages_and_reconnects_after_a_drop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        for round in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let check = |req: &Request, resp: Response| {
                assert_eq!(req.uri().path(), "/api/v1/stream");
                assert_eq!(
                    req.headers().get("authorization").unwrap(),
                    "Bearer t0k",
                    "the admin token rides in the header"
                );
                Ok(resp)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, check)
                .await
                .unwrap();
            ws.send(Message::text(FIRST_MESSAGE)).await.unwrap();
            if round == 0 {
                drop(ws); // no close frame: the node died
            } else {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    });
    let (tx, mut rx) = mpsc::channel(16);
    let url = stream_client::stream_url(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = tokio::spawn(stream_client::run(url, Some("t0k".into()), tx, None));

    assert!(matches!(
        next(&mut rx).await,
        Incoming::Conn(ConnState::Connected)
    ));
    assert!(matches!(
        next(&mut rx).await,
        Incoming::Message(m) if *m == StreamMessage::Resync { missed: 0 }
    ));
    match next(&mut rx).await {
        Incoming::Conn(ConnState::Reconnecting {
            attempt,
            retry_in_secs,
            ..
        }) => assert_eq!((attempt, retry_in_secs), (1, 1)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut rx).await,
        Incoming::Conn(ConnState::Connected)
    ));
    assert!(matches!(next(&mut rx).await, Incoming::Message(_)));
    client.abort();
    server.abort();
}

#[tokio::test]
async fn a_refused_upgrade_reads_as_the_node_s_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
            let mut e = ErrorResponse::new(Some(
                r#"{"error":{"code":"unauthorized","message":"wrong token"}}"#.to_string(),
            ));
            *e.status_mut() = StatusCode::UNAUTHORIZED;
            Err(e)
        };
        let _ = tokio_tungstenite::accept_hdr_async(tcp, refuse).await;
    });
    let (tx, mut rx) = mpsc::channel(16);
    let url = stream_client::stream_url(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = tokio::spawn(stream_client::run(url, Some("bad".into()), tx, None));
    match next(&mut rx).await {
        Incoming::Conn(ConnState::Reconnecting { error, .. }) => {
            assert_eq!(error, "HTTP 401 Unauthorized: unauthorized: wrong token")
        }
        other => panic!("{other:?}"),
    }
    client.abort();
    server.abort();
}
