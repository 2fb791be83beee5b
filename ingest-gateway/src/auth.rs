//! Who may produce. Each client of the gateway (the edge worker of one deployment, a batch importer, ...)
//! has a name and a bearer token and/or HTTP Basic credentials (the two ways a Redpanda HTTP Proxy can be
//! protected); a request is accepted when it carries the credentials of some client, and the client's name
//! then labels its rate limit and its metrics. Failures follow Redpanda's answers: a malformed or
//! unsupported `Authorization` header is a 400, missing or wrong credentials a 401.
//!
//! Secrets live in [`Secret`], whose `Debug` prints nothing of them, and no error message here quotes a
//! configured value.

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
pub use warehouse::Secret;

/// The client name of every request when no credentials are configured.
pub const ANONYMOUS: &str = "anonymous";

/// One area's credentials as its settings give them: `<PREFIX>_TOKEN` (the produce API's is
/// `GATEWAY_AUTH_TOKEN`), `<PREFIX>_USERNAME` and `<PREFIX>_PASSWORD`. The produce API's `default` client,
/// the stats API and replay read theirs through this one type, so the same settings are refused for the same
/// reasons with the same words.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// `GATEWAY_AUTH`, `STATS`, `REPLAY`: what the variables' names start with.
    pub prefix: &'static str,
    pub token: Option<&'a Secret>,
    pub username: Option<&'a str>,
    pub password: Option<&'a Secret>,
}

/// How a token and HTTP Basic pair breaks the rules every configured credential follows: the produce API's
/// clients ([`Client`]) and each area's settings ([`Credentials`]) are held to these, each naming what it
/// names (a client, or the variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFault {
    EmptyToken,
    HalfBasic,
    EmptyBasic,
    ColonInUsername,
}

impl CredentialFault {
    fn of(token: Option<&Secret>, username: Option<&str>, password: Option<&Secret>) -> Option<Self> {
        if token.is_some_and(Secret::is_empty) {
            return Some(Self::EmptyToken);
        }
        match (username, password) {
            (Some(_), None) | (None, Some(_)) => Some(Self::HalfBasic),
            (Some(user), Some(password)) if user.is_empty() || password.is_empty() => Some(Self::EmptyBasic),
            (Some(user), Some(_)) if user.contains(':') => Some(Self::ColonInUsername),
            _ => None,
        }
    }
}

/// Why an area's credential settings were refused; the message names the variables, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct CredentialsError {
    /// `GATEWAY_AUTH`, `STATS`, `REPLAY`.
    pub prefix: &'static str,
    pub fault: CredentialFault,
}

impl CredentialsError {
    fn message(&self) -> String {
        let prefix = self.prefix;
        match self.fault {
            CredentialFault::EmptyToken => format!("{prefix}_TOKEN is set but empty; unset it or give it a token"),
            CredentialFault::HalfBasic => {
                format!("set both {prefix}_USERNAME and {prefix}_PASSWORD for HTTP Basic auth, or neither")
            }
            CredentialFault::EmptyBasic => format!(
                "{prefix}_USERNAME and {prefix}_PASSWORD must not be empty; unset both to turn HTTP Basic auth off"
            ),
            CredentialFault::ColonInUsername => {
                format!("{prefix}_USERNAME must not contain ':' (HTTP Basic separates user and password with it)")
            }
        }
    }
}

impl Credentials<'_> {
    /// The client named `name` that these settings configure, with its token and/or HTTP Basic pair;
    /// `None` when none of the three is set.
    pub fn client(&self, name: &str) -> Result<Option<Client>, CredentialsError> {
        if let Some(fault) = CredentialFault::of(self.token, self.username, self.password) {
            return Err(CredentialsError { prefix: self.prefix, fault });
        }
        if self.token.is_none() && self.username.is_none() {
            return Ok(None);
        }
        Ok(Some(Client {
            name: name.to_owned(),
            token: self.token.cloned(),
            username: self.username.map(str::to_owned),
            password: self.password.cloned(),
            ..Client::nameless()
        }))
    }

    /// An [`Auth`] of that one client, or `None` (the area is off) when none of the settings is set.
    pub fn auth(&self, name: &str) -> Result<Option<Auth>, CredentialsError> {
        Ok(self.client(name)?.map(Auth::single))
    }
}

