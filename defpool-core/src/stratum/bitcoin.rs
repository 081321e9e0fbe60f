//! The Bitcoin dialect of Stratum V1 as typed messages.
//!
//! Newline-delimited JSON-RPC 1.0 over TCP: requests are `{"id", "method", "params":
//! [...]}` with positional params, responses `{"id", "result", "error"}` with `error`
//! either `null` or `[code, "message", null]`, notifications carry `"id": null`.
//! Shapes follow what cpuminer 2.5.1 and the SV2 reference implementation's SV1 miner
//! sent and accepted in the captured sessions, plus BIP 310 (`mining.configure`,
//! version rolling) for ASICs.
//!
//! Request ids are echoed, never interpreted: cpuminer sends `"id": 4` for every
//! submit and SRI's miner the same id for configure, subscribe and authorize.
//!
//! Parsing never panics and names the offending param, so a miner (and the operator
//! reading the log) sees what was wrong. Field meanings (byte orders, lengths) are
//! checked later, by [`crate::share::bitcoin`], which knows the job.

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// The version bits this pool lets miners roll: BIP 320's general-purpose bits 13-28,
/// the mask every major pool offers.
pub const POOL_VERSION_MASK: u32 = 0x1fff_e000;

/// Extension name of BIP 310 version rolling.
pub const EXT_VERSION_ROLLING: &str = "version-rolling";
/// BIP 310: the miner can take `mining.set_extranonce`.
pub const EXT_SUBSCRIBE_EXTRANONCE: &str = "subscribe-extranonce";

/// The error codes every Bitcoin-dialect pool and miner share. Miners log the message
/// and keep mining; the code lets them count rejects by reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Anything else: malformed request, unknown method, bad field, internal error.
    Other = 20,
    /// The job id is unknown or its block is gone (a stale share).
    JobNotFound = 21,
    DuplicateShare = 22,
    LowDifficultyShare = 23,
    UnauthorizedWorker = 24,
    NotSubscribed = 25,
}

impl ErrorCode {
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The customary message for the code.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::Other => "Other/Unknown",
            ErrorCode::JobNotFound => "Job not found",
            ErrorCode::DuplicateShare => "Duplicate share",
            ErrorCode::LowDifficultyShare => "Low difficulty share",
            ErrorCode::UnauthorizedWorker => "Unauthorized worker",
            ErrorCode::NotSubscribed => "Not subscribed",
        }
    }
}

// ---------------------------------------------------------------------------------
// Miner → pool

/// `mining.subscribe [user_agent, session_id?, host?, port?]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeParams {
    /// Miner software (`cpuminer/2.5.1`); absent or `null` for some miners.
    pub user_agent: Option<String>,
    /// The extranonce1 / session id of an earlier connection the miner wants to resume.
    pub session_id: Option<String>,
}

/// `mining.authorize [username, password]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizeParams {
    /// Address plus worker and hints (see [`super::identity`]).
    pub username: String,
    /// Empty when the miner sent none.
    pub password: String,
}

/// BIP 310 `version-rolling` parameters of a `mining.configure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRollingRequest {
    /// Bits the miner can roll; `ffffffff` when it sent no mask (BIP 310's default).
    pub mask: u32,
    /// Bits the miner needs to run at full speed; 0 when not sent.
    pub min_bit_count: u32,
}

/// `mining.configure [[extension, …], {"extension.param": value, …}]` (BIP 310).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigureParams {
    pub extensions: Vec<String>,
    /// Present when `version-rolling` was asked for.
    pub version_rolling: Option<VersionRollingRequest>,
    /// Every parameter as sent, for extensions read elsewhere.
    pub parameters: Map<String, Value>,
}

/// `mining.submit [worker, job_id, extranonce2, ntime, nonce, version_bits?]`, as sent.
/// [`crate::share::bitcoin::check_submit`] decodes and checks it against the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitParams {
    pub worker: String,
    pub job_id: String,
    /// Hex, `extranonce2_size` bytes.
    pub extranonce2: String,
    /// 8 hex digits, big-endian.
    pub ntime: String,
    /// 8 hex digits, big-endian.
    pub nonce: String,
    /// BIP 310: 8 hex digits, the rolled version bits; only after version rolling was
    /// negotiated.
    pub version_bits: Option<String>,
}

/// A request from a miner.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientRequest {
    Subscribe(SubscribeParams),
    Authorize(AuthorizeParams),
    Configure(ConfigureParams),
    /// `mining.extranonce.subscribe`: the miner takes `mining.set_extranonce`.
    ExtranonceSubscribe,
    /// `mining.suggest_difficulty [difficulty]`: positive and finite.
    SuggestDifficulty(f64),
    Submit(SubmitParams),
}

impl ClientRequest {
    pub fn method(&self) -> &'static str {
        match self {
            ClientRequest::Subscribe(_) => "mining.subscribe",
            ClientRequest::Authorize(_) => "mining.authorize",
            ClientRequest::Configure(_) => "mining.configure",
            ClientRequest::ExtranonceSubscribe => "mining.extranonce.subscribe",
            ClientRequest::SuggestDifficulty(_) => "mining.suggest_difficulty",
            ClientRequest::Submit(_) => "mining.submit",
        }
    }
}

