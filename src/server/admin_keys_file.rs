//! `POST /v1/admin/keys` and `DELETE /v1/admin/keys/{id}`: keys added to
//! and removed from a running proxy, and from its `.env` file.
//!
//! A change is made to the file first: its text is edited with `setup`'s
//! rules (the same writer, numbering and quoting), the configuration it
//! would give is built, and only if that is valid (and holds, or no longer
//! holds, the key) is the file replaced atomically and the configuration
//! put in force, as a reload would. So the pool never holds a key the file
//! would not give it on the next start, and a failed write changes
//! nothing. Changes and reloads take turns (`Shared::config_changes`); the
//! file is read and written on a blocking thread, never on the pool's.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::admin_keys::{holders, unknown_key};
use super::body::read_json_object;
use super::reload::put_in_force;
use super::Shared;
use crate::config::{Config, ConfigSource, Env};
use crate::error::ApiError;
use crate::providers::presets::preset;
use crate::secret::{mask, Secret};
use crate::setup::{
    apply, is_key_var, read_env_file, redact_url, remove_key, validate_base_url, validate_provider,
    write_atomic, Change, Event,
};

/// The fields `POST /v1/admin/keys` takes.
const FIELDS: [&str; 3] = ["provider", "key", "base_url"];

/// A key to add, as checked from the request.
struct NewKey {
    provider: String,
    key: String,
    /// Given only for a provider that is not configured yet.
    base_url: Option<String>,
}

/// Adds a key to the pool and to `.env`: 201 `{"id", "masked", "provider",
/// "variable"}`.
pub async fn add(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let limit = shared.with_config(|c| c.settings.server.max_body_size);
    let body = read_json_object(req.headers(), payload, limit).await?;
    let source = source_of(&shared)?;
    let _changing = shared.config_changes.lock().await;
    let new = NewKey::parse(&body, &shared.config())?;
    let secret = Secret::new(new.key.as_str());
    let provider = new.provider.clone();
    let (fresh, var) = off_thread(move || write_added(&source, new)).await?;
    put_in_force(&shared, fresh)
        .await
        .map_err(|e| ApiError::KeyFile(format!("the key was saved but not loaded: {e}")))?;
    log::info!(
        "key {} added to provider {provider} (saved in .env as {var})",
        secret.mask()
    );
    Ok(HttpResponse::Created().json(json!({
        "id": secret.id(),
        "masked": secret.mask(),
        "provider": provider,
        "variable": var,
    })))
}

/// Removes the keys with id `{id}` from the pool (its requests in flight
/// finish) and their lines from `.env`.
pub async fn remove(
    shared: web::Data<Shared>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let source = source_of(&shared)?;
    let _changing = shared.config_changes.lock().await;
    let holders = holders(&shared.config(), &id);
    let Some((_, secret)) = holders.first() else {
        return Err(unknown_key(&id));
    };
    let masked = secret.mask();
    let providers: Vec<String> = holders.iter().map(|(p, _)| p.clone()).collect();
    let (fresh, vars) = off_thread(move || write_removed(&source, &holders)).await?;
    put_in_force(&shared, fresh)
        .await
        .map_err(|e| ApiError::KeyFile(format!("the key was removed but not unloaded: {e}")))?;
    log::info!(
        "key {masked} removed from provider(s) {} (and from .env: {})",
        providers.join(", "),
        if vars.is_empty() {
            "no line held it".to_string()
        } else {
            vars.join(", ")
        }
    );
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "masked": masked,
        "providers": providers,
        "variables": vars,
        "deleted": true,
    })))
}

fn source_of(shared: &Shared) -> Result<ConfigSource, ApiError> {
    shared.source.clone().ok_or_else(|| {
        ApiError::KeyFile(
            "this proxy was started without a .env file to keep keys in: add or remove keys \
             in its configuration instead"
                .into(),
        )
    })
}

/// Runs file work on a blocking thread.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    actix_web::rt::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::KeyFile("the change stopped half-way: nothing was changed".into()))?
}

// === impl NewKey ===

impl NewKey {
    /// Checks the request against the configuration in force.
    fn parse(body: &Map<String, Value>, config: &Config) -> Result<NewKey, ApiError> {
        if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!(
                "unknown field `{unknown}`: a key to add is {{\"provider\", \"key\"}}, plus \
                 \"base_url\" to create a custom OpenAI-compatible provider"
            )));
        }
        let provider = required(body, "provider")?;
        let key = required(body, "key")?;
        check_key(&key)?;
        let base_url = match body.get("base_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(url)) => Some(
                validate_base_url(url)
                    .map_err(|e| ApiError::invalid_param(e.to_string(), "base_url"))?,
            ),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "`base_url` must be a string",
                    "base_url",
                ))
            }
        };
        let provider = validate_provider(&provider)
            .map_err(|e| ApiError::invalid_param(e.to_string(), "provider"))?;
        let base_url = match config.provider(&provider) {
            Some(configured) => {
                if configured.keys.iter().any(|k| k.expose() == key) {
                    return Err(ApiError::KeyConflict(format!(
                        "the key {} is already in the pool of `{provider}` (id {})",
                        mask(&key),
                        Secret::new(key.as_str()).id().as_str()
                    )));
                }
                if base_url
                    .as_deref()
                    .is_some_and(|url| url != configured.api_base)
                {
                    return Err(ApiError::invalid_param(
                        format!(
                            "`{provider}` is configured with the base URL {}: `base_url` only \
                             creates a custom provider; leave it out to add a key to `{provider}`",
                            redact_url(&configured.api_base)
                        ),
                        "base_url",
                    ));
                }
                None
            }
            None if base_url.is_some() || preset(&provider).is_some() => base_url,
            None => {
                let configured: Vec<&str> =
                    config.providers.iter().map(|p| p.name.as_str()).collect();
                return Err(ApiError::invalid_param(
                    format!(
                        "unknown provider `{provider}` (configured: {}): pass \"base_url\" too to \
                         create a custom OpenAI-compatible provider",
                        if configured.is_empty() {
                            "none".to_string()
                        } else {
                            configured.join(", ")
                        }
                    ),
                    "provider",
                ));
            }
        };
        Ok(NewKey {
            provider,
            key,
            base_url,
        })
    }
}

