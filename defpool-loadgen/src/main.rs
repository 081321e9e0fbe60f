//! `defpool-loadgen`: opens many CryptoNote (xmrig) stratum sessions against a
//! DefPool node, logs them in, and measures login latency and job fan-out latency
//! (from kernel receive timestamps). With `--dialect bitcoin` the sessions speak the
//! Bitcoin SV1 dialect instead and submit valid shares as fast as the node answers.

mod bitcoin;
mod net;
mod report;
mod worker;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

use crate::worker::{Shared, WorkerConfig, WorkerResult};

/// File descriptors kept for everything that is not a session (epoll, stdio, ...).
const RESERVED_FDS: u64 = 32;

#[derive(Parser, Debug)]
#[command(
    name = "defpool-loadgen",
    version,
    about = "Load generator for the stratum ports of a DefPool node",
    long_about = "Opens many idle CryptoNote stratum sessions, logs each in, and measures login \
latency and job fan-out latency. Fan-out is grouped by generation (one block template); the \
latency of a session is its kernel receive timestamp (SO_TIMESTAMPNS) minus the earliest one \
of the generation, so the load generator's own speed does not enter the figure.\n\n\
With --dialect bitcoin, sessions subscribe, authorize and submit valid shares (mined on the \
jobs the node sends) as fast as the node answers, and the run reports accepted and rejected \
shares per second and submit-to-reply latency."
)]
struct Cli {
    /// Stratum dialect: `cryptonote` (xmrig login, job fan-out) or `bitcoin` (SV1
    /// subscribe/authorize, share throughput).
    #[arg(long, value_enum, default_value_t = DialectArg::Cryptonote)]
    dialect: DialectArg,
    /// Stratum endpoint of the node (host:port).
    #[arg(long)]
    target: String,
    /// Sessions to open (one process holds at most its fd limit minus a few).
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Source addresses, spread round-robin over the sessions: ranges and lists,
    /// e.g. `127.0.0.2-127.0.0.9` or `127.0.0.2,127.0.0.3`. Default: the kernel's choice.
    #[arg(long)]
    source_ips: Option<String>,
    /// Login (payout address, optionally with a worker suffix).
    #[arg(long)]
    login: String,
    /// Password sent with the login.
    #[arg(long, default_value = "x")]
    pass: String,
    /// Agent string sent with the login.
    #[arg(long, default_value = "defpool-loadgen")]
    agent: String,
    /// Connection attempts per second (0 = as fast as --max-pending allows).
    #[arg(long, default_value_t = 0.0)]
    ramp_per_sec: f64,
    /// Connections in flight (connecting or waiting for the login reply) at most. Keep
    /// it below the node's listen backlog, or SYNs are dropped and retried after 1 s.
    #[arg(long, default_value_t = 100)]
    max_pending: usize,
    /// Seconds to keep the sessions open after the ramp (all logins answered).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many job generations (new templates) received after the ramp.
    #[arg(long)]
    jobs: Option<usize>,
    /// A generation counts as complete when every live session has it, or this long
    /// after its first notification.
    #[arg(long, default_value_t = 2000)]
    settle_ms: u64,
    /// A session with no login reply this long after its connect started fails.
    #[arg(long, default_value_t = 30.0)]
    login_timeout: f64,
    /// Send `keepalived` every this many seconds (0 = never; the node closes sessions
    /// idle for its `stratum.idle_timeout`, 10 minutes by default).
    #[arg(long, default_value_t = 0.0)]
    keepalive: f64,
    /// Worker threads (each runs one epoll loop over its share of the sessions).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Take receive timestamps in user space instead of SO_TIMESTAMPNS (for comparison).
    #[arg(long)]
    user_timestamps: bool,
    /// Close with FIN at the end instead of RST (RST leaves no TIME_WAIT behind).
    #[arg(long)]
    graceful_close: bool,
    /// Print the summary as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Bitcoin dialect: submits each session keeps outstanding (1 = the next share goes
    /// out when the previous one is answered).
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Bitcoin dialect: the proof of work the port checks (the sessions mine with it).
    #[arg(long, value_enum, default_value_t = PowArg::Sha256d)]
    pow: PowArg,
    /// Bitcoin dialect: seconds of submitting after the ramp before the measured window
    /// (of --duration seconds) starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Bitcoin dialect: shares each session mines on its first job before it counts as
    /// ready, submitted before live ones (keeps scrypt mining out of the window).
    #[arg(long, default_value_t = 0)]
    premine: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DialectArg {
    Cryptonote,
    Bitcoin,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PowArg {
    Sha256d,
    Scrypt,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("defpool-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Parses `127.0.0.2-127.0.0.9,10.0.0.1,::1` into addresses.
fn parse_sources(spec: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: Ipv4Addr = a
                .trim()
                .parse()
                .with_context(|| format!("bad range start in {part:?}"))?;
            let b: Ipv4Addr = b
                .trim()
                .parse()
                .with_context(|| format!("bad range end in {part:?}"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a >= 65_536 {
                bail!("bad source range {part:?} (must be ascending, at most 65536 addresses)");
            }
            out.extend((a..=b).map(|x| IpAddr::V4(Ipv4Addr::from(x))));
        } else {
            out.push(
                part.parse()
                    .with_context(|| format!("bad source address {part:?}"))?,
            );
        }
    }
    if out.is_empty() {
        bail!("--source-ips is empty");
    }
    Ok(out)
}

fn resolve(target: &str, want_v4: Option<bool>) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {target}"))?
        .collect();
    addrs
        .iter()
        .find(|a| want_v4.is_none_or(|v4| a.is_ipv4() == v4))
        .or(addrs.first())
        .copied()
        .with_context(|| format!("{target} resolves to nothing"))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    if cli.threads == 0 || cli.threads > 64 {
        bail!("--threads must be between 1 and 64");
    }
    if !(cli.ramp_per_sec >= 0.0 && cli.ramp_per_sec.is_finite()) {
        bail!("--ramp-per-sec must be a positive number or 0");
    }
    if cli.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    let sources = match &cli.source_ips {
        Some(s) => Some(parse_sources(s)?),
        None => None,
    };
    let target = resolve(&cli.target, sources.as_ref().map(|s| s[0].is_ipv4()))?;
    if let Some(src) = &sources {
        if src.iter().any(|ip| ip.is_ipv4() != target.is_ipv4()) {
            bail!("source addresses and target {target} must be of the same family");
        }
        for ip in src {
            net::probe_source(*ip).with_context(|| format!("cannot bind source address {ip}"))?;
        }
    }

    let fd_limit = net::raise_fd_limit().context("cannot raise RLIMIT_NOFILE")?;
    let need = cli.sessions as u64 + RESERVED_FDS + 2 * cli.threads as u64;
    if need > fd_limit {
        bail!(
            "{} sessions need about {need} file descriptors but this process may hold {fd_limit}; \
             run several processes (at most ~{} sessions each)",
            cli.sessions,
            fd_limit.saturating_sub(RESERVED_FDS + 2 * cli.threads as u64)
        );
    }
    if let Some(ports) = net::ephemeral_ports() {
        let per_source = cli.sessions.div_ceil(sources.as_ref().map_or(1, Vec::len)) as u64;
        if per_source > ports {
            bail!(
                "{per_source} sessions per source address exceed the {ports} ephemeral ports \
                 (net.ipv4.ip_local_port_range); add source addresses with --source-ips"
            );
        }
    }

    if cli.dialect == DialectArg::Bitcoin {
        return bitcoin_run(&cli, target, sources.as_deref(), fd_limit);
    }

    let login = serde_json::json!({
        "id": 1,
        "jsonrpc": "2.0",
        "method": "login",
        "params": {"login": cli.login, "pass": cli.pass, "agent": cli.agent, "algo": ["rx/0"]},
    });
    let mut login_line = serde_json::to_vec(&login)?;
    login_line.push(b'\n');
    let login_line = Arc::new(login_line);

    let overflows_before = net::listen_overflows();
    net::install_stop_signals();
    let shared = Arc::new(Shared::default());
    let threads = cli.threads.min(cli.sessions);
    let mut handles = Vec::with_capacity(threads);
    for w in 0..threads {
        let worker_sources: Vec<Option<IpAddr>> = (w..cli.sessions)
            .step_by(threads)
            .map(|i| sources.as_ref().map(|s| s[i % s.len()]))
            .collect();
        let cfg = WorkerConfig {
            target,
            sources: worker_sources,
            login_line: login_line.clone(),
            rate_per_sec: cli.ramp_per_sec / threads as f64,
            max_pending: (cli.max_pending / threads).max(1),
            login_timeout: Duration::from_secs_f64(cli.login_timeout.max(0.1)),
            keepalive: (cli.keepalive > 0.0).then(|| Duration::from_secs_f64(cli.keepalive)),
            want_timestamps: !cli.user_timestamps,
            reset_on_close: !cli.graceful_close,
        };
        let shared = shared.clone();
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{w}"))
            .spawn(move || worker::run(cfg, shared))
            .context("cannot start a worker thread")?;
        handles.push(h);
    }

    let progress = !cli.quiet;
    if progress {
        eprintln!(
            "defpool-loadgen: {} sessions to {target} from {} source address(es), {threads} thread(s), fd limit {fd_limit}",
            cli.sessions,
            sources.as_ref().map_or(1, Vec::len)
        );
    }
    let begin = Instant::now();
    let mut ramp_end: Option<Instant> = None;
    let mut last_progress = Instant::now();
    let settle = Duration::from_millis(cli.settle_ms);
    let stop_reason;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if net::stop_requested() {
            stop_reason = "interrupted".to_string();
            break;
        }
        if handles.iter().any(|h| h.is_finished()) {
            stop_reason = "a worker stopped".to_string();
            break;
        }
        let logged_in = shared.logged_in.load(Ordering::Relaxed);
        let failed = shared.login_failed.load(Ordering::Relaxed);
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if ramp_end.is_none() && logged_in + failed >= cli.sessions {
            shared.ramp_done.store(true, Ordering::Relaxed);
            ramp_end = Some(Instant::now());
            if progress {
                let secs = begin.elapsed().as_secs_f64();
                eprintln!(
                    "ramp done: {logged_in} logged in, {failed} failed in {secs:.2} s ({:.0} logins/s)",
                    logged_in as f64 / secs.max(1e-9)
                );
            }
        }
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let gens = shared.gens.lock().map(|g| g.order.len()).unwrap_or(0);
            eprintln!(
                "[{:7.1}s] started {} connected {} logged in {logged_in} failed {failed} dropped {dropped} generations {gens}",
                begin.elapsed().as_secs_f64(),
                shared.started.load(Ordering::Relaxed),
                shared.connected.load(Ordering::Relaxed),
            );
        }
        let Some(ramp_end) = ramp_end else { continue };
        if logged_in == 0 {
            stop_reason = "no session logged in".to_string();
            break;
        }
        if let Some(k) = cli.jobs {
            let alive = logged_in.saturating_sub(dropped);
            if alive == 0 {
                stop_reason = "every session was dropped".to_string();
                break;
            }
            if let Ok(g) = shared.gens.lock() {
                let post: Vec<_> = g.order.iter().filter(|k| !g.map[*k].during_ramp).collect();
                if let Some(key) = post.get(k - 1) {
                    let live = &g.map[*key];
                    if live.count >= alive || live.first_seen.elapsed() >= settle {
                        stop_reason = format!("{k} job generation(s) received");
                        break;
                    }
                }
            }
        }
        if let Some(d) = cli.duration {
            if ramp_end.elapsed().as_secs_f64() >= d {
                stop_reason = format!("duration of {d} s after the ramp");
                break;
            }
        }
    }
    let stopped_at = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    let mut results: Vec<WorkerResult> = Vec::with_capacity(handles.len());
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => return Err(e.context("worker failed")),
            Err(_) => bail!("a worker thread panicked"),
        }
    }
    let gens_live = std::mem::take(
        &mut *shared
            .gens
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    let summary = report::summarize(report::Input {
        target,
        sessions: cli.sessions,
        sources: sources.as_deref().unwrap_or(&[]),
        threads,
        shared: &shared,
        results,
        gens: gens_live,
        ramp_seconds: ramp_end.map(|r| (r - begin).as_secs_f64()),
        stopped_at,
        settle,
        jobs: cli.jobs,
        stop_reason,
        user_timestamps_forced: cli.user_timestamps,
        listen_overflows: overflows_before
            .zip(net::listen_overflows())
            .map(|(a, b)| b.saturating_sub(a)),
    });
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", report::human(&summary));
    }
    Ok(())
}

