//! The configuration the node runs with, and `POST /api/v1/config/reload`.
//!
//! Most of the config is wired into listeners, daemon clients and tasks at start and
//! can only change with a restart. A few keys are read afresh on every use, by the
//! payout processor's passes and by payout requests and settings: those
//! ([`RELOADABLE`]) are swapped in by a reload. A reload reads the file the node
//! started with again (with the same environment and command-line overrides) and is
//! all or nothing: if any other key differs from what runs, nothing is applied and
//! the keys that need a restart are listed, so the node never runs a mix that matches
//! no file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::config::{CliOverrides, Config, ConfigError};

/// Keys a reload applies; every other key needs a restart. `coins[].x` is the key in
/// each `[[coins]]` entry.
pub const RELOADABLE: &[&str] = &[
    "coins[].min_payout",
    "coins[].auto_payout",
    "payouts.reconcile_after",
    "payouts.max_batch",
    "payouts.retry_backoff",
    "payouts.final_confirmations",
    "payouts.max_attempts",
];

/// Keys of a `[[coins]]` entry that reload.
const COIN_RELOADABLE: &[&str] = &["min_payout", "auto_payout"];

/// Where the running config came from, to read it again.
#[derive(Clone, Debug)]
struct ReloadSource {
    path: PathBuf,
    overrides: CliOverrides,
}

/// The running config, shared by the API and the payout processor; cheap to clone.
#[derive(Clone)]
pub struct LiveConfig {
    current: Arc<RwLock<Arc<Config>>>,
    source: Option<ReloadSource>,
}

/// Why a reload applied nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the node was started without a config file; there is nothing to reload")]
    NoFile,
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    #[error("nothing was applied: {} changed and needs a restart (a reload applies only {})", .0.join(", "), RELOADABLE.join(", "))]
    NeedsRestart(Vec<String>),
}

impl LiveConfig {
    /// A config that cannot be reloaded (tests, a node on built-in defaults).
    pub fn fixed(config: Arc<Config>) -> LiveConfig {
        LiveConfig {
            current: Arc::new(RwLock::new(config)),
            source: None,
        }
    }

    /// A config read from `path` with `overrides`, which a reload applies again.
    pub fn from_file(config: Arc<Config>, path: &Path, overrides: CliOverrides) -> LiveConfig {
        LiveConfig {
            current: Arc::new(RwLock::new(config)),
            source: Some(ReloadSource {
                path: path.to_path_buf(),
                overrides,
            }),
        }
    }

    /// The config in force now.
    pub fn current(&self) -> Arc<Config> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The file a reload reads.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_ref().map(|s| s.path.as_path())
    }

    /// Reads the file again and applies it if only [`RELOADABLE`] keys changed.
    /// Returns the keys that changed (empty when nothing did).
    pub fn reload(&self) -> Result<Vec<String>, ReloadError> {
        let source = self.source.as_ref().ok_or(ReloadError::NoFile)?;
        let (fresh, _) = Config::load(Some(&source.path), std::env::vars(), &source.overrides)?;
        let running = self.current();
        let (needs_restart, changed) = compare(&running, &fresh);
        if !needs_restart.is_empty() {
            return Err(ReloadError::NeedsRestart(needs_restart));
        }
        if !changed.is_empty() {
            let mut current = match self.current.write() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            *current = Arc::new(fresh);
        }
        Ok(changed)
    }
}

/// `(keys that need a restart, reloadable keys)` that differ between two configs.
fn compare(running: &Config, fresh: &Config) -> (Vec<String>, Vec<String>) {
    let (Ok(a), Ok(b)) = (toml::Value::try_from(running), toml::Value::try_from(fresh)) else {
        return (vec!["<config cannot be compared>".into()], Vec::new());
    };
    let mut all = Vec::new();
    diff("", &a, &b, &mut all);
    all.into_iter().partition(|key| !is_reloadable(key))
}

fn is_reloadable(key: &str) -> bool {
    if let Some(rest) = key.strip_prefix("coins[") {
        if let Some((_, field)) = rest.split_once("].") {
            return COIN_RELOADABLE.contains(&field);
        }
        return false;
    }
    RELOADABLE.contains(&key)
}

