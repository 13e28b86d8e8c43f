//! Any text into the TC string decoder: an error or a value, never a
//! panic; and whatever decodes re-encodes to a string that decodes to the
//! same value (optional segments are skipped, so they are not compared).
#![no_main]

use fineline_consent::tcf::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tc) = decode(text) else {
        return;
    };
    let encoded = encode(&tc).unwrap_or_else(|e| panic!("decoded {text:?} but cannot encode: {e}"));
    let mut again =
        decode(&encoded).unwrap_or_else(|e| panic!("re-encoded {encoded:?} does not decode: {e}"));
    again.skipped_segments.clone_from(&tc.skipped_segments);
    assert_eq!(
        again, tc,
        "round trip changed {text:?} (re-encoded {encoded:?})"
    );
});
