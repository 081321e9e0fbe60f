//! The xmrig / CryptoNote dialect of Stratum V1 as typed messages.
//!
//! Newline-delimited JSON-RPC over TCP. The miner sends `login`, `getjob`, `submit`
//! and `keepalived`; the pool answers each by its `id` and pushes `job`
//! notifications. Shapes follow what xmrig 6.26 sent and accepted (the captured
//! samples); error codes and messages follow what reference pools send (xmrig-proxy,
//! nodejs-pool, monero-pool): every one uses code `-1`, and miners act on the message.
//!
//! Parsing names the offending field so a miner (and an operator reading the log) sees
//! what was wrong. Requests are parsed from a [`Value`] by hand rather than derived,
//! because serde's derived errors do not say which field had the wrong type. The
//! request types still serialize, so a proxy-mode upstream client can send them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The JSON-RPC error code of every CryptoNote pool error.
pub const ERROR_CODE: i64 = -1;

/// No login yet, or a session id that is not this session's. xmrig treats it as
/// critical: it closes the connection and logs in again.
pub const UNAUTHENTICATED: &str = "Unauthenticated";
/// A job id this session was never given (or forgot long ago). Critical for xmrig,
/// which reconnects: its job state is out of step with ours. A job the session still
/// remembers but whose block is gone is [`BLOCK_EXPIRED`] instead.
pub const INVALID_JOB_ID: &str = "Invalid job id";
/// A share on a job whose block the chain has moved past (after the grace window).
pub const BLOCK_EXPIRED: &str = "Block expired";
/// The same nonce for the same job again.
pub const DUPLICATE_SHARE: &str = "Duplicate share";
/// The hash does not meet the session's share target.
pub const LOW_DIFFICULTY_SHARE: &str = "Low difficulty share";
/// The nonce is not 8 hex digits (or is outside the session's nonce range).
pub const INVALID_NONCE: &str = "Invalid nonce";
/// The result is not 64 hex digits.
pub const INVALID_RESULT: &str = "Invalid result";
/// The recomputed hash differs from the submitted result.
pub const INVALID_SHARE: &str = "Invalid share";
/// Not JSON-RPC, or params missing or of the wrong type.
pub const MALFORMED_REQUEST: &str = "Malformed request";
/// A method this dialect does not have.
pub const INVALID_METHOD: &str = "Invalid method";
/// A login whose address is not valid for the port's coin.
pub const INVALID_ADDRESS: &str = "Invalid address";
/// The pool failed to build its own reply.
pub const INTERNAL_ERROR: &str = "Internal error";

/// Error-message prefixes on which xmrig closes the connection and reconnects after
/// its retry pause (`Client::isCriticalError`, compared case-insensitively over each
/// prefix's length). A share rejection the miner should just log must start with none
/// of them. Any error answer to the login also closes xmrig's connection.
pub const XMRIG_CRITICAL_PREFIXES: [&str; 4] = [
    UNAUTHENTICATED,
    "your IP is banned",
    "IP Address currently banned",
    INVALID_JOB_ID,
];

/// Whether xmrig drops the connection on an error with this message.
pub fn is_critical_for_xmrig(message: &str) -> bool {
    XMRIG_CRITICAL_PREFIXES.iter().any(|p| {
        message
            .as_bytes()
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
    })
}

/// Login-result extension: jobs carry `algo`, so the miner switches algorithm with them.
pub const EXT_ALGO: &str = "algo";
/// Login-result extension: the pool owns the nonce's top byte (nonce splitting); the
/// miner keeps it as the job's blob has it.
pub const EXT_NICEHASH: &str = "nicehash";
/// Login-result extension: the pool answers `keepalived`, so the miner sends it when idle.
pub const EXT_KEEPALIVE: &str = "keepalive";

const JSONRPC: &str = "2.0";

// ---------------------------------------------------------------------------------
// Miner → pool

/// `login` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoginParams {
    /// Address plus whatever the user typed after it (see [`super::identity`]).
    pub login: String,
    /// `x` when the user gave none.
    pub pass: String,
    /// Miner software, e.g. `XMRig/6.26.0 (Linux x86_64) …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// xmrig's rig id (`--rig-id`), absent unless configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rigid: Option<String>,
    /// Algorithms the miner can mine, preferred first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub algo: Vec<String>,
    /// Hashrate per algorithm, from miners that benchmark (profit switching uses it).
    #[serde(rename = "algo-perf", skip_serializing_if = "Option::is_none")]
    pub algo_perf: Option<BTreeMap<String, f64>>,
}

/// `submit` params as sent; [`SubmitParams::validate`] decodes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubmitParams {
    /// The session id from the login result.
    pub id: String,
    pub job_id: String,
    /// 8 hex digits: the 4 nonce bytes in blob order.
    pub nonce: String,
    /// 64 hex digits: the hash the miner computed.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algo: Option<String>,
}

/// A request from a miner.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientRequest {
    Login(LoginParams),
    /// Asks for the current job; `id` is the session id.
    GetJob {
        id: String,
    },
    Submit(SubmitParams),
    /// Keeps an idle connection open; `id` is the session id when the miner sends it.
    Keepalived {
        id: Option<String>,
    },
}

impl ClientRequest {
    pub fn method(&self) -> &'static str {
        match self {
            ClientRequest::Login(_) => "login",
            ClientRequest::GetJob { .. } => "getjob",
            ClientRequest::Submit(_) => "submit",
            ClientRequest::Keepalived { .. } => "keepalived",
        }
    }

    /// The request as a line to send, as xmrig would (`jsonrpc` included).
    pub fn to_line(&self, id: &Value) -> Vec<u8> {
        #[derive(Serialize)]
        struct IdParams<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Request<'a, P> {
            id: &'a Value,
            jsonrpc: &'static str,
            method: &'static str,
            params: P,
        }
        let method = self.method();
        let encoded = match self {
            ClientRequest::Login(p) => encode(&Request {
                id,
                jsonrpc: JSONRPC,
                method,
                params: p,
            }),
            ClientRequest::Submit(p) => encode(&Request {
                id,
                jsonrpc: JSONRPC,
                method,
                params: p,
            }),
            ClientRequest::GetJob { id: session } => encode(&Request {
                id,
                jsonrpc: JSONRPC,
                method,
                params: IdParams { id: Some(session) },
            }),
            ClientRequest::Keepalived { id: session } => encode(&Request {
                id,
                jsonrpc: JSONRPC,
                method,
                params: IdParams {
                    id: session.as_deref(),
                },
            }),
        };
        // Strings, a `Value` and finite floats always serialize; a NaN in `algo_perf`
        // becomes `null` in serde_json rather than an error.
        encoded.unwrap_or_default()
    }
}

