//! Thin libc wrappers: non-blocking client sockets bound to a chosen source address
//! (`IP_BIND_ADDRESS_NO_PORT`), `recvmsg` with `SO_TIMESTAMPNS` receive timestamps,
//! epoll, and the process file-descriptor limit.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

/// `SO_TIMESTAMPNS` (== `SCM_TIMESTAMPNS`, the "old" 64-bit-safe variant on 64-bit
/// targets); the timestamp arrives as a `struct timespec`.
#[cfg(not(target_arch = "sparc64"))]
const SO_TIMESTAMPNS: libc::c_int = 35;
#[cfg(target_arch = "sparc64")]
const SO_TIMESTAMPNS: libc::c_int = 0x21;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// A `sockaddr_storage` and its length for `addr`.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; we fill in the family we use.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (storage, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (storage, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Result of starting a connection.
pub struct Started {
    pub fd: RawFd,
    /// `SO_TIMESTAMPNS` was accepted by the kernel for this socket.
    pub kernel_timestamps: bool,
}

/// Creates a non-blocking TCP socket, binds it to `source` (port chosen at connect
/// time thanks to `IP_BIND_ADDRESS_NO_PORT`, so one source address is not limited
/// to the ~28k ports of a `bind(port 0)`), asks for kernel receive timestamps and
/// starts connecting to `target`.
pub fn start_connect(
    target: SocketAddr,
    source: Option<IpAddr>,
    want_timestamps: bool,
) -> io::Result<Started> {
    let family = if target.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2).
    let fd = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    let result = (|| {
        if let Some(ip) = source {
            set_int_opt(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
            let (sa, len) = sockaddr(SocketAddr::new(ip, 0));
            // SAFETY: `sa` is a valid sockaddr of length `len`.
            cvt(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })?;
        }
        let kernel_timestamps =
            want_timestamps && set_int_opt(fd, libc::SOL_SOCKET, SO_TIMESTAMPNS, 1).is_ok();
        let _ = set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        let (sa, len) = sockaddr(target);
        // SAFETY: as above.
        let r = unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_storage).cast(), len) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
        }
        Ok(kernel_timestamps)
    })();
    match result {
        Ok(kernel_timestamps) => Ok(Started {
            fd,
            kernel_timestamps,
        }),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// Checks that `ip` can be used as a source address (bound without a port).
pub fn probe_source(ip: IpAddr) -> io::Result<()> {
    let family = if ip.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2).
    let fd = cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    let r = (|| {
        set_int_opt(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
        let (sa, len) = sockaddr(SocketAddr::new(ip, 0));
        // SAFETY: valid sockaddr.
        cvt(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })
            .map(|_| ())
    })();
    close(fd);
    r
}

/// The pending error of a connecting socket (`SO_ERROR`).
pub fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value`/`len` are valid for writing.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(if value == 0 {
        None
    } else {
        Some(io::Error::from_raw_os_error(value))
    })
}

/// Closes `fd`. With `reset`, closes abortively (`SO_LINGER` 0 → RST) so that no
/// TIME_WAIT socket is left behind on this side to slow down the next run.
pub fn close_socket(fd: RawFd, reset: bool) {
    if reset {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `linger` outlives the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    close(fd);
}

pub fn close(fd: RawFd) {
    // SAFETY: we own `fd` and close it once.
    unsafe { libc::close(fd) };
}

/// Writes as much of `buf` as the socket takes; `Ok(n)` bytes written (0 on EAGAIN).
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reading `buf.len()` bytes. MSG_NOSIGNAL: no SIGPIPE.
    let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

/// Outcome of one `recvmsg`.
pub enum Recv {
    /// `n` bytes, with the kernel receive timestamp (ns since the Unix epoch) if the
    /// kernel attached one.
    Data(usize, Option<i64>),
    WouldBlock,
    Eof,
}

/// Control buffer for one timestamp cmsg, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 128]);

/// One `recvmsg` into `buf`, collecting an `SCM_TIMESTAMPNS` control message.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Recv> {
    let mut control = Control([0; 128]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers we set outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` describes valid buffers.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(Recv::WouldBlock),
            io::ErrorKind::Interrupted => Ok(Recv::WouldBlock),
            _ => Err(e),
        };
    }
    if n == 0 {
        return Ok(Recv::Eof);
    }
    let mut ts = None;
    // SAFETY: walking the control messages the kernel wrote into `control`, within
    // `msg_controllen`; the timespec is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == SO_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                ts = Some(t.tv_sec as i64 * 1_000_000_000 + t.tv_nsec as i64);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(Recv::Data(n as usize, ts))
}

/// `CLOCK_REALTIME` in ns: the user-space fallback, on the same clock as the kernel
/// timestamps so both kinds can be compared.
pub fn realtime_ns() -> i64 {
    // SAFETY: an all-zero timespec is valid and clock_gettime writes it.
    let mut t: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) };
    t.tv_sec as i64 * 1_000_000_000 + t.tv_nsec as i64
}

/// An epoll instance.
pub struct Epoll(RawFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain epoll_create1(2).
        Ok(Epoll(cvt(unsafe {
            libc::epoll_create1(libc::EPOLL_CLOEXEC)
        })?))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is valid for the call.
        cvt(unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) }).map(|_| ())
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    /// Waits up to `timeout_ms`; fills `events` and returns how many are set.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: `events` is valid for writing `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the resulting soft limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here but not on every target
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        cvt(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            cvt(libc::setrlimit(libc::RLIMIT_NOFILE, &raised))?;
            lim.rlim_cur = lim.rlim_max;
        }
        Ok(lim.rlim_cur as u64)
    }
}

/// Size of the local ephemeral port range (`net.ipv4.ip_local_port_range`).
pub fn ephemeral_ports() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>());
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    Some(hi.saturating_sub(lo) + 1)
}

/// `TcpExt: ListenOverflows` of this network namespace (SYNs dropped because an
/// accept queue was full), to explain 1 s / 3 s connect latencies.
pub fn listen_overflows() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = s.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let i = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows")?;
        return values.split_whitespace().nth(i)?.parse().ok();
    }
    None
}

static STOP_SIGNAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP_SIGNAL.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag (checked by the main loop) instead of killing the
/// process, so an interrupted run still prints its summary.
pub fn install_stop_signals() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

pub fn stop_requested() -> bool {
    STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst)
}

/// User plus system CPU time of this process so far, in seconds.
pub fn cpu_seconds() -> Option<f64> {
    // SAFETY: an all-zero rusage is valid and getrusage writes it.
    let mut u: libc::rusage = unsafe { zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(u.ru_utime) + secs(u.ru_stime))
}
