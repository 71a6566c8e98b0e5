//! Where a running proxy reads its configuration from again: the `.env`
//! file it was started with, the process environment, and the rest of the
//! layers (files, flags) behind one builder.
//!
//! A reload reads them all again; the key routes (`POST`/`DELETE
//! /v1/admin/keys`) edit the `.env` text, build the configuration it would
//! give, and write the file only if that configuration is valid. The
//! process environment is kept apart from `.env` because it wins over it:
//! a key written under a name the environment also sets would be lost on
//! the next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Config, EnvMap};
use crate::error::InitError;

/// Builds the configuration from the merged variables (`.env` under the
/// process environment); the other layers are the builder's.
pub type BuildConfig = Arc<dyn Fn(&EnvMap) -> Result<Config, InitError> + Send + Sync>;

/// The process environment, read anew at each call (tests inject a map).
pub type ProcessEnv = Arc<dyn Fn() -> EnvMap + Send + Sync>;

/// The sources of a running proxy's configuration.
#[derive(Clone)]
pub struct ConfigSource {
    env_file: PathBuf,
    process_env: ProcessEnv,
    build: BuildConfig,
}

// === impl ConfigSource ===

impl ConfigSource {
    pub fn new(env_file: PathBuf, process_env: ProcessEnv, build: BuildConfig) -> ConfigSource {
        ConfigSource {
            env_file,
            process_env,
            build,
        }
    }

    /// The real process environment over `env_file`, built by `build`:
    /// what the binary runs with.
    pub fn of_process(env_file: PathBuf, build: BuildConfig) -> ConfigSource {
        ConfigSource::new(env_file, Arc::new(EnvMap::process), build)
    }

    /// The `.env` file the configuration is read from and key changes are
    /// written to.
    pub fn env_file(&self) -> &Path {
        &self.env_file
    }

    /// The process environment now.
    pub fn process_env(&self) -> EnvMap {
        (self.process_env)()
    }

    /// Reads every source again.
    pub fn load(&self) -> Result<Config, InitError> {
        self.build_with(EnvMap::from_dotenv(&self.env_file)?)
    }

    /// The configuration `.env` text `dotenv` would give, the file itself
    /// untouched.
    pub fn load_with_dotenv(&self, dotenv: &str) -> Result<Config, InitError> {
        self.build_with(EnvMap::from_dotenv_text(dotenv)?)
    }

    fn build_with(&self, mut env: EnvMap) -> Result<Config, InitError> {
        env.overlay(self.process_env());
        (self.build)(&env)
    }
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("env_file", &self.env_file)
            .finish_non_exhaustive()
    }
}
