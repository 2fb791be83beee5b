//! Which sites this worker collects for, and which page hosts and browser origins may speak for each.
//!
//! The `SITES` variable maps a site id (what the snippet sends as `data-site`) to the hostnames its pages
//! are served from. An event is only accepted when its page hostname is listed for its site, and CORS is
//! only granted to http(s) origins whose host appears for some site. Matching is exact and
//! case-insensitive; an entry `*.example.com` also admits every subdomain of `example.com` (but not
//! `example.com` itself, which must be listed on its own). Ports are ignored, so `localhost` admits a dev
//! server on any port.

use std::collections::BTreeMap;

use url::Url;

use crate::config::ConfigError;

#[derive(Debug, Clone, PartialEq)]
pub struct SiteAllowlist {
    sites: BTreeMap<String, Vec<HostPattern>>,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`, stored as `.example.com` so a suffix test cannot match `badexample.com`.
    Subdomains(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => host == exact,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

/// How a page hostname relates to a site id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteDecision {
    Allowed,
    UnknownSite,
    HostNotAllowed,
}

impl SiteAllowlist {
    /// Parses the JSON text of `SITES`: `{"example.com":["example.com","*.example.com"]}`.
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { var: "SITES", reason };
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(json).map_err(|e| {
            invalid(format!(r#"must be a JSON object of site id to hostnames, e.g. {{"example.com":["example.com","www.example.com"]}} ({e})"#))
        })?;
        if raw.is_empty() {
            return Err(invalid("lists no site".to_owned()));
        }
        let mut sites = BTreeMap::new();
        for (site, hosts) in raw {
            if site.is_empty() {
                return Err(invalid("has an empty site id".to_owned()));
            }
            if hosts.is_empty() {
                return Err(invalid(format!("site {site:?} lists no hostname")));
            }
            let patterns = hosts
                .iter()
                .map(|host| parse_pattern(host).map_err(|reason| invalid(format!("site {site:?}: {host:?} {reason}"))))
                .collect::<Result<Vec<_>, _>>()?;
            sites.insert(site, patterns);
        }
        Ok(Self { sites })
    }

    pub fn check(&self, site: &str, page_hostname: &str) -> SiteDecision {
        let Some(patterns) = self.sites.get(site) else {
            return SiteDecision::UnknownSite;
        };
        let host = page_hostname.to_ascii_lowercase();
        if patterns.iter().any(|p| p.matches(&host)) {
            SiteDecision::Allowed
        } else {
            SiteDecision::HostNotAllowed
        }
    }

    /// Whether a browser `Origin` header names a host of some site. `null` and non-http(s) origins never do.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        self.sites.values().flatten().any(|p| p.matches(&host))
    }
}

fn parse_pattern(raw: &str) -> Result<HostPattern, &'static str> {
    let host = raw.trim().to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err("is not a hostname");
    }
    if host.contains(':') && !host.starts_with('[') {
        return Err("must be a hostname without port (ports are ignored)");
    }
    match host.strip_prefix("*.") {
        Some(domain) if domain.is_empty() || domain.contains('*') => Err("is not a valid wildcard; use *.example.com"),
        Some(domain) => Ok(HostPattern::Subdomains(format!(".{domain}"))),
        None if host.contains('*') => Err("may only use * as a leading *. label"),
        None => Ok(HostPattern::Exact(host)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist() -> SiteAllowlist {
        SiteAllowlist::parse(r#"{"example.com":["example.com","WWW.Example.com","*.blog.example.com"],"demo":["localhost","127.0.0.1"]}"#)
            .expect("valid")
    }

    #[test]
    fn a_listed_hostname_is_allowed_for_its_site_only() {
        let sites = allowlist();
        assert_eq!(sites.check("example.com", "example.com"), SiteDecision::Allowed);
        assert_eq!(sites.check("example.com", "www.example.com"), SiteDecision::Allowed);
        assert_eq!(sites.check("example.com", "WWW.EXAMPLE.COM"), SiteDecision::Allowed);
        assert_eq!(sites.check("example.com", "localhost"), SiteDecision::HostNotAllowed);
        assert_eq!(sites.check("demo", "localhost"), SiteDecision::Allowed);
        assert_eq!(sites.check("nope", "localhost"), SiteDecision::UnknownSite);
    }

    #[test]
    fn a_wildcard_admits_subdomains_but_not_the_bare_domain_or_lookalikes() {
        let sites = allowlist();
        assert_eq!(sites.check("example.com", "a.blog.example.com"), SiteDecision::Allowed);
        assert_eq!(sites.check("example.com", "x.y.blog.example.com"), SiteDecision::Allowed);
        assert_eq!(sites.check("example.com", "blog.example.com"), SiteDecision::HostNotAllowed);
        assert_eq!(sites.check("example.com", "evilblog.example.com"), SiteDecision::HostNotAllowed);
        assert_eq!(sites.check("example.com", "sub.example.com"), SiteDecision::HostNotAllowed);
    }

    #[test]
    fn cors_is_granted_to_http_origins_of_any_listed_host_on_any_port() {
        let sites = allowlist();
        for origin in [
            "https://example.com",
            "http://localhost:18080",
            "http://127.0.0.1:5173",
            "https://a.blog.example.com",
            "https://WWW.example.com",
        ] {
            assert!(sites.allows_origin(origin), "{origin} should be allowed");
        }
        for origin in [
            "null",
            "",
            "https://evil.com",
            "https://example.com.evil.com",
            "file:///tmp/x.html",
            "chrome-extension://abc",
            "https://blog.example.com",
        ] {
            assert!(!sites.allows_origin(origin), "{origin} should be refused");
        }
    }

    #[test]
    fn bad_site_lists_are_refused_with_the_reason() {
        for (json, needle) in [
            ("", "JSON object"),
            ("[]", "JSON object"),
            ("{}", "no site"),
            (r#"{"s":[]}"#, "no hostname"),
            (r#"{"s":["https://example.com"]}"#, "not a hostname"),
            (r#"{"s":["localhost:8080"]}"#, "without port"),
            (r#"{"s":["*."]}"#, "wildcard"),
            (r#"{"s":["a.*.com"]}"#, "leading"),
        ] {
            let error = SiteAllowlist::parse(json).expect_err(json);
            assert!(error.to_string().contains("SITES") && error.to_string().contains(needle), "{json}: {error}");
        }
    }
}
