//! Reading one OpenAI chat stream chunk: the parts every client API's
//! stream translator looks at, in one place.

use serde_json::Value;

use crate::providers::str_of;

/// The parts of an OpenAI chat chunk a stream translator reads.
pub struct ChunkParts<'a> {
    /// A non-null `error`: the stream failed.
    pub error: Option<&'a Value>,
    /// `usage`, when it is an object (the usage-only chunk carries it).
    pub usage: Option<&'a Value>,
    /// The first choice, if any; the rest of the chunk is read from it.
    pub choice: Option<&'a Value>,
}

impl<'a> ChunkParts<'a> {
    pub fn of(chunk: &'a Value) -> ChunkParts<'a> {
        ChunkParts {
            error: chunk.get("error").filter(|e| !e.is_null()),
            usage: chunk.get("usage").filter(|u| u.is_object()),
            choice: chunk
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.first()),
        }
    }

    /// The first choice's `delta` (null without one).
    pub fn delta(&self) -> &'a Value {
        self.choice
            .and_then(|c| c.get("delta"))
            .unwrap_or(&Value::Null)
    }

    /// Non-empty text the delta carries under `key`.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        str_of(self.delta(), key).filter(|t| !t.is_empty())
    }

    /// Non-empty reasoning text (`reasoning_content`, or `reasoning` as
    /// some providers name it).
    pub fn reasoning(&self) -> Option<&'a str> {
        self.text("reasoning_content")
            .or_else(|| self.text("reasoning"))
    }

    /// The delta's tool-call fragments.
    pub fn tool_calls(&self) -> &'a [Value] {
        self.delta()
            .get("tool_calls")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The first choice's `finish_reason`.
    pub fn finish_reason(&self) -> Option<&'a str> {
        self.choice.and_then(|c| str_of(c, "finish_reason"))
    }
}
