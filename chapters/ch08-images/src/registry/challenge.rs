//! Authentication: reading a registry's challenge, and asking its token
//! service for a token.
//!
//! A registry that wants credentials answers `401 Unauthorized` with a
//! `WWW-Authenticate` header (RFC 7235) naming a scheme and its parameters:
//!
//! ```text
//! WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
//! ```
//!
//! `Basic` means "send a user and password with every request". `Bearer` means
//! "get a token from the service at `realm`, for this `service` and `scope`, and
//! send that instead" (the distribution spec's `docs/spec/auth/token.md`): the
//! password goes only to the token service, and the token the registry sees is
//! good for one repository and one action, for a minute or so. Without
//! credentials, the token service still hands out anonymous tokens for public
//! images: that is how `docker pull alpine` works without a login.

use std::fmt;

use serde::Deserialize;

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic { realm: String },
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Every challenge in a `WWW-Authenticate` value, in order; schemes other than
/// Basic and Bearer (and a Bearer without a realm, which cannot be answered)
/// are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut parser = Parser { rest: header };
    let mut challenges = Vec::new();
    while let Some(scheme) = parser.scheme() {
        let params = parser.params();
        // Names of schemes and parameters are case-insensitive; the first of
        // two equal names wins.
        let param = |name: &str| {
            params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        match (scheme.to_ascii_lowercase().as_str(), param("realm")) {
            ("basic", realm) => {
                challenges.push(Challenge::Basic { realm: realm.unwrap_or_default() })
            }
            ("bearer", Some(realm)) => challenges.push(Challenge::Bearer {
                realm,
                service: param("service"),
                scope: param("scope"),
            }),
            _ => {}
        }
    }
    challenges
}

/// A cursor over the header. The grammar's one subtlety: after a comma comes
/// either another `name=value` of this challenge or the next challenge's
/// scheme, and only the `=` after the token tells which.
struct Parser<'a> {
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn skip(&mut self, chars: &[char]) {
        self.rest = self.rest.trim_start_matches(chars);
    }

    /// RFC 7230's `token`: letters, digits and ``!#$%&'*+-.^_`|~``.
    fn token(&mut self) -> &'a str {
        let end =
            self.rest.find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)));
        let (token, rest) = self.rest.split_at(end.unwrap_or(self.rest.len()));
        self.rest = rest;
        token
    }

    fn scheme(&mut self) -> Option<&'a str> {
        loop {
            self.skip(&[' ', '\t', ',']);
            let mut chars = self.rest.chars();
            chars.next()?;
            match self.token() {
                "" => self.rest = chars.as_str(), // not a token: skip one character
                scheme => return Some(scheme),
            }
        }
    }

    fn params(&mut self) -> Vec<(&'a str, String)> {
        let mut params = Vec::new();
        loop {
            self.skip(&[' ', '\t', ',']);
            let before = self.rest;
            let name = self.token();
            self.skip(&[' ', '\t']);
            if name.is_empty() || !self.rest.starts_with('=') {
                self.rest = before; // the next challenge's scheme, or the end
                return params;
            }
            self.rest = self.rest[1..].trim_start_matches([' ', '\t']);
            match self.rest.strip_prefix('"') {
                Some(quoted) => {
                    self.rest = quoted;
                    params.push((name, self.quoted()));
                }
                None => match self.token() {
                    // `abc==`: a token68 (other schemes' opaque data), not a parameter.
                    "" => self.skip(&['=']),
                    value => params.push((name, value.to_owned())),
                },
            }
        }
    }

    /// The rest of a quoted string whose opening quote is consumed: commas
    /// inside are text, `\x` is `x`.
    fn quoted(&mut self) -> String {
        let mut value = String::new();
        let mut chars = self.rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => value.extend(chars.next()),
                c => value.push(c),
            }
        }
        self.rest = chars.as_str();
        value
    }
}
/// The token service's URL for a Bearer challenge: `realm?service=…&scope=…`,
/// one `scope` parameter per scope (`repository:library/alpine:pull`).
pub fn token_url(realm: &str, service: Option<&str>, scopes: &[String]) -> String {
    let params = service
        .map(|s| ("service", s))
        .into_iter()
        .chain(scopes.iter().map(|s| ("scope", s.as_str())));
    let mut url = realm.to_owned();
    let mut separator = if !realm.contains('?') {
        "?"
    } else if realm.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    for (name, value) in params {
        url.push_str(&format!("{separator}{name}={}", percent_encode(value)));
        separator = "&";
    }
    url
}

