//! Stored responses: reads, deletes, TTL, both caps, durability, ids and the
//! frozen record layout. Time is passed as `now`, never slept.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::super::Store;
use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn t0() -> DateTime<Utc> {
    at("2026-12-01T10:00:00Z")
}

fn record(text: &str) -> StoredResponse {
    StoredResponse {
        created_at: 1_764_583_200,
        previous_response_id: None,
        // Keys in alphabetical order: the layout snapshot must not depend
        // on whether serde_json keeps insertion order (a feature another
        // crate of the workspace may turn on).
        response: json!({"id": "resp_x", "output": [{"content": text, "type": "message"}]}),
        input: vec![json!({"content": text, "role": "user", "type": "message"})],
    }
}

fn open(dir: &tempfile::TempDir, limits: ResponseLimits) -> (Store, ResponseStore) {
    let store = Store::open(dir.path()).unwrap();
    let responses = store.responses(limits).unwrap();
    (store, responses)
}

#[test]
fn put_get_input_items_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, responses) = open(&dir, ResponseLimits::default());
    responses.put("resp_a1", &record("hi"), t0()).unwrap();
    assert_eq!(responses.get("resp_a1", t0()).unwrap(), Some(record("hi")));
    assert_eq!(
        responses.input_items("resp_a1", t0()).unwrap(),
        Some(record("hi").input)
    );
    assert_eq!(responses.get("resp_unknown", t0()).unwrap(), None);
    assert!(responses.total_bytes() > 0);
    assert!(responses.delete("resp_a1").unwrap());
    assert!(!responses.delete("resp_a1").unwrap(), "already gone");
    assert_eq!(responses.get("resp_a1", t0()).unwrap(), None);
    assert_eq!(responses.input_items("resp_a1", t0()).unwrap(), None);
    assert_eq!(responses.total_bytes(), 0);
}

#[test]
fn a_record_expires_after_the_ttl_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ResponseLimits {
        ttl: Duration::from_secs(3600),
        ..ResponseLimits::default()
    };
    let (_store, responses) = open(&dir, limits);
    responses.put("resp_old", &record("a"), t0()).unwrap();
    let almost = t0() + TimeDelta::seconds(3599);
    assert!(responses.get("resp_old", almost).unwrap().is_some());
    let later = t0() + TimeDelta::seconds(3600);
    assert_eq!(responses.input_items("resp_old", later).unwrap(), None);
    assert_eq!(responses.total_bytes(), 0, "removed when met");
    assert!(!responses.delete("resp_old").unwrap());
}

#[test]
fn purging_expired_records_is_bounded_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ResponseLimits {
        ttl: Duration::from_secs(60),
        ..ResponseLimits::default()
    };
    let (_store, responses) = open(&dir, limits);
    for i in 0..70 {
        let now = t0() + TimeDelta::milliseconds(i);
        responses
            .put(&format!("resp_{i}"), &record("x"), now)
            .unwrap();
    }
    let later = t0() + TimeDelta::seconds(120);
    assert_eq!(responses.purge_expired(later).unwrap(), 64);
    assert_eq!(responses.purge_expired(later).unwrap(), 6);
    assert_eq!(responses.purge_expired(later).unwrap(), 0);
    assert_eq!(responses.total_bytes(), 0);
}