/// Why a miner's line is not a request we can act on. The `Display` text is the
/// message to send back (with [`ErrorCode::Other`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// Not a JSON object: there is no id to answer to.
    #[error("Malformed request: {reason}")]
    NotJson { reason: String },
    #[error("Malformed request: `method` is missing or not a string")]
    MissingMethod { id: Value },
    /// A method this dialect does not have (clipped to 64 bytes).
    #[error("Unknown method: {method}")]
    UnknownMethod { id: Value, method: String },
    /// A param of a known method is missing or has the wrong type; `index` counts from 0.
    #[error("Malformed request: {method} param {index} ({name}) {problem}")]
    BadParams {
        id: Value,
        method: &'static str,
        index: usize,
        name: &'static str,
        problem: &'static str,
    },
}

impl RequestError {
    /// The request id, when the line had one to answer to.
    pub fn id(&self) -> Option<&Value> {
        match self {
            RequestError::NotJson { .. } => None,
            RequestError::MissingMethod { id }
            | RequestError::UnknownMethod { id, .. }
            | RequestError::BadParams { id, .. } => Some(id),
        }
    }

    /// The error line to send back, when there is an id to send it to.
    pub fn response(&self) -> Option<Vec<u8>> {
        self.id()
            .map(|id| response_error(id, ErrorCode::Other, &self.to_string()))
    }
}

/// Parses one line from a miner (a trailing `\n` or `\r\n` may be included) into its
/// request id (any JSON; `null` when absent) and the request.
pub fn parse_request(line: &[u8]) -> Result<(Value, ClientRequest), RequestError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| RequestError::NotJson {
        reason: e.to_string(),
    })?;
    let Value::Object(mut object) = value else {
        return Err(RequestError::NotJson {
            reason: "not a JSON object".into(),
        });
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    let Some(Value::String(method)) = object.get("method") else {
        return Err(RequestError::MissingMethod { id });
    };
    let params = object.get("params");
    let parsed = match method.as_str() {
        "mining.subscribe" => Params::new("mining.subscribe", params).and_then(|p| {
            Ok(ClientRequest::Subscribe(SubscribeParams {
                user_agent: p.opt_string(0, "user agent")?,
                session_id: p.opt_string(1, "session id")?,
            }))
        }),
        "mining.authorize" => Params::new("mining.authorize", params).and_then(|p| {
            Ok(ClientRequest::Authorize(AuthorizeParams {
                username: p.string(0, "username")?,
                password: p.opt_string(1, "password")?.unwrap_or_default(),
            }))
        }),
        "mining.configure" => Params::new("mining.configure", params).and_then(configure_params),
        "mining.extranonce.subscribe" => Params::new("mining.extranonce.subscribe", params)
            .map(|_| ClientRequest::ExtranonceSubscribe),
        "mining.suggest_difficulty" => Params::new("mining.suggest_difficulty", params)
            .and_then(|p| Ok(ClientRequest::SuggestDifficulty(p.difficulty(0)?))),
        "mining.submit" => Params::new("mining.submit", params).and_then(|p| {
            Ok(ClientRequest::Submit(SubmitParams {
                worker: p.string(0, "worker")?,
                job_id: p.string(1, "job id")?,
                extranonce2: p.string(2, "extranonce2")?,
                ntime: p.string(3, "ntime")?,
                nonce: p.string(4, "nonce")?,
                version_bits: p.opt_string(5, "version bits")?,
            }))
        }),
        other => {
            return Err(RequestError::UnknownMethod {
                method: clip(other, 64).to_string(),
                id,
            })
        }
    };
    match parsed {
        Ok(request) => Ok((id, request)),
        Err(bad) => Err(RequestError::BadParams {
            id,
            method: bad.method,
            index: bad.index,
            name: bad.name,
            problem: bad.problem,
        }),
    }
}

fn configure_params(p: Params<'_>) -> Result<ClientRequest, BadParam> {
    let extensions = match p.get(0) {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| p.bad(0, "extensions", "must be a list of strings"))?,
        Some(_) => return Err(p.bad(0, "extensions", "must be a list of strings")),
    };
    let parameters = match p.get(1) {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(p.bad(1, "extension parameters", "must be an object")),
    };
    let version_rolling = if extensions.iter().any(|e| e == EXT_VERSION_ROLLING) {
        let mask = match parameters.get("version-rolling.mask") {
            None | Some(Value::Null) => u32::MAX,
            Some(Value::String(s)) => parse_mask(s)
                .ok_or_else(|| p.bad(1, "version-rolling.mask", "must be up to 8 hex digits"))?,
            Some(_) => return Err(p.bad(1, "version-rolling.mask", "must be up to 8 hex digits")),
        };
        let min_bit_count = match parameters.get("version-rolling.min-bit-count") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n <= 32)
                .ok_or_else(|| {
                    p.bad(
                        1,
                        "version-rolling.min-bit-count",
                        "must be a count of bits",
                    )
                })?,
        };
        Some(VersionRollingRequest {
            mask,
            min_bit_count,
        })
    } else {
        None
    };
    Ok(ClientRequest::Configure(ConfigureParams {
        extensions,
        version_rolling,
        parameters,
    }))
}

