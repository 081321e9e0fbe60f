//! Coins as data: what the node needs to know about each coin it can mine.
//!
//! Families (`Monero`, `Bitcoin`) share code; individual coins differ only in the
//! numbers and prefixes recorded here, so adding a coin never adds an `if coin == …`.

use std::fmt;
use std::str::FromStr;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

/// Which protocol family a coin belongs to; it decides the stratum dialect, the daemon
/// RPC and the block format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Monero,
    Bitcoin,
}

/// Proof-of-work algorithm of a coin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// RandomX `rx/0`.
    RandomX,
    Sha256d,
    /// scrypt with N=1024, r=1, p=1.
    Scrypt,
}

impl Algorithm {
    /// Expected hashes per unit of stratum share difficulty, for hashrate estimates.
    /// CryptoNote difficulty counts hashes; Bitcoin difficulty 1 is 2^32 hashes; the
    /// scrypt convention (miners divide the stratum difficulty by 65536) makes it 2^16.
    pub fn hashes_per_difficulty(self) -> f64 {
        match self {
            Algorithm::RandomX => 1.0,
            Algorithm::Sha256d => 4_294_967_296.0,
            Algorithm::Scrypt => 65_536.0,
        }
    }
}

/// The chain a coin runs on. Address prefixes and daemon defaults depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Mainnet,
    Testnet,
    Stagenet,
    Regtest,
}

impl Network {
    pub const ALL: [Network; 4] = [
        Network::Mainnet,
        Network::Testnet,
        Network::Stagenet,
        Network::Regtest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Stagenet => "stagenet",
            Network::Regtest => "regtest",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown network {s:?} (mainnet, testnet, stagenet, regtest)"))
    }
}

/// Address prefixes of a Bitcoin-family coin on one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitcoinPrefixes {
    /// Human-readable part of bech32/bech32m segwit addresses (`bc`, `ltc`, `rltc`).
    pub bech32_hrp: &'static str,
    /// Base58check version bytes of P2PKH addresses.
    pub p2pkh: &'static [u8],
    /// Base58check version bytes of P2SH addresses (Litecoin mainnet accepts both the
    /// new `M` and the legacy `3` prefix).
    pub p2sh: &'static [u8],
}

/// Address network bytes of Monero on one network (varint-encoded tags, all < 0x80).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoneroPrefixes {
    pub standard: u64,
    pub integrated: u64,
    pub subaddress: u64,
}

/// How addresses of a coin are recognised, per network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressRules {
    Monero {
        mainnet: MoneroPrefixes,
        testnet: MoneroPrefixes,
        stagenet: MoneroPrefixes,
    },
    Bitcoin {
        mainnet: BitcoinPrefixes,
        testnet: BitcoinPrefixes,
        regtest: BitcoinPrefixes,
    },
}

/// Everything the node needs to know about one coin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoinSpec {
    /// Ticker used in config, API, CLI and database (`XMR`, `LTC`, `BTC`).
    pub symbol: &'static str,
    pub name: &'static str,
    pub family: Family,
    pub algorithm: Algorithm,
    /// Decimal places of one coin in atomic units (12 for XMR, 8 for LTC/BTC).
    pub decimals: u8,
    pub address_rules: AddressRules,
    /// Confirmations before a coinbase can be spent; the default block maturity.
    pub coinbase_maturity: u64,
    /// Target seconds between blocks.
    pub block_time_secs: u64,
    /// `rules` a Bitcoin-family daemon needs in `getblocktemplate` (BIP 9 deployments
    /// the pool must understand: Litecoin refuses a template without `mweb`). Empty
    /// for coins that have no `getblocktemplate`.
    pub gbt_rules: &'static [&'static str],
}

const MONERO_MAINNET: MoneroPrefixes = MoneroPrefixes {
    standard: 18,
    integrated: 19,
    subaddress: 42,
};
const MONERO_TESTNET: MoneroPrefixes = MoneroPrefixes {
    standard: 53,
    integrated: 54,
    subaddress: 63,
};
const MONERO_STAGENET: MoneroPrefixes = MoneroPrefixes {
    standard: 24,
    integrated: 25,
    subaddress: 36,
};

