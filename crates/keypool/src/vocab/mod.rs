//! The words every layer shares, at the bottom of the dependency order:
//! why an attempt failed ([`FailureKind`], [`Failure`]), what the
//! classifier made of an answer ([`Verdict`]), how a leased attempt ended
//! ([`Outcome`]), usage counters ([`Counters`], [`Usage`]), what went
//! wrong below HTTP ([`TransportError`]) and model-id globs ([`glob`]).
//!
//! Plain data and the few facts that belong to it; no rules, no I/O. The
//! resilience rules, the store, the key pool, the wire formats and the
//! transport all speak these types, so none of them has to reach up into
//! another for them.

mod failure;
mod glob;
mod outcome;
mod upstream;

pub use failure::{Failure, FailureKind, Verdict};
pub use glob::glob;
pub use outcome::{Counters, Outcome, Usage};
pub use upstream::{TransportError, LOOP_DETECTED};