/// A mask as BIP 310 writes it: hex, big-endian, up to 8 digits.
fn parse_mask(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A param that is missing or of the wrong type.
struct BadParam {
    method: &'static str,
    index: usize,
    name: &'static str,
    problem: &'static str,
}

/// The positional params of one request. Absent params and `null` params count as
/// absent; absent `params` count as an empty list.
struct Params<'a> {
    method: &'static str,
    list: &'a [Value],
}

impl<'a> Params<'a> {
    fn new(method: &'static str, params: Option<&'a Value>) -> Result<Self, BadParam> {
        match params {
            None | Some(Value::Null) => Ok(Params { method, list: &[] }),
            Some(Value::Array(list)) => Ok(Params { method, list }),
            Some(_) => Err(BadParam {
                method,
                index: 0,
                name: "params",
                problem: "must be a list",
            }),
        }
    }

    fn bad(&self, index: usize, name: &'static str, problem: &'static str) -> BadParam {
        BadParam {
            method: self.method,
            index,
            name,
            problem,
        }
    }

    fn get(&self, index: usize) -> Option<&'a Value> {
        self.list.get(index).filter(|v| !v.is_null())
    }

    fn string(&self, index: usize, name: &'static str) -> Result<String, BadParam> {
        self.opt_string(index, name)?
            .ok_or_else(|| self.bad(index, name, "is missing"))
    }

    fn opt_string(&self, index: usize, name: &'static str) -> Result<Option<String>, BadParam> {
        match self.get(index) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(index, name, "must be a string")),
        }
    }

    /// A positive finite number, as a JSON number or a decimal string.
    fn difficulty(&self, index: usize) -> Result<f64, BadParam> {
        let name = "difficulty";
        let value = self
            .get(index)
            .ok_or_else(|| self.bad(index, name, "is missing"))?;
        value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|d: &f64| d.is_finite() && *d > 0.0)
            .ok_or_else(|| self.bad(index, name, "must be a positive number"))
    }
}

// ---------------------------------------------------------------------------------
// Version rolling (BIP 310)

/// What the pool answers to a version-rolling request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRolling {
    /// `pool_mask & miner_mask`: the bits this session may roll from now on.
    pub mask: u32,
    /// Whether the mask has the bits the miner said it needs. When not, BIP 310 says
    /// to keep the connection (the miner runs degraded); log it for the operator.
    pub min_bit_count_met: bool,
}

/// BIP 310 negotiation: the intersection of the pool's and the miner's masks.
pub fn negotiate_version_rolling(
    pool_mask: u32,
    request: &VersionRollingRequest,
) -> VersionRolling {
    let mask = pool_mask & request.mask;
    VersionRolling {
        mask,
        min_bit_count_met: mask.count_ones() >= request.min_bit_count,
    }
}

/// The pool's answer to `mining.configure`, and what it agreed to.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigureAnswer {
    /// The `result` object to send.
    pub result: Map<String, Value>,
    /// The negotiated version-rolling mask, when version rolling is now on.
    pub version_rolling: Option<VersionRolling>,
    /// Whether the miner asked for `mining.set_extranonce` (and the pool offers it).
    pub subscribe_extranonce: bool,
}

/// Answers every extension the miner asked for: `version-rolling` with the negotiated
/// mask when the pool offers version rolling (`pool_mask` is `Some`),
/// `subscribe-extranonce` when the pool can send `mining.set_extranonce`, and `false`
/// for the rest (BIP 310's answer to an unknown extension).
pub fn answer_configure(
    params: &ConfigureParams,
    pool_mask: Option<u32>,
    offers_set_extranonce: bool,
) -> ConfigureAnswer {
    let mut result = Map::new();
    let mut version_rolling = None;
    let mut subscribe_extranonce = false;
    for extension in &params.extensions {
        match (extension.as_str(), pool_mask, params.version_rolling) {
            (EXT_VERSION_ROLLING, Some(pool_mask), Some(request)) => {
                let negotiated = negotiate_version_rolling(pool_mask, &request);
                result.insert(extension.clone(), Value::Bool(true));
                result.insert(
                    "version-rolling.mask".into(),
                    Value::String(format!("{:08x}", negotiated.mask)),
                );
                version_rolling = Some(negotiated);
            }
            (EXT_SUBSCRIBE_EXTRANONCE, _, _) if offers_set_extranonce => {
                result.insert(extension.clone(), Value::Bool(true));
                subscribe_extranonce = true;
            }
            _ => {
                result.insert(extension.clone(), Value::Bool(false));
            }
        }
    }
    ConfigureAnswer {
        result,
        version_rolling,
        subscribe_extranonce,
    }
}

// ---------------------------------------------------------------------------------
// Pool → miner

