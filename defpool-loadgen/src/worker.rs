//! One epoll loop per worker thread driving thousands of sessions.
//!
//! A session costs one fd, a ~100-byte `Conn` and (only while a line is split
//! across reads) a small carry buffer; reads go through one scratch buffer per
//! thread. Nothing here is on the measured path: fan-out latency comes from the
//! kernel receive timestamps, so the loop's own speed does not enter the figure.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::net::{self, Epoll, Recv};

/// A job generation: the block height and a hash of the template part of the
/// hashing blob (version, timestamp, previous block id), which is the same for
/// every session of one template while the rest of the blob is per session.
pub type GenKey = (u64, u64);

/// Generation bookkeeping shared by the workers, read by the main loop to decide
/// when the wanted number of generations has fanned out.
pub struct GenLive {
    pub first_seen: Instant,
    pub count: usize,
    pub during_ramp: bool,
}

#[derive(Default)]
pub struct Gens {
    pub map: HashMap<GenKey, GenLive>,
    /// Keys in order of first appearance.
    pub order: Vec<GenKey>,
}

/// Counters shared by all workers and the main loop.
#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    pub ramp_done: AtomicBool,
    pub started: AtomicUsize,
    pub connected: AtomicUsize,
    pub logged_in: AtomicUsize,
    pub login_failed: AtomicUsize,
    pub dropped: AtomicUsize,
    pub gens: Mutex<Gens>,
}

pub struct WorkerConfig {
    pub target: SocketAddr,
    /// Source address of each session of this worker.
    pub sources: Vec<Option<IpAddr>>,
    pub login_line: Arc<Vec<u8>>,
    /// Connection attempts per second for this worker; 0 = as fast as `max_pending` allows.
    pub rate_per_sec: f64,
    pub max_pending: usize,
    pub login_timeout: Duration,
    pub keepalive: Option<Duration>,
    pub want_timestamps: bool,
    pub reset_on_close: bool,
}

/// One received job notification.
pub struct Note {
    pub key: GenKey,
    pub ts_ns: i64,
    pub kernel: bool,
}

#[derive(Default)]
pub struct WorkerResult {
    pub connect_lat_ns: Vec<u64>,
    pub login_lat_ns: Vec<u64>,
    pub failures: HashMap<String, usize>,
    pub notes: Vec<Note>,
    /// Sockets on which the kernel refused `SO_TIMESTAMPNS`.
    pub timestamps_refused: usize,
    /// The same template pushed again to a session (not counted as a generation).
    pub repeats: usize,
    pub protocol_errors: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Connecting,
    AwaitLogin,
    Ready,
    Closed,
}

struct Conn {
    fd: RawFd,
    state: State,
    kernel_ts: bool,
    started: Instant,
    login_sent: Instant,
    last_key: GenKey,
    /// Part of a line split across reads (usually empty, no allocation).
    carry: Vec<u8>,
    /// Unsent request bytes (only if a send was short).
    out: Vec<u8>,
    /// Session id from the login reply; kept only when keepalives are on.
    session_id: Option<Box<str>>,
}

const MAX_LINE: usize = 64 * 1024;
const EV_IN: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
const EV_OUT: u32 = libc::EPOLLOUT as u32;

