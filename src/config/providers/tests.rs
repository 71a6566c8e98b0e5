use super::*;
use crate::config::env::EnvMap;

fn names(d: &Discovery) -> Vec<&str> {
    d.providers.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn key_variables_are_parsed() {
    assert_eq!(
        parse_key_var("OPENAI_API_KEY"),
        Some(("openai".into(), "".into()))
    );
    assert_eq!(
        parse_key_var("NVIDIA_NIM_API_KEY_12"),
        Some(("nvidia_nim".into(), "12".into()))
    );
    assert_eq!(
        parse_key_var("GEMINI_API_KEY_backup"),
        Some(("gemini".into(), "backup".into()))
    );
    assert_eq!(parse_key_var("OPENAI_API_KEYS"), None);
    assert_eq!(parse_key_var("_API_KEY"), None);
    assert_eq!(parse_key_var("OPENAI_API_BASE"), None);
}

#[test]
fn keys_are_discovered_in_suffix_order_without_duplicates_or_empties() {
    let env = EnvMap::from([
        ("GROQ_API_KEY_10", "gsk_key_number_ten_000"),
        ("GROQ_API_KEY_2", "gsk_key_number_two_000"),
        ("GROQ_API_KEY", "gsk_key_bare_000000000"),
        ("GROQ_API_KEY_3", "gsk_key_number_two_000"),
        ("GROQ_API_KEY_4", "  "),
        ("PROXY_API_KEY", "not-a-provider-key"),
    ]);
    let d = discover(&env).unwrap();
    assert_eq!(names(&d), vec!["groq"]);
    let keys: Vec<&str> = d.providers[0].keys.iter().map(|k| k.expose()).collect();
    assert_eq!(
        keys,
        vec![
            "gsk_key_bare_000000000",
            "gsk_key_number_two_000",
            "gsk_key_number_ten_000"
        ]
    );
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(d
        .warnings
        .iter()
        .any(|w| w.contains("GROQ_API_KEY_4") && w.contains("empty")));
    assert!(d
        .warnings
        .iter()
        .any(|w| w.contains("GROQ_API_KEY_3") && w.contains("repeats")));
    assert_eq!(d.providers[0].api_base, "https://api.groq.com/openai/v1");
    assert_eq!(d.providers[0].max_concurrent_per_key, Some(1));
}

#[test]
fn empty_placeholders_are_summed_up_in_one_line() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let env: EnvMap = dotenvy::from_read_iter(example.as_bytes())
        .map(Result::unwrap)
        .collect();
    let d = discover(&env).unwrap();
    assert!(d.providers.is_empty());
    let placeholders = example
        .lines()
        .filter(|l| l.ends_with("_API_KEY_1="))
        .count();
    assert!(placeholders >= 12, "{placeholders}");
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    let line = &d.warnings[0];
    assert!(
        line.starts_with(&format!("{placeholders} key variables are empty"))
            && line.contains("`ANTHROPIC_API_KEY_1`")
            && line.contains(&format!("and {} more", placeholders - 3)),
        "{line}"
    );
}

#[test]
fn api_base_overrides_preset_and_defines_custom_providers() {
    let env = EnvMap::from([
        ("OPENAI_API_KEY", "sk-aaaaaaaaaaaaaaaa"),
        ("OPENAI_API_BASE", "http://127.0.0.1:9999/v1/"),
        ("VLLM_API_KEY_1", "dummy-key-for-vllm"),
        ("VLLM_API_BASE", "http://localhost:8000/v1"),
        ("VLLM_MODELS", "[\"llama-3-8b\"]"),
        ("MAX_CONCURRENT_REQUESTS_PER_KEY_VLLM", "0"),
        ("LONELY_API_BASE", "http://localhost:1/v1"),
    ]);
    let d = discover(&env).unwrap();
    assert_eq!(names(&d), vec!["openai", "vllm"]);
    assert_eq!(d.providers[0].api_base, "http://127.0.0.1:9999/v1");
    assert_eq!(d.providers[1].api_base, "http://localhost:8000/v1");
    assert_eq!(d.providers[1].static_models, vec!["llama-3-8b"]);
    assert_eq!(d.providers[1].max_concurrent_per_key, None);
    assert!(d.warnings.iter().any(|w| w.contains("LONELY_API_KEY")));
}

