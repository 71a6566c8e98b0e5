//! The status page (`GET /`, `GET /status`): one self-contained HTML page
//! (inline CSS and JS, no external resources) that shows per provider the
//! masked keys, their cooldowns and locks counting down, in-flight counts and
//! today's usage, refreshed every 2 s.
//!
//! The page itself holds no data and is served without auth; its script
//! reads `GET /v1/usage`, first without a key (a loopback proxy without
//! `PROXY_API_KEY` answers) and, on 401, with the proxy key the user enters
//! once (kept in the browser's localStorage until "forget key").

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::HttpResponse;

/// The page, embedded at build time.
const PAGE: &str = include_str!("status.html");

/// Inline script and style only; the script may talk to this origin alone.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, CSP))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}