pub fn run(cfg: WorkerConfig, shared: Arc<Shared>) -> anyhow::Result<WorkerResult> {
    let epoll = Epoll::new()?;
    let now = Instant::now();
    let mut conns: Vec<Conn> = cfg
        .sources
        .iter()
        .map(|_| Conn {
            fd: -1,
            state: State::NotStarted,
            kernel_ts: false,
            started: now,
            login_sent: now,
            last_key: (0, 0),
            carry: Vec::new(),
            out: Vec::new(),
            session_id: None,
        })
        .collect();
    let mut res = WorkerResult::default();
    let mut scratch = vec![0u8; 16 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let n = conns.len();
    let mut next = 0usize;
    let mut pending = 0usize;
    let begin = Instant::now();
    let mut last_sweep = Instant::now();
    let mut last_keepalive = Instant::now();
    let mut keepalive_id: u64 = 2;

    while !shared.stop.load(Ordering::Relaxed) {
        // Ramp: start connections within the rate and the in-flight limit.
        let allowed = if cfg.rate_per_sec > 0.0 {
            ((cfg.rate_per_sec * begin.elapsed().as_secs_f64()) as usize + 1).min(n)
        } else {
            n
        };
        while next < allowed && pending < cfg.max_pending {
            let i = next;
            next += 1;
            shared.started.fetch_add(1, Ordering::Relaxed);
            let c = &mut conns[i];
            c.started = Instant::now();
            match net::start_connect(cfg.target, cfg.sources[i], cfg.want_timestamps) {
                Ok(s) => {
                    if cfg.want_timestamps && !s.kernel_timestamps {
                        res.timestamps_refused += 1;
                    }
                    c.fd = s.fd;
                    c.kernel_ts = s.kernel_timestamps;
                    if let Err(e) = epoll.add(s.fd, EV_IN | EV_OUT, i as u64) {
                        net::close(s.fd);
                        c.fd = -1;
                        c.state = State::Closed;
                        fail(&mut res, &shared, format!("epoll_ctl: {e}"));
                        continue;
                    }
                    c.state = State::Connecting;
                    pending += 1;
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
            let flags = ev.events;
            handle_event(
                &cfg,
                &shared,
                &epoll,
                &mut conns[i],
                i,
                flags,
                &mut scratch,
                &mut res,
                &mut pending,
            );
        }

        // Sessions that never connected or never got a login reply.
        if pending > 0 && last_sweep.elapsed() >= Duration::from_millis(100) {
            last_sweep = Instant::now();
            for c in conns[..next].iter_mut() {
                if matches!(c.state, State::Connecting | State::AwaitLogin)
                    && c.started.elapsed() > cfg.login_timeout
                {
                    let what = if c.state == State::Connecting {
                        "timeout: not connected"
                    } else {
                        "timeout: no login reply"
                    };
                    close_conn(c, cfg.reset_on_close);
                    pending -= 1;
                    fail(&mut res, &shared, what.to_string());
                }
            }
        }

        if let Some(every) = cfg.keepalive {
            if last_keepalive.elapsed() >= every {
                last_keepalive = Instant::now();
                for c in conns[..next].iter_mut().filter(|c| c.state == State::Ready) {
                    if let Some(sid) = &c.session_id {
                        let line = format!("{{\"id\":{keepalive_id},\"jsonrpc\":\"2.0\",\"method\":\"keepalived\",\"params\":{{\"id\":\"{sid}\"}}}}\n");
                        keepalive_id += 1;
                        c.out.extend_from_slice(line.as_bytes());
                    }
                }
                for (i, c) in conns[..next].iter_mut().enumerate() {
                    if !c.out.is_empty() && c.state == State::Ready && flush(c).is_err() {
                        close_conn(c, cfg.reset_on_close);
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    } else if !c.out.is_empty() && c.state == State::Ready {
                        let _ = epoll.modify(c.fd, EV_IN | EV_OUT, i as u64);
                    }
                }
            }
        }
    }

    for c in conns.iter_mut() {
        if c.fd >= 0 {
            net::close_socket(c.fd, cfg.reset_on_close);
            c.fd = -1;
        }
    }
    Ok(res)
}

fn fail(res: &mut WorkerResult, shared: &Shared, reason: String) {
    *res.failures.entry(reason).or_insert(0) += 1;
    shared.login_failed.fetch_add(1, Ordering::Relaxed);
}

fn close_conn(c: &mut Conn, reset: bool) {
    if c.fd >= 0 {
        net::close_socket(c.fd, reset);
    }
    c.fd = -1;
    c.state = State::Closed;
    c.carry = Vec::new();
    c.out = Vec::new();
    c.session_id = None;
}

/// Sends what is queued in `c.out`; `Ok(true)` when all of it went out.
fn flush(c: &mut Conn) -> std::io::Result<bool> {
    while !c.out.is_empty() {
        let n = net::write(c.fd, &c.out)?;
        if n == 0 {
            return Ok(false);
        }
        c.out.drain(..n);
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn handle_event(
    cfg: &WorkerConfig,
    shared: &Shared,
    epoll: &Epoll,
    c: &mut Conn,
    i: usize,
    flags: u32,
    scratch: &mut [u8],
    res: &mut WorkerResult,
    pending: &mut usize,
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
                    *pending -= 1;
                    fail(res, shared, format!("connect: {e}"));
                    return;
                }
            }
            res.connect_lat_ns
                .push(c.started.elapsed().as_nanos() as u64);
            shared.connected.fetch_add(1, Ordering::Relaxed);
            c.state = State::AwaitLogin;
            c.login_sent = Instant::now();
            c.out.extend_from_slice(&cfg.login_line);
            match flush(c) {
                Ok(true) => {
                    c.out = Vec::new();
                    let _ = epoll.modify(c.fd, EV_IN, i as u64);
                }
                Ok(false) => {}
                Err(e) => {
                    close_conn(c, cfg.reset_on_close);
                    *pending -= 1;
                    fail(res, shared, format!("send login: {e}"));
                }
            }
            return;
        }
        State::AwaitLogin | State::Ready => {}
        State::NotStarted | State::Closed => return,
    }

    if flags & EV_OUT != 0 && !c.out.is_empty() {
        match flush(c) {
            Ok(true) => {
                c.out = Vec::new();
                let _ = epoll.modify(c.fd, EV_IN, i as u64);
            }
            Ok(false) => {}
            Err(_) => {
                on_closed(cfg, shared, c, res, pending, "send failed");
                return;
            }
        }
    }
    if flags & (EV_IN | (libc::EPOLLERR | libc::EPOLLHUP) as u32) == 0 {
        return;
    }
    // Level-triggered: a few reads, then back to epoll (it reports again if more is queued).
    for _ in 0..4 {
        if c.fd < 0 {
            return;
        }
        match net::recv(c.fd, scratch) {
            Ok(Recv::Data(n, kts)) => {
                let (ts_ns, kernel) = match kts {
                    Some(t) => (t, true),
                    None => (net::realtime_ns(), false),
                };
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
                            kernel,
                            res,
                            pending,
                        );
                    } else {
                        let mut line = std::mem::take(&mut c.carry);
                        line.extend_from_slice(&data[start..end]);
                        handle_line(cfg, shared, c, &line, ts_ns, kernel, res, pending);
                    }
                    start = end + 1;
                    if c.fd < 0 {
                        return;
                    }
                }
                if start < n {
                    if c.carry.len() + (n - start) > MAX_LINE {
                        res.protocol_errors += 1;
                        on_closed(cfg, shared, c, res, pending, "line too long");
                        return;
                    }
                    c.carry.extend_from_slice(&data[start..]);
                }
                if n < scratch.len() {
                    return;
                }
            }
            Ok(Recv::WouldBlock) => return,
            Ok(Recv::Eof) => {
                on_closed(cfg, shared, c, res, pending, "closed by the server");
                return;
            }
            Err(e) => {
                on_closed(cfg, shared, c, res, pending, &format!("receive: {e}"));
                return;
            }
        }
    }
}

