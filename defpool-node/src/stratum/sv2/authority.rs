//! The SV2 port's authority: its key pair in SRI's encoding and how long the Noise
//! certificates it signs stay valid.
//!
//! Read and checked once at start (config validation), then used for every
//! connection: each Noise handshake needs a fresh responder holding the key pair.

use std::time::Duration;

use defpool_core::stratum::sv2_key::{AuthorityPublicKey, AuthoritySecretKey};
use stratum_core::noise_sv2::Responder;

use crate::config::PortConfig;

/// Certificate validity when `certificate_validity` is not set: SRI's pool uses one
/// hour too, and a certificate is only checked at the handshake, so a long-lived
/// connection is not affected by it.
pub const DEFAULT_CERTIFICATE_VALIDITY: Duration = Duration::from_secs(3600);

/// A port's authority, checked: the two keys belong together.
#[derive(Clone, Debug)]
pub struct Authority {
    pub public: AuthorityPublicKey,
    secret: AuthoritySecretKey,
    pub certificate_validity: Duration,
}

/// What is wrong with a port's authority settings, naming the config field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthorityError {
    /// The `ports[i].` key the problem is about.
    pub field: &'static str,
    pub message: String,
}

fn problem(field: &'static str, message: String) -> AuthorityError {
    AuthorityError { field, message }
}

impl Authority {
    /// Reads `authority_public_key`, `authority_secret_key` and
    /// `certificate_validity` from an sv2 port.
    pub fn from_port(port: &PortConfig) -> Result<Authority, AuthorityError> {
        let (Some(public), Some(secret)) = (
            port.authority_public_key.as_deref(),
            port.authority_secret_key.as_deref(),
        ) else {
            return Err(problem(
                "authority_secret_key",
                "an sv2 port needs authority_public_key and authority_secret_key".into(),
            ));
        };
        let public: AuthorityPublicKey = public.parse().map_err(|e| {
            problem(
                "authority_public_key",
                format!("not an SV2 authority public key in SRI's encoding: {e}"),
            )
        })?;
        // The secret's text never goes into the message.
        let secret: AuthoritySecretKey = secret.parse().map_err(|e| {
            problem(
                "authority_secret_key",
                format!("not an SV2 authority secret key in SRI's encoding: {e}"),
            )
        })?;
        let certificate_validity = match port.certificate_validity.as_deref() {
            None => DEFAULT_CERTIFICATE_VALIDITY,
            Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
                problem(
                    "certificate_validity",
                    format!("{text:?} is not a duration like \"1h\": {e}"),
                )
            })?,
        };
        // The certificate carries its validity as u32 seconds.
        if certificate_validity.as_secs() == 0
            || certificate_validity.as_secs() > u64::from(u32::MAX)
        {
            return Err(problem(
                "certificate_validity",
                "must be at least one second and at most ~136 years".into(),
            ));
        }
        let authority = Authority {
            public,
            secret,
            certificate_validity,
        };
        // The Noise crate derives the public key from the secret and compares.
        authority.responder().map_err(|_| {
            problem(
                "authority_public_key",
                "is not the public key of authority_secret_key (or the secret is not a valid secp256k1 key)".into(),
            )
        })?;
        Ok(authority)
    }

    /// A Noise responder for one new connection.
    pub fn responder(&self) -> Result<Box<Responder>, stratum_core::noise_sv2::Error> {
        Responder::from_authority_kp(
            &self.public.to_bytes(),
            &self.secret.to_bytes(),
            self.certificate_validity,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

    /// SRI's example pair (its pool and translator configs ship it).
    pub const PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    pub const SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

    fn port(public: Option<&str>, secret: Option<&str>, validity: Option<&str>) -> PortConfig {
        PortConfig {
            listen: "127.0.0.1:3336".parse().unwrap(),
            protocol: Protocol::Sv2,
            coin: "LTC".into(),
            coins: Vec::new(),
            difficulty: 1.0,
            solo: false,
            vardiff: None,
            authority_public_key: public.map(str::to_string),
            authority_secret_key: secret.map(str::to_string),
            certificate_validity: validity.map(str::to_string),
            tls: None,
        }
    }

    #[test]
    fn sri_example_pair_is_accepted_with_a_one_hour_default() {
        let a = Authority::from_port(&port(Some(PUBLIC), Some(SECRET), None)).unwrap();
        assert_eq!(a.public.to_string(), PUBLIC);
        assert_eq!(a.certificate_validity, Duration::from_secs(3600));
        let a = Authority::from_port(&port(Some(PUBLIC), Some(SECRET), Some("10m"))).unwrap();
        assert_eq!(a.certificate_validity, Duration::from_secs(600));
    }

    #[test]
    fn a_public_key_of_another_secret_is_refused() {
        let other = AuthoritySecretKey::from_bytes([7u8; 32]).to_string();
        let e = Authority::from_port(&port(Some(PUBLIC), Some(&other), None)).unwrap_err();
        assert_eq!(e.field, "authority_public_key");
        assert!(!e.message.contains(&other), "the secret is never echoed");
    }

    #[test]
    fn bad_encodings_and_durations_name_their_field() {
        let e = Authority::from_port(&port(Some(SECRET), Some(SECRET), None)).unwrap_err();
        assert_eq!(e.field, "authority_public_key");
        let e = Authority::from_port(&port(Some(PUBLIC), Some(PUBLIC), None)).unwrap_err();
        assert_eq!(e.field, "authority_secret_key");
        assert!(!e.message.contains(PUBLIC));
        let e = Authority::from_port(&port(Some(PUBLIC), Some(SECRET), Some("soon"))).unwrap_err();
        assert_eq!(e.field, "certificate_validity");
        let e = Authority::from_port(&port(Some(PUBLIC), Some(SECRET), Some("0s"))).unwrap_err();
        assert_eq!(e.field, "certificate_validity");
        let e = Authority::from_port(&port(Some(PUBLIC), None, None)).unwrap_err();
        assert_eq!(e.field, "authority_secret_key");
    }
}
