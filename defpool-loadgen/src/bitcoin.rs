//! Bitcoin-dialect share load (`--dialect bitcoin`): sessions subscribe, authorize
//! and submit valid shares as fast as the node answers them.
//!
//! Each session mines for real on the job the node sent it: the header comes from
//! defpool-core's job code (`StratumWork::from_notify`, coinbase with the session's
//! extranonce1 and its own extranonce2, merkle root up the branch), the nonce is
//! rolled until the hash meets the target of the difficulty the job was sent with.
//! At the very low difficulties a throughput run uses that takes a few hashes, a
//! microsecond or two of sha256d. A session keeps `--inflight` submits outstanding
//! (1 by default: the next share goes out when the reply to the previous one
//! arrives), so the figure is what the node sustains, not what the generator offers.
//! Sessions start submitting together, when every one is ready (or failed).
//!
//! Latency of a submit is the kernel receive timestamp of the reply
//! (`SO_TIMESTAMPNS`) minus `CLOCK_REALTIME` taken right before the `send`: the
//! generator's own time to read the reply does not enter it, its time to mine and
//! format the next share happens before the clock starts.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use defpool_core::job::bitcoin::StratumWork;
use defpool_core::pow::bitcoin::{PowAlgorithm, Target};
use defpool_core::stratum::bitcoin::Notify;
use defpool_core::Difficulty;
use serde_json::Value;

use crate::net::{self, Epoll, Recv};

/// Hashes one share may take before the session gives up on it (a difficulty far
/// too high for a throughput run); the run reports it as a failure.
const MAX_HASHES_PER_SHARE: u64 = 1 << 24;
const MAX_LINE: usize = 64 * 1024;
const EV_IN: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
const EV_OUT: u32 = libc::EPOLLOUT as u32;
const SUBSCRIBE_ID: u64 = 1;
const AUTHORIZE_ID: u64 = 2;

pub struct Config {
    pub target: SocketAddr,
    /// Source address of each session of this worker.
    pub sources: Vec<Option<IpAddr>>,
    /// `mining.subscribe` and `mining.authorize`, one line each.
    pub handshake: Arc<Vec<u8>>,
    /// The `username` submits name.
    pub username: Arc<str>,
    pub rate_per_sec: f64,
    pub max_pending: usize,
    pub login_timeout: Duration,
    pub inflight: usize,
    pub algorithm: PowAlgorithm,
    pub reset_on_close: bool,
    /// Shares each session mines on its first job before it counts as ready, and
    /// submits before mining live ones (for scrypt, whose hashing would otherwise
    /// take the generator as much CPU as the node's checking).
    pub premine: usize,
}

/// Counters shared by the workers and the main loop.
#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    /// Set by the main loop when every session is ready (or failed): sessions submit
    /// only from then on, so shares mined ahead are not spent during the ramp.
    pub submitting: AtomicBool,
    /// Set by the main loop when the measured window starts (after the ramp and the
    /// warm-up); submits sent before it are not counted.
    pub measuring: AtomicBool,
    pub started: AtomicUsize,
    pub connected: AtomicUsize,
    /// Subscribed, authorized and holding a job.
    pub ready: AtomicUsize,
    pub failed: AtomicUsize,
    pub dropped: AtomicUsize,
    /// Replies to measured submits so far (for progress lines).
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
}

#[derive(Default)]
pub struct WorkerResult {
    pub connect_lat_ns: Vec<u64>,
    /// Connect done → authorized with a first job.
    pub login_lat_ns: Vec<u64>,
    pub failures: HashMap<String, usize>,
    /// Submit → reply of the measured submits.
    pub submit_lat_ns: Vec<u64>,
    pub accepted: u64,
    pub rejected: u64,
    pub rejects: HashMap<String, u64>,
    /// Measured submits without a reply when the run stopped.
    pub unanswered: u64,
    pub hashes: u64,
    pub mining_ns: u64,
    pub shares_found: u64,
    pub notifies: u64,
    pub clean_notifies: u64,
    pub difficulties: Vec<f64>,
    pub protocol_errors: usize,
    /// The session could not find a share within `MAX_HASHES_PER_SHARE` hashes.
    pub gave_up: u64,
    pub premined: u64,
    pub premine_ns: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Connecting,
    Handshake,
    Ready,
    Closed,
}

