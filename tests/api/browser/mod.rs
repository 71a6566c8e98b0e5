//! The status page in a real headless Chromium, driven over WebDriver
//! (`fantoccini`) against the real app and the scripted mock upstream.
//!
//! Each test starts its own `chromedriver` on a free port and a Chromium
//! with a throwaway profile and a phone's viewport (375 px wide). Without `chromium`
//! and `chromedriver` on the `PATH` the tests skip (see `skip_without`).

mod add_key;
mod limits;
mod status_page;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::helpers::*;

/// How long a page may take to show what a test waits for; generous, as
/// the machine may be busy compiling.
const PAGE_WAIT: Duration = Duration::from_secs(15);

/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(20);

/// A headless Chromium at phone width, and the chromedriver driving it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    port: u16,
    /// The WebDriver session, ended on drop if the test did not end it.
    session: Option<String>,
    _profile: tempfile::TempDir,
}

/// The first `name` on the `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// === impl Browser ===

impl Browser {
    /// Starts chromedriver and a headless Chromium; `None` (the test
    /// skips) when either is not installed.
    pub async fn start() -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (on_path("chromium"), on_path("chromedriver"))
        else {
            return skip_without(
                "chromium and chromedriver are not both on the PATH (Debian: apt-get install \
                 chromium chromium-driver)"
                    .to_string(),
            );
        };
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let client = connect(port, &chromium, profile.path()).await;
        let session = client.session_id().await.unwrap();
        Some(Browser {
            client,
            driver,
            port,
            session,
            _profile: profile,
        })
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn stop(mut self) {
        if self.client.clone().close().await.is_ok() {
            self.session = None;
        }
    }

    /// Opens the status page of `app` and enters the proxy key in its
    /// prompt, as a user would; returns once keys are shown.
    pub async fn open_status_page(&self, app: &TestApp) {
        self.client.goto(&app.url("/status")).await.unwrap();
        let field = self.wait_for_element("#key").await;
        field.send_keys(PROXY_KEY).await.unwrap();
        self.submit("#login").await;
        self.wait_for_element("tbody[data-key]").await;
    }

    /// The text of the first element matching `css`, `None` if there is
    /// none yet. Read in one script call: the page redraws every 2 s.
    pub async fn text(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); \
                      return e ? e.textContent : null;";
        match self.client.execute(script, vec![json!(css)]).await.unwrap() {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// Runs `script` in the page and gives its result.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Polls until `css` has text that `accept` takes; gives that text.
    pub async fn wait_for_text(&self, css: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let text = self.text(css).await;
            if let Some(text) = text.as_deref().filter(|t| accept(t)) {
                return text.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{css} still reads {text:?} after {PAGE_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_element(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(found) if found.is_displayed().await.unwrap_or(false) => return found,
                _ => {}
            }
            assert!(Instant::now() < deadline, "no {css} after {PAGE_WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the submit button of the form `form` (a CSS selector).
    pub async fn submit(&self, form: &str) {
        let css = format!("{form} button[type=submit]");
        self.client
            .find(Locator::Css(&css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks the button labelled `label` (its `aria-label`), as a user
    /// would; tried again if the page redrew it in between.
    pub async fn click(&self, label: &str) {
        let css = format!("button[aria-label=\"{label}\"]");
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let clicked = match self.client.find(Locator::Css(&css)).await {
                Ok(button) => button.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) => assert!(Instant::now() < deadline, "cannot click {css}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test ends here with its session open: Chromium would
        // outlive chromedriver, so the session is ended first.
        if let Some(session) = self.session.take() {
            end_session(self.port, &session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` (Chromium exits), blocking: for `Drop`, where
/// nothing can be awaited.
fn end_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(DRIVER_START));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

/// A WebDriver session on the chromedriver at `port`, retried until it
/// listens.
async fn connect(port: u16, chromium: &Path, profile: &Path) -> Client {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--disable-crash-reporter".to_string(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
            // A phone's viewport: a desktop window is at least 500 px wide.
            "mobileEmulation": {
                "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 2.0 },
            },
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let deadline = Instant::now() + DRIVER_START;
    loop {
        let session = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match session {
            Ok(client) => return client,
            Err(e) => assert!(
                Instant::now() < deadline,
                "no WebDriver session after {DRIVER_START:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The id the page shows for the raw key `key`.
pub fn key_id(key: &str) -> String {
    llm_key_proxy::secret::KeyId::of(key).to_string()
}
