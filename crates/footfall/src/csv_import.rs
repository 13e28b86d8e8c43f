//! Reading sightings from CSV, for `fineline import --kind sightings FILE`.
//!
//! Format: a header row naming `sensor_id,mac,rssi,timestamp` (any order,
//! extra columns ignored), then one sighting per row. `timestamp` is
//! RFC 3339 (`2026-03-23T09:30:00Z`, offsets allowed) or integer epoch
//! milliseconds. Errors name the line and field and never echo a MAC.

use std::io::Read;

use fineline_core::Timestamp;

use crate::ingest::Sighting;
use crate::mac::Mac;

/// The columns the header must name (in any order).
pub const COLUMNS: [&str; 4] = ["sensor_id", "mac", "rssi", "timestamp"];

/// Why a CSV row or header was refused; never echoes a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A field in a row could not be read.
    #[error("line {line}: field {field}: {reason}")]
    Field {
        /// Line number in the file (1 is the header).
        line: u64,
        /// The column's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The header lacks a required column; names it.
    #[error("header is missing column {0} (expected sensor_id,mac,rssi,timestamp)")]
    MissingColumn(&'static str),
    /// A row could not be read as CSV.
    #[error("line {line}: {reason}")]
    Row {
        /// Line number in the file (1 is the header).
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Streams sightings out of CSV; each item is one row.
pub struct SightingReader<R: Read> {
    rows: csv::StringRecordsIntoIter<R>,
    idx: [usize; 4],
}

impl<R: Read> SightingReader<R> {
    /// Reads the header and finds the required columns.
    pub fn new(input: R) -> Result<Self, CsvError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(input);
        let headers = rdr.headers().map_err(|e| CsvError::Row {
            line: 1,
            reason: e.to_string(),
        })?;
        let mut idx = [0; 4];
        for (i, col) in COLUMNS.iter().enumerate() {
            idx[i] = headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(col))
                .ok_or(CsvError::MissingColumn(col))?;
        }
        Ok(Self {
            rows: rdr.into_records(),
            idx,
        })
    }
}

impl<R: Read> Iterator for SightingReader<R> {
    type Item = Result<Sighting, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rec = match self.rows.next()? {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                // csv's messages quote field counts, not contents: safe to pass on.
                return Some(Err(CsvError::Row {
                    line,
                    reason: e.to_string(),
                }));
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        Some(parse_row(&rec, &self.idx, line))
    }
}

fn parse_row(rec: &csv::StringRecord, idx: &[usize; 4], line: u64) -> Result<Sighting, CsvError> {
    let get = |i: usize| rec.get(idx[i]).unwrap_or("");
    let err = |field: &'static str, reason: String| CsvError::Field {
        line,
        field,
        reason,
    };
    let sensor_id = get(0);
    if sensor_id.is_empty() {
        return Err(err("sensor_id", "empty".into()));
    }
    let mac = Mac::parse(get(1)).map_err(|e| err("mac", e.to_string()))?;
    let rssi_s = get(2);
    let rssi: i16 = rssi_s
        .parse()
        .ok()
        .filter(|r| (-127..=20).contains(r))
        .ok_or_else(|| {
            err(
                "rssi",
                format!("{rssi_s:?} is not a dBm value between -127 and 20"),
            )
        })?;
    let at = parse_timestamp(get(3)).map_err(|reason| err("timestamp", reason))?;
    Ok(Sighting {
        sensor_id: sensor_id.to_owned(),
        mac,
        rssi,
        at,
    })
}

/// RFC 3339 or integer epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map(Timestamp)
            .map_err(|_| format!("{s:?} is too large for epoch milliseconds"));
    }
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor epoch milliseconds"))?;
    Ok(Timestamp(ts.as_millisecond()))
}

/// Read a whole file; the first bad row stops it.
pub fn read_sightings<R: Read>(input: R) -> Result<Vec<Sighting>, CsvError> {
    SightingReader::new(input)?.collect()
}

/// Write sightings in the same format (the simulator's `demo-data` output).
/// This is the one place a MAC is written out: only ever for simulated devices.
pub fn write_sightings<W: std::io::Write>(
    out: W,
    sightings: &[Sighting],
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for s in sightings {
        w.write_record([
            s.sensor_id.as_str(),
            &s.mac.to_canonical(),
            &s.rssi.to_string(),
            &s.at.0.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_timestamp_forms() {
        let data = "sensor_id,mac,rssi,timestamp\n\
                    s1,aa:bb:cc:dd:ee:ff,-60,2026-03-23T09:30:00Z\n\
                    s2, AABBCCDDEEFF ,-80,1774258200000\n";
        let v = read_sightings(data.as_bytes()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].at, v[1].at);
        assert_eq!(v[0].mac, v[1].mac);
        assert_eq!(v[1].rssi, -80);
    }

    #[test]
    fn errors_name_line_and_field_and_hide_macs() {
        let bad = [
            ("s1,aa:bb:cc:dd:ee:fg,-60,1", 2, "mac"),
            ("s1,aa:bb:cc:dd:ee:ff,loud,1", 2, "rssi"),
            ("s1,aa:bb:cc:dd:ee:ff,-60,yesterday", 2, "timestamp"),
            (",aa:bb:cc:dd:ee:ff,-60,1", 2, "sensor_id"),
        ];
        for (row, line, field) in bad {
            let data = format!("sensor_id,mac,rssi,timestamp\n{row}\n");
            let e = read_sightings(data.as_bytes()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&format!("line {line}")), "{msg}");
            assert!(msg.contains(field), "{msg}");
            assert!(!msg.contains("aa:bb:cc"), "{msg}");
        }
        let e = read_sightings("sensor,mac,rssi,timestamp\n".as_bytes()).unwrap_err();
        assert_eq!(e, CsvError::MissingColumn("sensor_id"));
        let e = read_sightings("sensor_id,mac,rssi,timestamp\na,b\n".as_bytes()).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(rows in proptest::collection::vec("[ -~]{0,60}", 0..6)) {
            let data = format!("sensor_id,mac,rssi,timestamp\n{}", rows.join("\n"));
            for r in SightingReader::new(data.as_bytes()).unwrap() {
                let _ = r;
            }
        }

        #[test]
        fn timestamps_never_panic(s in "\\PC{0,40}") {
            let _ = parse_timestamp(&s);
        }
    }

    #[test]
    fn write_then_read_round_trips() {
        let s = Sighting {
            sensor_id: "s1".into(),
            mac: Mac::from_octets([2, 0, 0, 0, 0, 9]),
            rssi: -70,
            at: Timestamp(1_774_258_200_123),
        };
        let mut buf = Vec::new();
        write_sightings(&mut buf, std::slice::from_ref(&s)).unwrap();
        assert_eq!(read_sightings(buf.as_slice()).unwrap(), vec![s]);
    }
}
