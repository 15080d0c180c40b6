//! The expansion: the function's own body becomes an inner function, called through the
//! cache's loading engine (`get_or_set_with_opts`, or `get_or_set_with_policy` when a
//! resilient option is given).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::options::{Options, Source};

/// The name of the inner function holding the original body.
const BODY: &str = "__cachette_body";

pub(crate) fn expand(options: &Options, function: ItemFn) -> syn::Result<TokenStream> {
    let sig = &function.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "#[cached] does not support generic functions: the cached value's type must be \
             known; wrap a concrete function around the generic one",
        ));
    }
    let asyncness = sig.asyncness.is_some();
    let returns_result = returns_result(&sig.output);
    let mut names: Vec<Ident> = Vec::new();
    let mut borrowed = None;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "#[cached] does not support methods (`self`): cache a free function, or \
                     call one from the method",
                ))
            }
            FnArg::Typed(typed) => {
                let Pat::Ident(pat) = &*typed.pat else {
                    return Err(syn::Error::new_spanned(
                        &typed.pat,
                        "#[cached] needs each argument to be a plain name (`ticker: &str`), \
                         which the key is made of",
                    ));
                };
                if matches!(&*typed.ty, Type::Reference(_)) {
                    borrowed.get_or_insert(typed.ty.span());
                }
                names.push(pat.ident.clone());
            }
        }
    }
    if !options.policy.is_empty() {
        if !returns_result {
            return Err(syn::Error::new(
                sig.output.span(),
                "stale_while_revalidate, fail_safe, soft_timeout and hard_timeout serve a \
                 stale value when the function fails: the function must return a `Result`",
            ));
        }
        if let Some(span) = borrowed {
            return Err(syn::Error::new(
                span,
                "with stale_while_revalidate, fail_safe, soft_timeout or hard_timeout the \
                 function may go on after the call returns: take owned arguments \
                 (`String`, not `&str`)",
            ));
        }
    }

    // The inner function: the original signature (renamed) and body.
    let mut inner_sig = sig.clone();
    inner_sig.ident = format_ident!("{}", BODY);
    let body = &function.block;
    let inner = quote! {
        #[allow(clippy::too_many_arguments)]
        #inner_sig #body
    };
    // The outer function: the original signature without `mut` on its arguments.
    let mut outer_sig = sig.clone();
    for input in outer_sig.inputs.iter_mut() {
        if let FnArg::Typed(typed) = input {
            if let Pat::Ident(pat) = &mut *typed.pat {
                pat.mutability = None;
            }
        }
    }
    let attrs = &function.attrs;
    let vis = &function.vis;
    let body_fn = format_ident!("{}", BODY);
    let call_body = if asyncness {
        quote! { #body_fn(#(#names),*).await }
    } else {
        quote! { #body_fn(#(#names),*) }
    };

    let cache = match (&options.source, asyncness) {
        (Source::Expr(expr), true) => quote! {{
            use ::cachette::memoize::CacheSource as _;
            (#expr).async_cache()
        }},
        (Source::Expr(expr), false) => quote! {{
            use ::cachette::memoize::CacheSource as _;
            (#expr).blocking_cache()
        }},
        (Source::Named(name), true) => quote! { ::cachette::memoize::named(#name) },
        (Source::Named(name), false) => {
            quote! { ::cachette::memoize::named(#name).and_then(|cache| cache.blocking()) }
        }
    };
    let version = options.version.as_ref().map(|version| {
        quote! { let __cachette_cache = __cachette_cache.with_version(#version); }
    });
    let key = match &options.key {
        Some(key) => quote! {
            ::core::result::Result::<::std::string::String, ::cachette::Error>::Ok(
                ::std::string::ToString::to_string(&(#key)),
            )
        },
        None => {
            let fn_name = sig.ident.to_string();
            // Each argument pushed with the span of its type: a type that is not
            // `Serialize` is reported there.
            let pushes = sig.inputs.iter().filter_map(|input| match input {
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) => {
                        let name = &pat.ident;
                        Some(quote_spanned! {typed.ty.span()=> __cachette_key.push(&#name)?; })
                    }
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            });
            quote! {
                (|| -> ::cachette::Result<::std::string::String> {
                    let mut __cachette_key = ::cachette::memoize::Key::new(
                        ::core::concat!(::core::module_path!(), "::", #fn_name),
                    );
                    #(#pushes)*
                    ::core::result::Result::Ok(__cachette_key.finish())
                })()
            }
        }
    };
    let write_options = match &options.ttl {
        Some(ttl) => quote! { ::cachette::WriteOptions::from(#ttl) },
        None => quote! { ::cachette::WriteOptions::new() },
    };
    let dot_await = asyncness.then(|| quote! { .await });
    let async_move = asyncness.then(|| quote! { async move });

    let body = if !options.policy.is_empty() {
        let setters = options.policy.iter().map(|(setter, value)| {
            let setter = format_ident!("{}", setter);
            quote! { .#setter(#value) }
        });
        let ttl = options.ttl.as_ref().map(|ttl| quote! { .with_ttl(#ttl) });
        quote! {
            let __cachette_cache = match #cache {
                ::core::result::Result::Ok(cache) => cache,
                ::core::result::Result::Err(err) => return ::core::result::Result::Err(::core::convert::From::from(err)),
            };
            #version
            let __cachette_key: ::std::string::String = match #key {
                ::core::result::Result::Ok(key) => key,
                ::core::result::Result::Err(err) => return ::core::result::Result::Err(::core::convert::From::from(err)),
            };
            let __cachette_policy = ::cachette::LoadPolicy::new() #ttl #(#setters)*;
            match __cachette_cache
                .get_or_set_with_policy(&__cachette_key, &__cachette_policy, move || #body_fn(#(#names),*))
                #dot_await
            {
                ::core::result::Result::Ok(loaded) => ::core::result::Result::Ok(loaded.value),
                ::core::result::Result::Err(err) => ::core::result::Result::Err(::core::convert::From::from(err)),
            }
        }
    } else if returns_result {
        quote! {
            let __cachette_cache = match #cache {
                ::core::result::Result::Ok(cache) => cache,
                ::core::result::Result::Err(err) => return ::core::result::Result::Err(::core::convert::From::from(err)),
            };
            #version
            let __cachette_key: ::std::string::String = match #key {
                ::core::result::Result::Ok(key) => key,
                ::core::result::Result::Err(err) => return ::core::result::Result::Err(::core::convert::From::from(err)),
            };
            // The function's own error, kept to be returned as it is (it is never cached).
            let mut __cachette_failure = ::core::option::Option::None;
            let __cachette_failed = &mut __cachette_failure;
            let __cachette_loaded = __cachette_cache
                .get_or_set_with_opts(&__cachette_key, #write_options, move || #async_move {
                    match #call_body {
                        ::core::result::Result::Ok(value) => ::core::result::Result::Ok(value),
                        ::core::result::Result::Err(err) => {
                            *__cachette_failed = ::core::option::Option::Some(err);
                            ::core::result::Result::Err(::cachette::memoize::LoaderFailed)
                        }
                    }
                })
                #dot_await;
            match (__cachette_loaded, __cachette_failure) {
                (::core::result::Result::Ok(value), _) => ::core::result::Result::Ok(value),
                (::core::result::Result::Err(_), ::core::option::Option::Some(err)) => ::core::result::Result::Err(err),
                (::core::result::Result::Err(err), ::core::option::Option::None) => {
                    ::core::result::Result::Err(::core::convert::From::from(err))
                }
            }
        }
    } else {
        quote! {
            // The function cannot fail: when the cache does, the value is computed (once).
            let __cachette_cache = match #cache {
                ::core::result::Result::Ok(cache) => cache,
                ::core::result::Result::Err(_) => return #call_body,
            };
            #version
            let __cachette_key: ::std::string::String = match #key {
                ::core::result::Result::Ok(key) => key,
                ::core::result::Result::Err(_) => return #call_body,
            };
            let mut __cachette_args = ::core::option::Option::Some((#(#names,)*));
            let mut __cachette_value = ::core::option::Option::None;
            let __cachette_args_slot = &mut __cachette_args;
            let __cachette_value_slot = &mut __cachette_value;
            let __cachette_loaded = __cachette_cache
                .get_or_set_with_opts(&__cachette_key, #write_options, move || #async_move {
                    let ::core::option::Option::Some((#(#names,)*)) = __cachette_args_slot.take() else {
                        return ::core::result::Result::Err(::cachette::memoize::LoaderFailed);
                    };
                    let value = #call_body;
                    *__cachette_value_slot = ::core::option::Option::Some(::core::clone::Clone::clone(&value));
                    ::core::result::Result::Ok::<_, ::cachette::memoize::LoaderFailed>(value)
                })
                #dot_await;
            match (__cachette_loaded, __cachette_value, __cachette_args) {
                (::core::result::Result::Ok(value), _, _) => value,
                (::core::result::Result::Err(_), ::core::option::Option::Some(value), _) => value,
                (::core::result::Result::Err(_), ::core::option::Option::None, ::core::option::Option::Some((#(#names,)*))) => #call_body,
                // The loader took the arguments and kept its value before returning.
                (::core::result::Result::Err(_), ::core::option::Option::None, ::core::option::Option::None) => {
                    ::core::unreachable!("#[cached]: the loader ran without keeping its value")
                }
            }
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #outer_sig {
            #inner
            #body
        }
    })
}

/// Whether the function returns a `Result` (by the last segment of its return type's path:
/// `Result`, `io::Result`, `anyhow::Result`).
fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}
