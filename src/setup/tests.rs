//! Unit tests of `setup`: the `.env` editing and one interactive run.

use std::fs;

use super::edit::{key_suffix, parse_values};
use super::*;

fn change(provider: &str, keys: &[&str]) -> Change {
    Change {
        provider: provider.into(),
        base_url: None,
        keys: keys.iter().map(|k| k.to_string()).collect(),
        ..Change::default()
    }
}

fn value(content: &str, var: &str) -> Option<String> {
    parse_values(content).unwrap().get(var).map(String::from)
}

const PROXY: &str = "PROXY_API_KEY=proxy-secret-abcdef-0000\n";

#[test]
fn appends_numbered_keys_to_an_empty_file() {
    let out = apply("", &change("groq", &["gsk_first_0001", "gsk_second_0002"])).unwrap();
    assert!(out.changed);
    assert_eq!(
        value(&out.content, "GROQ_API_KEY_1").as_deref(),
        Some("gsk_first_0001")
    );
    assert_eq!(
        value(&out.content, "GROQ_API_KEY_2").as_deref(),
        Some("gsk_second_0002")
    );
    assert!(out.events.contains(&Event::Added {
        var: "GROQ_API_KEY_2".into(),
        mask: "gsk…0002".into()
    }));
    assert!(out.content.ends_with('\n'));
}

#[test]
fn numbering_continues_after_the_highest_suffix() {
    let existing = format!(
        "{PROXY}GROQ_API_KEY=gsk_bare_key_000\nGROQ_API_KEY_7=gsk_seventh_007\n\
         GROQ_API_KEY_backup=gsk_backup_key_0\nGROQ_API_KEY_3=gsk_third_key_03\n\
         GROQ_EXTRA_API_KEY_9=other_provider_9\n"
    );
    let out = apply(&existing, &change("groq", &["gsk_new_key_0008"])).unwrap();
    assert!(out.content.starts_with(&existing));
    assert_eq!(
        out.content.strip_prefix(&existing),
        Some("GROQ_API_KEY_8=gsk_new_key_0008\n")
    );
}

#[test]
fn a_key_already_present_is_skipped() {
    let existing =
        format!("{PROXY}GROQ_API_KEY=\"gsk_present_0001\"\nOPENAI_API_KEY_1=gsk_other_0002\n");
    let out = apply(
        &existing,
        &change(
            "groq",
            &["gsk_present_0001", " gsk_other_0002 ", "gsk_other_0002"],
        ),
    )
    .unwrap();
    assert_eq!(
        out.events,
        vec![
            Event::AlreadyPresent {
                var: "GROQ_API_KEY".into(),
                mask: "gsk…0001".into()
            },
            // Another provider's key is not this provider's.
            Event::Added {
                var: "GROQ_API_KEY_1".into(),
                mask: "gsk…0002".into()
            },
            Event::GivenTwice {
                mask: "gsk…0002".into()
            },
        ]
    );
    let again = apply(&out.content, &change("groq", &["gsk_other_0002"])).unwrap();
    assert!(!again.changed);
    assert_eq!(again.content, out.content);
}

#[test]
fn empty_keys_are_rejected() {
    assert!(apply("", &change("groq", &["  "])).is_err());
    let err = apply("", &change("groq", &["gsk_with\nbreak_0001"]))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("break_0001"), "{err}");
}

#[test]
fn proxy_key_is_generated_only_when_absent_or_empty() {
    let out = apply("", &change("groq", &["gsk_first_0001"])).unwrap();
    let key = value(&out.content, PROXY_KEY_VAR).unwrap();
    assert!(key.len() >= 32 && key.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(out
        .events
        .contains(&Event::ProxyKeyGenerated { mask: mask(&key) }));

    let kept = apply(PROXY, &change("groq", &["gsk_first_0001"])).unwrap();
    assert_eq!(
        value(&kept.content, PROXY_KEY_VAR).as_deref(),
        Some("proxy-secret-abcdef-0000")
    );
    assert!(!kept
        .events
        .iter()
        .any(|e| matches!(e, Event::ProxyKeyGenerated { .. })));

    // An empty line is filled in place, not repeated.
    let existing = "# clients' key\nPROXY_API_KEY=\nOTHER=1\n";
    let filled = apply(existing, &change("groq", &[])).unwrap();
    let lines: Vec<&str> = filled.content.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "# clients' key");
    assert!(lines[1].starts_with("PROXY_API_KEY=") && lines[1].len() > 40);
    assert_eq!(lines[2], "OTHER=1");
    assert_ne!(generate_proxy_key(), generate_proxy_key());
}

