//! `CLARA_RATE_LIMIT` (default `10/s`) per caller, on every REST operation and MCP tool call
//! alike (governor's GCRA, keyed): a token that names one caller (a user token, an API key
//! token) has its own bucket; the shared public key, Basic credentials, anything else and no
//! credential at all are limited per client address, so one client cannot spend everyone's
//! budget. Failed credentials and failed logins also draw on budgets per address (and per
//! account and address), so guessing is slowed without locking the owner out from elsewhere.

use std::{
    collections::HashMap, net::IpAddr, num::NonZeroU32, str::FromStr, sync::Mutex, time::Duration,
};

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
    failures: Failures,
    /// Password checks running or queued, per client address.
    checking: std::sync::Arc<Mutex<HashMap<IpAddr, u32>>>,
    /// MACs of credentials that resolved recently, and when: such a credential is not refused
    /// when its address's bad-credential budget is spent by someone else there (a NAT).
    good: Mutex<HashMap<String, i64>>,
}

/// How long a credential that resolved counts as known good.
const KNOWN_GOOD_SECS: i64 = 600;
/// Known-good credentials remembered at most (the oldest half is dropped past it).
const KNOWN_GOOD_MAX: usize = 20_000;

/// Password checks one client address may have running or queued at once: a flood from one
/// address waits behind itself, not in front of everyone else's logins.
pub const CHECKS_PER_ADDRESS: u32 = 4;

/// A password check's place; the place frees when it is dropped.
#[derive(Debug)]
pub struct CheckSlot {
    checking: std::sync::Arc<Mutex<HashMap<IpAddr, u32>>>,
    ip: Option<IpAddr>,
}

impl Drop for CheckSlot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut map = self.checking.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&ip);
            }
        }
    }
}

/// A failure budget: at most `max` failures per `window_secs` for one key.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max: u32,
    pub window_secs: i64,
}

/// Credentials that do not resolve, per client address.
pub const BAD_CREDENTIALS: Budget = Budget {
    max: 20,
    window_secs: 60,
};
/// Failed logins (password or second factor) per client address, whatever the email.
pub const LOGINS_PER_ADDRESS: Budget = Budget {
    max: 30,
    window_secs: 600,
};
/// Failed logins per account from one address: the owner elsewhere is not locked out.
pub const LOGINS_PER_ACCOUNT: Budget = Budget {
    max: 10,
    window_secs: 3600,
};

/// Fixed-window failure counters.
#[derive(Debug, Default)]
struct Failures(Mutex<HashMap<String, (i64, u32)>>);

