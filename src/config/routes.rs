//! Routes: model names that stand for a chain of `provider/model` targets,
//! tried in order (`[routes.<name>]` in a settings file, `ROUTE_<NAME>` and
//! `CONTEXT_FALLBACK_<NAME>` in the environment).
//!
//! This module owns what a route may be and the chains a request walks:
//! every target names a configured provider (or another route), routes form
//! no cycle, no chain is empty, and no route takes a provider's name. A
//! route may be named like a real model (`openai/gpt-4o`) to give that
//! model fallbacks; there a target equal to the route's own name means the
//! model itself. Chains are flattened here once, so a request only walks a
//! list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::env::Env;
use super::providers::ProviderConfig;
use crate::error::InitError;
use crate::inbound::shape::check_model_id;

/// `ROUTE_<NAME>=<provider/model>,…`: a route's targets.
const ROUTE_VAR: &str = "ROUTE_";

/// `CONTEXT_FALLBACK_<NAME>=<provider/model>,…`: the chain taken when a
/// target refuses an input as too long.
const CONTEXT_VAR: &str = "CONTEXT_FALLBACK_";

/// One route as a settings file writes it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// `provider/model` targets (or other routes), tried in order.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Targets for a request a target refused as too long; `None` when the
    /// route has none (the client then gets the refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_fallback: Option<Vec<String>>,
}

/// A validated route.
#[derive(Clone, Debug, Serialize)]
pub struct Route {
    /// As configured.
    #[serde(flatten)]
    pub settings: RouteSettings,
    /// The targets with every route among them replaced by its own chain,
    /// each `provider/model` once, in order.
    #[serde(skip)]
    pub chain: Vec<String>,
    /// [`RouteSettings::context_fallback`] flattened the same way; empty
    /// when the route has none.
    #[serde(skip)]
    pub context_chain: Vec<String>,
}

/// Every route in force, by name.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Routes(BTreeMap<String, Route>);

// === impl Routes ===

impl Routes {
    /// The routes of the settings files with the environment's on top
    /// (`ROUTE_<NAME>` replaces the targets of a file's route of that name,
    /// `CONTEXT_FALLBACK_<NAME>` its context chain), validated against the
    /// configured `providers`.
    pub fn build(
        files: &BTreeMap<String, RouteSettings>,
        env: &dyn Env,
        providers: &[ProviderConfig],
    ) -> Result<Routes, InitError> {
        let mut settings = files.clone();
        // Sorted by name, `CONTEXT_FALLBACK_X` comes before `ROUTE_X`: the
        // routes first, then their context chains.
        let vars = env.vars();
        for (var, value) in &vars {
            if let Some(name) = var.strip_prefix(ROUTE_VAR) {
                let route = settings.entry(name.to_ascii_lowercase()).or_default();
                route.targets = split_list(value);
            }
        }
        for (var, value) in &vars {
            let Some(name) = var.strip_prefix(CONTEXT_VAR) else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            let Some(route) = settings.get_mut(&name) else {
                return Err(InitError::Config(format!(
                    "`{var}` names no route `{name}`: define it with ROUTE_{} or [routes.{name}]",
                    name.to_ascii_uppercase()
                )));
            };
            route.context_fallback = Some(split_list(value));
        }
        for (name, route) in &settings {
            check_route(name, route, &settings, providers)?;
        }
        let mut routes = BTreeMap::new();
        for (name, route) in &settings {
            let chain = flatten(name, &route.targets, &settings, &mut vec![name.clone()])?;
            let context_chain = match &route.context_fallback {
                Some(list) => flatten(name, list, &settings, &mut vec![name.clone()])?,
                None => Vec::new(),
            };
            routes.insert(
                name.clone(),
                Route {
                    settings: route.clone(),
                    chain,
                    context_chain,
                },
            );
        }
        Ok(Routes(routes))
    }

    /// The route a client's `model` names, if it names one (exactly, or
    /// with other letter case).
    pub fn get(&self, model: &str) -> Option<(&str, &Route)> {
        // Every request asks, most with no routes configured and a model
        // in lower case: neither pays for a lower-cased copy.
        if self.0.is_empty() {
            return None;
        }
        self.0
            .get_key_value(model)
            .or_else(|| {
                let upper = model.bytes().any(|b| b.is_ascii_uppercase());
                upper.then(|| self.0.get_key_value(&model.to_ascii_lowercase()))?
            })
            .map(|(name, route)| (name.as_str(), route))
    }

