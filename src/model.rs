//! Domain values: what the store hands up and the services reason with. Not database rows (the
//! store converts its rows into these) and not wire shapes (services render outputs from them).
//! A leaf: depends on the error type only.

use std::{borrow::Cow, fmt};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// An amount of credits (or of fiat), held as integer hundredths so that arithmetic is exact.
/// It renders as the documented float (`12.5`) only on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(i64);

impl Credits {
    pub const ZERO: Self = Self(0);

    pub const fn from_hundredths(hundredths: i64) -> Self {
        Self(hundredths)
    }

    /// Whole credits.
    pub const fn whole(credits: i64) -> Self {
        Self(credits * 100)
    }

    pub const fn hundredths(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The documented float: hundredths / 100.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Credits {
    /// The amount as Python prints a float (`10.0`, `12.5`), the wording of the original's
    /// ledger descriptions ("Admin updated credits from 0.0 to 10.0.").
    pub fn as_python_float(self) -> String {
        let text = self.to_string();
        let text = text.trim_end_matches('0');
        match text.strip_suffix('.') {
            Some(whole) => format!("{whole}.0"),
            None => text.to_string(),
        }
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

/// Reads the documented float back (clients, tests), rounding to the nearest hundredth.
impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !value.is_finite() || value.abs() > (i64::MAX / 100) as f64 {
            return Err(serde::de::Error::custom("credits out of range"));
        }
        Ok(Self((value * 100.0).round() as i64))
    }
}

impl JsonSchema for Credits {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Credits".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "format": "double" })
    }
}

/// A user's id, `user_<32 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Wraps an id read from the store (or made by `crypto::new_id("user")`).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// A plausible email address, trimmed: one `@`, something on each side, a dot in the domain,
/// no whitespace or control characters, at most 254 bytes. Compared case-insensitively.
#[derive(Debug, Clone)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self> {
        let email = raw.trim();
        let ok = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        if ok {
            Ok(Self(email.to_string()))
        } else {
            Err(Error::invalid("email is not a valid address"))
        }
    }

    /// An address read back from the store, which only ever holds parsed ones.
    pub fn trusted(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` names the same mailbox (case-insensitively).
    pub fn matches(&self, other: &str) -> bool {
        self.0.to_lowercase() == other.trim().to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;

/// A new password: 8 to 1024 characters.
pub fn check_password(password: &str) -> Result<()> {
    let len = password.chars().count();
    if (PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"
        )))
    }
}

/// Which way a ledger entry moves the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Credit,
    Debit,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "CREDIT",
            Self::Debit => "DEBIT",
        }
    }
}

/// One immutable ledger entry.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub id: String,
    pub user_id: UserId,
    pub kind: EntryKind,
    pub description: String,
    /// Magnitude; `kind` gives the direction.
    pub credits: Credits,
    /// US dollars, in cents.
    pub fiat: Credits,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A Clara account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    pub credits: Credits,
    pub two_factor: bool,
    pub dark_mode: bool,
    pub active: bool,
    pub google_user_id: Option<String>,
    /// Sealed with the server secret.
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    /// The last authenticator step accepted (replay protection).
    pub totp_last_step: i64,
    /// Failed second factors at login in a row.
    pub second_factor_failures: i64,
    /// 2FA logins are refused until then (Unix seconds).
    pub second_factor_locked_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    /// The reference's "active" rule: activated, and both names set.
    pub fn is_usable(&self) -> bool {
        let named = |n: &Option<String>| n.as_deref().is_some_and(|s| !s.trim().is_empty());
        self.active && named(&self.first_name) && named(&self.last_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_exact_hundredths_and_render_as_floats() {
        let a = Credits::from_hundredths(1050);
        assert_eq!(a.to_string(), "10.50");
        assert_eq!(a.as_f64(), 10.5);
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!(10.5));
        assert_eq!(
            serde_json::from_value::<Credits>(serde_json::json!(0.29)).unwrap(),
            Credits::from_hundredths(29)
        );
        assert_eq!(
            a.checked_sub(Credits::whole(11)),
            Some(Credits::from_hundredths(-50))
        );
        assert!(Credits::from_hundredths(i64::MAX).checked_add(a).is_none());
        assert_eq!(Credits::from_hundredths(-5).to_string(), "-0.05");
        assert_eq!(Credits::whole(10).as_python_float(), "10.0");
        assert_eq!(Credits::from_hundredths(1250).as_python_float(), "12.5");
        assert_eq!(Credits::from_hundredths(1).as_python_float(), "0.01");
        assert_eq!(Credits::ZERO.as_python_float(), "0.0");
    }

    #[test]
    fn emails_are_checked_once_when_parsed() {
        assert_eq!(
            Email::parse("  Ada@Example.com ").unwrap().as_str(),
            "Ada@Example.com"
        );
        for bad in [
            "", "a@b", "@b.c", "a b@c.d", "a@.c", "a@c.", "a\0@b.c", "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Email::parse("ada@example.com")
                .unwrap()
                .matches("ADA@example.com ")
        );
    }

    #[test]
    fn passwords_are_8_to_1024_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
