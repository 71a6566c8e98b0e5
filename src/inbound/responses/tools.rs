//! Tools: the Responses `tools` list becomes chat functions, and the
//! [`ToolMap`] remembers how a chat tool call maps back to the item the
//! client expects (`function_call` or `custom_tool_call`, with the tool's
//! own name and namespace).
//!
//! - `function` tools become chat functions of the same name.
//! - `custom` tools (free-form input, e.g. Codex's `apply_patch`) become a
//!   function with one string argument `input`; the grammar, if any, is put
//!   in the description so the model still sees it.
//! - `namespace` tools (a named group of function and custom tools) become
//!   one chat function per member, named `<namespace>__<name>` (see
//!   [`flat_name`]); calls come back with `name` and `namespace` split
//!   again, which is how Codex routes calls to MCP and extension tools.
//! - Every other type is a built-in tool only OpenAI can run (`web_search`,
//!   `file_search`, `computer_use_preview`, `code_interpreter`, …): it is
//!   dropped and its type listed in [`ToolMap::dropped`].

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::str_of;

/// Longest function name chat providers accept (OpenAI's limit).
const MAX_NAME_LEN: usize = 64;

/// How a chat tool call comes back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    /// A `function_call` item; `arguments` is the JSON text.
    Function,
    /// A `custom_tool_call` item; `input` is the `input` argument.
    Custom,
}

/// The client's view of one chat function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTool {
    pub kind: ToolKind,
    /// The tool's name as the client declared it (without namespace).
    pub name: String,
    /// The `namespace` tool it belongs to.
    pub namespace: Option<String>,
}

/// Chat function name → client tool, for every tool sent upstream, and the
/// built-in tools that were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolMap {
    by_chat_name: BTreeMap<String, ClientTool>,
    dropped: Vec<String>,
}

// === impl ToolMap ===

impl ToolMap {
    /// The client tool a chat tool call names; `None` for a name the client
    /// never declared (the call is then returned as a plain function call).
    pub fn lookup(&self, chat_name: &str) -> Option<&ClientTool> {
        self.by_chat_name.get(chat_name)
    }

    /// The chat function name for a call the client sends back in `input`
    /// (`name` and optional `namespace`): the name given to that tool in
    /// this request, else the same flattening a declared tool would get.
    pub fn chat_name(&self, name: &str, namespace: Option<&str>) -> String {
        let known = self
            .by_chat_name
            .iter()
            .find(|(_, tool)| tool.name == name && tool.namespace.as_deref() == namespace);
        match (known, namespace) {
            (Some((chat_name, _)), _) => chat_name.clone(),
            (None, Some(namespace)) => flat_name(namespace, name),
            (None, None) => name.to_string(),
        }
    }

    /// Types of the built-in tools dropped from the request, in order, each
    /// once.
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// Value for the `x-llm-key-proxy-dropped-tools` response header
    /// (`web_search, file_search`), or `None` when nothing was dropped.
    pub fn dropped_header(&self) -> Option<String> {
        (!self.dropped.is_empty()).then(|| self.dropped.join(", "))
    }

    /// Whether any tool reaches the provider.
    pub fn is_empty(&self) -> bool {
        self.by_chat_name.is_empty()
    }

    /// Registers a tool under a chat name not yet taken (`name`, else
    /// `name_2`, `name_3`, …) and returns that name.
    fn insert(&mut self, wanted: String, tool: ClientTool) -> String {
        let mut chat_name = wanted.clone();
        let mut n = 2;
        while self.by_chat_name.contains_key(&chat_name) {
            chat_name = fit(&format!("{wanted}_{n}"));
            n += 1;
        }
        self.by_chat_name.insert(chat_name.clone(), tool);
        chat_name
    }

    fn drop_builtin(&mut self, kind: &str) {
        if !self.dropped.iter().any(|d| d == kind) {
            self.dropped.push(kind.to_string());
        }
    }
}

/// Converts the Responses `tools` into chat tools and the [`ToolMap`].
/// Errors name the offending entry (`tools[2]: …`).
pub fn chat_tools(tools: Option<&Value>) -> Result<(Vec<Value>, ToolMap), String> {
    let mut map = ToolMap::default();
    let mut out = Vec::new();
    let list = match tools {
        None | Some(Value::Null) => return Ok((out, map)),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("\"tools\" must be an array".into()),
    };
    for (i, tool) in list.iter().enumerate() {
        let at = |e: String| format!("tools[{i}]: {e}");
        match str_of(tool, "type") {
            Some("function" | "custom") => out.push(member(tool, None, &mut map).map_err(at)?),
            Some("namespace") => {
                let namespace = str_of(tool, "name")
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| at("a namespace tool needs a \"name\"".into()))?;
                let members = tool
                    .get("tools")
                    .and_then(Value::as_array)
                    .ok_or_else(|| at("a namespace tool needs a \"tools\" array".into()))?;
                for (j, inner) in members.iter().enumerate() {
                    match str_of(inner, "type") {
                        Some("function" | "custom") => out.push(
                            member(inner, Some(namespace), &mut map)
                                .map_err(|e| at(format!("tools[{j}]: {e}")))?,
                        ),
                        other => {
                            return Err(at(format!(
                                "tools[{j}]: a namespace holds \"function\" and \"custom\" \
                                 tools, not {}",
                                other.map_or("an entry without \"type\"".into(), |t| format!(
                                    "{t:?}"
                                ))
                            )))
                        }
                    }
                }
            }
            Some(builtin) => map.drop_builtin(builtin),
            None => return Err(at("missing \"type\"".into())),
        }
    }
    Ok((out, map))
}

