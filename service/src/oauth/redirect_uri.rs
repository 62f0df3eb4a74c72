//! Redirect URI matching (RFC 6749 §3.1.2.3, RFC 8252 §7.3, OAuth 2.1 §2.3.1): the
//! presented URI must equal a registered one **as a string** — no normalisation, so
//! `%2e%2e`, a trailing slash, a different case or an extra query all differ — except
//! that a loopback IP literal with plain `http` (`http://127.0.0.1`, `http://[::1]`)
//! may come with any port, since a native app listens on whatever port it gets.

use crate::settings::OAuthSettings;

const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// `uri` without the port of a loopback IP literal, or `None` when it is no loopback
/// URI (or its port is not a number up to 65535).
fn without_loopback_port(uri: &str) -> Option<String> {
    LOOPBACK_PREFIXES.iter().find_map(|prefix| {
        let rest = uri.strip_prefix(prefix)?;
        let rest = match rest.strip_prefix(':') {
            Some(after_colon) => {
                let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
                let port: u32 = after_colon.get(..digits)?.parse().ok()?;
                if digits > 5 || port > 65535 {
                    return None;
                }
                after_colon.get(digits..)?
            }
            None => rest,
        };
        // The authority ends here: anything else (`127.0.0.1.evil.example`,
        // `127.0.0.1@evil.example`) is another host.
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            Some(format!("{prefix}{rest}"))
        } else {
            None
        }
    })
}

/// Whether `presented` matches the registered URI `registered`.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (
        without_loopback_port(registered),
        without_loopback_port(presented),
    ) {
        (Some(registered), Some(presented)) => registered == presented,
        _ => false,
    }
}

/// The registered URI `presented` matches, if any.
pub fn find_registered<'a>(registered: &'a str, presented: &str) -> Option<&'a str> {
    registered
        .split_whitespace()
        .find(|candidate| matches(candidate, presented))
}

/// Whether the tenant sends browsers to `uri`'s scheme: one of
/// `allowed_redirect_uri_schemes`, or a registered private-use scheme of a native
/// app (RFC 8252 §7.1: a reverse domain name, so it contains a dot).
pub fn scheme_allowed(settings: &OAuthSettings, uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    settings
        .allowed_redirect_uri_schemes
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(&scheme))
        || (scheme.contains('.')
            && !matches!(scheme.as_str(), "javascript" | "data" | "file" | "vbscript"))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn loopback_ports_vary_and_nothing_else_does() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(matches("http://127.0.0.1:80/cb", "http://127.0.0.1:1/cb"));
        assert!(matches("http://[::1]/cb", "http://[::1]:8080/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb"));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:80.evil/cb"
        ));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.example/cb"
        ));
        assert!(!matches("http://127.0.0.1/cb", "http://localhost:8080/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb/"));
        assert!(!matches(
            "https://app.example/cb",
            "https://app.example:443/cb"
        ));
        assert!(matches("https://app.example/cb", "https://app.example/cb"));
    }
}