/// A required string field.
fn required(body: &Map<String, Value>, field: &'static str) -> Result<String, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(ApiError::invalid_param(
            format!("`{field}` is required: send {{\"provider\", \"key\"}}"),
            field,
        )),
        Some(_) => Err(ApiError::invalid_param(
            format!("`{field}` must be a string"),
            field,
        )),
    }
}

/// A key is sent as is in a header: it must be non-empty, without
/// whitespace or control characters. The message shows no part of it.
fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::invalid_param("`key` is empty", "key"));
    }
    if let Some(at) = key
        .chars()
        .position(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::invalid_param(
            format!(
                "`key` holds whitespace or a control character (character {}): send the key \
                 alone, without spaces or line breaks",
                at + 1
            ),
            "key",
        ));
    }
    Ok(())
}

/// Appends the key to `.env` (under a name neither the file nor the
/// process environment uses) if the configuration it gives is valid and
/// holds the key. Answers that configuration and the variable.
fn write_added(source: &ConfigSource, new: NewKey) -> Result<(Config, String), ApiError> {
    let path = source.env_file();
    let not_added =
        |e: &dyn std::fmt::Display| ApiError::KeyFile(format!("the key was not added: {e}"));
    let existing = read_env_file(path).map_err(|e| not_added(&e))?;
    let reserved = source
        .process_env()
        .vars()
        .into_iter()
        .map(|(var, _)| var)
        .filter(|var| is_key_var(&new.provider, var))
        .collect();
    let change = Change {
        provider: new.provider.clone(),
        base_url: new.base_url,
        keys: vec![new.key.clone()],
        reserved,
        keep_proxy_key: true,
    };
    let edited = apply(&existing, &change).map_err(|e| not_added(&e))?;
    let var = edited
        .events
        .iter()
        .find_map(|event| match event {
            Event::Added { var, .. } | Event::AlreadyPresent { var, .. } => Some(var.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let fresh = source.load_with_dotenv(&edited.content).map_err(|e| {
        ApiError::invalid(format!(
            "the key was not added: the configuration would be invalid with it: {e}"
        ))
    })?;
    let loaded = fresh
        .provider(&new.provider)
        .is_some_and(|p| p.keys.iter().any(|k| k.expose() == new.key));
    if !loaded {
        return Err(not_added(&format!(
            "{} would not give `{}` the key (another variable overrides it?)",
            path.display(),
            new.provider
        )));
    }
    if edited.changed {
        write_atomic(path, &edited.content).map_err(|e| not_added(&e))?;
    }
    Ok((fresh, var))
}

/// Removes each `(provider, key)` from `.env` if no variable of the real
/// environment gives it (the proxy cannot unset those). Answers the
/// configuration without them and the variables removed.
fn write_removed(
    source: &ConfigSource,
    holders: &[(String, Secret)],
) -> Result<(Config, Vec<String>), ApiError> {
    let path = source.env_file();
    let not_removed =
        |e: &dyn std::fmt::Display| ApiError::KeyFile(format!("the key was not removed: {e}"));
    let process = source.process_env();
    for (provider, key) in holders {
        let from_env = process
            .vars()
            .into_iter()
            .find(|(var, value)| is_key_var(provider, var) && value.trim() == key.expose());
        if let Some((var, _)) = from_env {
            return Err(ApiError::KeyConflict(format!(
                "the key {} of `{provider}` comes from the environment variable `{var}`, which \
                 the proxy cannot unset: nothing was removed. Unset `{var}` where the proxy is \
                 started and restart it, or disable the key (POST /v1/admin/keys/{}/disable)",
                key.mask(),
                key.id().as_str()
            )));
        }
    }
    let existing = read_env_file(path).map_err(|e| not_removed(&e))?;
    let mut content = existing.clone();
    let mut vars = Vec::new();
    for (provider, key) in holders {
        let removed = remove_key(&content, provider, key.expose()).map_err(|e| not_removed(&e))?;
        content = removed.content;
        vars.extend(removed.vars);
    }
    let fresh = source.load_with_dotenv(&content).map_err(|e| {
        ApiError::invalid(format!(
            "the key was not removed: the configuration would be invalid without it: {e}"
        ))
    })?;
    let still_there = holders.iter().any(|(provider, key)| {
        fresh
            .provider(provider)
            .is_some_and(|p| p.keys.iter().any(|k| k.expose() == key.expose()))
    });
    if still_there {
        return Err(not_removed(&format!(
            "{} still gives the key after removing its lines",
            path.display()
        )));
    }
    if content != existing {
        write_atomic(path, &content).map_err(|e| not_removed(&e))?;
    }
    Ok((fresh, vars))
}
