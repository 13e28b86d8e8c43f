//! The event batch wire format and its lenient parser: one bad event is
//! rejected by index with its field named, and the rest still count.

use fineline_core::{EventKind, ItemId, Purpose, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest batch `POST /v1/events` takes.
pub const MAX_BATCH: usize = 10_000;
/// Largest properties object per event, in bytes of JSON.
pub const MAX_PROPERTIES_BYTES: usize = 8 * 1024;

/// One event as sent by the business's systems.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The business's own id for the person (email, customer number).
    /// Replaced by a keyed pseudonym at once; never stored.
    pub subject_id: String,
    /// `view`, `add_to_cart`, `purchase`, `app_open`, `location`, ...
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: EventKind,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub item: Option<ItemId>,
    /// Free-form properties (a JSON object); sealed under the person's key.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Box<RawValue>>,
    /// RFC 3339 time or milliseconds since the Unix epoch.
    #[schema(value_type = String)]
    pub timestamp: WireTime,
    /// The purpose this event serves; it is stored only if the person had
    /// granted it at `timestamp`.
    #[schema(value_type = String)]
    pub purpose: Purpose,
}

/// A time given as RFC 3339 text or as epoch milliseconds.
pub struct WireTime(pub Timestamp);

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Ok(WireTime(Timestamp(ms))),
            Raw::Text(s) => parse_time(&s)
                .map(WireTime)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parse RFC 3339 (e.g. `2026-11-23T10:00:00Z`) or decimal epoch millis.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Timestamp(ms));
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| Timestamp(t.as_millisecond()))
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor epoch milliseconds"))
}

/// Why one event of a batch was refused.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub index: usize,
    /// `invalid_field`, `future_timestamp`, `no_consent`, `erased`...
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Rejection {
    pub fn field(index: usize, field: &str, message: impl Into<String>) -> Self {
        Self {
            index,
            reason: "invalid_field".into(),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// Split a batch into per-event parse results. Fails as a whole only when
/// the body is not a JSON array or is too large.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Result<EventIn, Rejection>>, crate::error::ApiError> {
    use crate::error::ApiError;
    let items: Vec<&RawValue> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body must be a JSON array of events: {e}")))?;
    if items.len() > MAX_BATCH {
        return Err(ApiError::field(
            "body",
            format!(
                "a batch holds at most {MAX_BATCH} events, got {}",
                items.len()
            ),
        ));
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| parse_one(i, raw.get()))
        .collect())
}

fn parse_one(index: usize, json: &str) -> Result<EventIn, Rejection> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let ev: EventIn = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // An unknown key "" yields an empty path: name the event instead,
        // so every rejection names a field.
        let field = if path == "." || path.is_empty() {
            missing_field(&e.inner().to_string()).unwrap_or_else(|| "event".into())
        } else {
            path
        };
        Rejection::field(index, &field, e.inner().to_string())
    })?;
    if ev.subject_id.is_empty() || ev.subject_id.len() > 256 {
        return Err(Rejection::field(index, "subject_id", "must be 1-256 bytes"));
    }
    if let Some(p) = &ev.properties {
        if !p.get().trim_start().starts_with('{') {
            return Err(Rejection::field(
                index,
                "properties",
                "must be a JSON object",
            ));
        }
        if p.get().len() > MAX_PROPERTIES_BYTES {
            return Err(Rejection::field(
                index,
                "properties",
                format!("at most {MAX_PROPERTIES_BYTES} bytes"),
            ));
        }
    }
    Ok(ev)
}

/// serde reports a missing field at the parent path; pull its name out
/// of the message so the client is told which one.
fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_and_bad_events_are_told_apart_by_index() {
        let body = br#"[
            {"subject_id":"a@x","type":"view","item":"sku1","timestamp":"2026-11-23T10:00:00Z","purpose":"personalization"},
            {"subject_id":"a@x","type":"view","timestamp":1,"purpose":"marketing"},
            {"subject_id":"a@x","type":"view","purpose":"analytics"},
            {"subject_id":"a@x","type":"View","timestamp":1,"purpose":"analytics"},
            {"subject_id":"a@x","type":"view","timestamp":1,"purpose":"analytics","properties":[1]}
        ]"#;
        let parsed = parse_batch(body).unwrap();
        assert!(parsed[0].is_ok());
        let field = |i: usize| parsed[i].as_ref().err().unwrap().field.clone().unwrap();
        assert_eq!(field(1), "purpose");
        assert_eq!(field(2), "timestamp");
        assert_eq!(field(3), "type");
        assert_eq!(field(4), "properties");
    }

    /// Found by fuzzing: an unknown empty key was refused with field "".
    #[test]
    fn an_empty_unknown_key_still_names_a_field() {
        let body =
            br#"[{"subject_id":"a@x","type":"view","timestamp":1,"purpose":"analytics","":1}]"#;
        let parsed = parse_batch(body).unwrap();
        let r = parsed[0].as_ref().err().unwrap();
        assert_eq!(r.field.as_deref(), Some("event"));
        assert!(r.message.contains("unknown field"), "{}", r.message);
    }

    #[test]
    fn rfc3339_and_millis_agree() {
        assert_eq!(
            parse_time("1970-01-01T00:00:01Z").unwrap(),
            parse_time("1000").unwrap()
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn non_arrays_are_refused_whole() {
        assert!(parse_batch(b"{}").is_err());
        assert!(parse_batch(b"not json").is_err());
    }

    proptest! {
        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_batch(&body);
        }

        #[test]
        fn parser_never_panics_on_arrays(s in "\\[\\{\"[a-z_]{1,12}\":(\"[ -~]{0,12}\"|[0-9]{1,5})\\}\\]") {
            let _ = parse_batch(s.as_bytes());
        }
    }
}
