//! What a user does on the status page: enter the proxy key, watch a
//! cooling key count down, disable, enable and reset keys with the
//! buttons, read the history chart.

use actix_web::http::StatusCode;
use mock_upstream::Reply;
use serde_json::json;

use super::{key_id, Browser};
use crate::helpers::*;

/// The seconds left in a badge such as `cooling 29s` or `cooling 1m05s`.
fn seconds_left(badge: &str) -> Option<u64> {
    let rest = badge.strip_prefix("cooling ")?;
    let (minutes, seconds) = match rest.split_once('m') {
        Some((m, s)) => (m.parse::<u64>().ok()?, s),
        None => (0, rest),
    };
    Some(minutes * 60 + seconds.strip_suffix('s')?.parse::<u64>().ok()?)
}

/// Cools `KEY_1` for `model` with a 429 asking for `seconds`: requests
/// until the key took one (the other key answers them).
async fn cool_key_1(app: &TestApp, seconds: u32) {
    let retry = seconds.to_string();
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", &retry)],
    );
    for _ in 0..3 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
        if app.mock.calls(KEY_1, "m") > 0 {
            return;
        }
    }
    panic!("key 1 was never tried");
}

#[actix_web::test]
async fn the_page_takes_the_key_and_counts_a_cooling_key_down_until_its_model_is_reset() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    cool_key_1(&app, 90).await;
    let id = key_id(KEY_1);
    browser.open_status_page(&app).await;
    let badge = format!("tbody[data-key=\"{id}\"] .badge");
    let first = browser
        .wait_for_text(&badge, |t| seconds_left(t).is_some())
        .await;
    let first = seconds_left(&first).unwrap();
    // 90 s from the 429, rounded up to whole seconds; less by the time
    // the page took to load on a busy machine.
    assert!((30..=91).contains(&first), "{first}");
    // The countdown runs in the page, once a second.
    browser
        .wait_for_text(&badge, |t| seconds_left(t).is_some_and(|s| s < first))
        .await;

    // The model's own button, beside its state.
    browser.click("reset m on key key…0001").await;
    let said = browser
        .wait_for_text("#result", |t| t.contains("key…0001"))
        .await;
    assert_eq!(said, "m on key key…0001: cooldowns cleared");
    browser.wait_for_text(&badge, |t| t == "ready").await;
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["cooldown_until"], json!(null), "{usage}");
    browser.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_key_disabled_with_its_button_is_avoided_until_enabled() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    let id = key_id(KEY_1);
    browser.open_status_page(&app).await;
    browser.click("disable key key…0001").await;
    let said = browser
        .wait_for_text("#result", |t| t.contains("key…0001"))
        .await;
    assert_eq!(said, "key key…0001 disabled");
    let badge = format!("tbody[data-key=\"{id}\"] .badge");
    browser.wait_for_text(&badge, |t| t == "disabled").await;

    for _ in 0..3 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    assert_eq!(app.mock.calls(KEY_1, "m"), 0);
    assert_eq!(app.mock.calls(KEY_2, "m"), 3);

    browser.click("enable key key…0001").await;
    browser
        .wait_for_text("#result", |t| t == "key key…0001 enabled")
        .await;
    browser.wait_for_text(&badge, |t| t != "disabled").await;
    browser.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn the_history_chart_shows_the_last_hours_requests_at_phone_width_and_a_key_resets() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    cool_key_1(&app, 900).await;
    let requests = app.mock.calls(KEY_1, "m") + app.mock.calls(KEY_2, "m");
    browser.open_status_page(&app).await;
    let chart = "section[data-provider=\"mock\"] svg.chart";
    let label = browser
        .wait_for_text(&format!("{chart} + div"), |t| t.starts_with("last 24 h"))
        .await;
    assert_eq!(
        label,
        format!("last 24 h: {requests} requests · 1 failed · 1 rate-limited")
    );
    // One bar (or an empty stub) per hour, the last one stacked.
    let bars = browser
        .eval(
            "return document.querySelectorAll(arguments[0] + ' rect').length;",
            vec![json!(chart)],
        )
        .await;
    assert!(bars.as_u64().unwrap() >= 24, "{bars}");
    // Nothing needs sideways scrolling at 375 px.
    let width = browser
        .eval(
            "return [window.innerWidth, document.documentElement.scrollWidth];",
            vec![],
        )
        .await;
    assert!(width[0].as_u64().unwrap() <= 400, "{width}");
    assert!(width[1].as_u64() <= width[0].as_u64(), "{width}");

    // The key's reset button clears it for every model.
    browser.click("reset cooldowns of key key…0001").await;
    browser
        .wait_for_text("#result", |t| t == "key key…0001: cooldowns cleared")
        .await;
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["cooldown_until"], json!(null), "{usage}");
    browser.stop().await;
    app.stop().await;
}
