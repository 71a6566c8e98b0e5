//! The files of the request logs.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{Redactor, RequestLog, FAILURES_MAX_BYTES};

/// Distinguishes request directories written in the same millisecond.
static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes one request's directory.
pub fn write_request(dir: &Path, redactor: &Redactor, log: &RequestLog) -> std::io::Result<()> {
    let stamp = log
        .started
        .map(|t| t.format("%Y%m%dT%H%M%S%.3fZ").to_string())
        .unwrap_or_default();
    // The sequence number keeps two requests with the same client-chosen
    // id in the same millisecond apart.
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let folder = dir.join(format!("{stamp}_{}_{seq}", sanitize(&log.id)));
    fs::create_dir_all(&folder)?;
    let request = serde_json::to_string_pretty(&log.request).unwrap_or_default();
    fs::write(folder.join("request.json"), redactor.redact(&request))?;
    if let Some(body) = &log.response {
        let text = String::from_utf8_lossy(body);
        let pretty = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.into_owned());
        fs::write(folder.join("response.json"), redactor.redact(&pretty))?;
    }
    if !log.events.is_empty() {
        let mut lines = log.events.join("\n");
        lines.push('\n');
        fs::write(folder.join("stream.jsonl"), redactor.redact(&lines))?;
    }
    let mut metadata = serde_json::to_value(log).unwrap_or(Value::Null);
    if let Some(headers) = metadata.get_mut("headers") {
        *headers = Value::Array(
            log.headers
                .iter()
                .map(|(n, v)| serde_json::json!([n, redactor.header(n, v)]))
                .collect(),
        );
    }
    let metadata = serde_json::to_string_pretty(&metadata).unwrap_or_default();
    fs::write(folder.join("metadata.json"), redactor.redact(&metadata))
}

/// Appends one line to `failures.jsonl`, rotating it when it is too big.
pub fn append_failure(dir: &Path, redactor: &Redactor, line: &Value) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = dir.join("failures.jsonl");
    if fs::metadata(&path).is_ok_and(|m| m.len() > FAILURES_MAX_BYTES) {
        fs::rename(&path, dir.join("failures.jsonl.1"))?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    writeln!(file, "{}", redactor.redact(&line.to_string()))
}

/// Request ids come from clients: keep them to safe file-name characters.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn ids_become_safe_names() {
        assert_eq!(sanitize("../../etc/passwd"), "______etc_passwd");
        assert_eq!(sanitize("req_abc-123"), "req_abc-123");
    }

    #[test]
    fn failures_rotate_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let r = Redactor::new([&Secret::new("sk-secret-key-000001")]);
        let big = "x".repeat(1024);
        let line = serde_json::json!({"why": big, "key": "sk-secret-key-000001"});
        let lines_to_rotate = FAILURES_MAX_BYTES as usize / 1024 + 2;
        for _ in 0..lines_to_rotate {
            append_failure(dir.path(), &r, &line).unwrap();
        }
        assert!(dir.path().join("failures.jsonl.1").exists());
        let text = std::fs::read_to_string(dir.path().join("failures.jsonl")).unwrap();
        assert!(!text.contains("sk-secret-key-000001") && text.contains("sk-…0001"));
    }
}
