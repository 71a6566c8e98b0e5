//! The status page (`GET /`, `GET /status`): one self-contained HTML page
//! (inline CSS and JS, no external resources) that shows per provider the
//! masked keys, their cooldowns and locks counting down, in-flight counts,
//! today's usage and a chart of the last 24 hours, refreshed every 2 s.
//! Its buttons disable, enable and reset keys, and a form adds one, all
//! through the admin routes with the same proxy key (sent by `fetch`: the
//! CSP allows no form submission).
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

#[cfg(test)]
mod tests {
    use super::PAGE;

    /// The CSS block of the first `@media (max-width: Npx)` rule, and N.
    fn narrow_rules() -> (u32, &'static str) {
        let at = PAGE
            .find("@media (max-width: ")
            .expect("a narrow-screen rule");
        let rest = &PAGE[at + "@media (max-width: ".len()..];
        let width = rest[..rest.find("px").unwrap()].parse().unwrap();
        let end = rest.find("\n}\n").unwrap();
        (width, &rest[..end])
    }

    #[test]
    fn a_phone_gets_rows_without_sideways_scrolling() {
        let (width, rules) = narrow_rules();
        assert!(width >= 390, "a 390 px phone must match: {width}");
        // The wide layout's 900 px table is what got cut off.
        assert!(PAGE.contains("min-width: 900px"));
        for rule in [
            "table { min-width: 0;",
            "thead { display: none; }",
            "table, tbody, tr, td { display: block; }",
            "content: attr(data-label)",
        ] {
            assert!(rules.contains(rule), "missing {rule:?} in {rules}");
        }
        // Every number cell carries its column name for that layout.
        assert!(PAGE.contains("cell.dataset.label = label;"));
        for label in ["in flight", "today ok / fail / req", "lifetime req"] {
            assert!(PAGE.contains(&format!("[\"{label}\"")), "{label}");
        }
    }

    #[test]
    fn a_key_typed_in_is_sent_once_and_never_shown_back() {
        assert!(super::CSP.contains("form-action 'none'"));
        assert!(PAGE.contains(r#"<input id="add-key" type="password" autocomplete="off""#));
        let start = PAGE.find(r#"$("add").addEventListener"#).unwrap();
        let handler = &PAGE[start..start + PAGE[start..].find("\n  });\n").unwrap()];
        // Cleared before the request leaves, whatever the answer.
        let cleared = handler.find(r#"$("add-key").value = "";"#).unwrap();
        assert!(cleared < handler.find("act(").unwrap(), "{handler}");
        assert!(handler.contains("e.preventDefault();"), "{handler}");
        // Only the masked key of the answer is shown.
        assert!(handler.contains("j.masked"), "{handler}");
        assert_eq!(PAGE.matches(r#"$("add-key").value"#).count(), 2);
    }

    #[test]
    fn a_locked_key_shows_why() {
        let start = PAGE
            .find("function reason(k, m)")
            .expect("a reason for each state");
        let body = &PAGE[start..start + PAGE[start..].find("\n  }\n").unwrap()];
        // A lock is checked first and needs no failure counter (a lockout
        // does not count as a consecutive failure).
        let lock = body.find("k.locked_until").unwrap();
        let counter = body.find("consecutive_failures").unwrap();
        assert!(lock < counter, "{body}");
        assert!(body.contains("\"key rejected\""), "{body}");
        assert!(PAGE.contains("const [note, detail] = reason(k, m);"));
    }
}
