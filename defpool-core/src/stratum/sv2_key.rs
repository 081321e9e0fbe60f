//! Stratum V2 authority keys in the Stratum Reference Implementation's text encoding.
//!
//! An SV2 pool proves who it is in the Noise handshake with a certificate signed by its
//! authority key; miners and proxies are configured with the authority's public key.
//! Operators copy these keys between our config and SRI tools (mining_device,
//! translator), so we read and write exactly SRI's encoding:
//! - public key: base58check of `[0x01, 0x00]` (key version 1 as a little-endian u16)
//!   followed by the 32-byte x-only secp256k1 key;
//! - secret key: base58check of the 32 secret bytes.
//!
//! Whether a secret and a public key belong together needs secp256k1, which the node
//! checks with the Noise crate; here is only the text encoding.

use std::fmt;
use std::str::FromStr;

/// The key-format version SRI writes in front of a public key.
pub const AUTHORITY_KEY_VERSION: u16 = 1;

/// Why a key string cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not base58check (bad characters or checksum)")]
    NotBase58Check,
    #[error("decodes to {got} bytes, expected {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("key version {0}, expected {AUTHORITY_KEY_VERSION}")]
    UnknownVersion(u16),
}

/// An authority's x-only public key (what miners pin).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorityPublicKey([u8; 32]);

/// An authority's secret key. Its `Debug` never shows the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthoritySecretKey([u8; 32]);

impl AuthorityPublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AuthorityPublicKey(bytes)
    }

    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl AuthoritySecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AuthoritySecretKey(bytes)
    }

    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

fn decode_check(s: &str) -> Result<Vec<u8>, KeyError> {
    bs58::decode(s.trim())
        .with_check(None)
        .into_vec()
        .map_err(|_| KeyError::NotBase58Check)
}

impl FromStr for AuthorityPublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = decode_check(s)?;
        if bytes.len() != 34 {
            return Err(KeyError::WrongLength {
                expected: 34,
                got: bytes.len(),
            });
        }
        let version = u16::from_le_bytes([bytes[0], bytes[1]]);
        if version != AUTHORITY_KEY_VERSION {
            return Err(KeyError::UnknownVersion(version));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[2..]);
        Ok(AuthorityPublicKey(key))
    }
}

impl FromStr for AuthoritySecretKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = decode_check(s)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength {
                expected: 32,
                got: bytes.len(),
            })?;
        Ok(AuthoritySecretKey(key))
    }
}

impl fmt::Display for AuthorityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(34);
        bytes.extend_from_slice(&AUTHORITY_KEY_VERSION.to_le_bytes());
        bytes.extend_from_slice(&self.0);
        f.write_str(&bs58::encode(bytes).with_check().into_string())
    }
}

impl fmt::Debug for AuthorityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorityPublicKey({self})")
    }
}

impl fmt::Display for AuthoritySecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for AuthoritySecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthoritySecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example authority pair shipped in SRI's pool and translator configs.
    pub const SRI_EXAMPLE_PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    pub const SRI_EXAMPLE_SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

    #[test]
    fn sri_example_keys_round_trip() {
        let public: AuthorityPublicKey = SRI_EXAMPLE_PUBLIC.parse().unwrap();
        assert_eq!(public.to_string(), SRI_EXAMPLE_PUBLIC);
        let secret: AuthoritySecretKey = SRI_EXAMPLE_SECRET.parse().unwrap();
        assert_eq!(secret.to_string(), SRI_EXAMPLE_SECRET);
        assert_ne!(public.to_bytes(), [0u8; 32]);
    }

    #[test]
    fn a_public_key_needs_the_version_prefix() {
        // The secret's encoding (32 bytes, no version) is not a public key.
        assert_eq!(
            SRI_EXAMPLE_SECRET.parse::<AuthorityPublicKey>(),
            Err(KeyError::WrongLength {
                expected: 34,
                got: 32
            })
        );
        let mut bytes = vec![2u8, 0];
        bytes.extend_from_slice(&[7u8; 32]);
        let v2 = bs58::encode(bytes).with_check().into_string();
        assert_eq!(
            v2.parse::<AuthorityPublicKey>(),
            Err(KeyError::UnknownVersion(2))
        );
    }

    #[test]
    fn a_broken_checksum_or_alphabet_is_refused() {
        let mut broken = SRI_EXAMPLE_PUBLIC.to_string();
        broken.pop();
        broken.push('3');
        assert_eq!(
            broken.parse::<AuthorityPublicKey>(),
            Err(KeyError::NotBase58Check)
        );
        assert_eq!(
            "0OIl".parse::<AuthoritySecretKey>(),
            Err(KeyError::NotBase58Check)
        );
        assert_eq!(
            SRI_EXAMPLE_PUBLIC.parse::<AuthoritySecretKey>(),
            Err(KeyError::WrongLength {
                expected: 32,
                got: 34
            })
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let secret: AuthoritySecretKey = SRI_EXAMPLE_SECRET.parse().unwrap();
        assert_eq!(format!("{secret:?}"), "AuthoritySecretKey(<redacted>)");
    }
}