#[test]
fn base_url_is_written_then_replaced_in_place() {
    let mut c = change("vllm", &["unused"]);
    c.base_url = Some("http://localhost:8000/v1".into());
    let out = apply(PROXY, &c).unwrap();
    assert_eq!(
        out.content,
        format!("{PROXY}VLLM_API_BASE=http://localhost:8000/v1\nVLLM_API_KEY_1=unused\n")
    );
    c.base_url = Some("http://gpu-box:9000/v1".into());
    let again = apply(&out.content, &c).unwrap();
    assert_eq!(
        again.content,
        format!("{PROXY}VLLM_API_BASE=http://gpu-box:9000/v1\nVLLM_API_KEY_1=unused\n")
    );
    assert!(again.events.contains(&Event::BaseSet {
        var: "VLLM_API_BASE".into(),
        url: "http://gpu-box:9000/v1".into(),
        replaced: true
    }));
    let same = apply(&again.content, &c).unwrap();
    assert!(!same.changed);
}

#[test]
fn comments_order_and_line_endings_are_kept() {
    let existing = "# header comment\r\n\
                    PROXY_API_KEY=proxy-secret-abcdef-0000\r\n\
                    \r\n\
                    # GROQ_API_KEY_5=commented-out\r\n\
                    export OPENAI_API_KEY=sk-openai-key-0001 # inline\r\n\
                    GROQ_API_KEY_1=\r\n\
                    LAST=no-newline";
    let out = apply(
        existing,
        &change("groq", &["gsk_first_0001", "gsk_second_0002"]),
    )
    .unwrap();
    assert_eq!(
        out.content,
        "# header comment\r\n\
         PROXY_API_KEY=proxy-secret-abcdef-0000\r\n\
         \r\n\
         # GROQ_API_KEY_5=commented-out\r\n\
         export OPENAI_API_KEY=sk-openai-key-0001 # inline\r\n\
         GROQ_API_KEY_1=gsk_first_0001\r\n\
         LAST=no-newline\n\
         GROQ_API_KEY_2=gsk_second_0002\n"
    );
}

#[test]
fn variable_references_are_not_placeholders() {
    let existing = "GROQ_API_KEY_1=${VAULT_GROQ}\n";
    let change = Change {
        provider: "groq".into(),
        keys: vec!["gsk_new_secret_value_0001".into()],
        base_url: None,
        ..Change::default()
    };
    let edited = apply(existing, &change).unwrap();
    assert!(
        edited.content.contains("GROQ_API_KEY_1=${VAULT_GROQ}"),
        "{}",
        edited.content
    );
    assert!(
        edited.content.contains("GROQ_API_KEY_2="),
        "{}",
        edited.content
    );
}

#[test]
fn placeholders_from_the_example_are_filled() {
    let example = include_str!("../../.env.example");
    let out = apply(
        example,
        &change("groq", &["gsk_first_0001", "gsk_second_0002"]),
    )
    .unwrap();
    assert_eq!(
        value(&out.content, "GROQ_API_KEY_1").as_deref(),
        Some("gsk_first_0001")
    );
    assert_eq!(
        value(&out.content, "GROQ_API_KEY_2").as_deref(),
        Some("gsk_second_0002")
    );
    assert!(value(&out.content, PROXY_KEY_VAR).is_some_and(|v| v.len() == 64));
    assert_eq!(
        out.content.lines().count(),
        example.lines().count() + 1,
        "only GROQ_API_KEY_2 is appended"
    );
    assert_eq!(count_keys(&out.content, "groq").unwrap(), 2);
}

#[test]
fn values_with_spaces_or_hashes_are_quoted_and_read_back() {
    let keys = ["key with space 01", "key#hash#000001", "k$HOME\"q\\ue'0001"];
    let out = apply(PROXY, &change("custom", &keys)).unwrap();
    assert!(out
        .content
        .contains("CUSTOM_API_KEY_1=\"key with space 01\"\n"));
    assert!(out
        .content
        .contains("CUSTOM_API_KEY_2=\"key#hash#000001\"\n"));
    for (i, key) in keys.iter().enumerate() {
        let var = format!("CUSTOM_API_KEY_{}", i + 1);
        assert_eq!(value(&out.content, &var).as_deref(), Some(*key));
    }
}

