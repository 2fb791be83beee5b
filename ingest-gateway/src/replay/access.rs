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
use crate::auth::{Auth, AuthError, Client, Secret};

/// The replay credentials; at least one kind is configured.
#[derive(Debug, Clone)]
pub struct ReplayAuth {
    auth: Auth,
}

impl ReplayAuth {
    /// From the three settings; `None` when none is set. Refuses a half-configured or empty credential,
    /// naming the variable.
    pub fn from_settings(
        token: Option<&Secret>,
        username: Option<&str>,
        password: Option<&Secret>,
    ) -> Result<Option<Self>, String> {
        if token.is_some_and(|token| token.expose().is_empty()) {
            return Err("REPLAY_TOKEN is set but empty; unset it or give it a token".to_owned());
        }
        let basic = match (username, password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                if user.is_empty() || user.contains(':') || password.expose().is_empty() {
                    return Err("REPLAY_USERNAME must be non-empty without ':', and REPLAY_PASSWORD non-empty".into());
                }
                Some(Client::with_basic("replay-basic", user, password.expose()))
            }
            _ => return Err("set both REPLAY_USERNAME and REPLAY_PASSWORD, or neither".to_owned()),
        };
        let bearer = token.map(|token| Client::with_token("replay-token", token.expose()));
        let clients: Vec<Client> = bearer.into_iter().chain(basic).collect();
        if clients.is_empty() {
            return Ok(None);
        }
        let auth = Auth::open().with_clients(clients).map_err(|error| format!("replay credentials: {error}"))?;
        Ok(Some(Self { auth }))
    }

    pub fn bearer(token: &str) -> Self {
        Self { auth: Auth::bearer(token) }
    }

    pub fn basic(username: &str, password: &str) -> Self {
        Self { auth: Auth::basic(username, password) }
    }

    pub fn check(&self, headers: &axum::http::HeaderMap) -> Result<(), ReplayError> {
        self.auth.check(headers).map(drop).map_err(|error| match error {
            AuthError::Missing => ReplayError::MissingCredentials,
            AuthError::Wrong => ReplayError::WrongCredentials,
            AuthError::Malformed | AuthError::UnsupportedMethod => ReplayError::MalformedCredentials,
        })
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

    #[test]
    fn no_setting_means_replay_is_off_and_half_a_setting_is_refused() {
        assert!(ReplayAuth::from_settings(None, None, None).expect("valid").is_none());
        let password = Secret::new("pw");
        let refused = ReplayAuth::from_settings(None, Some("alice"), None).expect_err("refused");
        assert!(refused.contains("REPLAY_PASSWORD"), "{refused}");
        let refused = ReplayAuth::from_settings(None, None, Some(&password)).expect_err("refused");
        assert!(refused.contains("REPLAY_USERNAME"), "{refused}");
        let refused = ReplayAuth::from_settings(Some(&Secret::new("")), None, None).expect_err("refused");
        assert!(refused.contains("REPLAY_TOKEN"), "{refused}");
        let refused = ReplayAuth::from_settings(None, Some("a:b"), Some(&password)).expect_err("refused");
        assert!(refused.contains("':'"), "{refused}");
    }

    #[test]
    fn a_token_and_a_user_may_both_be_configured() {
        let both = ReplayAuth::from_settings(Some(&Secret::new("t0k")), Some("alice"), Some(&Secret::new("pw")))
            .expect("valid")
            .expect("on");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", "Bearer t0k".parse().expect("header"));
        assert!(both.check(&headers).is_ok());
        headers.insert("authorization", "Basic YWxpY2U6cHc=".parse().expect("header")); // alice:pw
        assert!(both.check(&headers).is_ok());
        headers.insert("authorization", "Basic YWxpY2U6cHg=".parse().expect("header")); // alice:px
        assert!(matches!(both.check(&headers), Err(ReplayError::WrongCredentials)));
    }
}
