//! The `llm-key-proxy` binary: parse flags, load configuration, run (or
//! `setup`, which writes the configuration).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use llm_key_proxy::cli::{Cli, Command};
use llm_key_proxy::config::{Config, ConfigSource};
use llm_key_proxy::error::InitError;
use llm_key_proxy::shared_state::{self, SharedState};
use llm_key_proxy::{server, setup, stats};

fn main() -> ExitCode {
    let cli = Cli::parse();
    llm_key_proxy::logging::init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut cli: Cli) -> Result<(), InitError> {
    // `setup` writes the configuration, so it runs before (and without)
    // loading it: an absent or broken one is what it is there to fix.
    if let Some(Command::Setup {
        provider,
        keys,
        base_url,
        env_file,
    }) = cli.command
    {
        return setup::run_stdio(&setup::SetupArgs {
            provider,
            keys,
            base_url,
            env_file,
        });
    }
    let stats = match cli.command.take() {
        Some(Command::Stats { json, target }) => {
            cli = cli.for_stats(target);
            Some(json)
        }
        _ => None,
    };
    // The `.env` the proxy reads; keys added or removed at runtime are
    // written to it.
    let flags = cli.clone();
    let source = ConfigSource::of_process(
        PathBuf::from(".env"),
        Arc::new(move |env| Config::load(&flags, env)),
    );
    let config = source.load()?;
    if let Some(json) = stats {
        let (report, source) = stats::fetch(&config)?;
        if json {
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| InitError::Config(format!("cannot render the report: {e}")))?;
            println!("{text}");
        } else {
            // The CLI runs without the app (and its clock): "ago" is now.
            #[allow(clippy::disallowed_methods)]
            let now = chrono::Utc::now();
            print!("{}", stats::render(&report, &source, now));
        }
        return Ok(());
    }
    if cli.check_config {
        for warning in &config.warnings {
            eprintln!("warning: {warning}");
        }
        print!("{}", config.to_masked_toml()?);
        check_state_backend(&config)?;
        println!("# configuration is valid");
        return Ok(());
    }
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    actix_rt::System::new().block_on(async {
        // SIGHUP and POST /v1/admin/reload read every source again.
        let app = server::start_with_source(config, Some(source)).await?;
        app.run_until_signalled().await;
        Ok(())
    })
}

/// `--check-config` with the Redis backend: Redis must answer and take the
/// scripts (a normal start would go on degraded instead).
fn check_state_backend(config: &Config) -> Result<(), InitError> {
    let Some(settings) = config.shared_state()? else {
        return Ok(());
    };
    let state = SharedState::new(&settings).map_err(InitError::Config)?;
    let url = state.shown_url().to_string();
    let report = actix_rt::System::new()
        .block_on(async { shared_state::check(&state).await })
        .map_err(|why| InitError::Config(format!("state backend {url}: {why}")))?;
    for warning in &report.warnings {
        eprintln!("warning: state backend {url}: {warning}");
    }
    println!(
        "# state backend {url}: Redis {}, scripts loaded, namespace {} {}",
        report.version,
        settings.namespace,
        if report.has_state {
            "holds state"
        } else {
            "is empty"
        }
    );
    Ok(())
}
