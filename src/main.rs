//! The `llm-key-proxy` binary: parse flags, load configuration, run (or
//! `setup`, which writes the configuration).

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use llm_key_proxy::cli::{Cli, Command};
use llm_key_proxy::config::{Config, EnvMap};
use llm_key_proxy::error::InitError;
use llm_key_proxy::{server, setup, stats};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    // sled logs every failed write again, one line per tree, where the
    // proxy already reports it (throttled); RUST_LOG=sled=… brings it back.
    if !std::env::var("RUST_LOG").is_ok_and(|f| f.contains("sled")) {
        logger.filter_module("sled", log::LevelFilter::Off);
    }
    logger.init();
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
    if cli.command.is_some() && cli.host.is_none() {
        // `stats` connects rather than listens: ask the proxy on loopback.
        cli.host = Some("127.0.0.1".into());
    }
    let env = EnvMap::load(Path::new(".env"))?;
    let config = Config::load(&cli, &env)?;
    if let Some(Command::Stats { json }) = cli.command {
        let (report, source) = stats::fetch(&config)?;
        if json {
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| InitError::Config(format!("cannot render the report: {e}")))?;
            println!("{text}");
        } else {
            print!("{}", stats::render(&report, &source, chrono::Utc::now()));
        }
        return Ok(());
    }
    if cli.check_config {
        for warning in &config.warnings {
            eprintln!("warning: {warning}");
        }
        print!("{}", config.to_masked_toml()?);
        println!("# configuration is valid");
        return Ok(());
    }
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    actix_rt::System::new().block_on(async {
        // SIGHUP and POST /v1/admin/reload read every source again.
        let reloader: server::Reloader = std::sync::Arc::new(move || {
            let env = EnvMap::load(Path::new(".env"))?;
            Config::load(&cli, &env)
        });
        let app = server::start_with_reloader(config, Some(reloader)).await?;
        app.run_until_signalled().await;
        Ok(())
    })
}
