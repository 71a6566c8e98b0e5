//! The request's side of getting a key: [`acquire`], which waits (first
//! come, first served) until a deadline, and [`acquire_now`], which takes
//! a key only if one can serve now (a route moves on to its next target
//! instead of waiting). With shared state, the pool answers with a plan
//! and the request confirms it in Redis ([`super::shared`]).

use std::time::Duration;

use actix::Addr;
use tokio::time::Instant;

use super::messages::{AcquireError, AcquireKey, Acquired};
use super::shared::{Confirmed, Refused};
use super::{KeyPool, Lease};

/// Gets a lease for `request`, waiting (first come, first served) until
/// `deadline` when every key is busy or resting.
pub async fn acquire(
    pool: &Addr<KeyPool>,
    mut request: AcquireKey,
    deadline: Instant,
) -> Result<Lease, AcquireError> {
    let mut retry = false;
    loop {
        request.wait_budget = deadline.saturating_duration_since(Instant::now());
        let reply = tokio::time::timeout_at(deadline, pool.send(request))
            .await
            .map_err(|_| AcquireError::DeadlinePassed)?
            .map_err(|_| AcquireError::PoolGone)??;
        let plan = match reply {
            Acquired::Ready(lease) => return Ok(lease),
            Acquired::Wait(rx) => {
                return match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(lease)) => Ok(lease),
                    Ok(Err(_)) => Err(AcquireError::PoolGone),
                    Err(_) => Err(AcquireError::DeadlinePassed),
                }
            }
            Acquired::Plan(plan) => plan,
        };
        // Only shared state plans: sled mode never copies the request.
        request = plan.request().clone();
        let refusals = match plan.confirm(pool).await {
            Confirmed::Leased(lease) => return Ok(lease),
            Confirmed::Refused(refusals) => refusals,
            // The pool is degraded now, and leases locally.
            Confirmed::Unreachable => continue,
        };
        let queue = Refused {
            request: request.clone(),
            retry,
            refusals,
        };
        let wake = tokio::time::timeout_at(deadline, pool.send(queue))
            .await
            .map_err(|_| AcquireError::DeadlinePassed)?
            .map_err(|_| AcquireError::PoolGone)??;
        match tokio::time::timeout_at(deadline, wake).await {
            Ok(Ok(())) => retry = true,
            Ok(Err(_)) => return Err(AcquireError::PoolGone),
            Err(_) => return Err(AcquireError::DeadlinePassed),
        }
    }
}

/// A lease for `request` when a key can serve now; `None` when every key
/// that is not resting is busy. A resting provider is
/// [`AcquireError::Resting`], as with [`acquire`] past its wait.
pub async fn acquire_now(
    pool: &Addr<KeyPool>,
    mut request: AcquireKey,
) -> Result<Option<Lease>, AcquireError> {
    loop {
        request.wait_budget = Duration::ZERO;
        let plan = match pool
            .send(request)
            .await
            .map_err(|_| AcquireError::PoolGone)??
        {
            Acquired::Ready(lease) => return Ok(Some(lease)),
            // Dropping the receiver leaves the queue: the pool skips a
            // closed waiter, and a lease sent to it meanwhile is released
            // on drop.
            Acquired::Wait(mut rx) => return Ok(rx.try_recv().ok()),
            Acquired::Plan(plan) => plan,
        };
        request = plan.request().clone();
        let refusals = match plan.confirm(pool).await {
            Confirmed::Leased(lease) => return Ok(Some(lease)),
            Confirmed::Refused(refusals) => refusals,
            // The pool is degraded now, and leases locally.
            Confirmed::Unreachable => continue,
        };
        // The pool learns why every key was refused; resting keys are an
        // error, busy ones a place in the queue this request leaves.
        let queue = Refused {
            request,
            retry: false,
            refusals,
        };
        pool.send(queue)
            .await
            .map_err(|_| AcquireError::PoolGone)??;
        return Ok(None);
    }
}
