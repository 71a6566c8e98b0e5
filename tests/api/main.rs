//! Integration tests: the real proxy on 127.0.0.1:0 in front of a scripted
//! mock upstream (also a real HTTP server on port 0).

mod helpers;
mod mock_upstream;

mod chat;
mod streaming;
mod errors;
mod rotation;
mod catalog;
mod concurrency;
mod persistence;
