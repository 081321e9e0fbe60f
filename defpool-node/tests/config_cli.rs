//! The node binary's configuration handling: `--print-config`, environment
//! overrides, and start-up refusal of bad config with the key named.

use std::process::Command;

fn node() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_defpool-node"));
    for (k, _) in std::env::vars() {
        if k.starts_with("DEFPOOL_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn print_config_shows_defaults_env_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = node()
        .current_dir(dir.path())
        .args(["--print-config", "--data-dir", "/var/lib/defpool"])
        .env("DEFPOOL_INTERVALS__PAYOUT_PROCESS", "90s")
        .env("DEFPOOL_API__ADMIN_TOKEN", "very-secret-token")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("data_dir = \"/var/lib/defpool\""), "{text}");
    assert!(
        text.contains("url = \"sqlite:///var/lib/defpool/defpool.sqlite\""),
        "{text}"
    );
    assert!(text.contains("payout_process = \"1m 30s\""), "{text}");
    assert!(text.contains("balance_update = \"5m\""), "{text}");
    assert!(text.contains("profit_monitor = \"30s\""), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    assert!(!text.contains("very-secret-token"), "secrets are redacted");
}

#[test]
fn bad_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[coins]]\nsymbol = \"XMR\"\npool_address = \"not-an-address\"\nfee_percent = 250.0\n",
    )
    .unwrap();
    let out = node().arg("--config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("coins[0].pool_address"), "{err}");
    assert!(err.contains("coins[0].fee_percent"), "{err}");
}

#[test]
fn unknown_key_and_bad_env_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "[intervals]\npayout_proces = \"1m\"\n").unwrap();
    let out = node()
        .arg("--config")
        .arg(&path)
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("intervals") && err.contains("payout_proces"),
        "{err}"
    );

    let out = node()
        .current_dir(dir.path())
        .arg("--print-config")
        .env("DEFPOOL_INTERVALS__BALANCE_UPDATE", "often")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("intervals.balance_update"), "{err}");
}

#[test]
fn missing_config_file_is_an_error() {
    let out = node()
        .args(["--config", "/nonexistent/defpool.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/defpool.toml"));
}

#[test]
fn example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../defpool.example.toml");
    let out = node()
        .args(["--config", example, "--print-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("symbol = \"XMR\""));
    assert!(!text.contains("change-me-please"));
}

#[test]
fn an_sv2_port_for_monero_is_refused_at_start_naming_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sv2.toml");
    let api = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{data}"
[api]
listen = "{api}"
[[coins]]
symbol = "XMR"
network = "regtest"
pool_address = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
  [[coins.daemons]]
  url = "http://127.0.0.1:9"
[[ports]]
listen = "127.0.0.1:0"
protocol = "sv2"
coin = "XMR"
authority_public_key = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
authority_secret_key = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n"
"#,
            data = dir.path().join("data").display(),
        ),
    )
    .unwrap();
    let out = node()
        .arg("--config")
        .arg(&path)
        .timeout_output(std::time::Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ports[0]: sv2 is served for Bitcoin-family coins in pool or solo mode only"),
        "{err}"
    );
}

/// Runs a command that is expected to exit by itself, killing it after `limit`.
trait TimeoutOutput {
    fn timeout_output(&mut self, limit: std::time::Duration) -> std::process::Output;
}

impl TimeoutOutput for Command {
    fn timeout_output(&mut self, limit: std::time::Duration) -> std::process::Output {
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    }
}
