//! Keys an operator disabled, shared by every replica: one set of key ids
//! per provider (`P:disabled`, kept without expiry). `acquire.lua` refuses
//! its members, so a key disabled on one replica is never leased by
//! another, at no extra round trip per request; replicas read the set back
//! at start and every few seconds, to list it and to learn of keys enabled
//! again.

use std::collections::HashSet;

use super::{Kid, SharedState};

// === impl SharedState: disabled keys ===

impl SharedState {
    /// Disables (`true`) or enables key `kid` of `provider` for every
    /// replica. `false` when Redis does not answer: nothing changed.
    pub async fn set_disabled(&self, provider: &str, kid: &str, disabled: bool) -> bool {
        let set = self.names(provider).disabled();
        let command = if disabled { "SADD" } else { "SREM" };
        let op = |mut conn: redis::aio::ConnectionManager| {
            let (set, kid) = (set.clone(), kid.to_string());
            async move {
                redis::cmd(command)
                    .arg(set)
                    .arg(kid)
                    .query_async::<i64>(&mut conn)
                    .await
            }
        };
        self.run("disable", op).await.is_some()
    }

    /// The ids of `provider`'s disabled keys; `None` when Redis does not
    /// answer.
    pub async fn disabled_keys(&self, provider: &str) -> Option<HashSet<Kid>> {
        let set = self.names(provider).disabled();
        let op = |mut conn: redis::aio::ConnectionManager| {
            let set = set.clone();
            async move {
                redis::cmd("SMEMBERS")
                    .arg(set)
                    .query_async::<HashSet<Kid>>(&mut conn)
                    .await
            }
        };
        self.run("disabled", op).await
    }
}
