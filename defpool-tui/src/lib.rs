//! `defpool-tui`, the operator dashboard of a DefPool node.
//!
//! The pure part ([`app`] state and its updates, [`ui`] drawing, [`format`],
//! [`history`]) knows nothing of sockets or clocks, so it is tested by rendering a
//! recorded stream into ratatui's `TestBackend`. The I/O part ([`stream_client`] for the
//! live WebSocket, [`rest`] for actions, [`config`] for the command line) only feeds it.

pub mod app;
pub mod config;
pub mod format;
pub mod history;
pub mod rest;
pub mod stream_client;
pub mod ui;
