//! Misuse of `#[cachette::cached]` fails to compile with a message that says what to do.
//! Each case is a file in `tests/compile-fail/`, its expected message beside it
//! (`TRYBUILD=overwrite` rewrites them).

#[test]
fn misuse_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile-fail/*.rs");
}
