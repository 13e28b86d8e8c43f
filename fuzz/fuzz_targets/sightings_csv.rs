//! Any bytes into the sightings CSV importer: rows or errors naming a
//! line, never a panic; accepted rows are within the documented ranges.
#![no_main]

use fineline_footfall::csv_import::SightingReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = SightingReader::new(data) else {
        return;
    };
    for row in rows.take(10_000) {
        match row {
            Ok(s) => {
                assert!(!s.sensor_id.is_empty());
                assert!((-127..=20).contains(&s.rssi));
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
