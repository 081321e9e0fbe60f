//! `defpool-node`: parse flags, load and validate the config, run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use defpool_node::config::{CliOverrides, Config, ConfigSource};
use defpool_node::live_config::LiveConfig;

#[derive(Parser, Debug)]
#[command(name = "defpool-node", version, about = "DefPool mining pool node")]
struct Cli {
    /// Config file (default: ./defpool.toml if present, else built-in defaults).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    print_config: bool,
    /// Data directory (overrides data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL (overrides database.url).
    #[arg(long)]
    database_url: Option<String>,
    /// API listen address (overrides api.listen).
    #[arg(long)]
    api_listen: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings and errors also go to the live stream (`log` events).
    let events = defpool_node::events::EventHub::new();
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        let filter =
            tracing_subscriber::EnvFilter::try_from_env("DEFPOOL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info")
            });
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colour only on a terminal: journald and log files get plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter);
        tracing_subscriber::registry()
            .with(fmt)
            .with(
                defpool_node::events::LogLayer::new(events.clone())
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            )
            .init();
    }
    let overrides = CliOverrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        api_listen: cli.api_listen,
    };
    let (config, source) = match Config::load(cli.config.as_deref(), std::env::vars(), &overrides) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("defpool-node: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.to_redacted_toml());
        return ExitCode::SUCCESS;
    }
    match &source {
        ConfigSource::File(p) => tracing::info!(file = %p.display(), "config loaded"),
        ConfigSource::Defaults => tracing::info!("no config file; using built-in defaults"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("defpool-node: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = std::sync::Arc::new(config);
    let live = match &source {
        ConfigSource::File(p) => LiveConfig::from_file(config, p, overrides),
        ConfigSource::Defaults => LiveConfig::fixed(config),
    };
    match runtime.block_on(defpool_node::app::run_live(live, events)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("defpool-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}