/// Everything but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The token service's answer. The spec calls the token `token`; OAuth2 calls
/// it `access_token`; services send either or both. (Its lifetime,
/// `expires_in`, we do not track: a request refused with a 401 gets a new
/// token, whenever the old one expired.)
#[derive(Clone, Default, Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl TokenResponse {
    pub fn token(&self) -> Option<&str> {
        [&self.token, &self.access_token]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|t| !t.is_empty())
    }
}

/// Never print a token.
impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.token().map(|_| "<hidden>");
        write!(f, "TokenResponse {{ token: {token:?} }}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
        }
    }

    fn basic(realm: &str) -> Challenge {
        Challenge::Basic { realm: realm.into() }
    }

    #[test]
    fn parses_challenges_as_registries_send_them() {
        let hub = bearer(
            "https://auth.docker.io/token",
            Some("registry.docker.io"),
            Some("repository:library/alpine:pull"),
        );
        let table = [
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
                vec![hub.clone()],
            ),
            (
                r#"Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#,
                vec![basic("https://123.dkr.ecr.us-east-1.amazonaws.com/")],
            ),
            (r#"Basic realm="Registry Realm""#, vec![basic("Registry Realm")]),
            (r#"Basic"#, vec![basic("")]),
            (
                r#"bEaReR   Realm = "https://auth.docker.io/token" ,  SERVICE=registry.docker.io,scope="repository:library/alpine:pull""#,
                vec![hub.clone()],
            ),
            (
                r#"Bearer realm="https://ghcr.io/token",scope="repository:a/b:pull,push", Basic realm="x""#,
                vec![
                    bearer("https://ghcr.io/token", None, Some("repository:a/b:pull,push")),
                    basic("x"),
                ],
            ),
            (r#"Bearer realm="a\"b\\c",service=s"#, vec![bearer(r#"a"b\c"#, Some("s"), None)]),
            (
                r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
                vec![basic("simple")],
            ),
            (r#"Negotiate abc==, Bearer realm="r""#, vec![bearer("r", None, None)]),
            (r#"Bearer service="no realm""#, vec![]),
            (r#"Bearer realm="unterminated"#, vec![bearer("unterminated", None, None)]),
            (r#", ,;"=", Bearer realm=r"#, vec![bearer("r", None, None)]),
            ("", vec![]),
        ];
        for (header, expected) in table {
            assert_eq!(parse_challenges(header), expected, "{header}");
        }
    }

    #[test]
    fn token_urls_carry_service_and_every_scope_encoded() {
        let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let table = [
            (
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                scopes(&["repository:library/alpine:pull"]),
                "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Falpine%3Apull",
            ),
            (
                "https://r/t",
                None,
                scopes(&["a:b:pull", "c:d:pull,push"]),
                "https://r/t?scope=a%3Ab%3Apull&scope=c%3Ad%3Apull%2Cpush",
            ),
            ("https://r/t?x=1", Some("a b&c"), scopes(&[]), "https://r/t?x=1&service=a%20b%26c"),
            ("https://r/t?", Some("s"), scopes(&[]), "https://r/t?service=s"),
            ("https://r/t", None, scopes(&[]), "https://r/t"),
        ];
        for (realm, service, scopes, url) in table {
            assert_eq!(token_url(realm, service, &scopes), url);
        }
    }

    #[test]
    fn token_answers_use_token_or_access_token() {
        let table = [
            (r#"{"token":"a","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}"#, Some("a")),
            (r#"{"access_token":"b"}"#, Some("b")),
            (r#"{"token":"","access_token":"c"}"#, Some("c")),
            (r#"{"token":"a","access_token":"b"}"#, Some("a")),
            (r#"{"expires_in":5}"#, None),
        ];
        for (json, token) in table {
            let answer: TokenResponse = serde_json::from_str(json).unwrap();
            assert_eq!(answer.token(), token, "{json}");
        }
    }
}
