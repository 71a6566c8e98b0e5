//! The awc client each worker thread uses for every provider.

use std::time::Duration;

use awc::{Client, Connector};

/// Time allowed to open a TCP connection and finish the TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle pooled connections are closed after this long; providers close
/// theirs after about a minute anyway.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Open connections per worker thread (awc's default of 100 is too low
    /// for many concurrent streams).
    pub connection_limit: usize,
}

/// Builds the client: rustls with webpki roots and the ring provider, no
/// whole-request timeout (callers bound each attempt themselves, so long
/// completions are not cut at awc's default 5 s).
pub fn build(settings: &ClientSettings) -> Client {
    // awc's rustls connector panics without a process-wide crypto provider.
    // Installing twice is harmless (the second call returns Err).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connector = Connector::new()
        .limit(settings.connection_limit)
        .timeout(CONNECT_TIMEOUT)
        .conn_keep_alive(KEEP_ALIVE);
    Client::builder()
        .connector(connector)
        .disable_timeout()
        .disable_redirects()
        .finish()
}
