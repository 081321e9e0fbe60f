//! Where the dashboard connects and with which token: flags, then environment
//! (`DEFPOOL_URL`, `DEFPOOL_TOKEN`, the same as `defpool-ctl`), then a TOML file given
//! with `--config`, then the node's default API address.

use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

/// The node's default `api.listen`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// DefPool operator dashboard: the live state of a node over its stream, and payout
/// actions over its REST API.
#[derive(Debug, Parser)]
#[command(name = "defpool-tui", version, about)]
pub struct Cli {
    /// Base URL of the node's API [default: http://127.0.0.1:8080].
    #[arg(long, env = "DEFPOOL_URL")]
    pub url: Option<String>,

    /// Admin token, sent as `Authorization: Bearer TOKEN`; the stream and the payout
    /// actions need it.
    #[arg(long, env = "DEFPOOL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// TOML file with `url` and `token` (flags and environment take precedence).
    #[arg(long, value_name = "FILE", env = "DEFPOOL_TUI_CONFIG")]
    pub config: Option<PathBuf>,

    /// Append every stream message to FILE as JSON lines (for bug reports and test
    /// fixtures).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// What the dashboard runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub url: String,
    pub token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
}

impl Cli {
    /// Reads the `--config` file, if any, and merges it under the flags.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: shown.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: shown,
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        Ok(merge(self.url.clone(), self.token.clone(), file))
    }
}

/// Flags (or environment) over the file over the defaults; an empty token is none.
pub fn merge(url: Option<String>, token: Option<String>, file: FileConfig) -> Settings {
    let nonempty = |s: Option<String>| s.filter(|t| !t.trim().is_empty());
    Settings {
        url: nonempty(url)
            .or(nonempty(file.url))
            .unwrap_or_else(|| DEFAULT_URL.to_string()),
        token: nonempty(token)
            .or(nonempty(file.token))
            .map(|t| t.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file: FileConfig =
            toml::from_str("url = \"http://10.0.0.1:8080\"\ntoken = \"file\"\n").unwrap();
        let s = merge(None, Some("flag".into()), file);
        assert_eq!(s.url, "http://10.0.0.1:8080");
        assert_eq!(s.token.as_deref(), Some("flag"));
        let s = merge(None, Some(String::new()), FileConfig::default());
        assert_eq!(s.url, DEFAULT_URL);
        assert_eq!(s.token, None, "an empty DEFPOOL_TOKEN means no token");
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<FileConfig>("tokn = \"x\"").is_err());
    }
}
