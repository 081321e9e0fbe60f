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