#[test]
fn a_response_over_the_cap_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ResponseLimits {
        max_response_bytes: 1_000,
        ..ResponseLimits::default()
    };
    let (_store, responses) = open(&dir, limits);
    let big = record(&"x".repeat(2_000));
    let err = responses.put("resp_big", &big, t0()).unwrap_err();
    assert!(
        matches!(err, PutError::TooLarge { max: 1_000, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("more than the 1000 bytes"), "{text}");
    assert_eq!(responses.get("resp_big", t0()).unwrap(), None);
    assert_eq!(responses.total_bytes(), 0);
}

#[test]
fn past_the_total_cap_the_oldest_are_evicted_first() {
    let dir = tempfile::tempdir().unwrap();
    let size = {
        let probe = tempfile::tempdir().unwrap();
        let (_store, responses) = open(&probe, ResponseLimits::default());
        responses.put("resp_0", &record("x"), t0()).unwrap();
        responses.total_bytes()
    };
    let limits = ResponseLimits {
        max_total_bytes: 3 * size,
        ..ResponseLimits::default()
    };
    let (_store, responses) = open(&dir, limits);
    for i in 0..5 {
        let now = t0() + TimeDelta::seconds(i);
        responses
            .put(&format!("resp_{i}"), &record("x"), now)
            .unwrap();
    }
    let kept: Vec<bool> = (0..5)
        .map(|i| responses.get(&format!("resp_{i}"), t0()).unwrap().is_some())
        .collect();
    assert_eq!(kept, [false, false, true, true, true]);
    assert_eq!(responses.total_bytes(), 3 * size);
}

#[test]
fn records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let total = {
        let (store, responses) = open(&dir, ResponseLimits::default());
        responses.put("resp_kept", &record("a"), t0()).unwrap();
        // Written behind: on disk with the database's next flush.
        store.flush().unwrap();
        responses.total_bytes()
    };
    let (_store, responses) = open(&dir, ResponseLimits::default());
    assert_eq!(responses.get("resp_kept", t0()).unwrap(), Some(record("a")));
    assert_eq!(responses.total_bytes(), total, "the total is counted again");
}

#[test]
fn reopening_the_database_keeps_response_stores_working() {
    let dir = tempfile::tempdir().unwrap();
    let (store, responses) = open(&dir, ResponseLimits::default());
    responses.put("resp_before", &record("a"), t0()).unwrap();
    let location = store.location();
    // What the key pool does after a failed write: drop its store, open
    // the database again. The response trees must not hold its lock.
    drop(store);
    let reopened = Store::reopen(&location).unwrap();
    assert_eq!(
        responses.get("resp_before", t0()).unwrap(),
        Some(record("a"))
    );
    responses.put("resp_after", &record("b"), t0()).unwrap();
    drop(reopened);
}

#[test]
fn invalid_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, responses) = open(&dir, ResponseLimits::default());
    let long = format!("resp_{}", "a".repeat(MAX_ID_LEN));
    for id in [
        "",
        "resp_",
        "msg_abc",
        "resp_a/b",
        "resp_a\0b",
        "resp_é",
        &long,
    ] {
        assert_eq!(
            responses.put(id, &record("a"), t0()),
            Err(PutError::InvalidId),
            "{id:?}"
        );
        assert_eq!(responses.get(id, t0()).unwrap(), None);
        assert!(!responses.delete(id).unwrap());
    }
    let longest = format!("resp_{}", "a".repeat(MAX_ID_LEN - 5));
    responses.put(&longest, &record("a"), t0()).unwrap();
    responses.put("resp_AZaz09_-", &record("a"), t0()).unwrap();
}

#[test]
fn a_chain_is_read_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, responses) = open(&dir, ResponseLimits::default());
    let mut second = record("2");
    second.previous_response_id = Some("resp_1".into());
    let mut third = record("3");
    third.previous_response_id = Some("resp_2".into());
    responses.put("resp_1", &record("1"), t0()).unwrap();
    responses.put("resp_2", &second, t0()).unwrap();
    responses.put("resp_3", &third, t0()).unwrap();
    let chain = responses.chain("resp_3", t0()).unwrap();
    assert_eq!(chain, vec![record("1"), second, third]);
    assert_eq!(
        responses.chain("resp_9", t0()),
        Err(ChainError::NotFound("resp_9".into()))
    );
    responses.delete("resp_1").unwrap();
    let err = responses.chain("resp_3", t0()).unwrap_err();
    assert_eq!(
        err,
        ChainError::Broken {
            missing: "resp_1".into()
        }
    );
}

