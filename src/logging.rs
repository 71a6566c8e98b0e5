//! The process logger: `env_logger` (`RUST_LOG`, `info` by default), with
//! the HTTP layer's reports of malformed requests demoted to debug, and
//! sled's own write errors off (the store reports them, throttled).
//!
//! actix-http answers a request it cannot parse (a garbage head, headers
//! too large, a bad `Content-Length`) or a client too slow to send its head
//! by itself — 400, 431 or 408, before any handler runs — and then logs
//! `ERROR … stream error: …` for the connection. Those are the client's
//! faults, and any client can send them as fast as it likes: at ERROR they
//! would flood the log and bury real errors. They stay visible with
//! `RUST_LOG=actix_http=debug`.

use log::{Level, Log, Metadata, Record};

/// Where actix-http logs the end of a connection that failed.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// The dispatcher's messages for connections a client broke: a request
/// that could not be parsed, and one whose head did not arrive in time.
const CLIENT_FAULTS: [&str; 2] = [
    "stream error: request parse error",
    "stream error: request did not complete within the specified timeout",
];

/// `env_logger`, demoting [`CLIENT_FAULTS`] to debug.
struct Logger {
    inner: env_logger::Logger,
}

/// Installs the process logger. Call once, first thing in `main`.
pub fn init() {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    // sled logs every failed write again, one line per tree, where the
    // proxy already reports it (throttled); RUST_LOG=sled=… brings it back.
    if !std::env::var("RUST_LOG").is_ok_and(|f| f.contains("sled")) {
        builder.filter_module("sled", log::LevelFilter::Off);
    }
    let inner = builder.build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Logger { inner })).is_ok() {
        log::set_max_level(max);
    }
}

/// A record from actix-http about a connection the client broke.
fn is_client_fault(record: &Record) -> bool {
    record.level() == Level::Error
        && record.target() == DISPATCHER
        && CLIENT_FAULTS
            .iter()
            .any(|fault| record.args().to_string().starts_with(fault))
}

// === impl Logger ===

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !is_client_fault(record) {
            self.inner.log(record);
            return;
        }
        let demoted = Record::builder()
            .args(*record.args())
            .level(Level::Debug)
            .target(record.target())
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        if self.inner.enabled(demoted.metadata()) {
            self.inner.log(&demoted);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(level: Level, target: &'a str, args: std::fmt::Arguments<'a>) -> Record<'a> {
        Record::builder()
            .level(level)
            .target(target)
            .args(args)
            .build()
    }

    #[test]
    fn only_the_dispatchers_client_faults_are_demoted() {
        let fault = "stream error: request parse error: invalid Header provided";
        assert!(is_client_fault(&record(
            Level::Error,
            DISPATCHER,
            format_args!("{fault}")
        )));
        let slow = "stream error: request did not complete within the specified timeout";
        assert!(is_client_fault(&record(
            Level::Error,
            DISPATCHER,
            format_args!("{slow}")
        )));
        assert!(!is_client_fault(&record(
            Level::Error,
            DISPATCHER,
            format_args!("Internal server error: unexpected eof")
        )));
        assert!(!is_client_fault(&record(
            Level::Error,
            "llm_key_proxy::server",
            format_args!("{fault}")
        )));
    }
}
