//! Wallet address validation per coin and network.
//!
//! A miner logs in with a payout address; the pool must refuse anything it could not
//! pay to before it credits a single share. [`validate`] checks an address against the
//! [`AddressRules`] table of a [`CoinSpec`] for one [`Network`] and says what kind of
//! address it is, or why it is refused.
//!
//! * Monero family: CryptoNote base58 (8-byte blocks, 11 characters each), decoding to
//!   `varint(network tag) ‖ spend key (32) ‖ view key (32) [‖ payment id (8)] ‖
//!   checksum (4)`, the checksum being the first 4 bytes of Keccak-256 (original
//!   Keccak, not SHA-3) of what precedes it. Regtest uses the mainnet tags.
//! * Bitcoin family: segwit bech32 (witness v0, BIP173) / bech32m (v1+, BIP350) with the
//!   network's human-readable part, or base58check with a 21-byte payload whose version
//!   byte is one of the network's P2PKH/P2SH bytes. Bitcoin-family coins have no
//!   stagenet.
//!
//! The input is taken as is: surrounding whitespace is an error, not trimmed, and a
//! bech32 address must be all lower case or all upper case.
//!
//! When an address is valid for the same coin on another network (a mainnet address
//! given to a regtest pool), the error is [`AddressError::WrongNetwork`] and names that
//! network, so the operator knows what went wrong.

use std::fmt;

use bech32::primitives::decode::{
    CharError, ChecksumError, SegwitHrpstringError, UncheckedHrpstring, UncheckedHrpstringError,
};
use sha2::{Digest, Sha256};
use tiny_keccak::{Hasher, Keccak};

use crate::coin::{AddressRules, BitcoinPrefixes, CoinSpec, MoneroPrefixes, Network};

/// What an address pays to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressKind {
    /// Monero primary address (spend key + view key).
    MoneroStandard,
    /// Monero primary address with an 8-byte payment id.
    MoneroIntegrated,
    /// Monero subaddress.
    MoneroSubaddress,
    /// Base58check pay-to-public-key-hash.
    P2pkh,
    /// Base58check pay-to-script-hash.
    P2sh,
    /// Segwit version 0 (bech32): P2WPKH (20-byte program) or P2WSH (32-byte program).
    SegwitV0,
    /// witness v1+ (taproot, bech32m)
    SegwitV1Plus,
}

impl AddressKind {
    /// Short lowercase name, e.g. `"subaddress"`, `"p2sh"`, `"segwit v0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::MoneroStandard => "standard",
            AddressKind::MoneroIntegrated => "integrated",
            AddressKind::MoneroSubaddress => "subaddress",
            AddressKind::P2pkh => "p2pkh",
            AddressKind::P2sh => "p2sh",
            AddressKind::SegwitV0 => "segwit v0",
            AddressKind::SegwitV1Plus => "segwit v1+",
        }
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an address is refused. Every variant names the coin (its ticker) and the network
/// the pool runs on, so the message can be shown to a miner as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The address is the empty string.
    #[error("{coin} {network} address is empty")]
    Empty {
        coin: &'static str,
        network: Network,
    },
    /// The address starts or ends with whitespace (it is not trimmed silently).
    #[error("{coin} {network} address has leading or trailing whitespace")]
    Whitespace {
        coin: &'static str,
        network: Network,
    },
    /// Not decodable as an address of this coin family: a character outside the
    /// alphabet, a base58 block that overflows, an invalid witness version or padding.
    #[error("{coin} {network} address is malformed: {reason}")]
    BadEncoding {
        coin: &'static str,
        network: Network,
        reason: String,
    },
    /// A bech32 address mixing upper and lower case (all upper case is fine).
    #[error("{coin} {network} address mixes upper and lower case (bech32 must be all lower or all upper case)")]
    MixedCase {
        coin: &'static str,
        network: Network,
    },
    /// Decodes, but the checksum does not match: a typo or a damaged address.
    #[error("{coin} {network} address has a bad checksum (mistyped or damaged)")]
    BadChecksum {
        coin: &'static str,
        network: Network,
    },
    /// The decoded address or its witness program has the wrong size (truncated, extended,
    /// or a segwit v0 program that is neither 20 nor 32 bytes).
    #[error("{coin} {network} address has the wrong length: {detail}")]
    BadLength {
        coin: &'static str,
        network: Network,
        detail: String,
    },
    /// Well formed, but its prefix (Monero network tag, base58 version byte or bech32
    /// human-readable part) belongs to no network of this coin: most often an address of
    /// another coin.
    #[error("{coin} {network} address has an unknown prefix ({prefix}); is it an address of another coin?")]
    UnknownPrefix {
        coin: &'static str,
        network: Network,
        prefix: String,
    },
    /// A valid address of this coin, but for another network. [`validate`] always sets
    /// `found` to the first network (in [`Network::ALL`] order) on which the address is
    /// valid, so base58 addresses shared by testnet and regtest report testnet; `None`
    /// ("another network") is for callers that cannot tell which.
    #[error("{coin} address is for {}, but the pool runs on {expected}", found_name(.found))]
    WrongNetwork {
        coin: &'static str,
        expected: Network,
        found: Option<Network>,
    },
    /// The coin does not exist on this network (Bitcoin-family stagenet).
    #[error("{coin} has no {network} network")]
    UnsupportedNetwork {
        coin: &'static str,
        network: Network,
    },
}

fn found_name(found: &Option<Network>) -> String {
    match found {
        Some(n) => n.to_string(),
        None => "another network".to_string(),
    }
}

/// Validates `address` for `coin` on `network`; returns its kind.
pub fn validate(
    coin: &CoinSpec,
    network: Network,
    address: &str,
) -> Result<AddressKind, AddressError> {
    let ctx = Ctx {
        coin: coin.symbol,
        network,
    };
    if !network_supported(&coin.address_rules, network) {
        return Err(AddressError::UnsupportedNetwork {
            coin: ctx.coin,
            network,
        });
    }
    if address.is_empty() {
        return Err(AddressError::Empty {
            coin: ctx.coin,
            network,
        });
    }
    if address.trim() != address {
        return Err(AddressError::Whitespace {
            coin: ctx.coin,
            network,
        });
    }
    match &coin.address_rules {
        AddressRules::Monero { .. } => validate_monero(&ctx, &coin.address_rules, address),
        AddressRules::Bitcoin { .. } => validate_bitcoin(&ctx, &coin.address_rules, address),
    }
}

/// Coin and network being validated for, to build errors.
struct Ctx {
    coin: &'static str,
    network: Network,
}

impl Ctx {
    fn bad_encoding(&self, reason: impl Into<String>) -> AddressError {
        AddressError::BadEncoding {
            coin: self.coin,
            network: self.network,
            reason: reason.into(),
        }
    }
    fn bad_length(&self, detail: impl Into<String>) -> AddressError {
        AddressError::BadLength {
            coin: self.coin,
            network: self.network,
            detail: detail.into(),
        }
    }
    fn bad_checksum(&self) -> AddressError {
        AddressError::BadChecksum {
            coin: self.coin,
            network: self.network,
        }
    }
    fn mixed_case(&self) -> AddressError {
        AddressError::MixedCase {
            coin: self.coin,
            network: self.network,
        }
    }
    fn unknown_prefix(&self, prefix: String) -> AddressError {
        AddressError::UnknownPrefix {
            coin: self.coin,
            network: self.network,
            prefix,
        }
    }
}

/// Why a decoded, checksum-valid address does not fit one network's table.
enum Mismatch {
    /// The prefix is not this network's; carries a description of the prefix.
    Prefix(String),
    /// The prefix is known but the payload size does not fit its kind.
    Length(String),
}

