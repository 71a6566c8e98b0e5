//! OpenAI's `encoding_format` for embeddings. OpenAI-compatible providers
//! get the field as sent and encode the vectors themselves; for a format
//! the proxy translates (Gemini), the proxy encodes them: `"base64"` is the
//! little-endian float32 bytes of the vector, base64-encoded (what the
//! openai Node SDK asks for by default, and decodes).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// How the client wants embedding vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmbeddingEncoding {
    /// A JSON array of numbers (`"float"`, or no `encoding_format`).
    #[default]
    Float,
    /// A base64 string of the little-endian float32 values.
    Base64,
}

// === impl EmbeddingEncoding ===

impl EmbeddingEncoding {
    /// The request's `encoding_format`; another value is refused, as
    /// OpenAI does.
    pub fn of(body: &Map<String, Value>) -> Result<EmbeddingEncoding, String> {
        match body.get("encoding_format") {
            None | Some(Value::Null) => Ok(EmbeddingEncoding::Float),
            Some(Value::String(s)) if s == "float" => Ok(EmbeddingEncoding::Float),
            Some(Value::String(s)) if s == "base64" => Ok(EmbeddingEncoding::Base64),
            Some(other) => Err(format!(
                "`encoding_format` must be \"float\" or \"base64\", not {other}"
            )),
        }
    }

    /// Re-encodes the `embedding` arrays of an OpenAI embeddings answer
    /// (`{"data":[{"embedding":[…]}]}`) the proxy built itself. `None` if
    /// a vector holds something other than numbers.
    pub fn apply(self, answer: &mut Value) -> Option<()> {
        if self == EmbeddingEncoding::Float {
            return Some(());
        }
        for item in answer.get_mut("data")?.as_array_mut()? {
            let vector = item.get_mut("embedding")?;
            let values = vector.as_array()?;
            let mut bytes = Vec::with_capacity(values.len() * 4);
            for value in values {
                // float32 on the wire, as OpenAI sends it.
                let value = value.as_f64()? as f32;
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            *vector = Value::String(STANDARD.encode(&bytes));
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_become_little_endian_float32_in_base64() {
        let mut answer = json!({"data": [{"embedding": [1.0, -2.5]}, {"embedding": []}]});
        EmbeddingEncoding::Base64.apply(&mut answer).unwrap();
        // 1.0f32 = 00 00 80 3f, -2.5f32 = 00 00 20 c0.
        assert_eq!(answer["data"][0]["embedding"], "AACAPwAAIMA=");
        assert_eq!(answer["data"][1]["embedding"], "");
        let mut floats = json!({"data": [{"embedding": [0.5]}]});
        EmbeddingEncoding::Float.apply(&mut floats).unwrap();
        assert_eq!(floats["data"][0]["embedding"], json!([0.5]));
        let mut broken = json!({"data": [{"embedding": ["x"]}]});
        assert!(EmbeddingEncoding::Base64.apply(&mut broken).is_none());
    }

    #[test]
    fn encoding_format_is_read_and_checked() {
        let of = |v: Value| EmbeddingEncoding::of(v.as_object().unwrap());
        assert_eq!(of(json!({})), Ok(EmbeddingEncoding::Float));
        assert_eq!(
            of(json!({"encoding_format": null})),
            Ok(EmbeddingEncoding::Float)
        );
        assert_eq!(
            of(json!({"encoding_format": "float"})),
            Ok(EmbeddingEncoding::Float)
        );
        assert_eq!(
            of(json!({"encoding_format": "base64"})),
            Ok(EmbeddingEncoding::Base64)
        );
        let err = of(json!({"encoding_format": "int8"})).unwrap_err();
        assert!(err.contains("\"float\" or \"base64\""), "{err}");
    }
}
