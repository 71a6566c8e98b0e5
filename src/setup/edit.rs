//! The pure part of `setup`: editing the text of a `.env` file.

use std::collections::{BTreeMap, HashSet};

use super::validate::validate_key;
use super::PROXY_KEY_VAR;
use crate::error::InitError;
use crate::secret::mask;

/// One edit to make to a `.env` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Lower-case provider name, already validated.
    pub provider: String,
    /// Written as `<P>_API_BASE`, already validated.
    pub base_url: Option<String>,
    /// Keys to add, in order.
    pub keys: Vec<String>,
    /// Variables the real environment sets: it wins over the file, so a
    /// key written to one of them would be lost. Never written; their
    /// values in the file are not counted as present.
    pub reserved: Vec<String>,
    /// Leaves `PROXY_API_KEY` alone even when it is unset (keys added to a
    /// running proxy must not change how its clients authenticate).
    pub keep_proxy_key: bool,
}

/// What [`apply`] did, for the messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A key was written to `var`.
    Added { var: String, mask: String },
    /// A key already in the file (as `var`) was not added again.
    AlreadyPresent { var: String, mask: String },
    /// A key given twice in one run was added once.
    GivenTwice { mask: String },
    /// `PROXY_API_KEY` was absent or empty and got a random value.
    ProxyKeyGenerated { mask: String },
    /// `var` was set to `url`; `replaced` when it had another value.
    BaseSet {
        var: String,
        url: String,
        replaced: bool,
    },
    /// `var` already held `url`.
    BaseUnchanged { var: String, url: String },
}

/// The result of [`apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edited {
    /// The new file content.
    pub content: String,
    /// What changed, in order.
    pub events: Vec<Event>,
    /// Whether `content` differs from the input.
    pub changed: bool,
}

/// Applies `change` to the text of a `.env` file.
///
/// Every existing line stays as it is, in order. New variables are appended;
/// the only lines rewritten are an empty `PROXY_API_KEY=` (which gets the
/// generated key), the effective `<P>_API_BASE` line (when a base URL is
/// given), and empty placeholders of this provider's keys such as
/// `GROQ_API_KEY_1=` from `.env.example` (filled in file order before any
/// key is appended). Appended keys are numbered `<P>_API_KEY_<n>` after the
/// highest numeric suffix in use. A key already present for the provider, in
/// any of its variables, is skipped.
pub fn apply(existing: &str, change: &Change) -> Result<Edited, InitError> {
    let upper = change.provider.to_ascii_uppercase();
    let values = parse_values(existing)?;
    let mut lines: Vec<String> = existing.split_inclusive('\n').map(String::from).collect();
    let names: Vec<Option<String>> = lines.iter().map(|l| var_name(l)).collect();
    let last_def = |var: &str| names.iter().rposition(|n| n.as_deref() == Some(var));
    let mut appended: Vec<String> = Vec::new();
    let mut events = Vec::new();
    let mut written: Vec<(String, String)> = Vec::new();

    // The proxy key: generated only when absent or empty.
    let proxy_key_set = values
        .get(PROXY_KEY_VAR)
        .is_some_and(|v| !v.trim().is_empty());
    if !proxy_key_set && !change.keep_proxy_key {
        let key = generate_proxy_key();
        let line = format!("{PROXY_KEY_VAR}={}", quote(&key));
        match last_def(PROXY_KEY_VAR) {
            Some(i) => lines[i] = replace_value(&lines[i], &quote(&key)),
            None => appended.push(line),
        }
        events.push(Event::ProxyKeyGenerated { mask: mask(&key) });
        written.push((PROXY_KEY_VAR.to_string(), key));
    }

    // The base URL: replaces the effective definition, or is appended.
    if let Some(url) = &change.base_url {
        let var = format!("{upper}_API_BASE");
        let current = values.get(&var).map(|v| v.trim().trim_end_matches('/'));
        if current == Some(url.as_str()) {
            events.push(Event::BaseUnchanged {
                var,
                url: url.clone(),
            });
        } else {
            match last_def(&var) {
                Some(i) => lines[i] = replace_value(&lines[i], &quote(url)),
                None => appended.push(format!("{var}={}", quote(url))),
            }
            let replaced = current.is_some_and(|v| !v.is_empty());
            events.push(Event::BaseSet {
                var: var.clone(),
                url: url.clone(),
                replaced,
            });
            written.push((var, url.clone()));
        }
    }

    // Keys already configured for this provider, under any of its variables.
    let mut present: BTreeMap<String, String> = BTreeMap::new();
    let mut highest: u64 = 0;
    let reserved = |var: &str| change.reserved.iter().any(|r| r == var);
    for var in &change.reserved {
        if let Some(n) = key_suffix(&upper, var).and_then(|s| s.parse::<u64>().ok()) {
            highest = highest.max(n);
        }
    }
    for (var, value) in &values.ordered {
        if let Some(suffix) = key_suffix(&upper, var) {
            if let Ok(n) = suffix.parse::<u64>() {
                highest = highest.max(n);
            }
            if reserved(var) {
                continue;
            }
            let value = value.trim();
            if !value.is_empty() {
                present
                    .entry(value.to_string())
                    .or_insert_with(|| var.clone());
            }
        }
    }
    // Empty `<P>_API_KEY` / `<P>_API_KEY_<n>` lines that can take a key.
    let mut placeholders = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let name = name.as_deref()?;
            let suffix = key_suffix(&upper, name)?;
            let numbered = suffix.is_empty() || suffix.parse::<u64>().is_ok();
            let empty = values.get(name).is_none_or(|v| v.trim().is_empty());
            // `NAME=${OTHER}` reads as empty when OTHER is unset here, but it
            // is a reference the user wrote, not a placeholder.
            let reference = lines[i]
                .split_once('=')
                .is_some_and(|(_, v)| v.contains('$'));
            (numbered && empty && !reference && !reserved(name) && last_def(name) == Some(i))
                .then(|| (i, name.to_string()))
        })
        .collect::<Vec<_>>()
        .into_iter();

    let mut seen: HashSet<String> = HashSet::new();
    for raw in &change.keys {
        let key = validate_key(raw)?;
        let shown = mask(&key);
        if let Some(var) = present.get(&key) {
            events.push(Event::AlreadyPresent {
                var: var.clone(),
                mask: shown,
            });
            continue;
        }
        if !seen.insert(key.clone()) {
            events.push(Event::GivenTwice { mask: shown });
            continue;
        }
        let var = match placeholders.next() {
            Some((i, var)) => {
                lines[i] = replace_value(&lines[i], &quote(&key));
                var
            }
            None => {
                highest += 1;
                let var = format!("{upper}_API_KEY_{highest}");
                appended.push(format!("{var}={}", quote(&key)));
                var
            }
        };
        events.push(Event::Added {
            var: var.clone(),
            mask: shown,
        });
        written.push((var, key));
    }

    let mut content: String = lines.concat();
    if !appended.is_empty() {
        if !content.is_empty() && !content.ends_with('\n') {
            content.push('\n');
        }
        for line in appended {
            content.push_str(&line);
            content.push('\n');
        }
    }

    // Never write a file the proxy would read differently.
    let check = parse_values(&content)?;
    for (var, value) in &written {
        if check.get(var).map(str::trim) != Some(value.trim()) {
            return Err(InitError::Config(format!(
                "cannot write `{var}` so that it reads back unchanged: its value has characters \
                 .env cannot hold; edit the file by hand"
            )));
        }
    }
    let changed = content != existing;
    Ok(Edited {
        content,
        events,
        changed,
    })
}