/// Classifies with `classify` for the pool's network; when the prefix is foreign, looks
/// for another network of the coin that accepts the address to report `WrongNetwork`.
/// `classify` returns `None` for a network the coin does not have.
fn resolve(
    ctx: &Ctx,
    classify: impl Fn(Network) -> Option<Result<AddressKind, Mismatch>>,
) -> Result<AddressKind, AddressError> {
    let prefix = match classify(ctx.network) {
        Some(Ok(kind)) => return Ok(kind),
        Some(Err(Mismatch::Length(detail))) => return Err(ctx.bad_length(detail)),
        Some(Err(Mismatch::Prefix(prefix))) => prefix,
        // `validate` checked the network is supported.
        None => {
            return Err(AddressError::UnsupportedNetwork {
                coin: ctx.coin,
                network: ctx.network,
            })
        }
    };
    let found = Network::ALL
        .into_iter()
        .filter(|&n| n != ctx.network)
        .find(|&n| matches!(classify(n), Some(Ok(_))));
    match found {
        Some(found) => Err(AddressError::WrongNetwork {
            coin: ctx.coin,
            expected: ctx.network,
            found: Some(found),
        }),
        None => Err(ctx.unknown_prefix(prefix)),
    }
}

fn network_supported(rules: &AddressRules, network: Network) -> bool {
    match rules {
        AddressRules::Monero { .. } => monero_prefixes(rules, network).is_some(),
        AddressRules::Bitcoin { .. } => bitcoin_prefixes(rules, network).is_some(),
    }
}

// ---------------------------------------------------------------------------------------
// Monero family
// ---------------------------------------------------------------------------------------

/// Monero prefixes in force on `network`; regtest uses the mainnet ones.
fn monero_prefixes(rules: &AddressRules, network: Network) -> Option<&MoneroPrefixes> {
    match rules {
        AddressRules::Monero {
            mainnet,
            testnet,
            stagenet,
        } => Some(match network {
            Network::Mainnet | Network::Regtest => mainnet,
            Network::Testnet => testnet,
            Network::Stagenet => stagenet,
        }),
        AddressRules::Bitcoin { .. } => None,
    }
}

/// Bytes after the network tag: spend key + view key.
const MONERO_KEYS_LEN: usize = 64;
/// Bytes after the network tag of an integrated address: keys + payment id.
const MONERO_INTEGRATED_LEN: usize = MONERO_KEYS_LEN + 8;
const MONERO_CHECKSUM_LEN: usize = 4;