/// One client: its name and the credentials it may present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// Label of the client in metrics, logs and rate limits: `[A-Za-z0-9_.-]`, at most 64 characters.
    pub name: String,
    /// `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// `Authorization: Basic` with this user name and [`Client::password`].
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// This client's own rate limit, in requests per second; without it, the gateway-wide one applies.
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// Requests this client may send at once above its rate; without it, the gateway-wide burst applies.
    #[serde(default)]
    pub rate_limit_burst: Option<u32>,
}

/// Why a client list was refused. The message names the client and the rule, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientsError(String);

impl Client {
    pub fn with_token(name: &str, token: &str) -> Self {
        Self { name: name.to_owned(), token: Some(Secret::new(token)), ..Self::nameless() }
    }

    pub fn with_basic(name: &str, username: &str, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            username: Some(username.to_owned()),
            password: Some(Secret::new(password)),
            ..Self::nameless()
        }
    }

    fn nameless() -> Self {
        Self {
            name: String::new(),
            token: None,
            username: None,
            password: None,
            rate_limit_per_second: None,
            rate_limit_burst: None,
        }
    }

    fn validate(&self) -> Result<(), ClientsError> {
        let refuse = |rule: &str| Err(ClientsError(format!("client {:?}: {rule}", self.name)));
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if self.name.is_empty() || self.name.len() > 64 || !self.name.chars().all(name_ok) {
            return refuse("the name must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'");
        }
        match CredentialFault::of(self.token.as_ref(), self.username.as_deref(), self.password.as_ref()) {
            Some(CredentialFault::EmptyToken) => return refuse("the token is empty"),
            Some(CredentialFault::HalfBasic) => return refuse("give both username and password, or neither"),
            Some(CredentialFault::EmptyBasic) => return refuse("the username and password must not be empty"),
            Some(CredentialFault::ColonInUsername) => {
                return refuse("the username must not contain ':' (HTTP Basic separates user and password with it)")
            }
            None if self.token.is_none() && self.username.is_none() => {
                return refuse("give a token, or a username and password")
            }
            None => {}
        }
        if self.rate_limit_per_second == Some(0) || self.rate_limit_burst == Some(0) {
            return refuse("rate_limit_per_second and rate_limit_burst must be at least 1");
        }
        Ok(())
    }
}

