//! Who may watch and delete recordings: one configured bearer token and/or one user name and password,
//! checked on every `/replay` request before anything else (pages, assets and API alike).
//!
//! The check is the gateway's own ([`crate::auth::Auth`]: constant-time, secrets never shown), with
//! replay's credentials, which are separate from the produce clients': a credential that may write
//! events must not be one that may read recordings.
//!
//! Browsers get HTTP Basic: a 401 carries `WWW-Authenticate: Basic`, the browser asks for the user name and
//! password once and then sends them with every request of the origin (the player's `fetch` of the events
//! included), so the pages need no login form, cookie or script of their own. Scripts use either.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Replay, ReplayError};
use crate::auth::{Auth, Credentials, CredentialsError};

/// The replay credentials; at least one kind is configured.
#[derive(Debug, Clone)]
pub struct ReplayAuth {
    auth: Auth,
}

impl ReplayAuth {
    /// From replay's credential settings; `None` when none is set (replay is off).
    pub fn from_credentials(credentials: Credentials<'_>) -> Result<Option<Self>, CredentialsError> {
        Ok(credentials.auth("replay")?.map(|auth| Self { auth }))
    }

    pub fn bearer(token: &str) -> Self {
        Self { auth: Auth::bearer(token) }
    }

    pub fn basic(username: &str, password: &str) -> Self {
        Self { auth: Auth::basic(username, password) }
    }

    pub fn check(&self, headers: &axum::http::HeaderMap) -> Result<(), ReplayError> {
        self.auth.check(headers).map(drop).map_err(|error| ReplayError::Credentials(error.into()))
    }
}

/// Middleware in front of every replay route.
pub async fn require_credentials(State(replay): State<Arc<Replay>>, request: Request, next: Next) -> Response {
    match replay.auth.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;
    use crate::read_api::CredentialsRefusal;

    #[test]
    fn a_token_and_a_user_may_both_be_configured() {
        let (token, password) = (Secret::new("t0k"), Secret::new("pw"));
        let credentials =
            Credentials { prefix: "REPLAY", token: Some(&token), username: Some("alice"), password: Some(&password) };
        let both = ReplayAuth::from_credentials(credentials).expect("valid").expect("on");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", "Bearer t0k".parse().expect("header"));
        assert!(both.check(&headers).is_ok());
        headers.insert("authorization", "Basic YWxpY2U6cHc=".parse().expect("header")); // alice:pw
        assert!(both.check(&headers).is_ok());
        headers.insert("authorization", "Basic YWxpY2U6cHg=".parse().expect("header")); // alice:px
        assert!(matches!(both.check(&headers), Err(ReplayError::Credentials(CredentialsRefusal::WrongCredentials))));
    }
}