/// Collects the dotted keys where `a` and `b` differ. Entries of `coins` are named by
/// their symbol (`coins[XMR].min_payout`), other arrays by index.
fn diff(path: &str, a: &toml::Value, b: &toml::Value, out: &mut Vec<String>) {
    use toml::Value;
    match (a, b) {
        (Value::Table(ta), Value::Table(tb)) => {
            let keys: std::collections::BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (ta.get(key), tb.get(key)) {
                    (Some(x), Some(y)) => diff(&child, x, y, out),
                    _ => out.push(child),
                }
            }
        }
        (Value::Array(xa), Value::Array(xb)) if xa.len() == xb.len() => {
            for (i, (x, y)) in xa.iter().zip(xb).enumerate() {
                let name = match (path, x.get("symbol").and_then(Value::as_str)) {
                    ("coins", Some(symbol)) if y.get("symbol") == x.get("symbol") => {
                        symbol.to_string()
                    }
                    _ => i.to_string(),
                };
                diff(&format!("{path}[{name}]"), x, y, out);
            }
        }
        _ if a == b => {}
        _ => out.push(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[api]
admin_token = "secret-token-1"
[[coins]]
symbol = "XMR"
network = "regtest"
pool_address = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
min_payout = "0.1"
"#;

    fn config(text: &str) -> Config {
        Config::from_toml_str(text).expect("valid config")
    }

    #[test]
    fn same_config_has_no_difference() {
        assert_eq!(compare(&config(BASE), &config(BASE)), (vec![], vec![]));
    }

    #[test]
    fn min_payout_auto_payout_and_payouts_keys_are_reloadable() {
        let fresh = format!(
            "{}auto_payout = false\n[payouts]\nmax_batch = 3\n",
            BASE.replace("\"0.1\"", "\"0.2\"")
        );
        let (restart, changed) = compare(&config(BASE), &config(&fresh));
        assert!(restart.is_empty(), "{restart:?}");
        assert_eq!(
            changed,
            vec![
                "coins[XMR].auto_payout".to_string(),
                "coins[XMR].min_payout".to_string(),
                "payouts.max_batch".to_string()
            ]
        );
    }

    #[test]
    fn other_keys_need_a_restart_and_are_named_without_values() {
        let fresh = format!(
            "{}fee_percent = 2.5\n",
            BASE.replace("secret-token-1", "secret-token-2")
        );
        let (restart, _) = compare(&config(BASE), &config(&fresh));
        assert_eq!(
            restart,
            vec![
                "api.admin_token".to_string(),
                "coins[XMR].fee_percent".to_string()
            ]
        );
    }

    #[test]
    fn a_reload_without_a_file_is_refused() {
        let live = LiveConfig::fixed(Arc::new(config(BASE)));
        assert!(matches!(live.reload(), Err(ReloadError::NoFile)));
    }

    #[test]
    fn a_reload_applies_only_a_reloadable_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("defpool.toml");
        std::fs::write(&path, BASE).expect("write");
        let live = LiveConfig::from_file(Arc::new(config(BASE)), &path, CliOverrides::default());
        assert_eq!(live.reload().expect("unchanged"), Vec::<String>::new());

        std::fs::write(
            &path,
            format!("{BASE}fee_percent = 3.0\n").replace("\"0.1\"", "\"0.5\""),
        )
        .expect("write");
        match live.reload() {
            Err(ReloadError::NeedsRestart(keys)) => {
                assert_eq!(keys, vec!["coins[XMR].fee_percent".to_string()])
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(live.current().coins[0].min_payout, "0.1", "nothing applied");

        std::fs::write(&path, BASE.replace("\"0.1\"", "\"0.5\"")).expect("write");
        assert_eq!(
            live.reload().expect("applies"),
            vec!["coins[XMR].min_payout".to_string()]
        );
        assert_eq!(live.current().coins[0].min_payout, "0.5");
    }
}
