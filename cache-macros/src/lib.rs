//! The memoizing attribute of `cachette`: `#[cachette::cached(...)]`.
//!
//! Use it through the facade (`cachette`, feature `macros`), which re-exports it as
//! `cachette::cached`: the expansion names items of `::cachette`. Every option is documented
//! on the re-export and in the guide (`docs/memoize.md`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod expand;
mod options;

use proc_macro::TokenStream;

/// Caches the results of an async or a sync function; see `cachette::cached`.
#[proc_macro_attribute]
pub fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = match options::Options::parse(attr.into()) {
        Ok(options) => options,
        Err(err) => return err.to_compile_error().into(),
    };
    let function = match syn::parse::<syn::ItemFn>(item) {
        Ok(function) => function,
        Err(err) => {
            return syn::Error::new(
                err.span(),
                "#[cachette::cached] goes on a function (`fn` or `async fn`)",
            )
            .to_compile_error()
            .into()
        }
    };
    match expand::expand(&options, function) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}
