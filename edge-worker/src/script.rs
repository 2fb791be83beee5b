//! The browser snippet, compiled into the Worker so `GET /js` needs no storage and no origin.
//!
//! The ETag is a content hash, so a new deploy with a changed snippet is picked up by browsers as soon as
//! their cached copy is revalidated (at most an hour later, see [`CACHE_CONTROL`]).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The built snippet; `tracker-js` commits it, so a Rust build never needs Node.
pub const SCRIPT: &str = include_str!("../../tracker-js/dist/pathlight.js");

pub const CONTENT_TYPE: &str = "application/javascript; charset=utf-8";
/// An hour fresh, then served stale for up to a day while revalidating: a deploy reaches visitors within
/// the hour, and a slow revalidation never delays a page.
pub const CACHE_CONTROL: &str = "public, max-age=3600, stale-while-revalidate=86400";

/// Strong ETag of the served script, computed once per isolate.
pub fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| etag_of(SCRIPT))
}

/// A quoted strong ETag: the first 16 bytes of the content's SHA-256, hex.
fn etag_of(content: &str) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(content.as_bytes())[..16]))
}

/// Whether an `If-None-Match` header names the current script (weak comparison, as RFC 9110 asks for GET).
pub fn is_fresh(if_none_match: &str) -> bool {
    let current = etag();
    if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_is_a_quoted_hash_of_the_content() {
        let tag = etag();
        assert_eq!(tag.len(), 34);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(tag[1..33].chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
        assert_eq!(tag, etag_of(SCRIPT));
        // SHA-256("abc") begins ba7816bf8f01cfea414140de5dae2223.
        assert_eq!(etag_of("abc"), "\"ba7816bf8f01cfea414140de5dae2223\"");
        let mut changed = SCRIPT.to_owned();
        changed.push(' ');
        assert_ne!(etag_of(&changed), tag, "any change to the script changes its tag");
    }

    #[test]
    fn if_none_match_matches_the_current_tag_in_any_form() {
        let tag = etag();
        assert!(is_fresh(tag));
        assert!(is_fresh(&format!("W/{tag}")));
        assert!(is_fresh(&format!("\"old\", {tag}")));
        assert!(is_fresh("*"));
        assert!(!is_fresh("\"0123\""));
        assert!(!is_fresh(""));
    }
}