/// Why a miner's line is not a request we can act on. The `Display` text is the
/// message to send back; it never starts with a prefix xmrig treats as critical.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// Not a JSON object: there is no id to answer to. Close the connection, or answer
    /// with a `null` id.
    #[error("Malformed request: {reason}")]
    NotJson { reason: String },
    /// `method` is absent or not a string.
    #[error("Malformed request: `method` is missing or not a string")]
    MissingMethod { id: Value },
    /// A method this dialect does not have (clipped to 64 bytes).
    #[error("Invalid method: {method}")]
    UnknownMethod { id: Value, method: String },
    /// The params of a known method are missing a field or have one of the wrong type.
    #[error("Malformed request: {method} `{field}` {problem}")]
    BadParams {
        id: Value,
        method: &'static str,
        field: &'static str,
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
            .map(|id| response_error(id, ERROR_CODE, &self.to_string()))
    }
}

/// Parses one line from a miner (the trailing `\n` or `\r\n` may be included) into its
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
        "login" => Params::required("login", params).and_then(login_params),
        "getjob" => Params::required("getjob", params).and_then(|p| {
            Ok(ClientRequest::GetJob {
                id: p.string("id")?,
            })
        }),
        "submit" => Params::required("submit", params).and_then(submit_params),
        // nodejs-pool accepts both spellings; xmrig sends `keepalived`.
        "keepalived" | "keepalive" => Params::optional("keepalived", params).and_then(|p| {
            Ok(ClientRequest::Keepalived {
                id: p.opt_string("id")?,
            })
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
            field: bad.field,
            problem: bad.problem,
        }),
    }
}

fn login_params(p: Params<'_>) -> Result<ClientRequest, BadParam> {
    Ok(ClientRequest::Login(LoginParams {
        login: p.string("login")?,
        pass: p.opt_string("pass")?.unwrap_or_else(|| "x".into()),
        agent: p.opt_string("agent")?,
        rigid: p.opt_string("rigid")?,
        algo: p.string_list("algo")?,
        algo_perf: p.number_map("algo-perf")?,
    }))
}

fn submit_params(p: Params<'_>) -> Result<ClientRequest, BadParam> {
    Ok(ClientRequest::Submit(SubmitParams {
        id: p.string("id")?,
        job_id: p.string("job_id")?,
        nonce: p.string("nonce")?,
        result: p.string("result")?,
        algo: p.opt_string("algo")?,
    }))
}

/// A params field that is missing or of the wrong type.
struct BadParam {
    method: &'static str,
    field: &'static str,
    problem: &'static str,
}

/// The params object of one request, read field by field. A `null` field counts as
/// absent.
struct Params<'a> {
    method: &'static str,
    fields: Option<&'a Map<String, Value>>,
}

impl<'a> Params<'a> {
    fn required(method: &'static str, params: Option<&'a Value>) -> Result<Self, BadParam> {
        match params {
            Some(Value::Object(fields)) => Ok(Params {
                method,
                fields: Some(fields),
            }),
            _ => Err(BadParam {
                method,
                field: "params",
                problem: "must be an object",
            }),
        }
    }

    fn optional(method: &'static str, params: Option<&'a Value>) -> Result<Self, BadParam> {
        match params {
            None | Some(Value::Null) => Ok(Params {
                method,
                fields: None,
            }),
            other => Self::required(method, other),
        }
    }

    fn bad(&self, field: &'static str, problem: &'static str) -> BadParam {
        BadParam {
            method: self.method,
            field,
            problem,
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.fields
            .and_then(|f| f.get(field))
            .filter(|v| !v.is_null())
    }

    fn string(&self, field: &'static str) -> Result<String, BadParam> {
        self.opt_string(field)?
            .ok_or_else(|| self.bad(field, "is missing"))
    }

    fn opt_string(&self, field: &'static str) -> Result<Option<String>, BadParam> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(field, "must be a string")),
        }
    }

    fn string_list(&self, field: &'static str) -> Result<Vec<String>, BadParam> {
        let Some(value) = self.get(field) else {
            return Ok(Vec::new());
        };
        let problem = "must be a list of strings";
        let list = value.as_array().ok_or_else(|| self.bad(field, problem))?;
        list.iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.bad(field, problem))
            })
            .collect()
    }

    fn number_map(&self, field: &'static str) -> Result<Option<BTreeMap<String, f64>>, BadParam> {
        let Some(value) = self.get(field) else {
            return Ok(None);
        };
        let problem = "must be an object of numbers";
        let map = value.as_object().ok_or_else(|| self.bad(field, problem))?;
        map.iter()
            .map(|(k, v)| {
                v.as_f64()
                    .map(|n| (k.clone(), n))
                    .ok_or_else(|| self.bad(field, problem))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// A submit whose nonce and result are well formed, decoded. Borrows the strings of
/// its [`SubmitParams`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidSubmit<'a> {
    pub session_id: &'a str,
    pub job_id: &'a str,
    /// The 4 nonce bytes as they go into the blob at the nonce offset (39 for Monero).
    pub nonce: [u8; 4],
    /// The hash as the miner computed it, in its byte order (a little-endian number).
    pub result: [u8; 32],
    pub algo: Option<&'a str>,
}

/// Why a submit's nonce or result cannot be decoded. The `Display` text starts with
/// [`INVALID_NONCE`] or [`INVALID_RESULT`] and is the message to send back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("Invalid nonce: expected 8 hex digits, got {0} characters")]
    NonceLength(usize),
    #[error("Invalid nonce: not hex")]
    NonceNotHex,
    #[error("Invalid result: expected 64 hex digits, got {0} characters")]
    ResultLength(usize),
    #[error("Invalid result: not hex")]
    ResultNotHex,
}

impl SubmitParams {
    /// Decodes the nonce and result, without allocating.
    pub fn validate(&self) -> Result<ValidSubmit<'_>, SubmitError> {
        let mut nonce = [0u8; 4];
        decode_hex(&self.nonce, &mut nonce).map_err(|e| match e {
            HexError::Length(n) => SubmitError::NonceLength(n),
            HexError::NotHex => SubmitError::NonceNotHex,
        })?;
        let mut result = [0u8; 32];
        decode_hex(&self.result, &mut result).map_err(|e| match e {
            HexError::Length(n) => SubmitError::ResultLength(n),
            HexError::NotHex => SubmitError::ResultNotHex,
        })?;
        Ok(ValidSubmit {
            session_id: &self.id,
            job_id: &self.job_id,
            nonce,
            result,
            algo: self.algo.as_deref(),
        })
    }
}

enum HexError {
    /// The length in characters.
    Length(usize),
    NotHex,
}

fn decode_hex(s: &str, out: &mut [u8]) -> Result<(), HexError> {
    let chars = s.chars().count();
    if chars != out.len() * 2 {
        return Err(HexError::Length(chars));
    }
    hex::decode_to_slice(s, out).map_err(|_| HexError::NotHex)
}

