//! Named pause points for crash tests.
//!
//! `DEFPOOL_FAILPOINT=name` makes the node stop at that point inside a money
//! transaction, print `FAILPOINT name reached` to stderr and wait there, so a test can
//! `kill -9` it at exactly that moment and prove the restart loses and repeats
//! nothing. Without the variable a point costs one load of a cached `Option`.

use std::sync::OnceLock;

static ARMED: OnceLock<Option<String>> = OnceLock::new();

fn armed() -> Option<&'static str> {
    ARMED
        .get_or_init(|| {
            std::env::var("DEFPOOL_FAILPOINT")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

/// Pauses forever if `name` is the armed failpoint.
pub async fn hit(name: &str) {
    if armed() == Some(name) {
        eprintln!("FAILPOINT {name} reached");
        tracing::warn!(
            failpoint = name,
            "paused at failpoint; waiting to be killed"
        );
        std::future::pending::<()>().await;
    }
}
