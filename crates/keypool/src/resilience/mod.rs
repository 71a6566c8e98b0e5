//! The resilience engine's rules: what an upstream answer means
//! ([`classify`]), how long the provider asked us to wait ([`hints`]), how
//! long a failing key rests ([`policy`]), how long to wait before retrying
//! the same key ([`backoff`]), when the daily reset runs ([`schedule`]),
//! when a key has used what its provider allows ([`limits`]), and the clock
//! they all read ([`clock`]). Pure rules; the key pool and the
//! rotation loop apply them.

pub mod backoff;
pub mod classify;
pub mod clock;
pub mod hints;
pub mod limits;
pub mod policy;
pub mod schedule;
