//! Wiring: builds every component from the config, runs the background processors
//! on their intervals and serves the API until a shutdown signal.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use defpool_core::coin::Family;
use tokio::sync::watch;

use defpool_core::job::bitcoin::script_pubkey_for;
use defpool_core::randomx::RandomxMode;
use defpool_core::vardiff::VardiffConfig;

use crate::accounting::{BalanceUpdater, NetworkSource, ProxyRecorder, ShareSink};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::config::{Mode, Protocol, RandomxModeConfig};
use crate::daemon::DaemonSet;
use crate::daemon::{BitcoinDaemon, MoneroDaemon};
use crate::events::EventHub;
use crate::live_config::LiveConfig;
use crate::mining::{BitcoinSource, JobSource, MoneroSource, RandomxVerifier};
use crate::payout::bitcoin_wallet::BitcoinWallet;
use crate::payout::monero_wallet::MoneroWallet;
use crate::payout::{PayoutProcessor, Wallet};
use crate::store::Store;
use crate::stratum::proxy_bitcoin::ProxyBitcoinWork;
use crate::stratum::router::PortRouter;
use crate::stratum::{self, BitcoinWork, MoneroWork, PortContext, ProxyMoneroWork, StratumShared};
use crate::upstream::bitcoin::BtcUpstream;
use crate::upstream::cryptonote::CnUpstream;
use crate::upstream::slots::SlotPool;
use crate::upstream::Endpoint;

/// Runs the node until SIGINT/SIGTERM.
pub async fn run(config: Config, events: EventHub) -> anyhow::Result<()> {
    let live = LiveConfig::fixed(Arc::new(config));
    run_live(live, events).await
}

