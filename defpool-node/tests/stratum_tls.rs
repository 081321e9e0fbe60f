//! TLS on a stratum port against the real node: a TLS miner (xmrig's `"tls": true`)
//! logs in, gets a job and has a share accepted over a real monerod; plain-text and
//! silent clients on the TLS port are dropped and counted without holding up anyone
//! else; a missing or wrong certificate stops the start naming the key.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use support::monero::Monerod;
use support::node::{node_bin, Node};
use support::pool::{walletless_stratum_config, MINER_B, TOKEN};
use support::xmr_miner::XmrMiner;
use support::{have_program, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost` written as PEM files into `dir`.
struct TestCert {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn write_cert(dir: &Path) -> TestCert {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let cert = dir.join("stratum-cert.pem");
    let key = dir.join("stratum-key.pem");
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("write key");
    TestCert {
        cert,
        key,
        der: made.cert.der().clone(),
    }
}

/// The port's `tls` key.
fn tls_key(cert: &Path, key: &Path) -> String {
    format!(
        "tls = {{ cert = \"{}\", key = \"{}\" }}",
        cert.display(),
        key.display()
    )
}

/// A miner over TLS that trusts exactly `cert`.
async fn connect_tls(addr: &str, cert: &CertificateDer<'static>) -> XmrMiner {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).expect("trust the test certificate");
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("connect to stratum");
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake with the node");
    let (r, w) = tokio::io::split(stream);
    XmrMiner::over(Box::new(r), Box::new(w))
}

async fn metric(api: u16, name: &str) -> u64 {
    let text = reqwest::get(format!("http://127.0.0.1:{api}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Reads until the node closes the connection; returns what it sent.
async fn read_to_close(socket: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(within, socket.read_to_end(&mut got))
        .await
        .expect("the node closes the connection")
        .ok();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_miner_logs_in_and_mines_while_plain_and_silent_clients_are_dropped() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), 1).await;
    let cert = write_cert(dir.path());
    let (api, stratum) = (support::free_port(), support::free_port());
    let config = walletless_stratum_config(
        dir.path(),
        api,
        stratum,
        &[&monerod.url],
        "",
        &tls_key(&cert.cert, &cert.key),
    );
    let node = Node::start(dir.path(), &config, TOKEN, &[]).await;
    let addr = format!("127.0.0.1:{stratum}");
    // The operator learns the fingerprint xmrig's `tls-fingerprint` takes.
    let fingerprint = hex::encode(Sha256::digest(&cert.der));
    node.wait_for_log(
        &format!("tls_fingerprint={fingerprint}"),
        Duration::from_secs(5),
    )
    .await;

    // A client that never starts the handshake holds only its own slot.
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    let silent_since = Instant::now();

    let mut miner = connect_tls(&addr, &cert.der).await;
    let login = miner.login(MINER_B, "tls-rig").await;
    assert_eq!(login["result"]["status"], "OK", "{login}");
    let job = &login["result"]["job"];
    assert_eq!(job["algo"], "rx/0", "{login}");
    assert!(
        !job["blob"].as_str().unwrap_or("").is_empty(),
        "a job with a blob: {login}"
    );
    let share = miner
        .find_share(None, 1_000)
        .expect("a share at difficulty 1");
    let r = miner.submit(&share).await;
    assert_eq!(r["result"]["status"], "OK", "{r}");

    // xmrig without TLS on the TLS port: its JSON is no handshake; it is closed
    // without a JSON answer.
    let mut plain = TcpStream::connect(&addr).await.expect("connect");
    let request = json!({"id": 1, "jsonrpc": "2.0", "method": "login",
        "params": {"login": MINER_B, "pass": "x", "agent": "plain", "algo": ["rx/0"]}});
    plain
        .write_all(format!("{request}\n").as_bytes())
        .await
        .expect("send");
    let answer = read_to_close(&mut plain, Duration::from_secs(5)).await;
    assert!(
        !answer.starts_with(b"{"),
        "no stratum answer in plain text: {}",
        String::from_utf8_lossy(&answer)
    );
    // Logged with the peer and the reason (the silent client may time out meanwhile).
    let local = plain.local_addr().expect("local address").to_string();
    wait_until(
        "the plain client's failure logged",
        Duration::from_secs(5),
        || {
            let log = node.log();
            let seen = log
                .lines()
                .any(|l| l.contains("TLS handshake failed") && l.contains(&local));
            async move { seen }
        },
    )
    .await;
    assert!(metric(api, "defpool_stratum_tls_handshake_failures_total").await >= 1);

    // The TLS miner is unaffected.
    let session = miner.session.clone().expect("session id");
    let r = miner.call("keepalived", json!({"id": session})).await;
    assert_eq!(r["result"]["status"], "KEEPALIVED", "{r}");

    // The silent client is closed at the handshake deadline (10 s).
    let sent = read_to_close(&mut silent, Duration::from_secs(15)).await;
    assert!(sent.is_empty(), "nothing sent before the handshake");
    let waited = silent_since.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "closed after {waited:?}, before the handshake deadline"
    );
    wait_until("the timeout counted", Duration::from_secs(5), || async {
        metric(api, "defpool_stratum_tls_handshake_failures_total").await == 2
    })
    .await;
    node.wait_for_log("no handshake within 10s", Duration::from_secs(10))
        .await;

    // New TLS miners are still served.
    let mut later = connect_tls(&addr, &cert.der).await;
    assert_eq!(
        later.login(MINER_B, "later").await["result"]["status"],
        "OK"
    );
}

/// Runs the node on `config` and returns its exit code and stderr.
fn start_with(dir: &Path, config: &str) -> (Option<i32>, String) {
    let path = dir.join("defpool.toml");
    std::fs::write(&path, config).expect("write config");
    let mut cmd = std::process::Command::new(node_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("DEFPOOL_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .arg("--config")
        .arg(&path)
        .current_dir(dir)
        .output()
        .expect("run defpool-node");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_or_wrong_certificate_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write_cert(dir.path());
    // No daemon is contacted: the config check refuses the start first.
    let daemons = ["http://127.0.0.1:9"];
    let config = |tls: &str| walletless_stratum_config(dir.path(), 9, 10, &daemons, "", tls);

    let missing = dir.path().join("missing.pem");
    let (code, err) = start_with(dir.path(), &config(&tls_key(&missing, &cert.key)));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "ports[0].tls.cert: cannot read {}: No such file",
            missing.display()
        )),
        "{err}"
    );

    let other = dir.path().join("other-key.pem");
    std::fs::write(
        &other,
        rcgen::KeyPair::generate().expect("key").serialize_pem(),
    )
    .unwrap();
    let (code, err) = start_with(dir.path(), &config(&tls_key(&cert.cert, &other)));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("ports[0].tls.key: the key in") && err.contains("does not belong"),
        "{err}"
    );

    let (code, err) = start_with(dir.path(), &config(&tls_key(&cert.key, &cert.key)));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("ports[0].tls.cert:") && err.contains("no PEM certificate"),
        "{err}"
    );
}
