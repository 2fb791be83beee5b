//! What one request, and one client, may cost the gateway: sizes, time, concurrency and rate.
//!
//! Sizes are checked by the produce handler; the request timeout and the bound on concurrent requests are
//! tower layers around the produce route (see `lib.rs`); rates are per client, with `governor`, so one
//! client's flood is refused with a 429 while the others go on.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};

use crate::auth::Auth;

/// Bounds on one produce request. The defaults are those of [`crate::config::Config`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Largest record (key plus value, as written), in bytes (413 beyond). At most librdkafka's
    /// `message.max.bytes`, which the Kafka sink sets from it.
    pub max_record_bytes: usize,
    /// Largest sum of header names and values, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Longest a produce request may take, body upload included (503 with `Retry-After` beyond).
    pub request_timeout: Duration,
    /// Produce requests served at once; one more is refused at once with a 503 rather than queued.
    pub max_concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_record_bytes: 1_000_000,
            max_header_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 256,
        }
    }
}

/// A rate: `per_second` requests, replenished evenly, and up to `burst` at once (0: `per_second`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_second = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst).unwrap_or(per_second);
        Some(Quota::per_second(per_second).allow_burst(burst))
    }
}

/// One rate limiter per client name; a client without one is not limited.
#[derive(Debug, Default)]
pub struct RateLimits {
    by_client: HashMap<String, DefaultDirectRateLimiter>,
}

impl RateLimits {
    pub fn none() -> Self {
        Self::default()
    }

    /// A limiter for each client of `auth` (for [`crate::auth::ANONYMOUS`] when auth is open): its own
    /// rate when it has one, else `default` (`None`: unlimited).
    pub fn for_clients(auth: &Auth, default: Option<Rate>) -> Self {
        let mut limits = Self::none();
        if auth.is_open() {
            if let Some(quota) = default.and_then(Rate::quota) {
                limits = limits.with_quota(crate::auth::ANONYMOUS, quota);
            }
        }
        for client in auth.clients() {
            // A client's own rate comes with its own burst (by default, one second's worth), never with the
            // gateway-wide burst, which was sized for the gateway-wide rate.
            let own = client
                .rate_limit_per_second
                .map(|per_second| Rate { per_second, burst: client.rate_limit_burst.unwrap_or(0) });
            if let Some(quota) = own.or(default).and_then(Rate::quota) {
                limits = limits.with_quota(&client.name, quota);
            }
        }
        limits
    }

    pub fn with_quota(mut self, client: &str, quota: Quota) -> Self {
        self.by_client.insert(client.to_owned(), DefaultDirectRateLimiter::direct(quota));
        self
    }

    /// Takes one request from `client`'s allowance, or says how long until the next one is allowed.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        let Some(limiter) = self.by_client.get(client) else { return Ok(()) };
        limiter.check().map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Client, ANONYMOUS};

    #[test]
    fn a_client_over_its_rate_is_told_how_long_to_wait() {
        let limits = RateLimits::none().with_quota("edge", Quota::per_hour(NonZeroU32::MIN));
        assert_eq!(limits.check("edge"), Ok(()));
        let wait = limits.check("edge").expect_err("over the rate");
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600), "{wait:?}");
        assert_eq!(limits.check("someone-else"), Ok(()), "clients without a limiter are not limited");
    }

    #[test]
    fn each_client_gets_its_own_rate_or_the_default() {
        let mut fast = Client::with_token("fast", "t1");
        fast.rate_limit_per_second = Some(1000);
        let auth = Auth::open().with_clients(vec![fast, Client::with_token("slow", "t2")]).expect("valid");
        let limits = RateLimits::for_clients(&auth, Some(Rate { per_second: 1, burst: 1 }));
        assert_eq!(limits.check("slow"), Ok(()));
        assert!(limits.check("slow").is_err(), "the default allows one at once");
        for _ in 0..10 {
            assert_eq!(limits.check("fast"), Ok(()), "its own burst is its rate");
        }
    }

    #[test]
    fn without_auth_everyone_shares_the_anonymous_rate() {
        let limits = RateLimits::for_clients(&Auth::open(), Some(Rate { per_second: 1, burst: 2 }));
        assert_eq!(limits.check(ANONYMOUS), Ok(()));
        assert_eq!(limits.check(ANONYMOUS), Ok(()));
        assert!(limits.check(ANONYMOUS).is_err());
        assert_eq!(RateLimits::for_clients(&Auth::open(), None).check(ANONYMOUS), Ok(()));
    }
}
