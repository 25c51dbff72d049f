//! Auth operations: Register, Google sign-in, Login, Logout, Change Password, Send OTP,
//! Activate, Enable/Disable 2FA, authenticator-app enrollment. Contracts only; each `call` is
//! one line into `services`.

use http::StatusCode;

use super::{Accepts, Body, Contract, Effect, Hints, Operation, RestData};
use crate::{
    app::App,
    error::Result,
    services::{
        Done, NoInput, auth::Actor, otp, passwords, sessions, signup, two_factor, users::PublicUser,
    },
};

const PUBLIC_OR_PRIVATE: Accepts = Accepts::PUBLIC_KEY.or(Accepts::PRIVATE_KEY);
const USER_OR_PRIVATE: Accepts = Accepts::USER_TOKEN.or(Accepts::PRIVATE_KEY);

pub struct Register;
impl Operation for Register {
    const CONTRACT: Contract = Contract {
        name: "auth_register",
        title: "Register",
        description: "Create an account. An activation code is mailed; call auth_activate with it \
            before using credit operations. Returns the user with a user token: on a connection with \
            a session (stdio, SSE, a 2025-11-25 HTTP session) later calls act as this user; \
            without one, send the token as Authorization: Bearer on each later call.",
        accepts: PUBLIC_OR_PRIVATE,
        body: Body::Json,
        status: StatusCode::CREATED,
        message: "User registered successfully.",
        effect: Effect::SignIn,
        ..Contract::post("/auth/register")
    };
    type In = signup::Register;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicUser> {
        signup::register(app, actor, input).await
    }
}

pub struct Google;
impl Operation for Google {
    const CONTRACT: Contract = Contract {
        name: "auth_google",
        title: "Sign in with Google",
        description: "Sign in (or sign up) with a Google ID token. Returns the user with a user \
            token: on a connection with a session later calls act as this user; without one, send \
            the token as Authorization: Bearer on each later call.",
        hints: Hints::WRITE.open_world(),
        body: Body::Json,
        status: StatusCode::CREATED,
        message: "User logged in successfully.",
        effect: Effect::SignIn,
        ..Contract::post("/auth/google")
    };
    type In = signup::GoogleSignIn;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicUser> {
        signup::google(app, actor, input).await
    }
    fn outcome(out: &PublicUser) -> (StatusCode, &'static str) {
        let message = match out.created_now {
            true => "User registered successfully.",
            false => Self::CONTRACT.message,
        };
        (Self::CONTRACT.status, message)
    }
}

pub struct Login;
impl Operation for Login {
    const CONTRACT: Contract = Contract {
        name: "auth_login",
        title: "Log in",
        description: "Sign in with email and password (and a 2FA code when 2FA is on). Returns \
            the user with a user token: on a connection with a session (stdio, SSE, a 2025-11-25 \
            HTTP session) later calls act as this user; without one, send the token as \
            Authorization: Bearer on each later call.",
        accepts: Accepts::BASIC,
        body: Body::OptionalJson,
        message: "User logged in successfully.",
        effect: Effect::SignIn,
        ..Contract::post("/auth/session")
    };
    type In = sessions::Login;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicUser> {
        sessions::login(app, actor, input).await
    }
}

pub struct Logout;
impl Operation for Logout {
    const CONTRACT: Contract = Contract {
        name: "auth_logout",
        title: "Log out",
        description: "Revoke the user token this call presents (other sessions stay).",
        accepts: Accepts::USER_TOKEN,
        hints: Hints::DESTRUCTIVE.idempotent(),
        status: StatusCode::NO_CONTENT,
        message: "User logged out successfully.",
        effect: Effect::SignOut,
        ..Contract::delete("/auth/session")
    };
    type In = NoInput;
    type Out = Done;
    async fn call(app: &App, actor: &Actor, _input: NoInput) -> Result<Done> {
        sessions::logout(app, actor).await.map(|()| done::<Self>())
    }
}

pub struct ChangePassword;
impl Operation for ChangePassword {
    const CONTRACT: Contract = Contract {
        name: "auth_change_password",
        title: "Change password",
        description: "Set a new password with an emailed CHANGE_PASSWORD code (auth_send_otp). \
            Signs out every other session and voids pending codes.",
        accepts: USER_OR_PRIVATE.or(Accepts::PUBLIC_KEY),
        hints: Hints::DESTRUCTIVE,
        body: Body::Json,
        message: "User password changed successfully.",
        rest_data: RestData::Null,
        ..Contract::patch("/users/{user_email}/password")
    };
    type In = passwords::ChangePassword;
    type Out = Done;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Done> {
        passwords::change(app, actor, input)
            .await
            .map(|()| done::<Self>())
    }
}

