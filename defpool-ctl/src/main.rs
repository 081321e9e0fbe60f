//! `defpool-ctl`: the operator's command line for a DefPool node, an HTTP client of
//! its REST API.
//!
//! This file only wires the parts together: parse (clap exits 2 on usage errors), call
//! the node, print a table or the raw JSON, and map the result to an exit code: 0 on
//! success, 1 on any failure (one `defpool-ctl: …` line on stderr) and for answers that
//! mean trouble (a degraded node, an audit with differences).

mod cli;
mod client;
mod output;
mod watch;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use defpool_core::api::BanRequest;
use serde::Serialize;

use crate::cli::{
    coin_symbol, BansCommand, Cli, Command, ConfigCommand, MinersCommand, PageArgs, PayoutCommand,
    SettingsCommand,
};
use crate::client::{BlockFilter, Client, MinerFilter, Paging, PayoutFilter, Reply};

/// What a command prints on stdout, and whether it succeeded.
struct Outcome {
    text: String,
    ok: bool,
}

impl Outcome {
    /// The raw JSON for `--json`, otherwise the human rendering of the typed view.
    fn show<T>(json: bool, reply: &Reply<T>, render: fn(&T) -> String) -> anyhow::Result<Outcome> {
        Outcome::show_if(json, reply, render, true)
    }

    fn show_if<T>(
        json: bool,
        reply: &Reply<T>,
        render: fn(&T) -> String,
        ok: bool,
    ) -> anyhow::Result<Outcome> {
        let text = if json {
            pretty(&reply.raw)?
        } else {
            render(&reply.value)
        };
        Ok(Outcome { text, ok })
    }
}

fn pretty<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

fn paging(page: &PageArgs) -> Paging {
    Paging {
        limit: page.limit,
        cursor: page.cursor.clone(),
        all: page.all,
    }
}

async fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let client = Client::new(&cli.url, cli.token(), Duration::from_secs(cli.timeout))?;
    let json = cli.json;
    match &cli.command {
        Command::Health => {
            let reply = client.health().await?;
            let ok = reply.value.status == "ok";
            Outcome::show_if(json, &reply, output::render_health, ok)
        }
        Command::Stats => Outcome::show(json, &client.stats().await?, output::render_stats),
        Command::Miner { wallet } | Command::Miners(MinersCommand::Show { wallet }) => {
            Outcome::show(json, &client.miner(wallet).await?, output::render_miner)
        }
        Command::Miners(MinersCommand::List(args)) => {
            let filter = MinerFilter {
                coin: args.coin.as_deref().map(coin_symbol),
                active: args.active,
            };
            let reply = client.miners(&filter, &paging(&args.page)).await?;
            Outcome::show(json, &reply, output::render_miners)
        }
        Command::Workers { wallet } => {
            let mut reply = client.miner(wallet).await?;
            // `--json` gets the miner view's worker part, not its balances.
            reply.raw = serde_json::json!({
                "miner": reply.raw["miner"].take(),
                "hashrate_window_secs": reply.raw["hashrate_window_secs"].take(),
                "workers": reply.raw["workers"].take(),
            });
            Outcome::show(json, &reply, output::render_workers)
        }
        Command::Balances { wallet } => Outcome::show(
            json,
            &client.balances(wallet).await?,
            output::render_balances,
        ),
        Command::Balance { wallet, coin } => {
            let reply = client.balance(wallet, &coin_symbol(coin)).await?;
            Outcome::show(json, &reply, output::render_balance)
        }
        Command::Payouts(args) => {
            let filter = PayoutFilter {
                coin: args.coin.as_deref().map(coin_symbol),
                status: args.status.map(Into::into),
            };
            let reply = client
                .payouts(args.wallet.as_deref(), &filter, &paging(&args.page))
                .await?;
            let render = match args.wallet {
                Some(_) => output::render_payouts,
                None => output::render_all_payouts,
            };
            Outcome::show(json, &reply, render)
        }
        Command::Payout(PayoutCommand::Request(args)) => {
            let request = args.to_request()?;
            let reply = client.request_payout(&args.wallet, &request).await?;
            Outcome::show(json, &reply, output::render_payout)
        }
        Command::Payout(PayoutCommand::Cancel { id }) => Outcome::show(
            json,
            &client.cancel_payout(*id).await?,
            output::render_payout,
        ),
        Command::Payout(PayoutCommand::Retry { id }) => Outcome::show(
            json,
            &client.retry_payout(*id).await?,
            output::render_payout,
        ),
        Command::Bans(BansCommand::List) => {
            Outcome::show(json, &client.bans().await?, output::render_bans)
        }
        Command::Bans(BansCommand::Add { ip, duration }) => {
            let request = BanRequest {
                ip: ip.clone(),
                duration_secs: *duration,
            };
            Outcome::show(json, &client.ban(&request).await?, output::render_ban)
        }
        Command::Bans(BansCommand::Remove { ip }) => {
            Outcome::show(json, &client.unban(ip).await?, output::render_ban)
        }
        Command::Config(ConfigCommand::Show) => {
            Outcome::show(json, &client.config().await?, output::render_config)
        }
        Command::Config(ConfigCommand::Reload) => {
            Outcome::show(json, &client.reload_config().await?, output::render_reload)
        }
        Command::Watch(args) => {
            let options = watch::WatchOptions {
                miner: args.miner.clone(),
                json,
                once: args.once,
                count: args.count,
            };
            watch::watch(&client, &options).await?;
            Ok(Outcome {
                text: String::new(),
                ok: true,
            })
        }
        Command::Settings(SettingsCommand::Get { wallet, coin }) => {
            let reply = client.payout_settings(wallet, &coin_symbol(coin)).await?;
            Outcome::show(json, &reply, output::render_settings)
        }
        Command::Settings(SettingsCommand::Set(args)) => {
            let update = args.to_update()?;
            let reply = client.update_payout_settings(&args.wallet, &update).await?;
            Outcome::show(json, &reply, output::render_settings)
        }
        Command::Blocks(args) => {
            let filter = BlockFilter {
                coin: args.coin.as_deref().map(coin_symbol),
                status: args.status.map(Into::into),
            };
            let reply = client.blocks(&filter, &paging(&args.page)).await?;
            Outcome::show(json, &reply, output::render_blocks)
        }
        Command::Audit => {
            let reply = client.audit().await?;
            let ok = reply.value.ok;
            Outcome::show_if(json, &reply, output::render_audit, ok)
        }
        Command::Proxy => Outcome::show(json, &client.proxy().await?, output::render_proxy),
        Command::Completions { shell } => Ok(completions(*shell)),
    }
}

fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "defpool-ctl", &mut script);
    Outcome {
        text: String::from_utf8_lossy(&script).into_owned(),
        ok: true,
    }
}

/// The one stderr line of a failure.
fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("defpool-ctl: {}", client::one_line(&error.to_string()));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        // Needs no node: works even when DEFPOOL_URL is unset or wrong.
        Command::Completions { shell } => Ok(completions(shell)),
        _ => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(run(&cli)),
            Err(e) => return fail(format!("cannot start the async runtime: {e}")),
        },
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return fail(e),
    };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(outcome.text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        // `defpool-ctl blocks --all | head` closing the pipe early is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return fail(format!("cannot write the output: {e}")),
    }
    if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