/// Runs the node until SIGINT/SIGTERM on a config that `POST /api/v1/config/reload`
/// may change (see [`crate::live_config`]).
pub async fn run_live(live: LiveConfig, events: EventHub) -> anyhow::Result<()> {
    let config = live.current();
    let url = config.database_url();
    let store = Store::connect(&url, config.database.max_connections)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&url)))?;
    tracing::info!(backend = ?store.backend(), "database ready");

    let mut daemons = BTreeMap::new();
    let mut wallets: BTreeMap<String, Arc<dyn Wallet>> = BTreeMap::new();
    for coin in &config.coins {
        let spec = coin.spec();
        let set =
            DaemonSet::from_config(coin).with_context(|| format!("daemons of {}", spec.symbol))?;
        // A proxy coin's blocks are the upstream's: nothing matures here.
        if set.is_empty() && coin.mode != Mode::Proxy {
            tracing::warn!(
                coin = spec.symbol,
                "no daemon configured: blocks cannot mature"
            );
        }
        daemons.insert(spec.symbol.to_string(), Arc::new(set));
        if let Some(w) = &coin.wallet {
            match spec.family {
                Family::Monero => {
                    let daemon_urls: Vec<String> =
                        coin.daemons.iter().map(|d| d.url.clone()).collect();
                    let wallet = MoneroWallet::new(&w.url, &w.user, &w.password, &daemon_urls)
                        .with_context(|| format!("wallet of {}", spec.symbol))?;
                    wallets.insert(spec.symbol.to_string(), Arc::new(wallet));
                }
                Family::Bitcoin => {
                    let wallet = BitcoinWallet::new(
                        spec,
                        &w.url,
                        &w.user,
                        &w.password,
                        w.cookie_file.as_deref(),
                    )
                    .with_context(|| format!("wallet of {}", spec.symbol))?;
                    wallets.insert(spec.symbol.to_string(), Arc::new(wallet));
                }
            }
        }
    }

    let (sink, sink_task) = ShareSink::start_with_events(
        store.clone(),
        config.accounting.share_queue_capacity,
        config.accounting.share_batch_size,
        config.accounting.share_flush_interval,
        Some(events.clone()),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let updater = Arc::new(
        BalanceUpdater::new(store.clone(), config.clone(), daemons.clone())
            .with_events(events.clone()),
    );
    let processor = Arc::new(
        PayoutProcessor::new(store.clone(), config.clone(), wallets.clone())
            .with_events(events.clone())
            .with_live_config(live.clone()),
    );
    let updater_task = spawn_every(
        "balance updater",
        config.intervals.balance_update,
        stop_rx.clone(),
        move || {
            let u = updater.clone();
            async move {
                match u.run_once().await {
                    Ok(r) if r != Default::default() => {
                        tracing::info!(report = ?r, "balance update")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "balance update failed"),
                }
            }
        },
    );
    let processor_task = spawn_every(
        "payout processor",
        config.intervals.payout_process,
        stop_rx.clone(),
        move || {
            let p = processor.clone();
            async move {
                match p.run_once().await {
                    Ok(r)
                        if r.created
                            + r.sent
                            + r.failed
                            + r.deferred
                            + r.reconciled_sent
                            + r.reconciled_unsent
                            > 0 =>
                    {
                        tracing::info!(report = ?r, "payout processing")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "payout processing failed"),
                }
            }
        },
    );

    // Prices and network figures; for proxy coins also the PPS network data.
    let profit = crate::profit::ProfitMonitor::from_config(&config, Some(events.clone()))
        .context("profit sources ([profit])")?;
    // Proxy mode: verdicts of forwarded shares, and PPS crediting per proxy coin.
    let mut proxy_tasks = Vec::new();
    let recorder = if config.coins.iter().any(|c| c.mode == Mode::Proxy) {
        let network: NetworkSource = profit.pps_network_source();
        let (recorder, task) = ProxyRecorder::start(store.clone(), network.clone());
        proxy_tasks.push(task);
        for coin in config.coins.iter().filter(|c| c.mode == Mode::Proxy) {
            proxy_tasks.push(tokio::spawn(crate::accounting::pps::run_crediting(
                store.clone(),
                coin.clone(),
                network.clone(),
                config.proxy.credit_interval,
                stop_rx.clone(),
            )));
        }
        Some(recorder)
    } else {
        None
    };
    let stratum_tasks = start_stratum(
        &config,
        &sink,
        recorder.clone(),
        &events,
        &profit,
        stop_rx.clone(),
    )
    .await?;
    drop(recorder);

    let state = AppState {
        store: store.clone(),
        config: config.clone(),
        live,
        started: Instant::now(),
        daemons,
        wallets,
        sources: stratum_tasks.sources.clone(),
        stratum: stratum_tasks.shared.clone(),
        sink: sink.clone(),
        events: events.clone(),
        shutdown: stop_rx.clone(),
        snapshot_cache: Default::default(),
        profit: profit.clone(),
    };
    let mut stream_tasks = vec![tokio::spawn(events.clone().run_ticker(stop_rx.clone()))];
    stream_tasks.push(tokio::spawn(
        profit.run(config.intervals.profit_monitor, stop_rx.clone()),
    ));
    for (coin, source) in &stratum_tasks.sources {
        stream_tasks.push(tokio::spawn(announce_templates(
            coin.clone(),
            source.clone(),
            events.clone(),
            stop_rx.clone(),
        )));
    }
    stream_tasks.push(tokio::spawn(api::stream::watch_health(
        state.clone(),
        stop_rx.clone(),
    )));
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {} (api.listen)", config.api.listen))?;
    tracing::info!(listen = %config.api.listen, "API listening");
    // A fixed send buffer per API connection: without it the kernel grows the buffer of
    // a stream client that does not read up to several MB before the send blocks and
    // the client can be dropped as too slow.
    let listener = {
        use axum::serve::ListenerExt;
        listener.tap_io(|tcp| set_send_buffer(tcp, API_SEND_BUFFER))
    };
    let mut api_stop = stop_rx.clone();
    let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(async move {
        while !*api_stop.borrow() {
            if api_stop.changed().await.is_err() {
                break;
            }
        }
    });
    let server_task = tokio::spawn(async move { server.await });

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // A pass in progress may be long (crediting a thousand blocks after downtime).
    // Every step is its own transaction and a payout is recorded before it is
    // broadcast, so cutting a pass short loses nothing: the next start resumes it.
    for (name, task) in [
        ("balance updater", updater_task),
        ("payout processor", processor_task),
    ] {
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            abort.abort();
            tracing::warn!(
                task = name,
                "stopped in the middle of a pass; the next start resumes it"
            );
        }
    }
    let _ = server_task.await;
    for t in stratum_tasks.tasks.into_iter().chain(stream_tasks) {
        let _ = t.await;
    }
    // Dropping the last sender lets the writer flush what is queued and end.
    drop(sink);
    let _ = sink_task.await;
    for t in proxy_tasks {
        let _ = t.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The running stratum side: job sources per coin and the tasks to await on stop.
struct StratumTasks {
    sources: BTreeMap<String, JobSource>,
    shared: Option<Arc<StratumShared>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts a job source per mined coin and a listener per port.
async fn start_stratum(
    config: &Arc<Config>,
    sink: &ShareSink,
    recorder: Option<ProxyRecorder>,
    events: &EventHub,
    profit: &crate::profit::ProfitMonitor,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<StratumTasks> {
    if config.ports.is_empty() {
        return Ok(StratumTasks {
            sources: BTreeMap::new(),
            shared: None,
            tasks: Vec::new(),
        });
    }
    let shared = StratumShared::new();
    let mode = match config.stratum.randomx_mode {
        RandomxModeConfig::Light => RandomxMode::Light,
        RandomxModeConfig::Full => RandomxMode::Full,
    };
    let mut built = BuiltSources::default();
    let parts = PortParts {
        config,
        sink,
        events,
        shared: &shared,
        stop: &stop,
        recorder: &recorder,
        mode,
    };
    for (i, port) in config.ports.iter().enumerate() {
        // A profit-switching port is set up as its first coin's port; the router
        // holds a context per coin.
        let first_coin = if port.is_auto() {
            port.coins.first()
        } else {
            Some(&port.coin)
        };
        let coin = first_coin.and_then(|c| config.coin(c)).with_context(|| {
            format!("ports[{i}].coin: {:?} is not a configured coin", port.coin)
        })?;
        let spec = coin.spec();
        if port.protocol == Protocol::Sv2
            && (coin.mode == Mode::Proxy || spec.family != Family::Bitcoin || port.is_auto())
        {
            anyhow::bail!(
                "ports[{i}]: sv2 is served for Bitcoin-family coins in pool or solo mode only \
                 ({} in {:?} mode is not available over sv2 yet; use an sv1 port)",
                spec.symbol,
                coin.mode
            );
        }
        let vardiff = port.vardiff.as_ref().map(|v| VardiffConfig {
            target_seconds: v.target_seconds,
            min: v.min,
            max: v.max,
            retarget_seconds: v.retarget_seconds,
            max_jump: v.max_jump,
            ..VardiffConfig::default()
        });
        // Checked by the config validation; read again here to serve.
        let tls = port
            .tls
            .as_ref()
            .map(stratum::tls::load)
            .transpose()
            .with_context(|| format!("ports[{i}].tls"))?;
        let fingerprint = tls.as_ref().map(|t| t.fingerprint.clone());
        let listener = bind_stratum(port.listen)
            .with_context(|| format!("cannot listen on {} (ports[{i}].listen)", port.listen))?;
        match fingerprint {
            Some(fingerprint) => tracing::info!(
                listen = %port.listen,
                coin = spec.symbol,
                tls_fingerprint = %fingerprint,
                "stratum port listening (TLS)"
            ),
            None => {
                tracing::info!(listen = %port.listen, coin = spec.symbol, protocol = ?port.protocol, "stratum port listening")
            }
        }
        macro_rules! context {
            ($work:expr) => {
                Arc::new(PortContext {
                    port: port.clone(),
                    coin: coin.clone(),
                    settings: config.stratum.clone(),
                    vardiff,
                    work: $work,
                    sink: sink.clone(),
                    shared: shared.clone(),
                    tls,
                    events: events.clone(),
                })
            };
        }
        if coin.mode == Mode::Proxy && spec.family == Family::Bitcoin && !port.is_auto() {
            let work = proxy_bitcoin_work(&parts, coin, port, &vardiff, &mut built)?;
            let ctx = context!(work);
            built
                .tasks
                .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
            continue;
        }
        if port.is_auto() && spec.family == Family::Bitcoin {
            let router = auto_router(&parts, port, i, &vardiff, profit, &mut built, |p, c, b| {
                proxy_bitcoin_work(p, c, port, &vardiff, b)
            })?;
            let mut work = proxy_bitcoin_work(&parts, coin, port, &vardiff, &mut built)?;
            work.router = Some(router);
            let ctx = context!(work);
            built
                .tasks
                .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
            continue;
        }
        if port.is_auto() {
            let router = auto_router(&parts, port, i, &vardiff, profit, &mut built, |p, c, b| {
                proxy_monero_work(p, c, port, &vardiff, b)
            })?;
            let mut work = proxy_monero_work(&parts, coin, port, &vardiff, &mut built)?;
            work.router = Some(router);
            let ctx = context!(work);
            built
                .tasks
                .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
            continue;
        }
        if coin.mode == Mode::Proxy {
            let work = proxy_monero_work(&parts, coin, port, &vardiff, &mut built)?;
            let ctx = context!(work);
            built
                .tasks
                .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
            continue;
        }
        match spec.family {
            Family::Monero => {
                let source = match built.sources.get(spec.symbol) {
                    Some(JobSource::Monero(s)) => s.clone(),
                    _ => {
                        anyhow::ensure!(
                            !coin.daemons.is_empty(),
                            "coins: {} needs a daemon to serve ports[{i}]",
                            spec.symbol
                        );
                        let source = start_monero_source(&parts, coin, &mut built.tasks)?;
                        built
                            .sources
                            .insert(spec.symbol.to_string(), JobSource::Monero(source.clone()));
                        source
                    }
                };
                let verifier = built
                    .verifier
                    .get_or_insert_with(|| {
                        RandomxVerifier::start(config.stratum.verify_threads, mode)
                    })
                    .clone();
                let ctx = context!(MoneroWork { source, verifier });
                built
                    .tasks
                    .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
            }
            Family::Bitcoin => {
                let source = match built.sources.get(spec.symbol) {
                    Some(JobSource::Bitcoin(s)) => s.clone(),
                    _ => {
                        anyhow::ensure!(
                            !coin.daemons.is_empty(),
                            "coins: {} needs a daemon to serve ports[{i}]",
                            spec.symbol
                        );
                        let source = start_bitcoin_source(&parts, coin, &mut built.tasks)?;
                        built
                            .sources
                            .insert(spec.symbol.to_string(), JobSource::Bitcoin(source.clone()));
                        source
                    }
                };
                if port.protocol == Protocol::Sv2 {
                    // Checked by the config validation; read again here to serve.
                    let authority = stratum::sv2::Authority::from_port(port)
                        .map_err(|e| anyhow::anyhow!("ports[{i}].{}: {e}", e.field))?;
                    tracing::info!(
                        listen = %port.listen,
                        authority_public_key = %authority.public,
                        "sv2 port: miners pin this authority key"
                    );
                    let ctx = context!(stratum::sv2::Sv2BitcoinWork { source, authority });
                    built
                        .tasks
                        .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
                } else {
                    let ctx = context!(BitcoinWork { source });
                    built
                        .tasks
                        .push(tokio::spawn(stratum::serve(listener, ctx, stop.clone())));
                }
            }
        }
    }
    Ok(StratumTasks {
        sources: built.sources,
        shared: Some(shared),
        tasks: built.tasks,
    })
}

/// What every port's context is built from.
struct PortParts<'a> {
    config: &'a Config,
    sink: &'a ShareSink,
    events: &'a EventHub,
    shared: &'a Arc<StratumShared>,
    stop: &'a watch::Receiver<bool>,
    recorder: &'a Option<ProxyRecorder>,
    mode: RandomxMode,
}

/// The router of a profit-switching port: a context per coin of the port (its work
/// from `work_for`), decided again every `intervals.profit_monitor`.
fn auto_router<W: Send + Sync + 'static>(
    parts: &PortParts<'_>,
    port: &crate::config::PortConfig,
    i: usize,
    vardiff: &Option<VardiffConfig>,
    profit: &crate::profit::ProfitMonitor,
    built: &mut BuiltSources,
    mut work_for: impl FnMut(
        &PortParts<'_>,
        &crate::config::CoinConfig,
        &mut BuiltSources,
    ) -> anyhow::Result<W>,
) -> anyhow::Result<Arc<PortRouter<W>>> {
    let mut targets = Vec::new();
    for symbol in &port.coins {
        let target = parts
            .config
            .coin(symbol)
            .with_context(|| format!("ports[{i}].coins: {symbol} is not configured"))?;
        let work = work_for(parts, target, built)?;
        targets.push(port_context(parts, port, target, vardiff, work));
    }
    let router = PortRouter::new(port.listen.to_string(), targets, profit.clone());
    built.tasks.push(tokio::spawn(
        router
            .clone()
            .run(parts.config.intervals.profit_monitor, parts.stop.clone()),
    ));
    Ok(router)
}

/// A plain-TCP context for `coin` on `port` (a profit-switching port's coin, or the
/// daemon-fed side of a proxy port).
fn port_context<W>(
    parts: &PortParts<'_>,
    port: &crate::config::PortConfig,
    coin: &crate::config::CoinConfig,
    vardiff: &Option<VardiffConfig>,
    work: W,
) -> Arc<PortContext<W>> {
    Arc::new(PortContext {
        port: port.clone(),
        coin: coin.clone(),
        settings: parts.config.stratum.clone(),
        vardiff: vardiff.clone(),
        work,
        sink: parts.sink.clone(),
        shared: parts.shared.clone(),
        tls: None,
        events: parts.events.clone(),
    })
}

/// Templates for a Monero-family coin from its daemons, refreshed by a task in `tasks`.
fn start_monero_source(
    parts: &PortParts<'_>,
    coin: &crate::config::CoinConfig,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<MoneroSource>> {
    let daemons = coin
        .daemons
        .iter()
        .map(|d| MoneroDaemon::new(&d.url))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("daemons of {}", coin.spec().symbol))?;
    let source = MoneroSource::new(daemons, coin.pool_address.clone());
    tasks.push(tokio::spawn(source.clone().run(
        parts.config.stratum.block_poll_interval,
        parts.config.stratum.template_refresh,
        parts.stop.clone(),
    )));
    Ok(source)
}

/// Templates for a Bitcoin-family coin from its daemons, refreshed by a task in
/// `tasks`.
fn start_bitcoin_source(
    parts: &PortParts<'_>,
    coin: &crate::config::CoinConfig,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<BitcoinSource>> {
    let spec = coin.spec();
    let daemons = coin
        .daemons
        .iter()
        .map(|d| match &d.cookie_file {
            Some(cookie) => BitcoinDaemon::with_cookie_file(&d.url, cookie),
            None => BitcoinDaemon::new(&d.url, &d.user, &d.password),
        })
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("daemons of {}", spec.symbol))?;
    // The config validation already checked the address.
    let script = script_pubkey_for(spec, coin.network, &coin.pool_address)
        .with_context(|| format!("coins: {} pool_address", spec.symbol))?;
    let source = BitcoinSource::new(spec, daemons, script);
    tasks.push(tokio::spawn(source.clone().run(
        parts.config.stratum.block_poll_interval,
        parts.config.stratum.template_refresh,
        parts.stop.clone(),
    )));
    Ok(source)
}

/// What ports of the same coin share, built by the first port that needs it.
#[derive(Default)]
struct BuiltSources {
    sources: BTreeMap<String, JobSource>,
    /// Daemon sources for `solo:` miners on proxy ports, one per coin.
    solo_sources: BTreeMap<String, Arc<MoneroSource>>,
    solo_bitcoin_sources: BTreeMap<String, Arc<BitcoinSource>>,
    verifier: Option<Arc<RandomxVerifier>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Proxy-mode Monero work of `coin` on `port`: the coin's upstream slots (shared by
/// its ports), the verifier, and a daemon-fed context for `solo:` miners when the
/// coin has daemons.
fn proxy_monero_work(
    parts: &PortParts<'_>,
    coin: &crate::config::CoinConfig,
    port: &crate::config::PortConfig,
    vardiff: &Option<VardiffConfig>,
    built: &mut BuiltSources,
) -> anyhow::Result<ProxyMoneroWork> {
    let spec = coin.spec();
    let mode = parts.mode;
    let slots = match built.sources.get(spec.symbol) {
        Some(JobSource::MoneroProxy(s)) => s.clone(),
        _ => {
            let endpoints = upstream_endpoints(coin)?;
            let settings = parts.config.proxy.upstream_settings();
            let upstream_stop = parts.stop.clone();
            let per_connection = parts
                .config
                .proxy
                .miners_per_connection
                .unwrap_or(256)
                .min(256);
            let slots = SlotPool::new(per_connection, move || {
                CnUpstream::spawn(
                    endpoints.clone(),
                    settings.clone(),
                    vec![crate::mining::monero_source::ALGO.to_string()],
                    upstream_stop.clone(),
                )
            });
            built.sources.insert(
                spec.symbol.to_string(),
                JobSource::MoneroProxy(slots.clone()),
            );
            slots
        }
    };
    let verifier = built
        .verifier
        .get_or_insert_with(|| RandomxVerifier::start(parts.config.stratum.verify_threads, mode))
        .clone();
    let recorder = parts
        .recorder
        .clone()
        .context("proxy mode needs the proxy share recorder")?;
    // `solo:` miners on this port mine from the coin's own daemons.
    let solo = if coin.daemons.is_empty() {
        None
    } else {
        let source = match built.solo_sources.get(spec.symbol) {
            Some(s) => s.clone(),
            None => {
                let source = start_monero_source(parts, coin, &mut built.tasks)?;
                built
                    .solo_sources
                    .insert(spec.symbol.to_string(), source.clone());
                source
            }
        };
        let mut solo_port = port.clone();
        solo_port.solo = true;
        let work = MoneroWork {
            source,
            verifier: verifier.clone(),
        };
        Some(port_context(parts, &solo_port, coin, vardiff, work))
    };
    Ok(ProxyMoneroWork {
        slots,
        verifier,
        recorder,
        verdict_timeout: parts.config.proxy.verdict_timeout,
        solo,
        router: None,
    })
}

/// Proxy-mode Bitcoin-family work of `coin`: the coin's upstream slots (shared by its
/// ports).
fn proxy_bitcoin_work(
    parts: &PortParts<'_>,
    coin: &crate::config::CoinConfig,
    port: &crate::config::PortConfig,
    vardiff: &Option<VardiffConfig>,
    built: &mut BuiltSources,
) -> anyhow::Result<ProxyBitcoinWork> {
    let spec = coin.spec();
    // `solo:` miners on this port mine from the coin's own daemons.
    let solo = if coin.daemons.is_empty() {
        None
    } else {
        let source = match built.solo_bitcoin_sources.get(spec.symbol) {
            Some(s) => s.clone(),
            None => {
                let source = start_bitcoin_source(parts, coin, &mut built.tasks)?;
                built
                    .solo_bitcoin_sources
                    .insert(spec.symbol.to_string(), source.clone());
                source
            }
        };
        let mut solo_port = port.clone();
        solo_port.solo = true;
        Some(port_context(
            parts,
            &solo_port,
            coin,
            vardiff,
            BitcoinWork { source },
        ))
    };
    let slots = match built.sources.get(spec.symbol) {
        Some(JobSource::BitcoinProxy(s)) => s.clone(),
        _ => {
            let endpoints = upstream_endpoints(coin)?;
            let settings = parts.config.proxy.upstream_settings();
            let upstream_stop = parts.stop.clone();
            let per_connection = parts
                .config
                .proxy
                .miners_per_connection
                .unwrap_or(stratum::proxy_bitcoin::SLOTS_PER_CONNECTION)
                .min(stratum::proxy_bitcoin::SLOTS_PER_CONNECTION);
            let slots = SlotPool::new(per_connection, move || {
                BtcUpstream::spawn(
                    endpoints.clone(),
                    settings.clone(),
                    true,
                    upstream_stop.clone(),
                )
            });
            built.sources.insert(
                spec.symbol.to_string(),
                JobSource::BitcoinProxy(slots.clone()),
            );
            slots
        }
    };
    let recorder = parts
        .recorder
        .clone()
        .context("proxy mode needs the proxy share recorder")?;
    Ok(ProxyBitcoinWork {
        slots,
        recorder,
        verdict_timeout: parts.config.proxy.verdict_timeout,
        router: None,
        solo,
    })
}

/// A proxy coin's upstreams, in failover order.
fn upstream_endpoints(coin: &crate::config::CoinConfig) -> anyhow::Result<Vec<Endpoint>> {
    coin.upstreams
        .iter()
        .map(Endpoint::from_config)
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("upstreams of {}", coin.spec().symbol))
}

/// A stratum listener with a deep accept backlog: after a node restart every miner
/// reconnects at once, and the default backlog of 128 drops their SYNs.
fn bind_stratum(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Runs `job` now and then every `period` until stopped; a slow run delays the next
/// rather than overlapping it.
fn spawn_every<F, Fut>(
    name: &'static str,
    period: Duration,
    mut stop: watch::Receiver<bool>,
    job: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    use tracing::Instrument;
                    job().instrument(tracing::info_span!("processor", name)).await;
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((creds, host)) => match creds.rsplit_once(':') {
            Some((user, _)) if user.contains("://") => format!("{user}:***@{host}"),
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Publishes a `new_template` event whenever a coin's job source has a new block.
async fn announce_templates(
    coin: String,
    source: JobSource,
    events: EventHub,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_height = None;
    loop {
        let (height, network_difficulty) = match &source {
            JobSource::Monero(s) => match s.current() {
                Some(j) => (j.height, j.network_difficulty as f64),
                None => (0, 0.0),
            },
            JobSource::Bitcoin(s) => match s.current() {
                Some(w) => (w.height, s.network_difficulty(&w)),
                None => (0, 0.0),
            },
            // An upstream job carries no network difficulty.
            JobSource::MoneroProxy(_) | JobSource::BitcoinProxy(_) => match source.upstream_job() {
                Some((height, _)) => (height, 0.0),
                None => (0, 0.0),
            },
        };
        if height > 0 && last_height != Some(height) {
            last_height = Some(height);
            events.publish(defpool_core::stream::Event::NewTemplate {
                coin: coin.clone(),
                height,
                network_difficulty,
            });
        }
        // Templates change at most a few times a second; polling the shared current
        // job keeps the sources unaware of the stream.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

/// Kernel send buffer of an API connection (REST answers and stream messages).
const API_SEND_BUFFER: usize = 256 * 1024;

fn set_send_buffer(tcp: &tokio::net::TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let value = bytes as libc::c_int;
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
