//! Any bytes into the `POST /v1/events` batch parser: a whole-batch error
//! or one result per element, never a panic; accepted events respect the
//! limits the handler relies on.
#![no_main]

use fineline_server::wire_events::{parse_batch, MAX_BATCH, MAX_PROPERTIES_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = parse_batch(data) else {
        return;
    };
    assert!(events.len() <= MAX_BATCH);
    for (i, ev) in events.iter().enumerate() {
        match ev {
            Ok(ev) => {
                assert!((1..=256).contains(&ev.subject_id.len()));
                if let Some(p) = &ev.properties {
                    assert!(p.get().len() <= MAX_PROPERTIES_BYTES);
                    assert!(p.get().trim_start().starts_with('{'));
                }
            }
            Err(r) => {
                assert_eq!(r.index, i);
                assert!(r.field.as_deref().is_some_and(|f| !f.is_empty()));
            }
        }
    }
});