    /// The route names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The comma-separated entries of an environment value, trimmed.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks one route's name and every target of its chains.
fn check_route(
    name: &str,
    route: &RouteSettings,
    routes: &BTreeMap<String, RouteSettings>,
    providers: &[ProviderConfig],
) -> Result<(), InitError> {
    let refuse = |why: String| Err(InitError::Config(format!("route `{name}`: {why}")));
    if let Err(e) = check_model_id(name) {
        return refuse(format!("{e}"));
    }
    if providers.iter().any(|p| p.name == name) {
        return refuse(format!(
            "the name shadows the provider `{name}`, whose models are `{name}/<model>`: rename \
             the route"
        ));
    }
    // A route named like a model must name a configured provider, like
    // the model it stands for.
    if let Some((provider, _)) = name.split_once('/') {
        if find_provider(providers, provider).is_none() {
            return refuse(format!(
                "the name looks like `<provider>/<model>`, but `{provider}` is no configured \
                 provider ({})",
                configured(providers)
            ));
        }
    }
    let chains = [
        ("targets", Some(&route.targets)),
        ("context_fallback", route.context_fallback.as_ref()),
    ];
    for (field, list) in chains {
        let Some(list) = list else { continue };
        if list.is_empty() {
            let var = if field == "targets" {
                ROUTE_VAR
            } else {
                CONTEXT_VAR
            };
            return refuse(format!(
                "`{field}` is empty: list at least one \"provider/model\" (in a file: \
                 {field} = [\"openai/gpt-4o-mini\"]; in the environment: \
                 {var}{}=openai/gpt-4o-mini)",
                name.to_ascii_uppercase()
            ));
        }
        for target in list {
            check_target(name, target, routes, providers).or_else(refuse)?;
        }
    }
    Ok(())
}

/// Why `target` of route `route` cannot be served, if it cannot.
fn check_target(
    route: &str,
    target: &str,
    routes: &BTreeMap<String, RouteSettings>,
    providers: &[ProviderConfig],
) -> Result<(), String> {
    check_model_id(target).map_err(|e| format!("target \"{target}\": {e}"))?;
    if target != route && routes.contains_key(target) {
        return Ok(());
    }
    let Some((provider, model)) = target
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
    else {
        if target == route {
            return Err(format!(
                "it lists itself: only a route named like a model (\"provider/model\") may, \
                 meaning that model; routes: {}",
                known_routes(routes)
            ));
        }
        return Err(format!(
            "target \"{target}\" is neither \"<provider>/<model>\" nor a route (routes: {})",
            known_routes(routes)
        ));
    };
    let Some(provider) = find_provider(providers, provider) else {
        return Err(format!(
            "target \"{target}\" names the unknown provider `{provider}` (configured: {}): add \
             its key to .env, or fix the name",
            configured(providers)
        ));
    };
    let wire = provider.format.wire();
    let bare = wire.normalize_model(model);
    wire.check_model(bare)
        .map_err(|why| format!("target \"{target}\": {why}"))?;
    if !provider.models.allows(bare) {
        return Err(format!(
            "target \"{target}\" is disabled by IGNORE_MODELS_{}: allow it or remove the target",
            provider.name.to_ascii_uppercase()
        ));
    }
    Ok(())
}

/// `targets` with every route among them replaced by its flattened chain;
/// `path` holds the routes being expanded, to report a cycle.
fn flatten(
    name: &str,
    targets: &[String],
    routes: &BTreeMap<String, RouteSettings>,
    path: &mut Vec<String>,
) -> Result<Vec<String>, InitError> {
    let mut chain: Vec<String> = Vec::new();
    for target in targets {
        let nested = routes
            .get(target)
            .filter(|_| path.last().is_none_or(|current| current != target));
        let expanded = match nested {
            Some(route) => {
                if path.contains(target) {
                    path.push(target.clone());
                    return Err(InitError::Config(format!(
                        "route `{}`: routes form a cycle ({}): remove one of the references",
                        path.first().map_or(name, String::as_str),
                        path.join(" -> ")
                    )));
                }
                path.push(target.clone());
                let inner = flatten(target, &route.targets, routes, path)?;
                path.pop();
                inner
            }
            None => vec![target.clone()],
        };
        for target in expanded {
            if !chain.contains(&target) {
                chain.push(target);
            }
        }
    }
    Ok(chain)
}

fn find_provider<'p>(providers: &'p [ProviderConfig], name: &str) -> Option<&'p ProviderConfig> {
    let name = name.to_ascii_lowercase();
    providers.iter().find(|p| p.name == name)
}

fn configured(providers: &[ProviderConfig]) -> String {
    if providers.is_empty() {
        return "none".into();
    }
    providers
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_routes(routes: &BTreeMap<String, RouteSettings>) -> String {
    routes
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
