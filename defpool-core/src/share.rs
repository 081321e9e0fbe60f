//! Share validation as pure functions: is a submit well formed, is it a duplicate, does
//! its hash meet the session's target and the network's.
//!
//! The session (in the node) knows the connection and the clock; everything that can be
//! decided from the job, the submit and numbers passed in is decided here, so it is
//! tested against what real miners sent.

pub mod bitcoin;
