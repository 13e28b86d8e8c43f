//! Stores and their sensors: where sightings happen and when a store is open.

use fineline_core::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// One day's opening hours in the store's local time, `open <= t < close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpeningHours {
    /// Opening time, inclusive.
    pub open: Time,
    /// Closing time, exclusive.
    pub close: Time,
}

impl OpeningHours {
    /// Opening hours from `open` to `close` (local time).
    pub fn new(open: Time, close: Time) -> Self {
        Self { open, close }
    }

    /// From whole hours, e.g. `hours(9, 20)`; `hours(0, 24)` is all day.
    pub fn hours(open: i8, close: i8) -> Self {
        let t = |h: i8| {
            if h >= 24 {
                Time::MAX
            } else {
                Time::constant(h, 0, 0, 0)
            }
        };
        Self::new(t(open), t(close))
    }
}

/// A store as its admin registers it. Serializable: this is the record the
/// server keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreConfig {
    /// The store's id: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub store_id: String,
    /// Ids of the Wi-Fi sensors installed in the store; each belongs to one store only.
    pub sensors: Vec<String>,
    /// Monday first; `None` means closed all day.
    pub opening_hours: [Option<OpeningHours>; 7],
    /// IANA name, e.g. `Europe/Berlin`.
    pub time_zone: String,
}

/// Why a store could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store id is malformed, or another store already has it.
    #[error("store id must be 1 to 64 characters of letters, digits, '-', '_' or '.'")]
    BadStoreId,
    /// A store registered without any sensor.
    #[error("store {store} has no sensors")]
    NoSensors {
        /// The store id given.
        store: String,
    },
    /// A sensor id that is empty, too long, or has commas or whitespace.
    #[error("sensor id must be 1 to 64 printable characters without ',' or whitespace")]
    BadSensorId,
    /// Not an IANA time zone name; carries the name given.
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Berlin)")]
    UnknownTimeZone(String),
    /// Opening hours that close before they open.
    #[error("opening hours on weekday {weekday} close before they open (closing after midnight is not supported)")]
    BadHours {
        /// Which day, 0 for Monday.
        weekday: usize,
    },
    /// A sensor already registered, to this or another store.
    #[error("sensor {sensor} is registered to more than one store")]
    DuplicateSensor {
        /// The sensor id given.
        sensor: String,
    },
}

/// A validated store with its time zone resolved.
#[derive(Debug, Clone)]
pub struct Store {
    config: StoreConfig,
    tz: TimeZone,
}

impl Store {
    /// Validates the configuration and resolves its time zone.
    pub fn new(config: StoreConfig) -> Result<Self, StoreError> {
        let ok_id = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok_id(&config.store_id) {
            return Err(StoreError::BadStoreId);
        }
        if config.sensors.is_empty() {
            return Err(StoreError::NoSensors {
                store: config.store_id.clone(),
            });
        }
        for s in &config.sensors {
            if s.is_empty()
                || s.len() > 64
                || s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',')
            {
                return Err(StoreError::BadSensorId);
            }
        }
        for (weekday, h) in config.opening_hours.iter().enumerate() {
            if let Some(h) = h {
                if h.close <= h.open {
                    return Err(StoreError::BadHours { weekday });
                }
            }
        }
        let tz = TimeZone::get(&config.time_zone)
            .map_err(|_| StoreError::UnknownTimeZone(config.time_zone.clone()))?;
        Ok(Self { config, tz })
    }

    /// The store as registered.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The store's id.
    pub fn id(&self) -> &str {
        &self.config.store_id
    }

    /// The store's resolved time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Local calendar date and hour of a moment.
    pub fn local_day_hour(&self, at: Timestamp) -> (Date, u8) {
        let z = self.zoned(at);
        (z.date(), z.hour() as u8)
    }

    /// The store's local calendar day of a moment.
    pub fn local_day(&self, at: Timestamp) -> Date {
        self.zoned(at).date()
    }

    /// Whether the store is open at a moment, in its own local time.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let z = self.zoned(at);
        let wd = z.weekday().to_monday_zero_offset() as usize;
        match self.config.opening_hours[wd] {
            Some(h) => {
                let t = z.time();
                h.open <= t && (t < h.close || h.close == Time::MAX)
            }
            None => false,
        }
    }

    /// Opening hours on a local date, if open that day.
    pub fn hours_on(&self, day: Date) -> Option<OpeningHours> {
        self.config.opening_hours[day.weekday().to_monday_zero_offset() as usize]
    }

    /// The instant a local date and time happens (earlier one if ambiguous).
    pub fn instant(&self, day: Date, time: Time) -> Timestamp {
        let ts = self
            .tz
            .to_ambiguous_zoned(day.to_datetime(time))
            .compatible()
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(0);
        Timestamp(ts)
    }

    fn zoned(&self, at: Timestamp) -> jiff::Zoned {
        let ts = jiff::Timestamp::from_millisecond(at.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        ts.to_zoned(self.tz.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn berlin() -> StoreConfig {
        let h = Some(OpeningHours::hours(9, 20));
        StoreConfig {
            store_id: "berlin-mitte".into(),
            sensors: vec!["s1".into(), "s2".into()],
            opening_hours: [h, h, h, h, h, h, None],
            time_zone: "Europe/Berlin".into(),
        }
    }

    #[test]
    fn local_time_and_hours() {
        let s = Store::new(berlin()).unwrap();
        // 2026-03-23 is a Monday; 08:30 UTC is 09:30 in Berlin (CET).
        let monday = jiff::civil::date(2026, 3, 23);
        let at = s.instant(monday, Time::constant(9, 30, 0, 0));
        assert_eq!(s.local_day_hour(at), (monday, 9));
        assert!(s.is_open(at));
        assert!(!s.is_open(s.instant(monday, Time::constant(8, 59, 0, 0))));
        assert!(!s.is_open(s.instant(monday, Time::constant(20, 0, 0, 0))));
        let sunday = jiff::civil::date(2026, 3, 29);
        assert!(!s.is_open(s.instant(sunday, Time::constant(12, 0, 0, 0))));
    }

    #[test]
    fn rejects_bad_configs() {
        let mut c = berlin();
        c.time_zone = "Mars/Olympus".into();
        assert!(matches!(Store::new(c), Err(StoreError::UnknownTimeZone(_))));
        let mut c = berlin();
        c.opening_hours[0] = Some(OpeningHours::hours(20, 9));
        assert!(matches!(Store::new(c), Err(StoreError::BadHours { .. })));
        let mut c = berlin();
        c.sensors.clear();
        assert!(Store::new(c).is_err());
    }
}