#[test]
fn short_keys_are_placeholders_with_one_warning_per_provider() {
    let env = EnvMap::from([
        ("LOCAL_API_KEY_1", "o"),
        ("LOCAL_API_KEY_2", "none"),
        ("LOCAL_API_KEY_3", "a-real-looking-key"),
        ("LOCAL_API_BASE", "http://localhost:8000/v1"),
        ("GROQ_API_KEY", "gsk_long_enough_key_0001"),
    ]);
    let d = discover(&env).unwrap();
    assert_eq!(d.providers[1].keys.len(), 3, "placeholders are still used");
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    let warning = &d.warnings[0];
    assert!(
        warning.contains("provider `local`")
            && warning.contains("`LOCAL_API_KEY_1`, `LOCAL_API_KEY_2`")
            && warning.contains("placeholder"),
        "{warning}"
    );
    assert!(
        !warning.contains("none") && !warning.contains("a-real"),
        "{warning}"
    );
}

#[test]
fn unknown_provider_without_base_is_skipped_with_a_warning() {
    let env = EnvMap::from([("MYSTERY_API_KEY", "abcdefghijklmnop")]);
    let d = discover(&env).unwrap();
    assert!(d.providers.is_empty());
    assert!(d.warnings[0].contains("MYSTERY_API_BASE"));
}

#[test]
fn bad_values_are_errors_that_name_the_variable() {
    let cases = [
        [
            ("X_API_KEY", "abcdefghijklmnop"),
            ("X_API_BASE", "ftp://host/v1"),
        ],
        [
            ("OPENAI_API_KEY", "abcdefghijklmnop"),
            ("MAX_CONCURRENT_REQUESTS_PER_KEY_OPENAI", "two"),
        ],
        [
            ("OPENAI_API_KEY", "abcdefghijklmnop"),
            ("OPENAI_MODELS", "gpt-4o,gpt-4"),
        ],
    ];
    let expected = [
        "X_API_BASE",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_OPENAI",
        "OPENAI_MODELS",
    ];
    for (case, var) in cases.into_iter().zip(expected) {
        let err = discover(&EnvMap::from(case)).unwrap_err().to_string();
        assert!(err.contains(var), "{err}");
    }
}

#[test]
fn responses_are_native_for_openai_and_providers_marked_so() {
    let env = EnvMap::from([
        ("OPENAI_API_KEY", "sk-openai-key-000000000"),
        ("GROQ_API_KEY", "gsk_groq_key_0000000000"),
        ("VLLM_API_KEY", "unused"),
        ("VLLM_API_BASE", "http://localhost:8000/v1"),
        ("VLLM_RESPONSES", "native"),
    ]);
    let d = discover(&env).unwrap();
    let native: Vec<(&str, bool)> = d
        .providers
        .iter()
        .map(|p| (p.name.as_str(), p.responses_native))
        .collect();
    assert_eq!(
        native,
        vec![("groq", false), ("openai", true), ("vllm", true)]
    );

    let env = EnvMap::from([
        ("OPENAI_API_KEY", "sk-openai-key-000000000"),
        ("OPENAI_RESPONSES", "translated"),
    ]);
    assert!(!discover(&env).unwrap().providers[0].responses_native);

    let env = EnvMap::from([
        ("GEMINI_API_KEY", "gemini-key-0000000000000"),
        ("GEMINI_RESPONSES", "native"),
    ]);
    let d = discover(&env).unwrap();
    assert!(!d.providers[0].responses_native);
    assert!(d.warnings.iter().any(|w| w.contains("GEMINI_RESPONSES")));

    let env = EnvMap::from([
        ("OPENAI_API_KEY", "sk-openai-key-000000000"),
        ("OPENAI_RESPONSES", "maybe"),
    ]);
    let error = discover(&env).unwrap_err().to_string();
    assert!(error.contains("OPENAI_RESPONSES=maybe"), "{error}");
}
