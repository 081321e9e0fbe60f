//! `defpool-tui`: wires the terminal, the live stream and the REST client to the pure
//! [`App`]: every input becomes an `App` update, every update a redraw.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use defpool_tui::app::{Action, App, Level, Outcome};
use defpool_tui::config::Cli;
use defpool_tui::stream_client::{self, Incoming};
use defpool_tui::{rest, ui};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEvent};
use tokio::sync::mpsc;

/// What the terminal thread sends.
enum Input {
    Key(KeyEvent),
    Resize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("defpool-tui: {e}");
            return ExitCode::from(2);
        }
    };
    let (client, url) = match rest::Client::new(&settings.url, settings.token.as_deref())
        .and_then(|c| Ok((c, stream_client::stream_url(&settings.url)?)))
    {
        Ok(x) => x,
        Err(e) => {
            eprintln!("defpool-tui: {e}");
            return ExitCode::from(2);
        }
    };
    let record = match &cli.record {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("defpool-tui: cannot open {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    match run(client, url, settings.token, record).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("defpool-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    client: rest::Client,
    url: reqwest::Url,
    token: Option<String>,
    record: Option<std::fs::File>,
) -> anyhow::Result<()> {
    let (stream_tx, mut stream_rx) = mpsc::channel(1024);
    tokio::spawn(stream_client::run(url, token, stream_tx, record));

    // crossterm's reads block; a thread turns them into channel messages.
    let (input_tx, mut input_rx) = mpsc::channel(64);
    std::thread::spawn(move || loop {
        let input = match event::read() {
            Ok(TermEvent::Key(k)) => Input::Key(k),
            Ok(TermEvent::Resize(..)) => Input::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if input_tx.blocking_send(input).is_err() {
            return;
        }
    });

    let (outcome_tx, mut outcome_rx) = mpsc::channel(16);
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "needs a terminal on stdout (defpool-ctl watch prints the stream as plain lines)"
        );
    }
    let mut terminal = ratatui::try_init()?;
    let mut app = App::new();
    app.tick(now_ms());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        if let Err(e) = terminal.draw(|f| ui::render(&app, f)) {
            break Err(e.into());
        }
        tokio::select! {
            Some(incoming) = stream_rx.recv() => {
                handle(&mut app, incoming);
                // Drain a burst before the next redraw.
                while let Ok(incoming) = stream_rx.try_recv() {
                    handle(&mut app, incoming);
                }
            }
            Some(input) = input_rx.recv() => {
                if let Input::Key(key) = input {
                    if let Some(action) = app.on_key(key) {
                        dispatch(&client, action, &outcome_tx);
                    }
                }
            }
            Some(outcome) = outcome_rx.recv() => app.on_outcome(outcome),
            _ = tick.tick() => app.tick(now_ms()),
        }
        if app.quit {
            break Ok(());
        }
    };
    ratatui::restore();
    result
}

fn handle(app: &mut App, incoming: Incoming) {
    match incoming {
        Incoming::Conn(state) => {
            app.tick(now_ms());
            app.set_conn(state);
        }
        Incoming::Message(m) => app.apply(*m),
        Incoming::Unreadable(e) => app.note(Level::Warn, format!("unreadable stream message: {e}")),
    }
}

/// Runs an action's REST call in the background; its outcome comes back on `tx`.
fn dispatch(client: &rest::Client, action: Action, tx: &mpsc::Sender<Outcome>) {
    let client = client.clone();
    let tx = tx.clone();
    let call = async move {
        let outcome = match action {
            Action::Quit => return,
            Action::FetchMiner { wallet } => Outcome::Miner {
                result: client.miner(&wallet).await,
                wallet,
            },
            Action::LoadSettings { wallet, coin } => Outcome::SettingsLoaded {
                result: client.payout_settings(&wallet, &coin).await,
                wallet,
            },
            Action::RequestPayout { wallet, request } => {
                Outcome::PayoutRequested(client.request_payout(&wallet, &request).await)
            }
            Action::SaveSettings { wallet, update } => {
                Outcome::SettingsSaved(client.update_payout_settings(&wallet, &update).await)
            }
        };
        let _ = tx.send(outcome).await;
    };
    tokio::spawn(call);
}
