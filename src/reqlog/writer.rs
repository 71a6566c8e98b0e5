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

/// Deletes the oldest request directories so that `keep` remain; how many
/// it deleted. Only directories named like [`write_request`] names them
/// (`20261124T120000.000Z_…`) are counted or touched.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| is_request_dir_name(name))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if names.len() <= keep {
        return Ok(0);
    }
    // The names begin with the time: sorted, the oldest come first.
    names.sort_unstable();
    let excess = names.len() - keep;
    for name in &names[..excess] {
        let path = dir.join(name);
        if path.is_dir() {
            fs::remove_dir_all(path)?;
        }
    }
    Ok(excess)
}

fn is_request_dir_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 21
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && name[15..].contains("Z_")
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

    #[test]
    fn pruning_keeps_the_newest_request_directories_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let names = [
            "20261124T120000.001Z_req_a_0",
            "20261124T120000.002Z_req_b_1",
            "20261125T000000.000Z_req_c_2",
        ];
        for name in names {
            fs::create_dir_all(dir.join(name)).unwrap();
            fs::write(dir.join(name).join("metadata.json"), "{}").unwrap();
        }
        fs::write(dir.join("failures.jsonl"), "").unwrap();
        fs::create_dir_all(dir.join("mine")).unwrap();
        assert_eq!(prune(dir, 5).unwrap(), 0);
        assert_eq!(prune(dir, 1).unwrap(), 2);
        let mut left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [names[2], "failures.jsonl", "mine"]);
        assert_eq!(prune(&dir.join("absent"), 1).unwrap(), 0);
    }
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
