//! Each wire format tells an input too long for the model from other
//! refusals, in the provider's own words.

use actix_web::http::StatusCode;

use super::Format;

fn too_long(format: Format, body: &str) -> bool {
    format
        .wire()
        .is_context_length(StatusCode::BAD_REQUEST, body.as_bytes())
}

#[test]
fn each_format_knows_its_providers_words() {
    let openai = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}"#;
    let gemini = r#"[{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}]"#;
    let other = r#"{"error":{"message":"unknown parameter `foo`","type":"invalid_request_error","code":null}}"#;
    assert!(too_long(Format::OpenAi, openai));
    assert!(too_long(Format::Anthropic, anthropic));
    assert!(too_long(Format::Gemini, gemini));
    for format in [Format::OpenAi, Format::Anthropic, Format::Gemini] {
        assert!(!too_long(format, other), "{format:?}");
        assert!(!too_long(format, "not json"), "{format:?}");
    }
}