/// How many distinct non-empty keys `provider` has in `content`.
pub fn count_keys(content: &str, provider: &str) -> Result<usize, InitError> {
    let upper = provider.to_ascii_uppercase();
    let values = parse_values(content)?;
    let keys: HashSet<&str> = values
        .ordered
        .iter()
        .filter(|(var, _)| key_suffix(&upper, var).is_some())
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    Ok(keys.len())
}

/// Whether `content` gives `provider` a non-empty `<P>_API_BASE`.
pub fn has_base(content: &str, provider: &str) -> Result<bool, InitError> {
    let var = format!("{}_API_BASE", provider.to_ascii_uppercase());
    Ok(parse_values(content)?
        .get(&var)
        .is_some_and(|v| !v.trim().is_empty()))
}

/// A random proxy key: 64 hex digits from two v4 UUIDs.
pub fn generate_proxy_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// For provider prefix `upper`, the suffix of a key variable: `""` for
/// `GROQ_API_KEY`, `"2"` for `GROQ_API_KEY_2`; `None` for anything else.
pub(super) fn key_suffix<'a>(upper: &str, var: &'a str) -> Option<&'a str> {
    let rest = var.strip_prefix(upper)?.strip_prefix("_API_KEY")?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('_').filter(|s| !s.is_empty())
    }
}

/// The variable a line defines, if it is an assignment (not a comment).
pub(super) fn var_name(line: &str) -> Option<String> {
    let text = line.trim_start();
    if text.starts_with('#') {
        return None;
    }
    let text = text.strip_prefix("export ").unwrap_or(text);
    let (name, _) = text.split_once('=')?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    valid.then(|| name.to_string())
}

/// `line` with its value replaced by `value`, keeping what precedes `=`
/// (indentation, `export`) and the line ending.
fn replace_value(line: &str, value: &str) -> String {
    let body = line.trim_end_matches(['\n', '\r']);
    let ending = &line[body.len()..];
    let prefix = body.split_once('=').map_or(body, |(p, _)| p);
    let ending = if ending.is_empty() { "\n" } else { ending };
    format!("{prefix}={value}{ending}")
}

/// A value as `.env` must spell it: bare when it is plain, else in double
/// quotes with `\`, `"` and `$` escaped.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '#' | '"' | '\'' | '\\' | '$' | '`' | '='));
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The variables of a `.env` text, as the proxy reads them.
pub(super) struct Values {
    /// In file order; a variable defined twice appears twice.
    pub(super) ordered: Vec<(String, String)>,
}

impl Values {
    /// The effective value (the last definition).
    pub(super) fn get(&self, var: &str) -> Option<&str> {
        self.ordered
            .iter()
            .rev()
            .find(|(name, _)| name == var)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn parse_values(content: &str) -> Result<Values, InitError> {
    let mut ordered = Vec::new();
    for item in dotenvy::from_read_iter(content.as_bytes()) {
        // dotenvy's message quotes the line, which may hold a secret.
        let (name, value) = item.map_err(|_| {
            InitError::Config(
                "the env file is malformed: each line must be NAME=value with quotes closed; \
                 fix it, then run setup again"
                    .into(),
            )
        })?;
        ordered.push((name, value));
    }
    Ok(Values { ordered })
}