/// `mining.notify` params: a job, every field as the miner reads it.
///
/// Built from a job by [`crate::job::bitcoin::StratumWork::notify`]; read back (proxy
/// mode, tests) by [`crate::job::bitcoin::StratumWork::from_notify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    pub job_id: String,
    /// Previous block hash, internal order with each 4-byte word reversed, hex.
    pub prevhash: String,
    /// Coinbase before the extranonce, hex.
    pub coinb1: String,
    /// Coinbase after the extranonce, hex.
    pub coinb2: String,
    /// Merkle branch, internal-order hashes, hex.
    pub merkle_branch: Vec<String>,
    /// Block version, 8 hex digits big-endian.
    pub version: String,
    /// Compact network target, 8 hex digits big-endian.
    pub nbits: String,
    /// Block time, 8 hex digits big-endian.
    pub ntime: String,
    /// Whether the miner must drop earlier jobs (a new block; shares on older jobs are
    /// stale).
    pub clean_jobs: bool,
}

impl Serialize for Notify {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(9))?;
        seq.serialize_element(&self.job_id)?;
        seq.serialize_element(&self.prevhash)?;
        seq.serialize_element(&self.coinb1)?;
        seq.serialize_element(&self.coinb2)?;
        seq.serialize_element(&self.merkle_branch)?;
        seq.serialize_element(&self.version)?;
        seq.serialize_element(&self.nbits)?;
        seq.serialize_element(&self.ntime)?;
        seq.serialize_element(&self.clean_jobs)?;
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Notify {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        type Params = (
            String,
            String,
            String,
            String,
            Vec<String>,
            String,
            String,
            String,
            bool,
        );
        let (job_id, prevhash, coinb1, coinb2, merkle_branch, version, nbits, ntime, clean_jobs) =
            Params::deserialize(deserializer)?;
        Ok(Notify {
            job_id,
            prevhash,
            coinb1,
            coinb2,
            merkle_branch,
            version,
            nbits,
            ntime,
            clean_jobs,
        })
    }
}

/// The `mining.subscribe` result: subscriptions (`mining.set_difficulty` and
/// `mining.notify`, both with `subscription_id`), the session's extranonce1 as hex, and
/// the extranonce2 size in bytes.
pub fn subscribe_result(
    subscription_id: &str,
    extranonce1: &[u8],
    extranonce2_size: usize,
) -> Value {
    Value::Array(vec![
        Value::Array(vec![
            Value::Array(vec!["mining.set_difficulty".into(), subscription_id.into()]),
            Value::Array(vec!["mining.notify".into(), subscription_id.into()]),
        ]),
        Value::String(hex::encode(extranonce1)),
        Value::from(extranonce2_size),
    ])
}

/// `{"id":…,"result":…,"error":null}` and a newline.
pub fn response_ok(id: &Value, result: impl Serialize) -> Vec<u8> {
    #[derive(Serialize)]
    struct Reply<'a, R> {
        id: &'a Value,
        result: R,
        error: (),
    }
    encode(&Reply {
        id,
        result,
        error: (),
    })
    .unwrap_or_else(|_| response_error(id, ErrorCode::Other, "Internal error"))
}

/// `{"id":…,"result":null,"error":[code,"message",null]}` and a newline.
pub fn response_error(id: &Value, code: ErrorCode, message: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Reply<'a> {
        id: &'a Value,
        result: (),
        error: (i64, &'a str, ()),
    }
    encode(&Reply {
        id,
        result: (),
        error: (code.code(), message, ()),
    })
    // A `Value`, an integer and a string always serialize.
    .unwrap_or_default()
}

/// `{"id":null,"method":…,"params":…}` and a newline.
fn notification(method: &str, params: impl Serialize) -> Vec<u8> {
    #[derive(Serialize)]
    struct Notification<'a, P> {
        id: (),
        method: &'a str,
        params: P,
    }
    encode(&Notification {
        id: (),
        method,
        params,
    })
    // Strings, numbers and lists of them always serialize.
    .unwrap_or_default()
}

/// `mining.notify`.
pub fn notify(params: &Notify) -> Vec<u8> {
    notification("mining.notify", params)
}

/// `mining.set_difficulty [difficulty]`. Whole numbers are written without a fraction
/// (`1`, not `1.0`) for miners that parse an integer; fractions as the shortest
/// decimal that reads back as the same `f64` (`0.05`).
pub fn set_difficulty(difficulty: f64) -> Vec<u8> {
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0; // 2^53
    let value = if difficulty.fract() == 0.0 && difficulty.abs() < EXACT_INTEGERS {
        Value::from(difficulty as i64)
    } else {
        Value::from(difficulty)
    };
    notification("mining.set_difficulty", [value])
}

/// `mining.set_extranonce [extranonce1, extranonce2_size]`: new extranonce for the next
/// jobs (only to miners that subscribed to it).
pub fn set_extranonce(extranonce1: &[u8], extranonce2_size: usize) -> Vec<u8> {
    notification(
        "mining.set_extranonce",
        (hex::encode(extranonce1), extranonce2_size),
    )
}

