//! The options of `#[cached(...)]`, parsed and checked.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, MetaNameValue, Token};

/// Where the cache comes from.
pub(crate) enum Source {
    /// `cache = EXPR`: a `Cache` or `blocking::Cache` (or anything that derefs to one).
    Expr(Expr),
    /// `named = "name"`: a cache of those installed with `cachette::memoize::install`.
    Named(LitStr),
}

/// Everything the attribute was given.
pub(crate) struct Options {
    pub(crate) source: Source,
    pub(crate) key: Option<Expr>,
    pub(crate) ttl: Option<Expr>,
    pub(crate) version: Option<Expr>,
    /// The resilient-loading options, by `LoadPolicy` setter.
    pub(crate) policy: Vec<(&'static str, Expr)>,
}

/// The resilient-loading options and the `LoadPolicy` setter each one calls.
const POLICY: [(&str, &str); 4] = [
    ("stale_while_revalidate", "with_stale_while_revalidate"),
    ("fail_safe", "with_fail_safe"),
    ("soft_timeout", "with_soft_timeout"),
    ("hard_timeout", "with_hard_timeout"),
];

const KNOWN: &str = "cache, named, key, ttl, version, stale_while_revalidate, fail_safe, \
                     soft_timeout, hard_timeout";

impl Options {
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Options> {
        let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated
            .parse2(attr)
            .map_err(|err| {
                syn::Error::new(
                    err.span(),
                    format!("expected `name = value` options ({KNOWN}): {err}"),
                )
            })?;
        let mut cache = None;
        let mut named = None;
        let mut key = None;
        let mut ttl = None;
        let mut version = None;
        let mut policy = Vec::new();
        for pair in pairs {
            let Some(name) = pair.path.get_ident().map(ToString::to_string) else {
                return Err(syn::Error::new_spanned(
                    &pair.path,
                    format!("unknown option; known: {KNOWN}"),
                ));
            };
            let slot = match name.as_str() {
                "cache" => &mut cache,
                "key" => &mut key,
                "ttl" => &mut ttl,
                "version" => &mut version,
                "named" => {
                    let Expr::Lit(ExprLit {
                        lit: Lit::Str(lit), ..
                    }) = &pair.value
                    else {
                        return Err(syn::Error::new_spanned(
                            &pair.value,
                            "`named` takes the name of a cache as a string literal: named = \"default\"",
                        ));
                    };
                    if named.replace(lit.clone()).is_some() {
                        return Err(duplicate(&pair));
                    }
                    continue;
                }
                other => match POLICY.iter().find(|(option, _)| *option == other) {
                    Some((_, setter)) => {
                        if policy.iter().any(|(s, _)| s == setter) {
                            return Err(duplicate(&pair));
                        }
                        policy.push((*setter, pair.value));
                        continue;
                    }
                    None => {
                        return Err(syn::Error::new_spanned(
                            &pair.path,
                            format!("unknown option `{other}`; known: {KNOWN}"),
                        ))
                    }
                },
            };
            if slot.is_some() {
                return Err(duplicate(&pair));
            }
            *slot = Some(pair.value);
        }
        let source = match (cache, named) {
            (Some(expr), None) => Source::Expr(expr),
            (None, Some(name)) => Source::Named(name),
            (Some(expr), Some(_)) => {
                return Err(syn::Error::new_spanned(
                    expr,
                    "give the cache once: `cache = EXPR` or `named = \"name\"`, not both",
                ))
            }
            (None, None) => {
                return Err(syn::Error::new(
                    Span::call_site(),
                    "#[cached] needs a cache: `cache = EXPR` (a static or an expression giving a \
                     Cache) or `named = \"name\"` (a cache installed with cachette::memoize::install)",
                ))
            }
        };
        Ok(Options {
            source,
            key,
            ttl,
            version,
            policy,
        })
    }
}

fn duplicate(pair: &MetaNameValue) -> syn::Error {
    syn::Error::new_spanned(&pair.path, "this option is given twice")
}
