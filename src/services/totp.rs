//! Authenticator-app 2FA (totp-rs: SHA-1, 6 digits, 30 s, ±1 step, 160-bit secret) with
//! replay protection (each step accepted once), and 10 single-use recovery codes stored as MACs.

use base64::Engine as _;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::{
    app::App,
    crypto,
    error::{Error, Result},
    model::User,
    store::{codes, users},
};

pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "Clara";

fn totp(secret: Vec<u8>, account: &str) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|e| Error::internal(anyhow::anyhow!("totp: {e:?}")))
}

/// A new, unconfirmed authenticator secret: what the app needs to add the account.
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_png_base64: String,
}

pub async fn enroll(app: &App, user: &User) -> Result<Enrollment> {
    let secret = Secret::generate();
    let totp = totp(secret.as_bytes().to_vec(), user.email.as_str())?;
    let uri = totp
        .to_url()
        .map_err(|e| Error::internal(anyhow::anyhow!("otpauth url: {e:?}")))?;
    let sealed = crypto::seal(&app.config().secret_key, secret.as_bytes());
    let mut conn = app.store().conn().await?;
    users::set_totp_pending(&mut conn, user.id.as_str(), &sealed, app.now()).await?;
    Ok(Enrollment {
        secret_base32: secret.to_base32(),
        qr_png_base64: base64::engine::general_purpose::STANDARD.encode(qr_png(&uri)?),
        otpauth_uri: uri,
    })
}

/// The 30-second step `code` is valid for under the sealed secret, if any.
fn matching_step(app: &App, sealed: &str, account: &str, code: &str) -> Result<Option<i64>> {
    let Some(secret) = crypto::open(&app.config().secret_key, sealed) else {
        return Ok(None);
    };
    let totp = totp(secret, account)?;
    Ok(totp
        .check(code.trim(), app.now() as u64)
        .map(|step| step as i64))
}

/// Confirms the pending secret with a current code, turns 2FA on, and returns the recovery
/// codes (shown once).
/// Runs inside the caller's transaction, so what else the caller writes (the notice mail)
/// commits or rolls back with it.
pub async fn confirm(
    app: &App,
    tx: &mut sqlx::AnyConnection,
    user: &User,
    code: &str,
) -> Result<Vec<String>> {
    let pending = user
        .totp_pending_secret
        .as_deref()
        .ok_or_else(|| Error::invalid("no authenticator enrollment is pending; enroll first"))?;
    let step = matching_step(app, pending, user.email.as_str(), code)?
        .ok_or(Error::Unauthorized { two_factor: false })?;
    let recovery: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let macs: Vec<String> = recovery
        .iter()
        .map(|c| recovery_mac(app, user.id.as_str(), c))
        .collect();
    if !users::confirm_totp(&mut *tx, user.id.as_str(), pending, step, app.now()).await? {
        return Err(Error::Unauthorized { two_factor: false });
    }
    codes::put_recovery_codes(tx, user.id.as_str(), &macs, app.now()).await?;
    Ok(recovery)
}

/// True once per step for a right code of the user's confirmed authenticator.
pub async fn check(app: &App, user: &User, code: &str) -> Result<bool> {
    let Some(sealed) = user.totp_secret.as_deref() else {
        return Ok(false);
    };
    let Some(step) = matching_step(app, sealed, user.email.as_str(), code)? else {
        return Ok(false);
    };
    let mut conn = app.store().conn().await?;
    users::accept_totp_step(&mut conn, user.id.as_str(), step).await
}

/// True once for each of the user's recovery codes.
pub async fn use_recovery_code(app: &App, user: &User, code: &str) -> Result<bool> {
    let mut conn = app.store().conn().await?;
    codes::consume_recovery_code(
        &mut conn,
        user.id.as_str(),
        &recovery_mac(app, user.id.as_str(), code),
    )
    .await
}

fn recovery_mac(app: &App, user_id: &str, code: &str) -> String {
    let normalized: String = code
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| *c != '-')
        .collect();
    crypto::mac(
        &app.config().secret_key,
        "recovery",
        &format!("{user_id}:{normalized}"),
    )
}

/// `xxxxx-xxxxx` from an unambiguous alphabet (~50 bits).
fn recovery_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    let mut rng = rand::rng();
    let mut pick = || ALPHABET[rng.random_range(0..ALPHABET.len())] as char;
    let left: String = (0..5).map(|_| pick()).collect();
    let right: String = (0..5).map(|_| pick()).collect();
    format!("{left}-{right}")
}

/// A black-on-white PNG of the QR code for `text`: 6 px per module, 4-module quiet zone.
fn qr_png(text: &str) -> Result<Vec<u8>> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| Error::internal(anyhow::anyhow!("qr: {e:?}")))?;
    const SCALE: i32 = 6;
    const BORDER: i32 = 4;
    let side = (qr.size() + 2 * BORDER) * SCALE;
    let mut pixels = Vec::with_capacity((side * side) as usize);
    for y in 0..side {
        for x in 0..side {
            let dark = qr.get_module(x / SCALE - BORDER, y / SCALE - BORDER);
            pixels.push(if dark { 0u8 } else { 255u8 });
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(Error::internal)?;
    writer.write_image_data(&pixels).map_err(Error::internal)?;
    writer.finish().map_err(Error::internal)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_a_png() {
        let png =
            qr_png("otpauth://totp/Clara:a%40b.c?secret=JBSWY3DPEHPK3PXP&issuer=Clara").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn recovery_codes_are_distinct_and_formatted() {
        let a = recovery_code();
        assert_eq!(a.len(), 11);
        assert_eq!(&a[5..6], "-");
        assert_ne!(a, recovery_code());
    }
}
