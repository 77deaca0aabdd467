//! Password checks that a hostile client cannot turn against the server:
//! argon2 runs on the blocking pool, at most `max_concurrent` at a time (the
//! async workers keep answering `/healthz` and reads during a flood of
//! wrong passwords); an unknown user is checked against a dummy hash, so
//! the answer takes the same work and timing does not tell names apart; and
//! failures are throttled per username and per client address, answering
//! 429 with `Retry-After` before any hashing is done.
//!
//! The throttle is in memory, per replica: a flood spread over N replicas
//! gets N times the attempts. It is a brake on guessing, not the only
//! defence (argon2 is).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::http::StatusCode;
use dayshift_lifecycle::Clock;
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::User;
use tokio::sync::Semaphore;

use crate::error::ApiErr;

/// How many failed logins are tolerated within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub failures: usize,
    pub window: SignedDuration,
}

/// Login throttling and the bound on concurrent password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures per username (known or not).
    pub per_username: Limit,
    /// Failures per client address (the TCP peer).
    pub per_address: Limit,
    /// Password hashes computed at once; the rest wait their turn.
    pub max_concurrent_hashes: usize,
    /// Off only in benchmarks that measure hashing under a flood.
    pub throttle: bool,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LoginLimits {
            per_username: Limit {
                failures: 10,
                window: SignedDuration::from_mins(5),
            },
            per_address: Limit {
                failures: 100,
                window: SignedDuration::from_mins(5),
            },
            // Half the cores: the other half serves everything else.
            max_concurrent_hashes: (cores / 2).max(1),
            throttle: true,
        }
    }
}

/// Hashing and verifying passwords off the async workers.
pub struct Passwords {
    permits: Semaphore,
    limits: LoginLimits,
    by_username: Throttle<String>,
    by_address: Throttle<IpAddr>,
    clock: Arc<dyn Clock>,
}

impl Passwords {
    pub fn new(limits: LoginLimits, clock: Arc<dyn Clock>) -> Self {
        Passwords {
            permits: Semaphore::new(limits.max_concurrent_hashes.max(1)),
            limits,
            by_username: Throttle::new(limits.per_username),
            by_address: Throttle::new(limits.per_address),
            clock,
        }
    }

    /// An argon2 hash of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, ApiErr> {
        let password = password.to_owned();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| {
                    ApiErr::internal("cannot hash the password").with_detail(e.to_string())
                })
        })
        .await?
    }

    /// Whether `password` is `user`'s; with no user (unknown name, system
    /// user) the same work is done against a dummy hash and the answer is
    /// false.
    pub async fn verify(&self, user: Option<&User>, password: &str) -> Result<bool, ApiErr> {
        let (hash, real) = match user {
            Some(u) if !u.is_system => (u.password_hash.clone(), true),
            _ => (dummy_hash().to_owned(), false),
        };
        let password = password.to_owned();
        let matches = self
            .blocking(move || {
                PasswordHash::new(&hash).is_ok_and(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await?;
        Ok(real && matches)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiErr> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiErr::internal("the server is shutting down"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiErr::internal("password check failed").with_detail(e.to_string()))
    }

    /// A login attempt: refused with 429 while the username or the address
    /// is throttled (before any hashing), else the password is checked and
    /// a failure counted against both.
    pub async fn login(
        &self,
        user: Option<&User>,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<bool, ApiErr> {
        let username = username.to_lowercase();
        if self.limits.throttle {
            let now = self.clock.now();
            let wait = [
                self.by_username.retry_after(&username, now),
                address.and_then(|a| self.by_address.retry_after(&a, now)),
            ]
            .into_iter()
            .flatten()
            .max();
            if let Some(wait) = wait {
                return Err(too_many_attempts(wait));
            }
        }
        let ok = self.verify(user, password).await?;
        if self.limits.throttle {
            let now = self.clock.now();
            if ok {
                self.by_username.clear(&username);
            } else {
                self.by_username.fail(username, now);
                if let Some(address) = address {
                    self.by_address.fail(address, now);
                }
            }
        }
        Ok(ok)
    }
}

/// The 429 of a throttled login, with `Retry-After` in whole seconds.
fn too_many_attempts(wait: SignedDuration) -> ApiErr {
    let seconds = wait.as_secs() + i64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut err = ApiErr::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins; try again in {seconds}s"),
    );
    err.retry_after = Some(seconds as u64);
    err
}

/// A hash no password is known for, computed once, with the same
/// parameters as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
        Argon2::default()
            .hash_password(&secret, &salt)
            .map(|hash| hash.to_string())
            // Unreachable with default parameters; an unparsable hash
            // still fails every check, only faster.
            .unwrap_or_default()
    })
}

/// Failures per key in a sliding window. Bounded: past `MAX_KEYS` keys,
/// keys whose failures have all left the window are forgotten first, then
/// the rest (the throttle then forgets, it never refuses more).
struct Throttle<K> {
    limit: Limit,
    failures: Mutex<HashMap<K, VecDeque<Timestamp>>>,
}

const MAX_KEYS: usize = 100_000;

impl<K: std::hash::Hash + Eq + Clone> Throttle<K> {
    fn new(limit: Limit) -> Self {
        Throttle {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` must wait, if it is at its limit.
    fn retry_after(&self, key: &K, now: Timestamp) -> Option<SignedDuration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let times = map.get_mut(key)?;
        self.forget_old(times, now);
        if times.len() < self.limit.failures {
            return None;
        }
        let oldest = *times.front()?;
        Some(oldest.duration_since(now) + self.limit.window).filter(|d| d.is_positive())
    }

    fn fail(&self, key: K, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            let window = self.limit.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        let times = map.entry(key).or_default();
        self.forget_old(times, now);
        times.push_back(now);
        while times.len() > self.limit.failures {
            times.pop_front();
        }
    }

    fn clear(&self, key: &K) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    fn forget_old(&self, times: &mut VecDeque<Timestamp>, now: Timestamp) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.limit.window)
        {
            times.pop_front();
        }
    }
}

/// The caller's address, from the connection (never from headers a client
/// can forge); `None` when the server was not started with connect info.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn throttle_counts_failures_in_a_sliding_window() {
        let throttle = Throttle::new(Limit {
            failures: 3,
            window: SignedDuration::from_mins(5),
        });
        let key = "alice".to_string();
        throttle.fail(key.clone(), t("2027-01-04T08:00:00Z"));
        throttle.fail(key.clone(), t("2027-01-04T08:01:00Z"));
        assert_eq!(throttle.retry_after(&key, t("2027-01-04T08:01:00Z")), None);
        throttle.fail(key.clone(), t("2027-01-04T08:02:00Z"));
        assert_eq!(
            throttle.retry_after(&key, t("2027-01-04T08:02:00Z")),
            Some(SignedDuration::from_mins(3)),
            "until the oldest failure leaves the window"
        );
        assert_eq!(throttle.retry_after(&key, t("2027-01-04T08:05:00Z")), None);
        throttle.clear(&key);
        assert_eq!(throttle.retry_after(&key, t("2027-01-04T08:05:00Z")), None);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let err = too_many_attempts(SignedDuration::from_millis(1500));
        assert_eq!(err.retry_after, Some(2));
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
    }
}
