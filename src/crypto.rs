//! Small, audited-crate-backed primitives the domain needs: ids, opaque tokens, keyed MACs
//! (how tokens, OTP codes and recovery codes are stored), constant-time comparison, CSPRNG
//! digits, sealing of TOTP secrets, and the documented date format.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::{Rng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// `prefix_<32 hex>`: the documented id format (`user_…`, `session_…`, `otp_…`, `api_key_…`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// An opaque bearer token: `prefix` + 256 random bits, base64url.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// `n` decimal digits, uniformly from the OS CSPRNG.
pub fn random_digits(n: u32) -> String {
    let upper = 10u64.pow(n);
    format!(
        "{:0width$}",
        rand::rng().random_range(0..upper),
        width = n as usize
    )
}

/// HMAC-SHA256 of `data` under the server secret, domain-separated by `purpose`, hex encoded.
/// What the database keeps instead of a token or code: useless without `CLARA_SECRET_KEY`.
pub fn mac(key: &[u8], purpose: &str, data: &str) -> String {
    hex::encode(mac_bytes(key, purpose, data.as_bytes()))
}

fn mac_bytes(key: &[u8], purpose: &str, data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Plain HMAC-SHA256 of `data` (no purpose prefix), hex: what third parties such as Stripe sign.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Encrypts a short secret (a TOTP key) for storage: a random nonce and the plaintext XORed
/// with HMAC(key, nonce) as a keystream. Hex of `nonce || ciphertext`. At most 32 bytes.
pub fn seal(key: &[u8], plaintext: &[u8]) -> String {
    assert!(plaintext.len() <= 32, "seal is for short secrets");
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let stream = mac_bytes(key, "seal", &nonce);
    let cipher: Vec<u8> = plaintext.iter().zip(stream).map(|(p, k)| p ^ k).collect();
    hex::encode([&nonce[..], &cipher].concat())
}

/// The inverse of [`seal`]; `None` when the text is not something `seal` produced.
pub fn open(key: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let bytes = hex::decode(sealed).ok()?;
    if bytes.len() < 16 || bytes.len() > 48 {
        return None;
    }
    let (nonce, cipher) = bytes.split_at(16);
    let stream = mac_bytes(key, "seal", nonce);
    Some(cipher.iter().zip(stream).map(|(c, k)| c ^ k).collect())
}

/// `Thu, 27 Nov 2025 00:10:11 GMT`, the documented date format.
pub fn http_date(secs: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_tokens_and_digits_have_the_documented_shapes() {
        let id = new_id("user");
        assert_eq!(id.len(), 37);
        assert!(id.starts_with("user_"));
        let token = random_token("clara_user_");
        assert!(token.len() >= "clara_user_".len() + 43);
        assert_ne!(token, random_token("clara_user_"));
        let code = random_digits(6);
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn macs_depend_on_key_and_purpose() {
        let a = mac(b"k1", "session", "t");
        assert_eq!(a, mac(b"k1", "session", "t"));
        assert_ne!(a, mac(b"k2", "session", "t"));
        assert_ne!(a, mac(b"k1", "api_key", "t"));
        assert!(ct_eq(&a, &a.clone()));
        assert!(!ct_eq(&a, "x"));
    }

    #[test]
    fn sealed_secrets_open_only_with_the_key() {
        let sealed = seal(b"key", b"twenty byte secret!!");
        assert_eq!(open(b"key", &sealed).unwrap(), b"twenty byte secret!!");
        assert_ne!(open(b"other", &sealed).unwrap(), b"twenty byte secret!!");
        assert_ne!(
            sealed,
            seal(b"key", b"twenty byte secret!!"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn dates_use_the_documented_format() {
        assert_eq!(http_date(1_764_202_211), "Thu, 27 Nov 2025 00:10:11 GMT");
    }
}
