//! The mails Clara sends, each as a subject, a text body and an HTML body.

use crate::store::outbox::MailRow;

/// A composed mail, not yet queued.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn row(self) -> MailRow {
        MailRow {
            id: crate::crypto::new_id("mail"),
            recipient: self.to,
            subject: self.subject,
            text_body: self.text,
            html_body: self.html,
            attempts: 0,
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn compose(to: &str, subject: &str, greeting: Option<&str>, paragraphs: &[String]) -> Mail {
    let hello = match greeting {
        Some(name) if !name.is_empty() => format!("Hello {name},"),
        _ => "Hello,".to_string(),
    };
    let text = format!("{hello}\n\n{}\n\n-- Clara\n", paragraphs.join("\n\n"));
    let html_paragraphs: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>", linkify(&escape(p))))
        .collect();
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>{}</p>{html_paragraphs}<p>-- Clara</p></body></html>",
        escape(&hello)
    );
    Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text,
        html,
    }
}

/// Turns (already escaped) URLs into links.
fn linkify(escaped: &str) -> String {
    escaped
        .split(' ')
        .map(|word| {
            if word.starts_with("http://") || word.starts_with("https://") {
                format!("<a href=\"{word}\">{word}</a>")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Percent-encodes a query value.
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sent on Register: the activation code and a link to the front end's activation page.
pub fn welcome(to: &str, name: Option<&str>, user_id: &str, code: &str, client_url: &str) -> Mail {
    let link = format!(
        "{}/auth/email/activate?email={}&code={code}&user_id={user_id}",
        client_url.trim_end_matches('/'),
        query_value(to)
    );
    compose(
        to,
        "Welcome to Clara: activate your account",
        name,
        &[
            "Welcome to Clara. Activate your account with this code (valid for 10 minutes):".into(),
            code.to_string(),
            format!("Or open this link: {link}"),
            "If you did not sign up, ignore this mail.".into(),
        ],
    )
}

/// The code for an OTP type (`ACTIVATION`, `TWO_FACTOR_AUTH`, `CHANGE_PASSWORD`).
pub fn otp(to: &str, name: Option<&str>, otp_type: &str, code: &str) -> Mail {
    let purpose = match otp_type {
        "ACTIVATION" => "activate your account",
        "TWO_FACTOR_AUTH" => "confirm this two-factor authentication step",
        _ => "change your password",
    };
    compose(
        to,
        "Clara verification code",
        name,
        &[
            format!("Use this code to {purpose}. It is valid for 10 minutes:"),
            code.to_string(),
            "If you did not ask for it, ignore this mail; nothing changes without the code.".into(),
        ],
    )
}

pub fn password_changed(to: &str, name: Option<&str>) -> Mail {
    compose(
        to,
        "Your Clara password was changed",
        name,
        &[
            "The password of your Clara account was just changed, and your other sessions were signed out.".into(),
            "If this was not you, reset your password now and contact support.".into(),
        ],
    )
}

pub fn two_factor(to: &str, name: Option<&str>, enabled: bool) -> Mail {
    let (subject, line) = if enabled {
        (
            "Two-factor authentication enabled",
            "Two-factor authentication is now on for your Clara account.",
        )
    } else {
        (
            "Two-factor authentication disabled",
            "Two-factor authentication is now off for your Clara account.",
        )
    };
    compose(
        to,
        subject,
        name,
        &[
            line.into(),
            "If this was not you, secure your account now.".into(),
        ],
    )
}

/// Too many wrong second factors at login: 2FA logins are locked for a while.
pub fn second_factor_locked(to: &str, name: Option<&str>, minutes: i64) -> Mail {
    compose(
        to,
        "Two-factor login locked",
        name,
        &[
            format!(
                "Someone entered your correct password and then several wrong two-factor codes. Two-factor login to your Clara account is locked for {minutes} minutes."
            ),
            "If this was not you, change your password now: whoever tried knows it.".into(),
        ],
    )
}

/// A delayed payment (bank debit…) for a credit purchase failed: nothing was credited.
pub fn payment_failed(to: &str, name: Option<&str>, credits: &str, fiat: &str) -> Mail {
    compose(
        to,
        "Your Clara credit purchase failed",
        name,
        &[
            format!(
                "The payment of ${fiat} for {credits} credits did not go through, so no credits were added."
            ),
            "You can try again with another payment method from the credits page.".into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_welcome_mail_carries_the_code_and_an_encoded_link_and_escapes_html() {
        let mail = welcome(
            "a+b@x.io",
            Some("<Ann>"),
            "user_1",
            "123456",
            "http://localhost:3000/",
        );
        assert!(mail.text.contains("123456"));
        assert!(mail.text.contains("http://localhost:3000/auth/email/activate?email=a%2Bb%40x.io&code=123456&user_id=user_1"));
        assert!(mail.html.contains("&lt;Ann&gt;"));
        assert!(!mail.html.contains("<Ann>"));
        assert!(mail.html.contains("<a href=\"http://localhost:3000/auth/email/activate?email=a%2Bb%40x.io&amp;code=123456"), "{}", mail.html);
    }
}
