//! Files embedded in the binary and served under a page's `/assets/` route (the replay player, the
//! dashboard): nothing is fetched from a CDN, so the pages' Content-Security-Policy can name only the gateway.
//! Each file is revalidated on every use (`no-cache` and a strong ETag of its contents), so an upgraded
//! gateway's script is picked up at once and an unchanged one costs a 304; `private`, because only an
//! authenticated browser may hold it.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file: its name under the route, its content type and its bytes.
pub struct StaticFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// A route's files, with their ETags computed once, on first use.
pub struct StaticFiles {
    files: &'static [StaticFile],
    etags: OnceLock<Vec<HeaderValue>>,
}

impl StaticFiles {
    pub const fn new(files: &'static [StaticFile]) -> Self {
        Self { files, etags: OnceLock::new() }
    }

    /// The answer to `GET <route>/{name}`: the file, or a 304 when `If-None-Match` names its ETag; `None`
    /// when no file has that name.
    pub fn respond(&self, name: &str, headers: &HeaderMap) -> Option<Response> {
        let index = self.files.iter().position(|file| file.name == name)?;
        let file = &self.files[index];
        let etag = self.etags.get_or_init(|| self.files.iter().map(etag_of).collect())[index].clone();
        let matches = headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|tag| tag.trim().as_bytes() == etag.as_bytes() || tag.trim() == "*"));
        let cache = [
            (CACHE_CONTROL, HeaderValue::from_static("private, no-cache")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (ETAG, etag),
        ];
        if matches {
            return Some((StatusCode::NOT_MODIFIED, cache).into_response());
        }
        let content_type = [(CONTENT_TYPE, HeaderValue::from_static(file.content_type))];
        Some((StatusCode::OK, cache, content_type, file.bytes).into_response())
    }
}

/// A strong ETag: the first 128 bits of the contents' SHA-256, hex, quoted (always a valid header value).
fn etag_of(file: &StaticFile) -> HeaderValue {
    let tag = format!("\"{}\"", &hex::encode(Sha256::digest(file.bytes))[..32]);
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    static FILES: StaticFiles =
        StaticFiles::new(&[StaticFile { name: "a.js", content_type: "text/javascript", bytes: b"let a = 1;" }]);

    #[test]
    fn a_file_is_served_with_its_etag_and_revalidated_to_a_304() {
        let served = FILES.respond("a.js", &HeaderMap::new()).expect("a.js");
        assert_eq!(served.status(), StatusCode::OK);
        let etag = served.headers()[ETAG].clone();
        assert_eq!(etag.len(), 34, "32 hex digits, quoted");
        assert_eq!(served.headers()[CACHE_CONTROL], "private, no-cache");

        let etag = etag.to_str().expect("ascii").to_owned();
        for asked in [etag.clone(), format!("\"other\", {etag}"), "*".into()] {
            let mut headers = HeaderMap::new();
            headers.insert(IF_NONE_MATCH, HeaderValue::from_str(&asked).expect("header"));
            assert_eq!(FILES.respond("a.js", &headers).expect("a.js").status(), StatusCode::NOT_MODIFIED, "{asked}");
        }
        let mut stale = HeaderMap::new();
        stale.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(FILES.respond("a.js", &stale).expect("a.js").status(), StatusCode::OK);
        assert!(FILES.respond("b.js", &HeaderMap::new()).is_none());
    }
}