/// The job a session mines on.
struct Job {
    id: Arc<str>,
    work: StratumWork,
    target: Target,
    /// Extranonce2 in use (big-endian in `extranonce2_size` bytes).
    extranonce2: u64,
    /// Next nonce to try.
    nonce: u32,
    /// The header for `extranonce2`, nonce bytes overwritten per try; `None` until
    /// built for the current extranonce2.
    header: Option<[u8; 80]>,
}

struct Conn {
    fd: RawFd,
    state: State,
    connected_at: Instant,
    started: Instant,
    carry: Vec<u8>,
    out: Vec<u8>,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    authorized: bool,
    difficulty: Option<f64>,
    job: Option<Box<Job>>,
    /// Submits without a reply: id, send time (ns, CLOCK_REALTIME), measured.
    pending: VecDeque<(u64, i64, bool)>,
    next_id: u64,
    /// Shares mined ahead (`--premine`), submitted first.
    premined: VecDeque<Share>,
}

/// A share found, as it is submitted.
struct Share {
    job_id: Arc<str>,
    extranonce2: u64,
    ntime: u32,
    nonce: u32,
}

pub fn run(cfg: Config, shared: Arc<Shared>) -> anyhow::Result<WorkerResult> {
    let epoll = Epoll::new()?;
    let now = Instant::now();
    let mut conns: Vec<Conn> = cfg
        .sources
        .iter()
        .map(|_| Conn {
            fd: -1,
            state: State::NotStarted,
            connected_at: now,
            started: now,
            carry: Vec::new(),
            out: Vec::new(),
            extranonce1: Vec::new(),
            extranonce2_size: 0,
            authorized: false,
            difficulty: None,
            job: None,
            pending: VecDeque::new(),
            next_id: AUTHORIZE_ID + 1,
            premined: VecDeque::new(),
        })
        .collect();
    let mut res = WorkerResult::default();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let n = conns.len();
    let mut next = 0usize;
    let mut pending_logins = 0usize;
    let begin = Instant::now();
    let mut last_sweep = Instant::now();
    let mut submitting = false;

    while !shared.stop.load(Ordering::Relaxed) {
        let allowed = if cfg.rate_per_sec > 0.0 {
            ((cfg.rate_per_sec * begin.elapsed().as_secs_f64()) as usize + 1).min(n)
        } else {
            n
        };
        while next < allowed && pending_logins < cfg.max_pending {
            let i = next;
            next += 1;
            shared.started.fetch_add(1, Ordering::Relaxed);
            let c = &mut conns[i];
            c.started = Instant::now();
            match net::start_connect(cfg.target, cfg.sources[i], true) {
                Ok(s) => {
                    c.fd = s.fd;
                    if let Err(e) = epoll.add(s.fd, EV_IN | EV_OUT, i as u64) {
                        net::close(s.fd);
                        c.fd = -1;
                        c.state = State::Closed;
                        fail(&mut res, &shared, format!("epoll_ctl: {e}"));
                        continue;
                    }
                    c.state = State::Connecting;
                    pending_logins += 1;
                }
                Err(e) => {
                    c.state = State::Closed;
                    fail(&mut res, &shared, format!("connect: {e}"));
                }
            }
        }

        let timeout = if next < n { 2 } else { 50 };
        let ready = epoll.wait(&mut events, timeout)?;
        for ev in &events[..ready] {
            let i = ev.u64 as usize;
            handle_event(
                &cfg,
                &shared,
                &epoll,
                &mut conns[i],
                i,
                ev.events,
                &mut scratch,
                &mut res,
                &mut pending_logins,
            );
        }

        if !submitting && shared.submitting.load(Ordering::Relaxed) {
            // The ramp is over: start every ready session; replies keep them going.
            submitting = true;
            for (i, c) in conns[..next].iter_mut().enumerate() {
                if c.state == State::Ready {
                    fill_pipeline(&cfg, &shared, c, &mut res);
                    send_queued(&cfg, &shared, &epoll, c, i, &mut res, &mut pending_logins);
                }
            }
        }

        if pending_logins > 0 && last_sweep.elapsed() >= Duration::from_millis(100) {
            last_sweep = Instant::now();
            for c in conns[..next].iter_mut() {
                if matches!(c.state, State::Connecting | State::Handshake)
                    && c.started.elapsed() > cfg.login_timeout
                {
                    let what = if c.state == State::Connecting {
                        "timeout: not connected"
                    } else {
                        "timeout: not authorized with a job"
                    };
                    close_conn(c, cfg.reset_on_close);
                    pending_logins -= 1;
                    fail(&mut res, &shared, what.to_string());
                }
            }
        }
    }

    for c in conns.iter_mut() {
        res.unanswered += c.pending.iter().filter(|p| p.2).count() as u64;
        if c.fd >= 0 {
            net::close_socket(c.fd, cfg.reset_on_close);
            c.fd = -1;
        }
    }
    Ok(res)
}