// ---------------------------------------------------------------------------------
// Pool → miner

/// Work for a miner, in a login result or a `job` notification. xmrig reads no
/// session `id` here (it keeps the login's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The hashing blob, hex.
    pub blob: String,
    pub job_id: String,
    /// The share target, hex: 4 bytes little-endian (`ffffffff` is difficulty 1) or 8.
    pub target: String,
    /// xmrig's algorithm name (`rx/0`); omitted when empty, and the miner falls back to
    /// its pool config.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub algo: String,
    #[serde(default)]
    pub height: u64,
    /// RandomX key block hash, hex; xmrig refuses a RandomX job without it. Omitted when
    /// empty (other algorithms).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub seed_hash: String,
}

/// The result of a successful `login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResult {
    /// The session id the miner repeats in `submit`, `getjob` and `keepalived`.
    pub id: String,
    pub job: Job,
    /// What the pool supports: [`EXT_ALGO`], [`EXT_NICEHASH`], [`EXT_KEEPALIVE`].
    #[serde(default)]
    pub extensions: Vec<String>,
    pub status: Cow<'static, str>,
}

impl LoginResult {
    pub fn new(session_id: impl Into<String>, job: Job, extensions: &[&str]) -> Self {
        LoginResult {
            id: session_id.into(),
            job,
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
            status: Cow::Borrowed("OK"),
        }
    }
}

/// The result of an accepted `submit` (`OK`) or of `keepalived` (`KEEPALIVED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResult {
    pub status: Cow<'static, str>,
}

impl StatusResult {
    pub const OK: StatusResult = StatusResult {
        status: Cow::Borrowed("OK"),
    };
    pub const KEEPALIVED: StatusResult = StatusResult {
        status: Cow::Borrowed("KEEPALIVED"),
    };
}

/// The `error` member of an error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
}

/// A response line as a client reads it (a proxy-mode upstream client, or a test).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub id: Value,
    #[serde(default)]
    pub error: Option<ErrorObject>,
    #[serde(default)]
    pub result: Option<Value>,
}

/// A `job` notification as a client reads it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JobNotification {
    pub method: String,
    pub params: Job,
}

#[derive(Serialize)]
struct Reply<'a, E, R> {
    id: &'a Value,
    jsonrpc: &'static str,
    error: E,
    result: R,
}

#[derive(Serialize)]
struct ErrorRef<'a> {
    code: i64,
    message: &'a str,
}

/// `{"id":…,"jsonrpc":"2.0","error":null,"result":…}` and a newline.
pub fn response_ok(id: &Value, result: impl Serialize) -> Vec<u8> {
    encode(&Reply {
        id,
        jsonrpc: JSONRPC,
        error: (),
        result,
    })
    .unwrap_or_else(|_| response_error(id, ERROR_CODE, INTERNAL_ERROR))
}

/// `{"id":…,"jsonrpc":"2.0","error":{"code":…,"message":…},"result":null}` and a
/// newline.
pub fn response_error(id: &Value, code: i64, message: &str) -> Vec<u8> {
    encode(&Reply {
        id,
        jsonrpc: JSONRPC,
        error: ErrorRef { code, message },
        result: (),
    })
    // A `Value`, an integer and a string always serialize.
    .unwrap_or_default()
}

/// `{"jsonrpc":"2.0","method":"job","params":{…}}` and a newline.
pub fn job_notification(job: &Job) -> Vec<u8> {
    #[derive(Serialize)]
    struct Notification<'a> {
        jsonrpc: &'static str,
        method: &'static str,
        params: &'a Job,
    }
    encode(&Notification {
        jsonrpc: JSONRPC,
        method: "job",
        params: job,
    })
    // Strings and an integer always serialize.
    .unwrap_or_default()
}

/// A `job` notification encoded once per template, into which each session writes
/// only its own parts: the bytes of the hashing blob that differ between miners (the
/// Merkle root), its job id and its target. The result is byte for byte what
/// [`job_notification`] gives for the same [`Job`], without a serializer, hex
/// encoding of the shared blob or allocation per miner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLine {
    /// `{"jsonrpc":"2.0","method":"job","params":{"blob":"` and the blob up to the
    /// per-miner bytes, hex.
    head: Vec<u8>,
    /// The blob after the per-miner bytes, hex, then `","job_id":"`.
    middle: Vec<u8>,
    /// After the target: `algo`, `height`, `seed_hash`, the closing braces, newline.
    tail: Vec<u8>,
}