/// The chat tool for one `function` or `custom` tool.
fn member(tool: &Value, namespace: Option<&str>, map: &mut ToolMap) -> Result<Value, String> {
    let name = str_of(tool, "name")
        .filter(|n| !n.is_empty())
        .ok_or("missing \"name\"")?;
    let description = str_of(tool, "description").unwrap_or_default();
    let custom = str_of(tool, "type") == Some("custom");
    let kind = if custom {
        ToolKind::Custom
    } else {
        ToolKind::Function
    };
    let wanted = match namespace {
        Some(namespace) => flat_name(namespace, name),
        None => name.to_string(),
    };
    let client = ClientTool {
        kind,
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
    };
    let chat_name = map.insert(wanted, client);
    let mut function = serde_json::Map::new();
    function.insert("name".into(), chat_name.into());
    if custom {
        function.insert(
            "description".into(),
            custom_description(tool, description).into(),
        );
        function.insert("parameters".into(), custom_parameters());
    } else {
        if !description.is_empty() {
            function.insert("description".into(), description.into());
        }
        let parameters = match tool.get("parameters") {
            Some(p @ Value::Object(_)) => p.clone(),
            None | Some(Value::Null) => json!({ "type": "object", "properties": {} }),
            Some(_) => return Err("\"parameters\" must be a JSON schema object".into()),
        };
        function.insert("parameters".into(), parameters);
        if let Some(strict) = tool.get("strict").filter(|s| s.is_boolean()) {
            function.insert("strict".into(), strict.clone());
        }
    }
    Ok(json!({ "type": "function", "function": function }))
}

/// A custom tool's description, told that its input is one raw string, and
/// with its grammar (Lark or regex) when it has one.
fn custom_description(tool: &Value, description: &str) -> String {
    let mut text = description.to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(
        "Call this tool with one argument, `input`: the tool's raw input text (not JSON).",
    );
    let format = tool.get("format").unwrap_or(&Value::Null);
    if str_of(format, "type") == Some("grammar") {
        if let Some(definition) = str_of(format, "definition") {
            let syntax = str_of(format, "syntax").unwrap_or("lark");
            text.push_str(&format!(
                " The input must match this {syntax} grammar:\n{definition}"
            ));
        }
    }
    text
}

/// The parameters of the function standing in for a custom tool.
fn custom_parameters() -> Value {
    json!({
        "type": "object",
        "properties": { "input": { "type": "string", "description": "The tool's raw input." } },
        "required": ["input"],
        "additionalProperties": false,
    })
}

/// The chat function name of tool `name` in `namespace`: the namespace,
/// `__`, the name (no `__` when the namespace already ends in `_`, as
/// Codex's `mcp__server__` does), with characters chat providers refuse
/// replaced by `_` and at most 64 characters.
pub fn flat_name(namespace: &str, name: &str) -> String {
    let namespace = sanitize(namespace);
    let joined = if namespace.ends_with('_') {
        format!("{namespace}{}", sanitize(name))
    } else {
        format!("{namespace}__{}", sanitize(name))
    };
    fit(&joined)
}

/// `[A-Za-z0-9_-]` kept, anything else `_`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `name` cut to [`MAX_NAME_LEN`]; a cut name ends with a hash of the whole
/// one, so two long names that share a prefix stay apart.
fn fit(name: &str) -> String {
    if name.len() <= MAX_NAME_LEN {
        return name.to_string();
    }
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let suffix = format!("_{:08x}", hash & 0xffff_ffff);
    // Only ASCII remains after `sanitize`, so any byte index is a boundary.
    let keep = MAX_NAME_LEN - suffix.len();
    format!("{}{suffix}", &name[..keep.min(name.len())])
}

/// The chat `tool_choice` for a Responses `tool_choice`. Forcing a built-in
/// tool that was dropped, or `allowed_tools` (chat has no subset), leaves
/// the mode (`auto`/`required`) and lets the model choose.
pub fn chat_tool_choice(choice: &Value, map: &ToolMap) -> Result<Option<Value>, String> {
    match choice {
        Value::Null => Ok(None),
        Value::String(mode) => match mode.as_str() {
            "auto" | "none" | "required" => Ok(Some(choice.clone())),
            other => Err(format!(
                "unknown tool_choice {other:?}: use \"auto\", \"none\" or \"required\""
            )),
        },
        Value::Object(_) => match str_of(choice, "type") {
            Some("function" | "custom") => {
                let name = str_of(choice, "name").ok_or("tool_choice needs a \"name\"")?;
                let chat_name = map.chat_name(name, str_of(choice, "namespace"));
                if map.lookup(&chat_name).is_none() {
                    return Err(format!(
                        "tool_choice names {name:?}, which is not in \"tools\""
                    ));
                }
                Ok(Some(
                    json!({ "type": "function", "function": { "name": chat_name } }),
                ))
            }
            Some("allowed_tools") => match str_of(choice, "mode") {
                Some(mode @ ("auto" | "required")) => Ok(Some(mode.into())),
                _ => {
                    Err("tool_choice \"allowed_tools\" needs mode \"auto\" or \"required\"".into())
                }
            },
            // A built-in tool (`web_search`, `file_search`, …): dropped.
            Some(_) => Ok(Some("auto".into())),
            None => Err("tool_choice object needs a \"type\"".into()),
        },
        _ => Err("\"tool_choice\" must be a string or an object".into()),
    }
}
