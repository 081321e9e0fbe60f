//! Who a miner is, read from the login and password it sends.
//!
//! Both SV1 dialects carry the same two strings (`login`/`pass` in the xmrig dialect,
//! `mining.authorize [user, pass]` in the Bitcoin one), and users type the same things
//! into both: the payout address, a worker name, a difficulty hint and a solo flag.
//! The address is returned as typed; whether it is valid for the port's coin is
//! [`crate::address::validate`]'s call, made by the session that knows the coin.
//!
//! Login forms (after an optional case-insensitive `solo:` prefix):
//! `ADDRESS`, `ADDRESS.WORKER`, `ADDRESS+DIFF`, `ADDRESS.WORKER+DIFF`,
//! `ADDRESS+DIFF.WORKER`. Neither CryptoNote base58 nor Bitcoin base58/bech32 addresses
//! contain `.` or `+`, so the address ends at the first of them. A fractional `+DIFF`
//! is read greedily: `ADDRESS+1000.5` is difficulty 1000.5; a worker named only with
//! digits goes first (`ADDRESS.5+1000`).
//!
//! Password: comma-separated options. `x` (the usual default) says nothing; `d=DIFF`
//! asks for a fixed difficulty; `w=NAME` names the worker; a plain word names the
//! worker too, because xmrig users put the rig name there. Other `key=value` options are
//! ignored (passwords carry other pools' settings). What the login says wins over the
//! password.

use std::fmt;

use crate::units::Difficulty;

/// The worker name of a miner that gave none.
pub const DEFAULT_WORKER: &str = "default";

/// Longest worker name kept, in characters; longer names are cut.
pub const MAX_WORKER_LEN: usize = 64;

/// A miner as its login and password describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerIdentity {
    /// The payout address as typed, not yet validated for the coin.
    pub address: String,
    /// The rig's name, sanitized to `[A-Za-z0-9_.-]`, at most [`MAX_WORKER_LEN`] chars.
    pub worker: String,
    /// A difficulty the miner asked for (`+DIFF` or `d=DIFF`): positive and finite.
    /// Clamping it to the port's range is the session's concern.
    pub fixed_difficulty: Option<f64>,
    /// `solo:` prefix: a block found by this miner is credited to it alone.
    pub solo: bool,
}

/// Where an invalid difficulty hint was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintSource {
    Login,
    Password,
}

impl fmt::Display for HintSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HintSource::Login => "login",
            HintSource::Password => "password",
        })
    }
}

/// Why a login cannot identify a miner. The message is fit to send to the miner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("login is empty")]
    EmptyLogin,
    #[error("login {login:?} has no address before its worker or difficulty")]
    EmptyAddress { login: String },
    #[error("difficulty {value:?} in the {found_in} is not a positive number")]
    InvalidDifficulty { found_in: HintSource, value: String },
}

/// Reads a miner's identity from its login and password (see the module docs for the
/// forms).
pub fn parse_identity(login: &str, password: &str) -> Result<MinerIdentity, IdentityError> {
    let login = login.trim();
    if login.is_empty() {
        return Err(IdentityError::EmptyLogin);
    }
    let (solo, rest) = strip_solo(login);
    let parts = split_login(rest.trim());
    if parts.address.is_empty() {
        return Err(IdentityError::EmptyAddress {
            login: clip(login).to_string(),
        });
    }
    let login_difficulty = parts
        .difficulty
        .map(|d| parse_difficulty(d, HintSource::Login))
        .transpose()?;
    let options = parse_password(password)?;

    let worker = parts
        .worker
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .or(options.worker);
    Ok(MinerIdentity {
        address: parts.address.to_string(),
        worker: worker.map_or_else(|| DEFAULT_WORKER.to_string(), sanitize_worker),
        fixed_difficulty: login_difficulty.or(options.difficulty),
        solo,
    })
}

/// A worker name made safe for logs, the database and the API: characters outside
/// `[A-Za-z0-9_.-]` become `_`, the name is cut to [`MAX_WORKER_LEN`] characters, and
/// an empty name becomes [`DEFAULT_WORKER`]. Public so a session can use xmrig's
/// `rigid` the same way.
pub fn sanitize_worker(name: &str) -> String {
    let clean: String = name
        .trim()
        .chars()
        .take(MAX_WORKER_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        DEFAULT_WORKER.to_string()
    } else {
        clean
    }
}

