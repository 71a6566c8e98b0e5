//! The stored layout, frozen: what this release writes, entry by entry, and
//! what a database written by the released layout loads as.
//!
//! Records default every field they lack (`#[serde(default)]`), so a field
//! added later needs no migration. The same default would hide a renamed
//! field: records on disk would load it as zero, and a key's cooldown or
//! lockout would silently vanish on upgrade. Renaming or retyping a field
//! fails both tests below instead. A deliberate layout change updates
//! [`WRITTEN`], and either keeps [`RELEASED`] loading in full (a
//! migration) or bumps the record version.

use chrono::{DateTime, Utc};

use super::*;
use crate::secret::Secret;
use crate::vocab::{Counters, FailureKind, Usage};

/// Every entry a store holds after saving [`full_model`], [`full_key`] and
/// a daily reset, then one flush: `tree key => value`, escaped.
const WRITTEN: &str = r#"keys "openai\0KEYID" => "{\"v\":1,\"locked_until\":\"2026-11-25T09:30:00Z\",\"lockouts\":2}"
meta "daily_reset_last" => "2026-11-24T03:00:00+00:00"
meta "generation" => "\0\0\0\0\0\0\0\u{1}"
models "openai\0KEYID\0gpt-4o/mini" => "{\"v\":1,\"usage\":{\"daily\":{\"requests\":1,\"successes\":2,\"failures\":3,\"prompt_tokens\":4,\"completion_tokens\":5},\"lifetime\":{\"requests\":11,\"successes\":12,\"failures\":13,\"prompt_tokens\":14,\"completion_tokens\":15}},\"cooldown_until\":\"2026-11-24T21:45:00Z\",\"hinted\":true,\"consecutive_failures\":6,\"last_failure\":\"quota\"}"
"#;

/// Entries as the released layout (record version 1) wrote them. Never edit
/// these: they stand for databases already on disk.
const RELEASED: &[(&str, &str, &[u8])] = &[
    (
        "models",
        "openai\0KEYID\0gpt-4o/mini",
        br#"{"v":1,"usage":{"daily":{"requests":1,"successes":2,"failures":3,"prompt_tokens":4,"completion_tokens":5},"lifetime":{"requests":11,"successes":12,"failures":13,"prompt_tokens":14,"completion_tokens":15}},"cooldown_until":"2026-11-24T21:45:00Z","hinted":true,"consecutive_failures":6,"last_failure":"quota"}"#,
    ),
    (
        "keys",
        "openai\0KEYID",
        br#"{"v":1,"locked_until":"2026-11-25T09:30:00Z","lockouts":2}"#,
    ),
    ("meta", "daily_reset_last", b"2026-11-24T03:00:00+00:00"),
    ("meta", "generation", &[0, 0, 0, 0, 0, 0, 0, 7]),
];

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The key the snapshot is written for; its id is part of the layout too
/// (records are found by it).
fn key_id() -> KeyId {
    Secret::new("sk-layout-snapshot-key-0001").id()
}

fn model_key() -> ModelKey {
    ModelKey {
        provider: "openai".into(),
        key_id: key_id(),
        model: "gpt-4o/mini".into(),
    }
}

/// A model record with no field at its default.
fn full_model() -> ModelRecord {
    let counters = |base: u64| Counters {
        requests: base + 1,
        successes: base + 2,
        failures: base + 3,
        prompt_tokens: base + 4,
        completion_tokens: base + 5,
    };
    ModelRecord {
        usage: Usage {
            daily: counters(0),
            lifetime: counters(10),
        },
        cooldown_until: Some(at("2026-11-24T21:45:00Z")),
        hinted: true,
        consecutive_failures: 6,
        last_failure: Some(FailureKind::Quota),
        windows: Default::default(),
    }
}

/// A key record with no field of the released layout at its default
/// (`disabled`, added later, is written only when set: see
/// [`a_disabled_key_adds_its_flag_only`]).
fn full_key() -> KeyRecord {
    KeyRecord {
        locked_until: Some(at("2026-11-25T09:30:00Z")),
        lockouts: 2,
        disabled: false,
    }
}

/// `tree key => value` for every entry of the store's trees, in order, with
/// the snapshot key's id written as `KEYID`.
fn dump(store: &Store) -> String {
    let id = key_id().to_string();
    let text = |bytes: &[u8]| format!("{:?}", String::from_utf8_lossy(bytes)).replace(&id, "KEYID");
    let mut out = String::new();
    for (name, tree) in [
        ("keys", &store.keys),
        ("meta", &store.meta),
        ("models", &store.models),
    ] {
        for entry in tree.iter() {
            let (k, v) = entry.unwrap();
            out.push_str(&format!("{name} {} => {}\n", text(&k), text(&v)));
        }
    }
    out
}

#[test]
fn the_written_layout_is_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.save_model(&model_key(), &full_model()).unwrap();
    store.save_key("openai", &key_id(), &full_key()).unwrap();
    store.set_last_reset(at("2026-11-24T03:00:00Z")).unwrap();
    store.flush().unwrap();
    assert_eq!(dump(&store), WRITTEN);
}

#[test]
fn the_released_layout_loads_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let id = key_id().to_string();
    {
        let store = Store::open(dir.path()).unwrap();
        for (tree, key, value) in RELEASED {
            let tree = match *tree {
                "models" => &store.models,
                "keys" => &store.keys,
                _ => &store.meta,
            };
            tree.insert(key.replace("KEYID", &id).into_bytes(), *value)
                .unwrap();
        }
        store.db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load_models(), vec![(model_key(), full_model())]);
    assert_eq!(
        store.load_keys(),
        vec![(("openai".to_string(), key_id()), full_key())]
    );
    assert_eq!(store.last_reset(), Some(at("2026-11-24T03:00:00Z")));
    let held = store.meta.get(generation::META_KEY).unwrap();
    assert_eq!(generation::decode(held.as_deref()), 7);
}

#[test]
fn a_disabled_key_adds_its_flag_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let disabled = KeyRecord {
        disabled: true,
        ..full_key()
    };
    store.save_key("openai", &key_id(), &disabled).unwrap();
    let written = store.keys.iter().next().unwrap().unwrap().1;
    assert_eq!(
        String::from_utf8_lossy(&written),
        r#"{"v":1,"locked_until":"2026-11-25T09:30:00Z","lockouts":2,"disabled":true}"#
    );
    assert_eq!(
        store.load_keys(),
        vec![(("openai".to_string(), key_id()), disabled)]
    );
}
