//! The status page shows each (key, model)'s per-key limits as used / cap.

use actix_web::http::StatusCode;

use super::{key_id, Browser};
use crate::helpers::*;

#[actix_web::test]
async fn the_page_shows_how_much_of_each_limit_is_used() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![
            ("RPD_LIMIT_MOCK".into(), "2".into()),
            ("RPM_LIMIT_MOCK".into(), "30".into()),
        ],
        ..Options::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    browser.open_status_page(&app).await;
    let css = format!("tbody[data-key=\"{}\"] .limit", key_id(KEY_1));
    let shown = browser.wait_for_text(&css, |t| t.contains("rpd")).await;
    assert_eq!(shown, "rpm 2/30 · rpd 2/2");
    let class = browser
        .eval(
            "return document.querySelector(arguments[0]).className",
            vec![serde_json::json!(css)],
        )
        .await;
    assert_eq!(class, "note limit full", "the reached limit stands out");
    browser.stop().await;
    app.stop().await;
}
