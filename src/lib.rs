//! llm-key-proxy: one OpenAI-compatible endpoint in front of many LLM
//! provider keys.
pub mod cli;
pub mod config;
pub mod error;
pub mod keypool;
pub mod providers;
pub mod secret;
pub mod store;
