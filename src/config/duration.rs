//! Durations in settings: `"30s"`, `"1m30s"`, `"250ms"`, or a number of
//! seconds (the original's `GLOBAL_TIMEOUT=30`).

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Parses a duration setting, with a message that says what is accepted.
pub fn parse(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(raw).map_err(|_| {
        format!("`{raw}` is not a duration: use e.g. \"30s\", \"1m30s\", \"250ms\" or 30")
    })
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => parse(&n.to_string()),
        Raw::Text(t) => parse(&t),
    }
    .map_err(serde::de::Error::custom)
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse("soon").unwrap_err().contains("\"30s\""));
        assert!(parse("-3").is_err());
    }
}