fn fail(res: &mut WorkerResult, shared: &Shared, reason: String) {
    *res.failures.entry(reason).or_insert(0) += 1;
    shared.failed.fetch_add(1, Ordering::Relaxed);
}

fn close_conn(c: &mut Conn, reset: bool) {
    if c.fd >= 0 {
        net::close_socket(c.fd, reset);
    }
    c.fd = -1;
    c.state = State::Closed;
    c.carry = Vec::new();
    c.out = Vec::new();
    c.job = None;
}

fn on_closed(
    cfg: &Config,
    shared: &Shared,
    c: &mut Conn,
    res: &mut WorkerResult,
    pending_logins: &mut usize,
    why: &str,
) {
    let state = c.state;
    res.unanswered += c.pending.iter().filter(|p| p.2).count() as u64;
    c.pending.clear();
    close_conn(c, cfg.reset_on_close);
    match state {
        State::Connecting | State::Handshake => {
            *pending_logins -= 1;
            fail(res, shared, format!("{why} before authorize and a job"));
        }
        State::Ready => {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// Sends what is queued in `c.out`; `Ok(true)` when all of it went out.
fn flush(c: &mut Conn) -> std::io::Result<bool> {
    let mut sent = 0;
    while sent < c.out.len() {
        let n = net::write(c.fd, &c.out[sent..])?;
        if n == 0 {
            c.out.drain(..sent);
            return Ok(false);
        }
        sent += n;
    }
    c.out.clear();
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn handle_event(
    cfg: &Config,
    shared: &Shared,
    epoll: &Epoll,
    c: &mut Conn,
    i: usize,
    flags: u32,
    scratch: &mut [u8],
    res: &mut WorkerResult,
    pending_logins: &mut usize,
) {
    let err_or_hup = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
    match c.state {
        State::Connecting => {
            if flags & EV_OUT == 0 && !err_or_hup {
                return;
            }
            match net::take_error(c.fd) {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    close_conn(c, cfg.reset_on_close);
                    *pending_logins -= 1;
                    fail(res, shared, format!("connect: {e}"));
                    return;
                }
            }
            res.connect_lat_ns
                .push(c.started.elapsed().as_nanos() as u64);
            shared.connected.fetch_add(1, Ordering::Relaxed);
            c.state = State::Handshake;
            c.connected_at = Instant::now();
            c.out.extend_from_slice(&cfg.handshake);
            send_queued(cfg, shared, epoll, c, i, res, pending_logins);
            return;
        }
        State::Handshake | State::Ready => {}
        State::NotStarted | State::Closed => return,
    }

    if flags & EV_OUT != 0 && !c.out.is_empty() {
        send_queued(cfg, shared, epoll, c, i, res, pending_logins);
        if c.fd < 0 {
            return;
        }
    }
    if flags & (EV_IN | (libc::EPOLLERR | libc::EPOLLHUP) as u32) == 0 {
        return;
    }
    for _ in 0..4 {
        if c.fd < 0 {
            return;
        }
        match net::recv(c.fd, scratch) {
            Ok(Recv::Data(n, kts)) => {
                let ts_ns = kts.unwrap_or_else(net::realtime_ns);
                let data = &scratch[..n];
                let mut start = 0;
                while let Some(pos) = data[start..].iter().position(|b| *b == b'\n') {
                    let end = start + pos;
                    if c.carry.is_empty() {
                        handle_line(
                            cfg,
                            shared,
                            c,
                            &data[start..end],
                            ts_ns,
                            res,
                            pending_logins,
                        );
                    } else {
                        let mut line = std::mem::take(&mut c.carry);
                        line.extend_from_slice(&data[start..end]);
                        handle_line(cfg, shared, c, &line, ts_ns, res, pending_logins);
                    }
                    start = end + 1;
                    if c.fd < 0 {
                        return;
                    }
                }
                if start < n {
                    if c.carry.len() + (n - start) > MAX_LINE {
                        res.protocol_errors += 1;
                        on_closed(cfg, shared, c, res, pending_logins, "line too long");
                        return;
                    }
                    c.carry.extend_from_slice(&data[start..]);
                }
                // Replies may have freed submit slots: mine and send the next shares.
                if c.state == State::Ready {
                    fill_pipeline(cfg, shared, c, res);
                }
                if !c.out.is_empty() {
                    send_queued(cfg, shared, epoll, c, i, res, pending_logins);
                }
                if n < scratch.len() {
                    return;
                }
            }
            Ok(Recv::WouldBlock) => return,
            Ok(Recv::Eof) => {
                on_closed(cfg, shared, c, res, pending_logins, "closed by the server");
                return;
            }
            Err(e) => {
                on_closed(
                    cfg,
                    shared,
                    c,
                    res,
                    pending_logins,
                    &format!("receive: {e}"),
                );
                return;
            }
        }
    }
}

/// Flushes `c.out`, waiting for EPOLLOUT if the socket is full.
fn send_queued(
    cfg: &Config,
    shared: &Shared,
    epoll: &Epoll,
    c: &mut Conn,
    i: usize,
    res: &mut WorkerResult,
    pending_logins: &mut usize,
) {
    match flush(c) {
        Ok(true) => {
            let _ = epoll.modify(c.fd, EV_IN, i as u64);
        }
        Ok(false) => {
            let _ = epoll.modify(c.fd, EV_IN | EV_OUT, i as u64);
        }
        Err(e) => on_closed(
            cfg,
            shared,
            c,
            res,
            pending_logins,
            &format!("send failed: {e}"),
        ),
    }
}

/// The reason a reply refused a share: the message of `[code, message, data]` (or of
/// an object error).
fn error_reason(error: &Value) -> String {
    let message = error
        .get(1)
        .or_else(|| error.get("message"))
        .and_then(Value::as_str);
    let code = error
        .get(0)
        .or_else(|| error.get("code"))
        .and_then(Value::as_i64);
    match (code, message) {
        (Some(code), Some(m)) => format!("{code} {m}"),
        (None, Some(m)) => m.to_string(),
        _ => error.to_string(),
    }
}

fn handle_line(
    cfg: &Config,
    shared: &Shared,
    c: &mut Conn,
    line: &[u8],
    ts_ns: i64,
    res: &mut WorkerResult,
    pending_logins: &mut usize,
) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        res.protocol_errors += 1;
        return;
    };
    match v.get("method").and_then(Value::as_str) {
        Some("mining.set_difficulty") => {
            match v["params"].get(0).and_then(Value::as_f64) {
                Some(d) if d > 0.0 => {
                    c.difficulty = Some(d);
                    if res.difficulties.last() != Some(&d) && res.difficulties.len() < 64 {
                        res.difficulties.push(d);
                    }
                }
                _ => res.protocol_errors += 1,
            }
            return;
        }
        Some("mining.notify") => {
            on_notify(cfg, c, &v["params"], res);
            if c.state == State::Handshake {
                maybe_ready(cfg, shared, c, res, pending_logins);
            }
            return;
        }
        Some(_) => return, // other notifications (set_extranonce, …) are not used here
        None => {}
    }
    let Some(id) = v.get("id").and_then(Value::as_u64) else {
        res.protocol_errors += 1;
        return;
    };
    let error = v.get("error").filter(|e| !e.is_null());
    match id {
        SUBSCRIBE_ID => {
            let result = &v["result"];
            let en1 = result.get(1).and_then(Value::as_str).map(hex::decode);
            let size = result.get(2).and_then(Value::as_u64);
            match (en1, size) {
                (Some(Ok(en1)), Some(size)) if (1..=8).contains(&size) => {
                    c.extranonce1 = en1;
                    c.extranonce2_size = size as usize;
                    maybe_ready(cfg, shared, c, res, pending_logins);
                }
                _ => {
                    let why = error.map_or_else(
                        || "subscribe: unreadable result".to_string(),
                        |e| format!("subscribe refused: {}", error_reason(e)),
                    );
                    close_conn(c, cfg.reset_on_close);
                    *pending_logins -= 1;
                    fail(res, shared, why);
                }
            }
        }
        AUTHORIZE_ID => {
            if v["result"] == Value::Bool(true) {
                c.authorized = true;
                maybe_ready(cfg, shared, c, res, pending_logins);
            } else {
                let why = error.map_or_else(
                    || "authorize: result not true".to_string(),
                    |e| format!("authorize refused: {}", error_reason(e)),
                );
                close_conn(c, cfg.reset_on_close);
                *pending_logins -= 1;
                fail(res, shared, why);
            }
        }
        _ => {
            let Some(at) = c.pending.iter().position(|p| p.0 == id) else {
                res.protocol_errors += 1;
                return;
            };
            let (_, sent_ns, measured) = c.pending.remove(at).expect("position is in range");
            if !measured {
                return;
            }
            res.submit_lat_ns.push((ts_ns - sent_ns).max(0) as u64);
            if v["result"] == Value::Bool(true) {
                res.accepted += 1;
                shared.accepted.fetch_add(1, Ordering::Relaxed);
            } else {
                res.rejected += 1;
                shared.rejected.fetch_add(1, Ordering::Relaxed);
                let reason = error.map_or_else(|| "result not true".to_string(), error_reason);
                *res.rejects.entry(reason).or_insert(0) += 1;
            }
        }
    }
}

fn on_notify(cfg: &Config, c: &mut Conn, params: &Value, res: &mut WorkerResult) {
    let Ok(notify) = serde_json::from_value::<Notify>(params.clone()) else {
        res.protocol_errors += 1;
        return;
    };
    let Ok(work) = StratumWork::from_notify(&notify) else {
        res.protocol_errors += 1;
        return;
    };
    let Some(difficulty) = c.difficulty.and_then(|d| Difficulty::new(d).ok()) else {
        res.protocol_errors += 1;
        return;
    };
    res.notifies += 1;
    if notify.clean_jobs {
        res.clean_notifies += 1;
    }
    // A fresh extranonce2 range per job: the session's counter carries on, so a
    // refreshed template never sees a header a previous one had.
    let extranonce2 = c.job.as_ref().map_or(0, |j| j.extranonce2 + 1);
    c.job = Some(Box::new(Job {
        id: notify.job_id.into(),
        work,
        target: cfg.algorithm.target_for_difficulty(difficulty),
        extranonce2,
        nonce: 0,
        header: None,
    }));
}

fn maybe_ready(
    cfg: &Config,
    shared: &Shared,
    c: &mut Conn,
    res: &mut WorkerResult,
    pending_logins: &mut usize,
) {
    if c.state == State::Handshake && c.authorized && !c.extranonce1.is_empty() && c.job.is_some() {
        c.state = State::Ready;
        *pending_logins -= 1;
        res.login_lat_ns
            .push(c.connected_at.elapsed().as_nanos() as u64);
        let t0 = Instant::now();
        while c.premined.len() < cfg.premine {
            match mine(cfg, c, res) {
                Some(share) => c.premined.push_back(share),
                None => break,
            }
        }
        res.premined += c.premined.len() as u64;
        res.premine_ns += t0.elapsed().as_nanos() as u64;
        shared.ready.fetch_add(1, Ordering::Relaxed);
    }
}

/// One share on the session's current job.
fn mine(cfg: &Config, c: &mut Conn, res: &mut WorkerResult) -> Option<Share> {
    let job = c.job.as_deref_mut()?;
    let found = find_share(cfg.algorithm, job, &c.extranonce1, c.extranonce2_size, res);
    let Some((extranonce2, nonce)) = found else {
        res.gave_up += 1;
        return None;
    };
    res.shares_found += 1;
    Some(Share {
        job_id: job.id.clone(),
        extranonce2,
        ntime: job.work.ntime,
        nonce,
    })
}

/// Queues submits (shares mined ahead first, then mined now) until `inflight` are
/// outstanding.
fn fill_pipeline(cfg: &Config, shared: &Shared, c: &mut Conn, res: &mut WorkerResult) {
    if !shared.submitting.load(Ordering::Relaxed) {
        return;
    }
    while c.pending.len() < cfg.inflight {
        let share = match c.premined.pop_front() {
            Some(share) => share,
            None => {
                let t0 = Instant::now();
                let share = mine(cfg, c, res);
                res.mining_ns += t0.elapsed().as_nanos() as u64;
                match share {
                    Some(share) => share,
                    None => return,
                }
            }
        };
        let id = c.next_id;
        c.next_id += 1;
        let _ = writeln!(
            LineWriter(&mut c.out),
            r#"{{"id":{id},"method":"mining.submit","params":["{}","{}","{:0width$x}","{:08x}","{:08x}"]}}"#,
            cfg.username,
            share.job_id,
            share.extranonce2,
            share.ntime,
            share.nonce,
            width = 2 * c.extranonce2_size,
        );
        let measured = shared.measuring.load(Ordering::Relaxed);
        c.pending.push_back((id, net::realtime_ns(), measured));
    }
}

/// Rolls the nonce (then the extranonce2) until the hash meets the job's target;
/// returns the extranonce2 and nonce of the share.
fn find_share(
    algorithm: PowAlgorithm,
    job: &mut Job,
    extranonce1: &[u8],
    extranonce2_size: usize,
    res: &mut WorkerResult,
) -> Option<(u64, u32)> {
    for _ in 0..MAX_HASHES_PER_SHARE {
        let header = match &mut job.header {
            Some(h) => h,
            None => {
                let en2 = job.extranonce2.to_be_bytes();
                let en2 = &en2[8 - extranonce2_size..];
                let h = job
                    .work
                    .header(extranonce1, en2, job.work.version, job.work.ntime, 0)
                    .to_bytes();
                job.header.insert(h)
            }
        };
        let nonce = job.nonce;
        header[76..80].copy_from_slice(&nonce.to_le_bytes());
        let hash = algorithm.hash_header(header);
        res.hashes += 1;
        let extranonce2 = job.extranonce2;
        match job.nonce.checked_add(1) {
            Some(n) => job.nonce = n,
            None => {
                job.nonce = 0;
                job.extranonce2 += 1;
                job.header = None;
            }
        }
        if job.target.is_met_by(&hash) {
            return Some((extranonce2, nonce));
        }
    }
    None
}

pub struct SummaryInput<'a> {
    pub target: SocketAddr,
    pub sessions: usize,
    pub sources: &'a [IpAddr],
    pub threads: usize,
    pub inflight: usize,
    pub pow: String,
    pub shared: &'a Shared,
    pub results: Vec<WorkerResult>,
    pub ramp_seconds: Option<f64>,
    pub measured_seconds: Option<f64>,
    /// CPU the generator used during the measured window and over the whole run.
    pub loadgen_cpu_seconds: Option<f64>,
    pub loadgen_cpu_seconds_total: Option<f64>,
    pub stop_reason: String,
    pub listen_overflows: Option<u64>,
}

