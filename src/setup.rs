//! The `setup` subcommand: writes or updates `.env` with a provider and its
//! keys, and a proxy key when there is none.
//!
//! Interactive by default (a numbered list of the presets plus "custom", then
//! keys one per line, hidden on a terminal); `--provider`, `--key` and
//! `--base-url` make it scriptable. Existing lines are kept as they are, in
//! order, comments included; new variables are appended. Keys are never
//! printed: every message shows a mask such as `gsk…wxyz`.
//!
//! The editing itself is the pure [`apply`]; [`run`] does the talking and
//! [`write_atomic`] the writing.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::config::EnvMap;
use crate::error::InitError;
use crate::providers::presets::{preset, PRESETS};
use crate::secret::mask;

/// The variable clients' key lives in.
const PROXY_KEY_VAR: &str = "PROXY_API_KEY";

/// What the user asked for, from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupArgs {
    /// A preset or custom provider name; `None` = ask.
    pub provider: Option<String>,
    /// Keys to add; `-` reads one key per line from standard input.
    pub keys: Vec<String>,
    /// Base URL of a custom OpenAI-compatible provider (`<P>_API_BASE`).
    pub base_url: Option<String>,
    /// The file to create or update.
    pub env_file: PathBuf,
}

/// One edit to make to a `.env` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Lower-case provider name, already validated.
    pub provider: String,
    /// Written as `<P>_API_BASE`, already validated.
    pub base_url: Option<String>,
    /// Keys to add, in order.
    pub keys: Vec<String>,
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

// === The pure part: editing .env text ===

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
    if !proxy_key_set {
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
    for (var, value) in &values.ordered {
        if let Some(suffix) = key_suffix(&upper, var) {
            if let Ok(n) = suffix.parse::<u64>() {
                highest = highest.max(n);
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
            (numbered && empty && !reference && last_def(name) == Some(i))
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

/// Checks a provider name: lower-case letters, digits and `_`, starting with
/// a letter. Upper case is folded.
pub fn validate_provider(name: &str) -> Result<String, InitError> {
    let name = name.trim().to_ascii_lowercase();
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(InitError::Config(format!(
            "`{name}` is not a provider name: use lower-case letters, digits and _, starting \
             with a letter (e.g. vllm, my_gateway)"
        )));
    }
    if name == "proxy" || name.contains("_api_key") || name.contains("_api_base") {
        return Err(InitError::Config(format!(
            "`{name}` cannot be a provider name: it would clash with another variable; pick \
             another (e.g. vllm, my_gateway)"
        )));
    }
    Ok(name)
}

/// Checks a base URL: `http://` or `https://` with a host; the trailing `/`
/// is dropped.
pub fn validate_base_url(url: &str) -> Result<String, InitError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && url.parse::<awc::http::Uri>().is_ok();
    if ok {
        Ok(url.to_string())
    } else {
        Err(InitError::Config(format!(
            "`{}` is not an http(s) URL: pass the provider's OpenAI-compatible base, e.g. \
             http://localhost:8000/v1",
            redact_url(url)
        )))
    }
}

/// A URL for display, without any `user:password@`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !scheme.is_empty() => format!("{scheme}://…@{}", &rest[at + 1..]),
        _ => url.to_string(),
    }
}

fn validate_key(raw: &str) -> Result<String, InitError> {
    let key = raw.trim();
    if key.is_empty() {
        return Err(InitError::Config(
            "empty key: pass the provider's API key with --key KEY".into(),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(InitError::Config(format!(
            "the key {} holds a control character: paste it again without line breaks or tabs",
            mask(key)
        )));
    }
    Ok(key.to_string())
}

/// For provider prefix `upper`, the suffix of a key variable: `""` for
/// `GROQ_API_KEY`, `"2"` for `GROQ_API_KEY_2`; `None` for anything else.
fn key_suffix<'a>(upper: &str, var: &'a str) -> Option<&'a str> {
    let rest = var.strip_prefix(upper)?.strip_prefix("_API_KEY")?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('_').filter(|s| !s.is_empty())
    }
}