/// The connection ended: a login failure if it happened before the login reply,
/// a dropped session after it.
fn on_closed(
    cfg: &WorkerConfig,
    shared: &Shared,
    c: &mut Conn,
    res: &mut WorkerResult,
    pending: &mut usize,
    why: &str,
) {
    let state = c.state;
    close_conn(c, cfg.reset_on_close);
    match state {
        State::AwaitLogin | State::Connecting => {
            *pending -= 1;
            fail(res, shared, format!("{why} before the login reply"));
        }
        State::Ready => {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// The template part of a CryptoNote hashing blob (major, minor, timestamp varints
/// and the 32-byte previous block id), hashed; `None` if the blob does not parse.
fn template_key(blob_hex: &str) -> Option<u64> {
    let bytes = blob_hex.as_bytes();
    let mut prefix = Vec::with_capacity(48);
    let mut pos = 0usize;
    let byte = |pos: &mut usize| -> Option<u8> {
        let h = bytes.get(*pos..*pos + 2)?;
        *pos += 2;
        u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    };
    for _ in 0..3 {
        loop {
            let b = byte(&mut pos)?;
            prefix.push(b);
            if b & 0x80 == 0 {
                break;
            }
            if prefix.len() > 30 {
                return None;
            }
        }
    }
    for _ in 0..32 {
        prefix.push(byte(&mut pos)?);
    }
    let mut h = DefaultHasher::new();
    prefix.hash(&mut h);
    Some(h.finish())
}

fn job_key(job: &Value) -> GenKey {
    let height = job.get("height").and_then(Value::as_u64).unwrap_or(0);
    let tmpl = job
        .get("blob")
        .and_then(Value::as_str)
        .and_then(template_key)
        .unwrap_or_else(|| {
            let mut h = DefaultHasher::new();
            job.get("job_id").map(|v| v.to_string()).hash(&mut h);
            h.finish()
        });
    (height, tmpl)
}

#[allow(clippy::too_many_arguments)]
fn handle_line(
    cfg: &WorkerConfig,
    shared: &Shared,
    c: &mut Conn,
    line: &[u8],
    ts_ns: i64,
    kernel: bool,
    res: &mut WorkerResult,
    pending: &mut usize,
) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        res.protocol_errors += 1;
        return;
    };
    let method = v.get("method").and_then(Value::as_str);
    match c.state {
        State::AwaitLogin => {
            if method.is_some() {
                return; // a notification before the login reply: not ours to count
            }
            if v.get("id").and_then(Value::as_u64) != Some(1) {
                return;
            }
            let result = v.get("result").filter(|r| !r.is_null());
            let ok = result.is_some_and(|r| r.get("status").and_then(Value::as_str) == Some("OK"));
            if !ok {
                let message = v
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .map(|m| format!("login refused: {m}"))
                    .unwrap_or_else(|| "login refused: reply without status OK".to_string());
                close_conn(c, cfg.reset_on_close);
                *pending -= 1;
                fail(res, shared, message);
                return;
            }
            res.login_lat_ns
                .push(c.login_sent.elapsed().as_nanos() as u64);
            *pending -= 1;
            c.state = State::Ready;
            shared.logged_in.fetch_add(1, Ordering::Relaxed);
            if let Some(job) = result.and_then(|r| r.get("job")) {
                c.last_key = job_key(job);
            }
            if cfg.keepalive.is_some() {
                c.session_id = result
                    .and_then(|r| r.get("id"))
                    .and_then(Value::as_str)
                    .map(Box::from);
            }
        }
        State::Ready => {
            if method != Some("job") {
                return; // keepalive replies and the like
            }
            let Some(params) = v.get("params") else {
                res.protocol_errors += 1;
                return;
            };
            let key = job_key(params);
            if key == c.last_key {
                res.repeats += 1;
                return;
            }
            c.last_key = key;
            res.notes.push(Note { key, ts_ns, kernel });
            if let Ok(mut g) = shared.gens.lock() {
                let Gens { map, order } = &mut *g;
                map.entry(key)
                    .or_insert_with(|| {
                        order.push(key);
                        GenLive {
                            first_seen: Instant::now(),
                            count: 0,
                            during_ramp: !shared.ramp_done.load(Ordering::Relaxed),
                        }
                    })
                    .count += 1;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_key_ignores_the_per_session_part() {
        // major 16, minor 16, timestamp varint (3 bytes), prev id, then nonce and tree root.
        let head = format!("1010{}{}", "a1b243", "11".repeat(32));
        let a = format!("{head}00000000{}01", "22".repeat(32));
        let b = format!("{head}00000000{}01", "33".repeat(32));
        assert_eq!(template_key(&a), template_key(&b));
        let other = format!("1010a1b244{}00000000{}01", "11".repeat(32), "22".repeat(32));
        assert_ne!(template_key(&a), template_key(&other));
        assert_eq!(template_key("10"), None);
    }
}