impl Failures {
    fn blocked(&self, key: &str, budget: Budget, now: i64) -> Option<u64> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = *map.get(key)?;
        let ends = start + budget.window_secs;
        (now < ends && count >= budget.max).then(|| (ends - now).max(1) as u64)
    }

    fn record(&self, key: String, budget: Budget, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(key).or_insert((now, 0));
        if now >= entry.0 + budget.window_secs {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Counts an attempt against every key at once, unless one of them is spent: then
    /// nothing is counted and the seconds to wait come back. Attempts in flight count, so
    /// concurrent requests cannot all pass a check that none of them has recorded yet.
    fn take(&self, keys: &[(String, Budget)], now: i64) -> std::result::Result<(), u64> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None;
        for (key, budget) in keys {
            if let Some(entry) = map.get_mut(key) {
                if now >= entry.0 + budget.window_secs {
                    *entry = (now, 0);
                }
                if entry.1 >= budget.max {
                    let ends = entry.0 + budget.window_secs;
                    wait = wait.max(Some((ends - now).max(1) as u64));
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, _) in keys {
            let entry = map.entry(key.clone()).or_insert((now, 0));
            entry.1 = entry.1.saturating_add(1);
        }
        Ok(())
    }

    /// Gives back an attempt [`Failures::take`] counted (it did not fail).
    fn give_back(&self, keys: &[(String, Budget)]) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (key, _) in keys {
            if let Some(entry) = map.get_mut(key) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    fn forget_before(&self, cutoff: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (start, _)| *start >= cutoff);
    }
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
            failures: Failures::default(),
            checking: Default::default(),
            good: Mutex::default(),
        }
    }

    /// 429 with the seconds to wait when the caller is over the limit.
    pub fn check(&self, caller: &Caller) -> Result<()> {
        let key = match (&caller.credential, caller.client_ip) {
            (Some(Credential::Bearer(token)), _) if names_one_caller(token) => {
                crypto::mac(&self.key, "ratelimit", &format!("token:{token}"))
            }
            (_, Some(ip)) => ip_key(ip),
            (Some(credential), None) => crypto::mac(&self.key, "ratelimit", &describe(credential)),
            (None, None) => return Ok(()), // stdio before any sign-in: the local user's process
        };
        self.inner.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }

    /// 429 when any of `keys` has spent its failure budget in the current window.
    pub fn refuse_if_spent(&self, keys: &[(String, Budget)], now: i64) -> Result<()> {
        match keys
            .iter()
            .filter_map(|(key, budget)| self.failures.blocked(key, *budget, now))
            .max()
        {
            Some(retry_after_secs) => Err(Error::RateLimited { retry_after_secs }),
            None => Ok(()),
        }
    }

    /// Counts a failure against each of `keys`.
    pub fn spend(&self, keys: &[(String, Budget)], now: i64) {
        for (key, budget) in keys {
            self.failures.record(key.clone(), *budget, now);
        }
    }

    /// A place for one password check from `ip`: 429 (retry in a second) when that address
    /// already has [`CHECKS_PER_ADDRESS`] running or queued. Without an address (stdio) always.
    pub fn check_slot(&self, ip: Option<IpAddr>) -> Result<CheckSlot> {
        if let Some(ip) = ip {
            let mut map = self.checking.lock().unwrap_or_else(|e| e.into_inner());
            let count = map.entry(ip).or_insert(0);
            if *count >= CHECKS_PER_ADDRESS {
                return Err(Error::RateLimited {
                    retry_after_secs: 1,
                });
            }
            *count += 1;
        }
        Ok(CheckSlot {
            checking: self.checking.clone(),
            ip,
        })
    }

    /// Reserves one attempt against each of `keys` before a check that costs (a password
    /// hash, a credential lookup): 429 when any is spent. An attempt that fails keeps its
    /// place; [`Limiter::release`] gives back one that did not fail.
    pub fn reserve(&self, keys: &[(String, Budget)], now: i64) -> Result<()> {
        self.failures
            .take(keys, now)
            .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })
    }

    /// Returns an attempt [`Limiter::reserve`] took, for an attempt that did not fail.
    pub fn release(&self, keys: &[(String, Budget)]) {
        self.failures.give_back(keys);
    }

    /// Remembers that `credential` resolved (a valid token or key), at `now`.
    pub fn known_good(&self, credential: &Credential, now: i64) {
        let key = crypto::mac(&self.key, "good", &describe(credential));
        let mut good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        if good.len() >= KNOWN_GOOD_MAX {
            let mut times: Vec<i64> = good.values().copied().collect();
            times.sort_unstable();
            let cutoff = times[times.len() / 2];
            good.retain(|_, at| *at > cutoff);
        }
        good.insert(key, now);
    }

    /// Whether `credential` resolved within the last ten minutes.
    pub fn is_known_good(&self, credential: &Credential, now: i64) -> bool {
        let key = crypto::mac(&self.key, "good", &describe(credential));
        let good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        good.get(&key).is_some_and(|at| now - at < KNOWN_GOOD_SECS)
    }

    /// The failure budgets of a credential that did not resolve, from this address.
    pub fn bad_credential_keys(caller: &Caller) -> Vec<(String, Budget)> {
        caller
            .client_ip
            .map(|ip| vec![(format!("badcred:{ip}"), BAD_CREDENTIALS)])
            .unwrap_or_default()
    }

    /// The failure budgets of a login for `email` from `ip`.
    pub fn login_keys(&self, email: &str, ip: Option<IpAddr>) -> Vec<(String, Budget)> {
        let Some(ip) = ip else {
            return Vec::new(); // stdio: the local user's own process
        };
        let account = crypto::mac(&self.key, "login", &email.trim().to_lowercase());
        vec![
            (format!("login:{ip}"), LOGINS_PER_ADDRESS),
            (format!("login:{ip}:{account}"), LOGINS_PER_ACCOUNT),
        ]
    }

    /// Forgets idle keys; called periodically so the key maps do not grow without bound.
    pub fn shrink(&self, now: i64) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
        self.failures
            .forget_before(now - LOGINS_PER_ACCOUNT.window_secs);
    }
}

/// A user token or an API key token: a value that names one caller once it resolves.
fn names_one_caller(token: &str) -> bool {
    token.starts_with("clara_user_") || token.starts_with("clara_api_")
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

    #[test]
    fn the_public_key_and_missing_credentials_are_limited_per_address() {
        let limiter = Limiter::new("2/s".parse().unwrap(), b"k".to_vec());
        let from = |ip: &str| {
            Caller::rest(
                Some(Credential::Raw("clara_pub_shared".into())),
                Some(ip.parse().unwrap()),
            )
        };
        limiter.check(&from("10.0.0.1")).unwrap();
        limiter.check(&from("10.0.0.1")).unwrap();
        assert!(
            limiter.check(&from("10.0.0.1")).is_err(),
            "the flooder is limited"
        );
        limiter.check(&from("10.0.0.2")).unwrap();
        let anonymous = Caller::rest(None, Some("10.0.0.2".parse().unwrap()));
        limiter.check(&anonymous).unwrap();
        assert!(
            limiter.check(&anonymous).is_err(),
            "same address, same bucket"
        );
    }

    #[test]
    fn failure_budgets_refuse_within_their_window_and_reset_after_it() {
        let limiter = Limiter::new("100/s".parse().unwrap(), b"k".to_vec());
        let keys = limiter.login_keys("Ann@Example.com", Some("10.0.0.1".parse().unwrap()));
        // Attempts in flight count: reserving is enough to spend the budget.
        for _ in 0..LOGINS_PER_ACCOUNT.max {
            limiter.reserve(&keys, 1_000).unwrap();
        }
        let err = limiter.reserve(&keys, 1_000).unwrap_err();
        assert!(
            matches!(
                err,
                Error::RateLimited {
                    retry_after_secs: 3600
                }
            ),
            "{err:?}"
        );
        // An attempt given back (it did not fail) frees its place.
        limiter.release(&keys);
        limiter.reserve(&keys, 1_000).unwrap();
        let elsewhere = limiter.login_keys("ann@example.com", Some("10.0.0.9".parse().unwrap()));
        limiter.reserve(&elsewhere, 1_000).unwrap();
        limiter.reserve(&keys, 1_000 + 3600).unwrap();
    }
}
