//! Reading the scripts' replies into types.

use redis::{RedisResult, Value};

use super::{AcquireReply, Refusal};
use crate::vocab::FailureKind;

pub(super) fn malformed(script: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "unexpected script reply",
        script.to_string(),
    ))
}

fn int(v: Option<&Value>) -> RedisResult<i64> {
    match v {
        Some(v) => redis::from_redis_value(v),
        None => Err(malformed("acquire")),
    }
}

fn text(v: Option<&Value>) -> RedisResult<String> {
    match v {
        Some(v) => redis::from_redis_value(v),
        None => Err(malformed("acquire")),
    }
}

pub(super) fn parse_acquire(reply: &[Value]) -> RedisResult<AcquireReply> {
    if int(reply.first())? == 1 {
        let position = usize::try_from(int(reply.get(1))? - 1).map_err(|_| malformed("acquire"))?;
        let pinned = usize::try_from(int(reply.get(6))?)
            .ok()
            .and_then(|p| p.checked_sub(1));
        return Ok(AcquireReply::Leased {
            position,
            pinned,
            lease: u64::try_from(int(reply.get(2))?).map_err(|_| malformed("acquire"))?,
            now: int(reply.get(3))?,
            expires: int(reply.get(4))?,
            epoch: text(reply.get(5))?,
        });
    }
    let now = int(reply.get(1))?;
    let mut rests = Vec::new();
    for triple in reply.get(3..).unwrap_or_default().chunks(3) {
        let state = text(triple.first())?;
        let until = int(triple.get(1))?;
        let cause = text(triple.get(2))?;
        rests.push(match state.as_str() {
            "off" => Refusal::Disabled,
            "lock" => Refusal::Locked { until },
            "cool" => Refusal::Cooling {
                until,
                cause: failure_kind(&cause),
            },
            "full" => Refusal::Full,
            "cap" => Refusal::Capped { until },
            _ => Refusal::Free,
        });
    }
    Ok(AcquireReply::Refused { now, rests })
}

pub(in crate::shared_state) fn failure_kind(text: &str) -> Option<FailureKind> {
    [
        FailureKind::KeyRejected,
        FailureKind::Quota,
        FailureKind::RateLimited,
        FailureKind::Transient,
    ]
    .into_iter()
    .find(|k| k.as_str() == text)
}
