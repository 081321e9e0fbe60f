//! Bytes a miner could send after the Noise handshake: SV2 frames read by the SRI
//! codec and parsed into the requests a pool session handles. Nothing here may panic,
//! whatever the bytes (run: `cargo fuzz run -s none sv2_frame`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for request in defpool_node::stratum::sv2::messages::parse_unencrypted(data) {
        if let Ok(request) = request {
            // Every accessor the session uses on a parsed request.
            let _ = request.kind();
            let _ = request.reply_ids();
        }
    }
});