impl JobLine {
    /// The line for a hashing blob `blob_head ‖ (per-miner bytes) ‖ blob_tail`. An
    /// empty `algo` or `seed_hash` is left out, as in [`Job`].
    pub fn new(
        blob_head: &[u8],
        blob_tail: &[u8],
        algo: &str,
        height: u64,
        seed_hash: &str,
    ) -> Self {
        let mut head = br#"{"jsonrpc":"2.0","method":"job","params":{"blob":""#.to_vec();
        head.extend_from_slice(hex::encode(blob_head).as_bytes());
        let mut middle = hex::encode(blob_tail).into_bytes();
        middle.extend_from_slice(br#"","job_id":""#);
        let mut tail = b"\"".to_vec();
        // Strings go through serde_json so they are escaped exactly as `Job` is.
        if !algo.is_empty() {
            tail.extend_from_slice(br#","algo":"#);
            tail.extend_from_slice(&serde_json::to_vec(algo).unwrap_or_default());
        }
        tail.extend_from_slice(br#","height":"#);
        tail.extend_from_slice(height.to_string().as_bytes());
        if !seed_hash.is_empty() {
            tail.extend_from_slice(br#","seed_hash":"#);
            tail.extend_from_slice(&serde_json::to_vec(seed_hash).unwrap_or_default());
        }
        tail.extend_from_slice(b"}}\n");
        JobLine { head, middle, tail }
    }

    /// Bytes of a line with `miner_bytes` per-miner blob bytes, a 10-digit job id and
    /// an 8-byte target: enough capacity for [`JobLine::write`] not to grow.
    pub fn capacity(&self, miner_bytes: usize) -> usize {
        self.head.len() + 2 * miner_bytes + self.middle.len() + 10 + 14 + 16 + self.tail.len()
    }

    /// Appends the line for one miner: `miner_bytes` (hex-encoded here) between the
    /// blob's head and tail, `job_id`, and `target_hex` (the share target, hex, as
    /// `pow::job_target_hex` gives it: no character that JSON escapes).
    pub fn write(&self, out: &mut Vec<u8>, miner_bytes: &[u8], job_id: u32, target_hex: &str) {
        debug_assert!(target_hex.bytes().all(|b| b.is_ascii_hexdigit()));
        out.extend_from_slice(&self.head);
        let start = out.len();
        out.resize(start + 2 * miner_bytes.len(), 0);
        // The slice is exactly twice the input, the one way encode_to_slice fails.
        let _ = hex::encode_to_slice(miner_bytes, &mut out[start..]);
        out.extend_from_slice(&self.middle);
        write_decimal(out, job_id);
        out.extend_from_slice(br#"","target":""#);
        out.extend_from_slice(target_hex.as_bytes());
        out.extend_from_slice(&self.tail);
    }
}

/// `value` in decimal, as `u32::to_string` writes it.
fn write_decimal(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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
    use proptest::prelude::*;
    use serde_json::json;

    const XMR: &str = "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg";

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

    fn opt_str(v: &Value) -> Option<String> {
        v.as_str().map(str::to_string)
    }

    /// Checks a parsed request against the JSON it came from, field by field.
    fn assert_matches_sent(request: &ClientRequest, msg: &Value) {
        let p = &msg["params"];
        assert_eq!(request.method(), msg["method"]);
        match request {
            ClientRequest::Login(login) => {
                assert_eq!(login.login, p["login"]);
                assert_eq!(login.pass, p["pass"]);
                assert_eq!(login.agent, opt_str(&p["agent"]));
                assert_eq!(login.rigid, opt_str(&p["rigid"]));
                let algos: Vec<String> = serde_json::from_value(p["algo"].clone()).unwrap();
                assert_eq!(login.algo, algos);
                assert_eq!(login.algo_perf, None);
            }
            ClientRequest::Submit(submit) => {
                assert_eq!(submit.id, p["id"]);
                assert_eq!(submit.job_id, p["job_id"]);
                assert_eq!(submit.nonce, p["nonce"]);
                assert_eq!(submit.result, p["result"]);
                assert_eq!(submit.algo, opt_str(&p["algo"]));
                let valid = submit.validate().unwrap();
                assert_eq!(valid.session_id, p["id"]);
                assert_eq!(valid.job_id, p["job_id"]);
                assert_eq!(valid.nonce.to_vec(), hex::decode(&submit.nonce).unwrap());
                assert_eq!(valid.result.to_vec(), hex::decode(&submit.result).unwrap());
                assert_eq!(valid.algo, Some("rx/0"));
            }
            ClientRequest::Keepalived { id } => assert_eq!(*id, opt_str(&p["id"])),
            ClientRequest::GetJob { id } => assert_eq!(id, &p["id"]),
        }
    }

    fn methods(jsonl: &str) -> Vec<&'static str> {
        messages(jsonl, "recv")
            .iter()
            .map(|(wire, msg)| {
                let (id, request) = parsed(wire);
                assert_eq!(id, msg["id"]);
                assert_matches_sent(&request, msg);
                request.method()
            })
            .collect()
    }

    #[test]
    fn every_line_xmrig_sent_parses_into_its_request() {
        assert_eq!(
            methods(XMRIG_SESSION),
            ["login", "submit", "submit", "submit"]
        );
        let mut diff256 = vec!["login"];
        diff256.extend(["submit"; 6]);
        assert_eq!(methods(XMRIG_SESSION_DIFF256_RECV), diff256);
        assert_eq!(methods(XMRIG_KEEPALIVE_SESSION), ["login", "keepalived"]);
    }

    #[test]
    fn captured_login_has_the_miner_fields() {
        let (id, request) = parsed(XMRIG_LOGIN.as_bytes());
        assert_eq!(id, json!(1));
        let ClientRequest::Login(login) = request else {
            panic!("not a login: {request:?}")
        };
        assert_eq!(login.login, XMR);
        assert_eq!(login.pass, "x");
        assert_eq!(
            login.agent.as_deref(),
            Some("XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0")
        );
        assert_eq!(login.rigid.as_deref(), Some("lab-rig1"));
        assert_eq!(login.algo.len(), 22);
        assert_eq!(login.algo[0], "rx/0");
        assert_eq!(login.algo_perf, None);
    }

    #[test]
    fn captured_submit_decodes_nonce_and_result() {
        let (id, request) = parsed(XMRIG_SUBMIT.as_bytes());
        assert_eq!(id, json!(2));
        let ClientRequest::Submit(submit) = request else {
            panic!("not a submit: {request:?}")
        };
        let valid = submit.validate().unwrap();
        assert_eq!(valid.session_id, "stub-session-1");
        assert_eq!(valid.job_id, "1");
        assert_eq!(valid.nonce, [0, 0, 0, 0]);
        assert_eq!(valid.result[..4], [0xc0, 0xbb, 0x38, 0xf4]);
        assert_eq!(valid.result[31], 0x81);
        assert_eq!(valid.algo, Some("rx/0"));
    }

    #[test]
    fn nonce_bytes_are_in_blob_order() {
        // The first share of the diff-256 session, verified by RandomX on the blob.
        let (_, request) = parsed(messages(XMRIG_SESSION_DIFF256_RECV, "recv")[1].0.as_slice());
        let ClientRequest::Submit(submit) = request else {
            panic!("not a submit")
        };
        assert_eq!(submit.nonce, "9e020000");
        assert_eq!(submit.validate().unwrap().nonce, [0x9e, 0x02, 0x00, 0x00]);
    }

    #[test]
    fn login_response_matches_the_reply_xmrig_accepted() {
        let sample: Value = serde_json::from_str(STUB_LOGIN_RESPONSE).unwrap();
        let job: Job = serde_json::from_value(sample["result"]["job"].clone()).unwrap();
        let result = LoginResult::new(
            "stub-session-1",
            job,
            &[EXT_ALGO, EXT_NICEHASH, "connect", "tls", EXT_KEEPALIVE],
        );
        let line = response_ok(&json!(1), &result);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let ours: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(ours, sample);
        // Same members in the same order as the stub's reply.
        assert_eq!(
            String::from_utf8(line).unwrap(),
            concat!(
                r#"{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"stub-session-1","job":{"#,
                r#""blob":"1010f8da9bd806fbc662366a2243a0565c5cd80c5286eb299d59566bf6a48d8f40d9d833f0c3460000000057e1a999f82f94e19a5a9e44dd415e464b10516533af830db44be78b9ffc96ab02","#,
                r#""job_id":"1","target":"ffffffff","algo":"rx/0","height":95,"#,
                r#""seed_hash":"418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"},"#,
                r#""extensions":["algo","nicehash","connect","tls","keepalive"],"status":"OK"}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn every_line_the_stub_sent_is_what_we_would_send() {
        let sent = [
            messages(XMRIG_SESSION, "send"),
            messages(XMRIG_KEEPALIVE_SESSION, "send"),
        ]
        .concat();
        assert_eq!(sent.len(), 8);
        for (wire, msg) in sent {
            let ours = if msg.get("method").is_some() {
                let n: JobNotification = serde_json::from_slice(&wire).unwrap();
                assert_eq!(n.method, "job");
                job_notification(&n.params)
            } else {
                let r: Response = serde_json::from_slice(&wire).unwrap();
                assert_eq!(r.error, None);
                let result = r.result.unwrap();
                if result.get("job").is_some() {
                    let login: LoginResult = serde_json::from_value(result).unwrap();
                    response_ok(&r.id, &login)
                } else {
                    let status: StatusResult = serde_json::from_value(result).unwrap();
                    assert!(status == StatusResult::OK || status == StatusResult::KEEPALIVED);
                    response_ok(&r.id, status)
                }
            };
            assert_eq!(serde_json::from_slice::<Value>(&ours).unwrap(), msg);
        }
    }

    #[test]
    fn status_replies() {
        assert_eq!(
            response_ok(&json!(2), StatusResult::OK),
            b"{\"id\":2,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"status\":\"OK\"}}\n"
        );
        assert_eq!(
            response_ok(&json!(2), StatusResult::KEEPALIVED),
            b"{\"id\":2,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"status\":\"KEEPALIVED\"}}\n"
        );
    }

    #[test]
    fn error_reply_shape() {
        assert_eq!(
            String::from_utf8(response_error(&json!(7), ERROR_CODE, LOW_DIFFICULTY_SHARE)).unwrap(),
            "{\"id\":7,\"jsonrpc\":\"2.0\",\"error\":{\"code\":-1,\"message\":\"Low difficulty share\"},\"result\":null}\n"
        );
        let line = response_error(&json!("a\"b"), ERROR_CODE, "quote \" and\nnewline");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let r: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(r.id, json!("a\"b"));
        assert_eq!(r.result, None);
        assert_eq!(
            r.error,
            Some(ErrorObject {
                code: -1,
                message: "quote \" and\nnewline".into()
            })
        );
    }

    #[test]
    fn job_notification_shape() {
        let job = Job {
            blob: "0a0b".into(),
            job_id: "7".into(),
            target: "ffffff00".into(),
            algo: "rx/0".into(),
            height: 96,
            seed_hash: "41".into(),
        };
        assert_eq!(
            String::from_utf8(job_notification(&job)).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"method\":\"job\",\"params\":{\"blob\":\"0a0b\",\"job_id\":\"7\",\
             \"target\":\"ffffff00\",\"algo\":\"rx/0\",\"height\":96,\"seed_hash\":\"41\"}}\n"
        );
        // Without RandomX there is no seed hash to send, and no empty one either.
        let plain = Job {
            algo: String::new(),
            seed_hash: String::new(),
            ..job
        };
        let v: Value = serde_json::from_slice(&job_notification(&plain)).unwrap();
        assert!(v["params"].get("seed_hash").is_none() && v["params"].get("algo").is_none());
    }

    #[test]
    fn job_line_matches_the_serialized_notification() {
        let blob = hex::decode("1010f8da9bd806fbc662366a2243a0565c5cd80c5286eb299d59566bf6a48d8f40d9d833f0c3460000000057e1a999f82f94e19a5a9e44dd415e464b10516533af830db44be78b9ffc96ab02").unwrap();
        let seed = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3";
        let line = JobLine::new(&blob[..43], &blob[75..], "rx/0", 95, seed);
        for (job_id, target) in [
            (1, "ffffffff"),
            (0, "ffffff00"),
            (u32::MAX, "0100000000000000"),
        ] {
            let mut out = Vec::new();
            line.write(&mut out, &blob[43..75], job_id, target);
            let job = Job {
                blob: hex::encode(&blob),
                job_id: job_id.to_string(),
                target: target.into(),
                algo: "rx/0".into(),
                height: 95,
                seed_hash: seed.into(),
            };
            assert_eq!(
                String::from_utf8(out.clone()).unwrap(),
                String::from_utf8(job_notification(&job)).unwrap()
            );
            assert!(out.len() <= line.capacity(32));
        }
    }

    #[test]
    fn garbage_is_not_json_and_has_no_id() {
        for line in [
            &b"hello"[..],
            b"",
            b"\n",
            b"{\"id\":1",
            b"[1,2]",
            b"42",
            b"\"login\"",
            b"\xff\xfe",
        ] {
            let err = parse_request(line).unwrap_err();
            assert!(
                matches!(err, RequestError::NotJson { .. }),
                "{line:?}: {err:?}"
            );
            assert_eq!(err.id(), None);
            assert_eq!(err.response(), None);
            assert!(err.to_string().starts_with(MALFORMED_REQUEST));
        }
    }

    #[test]
    fn missing_method_keeps_the_id() {
        assert_eq!(
            parse_request(b"{}"),
            Err(RequestError::MissingMethod { id: Value::Null })
        );
        let err = parse_request(br#"{"id":3,"method":5}"#).unwrap_err();
        assert_eq!(err, RequestError::MissingMethod { id: json!(3) });
        let reply: Response = serde_json::from_slice(&err.response().unwrap()).unwrap();
        assert_eq!(reply.id, json!(3));
        assert_eq!(reply.error.unwrap().code, ERROR_CODE);
    }

    #[test]
    fn unknown_method_is_named() {
        let err =
            parse_request(br#"{"id":"x","method":"mining.subscribe","params":[]}"#).unwrap_err();
        assert_eq!(
            err,
            RequestError::UnknownMethod {
                id: json!("x"),
                method: "mining.subscribe".into()
            }
        );
        assert_eq!(err.to_string(), "Invalid method: mining.subscribe");
        let long = format!(r#"{{"id":1,"method":"{}"}}"#, "é".repeat(100));
        let RequestError::UnknownMethod { method, .. } =
            parse_request(long.as_bytes()).unwrap_err()
        else {
            panic!()
        };
        assert!(method.len() <= 64);
    }

    fn bad_params(line: &str) -> (&'static str, &'static str, &'static str) {
        match parse_request(line.as_bytes()) {
            Err(RequestError::BadParams {
                id,
                method,
                field,
                problem,
            }) => {
                assert_eq!(id, json!(4), "{line}");
                (method, field, problem)
            }
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn bad_params_name_the_field() {
        let cases = [
            (
                r#"{"id":4,"method":"submit"}"#,
                ("submit", "params", "must be an object"),
            ),
            (
                r#"{"id":4,"method":"login","params":[]}"#,
                ("login", "params", "must be an object"),
            ),
            (
                r#"{"id":4,"method":"login","params":{}}"#,
                ("login", "login", "is missing"),
            ),
            (
                r#"{"id":4,"method":"login","params":{"login":5}}"#,
                ("login", "login", "must be a string"),
            ),
            (
                r#"{"id":4,"method":"login","params":{"login":"a","pass":1}}"#,
                ("login", "pass", "must be a string"),
            ),
            (
                r#"{"id":4,"method":"login","params":{"login":"a","algo":"rx/0"}}"#,
                ("login", "algo", "must be a list of strings"),
            ),
            (
                r#"{"id":4,"method":"login","params":{"login":"a","algo":["rx/0",1]}}"#,
                ("login", "algo", "must be a list of strings"),
            ),
            (
                r#"{"id":4,"method":"login","params":{"login":"a","algo-perf":{"rx/0":"fast"}}}"#,
                ("login", "algo-perf", "must be an object of numbers"),
            ),
            (
                r#"{"id":4,"method":"submit","params":{"id":"s","job_id":"1","result":"00"}}"#,
                ("submit", "nonce", "is missing"),
            ),
            (
                r#"{"id":4,"method":"submit","params":{"id":"s","job_id":1,"nonce":"00","result":"00"}}"#,
                ("submit", "job_id", "must be a string"),
            ),
            (
                r#"{"id":4,"method":"getjob","params":{}}"#,
                ("getjob", "id", "is missing"),
            ),
            (
                r#"{"id":4,"method":"keepalived","params":{"id":9}}"#,
                ("keepalived", "id", "must be a string"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(bad_params(line), want, "{line}");
        }
        let err = parse_request(
            br#"{"id":4,"method":"submit","params":{"id":"s","job_id":"1","result":"00"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Malformed request: submit `nonce` is missing"
        );
    }

    #[test]
    fn optional_fields_and_defaults() {
        let (id, r) = parsed(br#"{"method":"login","params":{"login":"a","agent":null}}"#);
        assert_eq!(id, Value::Null);
        assert_eq!(
            r,
            ClientRequest::Login(LoginParams {
                login: "a".into(),
                pass: "x".into(),
                agent: None,
                rigid: None,
                algo: vec![],
                algo_perf: None,
            })
        );
        let (_, r) = parsed(br#"{"id":1,"method":"login","params":{"login":"a","algo-perf":{"rx/0":1234.5,"cn/r":7}}}"#);
        let ClientRequest::Login(l) = r else { panic!() };
        let perf = l.algo_perf.unwrap();
        assert_eq!(perf["rx/0"], 1234.5);
        assert_eq!(perf["cn/r"], 7.0);
        // keepalived with no params, null params, and nodejs-pool's `keepalive` spelling.
        for line in [
            &br#"{"id":2,"method":"keepalived"}"#[..],
            br#"{"id":2,"method":"keepalived","params":null}"#,
            b"{\"id\":2,\"method\":\"keepalive\",\"params\":{}}\r\n",
        ] {
            assert_eq!(parsed(line).1, ClientRequest::Keepalived { id: None });
        }
        let (_, r) = parsed(br#"{"id":3,"jsonrpc":"2.0","method":"getjob","params":{"id":"s1"}}"#);
        assert_eq!(r, ClientRequest::GetJob { id: "s1".into() });
    }

    fn submit(nonce: &str, result: &str) -> SubmitParams {
        SubmitParams {
            id: "s".into(),
            job_id: "1".into(),
            nonce: nonce.into(),
            result: result.into(),
            algo: None,
        }
    }

    const RESULT: &str = "cc7c9a4e1140b8c1f9a558e1db069ddb535f9c283e31d3eefde2a8535c6e7c00";

    #[test]
    fn malformed_nonce_and_result_are_rejected() {
        let cases = [
            (submit("000000", RESULT), SubmitError::NonceLength(6)),
            (submit("0000000000", RESULT), SubmitError::NonceLength(10)),
            (submit("", RESULT), SubmitError::NonceLength(0)),
            (submit("zzzzzzzz", RESULT), SubmitError::NonceNotHex),
            (submit("0x000000", RESULT), SubmitError::NonceNotHex),
            (submit("éééé", RESULT), SubmitError::NonceLength(4)),
            (
                submit("9e020000", &RESULT[1..]),
                SubmitError::ResultLength(63),
            ),
            (
                submit("9e020000", &format!("{RESULT}00")),
                SubmitError::ResultLength(66),
            ),
            (
                submit("9e020000", &format!("g{}", &RESULT[1..])),
                SubmitError::ResultNotHex,
            ),
        ];
        for (params, want) in cases {
            let err = params.validate().unwrap_err();
            assert_eq!(err, want, "{params:?}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(INVALID_NONCE) || msg.starts_with(INVALID_RESULT),
                "{msg}"
            );
        }
        assert_eq!(
            SubmitError::NonceLength(6).to_string(),
            "Invalid nonce: expected 8 hex digits, got 6 characters"
        );
    }

    #[test]
    fn uppercase_hex_is_the_same_share() {
        let lower = submit("9e020000", RESULT);
        let upper = submit("9E020000", &RESULT.to_uppercase());
        assert_eq!(
            lower.validate().unwrap().nonce,
            upper.validate().unwrap().nonce
        );
        assert_eq!(
            lower.validate().unwrap().result,
            upper.validate().unwrap().result
        );
    }

    #[test]
    fn only_session_level_errors_make_xmrig_reconnect() {
        assert!(is_critical_for_xmrig(UNAUTHENTICATED));
        assert!(is_critical_for_xmrig(INVALID_JOB_ID));
        assert!(is_critical_for_xmrig("invalid JOB ID: 42"));
        assert!(is_critical_for_xmrig("Your IP is banned for 10 minutes"));
        let share_level = [
            BLOCK_EXPIRED,
            DUPLICATE_SHARE,
            LOW_DIFFICULTY_SHARE,
            INVALID_NONCE,
            INVALID_RESULT,
            INVALID_SHARE,
            MALFORMED_REQUEST,
            INVALID_METHOD,
            INVALID_ADDRESS,
            INTERNAL_ERROR,
        ];
        let mut messages: Vec<String> = share_level.iter().map(|m| m.to_string()).collect();
        messages.extend(
            [
                SubmitError::NonceLength(1),
                SubmitError::NonceNotHex,
                SubmitError::ResultLength(1),
                SubmitError::ResultNotHex,
            ]
            .iter()
            .map(ToString::to_string),
        );
        for line in [
            &b"x"[..],
            b"{}",
            br#"{"id":1,"method":"m"}"#,
            br#"{"id":1,"method":"submit"}"#,
        ] {
            messages.push(parse_request(line).unwrap_err().to_string());
        }
        for m in messages {
            assert!(!is_critical_for_xmrig(&m), "{m}");
        }
        assert!(!is_critical_for_xmrig(""));
        assert!(!is_critical_for_xmrig("Unauth"));
    }

    fn short_string() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    fn arb_request() -> impl Strategy<Value = ClientRequest> {
        let login = (
            short_string(),
            short_string(),
            proptest::option::of(short_string()),
            proptest::option::of(short_string()),
            proptest::collection::vec(short_string(), 0..4),
            proptest::option::of(proptest::collection::btree_map(
                short_string(),
                0u32..10_000_000,
                0..4,
            )),
        )
            .prop_map(|(login, pass, agent, rigid, algo, perf)| {
                ClientRequest::Login(LoginParams {
                    login,
                    pass,
                    agent,
                    rigid,
                    algo,
                    algo_perf: perf
                        .map(|m| m.into_iter().map(|(k, v)| (k, f64::from(v))).collect()),
                })
            });
        let submit = (
            short_string(),
            short_string(),
            short_string(),
            short_string(),
            proptest::option::of(short_string()),
        )
            .prop_map(|(id, job_id, nonce, result, algo)| {
                ClientRequest::Submit(SubmitParams {
                    id,
                    job_id,
                    nonce,
                    result,
                    algo,
                })
            });
        prop_oneof![
            login,
            submit,
            short_string().prop_map(|id| ClientRequest::GetJob { id }),
            proptest::option::of(short_string()).prop_map(|id| ClientRequest::Keepalived { id }),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[0-9a-fA-Fxz]{0,70}".prop_map(Value::from),
            short_string().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let key = prop_oneof![
                Just("login".to_string()),
                Just("pass".to_string()),
                Just("agent".to_string()),
                Just("rigid".to_string()),
                Just("algo".to_string()),
                Just("algo-perf".to_string()),
                Just("id".to_string()),
                Just("job_id".to_string()),
                Just("nonce".to_string()),
                Just("result".to_string()),
                short_string(),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn job_line_is_the_notification_for_any_job(
            blob in proptest::collection::vec(any::<u8>(), 0..120),
            cut in any::<(prop::sample::Index, prop::sample::Index)>(),
            job_id in any::<u32>(),
            difficulty in any::<u64>(),
            algo in prop_oneof![Just(String::new()), Just("rx/0".to_string()), short_string()],
            height in any::<u64>(),
            seed_hash in prop_oneof![Just(String::new()), short_string()],
        ) {
            let (a, b) = (cut.0.index(blob.len() + 1), cut.1.index(blob.len() + 1));
            let (from, to) = (a.min(b), a.max(b));
            let target = crate::pow::job_target_hex(difficulty);
            let line = JobLine::new(&blob[..from], &blob[to..], &algo, height, &seed_hash);
            let mut out = b"kept".to_vec();
            line.write(&mut out, &blob[from..to], job_id, &target);
            let job = Job {
                blob: hex::encode(&blob),
                job_id: job_id.to_string(),
                target,
                algo,
                height,
                seed_hash,
            };
            prop_assert_eq!(&out[..4], b"kept");
            prop_assert_eq!(&out[4..], &job_notification(&job)[..]);
        }

        #[test]
        fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(err) = parse_request(&line) {
                if let Some(reply) = err.response() {
                    prop_assert_eq!(reply.last(), Some(&b'\n'));
                    prop_assert!(serde_json::from_slice::<Response>(&reply).is_ok());
                }
            }
        }

        #[test]
        fn random_requests_never_panic(
            id in arb_json(),
            method in prop_oneof![
                Just("login".to_string()), Just("submit".to_string()), Just("getjob".to_string()),
                Just("keepalived".to_string()), short_string(),
            ],
            params in arb_json(),
        ) {
            let line = serde_json::to_vec(&json!({"id": id, "method": method, "params": params})).unwrap();
            match parse_request(&line) {
                Ok((got_id, request)) => {
                    prop_assert_eq!(got_id, id);
                    if let ClientRequest::Submit(s) = request {
                        let _ = s.validate();
                    }
                }
                Err(err) => prop_assert_eq!(err.id(), Some(&id)),
            }
        }

        #[test]
        fn validate_accepts_exactly_hex_of_the_right_length(nonce in "[0-9a-fA-Fxé]{0,10}", result in "[0-9a-fA-Fg]{62,66}") {
            let s = submit(&nonce, &result);
            let ok = nonce.len() == 8 && nonce.chars().all(|c| c.is_ascii_hexdigit())
                && result.len() == 64 && result.chars().all(|c| c.is_ascii_hexdigit());
            prop_assert_eq!(s.validate().is_ok(), ok);
        }

        #[test]
        fn requests_round_trip_through_their_line(
            request in arb_request(),
            id in prop_oneof![any::<i64>().prop_map(Value::from), short_string().prop_map(Value::from)],
        ) {
            let line = request.to_line(&id);
            prop_assert_eq!(line.last(), Some(&b'\n'));
            prop_assert_eq!(parse_request(&line), Ok((id, request)));
        }
    }

    /// samples/xmrig_session.jsonl without its `daemon-submit_block` lines.
    const XMRIG_SESSION: &str = r#"{"dir": "recv", "msg": {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {"login": "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg", "pass": "x", "agent": "XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0", "rigid": "lab-rig1", "algo": ["rx/0", "cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz", "cn/zls", "cn/double", "cn/ccx", "cn/0", "rx/2", "rx/wow", "rx/arq", "rx/graft", "rx/sfx", "rx/yada", "argon2/chukwa", "argon2/chukwav2", "argon2/ninja"]}}}
{"dir": "send", "msg": {"id": 1, "jsonrpc": "2.0", "error": null, "result": {"id": "stub-session-1", "job": {"blob": "1010f8da9bd806fbc662366a2243a0565c5cd80c5286eb299d59566bf6a48d8f40d9d833f0c3460000000057e1a999f82f94e19a5a9e44dd415e464b10516533af830db44be78b9ffc96ab02", "job_id": "1", "target": "ffffffff", "algo": "rx/0", "height": 95, "seed_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"}, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"], "status": "OK"}}}
{"dir": "recv", "msg": {"id": 2, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "1", "nonce": "00000000", "result": "c0bb38f4ae2ea2e816f6aa1d635cb93a475b6fb7d3409d244b9dd13297e06481", "algo": "rx/0"}}}
{"dir": "send", "msg": {"id": 2, "jsonrpc": "2.0", "error": null, "result": {"status": "OK"}}}
{"dir": "send", "msg": {"jsonrpc": "2.0", "method": "job", "params": {"blob": "1010f9da9bd8069fe6b989e59b85b72fef1abd17af5a9bf5ae0eb09f350bac4531e970ea301ad1000000003833ad421a191c95ba20a27c22ecae8a34a7468cc30ff552ddff14e72f18725001", "job_id": "2", "target": "ffffffff", "algo": "rx/0", "height": 96, "seed_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"}}}
{"dir": "recv", "msg": {"id": 3, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "1", "nonce": "01000000", "result": "e9ac96d864cc71dfb5a29b7fb026b05ed643171e9b252d476109e16d13bc3e93", "algo": "rx/0"}}}
{"dir": "send", "msg": {"id": 3, "jsonrpc": "2.0", "error": null, "result": {"status": "OK"}}}
{"dir": "send", "msg": {"jsonrpc": "2.0", "method": "job", "params": {"blob": "1010f9da9bd8069fe6b989e59b85b72fef1abd17af5a9bf5ae0eb09f350bac4531e970ea301ad1000000003833ad421a191c95ba20a27c22ecae8a34a7468cc30ff552ddff14e72f18725001", "job_id": "3", "target": "ffffffff", "algo": "rx/0", "height": 96, "seed_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"}}}
{"dir": "recv", "msg": {"id": 4, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "1", "nonce": "02000000", "result": "d8e660e257e6e204187b34f085df56e344514813715c9b5dbcd4a8d7d4156fc3", "algo": "rx/0"}}}
{"dir": "send", "msg": {"id": 4, "jsonrpc": "2.0", "error": null, "result": {"status": "OK"}}}"#;
    /// samples/xmrig_session_diff256.jsonl: its `recv` lines (everything the miner sent).
    const XMRIG_SESSION_DIFF256_RECV: &str = r#"{"dir": "recv", "msg": {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {"login": "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg", "pass": "x", "agent": "XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0", "rigid": "lab-rig1", "algo": ["cn/0", "cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz", "cn/zls", "cn/double", "cn/ccx", "rx/0", "rx/2", "rx/wow", "rx/arq", "rx/graft", "rx/sfx", "rx/yada", "argon2/chukwa", "argon2/chukwav2", "argon2/ninja"]}}}
{"dir": "recv", "msg": {"id": 2, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "1", "nonce": "9e020000", "result": "cc7c9a4e1140b8c1f9a558e1db069ddb535f9c283e31d3eefde2a8535c6e7c00", "algo": "rx/0"}}}
{"dir": "recv", "msg": {"id": 3, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "2", "nonce": "11000000", "result": "62472a73fca0947137a7593a0f3166bd4e2e13154c6950659f8c7482e5e95700", "algo": "rx/0"}}}
{"dir": "recv", "msg": {"id": 4, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "3", "nonce": "a2000000", "result": "24ecd9c8953949735de989b4c42268f2e795c291fb80b1c871838d1cce009600", "algo": "rx/0"}}}
{"dir": "recv", "msg": {"id": 5, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "4", "nonce": "05000000", "result": "c6caefb38fa90b5746637a079fc0b4b8f1e39a678ca6aebaabccdc00cbc38c00", "algo": "rx/0"}}}
{"dir": "recv", "msg": {"id": 6, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "5", "nonce": "26000000", "result": "71c1486524f75b3166f087252d8df508c02750c3ef757d3a3af21b697886cd00", "algo": "rx/0"}}}
{"dir": "recv", "msg": {"id": 7, "jsonrpc": "2.0", "method": "submit", "params": {"id": "stub-session-1", "job_id": "6", "nonce": "8d000000", "result": "ea800d6f561b0d6d38a91a7298f7ec13ddaeeb53a885d13a59d8f069b72d4900", "algo": "rx/0"}}}"#;
    /// samples/xmrig_keepalive_session.jsonl.
    const XMRIG_KEEPALIVE_SESSION: &str = r#"{"dir": "recv", "msg": {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {"login": "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg", "pass": "x", "agent": "XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0", "rigid": "lab-rig1", "algo": ["cn/0", "cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz", "cn/zls", "cn/double", "cn/ccx", "rx/0", "rx/2", "rx/wow", "rx/arq", "rx/graft", "rx/sfx", "rx/yada", "argon2/chukwa", "argon2/chukwav2", "argon2/ninja"]}}}
{"dir": "send", "msg": {"id": 1, "jsonrpc": "2.0", "error": null, "result": {"id": "stub-session-1", "job": {"blob": "1010cee09bd806cd9334c9c580bb066d7acdfcf2bb9fc58511e810e4db2be08c44a23d9b617b0d000000001a4a9f5cc76c968763cff4b002476b02df386280db035ca7341fd08879c450e501", "job_id": "1", "target": "01000000", "algo": "rx/0", "height": 102, "seed_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"}, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"], "status": "OK"}}}
{"dir": "recv", "msg": {"id": 2, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": "stub-session-1"}}}
{"dir": "send", "msg": {"id": 2, "jsonrpc": "2.0", "error": null, "result": {"status": "KEEPALIVED"}}}"#;
    /// samples/xmrig_login.json.
    const XMRIG_LOGIN: &str = r#"{
 "id": 1,
 "jsonrpc": "2.0",
 "method": "login",
 "params": {
  "login": "46ezqBvPr5mfpMZXP68LwP8EY5FYsUSKeeGns9XtJtxcPJz3D1RvWP2a4dCYcbBmAcHv9SLSCtH49haPonfuT9muUXbdwwg",
  "pass": "x",
  "agent": "XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
  "rigid": "lab-rig1",
  "algo": [
   "rx/0",
   "cn/1",
   "cn/2",
   "cn/r",
   "cn/fast",
   "cn/half",
   "cn/xao",
   "cn/rto",
   "cn/rwz",
   "cn/zls",
   "cn/double",
   "cn/ccx",
   "cn/0",
   "rx/2",
   "rx/wow",
   "rx/arq",
   "rx/graft",
   "rx/sfx",
   "rx/yada",
   "argon2/chukwa",
   "argon2/chukwav2",
   "argon2/ninja"
  ]
 }
}"#;
    /// samples/xmrig_submit.json.
    const XMRIG_SUBMIT: &str = r#"{
 "id": 2,
 "jsonrpc": "2.0",
 "method": "submit",
 "params": {
  "id": "stub-session-1",
  "job_id": "1",
  "nonce": "00000000",
  "result": "c0bb38f4ae2ea2e816f6aa1d635cb93a475b6fb7d3409d244b9dd13297e06481",
  "algo": "rx/0"
 }
}"#;
    /// samples/xmr_stub_login_response.json: a login reply xmrig 6.26 accepted.
    const STUB_LOGIN_RESPONSE: &str = r#"{
 "id": 1,
 "jsonrpc": "2.0",
 "error": null,
 "result": {
  "id": "stub-session-1",
  "job": {
   "blob": "1010f8da9bd806fbc662366a2243a0565c5cd80c5286eb299d59566bf6a48d8f40d9d833f0c3460000000057e1a999f82f94e19a5a9e44dd415e464b10516533af830db44be78b9ffc96ab02",
   "job_id": "1",
   "target": "ffffffff",
   "algo": "rx/0",
   "height": 95,
   "seed_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"
  },
  "extensions": [
   "algo",
   "nicehash",
   "connect",
   "tls",
   "keepalive"
  ],
  "status": "OK"
 }
}"#;
}
