//! What the gateway's read APIs (replay, stats) answer when they refuse a request: one JSON shape,
//! `{"error": <label>, "message": …, "parameter"?: …}`, logged once, never cached, with the
//! `WWW-Authenticate` challenges of a 401 and the `Retry-After` of a 503.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;

/// Why a read API (replay, stats, the dashboard) refused a request's credentials: the same three answers,
/// labels and messages for each, all 401s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum CredentialsRefusal {
    #[error("credentials are required (HTTP Basic, or Authorization: Bearer)")]
    MissingCredentials,
    #[error("the credentials are wrong")]
    WrongCredentials,
    #[error("the Authorization header is malformed or of an unsupported scheme (use Basic or Bearer)")]
    MalformedCredentials,
}

impl From<AuthError> for CredentialsRefusal {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing => Self::MissingCredentials,
            AuthError::Wrong => Self::WrongCredentials,
            AuthError::Malformed | AuthError::UnsupportedMethod => Self::MalformedCredentials,
        }
    }
}

/// Which API refuses, for its log lines and its authentication challenges.
pub struct Area {
    /// `replay`, `stats`: the word in "… request refused".
    pub name: &'static str,
    /// The `WWW-Authenticate` values of a 401, Basic first: it is the one browsers answer with a prompt.
    pub challenges: [&'static str; 2],
}

/// The refusal as a response; `parameter` names the query parameter a 400 is about.
pub fn refusal(
    area: &Area,
    status: StatusCode,
    label: &'static str,
    message: String,
    parameter: Option<&str>,
) -> Response {
    if status.is_server_error() {
        tracing::warn!(reason = label, error = %message, "{} request failed", area.name);
    } else {
        tracing::info!(reason = label, error = %message, "{} request refused", area.name);
    }
    let mut body = json!({"error": label, "message": message});
    if let Some(parameter) = parameter {
        body["parameter"] = parameter.into();
    }
    let mut response = (status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        for challenge in area.challenges {
            headers.append(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
