//! The HTTP server: routes, auth, the rotation loop and stream relay.
//!
//! [`start`] opens the store, starts the [`KeyPool`] on the first HTTP
//! worker's thread (see `pool_home.rs`) and the actix-web server with one
//! [`UpstreamWorker`] per HTTP worker thread,
//! and returns a [`RunningApp`] handle (tests start the real app on port 0
//! this way).

mod admin_keys;
mod admin_keys_file;
mod attempt;
mod body;
mod body_deadline;
mod count;
mod fallback;
mod messages_count;
pub mod metrics;
mod middleware;
mod models;
mod openai_only;
mod peek_call;
mod per_target;
mod pool_home;
pub mod reload;
mod responses_native;
mod rotation;
mod routes;
mod serve;
mod status;
mod sticky;
mod stored_responses;

use stored_responses::StoredResponses;
mod stream_relay;
#[cfg(test)]
mod tests_inbound;
mod unanswered;

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::config::{is_loopback, Config, ConfigSource};
use crate::error::InitError;
use crate::inbound::OpenAiChat;
use crate::keypool::{KeyPool, PoolOptions, PoolProvider};
use crate::reqlog::{LogHandle, Logger, Redactor};
use crate::resilience::clock::{Clock, SystemClock};
use crate::shared_state::SharedState;
use crate::store::Store;
use crate::worker::{ClientSettings, UpstreamWorker};
pub use middleware::is_authorized;

/// How long in-flight requests may run on after a stop signal.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// What every handler shares.
pub struct Shared {
    /// The configuration in force; swapped whole by a reload.
    config: std::sync::RwLock<Arc<Config>>,
    /// Request logs, when enabled.
    pub logger: Option<Logger>,
    /// Where a reload gets the new configuration from, and where the key
    /// routes write keys to.
    source: Option<ConfigSource>,
    /// Held while a reload or a key change reads, edits and puts in force
    /// the configuration: two never interleave, so none is lost.
    config_changes: tokio::sync::Mutex<()>,
    pub metrics: metrics::Metrics,
    pub clock: Arc<dyn Clock>,
    pub pool: Addr<KeyPool>,
    pub models: models::ModelsCache,
    /// The Responses API's stored responses (in the state database).
    pub responses: Option<StoredResponses>,
    /// Conversations pinned to keys (sticky sessions).
    pub sticky: sticky::Pins,
    /// Key state shared with other replicas (Redis), when configured.
    pub state: Option<Arc<SharedState>>,
}

/// A started proxy.
pub struct RunningApp {
    addr: SocketAddr,
    shared: web::Data<Shared>,
    server: ServerHandle,
    serving: actix_rt::task::JoinHandle<std::io::Result<()>>,
    pool: Addr<KeyPool>,
}

/// Starts the proxy described by `config`. Must run inside an actix system.
pub async fn start(config: Config) -> Result<RunningApp, InitError> {
    start_with_source(config, None).await
}

/// Like [`start`]; `source` (where `config` was read from) enables SIGHUP,
/// `POST /v1/admin/reload`, and adding and removing keys at runtime
/// (written to its `.env` file).
pub async fn start_with_source(
    config: Config,
    source: Option<ConfigSource>,
) -> Result<RunningApp, InitError> {
    start_serving(config, source, routes::client_apis).await
}