/// The variable a line defines, if it is an assignment (not a comment).
fn var_name(line: &str) -> Option<String> {
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
struct Values {
    /// In file order; a variable defined twice appears twice.
    ordered: Vec<(String, String)>,
}

impl Values {
    /// The effective value (the last definition).
    fn get(&self, var: &str) -> Option<&str> {
        self.ordered
            .iter()
            .rev()
            .find(|(name, _)| name == var)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_values(content: &str) -> Result<Values, InitError> {
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

// === Files ===

/// Reads `path`; a missing file is empty. A malformed file is an error that
/// names the line without showing it.
pub fn read_env_file(path: &Path) -> Result<String, InitError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            EnvMap::load(path)?;
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(InitError::Config(format!(
            "cannot read {}: {e}: check the path and its permissions",
            path.display()
        ))),
    }
}

/// Replaces `path` with `content` atomically: a temporary file in the same
/// directory, flushed, then renamed over it. A symlink is followed, so its
/// target is updated. A new file is readable by its owner only; an existing
/// one keeps its permissions.
pub fn write_atomic(path: &Path, content: &str) -> Result<(), InitError> {
    let fail = |what: &str, e: std::io::Error| {
        InitError::Config(format!(
            "cannot {what} {}: {e}: check the directory exists and is writable",
            path.display()
        ))
    };
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(_) => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .map_or_else(|| ".env".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{file_name}.setup-{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| fail("write next to", e))?;
        let permissions = match fs::metadata(&target) {
            Ok(meta) => Some(meta.permissions()),
            Err(_) => owner_only(),
        };
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)
                .map_err(|e| fail("set permissions for", e))?;
        }
        file.write_all(content.as_bytes())
            .map_err(|e| fail("write", e))?;
        file.sync_all().map_err(|e| fail("write", e))?;
        fs::rename(&tmp, &target).map_err(|e| fail("replace", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn owner_only() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn owner_only() -> Option<fs::Permissions> {
    None
}

// === The conversation ===

/// Reads answers and writes prompts; keys are read hidden on a terminal.
struct Prompter<'a> {
    input: &'a mut dyn BufRead,
    output: &'a mut dyn Write,
    /// Standard input is a terminal: it echoes answers (and keys are read
    /// from it without echo).
    terminal: bool,
}

impl Prompter<'_> {
    fn say(&mut self, text: &str) -> Result<(), InitError> {
        writeln!(self.output, "{text}").map_err(output_error)
    }

    /// Asks `prompt` and reads one line; `None` at the end of input.
    fn ask(&mut self, prompt: &str) -> Result<Option<String>, InitError> {
        write!(self.output, "{prompt}").map_err(output_error)?;
        self.output.flush().map_err(output_error)?;
        let mut line = String::new();
        let n = self.input.read_line(&mut line).map_err(|e| {
            InitError::Config(format!("cannot read the answer from standard input: {e}"))
        })?;
        if !self.terminal {
            // Piped answers are not echoed: end the prompt's line.
            writeln!(self.output).map_err(output_error)?;
        }
        Ok((n > 0).then(|| line.trim_end_matches(['\n', '\r']).to_string()))
    }

    /// Asks for a secret: hidden on a terminal, a plain line otherwise.
    fn ask_secret(&mut self, prompt: &str) -> Result<Option<String>, InitError> {
        if !self.terminal {
            return self.ask(prompt);
        }
        write!(self.output, "{prompt}").map_err(output_error)?;
        self.output.flush().map_err(output_error)?;
        match rpassword::read_password() {
            Ok(line) => Ok(Some(line)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(InitError::Config(format!(
                "cannot read the key from the terminal: {e}"
            ))),
        }
    }

    /// Asks until `check` accepts the answer; the end of input is an error
    /// saying `missing`.
    fn ask_until<T>(
        &mut self,
        prompt: &str,
        missing: &str,
        check: impl Fn(&str) -> Result<T, InitError>,
    ) -> Result<T, InitError> {
        loop {
            let Some(answer) = self.ask(prompt)? else {
                return Err(InitError::Config(missing.to_string()));
            };
            match check(answer.trim()) {
                Ok(value) => return Ok(value),
                Err(e) => self.say(&format!("  {e}"))?,
            }
        }
    }

    /// Reads keys one per line until an empty line or the end of input.
    fn ask_keys(&mut self, provider: &str) -> Result<Vec<String>, InitError> {
        let hidden = if self.terminal {
            " (input is hidden)"
        } else {
            ""
        };
        self.say(&format!(
            "Enter {provider} API keys, one per line; an empty line finishes{hidden}."
        ))?;
        let mut keys = Vec::new();
        loop {
            let prompt = format!("  key {}: ", keys.len() + 1);
            match self.ask_secret(&prompt)? {
                Some(key) if !key.trim().is_empty() => {
                    let key = key.trim().to_string();
                    if self.terminal {
                        self.say(&format!("    got {}", mask(&key)))?;
                    }
                    keys.push(key);
                }
                _ => return Ok(keys),
            }
        }
    }

    /// Reads every non-empty line until the end of input (`--key -`).
    fn read_all_keys(&mut self) -> Result<Vec<String>, InitError> {
        let mut keys = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.input.read_line(&mut line).map_err(|e| {
                InitError::Config(format!("cannot read keys from standard input: {e}"))
            })?;
            if n == 0 {
                return Ok(keys);
            }
            if !line.trim().is_empty() {
                keys.push(line.trim().to_string());
            }
        }
    }
}

fn output_error(e: std::io::Error) -> InitError {
    InitError::Config(format!("cannot write to standard output: {e}"))
}

/// Runs `setup` on the process's standard input and output; keys typed on a
/// terminal are not echoed.
pub fn run_stdio(args: &SetupArgs) -> Result<(), InitError> {
    let terminal = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = stdout.lock();
    run_with(args, &mut input, &mut output, terminal)
}

/// Runs `setup`, reading answers and keys from `input` as plain lines and
/// writing prompts and messages to `output`.
pub fn run(
    args: &SetupArgs,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), InitError> {
    run_with(args, input, output, false)
}

fn run_with(
    args: &SetupArgs,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    terminal: bool,
) -> Result<(), InitError> {
    let mut io = Prompter {
        input,
        output,
        terminal,
    };
    let path = &args.env_file;
    let shown_path = path.display().to_string();
    let existing = read_env_file(path)?;

    let base_url = args
        .base_url
        .as_deref()
        .map(validate_base_url)
        .transpose()?;
    let (provider, base_url) = match &args.provider {
        Some(name) => {
            let provider = validate_provider(name)?;
            let known = preset(&provider).is_some()
                || base_url.is_some()
                || has_base(&existing, &provider)?;
            if !known {
                return Err(InitError::Config(format!(
                    "unknown provider `{provider}`: pass --base-url URL for a custom \
                     OpenAI-compatible provider, or pick one of the presets: {}",
                    preset_names()
                )));
            }
            (provider, base_url)
        }
        None => choose_provider(&mut io, &existing, base_url)?,
    };

    let mut keys: Vec<String> = Vec::new();
    let mut from_stdin = false;
    for key in &args.keys {
        if key == "-" {
            from_stdin = true;
        } else {
            keys.push(validate_key(key)?);
        }
    }
    if from_stdin {
        let more = if io.terminal {
            io.ask_keys(&provider)?
        } else {
            io.read_all_keys()?
        };
        keys.extend(more);
    }
    if args.keys.is_empty() {
        keys = io.ask_keys(&provider)?;
    }
    if keys.is_empty() && count_keys(&existing, &provider)? == 0 {
        return Err(InitError::Config(format!(
            "no key given for `{provider}`: pass --key KEY (repeatable, or --key - to read them \
             from standard input)"
        )));
    }

    let change = Change {
        provider: provider.clone(),
        base_url,
        keys,
    };
    let edited = apply(&existing, &change)?;
    if edited.changed {
        write_atomic(path, &edited.content)?;
    }
    for event in &edited.events {
        io.say(&describe(event, &shown_path))?;
    }
    let count = count_keys(&edited.content, &provider)?;
    let plural = if count == 1 { "" } else { "s" };
    if edited.changed {
        io.say(&format!(
            "wrote {shown_path}: `{provider}` has {count} key{plural}"
        ))?;
    } else {
        io.say(&format!(
            "{shown_path} is unchanged: `{provider}` has {count} key{plural}"
        ))?;
    }
    io.say(&format!(
        "clients ask for models as \"{provider}/<model>\"; check everything with: \
         llm-key-proxy --check-config"
    ))?;
    Ok(())
}

/// The interactive provider choice: a preset by number or name, or a custom
/// provider with its name and base URL.
fn choose_provider(
    io: &mut Prompter<'_>,
    existing: &str,
    base_url: Option<String>,
) -> Result<(String, Option<String>), InitError> {
    let custom = PRESETS.len() + 1;
    io.say("Providers:")?;
    for (i, (name, base, _)) in PRESETS.iter().enumerate() {
        io.say(&format!("  {:>2}) {name:<12} {base}", i + 1))?;
    }
    io.say(&format!(
        "  {custom:>2}) custom       an OpenAI-compatible server (vLLM, llama.cpp, Ollama, a gateway)"
    ))?;
    let stdin_ended = "no provider chosen: standard input ended; run `llm-key-proxy setup \
                       --provider NAME --key KEY` to set up without questions";
    let choice = io.ask_until(
        &format!("Provider [1-{custom} or a name]: "),
        stdin_ended,
        |answer| {
            let answer = answer.to_ascii_lowercase();
            if let Ok(n) = answer.parse::<usize>() {
                return match n {
                    n if (1..=PRESETS.len()).contains(&n) => Ok(Some(PRESETS[n - 1].0)),
                    n if n == custom => Ok(None),
                    _ => Err(InitError::Config(format!(
                        "pick a number from 1 to {custom}"
                    ))),
                };
            }
            if answer == "custom" {
                return Ok(None);
            }
            PRESETS
                .iter()
                .find(|(name, _, _)| *name == answer)
                .map(|(name, _, _)| Some(*name))
                .ok_or_else(|| {
                    InitError::Config(format!(
                        "pick a number from 1 to {custom}, a preset name or `custom`"
                    ))
                })
        },
    )?;
    if let Some(name) = choice {
        return Ok((name.to_string(), base_url));
    }
    let name = io.ask_until(
        "Provider name (lower-case, e.g. vllm): ",
        stdin_ended,
        validate_provider,
    )?;
    if base_url.is_some() {
        return Ok((name, base_url));
    }
    // A preset or a provider already in the file may keep its base URL.
    let optional = preset(&name).is_some() || has_base(existing, &name)?;
    let hint = if optional {
        " (empty keeps the current one)"
    } else {
        ""
    };
    let url = io.ask_until(
        &format!("Base URL, e.g. http://localhost:8000/v1{hint}: "),
        "no base URL given: standard input ended; pass --base-url URL",
        |answer| {
            if answer.is_empty() && optional {
                Ok(None)
            } else {
                validate_base_url(answer).map(Some)
            }
        },
    )?;
    Ok((name, url))
}

/// One line for `event`; `file` names the env file.
pub fn describe(event: &Event, file: &str) -> String {
    match event {
        Event::Added { var, mask } => format!("added {var} = {mask}"),
        Event::AlreadyPresent { var, mask } => {
            format!("skipped {mask}: already in {file} as {var}")
        }
        Event::GivenTwice { mask } => format!("skipped {mask}: given twice"),
        Event::ProxyKeyGenerated { mask } => format!(
            "{PROXY_KEY_VAR} generated and saved in {file} ({mask}): clients send it as \
             `Authorization: Bearer <key>`"
        ),
        Event::BaseSet { var, url, replaced } => {
            let verb = if *replaced { "replaced" } else { "set" };
            format!("{verb} {var} = {}", redact_url(url))
        }
        Event::BaseUnchanged { var, url } => {
            format!("kept {var} = {}", redact_url(url))
        }
    }
}

fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(provider: &str, keys: &[&str]) -> Change {
        Change {
            provider: provider.into(),
            base_url: None,
            keys: keys.iter().map(|k| k.to_string()).collect(),
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
        let example = include_str!("../.env.example");
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
}
