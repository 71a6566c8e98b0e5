use super::*;

#[test]
fn client_errors_do_not_take_model_labels() {
    let m = Metrics::default();
    let chat = "/v1/chat/completions";
    for i in 0..MAX_MODEL_SERIES + 10 {
        m.request(chat, "p", &format!("nope{i}"), 404, Duration::ZERO);
    }
    m.request(chat, "p", "real", 429, Duration::ZERO);
    m.request(chat, "p", "real", 404, Duration::ZERO);
    let text = m.render(&UsageReport::default(), Utc::now());
    assert!(!text.contains("nope"), "{text}");
    let other = format!(r#"model="other",status="404"}} {}"#, MAX_MODEL_SERIES + 10);
    assert!(text.contains(&other), "{text}");
    assert!(text.contains(r#"model="real",status="404"} 1"#), "{text}");
}

#[test]
fn renders_counters_histograms_and_escapes_labels() {
    let m = Metrics::default();
    m.request(
        "/v1/chat/completions",
        "groq",
        "llama\"3",
        200,
        Duration::from_millis(3),
    );
    m.request(
        "/v1/chat/completions",
        "groq",
        "llama\"3",
        200,
        Duration::from_millis(30),
    );
    m.attempt("groq", "rate_limited", Duration::from_millis(2));
    let text = m.render(&UsageReport::default(), Utc::now());
    assert!(
        text.contains(
            r#"llm_proxy_requests_total{provider="groq",model="llama\"3",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(text
        .contains(r#"llm_proxy_upstream_attempts_total{provider="groq",class="rate_limited"} 1"#));
    assert!(text.contains(
        r#"llm_proxy_request_duration_seconds_bucket{route="/v1/chat/completions",le="0.005"} 1"#
    ));
    assert!(text
        .contains(r#"llm_proxy_request_duration_seconds_count{route="/v1/chat/completions"} 2"#));
    assert!(text.contains("llm_proxy_in_flight_requests 0"));
}

#[test]
fn model_labels_are_capped() {
    let m = Metrics::default();
    for i in 0..MAX_MODEL_SERIES + 10 {
        m.request(
            "/v1/chat/completions",
            "p",
            &format!("m{i}"),
            200,
            Duration::ZERO,
        );
    }
    let text = m.render(&UsageReport::default(), Utc::now());
    assert!(text.contains(r#"model="other",status="200"} 10"#), "{text}");
    assert!(text.contains(r#"model="m0",status="200"} 1"#), "{text}");
    let _held = m.enter();
    assert!(m
        .render(&UsageReport::default(), Utc::now())
        .contains("llm_proxy_in_flight_requests 1"));
}
