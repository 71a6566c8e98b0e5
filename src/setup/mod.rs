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

mod edit;
mod remove;
mod validate;
mod write;

#[cfg(test)]
mod tests;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::error::InitError;
use crate::providers::presets::{preset, PRESETS};
use crate::secret::mask;

pub use edit::{apply, count_keys, generate_proxy_key, has_base, Change, Edited, Event};
pub use remove::{remove_key, Removed};
pub use validate::{redact_url, validate_base_url, validate_provider};
pub use write::{read_env_file, write_atomic};

use validate::validate_key;

/// Whether `var` gives `provider` a key: `<P>_API_KEY` or
/// `<P>_API_KEY_<suffix>`.
pub fn is_key_var(provider: &str, var: &str) -> bool {
    edit::key_suffix(&provider.to_ascii_uppercase(), var).is_some()
}

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
        ..Change::default()
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