fn validate_monero(
    ctx: &Ctx,
    rules: &AddressRules,
    address: &str,
) -> Result<AddressKind, AddressError> {
    // Alphabet first, then size (a truncated address would otherwise mostly show up as
    // an overflowing last block), then the blocks themselves.
    if let Some((position, ch)) = cryptonote_base58::first_invalid_char(address) {
        return Err(ctx.bad_encoding(format!(
            "character {ch:?} at position {position} is not in the base58 alphabet"
        )));
    }
    let (standard_lens, integrated_lens) = monero_decoded_lens(rules);
    let decoded_len = cryptonote_base58::decoded_len(address.len());
    if !decoded_len.is_some_and(|n| standard_lens.contains(&n) || integrated_lens.contains(&n)) {
        let chars = |lens: &[usize]| {
            lens.iter()
                .map(|&n| cryptonote_base58::encoded_len(n).to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        };
        return Err(ctx.bad_length(format!(
            "{} characters; a standard address or subaddress has {}, an integrated address {}",
            address.len(),
            chars(&standard_lens),
            chars(&integrated_lens),
        )));
    }
    let data = cryptonote_base58::decode(address).map_err(|e| match e {
        cryptonote_base58::Error::InvalidChar { ch, position } => ctx.bad_encoding(format!(
            "character {ch:?} at position {position} is not in the base58 alphabet"
        )),
        cryptonote_base58::Error::InvalidLength(len) => {
            ctx.bad_length(format!("{len} characters is not a valid base58 length"))
        }
        cryptonote_base58::Error::Overflow { block } => {
            ctx.bad_encoding(format!("base58 block {block} overflows its byte size"))
        }
    })?;

    let Some((tag, tag_len)) = read_varint(&data) else {
        return Err(ctx.bad_encoding("the network tag is not a valid varint"));
    };
    let payload_len = data
        .len()
        .checked_sub(tag_len + MONERO_CHECKSUM_LEN)
        .filter(|&n| n == MONERO_KEYS_LEN || n == MONERO_INTEGRATED_LEN)
        .ok_or_else(|| {
            ctx.bad_length(format!(
                "decodes to {} bytes ({} characters); expected {} for a standard address or \
                 subaddress, {} for an integrated address",
                data.len(),
                address.chars().count(),
                tag_len + MONERO_KEYS_LEN + MONERO_CHECKSUM_LEN,
                tag_len + MONERO_INTEGRATED_LEN + MONERO_CHECKSUM_LEN,
            ))
        })?;

    let (body, checksum) = data.split_at(data.len() - MONERO_CHECKSUM_LEN);
    let mut hash = [0u8; 32];
    let mut keccak = Keccak::v256();
    keccak.update(body);
    keccak.finalize(&mut hash);
    if hash[..MONERO_CHECKSUM_LEN] != *checksum {
        return Err(ctx.bad_checksum());
    }

    resolve(ctx, |network| {
        let p = monero_prefixes(rules, network)?;
        let kind = if tag == p.standard {
            AddressKind::MoneroStandard
        } else if tag == p.integrated {
            AddressKind::MoneroIntegrated
        } else if tag == p.subaddress {
            AddressKind::MoneroSubaddress
        } else {
            return Some(Err(Mismatch::Prefix(format!("network tag {tag}"))));
        };
        let expected = match kind {
            AddressKind::MoneroIntegrated => MONERO_INTEGRATED_LEN,
            _ => MONERO_KEYS_LEN,
        };
        Some(if payload_len == expected {
            Ok(kind)
        } else {
            Err(Mismatch::Length(format!(
                "{kind} addresses (network tag {tag}) have {expected} bytes after the tag; \
                 this one has {payload_len}"
            )))
        })
    })
}

/// Decoded sizes of addresses with the coin's tags (on any network): standard and
/// subaddress sizes, integrated sizes; sorted, without duplicates.
fn monero_decoded_lens(rules: &AddressRules) -> (Vec<usize>, Vec<usize>) {
    let mut standard = Vec::new();
    let mut integrated = Vec::new();
    for p in Network::ALL
        .into_iter()
        .filter_map(|n| monero_prefixes(rules, n))
    {
        for tag in [p.standard, p.subaddress] {
            standard.push(varint_len(tag) + MONERO_KEYS_LEN + MONERO_CHECKSUM_LEN);
        }
        integrated.push(varint_len(p.integrated) + MONERO_INTEGRATED_LEN + MONERO_CHECKSUM_LEN);
    }
    for lens in [&mut standard, &mut integrated] {
        lens.sort_unstable();
        lens.dedup();
    }
    (standard, integrated)
}

/// Number of bytes of `value` as a LEB128 varint.
fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Reads a LEB128 varint (as used for CryptoNote network tags); returns the value and the
/// number of bytes it took, or `None` if it is unterminated or does not fit in a `u64`.
fn read_varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in data.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// CryptoNote's base58: the Bitcoin alphabet, but applied to 8-byte blocks, each encoded
/// as exactly 11 characters (the last, partial block as fewer), with no checksum of its
/// own.
mod cryptonote_base58 {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    const FULL_BLOCK_SIZE: usize = 8;
    const FULL_ENCODED_BLOCK_SIZE: usize = 11;
    /// Encoded length of a block of `i` bytes.
    const ENCODED_BLOCK_SIZES: [usize; FULL_BLOCK_SIZE + 1] = [0, 2, 3, 5, 6, 7, 9, 10, 11];

    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum Error {
        /// A character outside the alphabet, at a 0-based character position.
        InvalidChar { ch: char, position: usize },
        /// The number of characters is not that of any byte string.
        InvalidLength(usize),
        /// A block's value does not fit its byte size; `block` is 0-based.
        Overflow { block: usize },
    }

    fn digit(byte: u8) -> Option<u64> {
        ALPHABET.iter().position(|&c| c == byte).map(|d| d as u64)
    }

    /// The first character outside the alphabet and its 0-based character position.
    pub(super) fn first_invalid_char(s: &str) -> Option<(usize, char)> {
        s.chars()
            .enumerate()
            .find(|&(_, c)| !c.is_ascii() || digit(c as u8).is_none())
    }

    /// Number of bytes `encoded_len` characters decode to, if any byte string encodes to
    /// that many characters.
    pub(super) fn decoded_len(encoded_len: usize) -> Option<usize> {
        let last = encoded_len % FULL_ENCODED_BLOCK_SIZE;
        let last_size = ENCODED_BLOCK_SIZES.iter().position(|&n| n == last)?;
        Some(encoded_len / FULL_ENCODED_BLOCK_SIZE * FULL_BLOCK_SIZE + last_size)
    }

    /// Number of characters `decoded_len` bytes encode to.
    pub(super) fn encoded_len(decoded_len: usize) -> usize {
        decoded_len / FULL_BLOCK_SIZE * FULL_ENCODED_BLOCK_SIZE
            + ENCODED_BLOCK_SIZES[decoded_len % FULL_BLOCK_SIZE]
    }

    pub(super) fn decode(s: &str) -> Result<Vec<u8>, Error> {
        if let Some((position, ch)) = first_invalid_char(s) {
            return Err(Error::InvalidChar { ch, position });
        }
        // All ASCII from here on: one byte per character.
        let bytes = s.as_bytes();
        let Some(total) = decoded_len(bytes.len()) else {
            return Err(Error::InvalidLength(bytes.len()));
        };
        let mut out = Vec::with_capacity(total);
        for (block, chunk) in bytes.chunks(FULL_ENCODED_BLOCK_SIZE).enumerate() {
            let size = ENCODED_BLOCK_SIZES
                .iter()
                .position(|&n| n == chunk.len())
                .expect("decoded_len checked the last block's size");
            // 58^11 > 2^64, so accumulate in 128 bits and check the block fits its size.
            let mut value: u128 = 0;
            for &c in chunk {
                value = value * 58 + u128::from(digit(c).expect("checked above"));
            }
            if value >> (8 * size) != 0 {
                return Err(Error::Overflow { block });
            }
            out.extend_from_slice(&value.to_be_bytes()[16 - size..]);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Bitcoin family
// ---------------------------------------------------------------------------------------

/// Bitcoin-family prefixes on `network`; `None` for stagenet.
fn bitcoin_prefixes(rules: &AddressRules, network: Network) -> Option<&BitcoinPrefixes> {
    match rules {
        AddressRules::Bitcoin {
            mainnet,
            testnet,
            regtest,
        } => match network {
            Network::Mainnet => Some(mainnet),
            Network::Testnet => Some(testnet),
            Network::Regtest => Some(regtest),
            Network::Stagenet => None,
        },
        AddressRules::Monero { .. } => None,
    }
}

/// Version byte + 20-byte hash.
const BASE58_PAYLOAD_LEN: usize = 21;
const BASE58_CHECKSUM_LEN: usize = 4;

fn validate_bitcoin(
    ctx: &Ctx,
    rules: &AddressRules,
    address: &str,
) -> Result<AddressKind, AddressError> {
    // Does the address start with `<hrp>1` for an HRP this coin uses on any network?
    let own_hrp = Network::ALL
        .into_iter()
        .filter_map(|n| bitcoin_prefixes(rules, n))
        .any(|p| {
            let hrp = p.bech32_hrp;
            address.as_bytes().get(hrp.len()) == Some(&b'1')
                && address
                    .get(..hrp.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(hrp))
        });

    if own_hrp {
        match bech32::segwit::decode(address) {
            Ok((hrp, version, _program)) => {
                return classify_segwit(ctx, rules, &hrp.to_lowercase(), version.to_u8())
            }
            Err(e) => {
                // A base58 address can begin with the same characters (`Ltc1…`); only if
                // it is not one is the bech32 error the right one to report.
                return match decode_base58check(address) {
                    Ok(Base58::Valid(version)) => classify_base58(ctx, rules, version),
                    _ => Err(segwit_error(ctx, &e.0)),
                };
            }
        }
    }

    // A well-formed segwit address of some other chain (another coin's HRP).
    if let Ok((hrp, _, _)) = bech32::segwit::decode(address) {
        return Err(ctx.unknown_prefix(format!("bech32 prefix {:?}", hrp.to_lowercase())));
    }

    match decode_base58check(address) {
        Ok(Base58::Valid(version)) => classify_base58(ctx, rules, version),
        Ok(Base58::BadLength(n)) => Err(ctx.bad_length(format!(
            "base58 decodes to {n} bytes; expected {} (version byte, 20-byte hash, 4-byte checksum)",
            BASE58_PAYLOAD_LEN + BASE58_CHECKSUM_LEN
        ))),
        Ok(Base58::BadChecksum) => Err(ctx.bad_checksum()),
        Err(reason) => match UncheckedHrpstring::new(address) {
            // Looks like bech32 of a foreign HRP (e.g. a Litecoin MWEB `ltcmweb1…` or
            // `tmweb1…` address, longer than segwit allows), not like base58.
            Ok(unchecked) => Err(ctx.unknown_prefix(format!(
                "bech32 prefix {:?}",
                unchecked.hrp().to_lowercase()
            ))),
            Err(_) => Err(ctx.bad_encoding(format!("neither base58check nor bech32: {reason}"))),
        },
    }
}

fn classify_segwit(
    ctx: &Ctx,
    rules: &AddressRules,
    hrp: &str,
    version: u8,
) -> Result<AddressKind, AddressError> {
    // The library has checked the checksum variant, the version (0..=16) and the program
    // length (2..=40 bytes, 20 or 32 for v0).
    let kind = if version == 0 {
        AddressKind::SegwitV0
    } else {
        AddressKind::SegwitV1Plus
    };
    resolve(ctx, |network| {
        let p = bitcoin_prefixes(rules, network)?;
        Some(if p.bech32_hrp.eq_ignore_ascii_case(hrp) {
            Ok(kind)
        } else {
            Err(Mismatch::Prefix(format!("bech32 prefix {hrp:?}")))
        })
    })
}

fn classify_base58(
    ctx: &Ctx,
    rules: &AddressRules,
    version: u8,
) -> Result<AddressKind, AddressError> {
    resolve(ctx, |network| {
        let p = bitcoin_prefixes(rules, network)?;
        Some(if p.p2pkh.contains(&version) {
            Ok(AddressKind::P2pkh)
        } else if p.p2sh.contains(&version) {
            Ok(AddressKind::P2sh)
        } else {
            Err(Mismatch::Prefix(format!(
                "base58 version byte 0x{version:02x}"
            )))
        })
    })
}

/// Outcome of decoding a string that is valid base58.
enum Base58 {
    /// 25 bytes with a good checksum; carries the version byte.
    Valid(u8),
    /// Decoded to this many bytes instead of 25.
    BadLength(usize),
    BadChecksum,
}

/// Decodes base58check; `Err` (with the reason) if the string is not base58 at all.
fn decode_base58check(address: &str) -> Result<Base58, String> {
    let raw = bs58::decode(address)
        .into_vec()
        .map_err(|e| e.to_string())?;
    if raw.len() != BASE58_PAYLOAD_LEN + BASE58_CHECKSUM_LEN {
        return Ok(Base58::BadLength(raw.len()));
    }
    let (payload, checksum) = raw.split_at(BASE58_PAYLOAD_LEN);
    let hash = Sha256::digest(Sha256::digest(payload));
    if hash[..BASE58_CHECKSUM_LEN] != *checksum {
        return Ok(Base58::BadChecksum);
    }
    Ok(Base58::Valid(payload[0]))
}

/// Maps a segwit decoding failure of an address carrying this coin's HRP.
fn segwit_error(ctx: &Ctx, e: &SegwitHrpstringError) -> AddressError {
    match e {
        SegwitHrpstringError::Unchecked(UncheckedHrpstringError::Char(CharError::MixedCase)) => {
            ctx.mixed_case()
        }
        SegwitHrpstringError::Unchecked(UncheckedHrpstringError::Char(CharError::InvalidChar(
            c,
        ))) => ctx.bad_encoding(format!("character {c:?} is not in the bech32 alphabet")),
        SegwitHrpstringError::Checksum(ChecksumError::InvalidResidue) => ctx.bad_checksum(),
        SegwitHrpstringError::Checksum(ChecksumError::InvalidLength) => {
            ctx.bad_length("too short to hold a bech32 checksum")
        }
        SegwitHrpstringError::TooLong(len) => ctx.bad_length(format!(
            "{len} characters; segwit addresses have at most {}",
            bech32::primitives::segwit::MAX_STRING_LENGTH
        )),
        SegwitHrpstringError::NoData => ctx.bad_length("no witness version or program"),
        SegwitHrpstringError::WitnessLength(e) => ctx.bad_length(e.to_string()),
        SegwitHrpstringError::InvalidWitnessVersion(v) => {
            ctx.bad_encoding(format!("witness version {} is above 16", v.to_u8()))
        }
        SegwitHrpstringError::Padding(e) => {
            ctx.bad_encoding(format!("invalid bech32 padding: {e}"))
        }
        other => ctx.bad_encoding(format!("invalid bech32: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coin::{BTC, LTC, XMR};
    use Network::{Mainnet, Regtest, Stagenet, Testnet};

    fn ok(coin: &CoinSpec, network: Network, address: &str, kind: AddressKind) {
        assert_eq!(
            validate(coin, network, address),
            Ok(kind),
            "{} {network} {address}",
            coin.symbol
        );
    }

    fn wrong_network(coin: &CoinSpec, expected: Network, address: &str, found: Network) {
        assert_eq!(
            validate(coin, expected, address),
            Err(AddressError::WrongNetwork {
                coin: coin.symbol,
                expected,
                found: Some(found),
            }),
            "{} {expected} {address}",
            coin.symbol
        );
    }

    fn bad_checksum(coin: &CoinSpec, network: Network, address: &str) {
        assert_eq!(
            validate(coin, network, address),
            Err(AddressError::BadChecksum {
                coin: coin.symbol,
                network
            }),
            "{} {network} {address}",
            coin.symbol
        );
    }

    #[track_caller]
    fn bad_length(coin: &CoinSpec, network: Network, address: &str) {
        let got = validate(coin, network, address);
        assert!(
            matches!(&got, Err(AddressError::BadLength { coin: c, network: n, .. }) if *c == coin.symbol && *n == network),
            "{address}: {got:?}"
        );
    }

    #[track_caller]
    fn bad_encoding(coin: &CoinSpec, network: Network, address: &str) {
        let got = validate(coin, network, address);
        assert!(
            matches!(&got, Err(AddressError::BadEncoding { coin: c, network: n, .. }) if *c == coin.symbol && *n == network),
            "{address}: {got:?}"
        );
    }

    #[track_caller]
    fn unknown_prefix(coin: &CoinSpec, network: Network, address: &str, prefix: &str) {
        assert_eq!(
            validate(coin, network, address),
            Err(AddressError::UnknownPrefix {
                coin: coin.symbol,
                network,
                prefix: prefix.to_string(),
            }),
            "{address}"
        );
    }

    /// Replaces the character at `index` (ASCII) by `with`.
    fn replace_char(address: &str, index: usize, with: char) -> String {
        let mut s = address.to_string();
        s.replace_range(index..index + 1, with.encode_utf8(&mut [0; 4]));
        assert_ne!(s, address, "the replacement must change the address");
        s
    }

    // ----- Monero ------------------------------------------------------------------------

    /// Monero project donation address.
    const XMR_DONATION: &str =
        "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
    /// monero tests/functional_tests/validate_address.py, mainnet standard.
    const XMR_MAIN_STD: &str =
        "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm";
    /// validate_address.py, mainnet integrated.
    const XMR_MAIN_INT: &str = "4BxSHvcgTwu25WooY4BVmgdcKwZu5EksVZSZkDd6ooxSVVqQ4ubxXkhLF6hEqtw96i9cf3cVfLw8UWe95bdDKfRQeYtPwLm1Jiw7AKt2LY";
    /// validate_address.py, mainnet subaddress.
    const XMR_MAIN_SUB: &str =
        "8AsN91rznfkBGTY8psSNkJBg9SZgxxGGRUhGwRptBhgr5XSQ1XzmA9m8QAnoxydecSh5aLJXdrgXwTDMMZ1AuXsN1EX5Mtm";
    /// validate_address.py, testnet standard / integrated / subaddress.
    const XMR_TEST_STD: &str =
        "9ujeXrjzf7bfeK3KZdCqnYaMwZVFuXemPU8Ubw335rj2FN1CdMiWNyFV3ksEfMFvRp9L9qum5UxkP5rN9aLcPxbH1au4WAB";
    const XMR_TEST_INT: &str = "AApMA1VuhiCaHzr5X2KXi2Zc9oJ3VaGjkfChxxpRpxkyKf1NetvbRbQTbFMrGkr85DjnEH7JsBaoUFsgKwZnmtnVWnoB8MDotCsLb7eWwz";
    const XMR_TEST_SUB: &str =
        "BdKg9udkvckC5T58a8Nmtb6BNsgRAxs7uA2D49sWNNX5HPW5Us6Wxu8QMXrnSx3xPBQQ2iu9kwEcRGAoiz6EPmcZKbF62GS";
    /// validate_address.py, stagenet standard / integrated / subaddress.
    const XMR_STAGE_STD: &str =
        "53teqCAESLxeJ1REzGMAat1ZeHvuajvDiXqboEocPaDRRmqWoVPzy46GLo866qRFjbNhfkNckyhST3WEvBviDwpUDd7DSzB";
    const XMR_STAGE_INT: &str = "5K8mwfjumVseCcQEjNbf59Um6R9NfVUNkHTLhhPCmNvgDLVS88YW5tScnm83rw9mfgYtchtDDTW5jEfMhygi27j1QYphX38hg6m4VMtN29";
    const XMR_STAGE_SUB: &str =
        "73LhUiix4DVFMcKhsPRG51QmCsv8dYYbL6GcQoLwEEFvPvkVvc7BhebfA4pnEFF9Lq66hwvLqBvpHjTcqvpJMHmmNjPPBqa";
    /// Captured from monero-wallet-rpc on a regtest monerod (samples/xmr_wallet_get_address.json).
    const XMR_REGTEST_WALLET: &str =
        "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg";
    /// Destination of a captured regtest transfer (samples/xmr_wallet_transfer_request.json).
    const XMR_REGTEST_DEST: &str =
        "47kpEPjM1kVG1wtLMtuJga3sSYuANygLYaKP9MneVvn9bdjdNZMUNBAA4eCx3AQcbXVmkDEzeJDAaGCEpq8wHDaVTq8eWTR";

    #[test]
    fn monero_mainnet_addresses() {
        ok(&XMR, Mainnet, XMR_DONATION, AddressKind::MoneroStandard);
        ok(&XMR, Mainnet, XMR_MAIN_STD, AddressKind::MoneroStandard);
        // validate_address.py, second mainnet standard address.
        ok(
            &XMR,
            Mainnet,
            "44Kbx4sJ7JDRDV5aAhLJzQCjDz2ViLRduE3ijDZu3osWKBjMGkV1XPk4pfDUMqt1Aiezvephdqm6YD19GKFD9ZcXVUTp6BW",
            AddressKind::MoneroStandard,
        );
        // monero-rs src/util/address.rs tests: standard, integrated, subaddress.
        ok(
            &XMR,
            Mainnet,
            "4ADT1BtbxqEWeMKp9GgPr2NeyJXXtNxvoDawpyA4WpzFcGcoHUvXeijE66DNfohE9r1bQYaBiQjEtKE7CtkTdLwiDznFzra",
            AddressKind::MoneroStandard,
        );
        ok(
            &XMR,
            Mainnet,
            "4Byr22j9M2878Mtyb3fEPcBNwBZf5EXqn1Yi6VzR46618SFBrYysab2Cs1474CVDbsh94AJq7vuV3Z2DRq4zLcY3LHzo1Nbv3d8J6VhvCV",
            AddressKind::MoneroIntegrated,
        );
        ok(
            &XMR,
            Mainnet,
            "8AW7SotwFrqfAKnibspuuhfowW4g3asvpQvdrTmPcpNr2GmXPtBBSxUPZQATAt8Vw2hiX9GDyxB4tMNgHjwt8qYsCeFDVvn",
            AddressKind::MoneroSubaddress,
        );
        ok(&XMR, Mainnet, XMR_MAIN_INT, AddressKind::MoneroIntegrated);
        ok(&XMR, Mainnet, XMR_MAIN_SUB, AddressKind::MoneroSubaddress);
        // validate_address.py: second subaddress, and donate@getmonero.org's OpenAlias one.
        ok(
            &XMR,
            Mainnet,
            "86kKnBKFqzCLxtK1Jmx2BkNBDBSMDEVaRYMMyVbeURYDWs8uNGDZURKCA5yRcyMxHzPcmCf1q2fSdhQVcaKsFrtGRsdGfNk",
            AddressKind::MoneroSubaddress,
        );
        ok(
            &XMR,
            Mainnet,
            "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
            AddressKind::MoneroSubaddress,
        );
    }

    #[test]
    fn monero_testnet_and_stagenet_addresses() {
        ok(&XMR, Testnet, XMR_TEST_STD, AddressKind::MoneroStandard);
        ok(&XMR, Testnet, XMR_TEST_INT, AddressKind::MoneroIntegrated);
        ok(&XMR, Testnet, XMR_TEST_SUB, AddressKind::MoneroSubaddress);
        ok(
            &XMR,
            Testnet,
            "BcFvPa3fT4gVt5QyRDe5Vv7VtUFao9ci8NFEy3r254KF7R1N2cNB5FYhGvrHbMStv4D6VDzZ5xtxeKV8vgEPMnDcNFuwZb9",
            AddressKind::MoneroSubaddress,
        );
        ok(&XMR, Stagenet, XMR_STAGE_STD, AddressKind::MoneroStandard);
        ok(&XMR, Stagenet, XMR_STAGE_INT, AddressKind::MoneroIntegrated);
        ok(&XMR, Stagenet, XMR_STAGE_SUB, AddressKind::MoneroSubaddress);
        ok(
            &XMR,
            Stagenet,
            "7A1Hr63MfgUa8pkWxueD5xBqhQczkusYiCMYMnJGcGmuQxa7aDBxN1G7iCuLCNB3VPeb2TW7U9FdxB27xKkWKfJ8VhUZthF",
            AddressKind::MoneroSubaddress,
        );
    }

    #[test]
    fn monero_regtest_uses_mainnet_prefixes() {
        ok(
            &XMR,
            Regtest,
            XMR_REGTEST_WALLET,
            AddressKind::MoneroStandard,
        );
        ok(&XMR, Regtest, XMR_REGTEST_DEST, AddressKind::MoneroStandard);
        ok(
            &XMR,
            Mainnet,
            XMR_REGTEST_WALLET,
            AddressKind::MoneroStandard,
        );
        ok(&XMR, Regtest, XMR_DONATION, AddressKind::MoneroStandard);
        ok(&XMR, Regtest, XMR_MAIN_INT, AddressKind::MoneroIntegrated);
        ok(&XMR, Regtest, XMR_MAIN_SUB, AddressKind::MoneroSubaddress);
    }

    #[test]
    fn monero_wrong_network() {
        wrong_network(&XMR, Mainnet, XMR_TEST_STD, Testnet);
        wrong_network(&XMR, Mainnet, XMR_STAGE_SUB, Stagenet);
        wrong_network(&XMR, Testnet, XMR_DONATION, Mainnet);
        wrong_network(&XMR, Stagenet, XMR_MAIN_INT, Mainnet);
        wrong_network(&XMR, Testnet, XMR_STAGE_INT, Stagenet);
        wrong_network(&XMR, Regtest, XMR_TEST_SUB, Testnet);
        wrong_network(&XMR, Regtest, XMR_STAGE_STD, Stagenet);
    }

    #[test]
    fn monero_flipped_character_is_bad_checksum() {
        // A character of the spend key changed ('n' -> 'E'): still base58, same length.
        let flipped = replace_char(XMR_MAIN_STD, 10, 'E');
        bad_checksum(&XMR, Mainnet, &flipped);
        // In the view key of the integrated address.
        let flipped = replace_char(XMR_MAIN_INT, 60, '2');
        bad_checksum(&XMR, Mainnet, &flipped);
        // The bad address of monero's validate_address.py: last character 'm' -> '9'.
        bad_checksum(
            &XMR,
            Mainnet,
            "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWD9",
        );
    }

    #[test]
    fn monero_truncated_or_extended_is_bad_length() {
        let got = validate(&XMR, Mainnet, &XMR_DONATION[..94]);
        assert_eq!(
            got,
            Err(AddressError::BadLength {
                coin: "XMR",
                network: Mainnet,
                detail: "94 characters; a standard address or subaddress has 95, an integrated \
                         address 106"
                    .to_string()
            })
        );
        bad_length(&XMR, Mainnet, &XMR_DONATION[..93]);
        // 92 characters: the last block would be 4 characters, which no byte count encodes to.
        bad_length(&XMR, Mainnet, &XMR_DONATION[..92]);
        bad_length(&XMR, Mainnet, &XMR_MAIN_INT[..105]);
        bad_length(&XMR, Mainnet, &format!("{XMR_DONATION}1"));
        // Bad addresses of validate_address.py.
        bad_length(&XMR, Mainnet, "a");
        bad_length(&XMR, Mainnet, "42ey");
        // A Litecoin address is far too short for Monero.
        bad_length(&XMR, Mainnet, "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeA");
    }

    #[test]
    fn monero_non_alphabet_characters() {
        for bad in ['0', 'O', 'I', 'l', '+', 'é'] {
            let s = XMR_DONATION.replacen('Q', &bad.to_string(), 1);
            let got = validate(&XMR, Mainnet, &s);
            assert!(
                matches!(&got, Err(AddressError::BadEncoding { reason, .. }) if reason.contains(&format!("{bad:?}"))),
                "{bad:?}: {got:?}"
            );
        }
        // "@" from validate_address.py's bad addresses.
        bad_encoding(&XMR, Mainnet, "@");
        // A bech32 address is not base58 ('0' is not in the alphabet).
        bad_encoding(&XMR, Mainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    }

    #[test]
    fn monero_block_overflow_is_rejected() {
        // "zzzzzzzzzzz" = 58^11 - 1 > 2^64 - 1: does not fit an 8-byte block.
        let s = format!("zzzzzzzzzzz{}", &XMR_DONATION[11..]);
        let got = validate(&XMR, Mainnet, &s);
        assert!(
            matches!(&got, Err(AddressError::BadEncoding { reason, .. }) if reason.contains("overflow")),
            "{got:?}"
        );
        // The last, 7-character block encodes 5 bytes; "zzzzzzz" = 58^7 - 1 > 2^40 - 1.
        let s = format!("{}zzzzzzz", &XMR_DONATION[..88]);
        let got = validate(&XMR, Mainnet, &s);
        assert!(
            matches!(&got, Err(AddressError::BadEncoding { reason, .. }) if reason.contains("block 8 overflow")),
            "{got:?}"
        );
    }

    #[test]
    fn cryptonote_base58_blocks() {
        // 11 characters decode to 8 bytes, a 2-character tail to 1 byte, 7 to 5.
        assert_eq!(cryptonote_base58::decode("11111111111"), Ok(vec![0; 8]));
        assert_eq!(cryptonote_base58::decode("1z"), Ok(vec![57]));
        assert_eq!(cryptonote_base58::decode(""), Ok(vec![]));
        // 2^64 - 1 is "jpXCZedGfVQ" in CryptoNote base58 (max full block).
        assert_eq!(cryptonote_base58::decode("jpXCZedGfVQ"), Ok(vec![0xff; 8]));
        assert_eq!(
            cryptonote_base58::decode("jpXCZedGfVR"),
            Err(cryptonote_base58::Error::Overflow { block: 0 })
        );
        // 2 characters encode 1 byte: "5Q" = 4*58 + 23 = 255; "5R" = 256 overflows.
        assert_eq!(cryptonote_base58::decode("5Q"), Ok(vec![0xff]));
        assert_eq!(
            cryptonote_base58::decode("5R"),
            Err(cryptonote_base58::Error::Overflow { block: 0 })
        );
        assert_eq!(
            cryptonote_base58::decode("1"),
            Err(cryptonote_base58::Error::InvalidLength(1))
        );
        // Sizes of Monero addresses: 69 bytes <-> 95 characters, 77 <-> 106.
        assert_eq!(cryptonote_base58::decoded_len(95), Some(69));
        assert_eq!(cryptonote_base58::decoded_len(106), Some(77));
        assert_eq!(cryptonote_base58::encoded_len(69), 95);
        assert_eq!(cryptonote_base58::encoded_len(77), 106);
        assert_eq!(cryptonote_base58::decoded_len(92), None);
        assert_eq!(
            monero_decoded_lens(&XMR.address_rules),
            (vec![69], vec![77])
        );
    }

    #[test]
    fn monero_decoded_layout_of_a_known_address() {
        // monero-rs test_address_hex: the integrated address decodes to these 77 bytes
        // (tag 19, spend key, view key, payment id 5876b8b72996ff97, checksum 852d556e).
        let data = cryptonote_base58::decode(
            "4Byr22j9M2878Mtyb3fEPcBNwBZf5EXqn1Yi6VzR46618SFBrYysab2Cs1474CVDbsh94AJq7vuV3Z2DRq4zLcY3LHzo1Nbv3d8J6VhvCV",
        )
        .unwrap();
        assert_eq!(data.len(), 77);
        assert_eq!(data[0], 19);
        assert_eq!(hex::encode(&data[65..73]), "5876b8b72996ff97");
        assert_eq!(hex::encode(&data[73..]), "852d556e");
    }

    #[test]
    fn varint_tags() {
        assert_eq!(read_varint(&[18, 0]), Some((18, 1)));
        assert_eq!(read_varint(&[0x80 | 0x2c, 0x01]), Some((172, 2)));
        assert_eq!(read_varint(&[0x80]), None);
        assert_eq!(read_varint(&[]), None);
    }

    // ----- Bitcoin ------------------------------------------------------------------------

    #[test]
    fn bitcoin_mainnet_addresses() {
        // Genesis coinbase P2PKH; the BIP16 example P2SH.
        ok(
            &BTC,
            Mainnet,
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            AddressKind::P2pkh,
        );
        ok(
            &BTC,
            Mainnet,
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            AddressKind::P2sh,
        );
        // bitcoin src/test/data/key_io_valid.json.
        ok(
            &BTC,
            Mainnet,
            "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo",
            AddressKind::P2pkh,
        );
        ok(
            &BTC,
            Mainnet,
            "36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm",
            AddressKind::P2sh,
        );
        ok(
            &BTC,
            Mainnet,
            "bc1qyucykdlhp62tezs0hagqury402qwhk589q80tqs5myh3rxq34nwqhkdhv7",
            AddressKind::SegwitV0,
        );
        // BIP173 / BIP350 valid segwit addresses.
        ok(
            &BTC,
            Mainnet,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            AddressKind::SegwitV0,
        );
        ok(
            &BTC,
            Mainnet,
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            AddressKind::SegwitV0,
        );
        ok(
            &BTC,
            Mainnet,
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            AddressKind::SegwitV1Plus,
        );
        ok(
            &BTC,
            Mainnet,
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            AddressKind::SegwitV1Plus,
        );
        ok(&BTC, Mainnet, "BC1SW50QGDZ25J", AddressKind::SegwitV1Plus);
        ok(
            &BTC,
            Mainnet,
            "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
            AddressKind::SegwitV1Plus,
        );
    }

    #[test]
    fn bitcoin_testnet_and_regtest_addresses() {
        // BIP173/BIP350.
        let tb_v0 = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
        let tb_v1 = "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c";
        ok(&BTC, Testnet, tb_v0, AddressKind::SegwitV0);
        ok(&BTC, Testnet, tb_v1, AddressKind::SegwitV1Plus);
        // key_io_valid.json, testnet4 and regtest.
        ok(
            &BTC,
            Testnet,
            "mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ",
            AddressKind::P2pkh,
        );
        ok(
            &BTC,
            Testnet,
            "2NC2hEhe28ULKAJkW5MjZ3jtTMJdvXmByvK",
            AddressKind::P2sh,
        );
        ok(
            &BTC,
            Regtest,
            "n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ",
            AddressKind::P2pkh,
        );
        ok(
            &BTC,
            Regtest,
            "2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA",
            AddressKind::P2sh,
        );
        ok(
            &BTC,
            Regtest,
            "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9",
            AddressKind::SegwitV0,
        );
        ok(
            &BTC,
            Regtest,
            "bcrt1pfwxjqvtt4tcxrtdluukfmy2dv7xd2qzdfy6kajv5nwn4yam3wxkq3553uh",
            AddressKind::SegwitV1Plus,
        );
        // Testnet and regtest share base58 version bytes.
        ok(
            &BTC,
            Regtest,
            "mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ",
            AddressKind::P2pkh,
        );
        ok(
            &BTC,
            Testnet,
            "2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA",
            AddressKind::P2sh,
        );
    }

    #[test]
    fn bitcoin_wrong_network() {
        wrong_network(
            &BTC,
            Testnet,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            Mainnet,
        );
        wrong_network(&BTC, Regtest, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Mainnet);
        wrong_network(&BTC, Regtest, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Mainnet);
        wrong_network(
            &BTC,
            Mainnet,
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            Testnet,
        );
        // Only the HRP tells testnet and regtest apart.
        wrong_network(
            &BTC,
            Testnet,
            "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9",
            Regtest,
        );
        wrong_network(
            &BTC,
            Regtest,
            "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
            Testnet,
        );
        // A shared testnet/regtest base58 address given to mainnet reports testnet.
        wrong_network(&BTC, Mainnet, "n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ", Testnet);
    }

    #[test]
    fn bitcoin_bad_checksums() {
        // Last character changed.
        bad_checksum(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb");
        bad_checksum(&BTC, Mainnet, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz");
        bad_checksum(&BTC, Mainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5");
        // A character in the middle changed.
        bad_checksum(
            &BTC,
            Mainnet,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
                .replacen("zar", "zam", 1)
                .as_str(),
        );
        // BIP350 invalid vectors: bech32 where bech32m is required and vice versa.
        bad_checksum(
            &BTC,
            Mainnet,
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        );
        bad_checksum(&BTC, Mainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh");
        bad_checksum(
            &BTC,
            Testnet,
            "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
        );
        bad_checksum(
            &BTC,
            Testnet,
            "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
        );
        bad_checksum(
            &BTC,
            Mainnet,
            "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
        );
        // Truncated bech32: the checksum catches it.
        bad_checksum(&BTC, Mainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t");
    }

    #[test]
    fn bitcoin_bad_lengths() {
        // Truncated / extended base58. Dropping a single character can leave 25 bytes
        // (base58 addresses vary in length), which only the checksum catches.
        bad_checksum(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN");
        bad_length(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7Div");
        bad_length(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNaa");
        // BIP350: segwit v0 with a 16-byte program.
        let got = validate(&BTC, Mainnet, "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P");
        assert!(
            matches!(&got, Err(AddressError::BadLength { detail, .. }) if detail.contains("20 or 32")),
            "{got:?}"
        );
        // BIP350: 1-byte and 41-byte programs.
        bad_length(&BTC, Mainnet, "bc1pw5dgrnzv");
        bad_length(
            &BTC,
            Mainnet,
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        );
        // BIP350: empty data section. Its checksum is bech32, and the first data character
        // ('g', version 8) calls for bech32m, so it fails as a bad checksum first.
        bad_checksum(&BTC, Mainnet, "bc1gmk9yu");
    }

    #[test]
    fn bitcoin_bad_encodings() {
        // '0' is not base58.
        bad_encoding(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7Div0Na");
        // 'b' is not bech32.
        let got = validate(&BTC, Mainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb");
        assert!(
            matches!(&got, Err(AddressError::BadEncoding { reason, .. }) if reason.contains("'b'")),
            "{got:?}"
        );
        // BIP350: witness version 17; invalid padding (two vectors).
        bad_encoding(
            &BTC,
            Mainnet,
            "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
        );
        bad_encoding(
            &BTC,
            Mainnet,
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
        );
        bad_encoding(
            &BTC,
            Testnet,
            "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
        );
        // A Monero address is base58 but not of the right size for base58check.
        bad_length(&BTC, Mainnet, XMR_DONATION);
        // Not an address at all.
        bad_encoding(&BTC, Mainnet, "hello world");
    }

    #[test]
    fn bitcoin_mixed_case_bech32() {
        let mixed = AddressError::MixedCase {
            coin: "BTC",
            network: Mainnet,
        };
        assert_eq!(
            validate(&BTC, Mainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kV8F3T4"),
            Err(mixed.clone())
        );
        assert_eq!(
            validate(&BTC, Mainnet, "BC1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
            Err(mixed)
        );
        // BIP350 mixed-case vector.
        assert_eq!(
            validate(
                &BTC,
                Testnet,
                "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq"
            ),
            Err(AddressError::MixedCase {
                coin: "BTC",
                network: Testnet
            })
        );
    }

    #[test]
    fn bitcoin_unknown_hrp() {
        // BIP350: valid bech32m checksum, but "tc" is no Bitcoin network.
        unknown_prefix(
            &BTC,
            Mainnet,
            "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
            "bech32 prefix \"tc\"",
        );
        // A Litecoin segwit address given to Bitcoin.
        unknown_prefix(
            &BTC,
            Mainnet,
            "ltc1qytnqzjknvv03jwfgrsmzt0ycmwqgl0asjnaxwu",
            "bech32 prefix \"ltc\"",
        );
    }

    #[test]
    fn bitcoin_has_no_stagenet() {
        for address in ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "", " x"] {
            assert_eq!(
                validate(&BTC, Stagenet, address),
                Err(AddressError::UnsupportedNetwork {
                    coin: "BTC",
                    network: Stagenet
                })
            );
        }
        assert_eq!(
            validate(
                &LTC,
                Stagenet,
                "ltc1qytnqzjknvv03jwfgrsmzt0ycmwqgl0asjnaxwu"
            ),
            Err(AddressError::UnsupportedNetwork {
                coin: "LTC",
                network: Stagenet
            })
        );
        assert_eq!(
            validate(&BTC, Stagenet, "x").unwrap_err().to_string(),
            "BTC has no stagenet network"
        );
    }

    // ----- Litecoin -----------------------------------------------------------------------

    /// Captured from litecoind 0.21.2.1 regtest `validateaddress` (samples/ltc_validateaddress.txt).
    const LTC_REGTEST_BECH32: &str = "rltc1q8w9trsek7jws6uzqaky24x2n2yrdwx8zzt7qcz";
    const LTC_REGTEST_P2PKH: &str = "mmtZxKdaQUS98r9Fbs1uQS7EdMbRz4EkCj";
    const LTC_REGTEST_P2SH: &str = "QTJzwWX4MssVpKXyqGU4QLZB7eybWo1sPD";
    const LTC_REGTEST_MWEB: &str = "tmweb1qqfkwm4m88vslqffh3p0ajp0p5vxx2mac84q9qaavp5fmmavmkn74squ3uwdn5qr24q0k4v6vxym9vc5mqj6l4x2eqd2xeuw002n49nvpduazzpmc";
    /// trustwallet wallet-core Litecoin tests.
    const LTC_MAIN_BECH32: &str = "ltc1qytnqzjknvv03jwfgrsmzt0ycmwqgl0asjnaxwu";
    /// litecoin src/test/data/key_io_valid.json.
    const LTC_MAIN_P2PKH: &str = "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeA";

    #[test]
    fn litecoin_regtest_addresses_from_litecoind() {
        ok(&LTC, Regtest, LTC_REGTEST_BECH32, AddressKind::SegwitV0);
        ok(&LTC, Regtest, LTC_REGTEST_P2PKH, AddressKind::P2pkh);
        ok(&LTC, Regtest, LTC_REGTEST_P2SH, AddressKind::P2sh);
        // litecoind reported witness_program 3b8ab1c3…18e2 for it.
        let (_, version, program) = bech32::segwit::decode(LTC_REGTEST_BECH32).unwrap();
        assert_eq!(version.to_u8(), 0);
        assert_eq!(
            hex::encode(program),
            "3b8ab1c336f49d0d7040ed88aa99535106d718e2"
        );
        // litecoin key_io_valid.json, regtest.
        ok(
            &LTC,
            Regtest,
            "mpWvR79tSrA5xeziB6mjNYWdaVRwBpgnUP",
            AddressKind::P2pkh,
        );
        ok(
            &LTC,
            Regtest,
            "QgDNrG4nJpE4VV7PcFMFhkTgwAHWxWS7pj",
            AddressKind::P2sh,
        );
        // Testnet and regtest share base58 version bytes.
        ok(&LTC, Testnet, LTC_REGTEST_P2PKH, AddressKind::P2pkh);
        ok(&LTC, Testnet, LTC_REGTEST_P2SH, AddressKind::P2sh);
    }

    #[test]
    fn litecoin_mweb_address_is_not_payable() {
        // litecoind calls it valid (ismweb), but a coinbase cannot pay to MWEB.
        unknown_prefix(&LTC, Regtest, LTC_REGTEST_MWEB, "bech32 prefix \"tmweb\"");
    }

    #[test]
    fn litecoin_mainnet_and_testnet_addresses() {
        ok(&LTC, Mainnet, LTC_MAIN_P2PKH, AddressKind::P2pkh);
        ok(
            &LTC,
            Mainnet,
            "LbfVMz974gbbGFqXF7FZUpSBWSbwBHDwR5",
            AddressKind::P2pkh,
        );
        ok(
            &LTC,
            Mainnet,
            "MHrYRxAiMNBTku3eoDHwhA1LQGDjUStZW2",
            AddressKind::P2sh,
        );
        ok(
            &LTC,
            Mainnet,
            "M9dw1FAoWpHC6PcMzoCHhqQ9McvTyG5Ywj",
            AddressKind::P2sh,
        );
        ok(&LTC, Mainnet, LTC_MAIN_BECH32, AddressKind::SegwitV0);
        ok(
            &LTC,
            Mainnet,
            &LTC_MAIN_BECH32.to_uppercase(),
            AddressKind::SegwitV0,
        );
        // trustwallet wallet-core: legacy P2PKH.
        ok(
            &LTC,
            Mainnet,
            "LV7LV7Z4bWDEjYkfx9dQo6k6RjGbXsg6hS",
            AddressKind::P2pkh,
        );
        // Litecoin mainnet still accepts the legacy `3` P2SH prefix (version 5).
        ok(
            &LTC,
            Mainnet,
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            AddressKind::P2sh,
        );
        // litecoin key_io_valid.json, testnet.
        ok(
            &LTC,
            Testnet,
            "mwXn5Vhicdav8Av3KMokx4YNuHoGRKxtWs",
            AddressKind::P2pkh,
        );
        ok(
            &LTC,
            Testnet,
            "QXaUgLHkZcbJb2j5XgMYzY8cF9YM48Y81Z",
            AddressKind::P2sh,
        );
        // Legacy `2` testnet P2SH (Bitcoin Core key_io testnet4 vector, version 0xc4).
        ok(
            &LTC,
            Testnet,
            "2NC2hEhe28ULKAJkW5MjZ3jtTMJdvXmByvK",
            AddressKind::P2sh,
        );
        // A testnet P2WSH multisig address (third-party wallet fixture; checksum-valid).
        ok(
            &LTC,
            Testnet,
            "tltc1qs3ym3gltz2uaw8ttrhg779w6k39x2yn5yytnttvhvkpzcxmh6vuqeswq3q",
            AddressKind::SegwitV0,
        );
    }

    #[test]
    fn litecoin_wrong_network() {
        wrong_network(&LTC, Regtest, LTC_MAIN_BECH32, Mainnet);
        wrong_network(&LTC, Regtest, LTC_MAIN_P2PKH, Mainnet);
        wrong_network(&LTC, Regtest, "MHrYRxAiMNBTku3eoDHwhA1LQGDjUStZW2", Mainnet);
        wrong_network(&LTC, Mainnet, LTC_REGTEST_BECH32, Regtest);
        wrong_network(&LTC, Mainnet, LTC_REGTEST_P2PKH, Testnet);
        wrong_network(&LTC, Testnet, LTC_REGTEST_BECH32, Regtest);
        wrong_network(
            &LTC,
            Regtest,
            "tltc1qs3ym3gltz2uaw8ttrhg779w6k39x2yn5yytnttvhvkpzcxmh6vuqeswq3q",
            Testnet,
        );
    }

    #[test]
    fn bitcoin_address_given_to_litecoin() {
        unknown_prefix(
            &LTC,
            Mainnet,
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "base58 version byte 0x00",
        );
        unknown_prefix(
            &LTC,
            Mainnet,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "bech32 prefix \"bc\"",
        );
        unknown_prefix(
            &LTC,
            Regtest,
            "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9",
            "bech32 prefix \"bcrt\"",
        );
        // A Monero address decodes as base58 but is no base58check address.
        bad_length(&LTC, Mainnet, XMR_DONATION);
    }

    #[test]
    fn litecoin_damaged_addresses() {
        bad_checksum(&LTC, Regtest, &replace_char(LTC_REGTEST_BECH32, 10, 'q'));
        bad_checksum(&LTC, Regtest, &replace_char(LTC_REGTEST_P2PKH, 5, 'z'));
        bad_checksum(&LTC, Regtest, &LTC_REGTEST_P2SH[..33]);
        bad_length(&LTC, Regtest, &LTC_REGTEST_P2SH[..31]);
        // Mixed case with the coin's HRP.
        assert_eq!(
            validate(
                &LTC,
                Regtest,
                "rltc1q8w9trsek7jws6uzqaky24x2n2yrdwx8ZZT7QCZ"
            ),
            Err(AddressError::MixedCase {
                coin: "LTC",
                network: Regtest
            })
        );
    }

    #[test]
    fn litecoin_segwit_v0_with_wrong_program_length() {
        use bech32::primitives::iter::{ByteIterExt, Fe32IterExt};
        use bech32::{Bech32, Fe32, Hrp};
        // The program of the captured regtest address, correctly bech32-encoded with the
        // regtest HRP but cut to 16 and padded to 21 bytes: checksums are right, only
        // the v0 program length (20 or 32) is wrong.
        let program = hex::decode("3b8ab1c336f49d0d7040ed88aa99535106d718e2").unwrap();
        let hrp = Hrp::parse("rltc").unwrap();
        let encode = |bytes: &[u8]| -> String {
            bytes
                .iter()
                .copied()
                .bytes_to_fes()
                .with_checksum::<Bech32>(&hrp)
                .with_witness_version(Fe32::Q)
                .chars()
                .collect()
        };
        assert_eq!(encode(&program), LTC_REGTEST_BECH32, "encoder sanity check");
        for len in [16, 21] {
            let mut bytes = program.clone();
            bytes.resize(len, 0);
            let got = validate(&LTC, Regtest, &encode(&bytes));
            assert!(
                matches!(&got, Err(AddressError::BadLength { detail, .. }) if detail.contains("20 or 32")),
                "{len}: {got:?}"
            );
        }
    }

    // ----- Common ----------------------------------------------------------------------

    #[test]
    fn empty_and_whitespace_are_refused() {
        for (coin, network) in [(&XMR, Mainnet), (&LTC, Regtest), (&BTC, Testnet)] {
            assert_eq!(
                validate(coin, network, ""),
                Err(AddressError::Empty {
                    coin: coin.symbol,
                    network
                })
            );
        }
        let ws = |coin: &CoinSpec, network| AddressError::Whitespace {
            coin: coin.symbol,
            network,
        };
        assert_eq!(validate(&XMR, Mainnet, " "), Err(ws(&XMR, Mainnet)));
        assert_eq!(
            validate(&XMR, Mainnet, &format!(" {XMR_DONATION}")),
            Err(ws(&XMR, Mainnet))
        );
        assert_eq!(
            validate(&XMR, Mainnet, &format!("{XMR_DONATION}\n")),
            Err(ws(&XMR, Mainnet))
        );
        assert_eq!(
            validate(&LTC, Regtest, &format!("{LTC_REGTEST_BECH32} ")),
            Err(ws(&LTC, Regtest))
        );
        assert_eq!(
            validate(&BTC, Mainnet, "\t1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Err(ws(&BTC, Mainnet))
        );
        // Whitespace inside is simply not part of any alphabet.
        bad_encoding(&BTC, Mainnet, "1A1zP1eP5QGefi2 DMPTfTL5SLmv7DivfNa");
    }

    #[test]
    fn messages_name_coin_and_networks() {
        let e = validate(&LTC, Regtest, LTC_MAIN_BECH32).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LTC address is for mainnet, but the pool runs on regtest"
        );
        let e = validate(&BTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").unwrap_err();
        assert_eq!(
            e.to_string(),
            "BTC mainnet address has a bad checksum (mistyped or damaged)"
        );
        let e = validate(&LTC, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("LTC mainnet address has an unknown prefix (base58 version byte 0x00)"));
        let e = validate(&XMR, Stagenet, &XMR_DONATION[..94]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("XMR stagenet address has the wrong length: "),
            "{e}"
        );
        let e = AddressError::WrongNetwork {
            coin: "XMR",
            expected: Mainnet,
            found: None,
        };
        assert_eq!(
            e.to_string(),
            "XMR address is for another network, but the pool runs on mainnet"
        );
    }
}