#[test]
fn malformed_files_are_refused_without_showing_them() {
    let err = apply(
        "GROQ_API_KEY=\"gsk_unclosed_0001\n",
        &change("groq", &["x"]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("malformed") && !err.contains("unclosed"),
        "{err}"
    );
}

#[test]
fn names_and_urls_are_validated() {
    assert_eq!(validate_provider("VLLM").unwrap(), "vllm");
    assert_eq!(validate_provider("nvidia_nim").unwrap(), "nvidia_nim");
    for bad in ["", "my-llm", "9lives", "proxy", "a b", "x_api_key"] {
        assert!(validate_provider(bad).is_err(), "{bad}");
    }
    assert_eq!(
        validate_base_url(" http://localhost:8000/v1/ ").unwrap(),
        "http://localhost:8000/v1"
    );
    for bad in [
        "localhost:8000",
        "ftp://x/v1",
        "http://",
        "https:///v1",
        "http://a b",
    ] {
        assert!(validate_base_url(bad).is_err(), "{bad}");
    }
    assert_eq!(
        redact_url("https://user:pw@gw.example/v1"),
        "https://…@gw.example/v1"
    );
    assert_eq!(redact_url("http://h/v1@x"), "http://h/v1@x");
}

#[test]
fn key_variables_are_matched_by_exact_prefix() {
    assert_eq!(key_suffix("GROQ", "GROQ_API_KEY"), Some(""));
    assert_eq!(key_suffix("GROQ", "GROQ_API_KEY_2"), Some("2"));
    assert_eq!(key_suffix("GROQ", "GROQ_API_KEYS"), None);
    assert_eq!(key_suffix("GROQ", "GROQ_API_KEY_"), None);
    assert_eq!(key_suffix("NVIDIA", "NVIDIA_NIM_API_KEY_1"), None);
}

#[test]
fn interactive_run_picks_a_preset_and_never_echoes_keys() {
    let dir = tempfile::tempdir().unwrap();
    let args = SetupArgs {
        env_file: dir.path().join(".env"),
        ..SetupArgs::default()
    };
    let mut input = "groq\ngsk_interactive_0001\ngsk_interactive_0002\n\n".as_bytes();
    let mut output = Vec::new();
    run(&args, &mut input, &mut output).unwrap();
    let shown = String::from_utf8(output).unwrap();
    let written = fs::read_to_string(&args.env_file).unwrap();
    let proxy = value(&written, PROXY_KEY_VAR).unwrap();
    assert!(
        !shown.contains("interactive_000") && !shown.contains(&proxy),
        "{shown}"
    );
    assert!(shown.contains("added GROQ_API_KEY_2 = gsk…0002"), "{shown}");
    assert_eq!(count_keys(&written, "groq").unwrap(), 2);
}

#[test]
fn reserved_names_are_never_written_and_the_proxy_key_may_be_left_alone() {
    // The environment sets GROQ_API_KEY_1 (over the placeholder) and _4.
    let existing = "GROQ_API_KEY_1=\nGROQ_API_KEY_2=gsk_old_value_00002\n";
    let change = Change {
        reserved: vec!["GROQ_API_KEY_1".into(), "GROQ_API_KEY_4".into()],
        keep_proxy_key: true,
        ..change("groq", &["gsk_new_value_00005"])
    };
    let edited = apply(existing, &change).unwrap();
    assert_eq!(
        edited.content,
        format!("{existing}GROQ_API_KEY_5=gsk_new_value_00005\n")
    );
    assert!(value(&edited.content, "PROXY_API_KEY").is_none());
}

#[test]
fn a_value_the_environment_overrides_does_not_count_as_present() {
    let existing = "GROQ_API_KEY_1=gsk_shadowed_value_01\n";
    let change = Change {
        reserved: vec!["GROQ_API_KEY_1".into()],
        keep_proxy_key: true,
        ..change("groq", &["gsk_shadowed_value_01"])
    };
    let edited = apply(existing, &change).unwrap();
    assert_eq!(
        value(&edited.content, "GROQ_API_KEY_2").as_deref(),
        Some("gsk_shadowed_value_01")
    );
}
