//! The LDAP part of the configuration, checked once: which server, how to
//! find a user, and what a user must be to log in.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::Secret;
use crate::config::Config;

/// What `%u` in `ldap-search-filter` stands for.
const LOGIN_PLACEHOLDER: &str = "%u";

/// How the server talks to the directory.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://…`.
    pub(super) url: String,
    /// StartTLS on an `ldap://` connection.
    pub(super) starttls: bool,
    /// The certificates trusted instead of the system's, for TLS.
    pub(super) ca_certificate: Option<PathBuf>,
    /// The subtree users are searched in.
    pub(super) base: String,
    /// The filter, with `%u` where the escaped login goes.
    pub(super) filter: String,
    /// The service account, when the search is not anonymous.
    pub(super) service: Option<(String, Secret)>,
    /// A groupOfNames the user must be a `member` of.
    pub(super) required_group: Option<String>,
    /// The most one login check may take.
    pub(super) timeout: Duration,
    /// Whether a directory user without a local account gets one.
    pub auto_provision: bool,
}

/// Why the LDAP configuration is unusable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LdapConfigError {
    /// Two ways of naming the server at once.
    #[error("set either ldap-url or ldap-server-address, not both")]
    TwoServers,
    /// A URL of another scheme.
    #[error("ldap-url must start with ldap:// or ldaps://, not {0:?}")]
    Scheme(String),
    /// StartTLS inside TLS.
    #[error("ldap-starttls is for ldap:// URLs; an ldaps:// URL is TLS already")]
    StartTlsOnLdaps,
    /// No search base.
    #[error("ldap-search-base must name the subtree to search for users")]
    NoBase,
    /// A filter that ignores the login would find the same entries for everyone.
    #[error("ldap-search-filter must contain %u (the login)")]
    NoPlaceholder,
    /// A filter the LDAP library cannot parse.
    #[error("ldap-search-filter {0:?} is not an LDAP filter (RFC 4515)")]
    BadFilter(String),
    /// Half a service account.
    #[error("ldap-bind-dn and ldap-bind-password must be set together")]
    HalfService,
    /// The trusted certificates could not be read.
    #[error("ldap-ca-certificate {path}: {why}")]
    CaCertificate {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
}

impl LdapSettings {
    /// The settings `config` gives, or None when no LDAP server is configured.
    pub fn from_config(config: &Config) -> Result<Option<LdapSettings>, LdapConfigError> {
        let url = match (config.ldap_url(), config.ldap_server_address()) {
            ("", "") => return Ok(None),
            (url, "") => {
                if !url.starts_with("ldap://") && !url.starts_with("ldaps://") {
                    return Err(LdapConfigError::Scheme(url.to_owned()));
                }
                url.to_owned()
            }
            ("", host) => {
                let port = config.ldap_server_port();
                // An IPv6 literal needs brackets in a URL (RFC 3986 §3.2.2).
                if host.contains(':') && !host.starts_with('[') {
                    format!("ldap://[{host}]:{port}")
                } else {
                    format!("ldap://{host}:{port}")
                }
            }
            _ => return Err(LdapConfigError::TwoServers),
        };
        let starttls = config.ldap_starttls();
        if starttls && url.starts_with("ldaps://") {
            return Err(LdapConfigError::StartTlsOnLdaps);
        }
        let base = config.ldap_search_base();
        if base.is_empty() {
            return Err(LdapConfigError::NoBase);
        }
        let filter = config.ldap_search_filter();
        if !filter.contains(LOGIN_PLACEHOLDER) {
            return Err(LdapConfigError::NoPlaceholder);
        }
        if ldap3::parse_filter(filter_for(filter, "x")).is_err() {
            return Err(LdapConfigError::BadFilter(filter.to_owned()));
        }
        let service = match (config.ldap_bind_dn(), config.ldap_bind_password()) {
            ("", "") => None,
            // An empty password would make an unauthenticated bind (RFC
            // 4513 §5.1.2), which servers may answer with success.
            ("", _) | (_, "") => return Err(LdapConfigError::HalfService),
            (dn, password) => Some((dn.to_owned(), Secret::new(password))),
        };
        let required_group = Some(config.ldap_required_group())
            .filter(|g| !g.is_empty())
            .map(str::to_owned);
        let ca_certificate = Some(config.ldap_ca_certificate())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        Ok(Some(LdapSettings {
            url,
            starttls,
            ca_certificate,
            base: base.to_owned(),
            filter: filter.to_owned(),
            service,
            required_group,
            timeout: Duration::from_secs(config.ldap_timeout().into()),
            auto_provision: config.ldap_auto_provision(),
        }))
    }

