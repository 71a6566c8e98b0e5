//! Adding a key from the status page's form: it joins the pool and
//! `.env`, serves requests, and the page never shows it back.

use actix_web::http::StatusCode;
use fantoccini::Locator;

use super::{key_id, Browser};
use crate::helpers::*;

/// A key only the form knows.
const ADDED: &str = "sk-added-through-the-form-0003";

#[actix_web::test]
async fn a_key_added_with_the_form_serves_and_is_never_shown_back() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    browser.open_status_page(&app).await;
    for (css, text) in [("#add-provider", "mock"), ("#add-key", ADDED)] {
        let field = browser.client.find(Locator::Css(css)).await.unwrap();
        field.send_keys(text).await.unwrap();
    }
    browser.submit("#add").await;
    let said = browser
        .wait_for_text("#result", |t| t.contains("added"))
        .await;
    assert_eq!(said, "key sk-…0003 added to mock");

    // The pool serves with it at once, and the page lists it.
    let id = key_id(ADDED);
    browser
        .wait_for_text(&format!("tbody[data-key=\"{id}\"]"), |t| {
            t.contains("sk-…0003")
        })
        .await;
    for _ in 0..3 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    assert!(app.mock.calls(ADDED, "m") > 0, "the added key served");
    let file = std::fs::read_to_string(&app.env_file).unwrap();
    assert!(file.contains(ADDED), "saved in .env: {file}");

    // Typed in, never shown back: not in the field, nor anywhere on the page.
    let field = browser.eval("return document.getElementById('add-key').value", vec![]);
    assert_eq!(field.await, "");
    let page = browser
        .eval("return document.documentElement.outerHTML", vec![])
        .await;
    assert!(!page.as_str().unwrap().contains(ADDED));
    browser.stop().await;
    app.stop().await;
}
