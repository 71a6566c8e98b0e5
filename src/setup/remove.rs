//! Taking a key out of a `.env` text: the inverse of [`apply`](super::apply)
//! for one key, used when a key is removed from a running proxy.

use std::collections::BTreeMap;

use super::edit::{key_suffix, parse_values, var_name};
use crate::error::InitError;

/// The result of [`remove_key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// The new file content.
    pub content: String,
    /// The variables whose lines were removed, in file order.
    pub vars: Vec<String>,
}

/// Removes from `existing` every line that gives `provider` the key `key`
/// (`<P>_API_KEY` or `<P>_API_KEY_<suffix>`, whatever the suffix). Every
/// other line stays as it is. Refuses to write a file in which the key
/// still reads back, or another variable reads differently.
pub fn remove_key(existing: &str, provider: &str, key: &str) -> Result<Removed, InitError> {
    let upper = provider.to_ascii_uppercase();
    let mut content = String::with_capacity(existing.len());
    let mut vars = Vec::new();
    for line in existing.split_inclusive('\n') {
        let holds_key = var_name(line)
            .filter(|var| key_suffix(&upper, var).is_some())
            .filter(|var| line_value(line, var).as_deref() == Some(key));
        match holds_key {
            Some(var) => vars.push(var),
            None => content.push_str(line),
        }
    }
    let before = effective(existing)?;
    let after = effective(&content)?;
    let still_there = after
        .iter()
        .any(|(var, value)| key_suffix(&upper, var).is_some() && value.trim() == key);
    let others_changed = before
        .iter()
        .filter(|(var, _)| !vars.contains(var))
        .any(|(var, value)| after.get(var) != Some(value));
    if still_there || others_changed {
        return Err(InitError::Config(
            "cannot remove the key so that the file reads back without it and otherwise \
             unchanged (a value spans several lines?): edit it by hand"
                .into(),
        ));
    }
    Ok(Removed { content, vars })
}

/// The value `line` alone gives `var`, trimmed; `None` when the line does
/// not parse alone (part of a value spanning lines).
fn line_value(line: &str, var: &str) -> Option<String> {
    let mut items = dotenvy::from_read_iter(line.as_bytes());
    match (items.next(), items.next()) {
        (Some(Ok((name, value))), None) if name == var => Some(value.trim().to_string()),
        _ => None,
    }
}

/// Each variable's effective (last) value.
fn effective(content: &str) -> Result<BTreeMap<String, String>, InitError> {
    Ok(parse_values(content)?.ordered.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "gsk_secret_value_0002";

    #[test]
    fn only_the_lines_holding_the_key_go() {
        let existing = format!(
            "# keys\nPROXY_API_KEY=p\nGROQ_API_KEY_1=gsk_other_value_0001\n\
             export GROQ_API_KEY_2=\"{KEY}\"\nOPENAI_API_KEY={KEY}\nGROQ_API_KEY_work={KEY}\n"
        );
        let removed = remove_key(&existing, "groq", KEY).unwrap();
        assert_eq!(removed.vars, ["GROQ_API_KEY_2", "GROQ_API_KEY_work"]);
        assert_eq!(
            removed.content,
            format!("# keys\nPROXY_API_KEY=p\nGROQ_API_KEY_1=gsk_other_value_0001\nOPENAI_API_KEY={KEY}\n")
        );
    }

    #[test]
    fn a_file_without_the_key_is_unchanged() {
        let existing = "GROQ_API_KEY_1=gsk_other_value_0001";
        let removed = remove_key(existing, "groq", KEY).unwrap();
        assert_eq!(removed.content, existing);
        assert!(removed.vars.is_empty());
    }

    #[test]
    fn a_key_inside_a_value_spanning_lines_is_refused() {
        let existing =
            format!("NOTE=\"first\nGROQ_API_KEY_3={KEY}\nlast\"\nGROQ_API_KEY_1={KEY}\n");
        let err = remove_key(&existing, "groq", KEY).unwrap_err().to_string();
        assert!(!err.contains(KEY), "{err}");
    }
}
