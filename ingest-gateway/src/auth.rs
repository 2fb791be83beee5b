//! Who may produce. The edge worker authenticates with either a bearer token or HTTP Basic credentials
//! (the two ways a Redpanda HTTP Proxy can be protected), so the gateway accepts whichever is configured.
//! Failures follow Redpanda's answers: a malformed or unsupported `Authorization` header is a 400, missing or
//! wrong credentials a 401.

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;

#[derive(Clone, Default)]
pub struct Auth {
    bearer_token: Option<String>,
    basic: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("credentials are required")]
    Missing,
    #[error("the credentials are wrong")]
    Wrong,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("unsupported Authorization method")]
    UnsupportedMethod,
}

impl Auth {
    /// Everyone may produce.
    pub fn open() -> Self {
        Self::default()
    }

    pub fn bearer(token: &str) -> Self {
        Self { bearer_token: Some(token.to_owned()), basic: None }
    }

    pub fn basic(username: &str, password: &str) -> Self {
        Self { bearer_token: None, basic: Some((username.to_owned(), password.to_owned())) }
    }

    /// Whatever `config` enables (it has been validated, so a username always comes with a password).
    pub fn from_config(config: &Config) -> Self {
        Self {
            bearer_token: config.auth_token.clone(),
            basic: config.auth_username.clone().zip(config.auth_password.clone()),
        }
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        if self.bearer_token.is_none() && self.basic.is_none() {
            return Ok(());
        }
        let Some(header) = headers.get(AUTHORIZATION) else { return Err(AuthError::Missing) };
        let header = header.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("Bearer") {
            if credentials.is_empty() {
                return Err(AuthError::Malformed);
            }
            let accepted = self.bearer_token.as_deref().is_some_and(|token| same_secret(token, credentials));
            accepted.then_some(()).ok_or(AuthError::Wrong)
        } else if scheme.eq_ignore_ascii_case("Basic") {
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(credentials).map_err(|_| AuthError::Malformed)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
            let (username, password) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
            let accepted = self
                .basic
                .as_ref()
                .is_some_and(|(user, pass)| same_secret(user, username) & same_secret(pass, password));
            accepted.then_some(()).ok_or(AuthError::Wrong)
        } else {
            Err(AuthError::UnsupportedMethod)
        }
    }
}

/// Compares in constant time, so response time reveals neither a matching prefix nor, because both sides
/// are hashed to one length first, the secret's length.
fn same_secret(expected: &str, given: &str) -> bool {
    Sha256::digest(expected.as_bytes()).as_slice().ct_eq(Sha256::digest(given.as_bytes()).as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).expect("valid header"));
        headers
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn without_configured_credentials_everyone_may_produce() {
        assert_eq!(Auth::open().check(&HeaderMap::new()), Ok(()));
        assert_eq!(Auth::open().check(&headers("Bearer whatever")), Ok(()));
    }

    #[test]
    fn it_accepts_either_configured_method() {
        let auth = Auth { basic: Auth::basic("worker", "pa:ss").basic, ..Auth::bearer("s3cret") };
        assert_eq!(auth.check(&headers("Bearer s3cret")), Ok(()));
        assert_eq!(auth.check(&headers("bearer s3cret")), Ok(()));
        assert_eq!(auth.check(&headers(&basic("worker:pa:ss"))), Ok(()));
    }

    #[test]
    fn it_tells_missing_wrong_and_malformed_credentials_apart() {
        let auth = Auth::bearer("s3cret");
        assert_eq!(auth.check(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(auth.check(&headers("Bearer s3cre")), Err(AuthError::Wrong));
        assert_eq!(auth.check(&headers("Bearer s3cret!")), Err(AuthError::Wrong));
        assert_eq!(auth.check(&headers(&basic("worker:s3cret"))), Err(AuthError::Wrong), "basic is not configured");
        assert_eq!(auth.check(&headers("Bearer")), Err(AuthError::Malformed));
        assert_eq!(auth.check(&headers("Basic !!!")), Err(AuthError::Malformed));
        assert_eq!(auth.check(&headers(&basic("no-colon"))), Err(AuthError::Malformed));
        assert_eq!(auth.check(&headers("Digest abc")), Err(AuthError::UnsupportedMethod));
    }
}
