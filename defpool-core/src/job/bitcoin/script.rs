//! The scriptPubKey a coinbase output pays to, built from a payout address.
//!
//! The pool address comes from the operator's config and is checked once with
//! [`crate::address::validate`] for the coin and network; here it becomes the bytes of
//! the output script. Litecoin MWEB addresses (`ltcmweb1…`, `tmweb1…`) are refused with
//! their own error: a coinbase cannot pay into MWEB (only the HogEx moves coins there).

use std::fmt;

use crate::address::{self, AddressError, AddressKind};
use crate::coin::{CoinSpec, Network};

const OP_0: u8 = 0x00;
/// `OP_1` … `OP_16` are `0x51` … `0x60`.
const OP_1: u8 = 0x51;
const OP_DUP: u8 = 0x76;
const OP_HASH160: u8 = 0xa9;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_EQUAL: u8 = 0x87;
const OP_CHECKSIG: u8 = 0xac;

/// The bytes of an output script.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScriptPubKey(Vec<u8>);

impl ScriptPubKey {
    /// Wraps script bytes as they are (a script from the daemon, or a test vector).
    pub fn from_bytes(bytes: Vec<u8>) -> ScriptPubKey {
        ScriptPubKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ScriptPubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScriptPubKey({})", hex::encode(&self.0))
    }
}