/// The pieces of a login after the `solo:` prefix.
struct LoginParts<'a> {
    address: &'a str,
    worker: Option<&'a str>,
    difficulty: Option<&'a str>,
}

/// The hints a password carries.
struct PasswordOptions<'a> {
    worker: Option<&'a str>,
    difficulty: Option<f64>,
}

fn strip_solo(login: &str) -> (bool, &str) {
    const PREFIX: &[u8] = b"solo:";
    let bytes = login.as_bytes();
    if bytes.len() >= PREFIX.len() && bytes[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        // The first five bytes are ASCII, so byte 5 is a char boundary.
        (true, &login[PREFIX.len()..])
    } else {
        (false, login)
    }
}

fn split_login(s: &str) -> LoginParts<'_> {
    let Some(at) = s.find(['.', '+']) else {
        return LoginParts {
            address: s,
            worker: None,
            difficulty: None,
        };
    };
    let address = &s[..at];
    let rest = &s[at + 1..];
    if s.as_bytes()[at] == b'+' {
        // ADDRESS+DIFF or ADDRESS+DIFF.WORKER
        let (difficulty, worker) = split_leading_number(rest);
        LoginParts {
            address,
            worker,
            difficulty: Some(difficulty),
        }
    } else {
        // ADDRESS.WORKER or ADDRESS.WORKER+DIFF
        let (worker, difficulty) = match rest.split_once('+') {
            Some((w, d)) => (w, Some(d)),
            None => (rest, None),
        };
        LoginParts {
            address,
            worker: Some(worker),
            difficulty,
        }
    }
}

/// Splits `DIFF[.WORKER]` where DIFF may itself hold a decimal point: the longest
/// `digits[.digits]` prefix is the difficulty when a `.` or the end follows it;
/// otherwise (`1e6.rig`, `abc.rig`) the difficulty is everything up to the first `.`,
/// and parsing it decides.
fn split_leading_number(s: &str) -> (&str, Option<&str>) {
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut end = digits_from(0);
    if end > 0 && end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
        end = digits_from(end + 1);
    }
    if end == b.len() {
        return (s, None);
    }
    if end > 0 && b[end] == b'.' {
        return (&s[..end], Some(&s[end + 1..]));
    }
    match s.split_once('.') {
        Some((d, w)) => (d, Some(w)),
        None => (s, None),
    }
}

fn parse_password(password: &str) -> Result<PasswordOptions<'_>, IdentityError> {
    let mut named_worker = None;
    let mut plain_worker = None;
    let mut difficulty = None;
    for option in password.split(',').map(str::trim) {
        if option.is_empty() || option.eq_ignore_ascii_case("x") {
            continue;
        }
        match option.split_once('=') {
            Some((key, value)) => {
                let key = key.trim();
                if key.eq_ignore_ascii_case("d") {
                    difficulty = Some(parse_difficulty(value, HintSource::Password)?);
                } else if key.eq_ignore_ascii_case("w") {
                    let value = value.trim();
                    if !value.is_empty() {
                        named_worker = Some(value);
                    }
                }
            }
            None => {
                plain_worker = plain_worker.or(Some(option));
            }
        }
    }
    Ok(PasswordOptions {
        worker: named_worker.or(plain_worker),
        difficulty,
    })
}

fn parse_difficulty(text: &str, found_in: HintSource) -> Result<f64, IdentityError> {
    let text = text.trim();
    text.parse::<f64>()
        .ok()
        .and_then(|d| Difficulty::new(d).ok())
        .map(Difficulty::value)
        .ok_or_else(|| IdentityError::InvalidDifficulty {
            found_in,
            value: clip(text).to_string(),
        })
}

