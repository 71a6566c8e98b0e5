//! What a first start checks beyond types: the proxy key's length on a
//! public address, the warnings about missing or misspelt provider keys,
//! and which keys request logs redact.

use std::path::Path;

use clap::Parser;

use super::*;

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("llm-key-proxy").chain(args.iter().copied())).unwrap()
}

fn no_file() -> &'static Path {
    Path::new("/nonexistent/default.toml")
}

#[test]
fn a_short_proxy_key_is_refused_on_a_public_address_only() {
    let public = load_settings(no_file(), &cli(&[]), &EnvMap::default()).unwrap();
    for short in ["a", "fifteen-chars-x"] {
        let env = EnvMap::from([("PROXY_API_KEY", short)]);
        let err = Config::from_settings(public.clone(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("only {} character", short.len()))
                && err.contains("openssl rand -hex 32")
                && !err.contains(&format!("`{short}`")),
            "{err}"
        );
    }
    let sixteen = EnvMap::from([("PROXY_API_KEY", "sixteen-chars-xy")]);
    assert!(Config::from_settings(public, &sixteen).is_ok());
    let local = load_settings(
        no_file(),
        &cli(&["--host", "127.0.0.1"]),
        &EnvMap::default(),
    )
    .unwrap();
    let short = EnvMap::from([("PROXY_API_KEY", "a")]);
    assert!(
        Config::from_settings(local, &short).is_ok(),
        "loopback may use any key"
    );
}

#[test]
fn warnings_cover_missing_and_misspelt_provider_keys() {
    let local = load_settings(
        no_file(),
        &cli(&["--host", "127.0.0.1"]),
        &EnvMap::default(),
    )
    .unwrap();
    let env = EnvMap::from([("OPENAI_APIKEY", "sk-SECRET-value-0001")]);
    let config = Config::from_settings(local.clone(), &env).unwrap();
    let text = config.warnings.join("\n");
    assert_eq!(config.warnings.len(), 2, "{text}");
    assert!(text.contains("no provider keys configured"), "{text}");
    assert!(text.contains("did you mean `OPENAI_API_KEY`"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    let env = EnvMap::from([("OPENAI_API_KEY", "sk-SECRET-value-0001")]);
    let config = Config::from_settings(local, &env).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn request_logs_redact_every_secret_but_placeholder_provider_keys() {
    let local = load_settings(
        no_file(),
        &cli(&["--host", "127.0.0.1"]),
        &EnvMap::default(),
    )
    .unwrap();
    let env = EnvMap::from([
        ("PROXY_API_KEY", "px"),
        ("LOCAL_API_BASE", "http://127.0.0.1:1/v1"),
        ("LOCAL_API_KEY", "o"),
        ("OPENAI_API_KEY", "sk-real-openai-key-0001"),
    ]);
    let config = Config::from_settings(local, &env).unwrap();
    let secrets: Vec<&str> = config.secrets().map(|s| s.expose()).collect();
    assert!(secrets.contains(&"px"), "the proxy key is always secret");
    assert!(secrets.contains(&"sk-real-openai-key-0001"));
    assert!(!secrets.contains(&"o"), "a placeholder would garble logs");
}
