//! `defpool-tui`: the operator dashboard.
//!
//! For now it connects to the node, reads health and pool stats once and prints them;
//! the full ratatui dashboard on the live stream arrives with the stream issue.

use anyhow::Context;
use clap::Parser;
use defpool_core::api::{Health, PoolStats};

#[derive(Parser, Debug)]
#[command(name = "defpool-tui", version, about = "DefPool operator dashboard")]
struct Cli {
    /// Base URL of the node's API.
    #[arg(long, env = "DEFPOOL_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Admin token (needed for the admin stream later on).
    #[arg(long, env = "DEFPOOL_TOKEN")]
    token: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli).await {
        eprintln!("defpool-tui: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let base = cli.url.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let health: Health = http
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .with_context(|| format!("cannot reach the node at {base}"))?
        .error_for_status()?
        .json()
        .await
        .context("the node's health answer is not valid")?;
    let stats: PoolStats = http
        .get(format!("{base}/api/v1/pool/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
        .context("the node's pool stats are not valid")?;
    println!(
        "DefPool {} at {base}: {} (up {}s)",
        health.version, health.status, health.uptime_secs
    );
    for c in &health.components {
        println!("  {:<40} {}", c.name, c.status);
    }
    println!(
        "{:<6} {:<6} {:<6} {:>8} {:>8} {:>14} {:>8}",
        "COIN", "MODE", "SCHEME", "MINERS", "WORKERS", "HASHRATE H/s", "BLOCKS"
    );
    for c in &stats.coins {
        println!(
            "{:<6} {:<6} {:<6} {:>8} {:>8} {:>14.2} {:>8}",
            c.coin,
            c.mode,
            c.scheme,
            c.miners,
            c.workers,
            c.hashrate,
            c.blocks_pending + c.blocks_confirmed
        );
    }
    Ok(())
}