/// Parses a JSON array of clients. A syntax error is reported by position only, because serde's messages
/// quote the offending value, which may be a secret.
pub fn parse_clients(json: &str) -> Result<Vec<Client>, ClientsError> {
    serde_json::from_str(json).map_err(|error| {
        ClientsError(format!(
            "not a JSON array of clients ({:?} error at line {}, column {}); each client is \
             {{\"name\": ..., \"token\": ...}} or {{\"name\": ..., \"username\": ..., \"password\": ...}}",
            error.classify(),
            error.line(),
            error.column()
        ))
    })
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

/// The configured clients; none means everyone may produce, as [`ANONYMOUS`].
#[derive(Debug, Clone, Default)]
pub struct Auth {
    clients: Vec<Client>,
    names: Vec<Arc<str>>,
    anonymous: Arc<str>,
}

impl Auth {
    /// Everyone may produce.
    pub fn open() -> Self {
        Self { anonymous: ANONYMOUS.into(), ..Self::default() }
    }

    /// One client, `default`, with a bearer token.
    pub fn bearer(token: &str) -> Self {
        Self::single(Client::with_token("default", token))
    }

    /// One client, `default`, with HTTP Basic credentials.
    pub fn basic(username: &str, password: &str) -> Self {
        Self::single(Client::with_basic("default", username, password))
    }

    fn single(client: Client) -> Self {
        Self { names: vec![client.name.as_str().into()], clients: vec![client], anonymous: ANONYMOUS.into() }
    }

    /// These clients, after checking that each is complete and that names and credentials are unique
    /// (a credential shared by two clients could not tell them apart).
    pub fn with_clients(mut self, clients: Vec<Client>) -> Result<Self, ClientsError> {
        for (index, client) in clients.iter().enumerate() {
            client.validate()?;
            for earlier in &clients[..index] {
                if earlier.name == client.name {
                    return Err(ClientsError(format!("client {:?} is configured twice", client.name)));
                }
                let same_token = earlier.token.is_some() && earlier.token == client.token;
                let same_user = earlier.username.is_some() && earlier.username == client.username;
                if same_token || same_user {
                    return Err(ClientsError(format!(
                        "clients {:?} and {:?} share a credential; give each its own",
                        earlier.name, client.name
                    )));
                }
            }
        }
        self.names = clients.iter().map(|c| Arc::from(c.name.as_str())).collect();
        self.clients = clients;
        Ok(self)
    }

    pub fn is_open(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// The name of the client whose credentials `headers` carry.
    pub fn check(&self, headers: &HeaderMap) -> Result<Arc<str>, AuthError> {
        if self.is_open() {
            return Ok(self.anonymous.clone());
        }
        let Some(header) = headers.get(AUTHORIZATION) else { return Err(AuthError::Missing) };
        let header = header.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
        let credentials = credentials.trim();
        let matches: Vec<Choice> = if scheme.eq_ignore_ascii_case("Bearer") {
            if credentials.is_empty() {
                return Err(AuthError::Malformed);
            }
            self.clients.iter().map(|client| matches(client.token.as_ref().map(Secret::expose), credentials)).collect()
        } else if scheme.eq_ignore_ascii_case("Basic") {
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(credentials).map_err(|_| AuthError::Malformed)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
            let (username, password) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
            self.clients
                .iter()
                .map(|client| {
                    matches(client.username.as_deref(), username)
                        & matches(client.password.as_ref().map(Secret::expose), password)
                })
                .collect()
        } else {
            return Err(AuthError::UnsupportedMethod);
        };
        // Every client was compared before looking at any result, so the time taken does not say which
        // (or whether an earlier) client's credentials were close.
        let found = matches.iter().position(|choice| bool::from(*choice));
        found.and_then(|index| self.names.get(index).cloned()).ok_or(AuthError::Wrong)
    }
}

/// Compares in constant time, so response time reveals neither a matching prefix nor, because both sides
/// are hashed to one length first, the secret's length. A credential the client lacks never matches.
fn matches(expected: Option<&str>, given: &str) -> Choice {
    let Some(expected) = expected else { return Choice::from(0) };
    Sha256::digest(expected.as_bytes()).as_slice().ct_eq(Sha256::digest(given.as_bytes()).as_slice())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn an_areas_credentials_are_refused_by_the_same_rules_naming_its_variables() {
        let (empty, password) = (Secret::new(""), Secret::new("pw"));
        let of = |token, username, password| Credentials { prefix: "STATS", token, username, password };
        assert_eq!(of(None, None, None).client("stats"), Ok(None), "nothing set: the area is off");
        let refused = |credentials: Credentials<'_>| credentials.client("stats").expect_err("refused").to_string();
        assert!(refused(of(None, Some("alice"), None)).contains("STATS_PASSWORD"));
        assert!(refused(of(None, None, Some(&password))).contains("STATS_USERNAME"));
        assert!(refused(of(Some(&empty), None, None)).contains("STATS_TOKEN is set but empty"));
        assert!(refused(of(None, Some(""), Some(&password))).contains("must not be empty"));
        assert!(refused(of(None, Some("alice"), Some(&empty))).contains("must not be empty"));
        assert!(refused(of(None, Some("a:b"), Some(&password))).contains("':'"));
        let replay = Credentials { prefix: "REPLAY", ..of(Some(&empty), None, None) };
        assert!(refused(replay).starts_with("REPLAY_TOKEN"), "the prefix names the variables");
        let both = of(Some(&password), Some("alice"), Some(&password)).client("stats").expect("valid").expect("on");
        assert_eq!((both.name.as_str(), both.username.as_deref()), ("stats", Some("alice")));
        assert!(both.token.is_some() && both.password.is_some(), "one client holds both kinds");
    }

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).expect("valid header"));
        headers
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    fn two_clients() -> Auth {
        let mut worker = Client::with_token("edge-worker", "s3cret");
        worker.username = Some("worker".to_owned());
        worker.password = Some(Secret::new("pa:ss"));
        Auth::open().with_clients(vec![worker, Client::with_token("importer", "other")]).expect("valid clients")
    }

    #[test]
    fn without_configured_credentials_everyone_may_produce_as_anonymous() {
        assert_eq!(Auth::open().check(&HeaderMap::new()).as_deref(), Ok(ANONYMOUS));
        assert_eq!(Auth::open().check(&headers("Bearer whatever")).as_deref(), Ok(ANONYMOUS));
    }

    #[test]
    fn it_names_the_client_whose_credentials_were_presented() {
        let auth = two_clients();
        assert_eq!(auth.check(&headers("Bearer s3cret")).as_deref(), Ok("edge-worker"));
        assert_eq!(auth.check(&headers("bearer s3cret")).as_deref(), Ok("edge-worker"));
        assert_eq!(auth.check(&headers(&basic("worker:pa:ss"))).as_deref(), Ok("edge-worker"));
        assert_eq!(auth.check(&headers("Bearer other")).as_deref(), Ok("importer"));
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

    #[test]
    fn a_client_list_is_read_from_json() {
        let clients = parse_clients(
            r#"[{"name": "edge", "token": "t1", "rate_limit_per_second": 50},
                {"name": "batch", "username": "importer", "password": "p"}]"#,
        )
        .expect("parses");
        let auth = Auth::open().with_clients(clients).expect("valid");
        assert_eq!(auth.check(&headers("Bearer t1")).as_deref(), Ok("edge"));
        assert_eq!(auth.check(&headers(&basic("importer:p"))).as_deref(), Ok("batch"));
        assert_eq!(auth.clients()[0].rate_limit_per_second, Some(50));
    }

    #[test]
    fn a_bad_client_list_is_refused_without_quoting_its_secrets() {
        for (json, expected) in [
            (r#"[{"name": "edge", "token": 12345678}]"#, "line 1"),
            (r#"[{"name": "edge", "tokn": "hunter2-secret"}]"#, "line 1"),
            (r#"{"name": "edge", "token": "hunter2-secret"}"#, "line 1"),
        ] {
            let error = parse_clients(json).expect_err("refused").to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("hunter2") && !error.contains("12345678"), "{error}");
        }
        let refused = |clients: Vec<Client>| Auth::open().with_clients(clients).expect_err("refused").to_string();
        assert!(refused(vec![Client::with_token("a b", "x")]).contains("name"));
        assert!(refused(vec![Client::with_token("a", "")]).contains("token is empty"));
        assert!(refused(vec![Client { name: "a".into(), ..Client::nameless() }]).contains("give a token"));
        assert!(refused(vec![Client::with_basic("a", "u:v", "p")]).contains("':'"));
        assert!(refused(vec![Client::with_basic("a", "u", "")]).contains("must not be empty"));
        let twice = refused(vec![Client::with_token("a", "x1"), Client::with_token("a", "x2")]);
        assert!(twice.contains("twice"), "{twice}");
        let shared = refused(vec![Client::with_token("a", "hunter2"), Client::with_token("b", "hunter2")]);
        assert!(shared.contains("share a credential") && !shared.contains("hunter2"), "{shared}");
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let printed = format!("{:?}", two_clients());
        assert!(!printed.contains("s3cret") && !printed.contains("pa:ss"), "{printed}");
        assert!(printed.contains("edge-worker"));
    }
}