pub fn summarize(input: SummaryInput<'_>) -> Value {
    use crate::report::latency;
    use serde_json::json;
    let mut connect = Vec::new();
    let mut login = Vec::new();
    let mut submit = Vec::new();
    let mut failures: HashMap<String, usize> = HashMap::new();
    let mut rejects: HashMap<String, u64> = HashMap::new();
    let mut difficulties: Vec<f64> = Vec::new();
    let (mut accepted, mut rejected, mut unanswered) = (0u64, 0u64, 0u64);
    let (mut hashes, mut mining_ns, mut found, mut gave_up) = (0u64, 0u64, 0u64, 0u64);
    let (mut notifies, mut clean, mut protocol_errors) = (0u64, 0u64, 0usize);
    let (mut premined, mut premine_ns) = (0u64, 0u64);
    for r in input.results {
        connect.extend(r.connect_lat_ns);
        login.extend(r.login_lat_ns);
        submit.extend(r.submit_lat_ns);
        for (k, v) in r.failures {
            *failures.entry(k).or_insert(0) += v;
        }
        for (k, v) in r.rejects {
            *rejects.entry(k).or_insert(0) += v;
        }
        for d in r.difficulties {
            if !difficulties.contains(&d) {
                difficulties.push(d);
            }
        }
        accepted += r.accepted;
        rejected += r.rejected;
        unanswered += r.unanswered;
        hashes += r.hashes;
        mining_ns += r.mining_ns;
        found += r.shares_found;
        gave_up += r.gave_up;
        notifies += r.notifies;
        clean += r.clean_notifies;
        protocol_errors += r.protocol_errors;
        premined += r.premined;
        premine_ns += r.premine_ns;
    }
    let per_sec = |n: u64| {
        input
            .measured_seconds
            .filter(|s| *s > 0.0)
            .map(|s| (n as f64 / s).round())
    };
    let mut failure_list: Vec<(String, usize)> = failures.into_iter().collect();
    failure_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut reject_list: Vec<(String, u64)> = rejects.into_iter().collect();
    reject_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    json!({
        "dialect": "bitcoin",
        "target": input.target.to_string(),
        "pow": input.pow,
        "sessions_requested": input.sessions,
        "source_addresses": input.sources.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "threads": input.threads,
        "inflight_per_session": input.inflight,
        "connected": input.shared.connected.load(Ordering::Relaxed),
        "ready": input.shared.ready.load(Ordering::Relaxed),
        "failed": input.shared.failed.load(Ordering::Relaxed),
        "failures": failure_list.iter().map(|(k, v)| json!({"reason": k, "count": v})).collect::<Vec<_>>(),
        "dropped": input.shared.dropped.load(Ordering::Relaxed),
        "ramp_seconds": input.ramp_seconds,
        "connect_latency_ms": latency(connect),
        "authorize_latency_ms": latency(login),
        "listen_overflows_during_run": input.listen_overflows,
        "difficulties": difficulties,
        "measured_seconds": input.measured_seconds,
        "accepted": accepted,
        "rejected": rejected,
        "accepted_per_second": per_sec(accepted),
        "rejected_per_second": per_sec(rejected),
        "rejects": reject_list.iter().map(|(k, v)| json!({"reason": k, "count": v})).collect::<Vec<_>>(),
        "unanswered_at_stop": unanswered,
        "submit_latency_ms": latency(submit),
        "jobs_received": notifies,
        "clean_jobs_received": clean,
        "loadgen": {
            "hashes": hashes,
            "shares_found": found,
            "hashes_per_share": if found > 0 { Value::from((hashes as f64 / found as f64 * 100.0).round() / 100.0) } else { Value::Null },
            "mining_seconds": (mining_ns as f64 / 1e7).round() / 100.0,
            "gave_up_on_shares": gave_up,
            "premined_shares": premined,
            "premine_seconds": (premine_ns as f64 / 1e7).round() / 100.0,
            "cpu_seconds_measured_window": input.loadgen_cpu_seconds.map(|s| (s * 100.0).round() / 100.0),
            "cpu_seconds_total": input.loadgen_cpu_seconds_total.map(|s| (s * 100.0).round() / 100.0),
        },
        "protocol_errors": protocol_errors,
        "stop_reason": input.stop_reason,
    })
}

