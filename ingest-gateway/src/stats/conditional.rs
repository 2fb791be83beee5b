//! Conditional requests for the stats routes (RFC 9110, section 13): every successful answer carries a strong
//! `ETag` computed from its body, and a request whose `If-None-Match` names the current one is answered
//! `304 Not Modified` without a body. The dashboard refreshes itself this way every half second: an unchanged
//! report costs the network and the page nothing, a changed one arrives whole.
//!
//! The tag is the answer's own (set where the answer is serialized, `api::json_response`), not a version of
//! the tables: the answer is computed either way (what saves the server's work is the daily rows and the
//! rollups, see [`super::daily`]), and a tag of the body cannot claim that a report is unchanged while the
//! rows under it changed, on one server or a cluster. Answers stay `Cache-Control: no-store`: they show visitor data, and the page keeps the last body
//! itself.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

/// The strong entity tag of a body: the first 128 bits of its SHA-256, quoted.
pub fn entity_tag(body: &[u8]) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16])))
        .expect("a quoted hex string is a header value")
}

/// Whether `If-None-Match` names `tag` (or is `*`); weak tags compare by their opaque part (weak comparison,
/// as RFC 9110 requires for `If-None-Match`).
fn matches<'a>(conditions: impl IntoIterator<Item = &'a HeaderValue>, tag: &[u8]) -> bool {
    conditions.into_iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|candidate| candidate == b"*" || candidate.strip_prefix(b"W/").unwrap_or(candidate) == tag)
    })
}

/// Answers `304 Not Modified` (with the tag, without the body) when a `200 OK` answer's `ETag` (set by the
/// routes with [`entity_tag`]) is one the request's `If-None-Match` names.
pub async fn not_modified(request: Request, next: Next) -> Response {
    let conditions: Vec<HeaderValue> = request.headers().get_all(IF_NONE_MATCH).iter().cloned().collect();
    let response = next.run(request).await;
    let unchanged = response.status() == StatusCode::OK
        && response.headers().get(ETAG).is_some_and(|tag| matches(&conditions, tag.as_bytes()));
    if !unchanged {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(value: &str) -> [HeaderValue; 1] {
        [HeaderValue::from_str(value).expect("a header value")]
    }

    #[test]
    fn a_tag_is_the_bodys_and_if_none_match_compares_weakly() {
        let tag = entity_tag(b"{\"results\":[]}");
        assert_eq!(tag.len(), 34);
        assert_eq!(tag, entity_tag(b"{\"results\":[]}"));
        assert_ne!(tag, entity_tag(b"{\"results\":[1]}"));
        let text = tag.to_str().expect("ascii");
        assert!(matches(&conditions(text), tag.as_bytes()));
        assert!(matches(&conditions(&format!("\"other\", W/{text}")), tag.as_bytes()));
        assert!(matches(&conditions("*"), tag.as_bytes()));
        assert!(!matches(&conditions("\"other\""), tag.as_bytes()));
        assert!(!matches(&[], tag.as_bytes()));
    }
}
