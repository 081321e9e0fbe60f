//! The real `defpool-node` binary and the real `defpool-ctl` binary, driven as an
//! operator would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running node; killed (SIGKILL) on drop.
pub struct Node {
    child: Child,
    pub api: String,
    pub token: String,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

pub fn node_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_defpool-node"))
}

/// The `defpool-ctl` binary next to the node's; built on first use when this test
/// was run alone (`cargo test --workspace` builds it already).
pub fn ctl_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    let path = node_bin().with_file_name(format!("defpool-ctl{}", std::env::consts::EXE_SUFFIX));
    BUILD.call_once(|| {
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "defpool-ctl", "--bin", "defpool-ctl"])
                .status()
                .expect("run cargo build for defpool-ctl");
            assert!(status.success(), "building defpool-ctl failed");
        }
    });
    path
}

impl Node {
    /// Writes `config` to `dir/defpool.toml`, starts the node on it with `env` added,
    /// and waits until the API answers.
    pub async fn start(dir: &Path, config: &str, token: &str, env: &[(&str, &str)]) -> Node {
        let node = Node::spawn(dir, config, token, env);
        node.wait_ready().await;
        node
    }

    /// Starts without waiting (for failure cases).
    pub fn spawn(dir: &Path, config: &str, token: &str, env: &[(&str, &str)]) -> Node {
        Node::spawn_limited(dir, config, token, env, None)
    }

    /// Starts with the process's file-descriptor limit set to `fd_limit` (soft and
    /// hard), as on a machine whose limit cannot be raised.
    pub async fn start_limited(dir: &Path, config: &str, token: &str, fd_limit: u64) -> Node {
        let node = Node::spawn_limited(dir, config, token, &[], Some(fd_limit));
        node.wait_ready().await;
        node
    }

    fn spawn_limited(
        dir: &Path,
        config: &str,
        token: &str,
        env: &[(&str, &str)],
        fd_limit: Option<u64>,
    ) -> Node {
        let path = dir.join("defpool.toml");
        std::fs::write(&path, config).expect("write config");
        let listen = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("listen = \"127.0.0.1:"))
            .and_then(|rest| rest.split('"').next())
            .map(|port| format!("http://127.0.0.1:{port}"))
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let mut cmd = Command::new(node_bin());
        cmd.arg("--config")
            .arg(&path)
            .current_dir(dir)
            .env("DEFPOOL_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(limit) = fd_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches only this child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn defpool-node");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr pipe");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if std::env::var_os("DEFPOOL_TEST_ECHO").is_some() {
                    eprintln!("[node] {line}");
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        Node {
            child,
            api: listen,
            token: token.to_string(),
            stderr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http"),
        }
    }

    /// Resident memory of the node process (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn log(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .http
                .get(format!("{}/api/v1/health", self.api))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node did not come up; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the node's log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "node never logged {needle:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: sending a signal to our own child process id.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("wait node")
    }

    /// GET/POST/PUT with optional token; returns (status, JSON body).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.api, path);
        let mut req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            other => panic!("method {other}"),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, Some(&self.token), None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Runs `defpool-ctl --url API ARGS…` with the token in the environment.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_with_token(Some(&self.token), args)
    }

    pub fn ctl_with_token(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(ctl_bin());
        cmd.arg("--url")
            .arg(&self.api)
            .args(args)
            .env_remove("DEFPOOL_TOKEN")
            .env_remove("DEFPOOL_URL");
        if let Some(t) = token {
            cmd.env("DEFPOOL_TOKEN", t);
        }
        cmd.output().expect("run defpool-ctl")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `defpool-ctl --json ARGS…` parsed, asserting exit 0.
pub fn ctl_json(node: &Node, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = node.ctl(&all);
    assert!(
        out.status.success(),
        "defpool-ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "defpool-ctl {args:?} printed invalid JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
