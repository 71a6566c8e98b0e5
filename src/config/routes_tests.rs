use crate::config::{load_settings, Config, EnvMap};

fn config(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.toml");
    std::fs::write(&file, toml).unwrap();
    let mut vars = vec![
        ("OPENAI_API_KEY", "sk-test-aaaa-aaaa-aaaa"),
        ("GROQ_API_KEY", "gsk-test-bbbb-bbbb-bbbb"),
    ];
    vars.extend_from_slice(env);
    let env = EnvMap::from_iter(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let cli = crate::cli::Cli {
        host: Some("127.0.0.1".into()),
        config: Some(file),
        ..Default::default()
    };
    let settings = load_settings(std::path::Path::new("/nonexistent"), &cli, &env)
        .map_err(|e| e.to_string())?;
    Config::from_settings(settings, &env).map_err(|e| e.to_string())
}

fn chain(config: &Config, name: &str) -> Vec<String> {
    config.routes.get(name).unwrap().1.chain.clone()
}

#[test]
fn env_and_file_routes_are_read_and_flattened() {
    let config = config(
        r#"
[routes.fast]
targets = ["groq/llama-3.3", "smart"]
context_fallback = ["openai/gpt-4.1"]

[routes."openai/gpt-4o"]
targets = ["openai/gpt-4o", "groq/llama-3.3"]

[routes."openai/GPT-4.1"]
targets = ["openai/GPT-4.1", "groq/llama-3.3"]
"#,
        &[
            ("ROUTE_SMART", "openai/gpt-4o , groq/llama-3.3"),
            ("CONTEXT_FALLBACK_SMART", "openai/gpt-4.1"),
        ],
    )
    .unwrap();
    assert_eq!(
        chain(&config, "fast"),
        ["groq/llama-3.3", "openai/gpt-4o"],
        "`smart` expanded through `openai/gpt-4o`, each target once"
    );
    let (_, smart) = config.routes.get("SMART").unwrap();
    assert_eq!(smart.context_chain, ["openai/gpt-4.1"]);
    assert_eq!(
        chain(&config, "openai/gpt-4o"),
        ["openai/gpt-4o", "groq/llama-3.3"],
        "its own name is the model itself"
    );
    assert_eq!(
        chain(&config, "openai/GPT-4.1"),
        ["openai/GPT-4.1", "groq/llama-3.3"],
        "names keep their case and dots"
    );
    let names: Vec<&str> = config.routes.names().collect();
    assert_eq!(names, ["fast", "openai/GPT-4.1", "openai/gpt-4o", "smart"]);
    let dump = config.to_masked_toml().unwrap();
    assert!(dump.contains("[routes.smart]"), "{dump}");
}

#[test]
fn env_replaces_a_file_route_of_the_same_name() {
    let config = config(
        "[routes.fast]\ntargets = [\"groq/a\"]\n",
        &[("ROUTE_FAST", "openai/b")],
    )
    .unwrap();
    assert_eq!(chain(&config, "fast"), ["openai/b"]);
}

/// A settings file, the environment, and what the refusal must say.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

#[test]
fn bad_routes_are_refused_naming_the_route() {
    let cases: [Case; 9] = [
        (
            "",
            &[("ROUTE_FAST", "mistral/large")],
            &["route `fast`", "unknown provider `mistral`", "openai"],
        ),
        (
            "",
            &[("ROUTE_FAST", "")],
            &["route `fast`", "`targets` is empty"],
        ),
        (
            "[routes.fast]\ntargets = []\n",
            &[],
            &["route `fast`", "`targets` is empty"],
        ),
        (
            "[routes.fast]\ntargets = [\"groq/a\"]\ncontext_fallback = []\n",
            &[],
            &["route `fast`", "`context_fallback` is empty"],
        ),
        (
            "",
            &[("ROUTE_A", "b"), ("ROUTE_B", "groq/x,a")],
            &["route `a`", "cycle", "a -> b -> a"],
        ),
        (
            "",
            &[("ROUTE_OPENAI", "groq/x")],
            &["route `openai`", "shadows the provider"],
        ),
        (
            "",
            &[("ROUTE_FAST", "fast")],
            &["route `fast`", "lists itself"],
        ),
        (
            "",
            &[("ROUTE_FAST", "llama")],
            &["route `fast`", "neither", "fast"],
        ),
        (
            "",
            &[("CONTEXT_FALLBACK_SLOW", "groq/x")],
            &["CONTEXT_FALLBACK_SLOW", "no route `slow`"],
        ),
    ];
    for (toml, env, wanted) in cases {
        let err = config(toml, env).unwrap_err();
        for part in wanted {
            assert!(err.contains(part), "{toml} {env:?}: {err}");
        }
    }
    let err = config("[routes.\"mistral/large\"]\ntargets = [\"groq/x\"]\n", &[]).unwrap_err();
    assert!(
        err.contains("route `mistral/large`") && err.contains("no configured provider"),
        "{err}"
    );
    let err = config("[routes.fast]\ntarget = [\"groq/x\"]\n", &[]).unwrap_err();
    assert!(err.contains("target"), "{err}");
}