pub fn human(s: &Value) -> String {
    use crate::report::{f, lat_line};
    let mut o = String::new();
    let _ = writeln!(
        o,
        "target {}  pow {}  sessions {}  threads {}  in flight per session {}",
        s["target"].as_str().unwrap_or(""),
        s["pow"].as_str().unwrap_or(""),
        s["sessions_requested"],
        s["threads"],
        s["inflight_per_session"]
    );
    let _ = writeln!(
        o,
        "sessions: {} connected, {} authorized with a job, {} failed, {} dropped",
        s["connected"], s["ready"], s["failed"], s["dropped"]
    );
    for fl in s["failures"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  failure x{}: {}",
            fl["count"],
            fl["reason"].as_str().unwrap_or("")
        );
    }
    if let Some(r) = s["ramp_seconds"].as_f64() {
        let _ = writeln!(o, "ramp: {r:.2} s");
    }
    let _ = writeln!(
        o,
        "authorize latency: {}",
        lat_line(&s["authorize_latency_ms"])
    );
    let _ = writeln!(o, "share difficulties seen: {}", s["difficulties"]);
    let _ = writeln!(
        o,
        "measured {} s: {} accepted ({}/s), {} rejected ({}/s), {} unanswered at the stop",
        f(&s["measured_seconds"]),
        s["accepted"],
        s["accepted_per_second"],
        s["rejected"],
        s["rejected_per_second"],
        s["unanswered_at_stop"]
    );
    for r in s["rejects"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  rejected x{}: {}",
            r["count"],
            r["reason"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(o, "submit -> reply: {}", lat_line(&s["submit_latency_ms"]));
    let _ = writeln!(
        o,
        "jobs received {} ({} clean)",
        s["jobs_received"], s["clean_jobs_received"]
    );
    let l = &s["loadgen"];
    let _ = writeln!(
        o,
        "load generator: {} hashes for {} shares ({} per share), {} s mining live (wall), CPU {} s in the window ({} s total)",
        l["hashes"],
        l["shares_found"],
        l["hashes_per_share"],
        l["mining_seconds"],
        l["cpu_seconds_measured_window"],
        l["cpu_seconds_total"]
    );
    if l["premined_shares"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            o,
            "  {} shares mined ahead in {} s, before the measured window",
            l["premined_shares"], l["premine_seconds"]
        );
        let live =
            l["shares_found"].as_u64().unwrap_or(0) - l["premined_shares"].as_u64().unwrap_or(0);
        if live > 0 {
            let _ = writeln!(
                o,
                "  warning: {live} shares had to be mined live (the shares mined ahead ran out): raise --premine"
            );
        }
    }
    if l["gave_up_on_shares"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            o,
            "warning: {} shares not found within {MAX_HASHES_PER_SHARE} hashes: the port's difficulty is too high for a throughput run",
            l["gave_up_on_shares"]
        );
    }
    if let Some(n) = s["listen_overflows_during_run"].as_u64().filter(|n| *n > 0) {
        let _ = writeln!(
            o,
            "warning: {n} SYNs dropped by full accept queues during the run"
        );
    }
    if s["protocol_errors"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(o, "protocol errors {}", s["protocol_errors"]);
    }
    let _ = writeln!(o, "stopped: {}", s["stop_reason"].as_str().unwrap_or(""));
    o
}

