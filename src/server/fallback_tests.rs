use std::time::Duration;

use super::*;

fn limited(secs: u64) -> ApiError {
    ApiError::RateLimited {
        message: format!("rests {secs}s"),
        retry_after: Duration::from_secs(secs),
    }
}

#[test]
fn a_lone_target_keeps_its_own_error() {
    let error = combine(None, vec![("a/x".into(), limited(30))]);
    assert_eq!(error.to_string(), "rests 30s");
    let error = combine(Some("fast"), vec![("a/x".into(), limited(30))]);
    assert_eq!(error.to_string(), "rests 30s", "one target: nothing to add");
}

#[test]
fn a_route_names_every_target_and_takes_the_soonest_back() {
    let misses = vec![
        ("a/x".to_string(), limited(60)),
        ("b/y".to_string(), limited(5)),
        (
            "c/z".to_string(),
            ApiError::KeysResting {
                message: "down".into(),
                retry_after: Duration::from_secs(20),
            },
        ),
    ];
    let error = combine(Some("fast"), misses);
    let message = error.to_string();
    assert!(
        message.starts_with("no target of route `fast` could answer")
            && message.contains("a/x: rests 60s; b/y: rests 5s; c/z: down"),
        "{message}"
    );
    assert!(matches!(
        error,
        ApiError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(5)
    ));
}

#[test]
fn a_route_whose_targets_do_not_all_rest_takes_the_last_error() {
    let misses = vec![
        ("a/x".to_string(), limited(5)),
        (
            "b/y".to_string(),
            ApiError::UpstreamFailed("500 twice".into()),
        ),
    ];
    let error = combine(Some("fast"), misses);
    assert!(matches!(error, ApiError::UpstreamFailed(_)), "{error}");
    assert!(error.to_string().contains("a/x: rests 5s"));
}

#[test]
fn only_resting_failing_or_rejected_keys_fall_over() {
    assert!(falls_over(&limited(1)));
    assert!(falls_over(&ApiError::UpstreamFailed(String::new())));
    assert!(falls_over(&ApiError::NoAvailableKeys(String::new())));
    assert!(!falls_over(&ApiError::invalid("bad")));
    assert!(!falls_over(&ApiError::Timeout(String::new())));
    assert!(!falls_over(&ApiError::LoopDetected));
}