/// Why an address cannot be paid from a coinbase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// Not a valid address of this coin and network.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// A Litecoin MWEB address: valid for the wallet, but no coinbase output can pay it.
    #[error(
        "{coin} MWEB address {address:?} cannot receive a coinbase; use a segwit or legacy address"
    )]
    Mweb { coin: &'static str, address: String },
    /// The coin is not of the Bitcoin family.
    #[error("{coin} has no Bitcoin-style output scripts")]
    NotBitcoinFamily { coin: &'static str },
}

/// Human-readable parts of Litecoin MWEB addresses (mainnet, testnet/regtest).
const MWEB_HRPS: [&str; 2] = ["ltcmweb", "tmweb"];

/// The output script paying to `address` on `network`: P2PKH, P2SH, P2WPKH, P2WSH and
/// P2TR (any witness version from 1 to 16, as BIP350 defines them).
pub fn script_pubkey_for(
    coin: &CoinSpec,
    network: Network,
    address: &str,
) -> Result<ScriptPubKey, ScriptError> {
    if coin.family != crate::coin::Family::Bitcoin {
        return Err(ScriptError::NotBitcoinFamily { coin: coin.symbol });
    }
    let lower = address.to_ascii_lowercase();
    if MWEB_HRPS.iter().any(|hrp| {
        lower
            .strip_prefix(hrp)
            .is_some_and(|rest| rest.starts_with('1'))
    }) {
        return Err(ScriptError::Mweb {
            coin: coin.symbol,
            address: address.to_string(),
        });
    }
    let kind = address::validate(coin, network, address)?;
    let decode_failed = |reason: &str| {
        // `validate` accepted it, so decoding again cannot fail; answer with the same
        // kind of error rather than panic if the two ever disagree.
        ScriptError::Address(AddressError::BadEncoding {
            coin: coin.symbol,
            network,
            reason: reason.to_string(),
        })
    };
    let mut script = Vec::with_capacity(34);
    match kind {
        AddressKind::P2pkh | AddressKind::P2sh => {
            let raw = bs58::decode(address)
                .into_vec()
                .map_err(|e| decode_failed(&e.to_string()))?;
            // version (1) ‖ hash160 (20) ‖ checksum (4); validate checked the checksum.
            let hash = raw.get(1..21).ok_or_else(|| decode_failed("short"))?;
            if kind == AddressKind::P2pkh {
                script.extend_from_slice(&[OP_DUP, OP_HASH160, 20]);
                script.extend_from_slice(hash);
                script.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
            } else {
                script.extend_from_slice(&[OP_HASH160, 20]);
                script.extend_from_slice(hash);
                script.push(OP_EQUAL);
            }
        }
        AddressKind::SegwitV0 | AddressKind::SegwitV1Plus => {
            let (_, version, program) =
                bech32::segwit::decode(address).map_err(|e| decode_failed(&e.to_string()))?;
            let version = version.to_u8();
            script.push(if version == 0 {
                OP_0
            } else {
                OP_1 + version - 1
            });
            // Programs are 2..=40 bytes: one direct push.
            script.push(program.len() as u8);
            script.extend_from_slice(&program);
        }
        AddressKind::MoneroStandard
        | AddressKind::MoneroIntegrated
        | AddressKind::MoneroSubaddress => {
            return Err(ScriptError::NotBitcoinFamily { coin: coin.symbol })
        }
    }
    Ok(ScriptPubKey(script))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coin::{BTC, LTC, XMR};
    use Network::{Mainnet, Regtest};

    fn script(coin: &CoinSpec, network: Network, address: &str) -> String {
        hex::encode(
            script_pubkey_for(coin, network, address)
                .unwrap()
                .as_bytes(),
        )
    }

    #[test]
    fn litecoind_regtest_scripts() {
        // samples/ltc_validateaddress.txt: litecoind's own scriptPubKey for each address.
        assert_eq!(
            script(
                &LTC,
                Regtest,
                "rltc1q8w9trsek7jws6uzqaky24x2n2yrdwx8zzt7qcz"
            ),
            "00143b8ab1c336f49d0d7040ed88aa99535106d718e2"
        );
        assert_eq!(
            script(&LTC, Regtest, "mmtZxKdaQUS98r9Fbs1uQS7EdMbRz4EkCj"),
            "76a91445e741d7a3a1539f05792026ff4288b81161802888ac"
        );
        assert_eq!(
            script(&LTC, Regtest, "QTJzwWX4MssVpKXyqGU4QLZB7eybWo1sPD"),
            "a914499280c4f03c04e755f8bc8976a33b5e9ca57e8587"
        );
    }

    #[test]
    fn bip173_and_bip350_scripts() {
        // BIP173 / BIP350 valid-address vectors with their scriptPubKeys.
        assert_eq!(
            script(&BTC, Mainnet, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            script(
                &BTC,
                Network::Testnet,
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
            ),
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
        );
        assert_eq!(
            script(
                &BTC,
                Mainnet,
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
            ),
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
        // Bitcoin genesis coinbase address (P2PKH) and a well-known P2SH.
        assert_eq!(
            script(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
        assert_eq!(
            script(&BTC, Mainnet, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
            "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"
        );
    }

    #[test]
    fn mweb_addresses_cannot_take_a_coinbase() {
        let mweb = "tmweb1qqfkwm4m88vslqffh3p0ajp0p5vxx2mac84q9qaavp5fmmavmkn74squ3uwdn5qr24q0k4v6vxym9vc5mqj6l4x2eqd2xeuw002n49nvpduazzpmc";
        assert!(matches!(
            script_pubkey_for(&LTC, Regtest, mweb),
            Err(ScriptError::Mweb { coin: "LTC", .. })
        ));
        assert!(matches!(
            script_pubkey_for(&LTC, Mainnet, "ltcmweb1qq0000"),
            Err(ScriptError::Mweb { .. })
        ));
    }

    #[test]
    fn invalid_addresses_keep_the_address_error() {
        assert!(matches!(
            script_pubkey_for(&LTC, Regtest, "ltc1qytnqzjknvv03jwfgrsmzt0ycmwqgl0asjnaxwu"),
            Err(ScriptError::Address(AddressError::WrongNetwork { .. }))
        ));
        assert!(matches!(
            script_pubkey_for(&XMR, Mainnet, "4"),
            Err(ScriptError::NotBitcoinFamily { coin: "XMR" })
        ));
    }
}