pub const XMR: CoinSpec = CoinSpec {
    symbol: "XMR",
    name: "Monero",
    family: Family::Monero,
    algorithm: Algorithm::RandomX,
    decimals: 12,
    address_rules: AddressRules::Monero {
        mainnet: MONERO_MAINNET,
        testnet: MONERO_TESTNET,
        stagenet: MONERO_STAGENET,
    },
    coinbase_maturity: 60,
    block_time_secs: 120,
    gbt_rules: &[],
};

pub const LTC: CoinSpec = CoinSpec {
    symbol: "LTC",
    name: "Litecoin",
    family: Family::Bitcoin,
    algorithm: Algorithm::Scrypt,
    decimals: 8,
    address_rules: AddressRules::Bitcoin {
        mainnet: BitcoinPrefixes {
            bech32_hrp: "ltc",
            p2pkh: &[0x30],
            p2sh: &[0x32, 0x05],
        },
        testnet: BitcoinPrefixes {
            bech32_hrp: "tltc",
            p2pkh: &[0x6f],
            p2sh: &[0x3a, 0xc4],
        },
        regtest: BitcoinPrefixes {
            bech32_hrp: "rltc",
            p2pkh: &[0x6f],
            p2sh: &[0x3a, 0xc4],
        },
    },
    coinbase_maturity: 100,
    block_time_secs: 150,
    gbt_rules: &["mweb", "segwit"],
};

pub const BTC: CoinSpec = CoinSpec {
    symbol: "BTC",
    name: "Bitcoin",
    family: Family::Bitcoin,
    algorithm: Algorithm::Sha256d,
    decimals: 8,
    address_rules: AddressRules::Bitcoin {
        mainnet: BitcoinPrefixes {
            bech32_hrp: "bc",
            p2pkh: &[0x00],
            p2sh: &[0x05],
        },
        testnet: BitcoinPrefixes {
            bech32_hrp: "tb",
            p2pkh: &[0x6f],
            p2sh: &[0xc4],
        },
        regtest: BitcoinPrefixes {
            bech32_hrp: "bcrt",
            p2pkh: &[0x6f],
            p2sh: &[0xc4],
        },
    },
    coinbase_maturity: 100,
    block_time_secs: 600,
    gbt_rules: &["segwit"],
};

/// Every coin the node knows.
pub const ALL_COINS: [&CoinSpec; 3] = [&XMR, &LTC, &BTC];

/// Coins declared at run time on the rules of a built-in one (see [`CoinSpec::derive`]).
/// Entries are leaked on purpose: a spec is `&'static` everywhere, and a process
/// declares a handful of coins once (declaring the same one again reuses it).
static DERIVED: RwLock<Vec<&'static CoinSpec>> = RwLock::new(Vec::new());

/// Why a coin cannot be declared on another's rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    #[error("coin symbol {0:?} must be 2 to 10 letters or digits")]
    BadSymbol(String),
    #[error("unknown base coin {0:?} (known: XMR, LTC, BTC)")]
    UnknownBase(String),
    #[error("{0} is a built-in coin; it needs no base")]
    BuiltIn(String),
    #[error("{symbol} is already declared on the rules of {base}")]
    OtherBase { symbol: String, base: String },
}

