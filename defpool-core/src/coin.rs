//! Coins as data: what the node needs to know about each coin it can mine.
//!
//! Families (`Monero`, `Bitcoin`) share code; individual coins differ only in the
//! numbers and prefixes recorded here, so adding a coin never adds an `if coin == …`.

use std::fmt;
use std::str::FromStr;

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

impl CoinSpec {
    /// Finds a coin by ticker, case-insensitively.
    pub fn lookup(symbol: &str) -> Option<&'static CoinSpec> {
        ALL_COINS
            .into_iter()
            .find(|c| c.symbol.eq_ignore_ascii_case(symbol))
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