/// The Bitcoin-dialect run: ramp, warm-up, then `--duration` seconds of measured
/// submits.
fn bitcoin_run(
    cli: &Cli,
    target: SocketAddr,
    sources: Option<&[IpAddr]>,
    fd_limit: u64,
) -> anyhow::Result<()> {
    if cli.inflight == 0 || cli.inflight > 1024 {
        bail!("--inflight must be between 1 and 1024");
    }
    if !(cli.warmup >= 0.0 && cli.warmup.is_finite()) {
        bail!("--warmup must be a positive number of seconds or 0");
    }
    let Some(duration) = cli.duration else {
        bail!("--dialect bitcoin needs --duration (seconds of measured submits)");
    };
    let mut handshake = Vec::new();
    for line in [
        serde_json::json!({"id": 1, "method": "mining.subscribe", "params": [cli.agent]}),
        serde_json::json!({"id": 2, "method": "mining.authorize", "params": [cli.login, cli.pass]}),
    ] {
        serde_json::to_writer(&mut handshake, &line)?;
        handshake.push(b'\n');
    }
    let handshake = Arc::new(handshake);
    let username: Arc<str> = serde_json::to_string(&cli.login)?.trim_matches('"').into();
    let algorithm = match cli.pow {
        PowArg::Sha256d => defpool_core::pow::bitcoin::PowAlgorithm::Sha256d,
        PowArg::Scrypt => defpool_core::pow::bitcoin::PowAlgorithm::Scrypt,
    };

    let overflows_before = net::listen_overflows();
    net::install_stop_signals();
    let shared = Arc::new(bitcoin::Shared::default());
    let threads = cli.threads.min(cli.sessions);
    let mut handles = Vec::with_capacity(threads);
    for w in 0..threads {
        let cfg = bitcoin::Config {
            target,
            sources: (w..cli.sessions)
                .step_by(threads)
                .map(|i| sources.map(|s| s[i % s.len()]))
                .collect(),
            handshake: handshake.clone(),
            username: username.clone(),
            rate_per_sec: cli.ramp_per_sec / threads as f64,
            max_pending: (cli.max_pending / threads).max(1),
            login_timeout: Duration::from_secs_f64(cli.login_timeout.max(0.1)),
            inflight: cli.inflight,
            algorithm,
            reset_on_close: !cli.graceful_close,
            premine: cli.premine,
        };
        let shared = shared.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("loadgen-{w}"))
                .spawn(move || bitcoin::run(cfg, shared))
                .context("cannot start a worker thread")?,
        );
    }
    let progress = !cli.quiet;
    if progress {
        eprintln!(
            "defpool-loadgen: {} Bitcoin-dialect sessions to {target} ({:?}, {} in flight each), {threads} thread(s), fd limit {fd_limit}",
            cli.sessions, cli.pow, cli.inflight
        );
    }
    let begin = Instant::now();
    let mut ramp_end: Option<Instant> = None;
    let mut window: Option<Instant> = None;
    let mut window_end: Option<Instant> = None;
    let mut last_progress = Instant::now();
    let mut last_counts = (0u64, 0u64);
    let cpu_before = net::cpu_seconds();
    let mut cpu_at_window = None;
    let stop_reason;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if net::stop_requested() {
            stop_reason = "interrupted".to_string();
            break;
        }
        if handles.iter().any(|h| h.is_finished()) {
            stop_reason = "a worker stopped".to_string();
            break;
        }
        let ready = shared.ready.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        if ramp_end.is_none() && ready + failed >= cli.sessions {
            ramp_end = Some(Instant::now());
            shared.submitting.store(true, Ordering::Relaxed);
            if progress {
                eprintln!(
                    "ramp done: {ready} authorized with a job, {failed} failed in {:.2} s",
                    begin.elapsed().as_secs_f64()
                );
            }
        }
        if let Some(r) = ramp_end {
            if ready == 0 {
                stop_reason = "no session got authorized with a job".to_string();
                break;
            }
            if window.is_none() && r.elapsed().as_secs_f64() >= cli.warmup {
                shared.measuring.store(true, Ordering::Relaxed);
                window = Some(Instant::now());
                cpu_at_window = net::cpu_seconds();
                if progress {
                    eprintln!("measuring for {duration} s");
                }
            }
        }
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
            let secs = last_progress.elapsed().as_secs_f64();
            last_progress = Instant::now();
            let counts = (
                shared.accepted.load(Ordering::Relaxed),
                shared.rejected.load(Ordering::Relaxed),
            );
            eprintln!(
                "[{:7.1}s] connected {} ready {ready} failed {failed} dropped {} accepted {:.0}/s rejected {:.0}/s",
                begin.elapsed().as_secs_f64(),
                shared.connected.load(Ordering::Relaxed),
                shared.dropped.load(Ordering::Relaxed),
                (counts.0 - last_counts.0) as f64 / secs,
                (counts.1 - last_counts.1) as f64 / secs,
            );
            last_counts = counts;
        }
        if let Some(w) = window {
            if w.elapsed().as_secs_f64() >= duration {
                window_end = Some(Instant::now());
                stop_reason = format!("measured for {duration} s");
                break;
            }
        }
    }
    // Submits sent after this are not counted; replies to counted ones still are
    // until the workers stop, a moment later.
    shared.measuring.store(false, Ordering::Relaxed);
    let measured_seconds =
        window.map(|w| (window_end.unwrap_or_else(Instant::now) - w).as_secs_f64());
    let cpu_window = cpu_at_window.zip(net::cpu_seconds()).map(|(a, b)| b - a);
    std::thread::sleep(Duration::from_millis(200));
    shared.stop.store(true, Ordering::Relaxed);
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => return Err(e.context("worker failed")),
            Err(_) => bail!("a worker thread panicked"),
        }
    }
    let summary = bitcoin::summarize(bitcoin::SummaryInput {
        target,
        sessions: cli.sessions,
        sources: sources.unwrap_or(&[]),
        threads,
        inflight: cli.inflight,
        pow: format!("{:?}", cli.pow).to_lowercase(),
        shared: &shared,
        results,
        ramp_seconds: ramp_end.map(|r| (r - begin).as_secs_f64()),
        measured_seconds,
        loadgen_cpu_seconds: cpu_window,
        loadgen_cpu_seconds_total: cpu_before.zip(net::cpu_seconds()).map(|(a, b)| b - a),
        stop_reason,
        listen_overflows: overflows_before
            .zip(net::listen_overflows())
            .map(|(a, b)| b.saturating_sub(a)),
    });
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", bitcoin::human(&summary));
    }
    Ok(())
}