/// At most 100 bytes of miner input for an error message.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(100);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const XMR: &str = "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg";
    const LTC: &str = "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9";

    fn id(login: &str, pass: &str) -> MinerIdentity {
        parse_identity(login, pass).unwrap()
    }

    fn expect(address: &str, worker: &str, diff: Option<f64>, solo: bool) -> MinerIdentity {
        MinerIdentity {
            address: address.into(),
            worker: worker.into(),
            fixed_difficulty: diff,
            solo,
        }
    }

    #[test]
    fn bare_address_with_default_password() {
        assert_eq!(id(XMR, "x"), expect(XMR, "default", None, false));
        assert_eq!(id(XMR, ""), expect(XMR, "default", None, false));
        assert_eq!(
            id(&format!("  {XMR}\n"), "X"),
            expect(XMR, "default", None, false)
        );
    }

    #[test]
    fn address_dot_worker() {
        assert_eq!(
            id(&format!("{XMR}.rig1"), "x"),
            expect(XMR, "rig1", None, false)
        );
        assert_eq!(
            id(&format!("{LTC}.gpu-0"), "x"),
            expect(LTC, "gpu-0", None, false)
        );
    }

    #[test]
    fn address_plus_difficulty() {
        assert_eq!(
            id(&format!("{XMR}+5000"), "x"),
            expect(XMR, "default", Some(5000.0), false)
        );
    }

    #[test]
    fn worker_and_difficulty_in_either_order() {
        let want = expect(XMR, "rig1", Some(5000.0), false);
        assert_eq!(id(&format!("{XMR}.rig1+5000"), "x"), want);
        assert_eq!(id(&format!("{XMR}+5000.rig1"), "x"), want);
    }

    #[test]
    fn fractional_difficulties_in_every_position() {
        assert_eq!(id(&format!("{LTC}+0.5"), "x").fixed_difficulty, Some(0.5));
        assert_eq!(
            id(&format!("{LTC}+1000.5"), "x"),
            expect(LTC, "default", Some(1000.5), false)
        );
        assert_eq!(
            id(&format!("{LTC}+0.001.rig1"), "x"),
            expect(LTC, "rig1", Some(0.001), false)
        );
        assert_eq!(
            id(&format!("{LTC}.rig1+0.25"), "x"),
            expect(LTC, "rig1", Some(0.25), false)
        );
        assert_eq!(
            id(&format!("{LTC}+1e6.rig1"), "x"),
            expect(LTC, "rig1", Some(1e6), false)
        );
        assert_eq!(id(LTC, "d=0.0001").fixed_difficulty, Some(0.0001));
    }

    #[test]
    fn numeric_worker_goes_before_the_difficulty() {
        assert_eq!(
            id(&format!("{XMR}.5+1000"), "x"),
            expect(XMR, "5", Some(1000.0), false)
        );
        assert_eq!(
            id(&format!("{XMR}+1000.rig5"), "x"),
            expect(XMR, "rig5", Some(1000.0), false)
        );
    }

    #[test]
    fn solo_prefix_in_any_case() {
        assert_eq!(
            id(&format!("solo:{XMR}"), "x"),
            expect(XMR, "default", None, true)
        );
        assert_eq!(
            id(&format!("SOLO:{XMR}.rig1+100"), "x"),
            expect(XMR, "rig1", Some(100.0), true)
        );
        assert_eq!(
            id(&format!("Solo:{LTC}+0.5.rig"), "x"),
            expect(LTC, "rig", Some(0.5), true)
        );
        // Not a prefix: "solo" inside the login is just part of the address.
        assert!(!id("xsolo:abc", "x").solo);
    }

    #[test]
    fn plain_password_names_the_worker_when_the_login_did_not() {
        assert_eq!(id(XMR, "lab-rig1"), expect(XMR, "lab-rig1", None, false));
        assert_eq!(
            id(&format!("{XMR}.rig1"), "other"),
            expect(XMR, "rig1", None, false)
        );
        // An empty worker after the dot falls back to the password.
        assert_eq!(
            id(&format!("{XMR}."), "rig2"),
            expect(XMR, "rig2", None, false)
        );
    }

    #[test]
    fn password_difficulty() {
        assert_eq!(id(XMR, "d=500"), expect(XMR, "default", Some(500.0), false));
        assert_eq!(
            id(XMR, "D = 500 "),
            expect(XMR, "default", Some(500.0), false)
        );
    }

    #[test]
    fn password_options_combine_in_any_order() {
        let want = expect(XMR, "rig1", Some(500.0), false);
        assert_eq!(id(XMR, "d=500,w=rig1"), want);
        assert_eq!(id(XMR, "rig1,d=500"), want);
        assert_eq!(id(XMR, "d=500, rig1"), want);
        assert_eq!(id(XMR, "x,rig1,d=500"), want);
        // `w=` is explicit and beats a plain word; unknown options are ignored.
        assert_eq!(id(XMR, "plain,w=rig1,d=500,email=a@b.c"), want);
    }

    #[test]
    fn login_difficulty_wins_over_password() {
        assert_eq!(
            id(&format!("{XMR}+1000"), "d=500").fixed_difficulty,
            Some(1000.0)
        );
        assert_eq!(
            id(&format!("{XMR}.rig1"), "w=rig2,d=500"),
            expect(XMR, "rig1", Some(500.0), false)
        );
    }

    #[test]
    fn worker_names_are_sanitized_and_cut() {
        assert_eq!(id(&format!("{XMR}.rig 1/é"), "x").worker, "rig_1__");
        assert_eq!(id(XMR, "my rig").worker, "my_rig");
        let long = "a".repeat(100);
        assert_eq!(
            id(&format!("{XMR}.{long}"), "x").worker,
            "a".repeat(MAX_WORKER_LEN)
        );
        assert_eq!(id(&format!("{XMR}.a.b_c-d"), "x").worker, "a.b_c-d");
        assert_eq!(sanitize_worker("  "), DEFAULT_WORKER);
        assert_eq!(sanitize_worker("lab-rig1"), "lab-rig1");
    }

    #[test]
    fn empty_login_is_an_error() {
        assert_eq!(parse_identity("", "x"), Err(IdentityError::EmptyLogin));
        assert_eq!(parse_identity(" \t", "x"), Err(IdentityError::EmptyLogin));
    }

    #[test]
    fn login_without_address_is_an_error() {
        for login in ["solo:", "SOLO:  ", ".rig1", "+1000", "solo:.rig1"] {
            assert!(
                matches!(
                    parse_identity(login, "x"),
                    Err(IdentityError::EmptyAddress { .. })
                ),
                "{login}"
            );
        }
    }

    #[test]
    fn invalid_login_difficulty_is_named() {
        for (suffix, value) in [
            ("+abc", "abc"),
            ("+0", "0"),
            ("+-5", "-5"),
            ("+inf", "inf"),
            ("+NaN", "NaN"),
            ("+", ""),
            ("+1e999", "1e999"),
            (".rig1+x", "x"),
            ("+abc.rig1", "abc"),
        ] {
            let err = parse_identity(&format!("{XMR}{suffix}"), "x").unwrap_err();
            assert_eq!(
                err,
                IdentityError::InvalidDifficulty {
                    found_in: HintSource::Login,
                    value: value.into()
                },
                "{suffix}"
            );
            assert!(err.to_string().contains("in the login"), "{err}");
        }
    }

    #[test]
    fn invalid_password_difficulty_is_named() {
        let err = parse_identity(XMR, "rig1,d=fast").unwrap_err();
        assert_eq!(
            err,
            IdentityError::InvalidDifficulty {
                found_in: HintSource::Password,
                value: "fast".into()
            }
        );
        assert_eq!(
            err.to_string(),
            r#"difficulty "fast" in the password is not a positive number"#
        );
        assert!(parse_identity(XMR, "d=").is_err());
        assert!(parse_identity(XMR, "d=-1").is_err());
    }

    proptest! {
        #[test]
        fn any_input_gives_a_sane_identity_or_an_error(login in ".{0,200}", pass in ".{0,80}") {
            if let Ok(m) = parse_identity(&login, &pass) {
                prop_assert!(!m.address.is_empty());
                prop_assert!(!m.address.contains(['.', '+']));
                prop_assert!(!m.worker.is_empty() && m.worker.len() <= MAX_WORKER_LEN);
                prop_assert!(m.worker.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)));
                if let Some(d) = m.fixed_difficulty {
                    prop_assert!(d.is_finite() && d > 0.0);
                }
            }
        }

        #[test]
        fn typed_forms_round_trip(
            worker in "[A-Za-z][A-Za-z0-9_-]{0,20}",
            diff in 1u32..1_000_000_000,
            solo in any::<bool>(),
        ) {
            let prefix = if solo { "solo:" } else { "" };
            let want = expect(XMR, &worker, Some(f64::from(diff)), solo);
            prop_assert_eq!(id(&format!("{prefix}{XMR}.{worker}+{diff}"), "x"), want.clone());
            prop_assert_eq!(id(&format!("{prefix}{XMR}+{diff}.{worker}"), "x"), want.clone());
            prop_assert_eq!(id(&format!("{prefix}{XMR}"), &format!("d={diff},w={worker}")), want);
        }
    }
}