/// `write!` into a byte buffer.
struct LineWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use defpool_core::pow::bitcoin::hash_to_display_hex;
    use defpool_core::share::bitcoin::{check_submit, NtimeWindow, SubmitRules};
    use defpool_core::stratum::bitcoin::{parse_request, ClientRequest};

    /// A job as the node sends it (the scrypt capture's first notify, any valid one
    /// would do).
    fn notify_params() -> Value {
        serde_json::json!([
            "1",
            "76ab49c304b60c30f06c2df725e2430e0947600a576f23ae5339e2fbd38e75d3",
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff1402b4010c",
            "0a2f6c61622d737475622fffffffff0100f2052a010000001600143efd2896c8f1d6a4b0de2b0ab2bd5c7a0f2e640900000000",
            [],
            "20000000",
            "207fffff",
            "6b06ee47",
            true
        ])
    }

    #[test]
    fn mined_shares_pass_the_pools_checks() {
        let cfg = Config {
            target: "127.0.0.1:1".parse().unwrap(),
            sources: vec![None],
            handshake: Arc::new(Vec::new()),
            username: "w".into(),
            rate_per_sec: 0.0,
            max_pending: 1,
            login_timeout: Duration::from_secs(1),
            inflight: 3,
            algorithm: PowAlgorithm::Sha256d,
            reset_on_close: true,
            premine: 2,
        };
        let now = Instant::now();
        let mut c = Conn {
            fd: -1,
            state: State::Handshake,
            connected_at: now,
            started: now,
            carry: Vec::new(),
            out: Vec::new(),
            extranonce1: vec![0, 0, 0, 7],
            extranonce2_size: 4,
            authorized: true,
            difficulty: Some(1e-8),
            job: None,
            pending: VecDeque::new(),
            next_id: 3,
            premined: VecDeque::new(),
        };
        let mut res = WorkerResult::default();
        on_notify(&cfg, &mut c, &notify_params(), &mut res);
        let shared = Shared::default();
        shared.submitting.store(true, Ordering::Relaxed);
        let mut pending_logins = 1;
        maybe_ready(&cfg, &shared, &mut c, &mut res, &mut pending_logins);
        assert!(c.state == State::Ready && pending_logins == 0);
        assert_eq!((c.premined.len(), res.premined), (2, 2));
        // Two shares mined ahead, one mined now.
        fill_pipeline(&cfg, &shared, &mut c, &mut res);
        assert_eq!(c.pending.len(), 3);
        assert_eq!(res.shares_found, 3);
        assert!(c.premined.is_empty());
        let work =
            StratumWork::from_notify(&serde_json::from_value::<Notify>(notify_params()).unwrap())
                .unwrap();
        let target = PowAlgorithm::Sha256d.target_for_difficulty(Difficulty::new(1e-8).unwrap());
        let mut nonces = std::collections::HashSet::new();
        for line in c.out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let (_, request) = parse_request(line).unwrap();
            let ClientRequest::Submit(submit) = request else {
                panic!("not a submit");
            };
            let rules = SubmitRules {
                extranonce2_len: 4,
                ntime: NtimeWindow::for_job(work.ntime, work.ntime, 7000),
                version_mask: None,
            };
            let checked = check_submit(&submit, work.version, &rules).unwrap();
            let header = work.header(
                &[0, 0, 0, 7],
                checked.extranonce2.as_bytes(),
                checked.version,
                checked.ntime,
                checked.nonce,
            );
            let hash = PowAlgorithm::Sha256d.hash_header(&header.to_bytes());
            assert!(target.is_met_by(&hash), "{}", hash_to_display_hex(&hash));
            assert!(nonces.insert(checked.duplicate_key()), "a share twice");
        }
        assert_eq!(nonces.len(), 3);
    }

    #[test]
    fn reject_reasons_read_both_error_shapes() {
        let e = serde_json::json!([23, "Low difficulty share", null]);
        assert_eq!(error_reason(&e), "23 Low difficulty share");
        let e = serde_json::json!({"code": 21, "message": "Job not found"});
        assert_eq!(error_reason(&e), "21 Job not found");
    }
}