pub struct SendOtp;
impl Operation for SendOtp {
    const CONTRACT: Contract = Contract {
        name: "auth_send_otp",
        title: "Send OTP",
        description: "Mail a 6-digit code (valid 10 minutes) for activation, a 2FA step or a \
            password change. One code per type at a time; at most one request a minute.",
        accepts: PUBLIC_OR_PRIVATE,
        hints: Hints::WRITE.open_world(),
        status: StatusCode::CREATED,
        message: "OTP sent successfully.",
        rest_data: RestData::Null,
        ..Contract::post("/users/{user_email}/otp/{otp_type}")
    };
    type In = otp::SendOtp;
    type Out = Done;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Done> {
        otp::send(app, actor, input).await.map(|()| done::<Self>())
    }
}

pub struct Activate;
impl Operation for Activate {
    const CONTRACT: Contract = Contract {
        name: "auth_activate",
        title: "Activate account",
        description: "Activate an account with its emailed ACTIVATION code.",
        accepts: PUBLIC_OR_PRIVATE,
        hints: Hints::WRITE.idempotent(),
        body: Body::Json,
        message: "User activated successfully.",
        ..Contract::post("/users/{user_email}/activate")
    };
    type In = signup::Activate;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicUser> {
        signup::activate(app, actor, input).await
    }
}

pub struct Enable2fa;
impl Operation for Enable2fa {
    const CONTRACT: Contract = Contract {
        name: "auth_enable_2fa",
        title: "Enable 2FA",
        description: "Turn on two-factor login with an emailed TWO_FACTOR_AUTH code \
            (auth_send_otp).",
        accepts: USER_OR_PRIVATE,
        hints: Hints::WRITE.idempotent(),
        body: Body::Json,
        message: "User 2FA enabled successfully.",
        rest_data: RestData::Null,
        ..Contract::post("/users/{user_id}/2fa")
    };
    type In = two_factor::EnableTwoFactor;
    type Out = Done;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Done> {
        two_factor::enable(app, actor, input)
            .await
            .map(|()| done::<Self>())
    }
}

pub struct Disable2fa;
impl Operation for Disable2fa {
    const CONTRACT: Contract = Contract {
        name: "auth_disable_2fa",
        title: "Disable 2FA",
        description: "Turn two-factor login off (emailed code and authenticator app) with a \
            current second factor.",
        accepts: USER_OR_PRIVATE,
        hints: Hints::DESTRUCTIVE.idempotent(),
        body: Body::Json,
        status: StatusCode::NO_CONTENT,
        message: "User 2FA disabled successfully.",
        ..Contract::delete("/users/{user_id}/2fa")
    };
    type In = two_factor::DisableTwoFactor;
    type Out = Done;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Done> {
        two_factor::disable(app, actor, input)
            .await
            .map(|()| done::<Self>())
    }
}

pub struct TotpEnroll;
impl Operation for TotpEnroll {
    const CONTRACT: Contract = Contract {
        name: "auth_totp_enroll",
        title: "Enroll authenticator app",
        description: "Start authenticator-app 2FA: returns the otpauth link, secret and QR code. \
            Confirm with auth_totp_confirm and a current code.",
        accepts: Accepts::USER_TOKEN,
        status: StatusCode::CREATED,
        message: "Authenticator enrollment started.",
        ..Contract::post("/users/{user_id}/2fa/totp")
    };
    type In = two_factor::TotpEnroll;
    type Out = two_factor::TotpEnrollment;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Self::Out> {
        two_factor::totp_enroll(app, actor, input).await
    }
}

pub struct TotpConfirm;
impl Operation for TotpConfirm {
    const CONTRACT: Contract = Contract {
        name: "auth_totp_confirm",
        title: "Confirm authenticator app",
        description: "Finish authenticator-app enrollment with a current code: turns 2FA on and \
            returns ten single-use recovery codes.",
        accepts: Accepts::USER_TOKEN,
        body: Body::Json,
        message: "Authenticator app enabled successfully.",
        ..Contract::post("/users/{user_id}/2fa/totp/confirm")
    };
    type In = two_factor::TotpConfirm;
    type Out = two_factor::RecoveryCodes;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Self::Out> {
        two_factor::totp_confirm(app, actor, input).await
    }
}

/// The `{message}` answer of an operation whose domain function returns nothing.
fn done<O: Operation>() -> Done {
    Done::new(O::CONTRACT.message)
}
