//! Bad configurations, each refused the same way on every path: a URL's query, `CACHE_*`
//! environment variables and TOML. Each row gives the option, its value, and a text the
//! error must contain; every error is of kind `Config` and never quotes the value.

#![allow(clippy::panic)]

use cachette::{CacheConfig, CachesConfig, ErrorKind};

/// (option, value, the text the error must hold)
const BAD: &[(&str, &str, &str)] = &[
    ("prefx", "a", "did you mean `prefix`"),
    ("defualt_timeout", "45m", "did you mean `default_timeout`"),
    (
        "respone_timeout",
        "100ms",
        "did you mean `response_timeout`",
    ),
    ("fail_open", "ture", "not a boolean"),
    ("relaxed_keys", "2", "not a boolean"),
    ("max_entries", "0", "at least 1"),
    ("max_entries", "-3", "not a whole number"),
    ("max_value_size", "0", "at least 1"),
    ("version", "x", "not an integer"),
    (
        "connect_timeout",
        "10000000000000000000",
        "longer than a day",
    ),
    ("connect_timeout", "0", "below 1 ms"),
    ("response_timeout", "0.0001ms", "below 1 ms"),
    ("response_timeout", "never", "not a duration"),
    ("default_timeout", "101y", "longer than 100 years"),
    ("default_timeout", "soon", "not a duration"),
];

fn check(path: &str, option: &str, value: &str, expected: &str, result: cachette::Result<()>) {
    let err = match result {
        Ok(()) => panic!("{path}: {option}={value:?} was accepted"),
        Err(err) => err,
    };
    assert_eq!(err.kind(), ErrorKind::Config, "{path}: {option}: {err}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains(expected), "{path}: {option}: {shown}");
    assert!(
        shown.contains(option),
        "{path}: the error must name {option}: {shown}"
    );
    if value.len() > 2 {
        assert!(
            !shown.contains(value),
            "{path}: the error quotes the value: {shown}"
        );
    }
}

#[test]
fn every_bad_option_is_refused_in_a_url() {
    for (option, value, expected) in BAD {
        let url = format!("memory://?{option}={value}");
        let result = CacheConfig::from_url(&url).map(drop);
        check("url", option, value, expected, result);
    }
}

#[test]
fn every_bad_option_is_refused_in_the_environment() {
    for (option, value, expected) in BAD {
        let vars = [
            ("CACHE_URL".to_owned(), "memory://".to_owned()),
            (
                format!("CACHE_{}", option.to_ascii_uppercase()),
                value.to_string(),
            ),
        ];
        check(
            "env",
            option,
            value,
            expected,
            CachesConfig::from_vars(vars).map(drop),
        );
        let named = [(
            format!("CACHE_SESSIONS_{}", option.to_ascii_uppercase()),
            value.to_string(),
        )];
        let result = CachesConfig::from_vars(named).map(drop);
        let err = result.expect_err("a named cache's bad option is refused too");
        assert_eq!(err.kind(), ErrorKind::Config, "{option}");
    }
}

#[test]
fn every_bad_option_is_refused_in_toml() {
    for (option, value, expected) in BAD {
        let text = format!("[caches.default]\nurl = \"memory://\"\n{option} = \"{value}\"\n");
        check(
            "toml",
            option,
            value,
            expected,
            CachesConfig::from_toml_str(&text).map(drop),
        );
    }
}

#[tokio::test]
async fn options_of_another_backend_are_refused() {
    for url in [
        "memory://?connect_timeout=1s",
        "memory://?tls_ca_file=/ca.pem",
        "redis://127.0.0.1:1/0?max_entries=10",
    ] {
        let err = CacheConfig::from_url(url)
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        assert!(err.message().contains("does not apply"), "{url}: {err}");
    }
}

#[test]
fn empty_urls_and_unknown_variables_are_refused() {
    let err = CacheConfig::from_url("").unwrap_err();
    assert!(err.message().contains("empty"), "{err}");
    let vars = [("CACHE_URL".to_owned(), String::new())];
    assert_eq!(
        CachesConfig::from_vars(vars).unwrap_err().kind(),
        ErrorKind::Config
    );
    let vars = [("CACHE_DEFUALT_TIMEOUT".to_owned(), "45m".to_owned())];
    let err = CachesConfig::from_vars(vars).unwrap_err();
    assert!(err.message().contains("CACHE_DEFUALT_TIMEOUT"), "{err}");
    assert!(
        err.message().contains("did you mean `default_timeout`"),
        "{err}"
    );
    let err = CachesConfig::from_toml_str("[caches.default]\nurl = \"\"\n").unwrap_err();
    assert!(err.message().contains("empty"), "{err}");
}

#[test]
fn toml_errors_never_quote_the_line() {
    let text = "[caches.default]\nurll = \"redis://:S3cret@h/0\"\n";
    let err = CachesConfig::from_toml_str(text).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("S3cret"), "{shown}");
    assert!(shown.contains("did you mean `url`"), "{shown}");
    let text = "[caches.default]\nurl = \"redis://:S3cret@h/0\n";
    let err = CachesConfig::from_toml_str(text).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("S3cret"), "{shown}");
    assert!(shown.contains("line 2"), "{shown}");
}

#[test]
fn good_values_in_every_form_are_accepted() {
    let c = CacheConfig::from_url(
        "redis://h/0?default_timeout=1h30m&connect_timeout=300ms&response_timeout=2.5&fail_open=yes&relaxed_keys=0",
    )
    .unwrap();
    assert!(c.fail_open && !c.relaxed_keys);
    let c = CacheConfig::from_url("memory://?default_timeout=2w&max_entries=1").unwrap();
    assert_eq!(c.max_entries, Some(1));
    let c = CacheConfig::from_url("unix:///run/redis.sock?db=2&pass=S3cret&prefix=p").unwrap();
    assert_eq!(c.prefix, "p");
    assert!(c.url.contains("db=2"));
    assert!(!format!("{c:?}").contains("S3cret"));
}