#[test]
fn the_module_never_sees_a_key() {
    for source in [include_str!("mod.rs"), include_str!("record.rs")] {
        for word in [concat!("Sec", "ret"), concat!("sec", "ret::")] {
            assert!(!source.contains(word), "the module mentions {word}");
        }
    }
}

/// Every entry the response trees hold after one `put`, escaped; the index
/// key as its time (milliseconds) and id, its value (the record's size) as
/// `SIZE` when it is the record's length. A renamed
/// or retyped field fails this test; a deliberate change updates it and
/// either keeps [`RELEASED`] loading or bumps the record version.
const WRITTEN: &str = r#"responses "resp_layout" => "{\"v\":1,\"stored_at_ms\":1796119200000,\"created_at\":1764583200,\"previous_response_id\":\"resp_before\",\"response\":{\"id\":\"resp_x\",\"output\":[{\"content\":\"hi\",\"type\":\"message\"}]},\"input\":[{\"content\":\"hi\",\"role\":\"user\",\"type\":\"message\"}]}"
responses_by_age 1796119200000 "resp_layout" => SIZE
"#;

/// A record as the released layout wrote it. Never edit: it stands for
/// databases already on disk.
const RELEASED: &[u8] = br#"{"v":1,"stored_at_ms":1796119200000,"created_at":1764583200,"previous_response_id":"resp_before","response":{"id":"resp_x","output":[{"content":"hi","type":"message"}]},"input":[{"content":"hi","role":"user","type":"message"}]}"#;

fn layout_record() -> StoredResponse {
    StoredResponse {
        previous_response_id: Some("resp_before".into()),
        ..record("hi")
    }
}

#[test]
fn the_written_response_layout_is_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, responses) = open(&dir, ResponseLimits::default());
    responses
        .put("resp_layout", &layout_record(), at("2026-12-01T10:00:00Z"))
        .unwrap();
    let text = |bytes: &[u8]| format!("{:?}", String::from_utf8_lossy(bytes));
    let mut out = String::new();
    let mut size = 0;
    for entry in store.db.open_tree("responses").unwrap().iter() {
        let (k, v) = entry.unwrap();
        size = v.len() as u64;
        out.push_str(&format!("responses {} => {}\n", text(&k), text(&v)));
    }
    for entry in store.db.open_tree("responses_by_age").unwrap().iter() {
        let (k, v) = entry.unwrap();
        let (time, id) = k.split_at(8);
        let time = u64::from_be_bytes(time.try_into().unwrap());
        let held = u64::from_be_bytes(v.as_ref().try_into().unwrap());
        let held = match held == size {
            true => "SIZE".to_string(),
            false => held.to_string(),
        };
        out.push_str(&format!("responses_by_age {time} {} => {held}\n", text(id)));
    }
    assert_eq!(out, WRITTEN);
}

#[test]
fn the_released_response_layout_loads_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stored_at: u64 = 1_796_119_200_000;
    let mut age = stored_at.to_be_bytes().to_vec();
    age.extend_from_slice(b"resp_layout");
    let size = (RELEASED.len() as u64).to_be_bytes();
    store
        .db
        .open_tree("responses")
        .unwrap()
        .insert("resp_layout", RELEASED)
        .unwrap();
    store
        .db
        .open_tree("responses_by_age")
        .unwrap()
        .insert(age, &size)
        .unwrap();
    let responses = store.responses(ResponseLimits::default()).unwrap();
    assert_eq!(responses.total_bytes(), RELEASED.len() as u64);
    let now = at("2026-12-02T10:00:00Z");
    assert_eq!(
        responses.get("resp_layout", now).unwrap(),
        Some(layout_record())
    );
    assert!(responses.delete("resp_layout").unwrap());
    assert_eq!(responses.total_bytes(), 0);
}
