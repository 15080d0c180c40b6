//! Hiding the password of a connection URL, for `Debug`, errors and logs: written once for
//! every crate that holds a URL.

/// The URL with its password replaced by `***`.
///
/// Everything between the scheme and the last `@` is taken as user information, so that a
/// password holding an unencoded `/`, `#`, `?` or `@` is hidden too. Text that is not a URL
/// but holds an `@` is hidden whole. The values of query parameters named like a secret
/// (`pass=`, `password=`, `secret`, `token`) are hidden as well.
///
/// ```
/// use cachette_api::redact_url;
///
/// assert_eq!(redact_url("redis://:s3cret@cache:6379/0"), "redis://:***@cache:6379/0");
/// assert_eq!(redact_url("redis://app:s3cret@cache/3"), "redis://app:***@cache/3");
/// assert_eq!(redact_url("memory://"), "memory://");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        // Not a URL: it may be anything, a password included.
        return if url.contains('@') {
            "<unparsable URL, hidden>".to_owned()
        } else {
            url.to_owned()
        };
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => {
            let (userinfo, host) = rest.split_at(at);
            let shown = match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            (shown, host)
        }
        None => (String::new(), rest),
    };
    format!("{scheme}{userinfo}{}", redact_query(rest))
}

/// Hides the values of the query parameters that carry a password (`pass=`, `password=`).
fn redact_query(rest: &str) -> String {
    let Some((before, query)) = rest.split_once('?') else {
        return rest.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if is_secret(name) => format!("{name}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{before}?{}", params.join("&"))
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("pass") || name.contains("secret") || name.contains("token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_only() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            (
                "redis://:secret@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            ("redis://app:secret@cache/3", "redis://app:***@cache/3"),
            ("redis://app@cache/3", "redis://app@cache/3"),
            ("rediss://:p@ss/w#rd?@host:1/2", "rediss://:***@host:1/2"),
            (
                "redis+cluster://:pw@h1:7000,h2:7001",
                "redis+cluster://:***@h1:7000,h2:7001",
            ),
            ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
            (
                "unix:///run/redis.sock?db=2&pass=S3cret",
                "unix:///run/redis.sock?db=2&pass=***",
            ),
            (
                "redis://:Quest?S3cret@127.0.0.1:6379/0?password=x",
                "redis://:***@127.0.0.1:6379/0?password=***",
            ),
            ("secret@host", "<unparsable URL, hidden>"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
