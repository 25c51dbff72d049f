//! `CLARA_RATE_LIMIT` (default `10/s`) per credential (the `Authorization` value), else per
//! client IP, on every REST operation and MCP tool call alike (governor's GCRA, keyed).

use std::{net::IpAddr, num::NonZeroU32, str::FromStr, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::{
    caller::{Caller, Credential},
    crypto,
    error::{Error, Result},
};

/// A parsed limit: `N/s`, `N/m` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (count, unit) = s.trim().split_once('/').ok_or("expected N/s, N/m or N/h")?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("bad count in {s:?}"))?;
        let count = NonZeroU32::new(count).ok_or("the count must be at least 1")?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("unknown unit {other:?}; use s, m or h")),
        };
        Ok(Self { count, per })
    }
}

#[derive(Debug)]
pub struct Limiter {
    inner: DefaultKeyedRateLimiter<String>,
    /// Server secret, to key the limiter by a MAC of the credential rather than the credential.
    key: Vec<u8>,
}

impl Limiter {
    pub fn new(limit: Limit, key: Vec<u8>) -> Self {
        let replenish = limit.per / limit.count.get();
        let quota = Quota::with_period(replenish.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(limit.count);
        Self {
            inner: RateLimiter::keyed(quota),
            key,
        }
    }

    /// 429 with the seconds to wait when the caller is over the limit.
    pub fn check(&self, caller: &Caller) -> Result<()> {
        let key = match (&caller.credential, caller.client_ip) {
            (Some(credential), _) => crypto::mac(&self.key, "ratelimit", &describe(credential)),
            (None, Some(ip)) => ip_key(ip),
            (None, None) => return Ok(()), // stdio before any sign-in: the local user's process
        };
        self.inner.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }

    /// Forgets idle keys; called periodically so the key map does not grow without bound.
    pub fn shrink(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

fn describe(credential: &Credential) -> String {
    match credential {
        Credential::Basic { email, .. } => format!("basic:{}", email.to_lowercase()),
        Credential::Bearer(token) | Credential::Raw(token) => format!("token:{token}"),
    }
}

fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!("10/s".parse::<Limit>().unwrap().count.get(), 10);
        assert_eq!(
            "600/m".parse::<Limit>().unwrap().per,
            Duration::from_secs(60)
        );
        assert!("0/s".parse::<Limit>().is_err());
        assert!("10/fortnight".parse::<Limit>().is_err());
        assert!("ten".parse::<Limit>().is_err());
    }

    #[test]
    fn the_eleventh_call_in_a_second_is_429_and_other_keys_are_unaffected() {
        let limiter = Limiter::new("10/s".parse().unwrap(), b"k".to_vec());
        let caller = |token: &str| Caller::rest(Some(Credential::Bearer(token.into())), None);
        for _ in 0..10 {
            limiter.check(&caller("a")).unwrap();
        }
        let err = limiter.check(&caller("a")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::RateLimited {
                    retry_after_secs: 1
                }
            ),
            "{err:?}"
        );
        limiter.check(&caller("b")).unwrap();
    }
}