impl CoinSpec {
    /// Finds a coin by ticker, case-insensitively: a built-in coin or one declared
    /// with [`CoinSpec::derive`].
    pub fn lookup(symbol: &str) -> Option<&'static CoinSpec> {
        if let Some(c) = ALL_COINS
            .into_iter()
            .find(|c| c.symbol.eq_ignore_ascii_case(symbol))
        {
            return Some(c);
        }
        DERIVED
            .read()
            .ok()?
            .iter()
            .copied()
            .find(|c| c.symbol.eq_ignore_ascii_case(symbol))
    }

    /// The built-in coin a coin follows the rules of (itself for a built-in coin).
    pub fn base(&self) -> &'static CoinSpec {
        ALL_COINS
            .into_iter()
            .find(|c| {
                c.family == self.family
                    && c.algorithm == self.algorithm
                    && c.address_rules == self.address_rules
            })
            .unwrap_or(&XMR)
    }

    /// Declares a coin that follows the rules of the built-in `base` (family,
    /// algorithm, units, address format, maturity, block time) under its own ticker:
    /// a fork or a separately run chain whose daemon speaks the base's RPC. It has its
    /// own price, balances, ledger and payouts. Declaring the same symbol on the same
    /// base again returns the first declaration.
    pub fn derive(symbol: &str, base: &str) -> Result<&'static CoinSpec, DeriveError> {
        let symbol = symbol.to_ascii_uppercase();
        if !(2..=10).contains(&symbol.len()) || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DeriveError::BadSymbol(symbol));
        }
        if ALL_COINS.iter().any(|c| c.symbol == symbol) {
            return Err(DeriveError::BuiltIn(symbol));
        }
        let base_spec = ALL_COINS
            .into_iter()
            .find(|c| c.symbol.eq_ignore_ascii_case(base))
            .ok_or_else(|| DeriveError::UnknownBase(base.to_string()))?;
        let mut derived = DERIVED.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = derived.iter().find(|c| c.symbol == symbol) {
            return if existing.base().symbol == base_spec.symbol {
                Ok(existing)
            } else {
                Err(DeriveError::OtherBase {
                    symbol,
                    base: existing.base().symbol.to_string(),
                })
            };
        }
        let symbol: &'static str = Box::leak(symbol.into_boxed_str());
        let spec: &'static CoinSpec = Box::leak(Box::new(CoinSpec {
            symbol,
            name: symbol,
            ..*base_spec
        }));
        derived.push(spec);
        Ok(spec)
    }

    /// Whether this coin exists on `network` (Monero has no regtest address format of
    /// its own: regtest uses mainnet addresses; Bitcoin-family has no stagenet).
    pub fn supports_network(&self, network: Network) -> bool {
        match (self.family, network) {
            (Family::Monero, _) => true,
            (Family::Bitcoin, Network::Stagenet) => false,
            (Family::Bitcoin, _) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_coin_follows_its_base_under_its_own_symbol() {
        let zeph = CoinSpec::derive("zephtest", "XMR").unwrap();
        assert_eq!(zeph.symbol, "ZEPHTEST");
        assert_eq!(zeph.algorithm, Algorithm::RandomX);
        assert_eq!(zeph.decimals, 12);
        assert_eq!(zeph.address_rules, XMR.address_rules);
        assert_eq!(zeph.base().symbol, "XMR");
        assert!(std::ptr::eq(CoinSpec::lookup("ZephTest").unwrap(), zeph));
        // Declared again on the same base: the same coin; on another: refused.
        assert!(std::ptr::eq(
            CoinSpec::derive("ZEPHTEST", "xmr").unwrap(),
            zeph
        ));
        assert_eq!(
            CoinSpec::derive("ZEPHTEST", "LTC"),
            Err(DeriveError::OtherBase {
                symbol: "ZEPHTEST".into(),
                base: "XMR".into()
            })
        );
        assert_eq!(
            CoinSpec::derive("LTC", "BTC"),
            Err(DeriveError::BuiltIn("LTC".into()))
        );
        assert_eq!(
            CoinSpec::derive("X", "BTC"),
            Err(DeriveError::BadSymbol("X".into()))
        );
        assert_eq!(
            CoinSpec::derive("A-B", "BTC"),
            Err(DeriveError::BadSymbol("A-B".into()))
        );
        assert_eq!(
            CoinSpec::derive("DOGET", "DOGE"),
            Err(DeriveError::UnknownBase("DOGE".into()))
        );
        assert_eq!(XMR.base().symbol, "XMR");
        assert_eq!(LTC.base().symbol, "LTC");
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(CoinSpec::lookup("xmr").map(|c| c.symbol), Some("XMR"));
        assert_eq!(CoinSpec::lookup("LTC").map(|c| c.decimals), Some(8));
        assert!(CoinSpec::lookup("DOGE").is_none());
    }

    #[test]
    fn networks_parse() {
        assert_eq!("Regtest".parse::<Network>(), Ok(Network::Regtest));
        assert!("mainnet2".parse::<Network>().is_err());
        assert!(!BTC.supports_network(Network::Stagenet));
    }
}