    /// Whether connections use TLS (ldaps:// or StartTLS).
    pub(super) fn uses_tls(&self) -> bool {
        self.starttls || self.url.starts_with("ldaps://")
    }

    /// The search filter for `login`.
    pub(super) fn filter(&self, login: &str) -> String {
        filter_for(&self.filter, login)
    }
}

/// `template` with every `%u` replaced by `login`, escaped as an assertion
/// value (RFC 4515 §3), so a login such as `*` or `a)(uid=*` matches only
/// itself.
fn filter_for(template: &str, login: &str) -> String {
    template.replace(LOGIN_PLACEHOLDER, &ldap3::ldap_escape(login))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(lines: &[(&str, &str)]) -> Config {
        let mut c = Config::defaults();
        for (k, v) in lines {
            c.set(k, v).unwrap();
        }
        c
    }

    fn settings(lines: &[(&str, &str)]) -> Result<Option<LdapSettings>, LdapConfigError> {
        LdapSettings::from_config(&config(lines))
    }

    const BASE: (&str, &str) = ("ldap-search-base", "dc=example,dc=org");

    #[test]
    fn rfc4515_3_logins_are_escaped_in_the_filter() {
        let s = settings(&[("ldap-server-address", "ldap.example.org"), BASE])
            .unwrap()
            .unwrap();
        assert_eq!(
            s.filter("carol"),
            "(&(objectClass=inetOrgPerson)(|(uid=carol)(mail=carol)))"
        );
        assert_eq!(
            s.filter("c*)(uid=\\"),
            "(&(objectClass=inetOrgPerson)(|(uid=c\\2a\\29\\28uid=\\5c)(mail=c\\2a\\29\\28uid=\\5c)))"
        );
        assert_eq!(s.filter("a\0b"), s.filter("a\0b").replace('\0', "\\00"));
        assert_eq!(s.url, "ldap://ldap.example.org:389");
        assert!(s.service.is_none() && s.required_group.is_none() && !s.auto_provision);
    }

    #[test]
    fn no_server_means_no_ldap() {
        assert!(settings(&[BASE]).unwrap().is_none());
    }

    #[test]
    fn the_server_is_named_by_address_and_port_or_by_url() {
        let s = settings(&[
            ("ldap-server-address", "::1"),
            ("ldap-server-port", "3389"),
            BASE,
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "ldap://[::1]:3389");
        let s = settings(&[("ldap-url", "ldaps://ldap.example.org"), BASE])
            .unwrap()
            .unwrap();
        assert_eq!(s.url, "ldaps://ldap.example.org");
    }

    #[test]
    fn unusable_settings_are_refused_with_the_reason() {
        let cases: &[(&[(&str, &str)], LdapConfigError)] = &[
            (
                &[("ldap-url", "ldap://a"), ("ldap-server-address", "b"), BASE],
                LdapConfigError::TwoServers,
            ),
            (
                &[("ldap-url", "http://a"), BASE],
                LdapConfigError::Scheme("http://a".into()),
            ),
            (
                &[("ldap-url", "ldaps://a"), ("ldap-starttls", "on"), BASE],
                LdapConfigError::StartTlsOnLdaps,
            ),
            (&[("ldap-url", "ldap://a")], LdapConfigError::NoBase),
            (
                &[
                    ("ldap-url", "ldap://a"),
                    BASE,
                    ("ldap-search-filter", "(uid=x)"),
                ],
                LdapConfigError::NoPlaceholder,
            ),
            (
                &[
                    ("ldap-url", "ldap://a"),
                    BASE,
                    ("ldap-search-filter", "(uid=%u"),
                ],
                LdapConfigError::BadFilter("(uid=%u".into()),
            ),
            (
                &[
                    ("ldap-url", "ldap://a"),
                    BASE,
                    ("ldap-bind-dn", "cn=reader"),
                ],
                LdapConfigError::HalfService,
            ),
            (
                &[("ldap-url", "ldap://a"), BASE, ("ldap-bind-password", "pw")],
                LdapConfigError::HalfService,
            ),
        ];
        for (lines, error) in cases {
            assert_eq!(settings(lines).unwrap_err(), *error, "{lines:?}");
        }
    }

    #[test]
    fn the_service_password_never_debug_prints() {
        let s = settings(&[
            ("ldap-url", "ldap://a"),
            BASE,
            ("ldap-bind-dn", "cn=reader,dc=example,dc=org"),
            ("ldap-bind-password", "hunter2"),
        ])
        .unwrap()
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
