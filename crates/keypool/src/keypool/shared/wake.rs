//! Wake-ups from other replicas: the release and report scripts publish
//! `<kid>|<model>|free|0` when a lease ends (`*` for every model, after a
//! manual reset), and the pool lets the oldest request waiting for that
//! model try again at once instead of at the next poll. Keyspace
//! notifications are not used (off by default, and lossy); the poll stays
//! the backstop for lost messages.

use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;

use crate::keypool::KeyPool;

/// Pause before subscribing again after the connection dropped.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// A `free` wake-up for `model` (`*` = all) of `provider`.
#[derive(Message)]
#[rtype(result = "()")]
struct Freed {
    provider: String,
    model: String,
}

/// Subscribes to every provider's channel and forwards wake-ups to the
/// pool, for as long as the pool lives; resubscribes after a drop.
pub(super) fn listen(pool: &KeyPool, ctx: &mut Context<KeyPool>) {
    let Some(replica) = &pool.shared else {
        return;
    };
    let state = replica.state.clone();
    let channels: Vec<(String, String)> = pool
        .providers
        .keys()
        .map(|name| (state.names(name).wake(), name.clone()))
        .collect();
    let addr = ctx.address();
    actix_rt::spawn(async move {
        let names: Vec<String> = channels.iter().map(|(c, _)| c.clone()).collect();
        while addr.connected() {
            if let Ok(messages) = state.wake_ups(&names).await {
                let mut messages = std::pin::pin!(messages);
                while let Some((channel, text)) = messages.next().await {
                    let provider = channels.iter().find(|(c, _)| *c == channel);
                    if let (Some((_, provider)), Some(model)) = (provider, freed_model(&text)) {
                        addr.do_send(Freed {
                            provider: provider.clone(),
                            model: model.to_string(),
                        });
                    }
                }
            }
            actix_rt::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    });
}

/// The model of a `free` message `<kid>|<model>|free|0` (a model name may
/// hold `|`); `None` for the other events.
fn freed_model(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once('|')?;
    let (rest, _until) = rest.rsplit_once('|')?;
    let (model, event) = rest.rsplit_once('|')?;
    (event == "free").then_some(model)
}

impl Handler<Freed> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: Freed, _: &mut Self::Context) {
        let Some(provider) = self.providers.get_mut(&msg.provider) else {
            return;
        };
        for (model, queue) in &mut provider.waiters {
            if msg.model != "*" && *model != msg.model {
                continue;
            }
            super::wake_oldest(queue);
        }
        provider.waiters.retain(|_, q| !q.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::freed_model;

    #[test]
    fn free_messages_name_their_model() {
        assert_eq!(freed_model("abc|m|free|0"), Some("m"));
        assert_eq!(freed_model("abc|a|b:c|free|0"), Some("a|b:c"));
        assert_eq!(freed_model("abc|*|free|0"), Some("*"));
        assert_eq!(freed_model("abc|m|cool|1700000000000"), None);
        assert_eq!(freed_model("garbage"), None);
    }
}