/// BIP 310 `mining.set_version_mask [mask]`: valid immediately.
pub fn set_version_mask(mask: u32) -> Vec<u8> {
    notification("mining.set_version_mask", [format!("{mask:08x}")])
}

fn encode(message: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = Vec::with_capacity(256);
    serde_json::to_writer(&mut line, message)?;
    line.push(b'\n');
    Ok(line)
}

/// At most `max` bytes of `s`, cut on a char boundary.
fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::bitcoin::fixtures::{
        CPUMINER_SCRYPT_SESSION, CPUMINER_SHA256D_SESSION, SRI_SV1_SESSION,
    };
    use proptest::prelude::*;
    use serde_json::json;

    /// The `msg` of every `dir` = `dir` line of a captured session, as a line on the wire.
    fn messages(jsonl: &str, dir: &str) -> Vec<(Vec<u8>, Value)> {
        jsonl
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["dir"] == dir)
            .map(|l| {
                let mut wire = serde_json::to_vec(&l["msg"]).unwrap();
                wire.push(b'\n');
                (wire, l["msg"].clone())
            })
            .collect()
    }

    fn parsed(line: &[u8]) -> (Value, ClientRequest) {
        parse_request(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)))
    }

    fn methods(jsonl: &str) -> Vec<&'static str> {
        messages(jsonl, "recv")
            .iter()
            .map(|(wire, msg)| {
                let (id, request) = parsed(wire);
                assert_eq!(id, msg["id"]);
                assert_eq!(request.method(), msg["method"]);
                request.method()
            })
            .collect()
    }

    #[test]
    fn every_line_the_miners_sent_parses() {
        let mut cpuminer = vec!["mining.subscribe", "mining.authorize"];
        cpuminer.extend(["mining.submit"; 4]);
        assert_eq!(methods(CPUMINER_SCRYPT_SESSION), cpuminer);
        cpuminer.truncate(2);
        cpuminer.extend(["mining.submit"; 3]);
        assert_eq!(methods(CPUMINER_SHA256D_SESSION), cpuminer);
        let mut sri = vec!["mining.configure", "mining.subscribe", "mining.authorize"];
        sri.extend(["mining.submit"; 3]);
        assert_eq!(methods(SRI_SV1_SESSION), sri);
    }

    #[test]
    fn captured_requests_have_their_fields() {
        let recv = messages(CPUMINER_SCRYPT_SESSION, "recv");
        assert_eq!(
            parsed(&recv[0].0).1,
            ClientRequest::Subscribe(SubscribeParams {
                user_agent: Some("cpuminer/2.5.1".into()),
                session_id: None,
            })
        );
        assert_eq!(
            parsed(&recv[1].0).1,
            ClientRequest::Authorize(AuthorizeParams {
                username: "labworker.1".into(),
                password: "x".into(),
            })
        );
        // cpuminer's submit: no version bits, and id 4 on every one.
        let (id, submit) = parsed(&recv[2].0);
        assert_eq!(id, json!(4));
        assert_eq!(
            submit,
            ClientRequest::Submit(SubmitParams {
                worker: "labworker.1".into(),
                job_id: "1".into(),
                extranonce2: "00000000".into(),
                ntime: "6b06ee47".into(),
                nonce: "430b0000".into(),
                version_bits: None,
            })
        );
        // The SRI miner: configure with nothing asked, then submits with id 0.
        let recv = messages(SRI_SV1_SESSION, "recv");
        let (id, configure) = parsed(&recv[0].0);
        assert_eq!(id, json!(1795616836));
        let ClientRequest::Configure(configure) = configure else {
            panic!("not a configure")
        };
        assert!(configure.extensions.is_empty());
        assert_eq!(configure.version_rolling, None);
        let answer = answer_configure(&configure, Some(POOL_VERSION_MASK), true);
        // The stub answered `{}` and the miner went on.
        assert_eq!(Value::Object(answer.result), json!({}));
        assert_eq!(parsed(&recv[3].0).0, json!(0));
    }

    #[test]
    fn our_replies_match_what_the_miners_accepted() {
        for session in [
            CPUMINER_SCRYPT_SESSION,
            CPUMINER_SHA256D_SESSION,
            SRI_SV1_SESSION,
        ] {
            for (wire, msg) in messages(session, "send") {
                let ours = match msg["method"].as_str() {
                    Some("mining.notify") => {
                        let n: Notify = serde_json::from_value(msg["params"].clone()).unwrap();
                        notify(&n)
                    }
                    Some("mining.set_difficulty") => {
                        set_difficulty(msg["params"][0].as_f64().unwrap())
                    }
                    Some(other) => panic!("unexpected {other}"),
                    None if msg["result"].is_array() => {
                        let r = &msg["result"];
                        let en1 = hex::decode(r[1].as_str().unwrap()).unwrap();
                        let result = subscribe_result(
                            r[0][0][1].as_str().unwrap(),
                            &en1,
                            r[2].as_u64().unwrap() as usize,
                        );
                        response_ok(&msg["id"], result)
                    }
                    None => response_ok(&msg["id"], &msg["result"]),
                };
                let stub: Value = serde_json::from_slice(&wire).unwrap();
                assert_eq!(serde_json::from_slice::<Value>(&ours).unwrap(), stub);
            }
            // Same members in the same order too: the stub's lines as recorded, less
            // the spaces it put after separators.
            let sent: Vec<String> = session
                .lines()
                .filter(|l| l.contains(r#""dir": "send""#))
                .map(|l| {
                    let msg = &l[l.find(r#""msg": "#).unwrap() + 7..l.len() - 1];
                    msg.replace(", ", ",").replace(": ", ":") + "\n"
                })
                .collect();
            let ours: Vec<String> = messages(session, "send")
                .into_iter()
                .map(|(_, msg)| String::from_utf8(reply_like(&msg)).unwrap())
                .collect();
            assert_eq!(ours, sent);
        }
    }

    /// Our line for a message the stub sent.
    fn reply_like(msg: &Value) -> Vec<u8> {
        match msg["method"].as_str() {
            Some("mining.notify") => {
                notify(&serde_json::from_value(msg["params"].clone()).unwrap())
            }
            Some(_) => set_difficulty(msg["params"][0].as_f64().unwrap()),
            None if msg["result"].is_array() => {
                let r = &msg["result"];
                let en1 = hex::decode(r[1].as_str().unwrap()).unwrap();
                let result = subscribe_result(
                    r[0][0][1].as_str().unwrap(),
                    &en1,
                    r[2].as_u64().unwrap() as usize,
                );
                response_ok(&msg["id"], result)
            }
            None => response_ok(&msg["id"], &msg["result"]),
        }
    }

    /// The per-message captures (`cpuminer_*_messages.json`): each request parses, each
    /// reply is what we would send, and the notify plus the submit give the header the
    /// stub checked.
    #[test]
    fn captured_cpuminer_messages() {
        for text in [
            include_str!("../../tests/fixtures/cpuminer_scrypt_messages.json"),
            include_str!("../../tests/fixtures/cpuminer_sha256d_messages.json"),
        ] {
            let m: Value = serde_json::from_str(text).unwrap();
            for key in ["recv_mining.subscribe", "recv_mining.authorize"] {
                let (id, request) = parsed(&serde_json::to_vec(&m[key]).unwrap());
                assert_eq!(id, m[key]["id"]);
                assert_eq!(request.method(), m[key]["method"]);
            }
            for key in [
                "send_subscribe_response",
                "send_mining.set_difficulty",
                "send_mining.notify",
            ] {
                let ours: Value = serde_json::from_slice(&reply_like(&m[key])).unwrap();
                assert_eq!(ours, m[key], "{key}");
            }
            let (_, submit) = parsed(&serde_json::to_vec(&m["recv_mining.submit"]).unwrap());
            let ClientRequest::Submit(submit) = submit else {
                panic!("not a submit")
            };
            let notify: Notify =
                serde_json::from_value(m["send_mining.notify"]["params"].clone()).unwrap();
            let work = crate::job::bitcoin::StratumWork::from_notify(&notify).unwrap();
            let en1 =
                hex::decode(m["send_subscribe_response"]["result"][1].as_str().unwrap()).unwrap();
            let u32_of = |s: &str| u32::from_str_radix(s, 16).unwrap();
            let header = work.header(
                &en1,
                &hex::decode(&submit.extranonce2).unwrap(),
                work.version,
                u32_of(&submit.ntime),
                u32_of(&submit.nonce),
            );
            assert_eq!(
                hex::encode(header.to_bytes()),
                m["pool_check_of_first_submit"]["header"]
            );
        }
    }

    #[test]
    fn notification_and_error_shapes() {
        assert_eq!(
            response_error(
                &json!(4),
                ErrorCode::LowDifficultyShare,
                "Low difficulty share"
            ),
            b"{\"id\":4,\"result\":null,\"error\":[23,\"Low difficulty share\",null]}\n"
        );
        assert_eq!(
            set_difficulty(1.0),
            b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1]}\n"
        );
        assert_eq!(
            set_difficulty(0.001),
            b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.001]}\n"
        );
        assert_eq!(
            set_difficulty(1e20),
            b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1e+20]}\n"
        );
        assert_eq!(
            set_version_mask(0x3000),
            b"{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"00003000\"]}\n"
        );
        assert_eq!(
            set_extranonce(&[0xf0, 0, 0, 0x0f], 4),
            b"{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"f000000f\",4]}\n"
        );
        let codes: Vec<(i64, &str)> = [
            ErrorCode::Other,
            ErrorCode::JobNotFound,
            ErrorCode::DuplicateShare,
            ErrorCode::LowDifficultyShare,
            ErrorCode::UnauthorizedWorker,
            ErrorCode::NotSubscribed,
        ]
        .iter()
        .map(|c| (c.code(), c.message()))
        .collect();
        assert_eq!(
            codes,
            [
                (20, "Other/Unknown"),
                (21, "Job not found"),
                (22, "Duplicate share"),
                (23, "Low difficulty share"),
                (24, "Unauthorized worker"),
                (25, "Not subscribed"),
            ]
        );
    }

    fn configure(line: &str) -> ConfigureParams {
        match parsed(line.as_bytes()).1 {
            ClientRequest::Configure(c) => c,
            other => panic!("not a configure: {other:?}"),
        }
    }

    #[test]
    fn version_rolling_follows_bip_310() {
        // BIP 310's example request: a 16-bit mask, 2 bits needed.
        let c = configure(
            r#"{"method": "mining.configure", "id": 1, "params": [["minimum-difficulty", "version-rolling"], {"minimum-difficulty.value": 2048, "version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}"#,
        );
        assert_eq!(
            c.version_rolling,
            Some(VersionRollingRequest {
                mask: 0x1fff_e000,
                min_bit_count: 2
            })
        );
        let answer = answer_configure(&c, Some(POOL_VERSION_MASK), false);
        assert_eq!(
            Value::Object(answer.result),
            json!({"minimum-difficulty": false, "version-rolling": true, "version-rolling.mask": "1fffe000"})
        );
        assert_eq!(
            answer.version_rolling,
            Some(VersionRolling {
                mask: 0x1fff_e000,
                min_bit_count_met: true
            })
        );

        // The pool answers with the intersection of both masks.
        let c = configure(
            r#"{"id":2,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"18000000"}]}"#,
        );
        let answer = answer_configure(&c, Some(POOL_VERSION_MASK), false);
        assert_eq!(answer.result["version-rolling.mask"], "18000000");
        // No mask sent: BIP 310's default is every bit, so the pool's mask.
        let c =
            configure(r#"{"id":3,"method":"mining.configure","params":[["version-rolling"],{}]}"#);
        assert_eq!(c.version_rolling.map(|v| v.mask), Some(u32::MAX));
        let answer = answer_configure(&c, Some(POOL_VERSION_MASK), false);
        assert_eq!(answer.result["version-rolling.mask"], "1fffe000");
        // Too few bits for the miner: still answered (BIP 310: keep the miner), flagged.
        let c = configure(
            r#"{"id":4,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"00006000","version-rolling.min-bit-count":16}]}"#,
        );
        let answer = answer_configure(&c, Some(POOL_VERSION_MASK), false);
        assert_eq!(
            answer.version_rolling,
            Some(VersionRolling {
                mask: 0x6000,
                min_bit_count_met: false
            })
        );
        // A pool without version rolling says no.
        let answer = answer_configure(&c, None, false);
        assert_eq!(
            Value::Object(answer.result),
            json!({"version-rolling": false})
        );
        assert_eq!(answer.version_rolling, None);
    }

    #[test]
    fn subscribe_extranonce_is_answered_when_offered() {
        let c = configure(
            r#"{"id":1,"method":"mining.configure","params":[["subscribe-extranonce","info"],{"info.hw-version":"x"}]}"#,
        );
        let yes = answer_configure(&c, Some(POOL_VERSION_MASK), true);
        assert_eq!(
            Value::Object(yes.result),
            json!({"subscribe-extranonce": true, "info": false})
        );
        assert!(yes.subscribe_extranonce);
        let no = answer_configure(&c, Some(POOL_VERSION_MASK), false);
        assert!(!no.subscribe_extranonce);
        assert_eq!(no.result["subscribe-extranonce"], false);
    }

    #[test]
    fn other_requests() {
        assert_eq!(
            parsed(br#"{"id":3,"method":"mining.extranonce.subscribe","params":[]}"#).1,
            ClientRequest::ExtranonceSubscribe
        );
        assert_eq!(
            parsed(br#"{"id":3,"method":"mining.extranonce.subscribe"}"#).1,
            ClientRequest::ExtranonceSubscribe
        );
        assert_eq!(
            parsed(br#"{"id":5,"method":"mining.suggest_difficulty","params":[512]}"#).1,
            ClientRequest::SuggestDifficulty(512.0)
        );
        assert_eq!(
            parsed(br#"{"id":5,"method":"mining.suggest_difficulty","params":["0.5"]}"#).1,
            ClientRequest::SuggestDifficulty(0.5)
        );
        // Version bits from a version-rolling miner; a null password.
        let (_, submit) = parsed(
            br#"{"id":9,"method":"mining.submit","params":["w","1a","0000000000000001","6b06ee47","430b0000","00004000"]}"#,
        );
        let ClientRequest::Submit(submit) = submit else {
            panic!()
        };
        assert_eq!(submit.version_bits.as_deref(), Some("00004000"));
        assert_eq!(
            parsed(br#"{"id":2,"method":"mining.authorize","params":["addr.w",null]}"#).1,
            ClientRequest::Authorize(AuthorizeParams {
                username: "addr.w".into(),
                password: String::new()
            })
        );
        // Subscribe with nothing, and with a session to resume plus host and port.
        assert_eq!(
            parsed(br#"{"id":1,"method":"mining.subscribe","params":[]}"#).1,
            ClientRequest::Subscribe(SubscribeParams::default())
        );
        assert_eq!(
            parsed(br#"{"id":1,"method":"mining.subscribe","params":["bmminer/2.0.0","f000000f","pool.example",3333]}"#).1,
            ClientRequest::Subscribe(SubscribeParams {
                user_agent: Some("bmminer/2.0.0".into()),
                session_id: Some("f000000f".into()),
            })
        );
    }

    fn bad_params(line: &str) -> (usize, &'static str, &'static str) {
        match parse_request(line.as_bytes()) {
            Err(RequestError::BadParams {
                index,
                name,
                problem,
                ..
            }) => (index, name, problem),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn bad_params_name_the_param() {
        assert_eq!(
            bad_params(
                r#"{"id":4,"method":"mining.submit","params":["w","1","00000000","6b06ee47"]}"#
            ),
            (4, "nonce", "is missing")
        );
        assert_eq!(
            bad_params(
                r#"{"id":4,"method":"mining.submit","params":["w",1,"00000000","6b06ee47","0"]}"#
            ),
            (1, "job id", "must be a string")
        );
        assert_eq!(
            bad_params(r#"{"id":4,"method":"mining.submit","params":{"worker":"w"}}"#),
            (0, "params", "must be a list")
        );
        assert_eq!(
            bad_params(r#"{"id":2,"method":"mining.authorize","params":[]}"#),
            (0, "username", "is missing")
        );
        for bad in ["-1", "0", "\"abc\"", "[]", "1e999"] {
            let line =
                format!(r#"{{"id":5,"method":"mining.suggest_difficulty","params":[{bad}]}}"#);
            if let Ok((_, r)) = parse_request(line.as_bytes()) {
                panic!("{bad} accepted as {r:?}");
            }
        }
        assert_eq!(
            bad_params(r#"{"id":1,"method":"mining.configure","params":["version-rolling",{}]}"#),
            (0, "extensions", "must be a list of strings")
        );
        assert_eq!(
            bad_params(
                r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"xyz"}]}"#
            ),
            (1, "version-rolling.mask", "must be up to 8 hex digits")
        );
        assert_eq!(
            bad_params(
                r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe0000"}]}"#
            ),
            (1, "version-rolling.mask", "must be up to 8 hex digits")
        );
        assert_eq!(
            bad_params(
                r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.min-bit-count":-2}]}"#
            ),
            (
                1,
                "version-rolling.min-bit-count",
                "must be a count of bits"
            )
        );
        // The error line answers the request's id with code 20 and names the param.
        let err =
            parse_request(br#"{"id":"a","method":"mining.authorize","params":[7]}"#).unwrap_err();
        assert_eq!(
            String::from_utf8(err.response().unwrap()).unwrap(),
            "{\"id\":\"a\",\"result\":null,\"error\":[20,\"Malformed request: mining.authorize param 0 (username) must be a string\",null]}\n"
        );
    }

    #[test]
    fn garbage_unknown_and_missing_methods() {
        let err = parse_request(b"not json\n").unwrap_err();
        assert!(matches!(err, RequestError::NotJson { .. }));
        assert_eq!(err.response(), None);
        assert!(matches!(
            parse_request(b"[1,2]"),
            Err(RequestError::NotJson { .. })
        ));
        assert_eq!(
            parse_request(br#"{"id":7,"params":[]}"#),
            Err(RequestError::MissingMethod { id: json!(7) })
        );
        let long = "m".repeat(100);
        let err = parse_request(format!(r#"{{"id":8,"method":"{long}"}}"#).as_bytes()).unwrap_err();
        assert_eq!(
            err,
            RequestError::UnknownMethod {
                id: json!(8),
                method: "m".repeat(64)
            }
        );
        // The CryptoNote dialect's login is not a method of this one.
        assert!(matches!(
            parse_request(br#"{"id":1,"method":"login","params":{}}"#),
            Err(RequestError::UnknownMethod { .. })
        ));
        // No id: answered with a null id.
        let (id, _) = parsed(br#"{"method":"mining.extranonce.subscribe"}"#);
        assert_eq!(id, Value::Null);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Quarters print and parse back exactly, unlike arbitrary floats.
            (-4000i32..4000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
            "[0-9a-f]{0,10}".prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..7).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("version-rolling.mask".to_string()),
                        Just("version-rolling.min-bit-count".to_string()),
                        "[a-z.-]{0,8}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_request(&line);
        }

        #[test]
        fn random_params_never_panic(
            method in prop_oneof![
                Just("mining.subscribe"), Just("mining.authorize"), Just("mining.configure"),
                Just("mining.extranonce.subscribe"), Just("mining.suggest_difficulty"),
                Just("mining.submit"), Just("mining.other"),
            ],
            id in arb_json(),
            params in arb_json(),
        ) {
            let line = serde_json::to_vec(&json!({"id": id, "method": method, "params": params})).unwrap();
            match parse_request(&line) {
                Ok((got_id, _)) => prop_assert_eq!(got_id, id),
                Err(e) => {
                    let response = e.response().unwrap();
                    let reply: Value = serde_json::from_slice(&response).unwrap();
                    prop_assert_eq!(&reply["id"], &id);
                    prop_assert_eq!(&reply["error"][0], &json!(20));
                }
            }
        }
    }
}
