//! The relay's upstream side: the body's pieces into SSE events, events
//! into what the client gets next ([`Pulled`]), and the decision, when the
//! body ends, whether the stream was complete.

use bytes::Bytes;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;

use super::{Pulled, Relay};
use crate::providers::StreamItem;
use crate::vocab::TransportError;

// === impl Relay ===

impl Relay {
    /// Reads until the next event worth relaying, or the end.
    pub(super) async fn pull(&mut self, until: Instant) -> Pulled {
        loop {
            if let Some(pulled) = self.pull_now() {
                return pulled;
            }
            match tokio::time::timeout_at(until, self.body.recv()).await {
                Ok(Some(chunk)) => {
                    if let Some(pulled) = self.received(chunk) {
                        return pulled;
                    }
                }
                Ok(None) => return self.at_end(),
                Err(_) => return Pulled::Broken("the provider sent nothing for too long".into()),
            }
        }
    }

    /// The next event worth relaying among what has already arrived, if
    /// any: nothing here waits.
    pub(super) fn pull_now(&mut self) -> Option<Pulled> {
        loop {
            if let Some(pulled) = self.ready.pop_front() {
                return Some(pulled);
            }
            while let Some(event) = self.parser.next_event() {
                if let Some(pulled) = self.take(&event.data) {
                    return Some(pulled);
                }
            }
            match self.body.try_recv() {
                Ok(chunk) => {
                    if let Some(pulled) = self.received(chunk) {
                        return Some(pulled);
                    }
                }
                Err(TryRecvError::Disconnected) => return Some(self.at_end()),
                Err(TryRecvError::Empty) => return None,
            }
        }
    }

    /// Takes in a piece of the body; `Some` when it ends the stream.
    fn received(&mut self, chunk: Result<Bytes, TransportError>) -> Option<Pulled> {
        match chunk {
            Ok(chunk) => {
                self.last_heard = Instant::now();
                let pushed = self.parser.push(chunk);
                pushed.err().map(|e| Pulled::Broken(e.to_string()))
            }
            Err(e) => Some(Pulled::Broken(e.to_string())),
        }
    }

    /// Translates one upstream event into what the client gets next (the
    /// rest waits in `ready`); `None` when nothing is to be relayed (the
    /// usage-only chunk the client did not ask for).
    fn take(&mut self, data: &Bytes) -> Option<Pulled> {
        self.translator.items(data, &mut self.items);
        for item in self.items.drain(..) {
            let pulled = match item {
                StreamItem::Done => Pulled::Done,
                StreamItem::Error(data) => {
                    Pulled::UpstreamError(self.key.scrub(&data).into_owned())
                }
                StreamItem::Chunk {
                    data,
                    usage,
                    finished,
                } => {
                    self.usage = usage.unwrap_or(self.usage);
                    self.finished |= finished;
                    match data {
                        Some(d) => Pulled::Data(d),
                        None => continue,
                    }
                }
            };
            let terminal = !matches!(pulled, Pulled::Data(_));
            self.ready.push_back(pulled);
            if terminal {
                break;
            }
        }
        self.ready.pop_front()
    }

    /// The upstream closed: relay an event it left unterminated, then decide
    /// whether the stream was complete.
    fn at_end(&mut self) -> Pulled {
        if let Some(pulled) = self.parser.finish().and_then(|e| self.take(&e.data)) {
            // After relaying it, the next pull lands here again with the
            // parser empty, and decides.
            return pulled;
        }
        // Providers end with [DONE]; a finish_reason is as good.
        if self.finished {
            Pulled::Done
        } else {
            Pulled::Broken("the provider's stream ended before it finished".into())
        }
    }
}
