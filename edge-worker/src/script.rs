//! The browser scripts, compiled into the Worker so they need no storage and no origin: the page-view
//! snippet (`GET /js`) and the session recorder (`GET /record.js`, loaded by the snippet only on sites that
//! enable recording).
//!
//! Each has a strong ETag that is its content hash, so a deploy with a changed script is picked up as soon as
//! cached copies are revalidated (at most an hour later, see [`CACHE_CONTROL`]). A request that names the
//! current hash in `?v=` may cache the script for a year: that URL can never serve other bytes.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// A script served by the worker.
pub struct Asset {
    pub body: &'static str,
    etag: OnceLock<String>,
}

impl Asset {
    const fn new(body: &'static str) -> Self {
        Self { body, etag: OnceLock::new() }
    }

    /// Strong ETag of the body, computed once per isolate.
    pub fn etag(&self) -> &str {
        self.etag.get_or_init(|| etag_of(self.body))
    }

    /// The content hash alone (the ETag without quotes), for `?v=` URLs.
    pub fn version(&self) -> &str {
        self.etag().trim_matches('"')
    }

    /// Whether an `If-None-Match` header names the current body (weak comparison, as RFC 9110 asks for GET).
    pub fn is_fresh(&self, if_none_match: &str) -> bool {
        let current = self.etag();
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
    }
}

/// The page-view snippet; `tracker-js` commits its build, so a Rust build never needs Node.
pub static SNIPPET: Asset = Asset::new(include_str!("../../tracker-js/dist/pathlight.js"));
/// The session recorder (rrweb, masked by default), built and committed by `tracker-js` too.
pub static RECORDER: Asset = Asset::new(include_str!("../../tracker-js/dist/record.js"));

pub const CONTENT_TYPE: &str = "application/javascript; charset=utf-8";
/// An hour fresh, then served stale for up to a day while revalidating: a deploy reaches visitors within
/// the hour, and a slow revalidation never delays a page.
pub const CACHE_CONTROL: &str = "public, max-age=3600, stale-while-revalidate=86400";
/// For a URL that carries the content hash.
pub const CACHE_CONTROL_VERSIONED: &str = "public, max-age=31536000, immutable";

/// A quoted strong ETag: the first 16 bytes of the content's SHA-256, hex.
fn etag_of(content: &str) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(content.as_bytes())[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_is_a_quoted_hash_of_the_content() {
        let tag = SNIPPET.etag();
        assert_eq!(tag.len(), 34);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(tag[1..33].chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
        assert_eq!(tag, etag_of(SNIPPET.body));
        assert_eq!(SNIPPET.version(), &tag[1..33]);
        // SHA-256("abc") begins ba7816bf8f01cfea414140de5dae2223.
        assert_eq!(etag_of("abc"), "\"ba7816bf8f01cfea414140de5dae2223\"");
        let mut changed = SNIPPET.body.to_owned();
        changed.push(' ');
        assert_ne!(etag_of(&changed), tag, "any change to the script changes its tag");
        assert_ne!(RECORDER.etag(), tag, "each script has its own tag");
    }

    #[test]
    fn if_none_match_matches_the_current_tag_in_any_form() {
        let tag = SNIPPET.etag();
        assert!(SNIPPET.is_fresh(tag));
        assert!(SNIPPET.is_fresh(&format!("W/{tag}")));
        assert!(SNIPPET.is_fresh(&format!("\"old\", {tag}")));
        assert!(SNIPPET.is_fresh("*"));
        assert!(!SNIPPET.is_fresh("\"0123\""));
        assert!(!SNIPPET.is_fresh(""));
        assert!(!RECORDER.is_fresh(tag));
    }
}