/// Like [`start_with_source`], serving the client-facing chat APIs that
/// `apis` registers under `/v1` (tests register one of their own).
async fn start_serving(
    config: Config,
    source: Option<ConfigSource>,
    apis: routes::ClientApis,
) -> Result<RunningApp, InitError> {
    let providers = config.providers.iter().map(PoolProvider::from);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = PoolOptions {
        clock: clock.clone(),
        schedule: config.daily_schedule()?,
    };
    let state = match config.shared_state()? {
        Some(settings) => Some(SharedState::new(&settings).map_err(InitError::Config)?),
        None => None,
    };
    // With Redis, sled is not opened: Redis is the source of truth.
    let limits = config.settings.responses.limits();
    let (pool, responses) = match &state {
        Some(state) => {
            state.start().await;
            let pool = KeyPool::new(providers, None, options).with_shared_state(state.clone());
            (pool, StoredResponses::in_redis(state.clone(), limits))
        }
        None => {
            let store = Store::open(&config.settings.server.data_dir)?;
            let responses = store.responses(limits).map_err(|e| InitError::DataDir {
                path: config.settings.server.data_dir.clone(),
                reason: format!("its stored responses cannot be read ({e})"),
            })?;
            let pool = KeyPool::new(providers, Some(store), options);
            (pool, StoredResponses::new(responses))
        }
    };
    let (pool, pool_hand_off) = pool_home::hand_off(pool);

    let server_settings = config.settings.server.clone();
    let client = ClientSettings {
        connection_limit: config.settings.proxy.upstream_connection_limit,
    };
    let logger = config.settings.server.enable_request_logging.then(|| {
        let secrets = config.secrets();
        let dir = config.settings.server.log_dir.clone();
        let keep = config.settings.server.log_keep;
        log::info!(
            "request logging on: one directory per request under {} (the newest {keep} kept)",
            dir.display()
        );
        Logger::start(dir, Redactor::new(secrets), keep)
    });
    let shared = web::Data::new(Shared {
        source,
        config_changes: tokio::sync::Mutex::new(()),
        logger,
        models: models::ModelsCache::new(config.settings.proxy.models_cache_ttl),
        pool: pool.clone(),
        state,
        metrics: metrics::Metrics::default(),
        sticky: sticky::Pins::default(),
        clock,
        responses: Some(responses),
        config: std::sync::RwLock::new(Arc::new(config)),
    });
    let app_shared = shared.clone();
    let mut server = HttpServer::new(move || {
        pool_hand_off.run_here();
        let worker = UpstreamWorker::new(&client);
        App::new()
            .app_data(app_shared.clone())
            .app_data(web::Data::new(worker))
            .wrap(from_fn(middleware::request_context))
            .configure(|cfg| routes::configure(cfg, apis))
            .default_service(web::to(routes::not_found::<OpenAiChat>))
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    // A client that closes its socket has gone away: drop its handler (and
    // with it the upstream call and the key) instead of finishing for nobody.
    .h1_allow_half_closed(false)
    // Stream events are small writes: without TCP_NODELAY the first one
    // after the headers waits for the client's delayed ACK (~40 ms).
    .tcp_nodelay(true)
    // actix-server's own handlers stop the whole actix system on a signal,
    // killing the pool before it can save; `run_until_signalled` instead
    // drains requests first, then closes the pool.
    .disable_signals();
    if server_settings.workers > 0 {
        server = server.workers(server_settings.workers);
    }
    let bind_addr = format!("{}:{}", server_settings.host, server_settings.port);
    let server = server
        .bind((server_settings.host.as_str(), server_settings.port))
        .map_err(|e| InitError::Bind {
            addr: bind_addr.clone(),
            reason: e.to_string(),
        })?;
    let addr = server.addrs().first().copied().ok_or(InitError::Bind {
        addr: bind_addr,
        reason: "no address to listen on".into(),
    })?;
    let server = server.run();
    let handle = server.handle();
    announce(&shared.config(), addr);
    Ok(RunningApp {
        addr,
        shared,
        server: handle,
        serving: actix_rt::spawn(server),
        pool,
    })
}

/// Logs what was configured; the "listening on" line comes last, as the
/// signal that the proxy is ready.
fn announce(config: &Config, addr: SocketAddr) {
    // "no provider keys configured" is one of `config.warnings`.
    for p in &config.providers {
        log::info!(
            "provider {}: {} key(s) -> {}",
            p.name,
            p.keys.len(),
            p.api_base
        );
    }
    if config.proxy_api_key.is_none() && is_loopback(&config.settings.server.host) {
        log::warn!("PROXY_API_KEY is not set: the proxy is open to anyone on this machine");
    }
    log::info!("llm-key-proxy listening on http://{addr}");
}

// === impl Shared ===

impl Shared {
    /// The configuration in force now. Handlers take it once per request,
    /// so a reload never changes a request half-way.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the configuration in force without holding on to it, for a
    /// check that is over at once (no `Arc` clone).
    pub fn with_config<R>(&self, read: impl FnOnce(&Config) -> R) -> R {
        match self.config.read() {
            Ok(config) => read(&config),
            Err(poisoned) => read(&poisoned.into_inner()),
        }
    }

    /// Puts `config` in force for the requests that start from now on.
    pub fn set_config(&self, config: Config) {
        let config = Arc::new(config);
        match self.config.write() {
            Ok(mut slot) => *slot = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

/// The request's log, when request logging is on.
pub(crate) fn start_log(
    shared: &Shared,
    req: &actix_web::HttpRequest,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Option<LogHandle> {
    use actix_web::HttpMessage;
    let logger = shared.logger.clone()?;
    let id = req
        .extensions()
        .get::<middleware::RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Some(LogHandle::new(
        logger,
        &id,
        req.path(),
        headers,
        serde_json::Value::Object(body.clone()),
    ))
}

// === impl RunningApp ===

impl RunningApp {
    /// The address the server listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully (see
    /// [`RunningApp::stop`]); SIGHUP reloads the configuration.
    pub async fn run_until_signalled(mut self) {
        loop {
            tokio::select! {
                _ = shutdown_signal() => {
                    log::info!(
                        "shutting down: finishing in-flight requests (up to {SHUTDOWN_GRACE_SECS} s), \
                         then saving state"
                    );
                    self.stop().await;
                    return;
                }
                _ = reload_signal() => {
                    if let Err(e) = reload::reload(&self.shared).await {
                        log::error!("reload refused: {e}");
                    }
                }
                result = &mut self.serving => {
                    if let Ok(Err(e)) = result {
                        log::error!("the server stopped with an error: {e}");
                    }
                    pool_home::close(&self.pool).await;
                    return;
                }
            }
        }
    }

    /// Stops accepting, lets in-flight requests finish, saves state and
    /// closes the database.
    pub async fn stop(self) {
        // Requests in flight finish and their outcomes reach Redis and the
        // pool while the workers (whose tasks settle them) still run.
        self.server.pause().await;
        let deadline =
            tokio::time::Instant::now() + std::time::Duration::from_secs(SHUTDOWN_GRACE_SECS);
        let settled = || {
            self.shared.metrics.in_flight() == 0
                && self.shared.state.as_ref().is_none_or(|s| s.settling() == 0)
        };
        while !settled() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // The pool runs on a worker's thread: it is saved and stopped first.
        pool_home::close(&self.pool).await;
        self.server.stop(true).await;
        if let Ok(Err(e)) = self.serving.await {
            log::error!("the server stopped with an error: {e}");
        }
    }
}

/// Resolves on SIGHUP; never, where there is no SIGHUP.
async fn reload_signal() {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            hup.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    let _ = actix_rt::signal::ctrl_c().await;
}
