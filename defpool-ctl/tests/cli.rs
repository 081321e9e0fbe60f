//! The real `defpool-ctl` binary without a node: usage errors, an unreachable node,
//! completions. (Every command against a live node is tested in
//! `defpool-node/tests/ctl.rs`, which starts the node.)

use std::process::Command;

fn ctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_defpool-ctl"))
        .args(args)
        .env_remove("DEFPOOL_URL")
        .env_remove("DEFPOOL_TOKEN")
        .output()
        .expect("run defpool-ctl")
}

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(ctl(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(ctl(&["balances"]).status.code(), Some(2), "missing WALLET");
    assert_eq!(
        ctl(&["payouts", "W", "--status", "lost"]).status.code(),
        Some(2)
    );
}

#[test]
fn unreachable_node_is_one_line_and_exit_1() {
    let url = format!("http://127.0.0.1:{}", unused_port());
    let out = ctl(&["--url", &url, "health"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("defpool-ctl: cannot reach the node"),
        "{err}"
    );
}

#[test]
fn admin_commands_need_a_token_before_any_request() {
    let url = format!("http://127.0.0.1:{}", unused_port());
    let out = ctl(&["--url", &url, "audit"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[test]
fn prints_shell_completions() {
    let out = ctl(&["completions", "bash"]);
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("defpool-ctl"));
    assert!(script.contains("payouts"));
}

#[test]
fn admin_command_usage_errors_exit_2() {
    for args in [
        &["payout", "cancel", "x"][..],
        &["payout", "retry"],
        &["bans", "add", "10.0.0.1", "--duration", "1w"],
        &["bans"],
        &["config"],
        &["miners", "list", "--limit", "0"],
        &["watch", "--count", "0"],
    ] {
        assert_eq!(ctl(args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn watch_of_a_node_that_is_down_is_one_line_and_exit_1() {
    let url = format!("http://127.0.0.1:{}", unused_port());
    let out = ctl(&["--url", &url, "watch", "--miner", "4abc"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("defpool-ctl: cannot reach the node"),
        "{err}"
    );
    // The admin stream needs the token before anything is sent.
    let out = ctl(&["--url", &url, "watch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}
