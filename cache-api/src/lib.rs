#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod builder;
mod cache;
mod codec;
mod dummy;
mod error;
mod expiry;
mod invalidation;
mod key;
mod load;
mod memo;
mod options;
mod redact;
mod stats;

pub use backend::{parse_stored_integer, CacheBackend, DynCacheBackend, SetMode, SetOptions};
pub use builder::{CacheBuilder, DEFAULT_MAX_VALUE_SIZE, DEFAULT_TTL};
pub use cache::Cache;
pub use codec::{Codec, Compression, DEFAULT_COMPRESS_MIN_SIZE};
pub use dummy::DummyBackend;
pub use error::{Error, ErrorKind, Result};
pub use expiry::{Expiry, KeyTtl, Ttl};
pub use invalidation::{
    DynInvalidationChannel, InvalidationChannel, InvalidationEvent, InvalidationStream,
    Subscription,
};
pub use key::{KeyPolicy, DEFAULT_MAX_KEY_LEN};
pub use load::{FailSafe, Lease, LoadPolicy, Loaded, OnUndecodable, Source};
pub use memo::{DecodedMemo, StoredEntry};
pub use options::WriteOptions;
pub use redact::redact_url;
pub use stats::CacheStats;

/// Re-exported so that backends implement [`CacheBackend`] with the same macro version.
pub use async_trait::async_trait;
/// Re-exported: the byte buffer type of the [`CacheBackend`] contract.
pub use bytes::Bytes;

#[cfg(test)]
mod public_api {
    use std::collections::BTreeSet;

    /// The names between `<!-- {marker} -->` and `<!-- /{marker} -->` in the README.
    fn listed(marker: &str) -> BTreeSet<String> {
        let readme = include_str!("../README.md");
        let start = readme.find(&format!("<!-- {marker} -->")).unwrap_or(0);
        let end = readme.find(&format!("<!-- /{marker} -->")).unwrap_or(0);
        readme[start..end]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// The names after `pub use` in this file.
    fn exported() -> BTreeSet<String> {
        let lib = include_str!("lib.rs");
        let lib = &lib[..lib.find("#[cfg(test)]").unwrap_or(lib.len())];
        let mut names = BTreeSet::new();
        for item in lib.split("pub use ").skip(1) {
            let item = &item[..item.find(';').unwrap_or(0)];
            let list = match (item.find('{'), item.rfind('}')) {
                (Some(a), Some(b)) => &item[a + 1..b],
                _ => item.rsplit("::").next().unwrap_or(item),
            };
            names.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            );
        }
        names
    }

    /// The public methods of `Cache`, in the files that implement it.
    fn methods() -> BTreeSet<String> {
        let files = [
            include_str!("cache/mod.rs"),
            include_str!("cache/read.rs"),
            include_str!("cache/write.rs"),
            include_str!("cache/counter.rs"),
            include_str!("cache/version.rs"),
            include_str!("load/one.rs"),
            include_str!("load/resilient.rs"),
            include_str!("load/many.rs"),
        ];
        let mut names = BTreeSet::new();
        for file in files {
            for decl in file.split("    pub ").skip(1) {
                let decl = decl.trim_start_matches("async ");
                if let Some(rest) = decl.strip_prefix("fn ") {
                    let end = rest.find(['<', '(']).unwrap_or(rest.len());
                    names.insert(rest[..end].to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn public_api_is_listed() {
        assert_eq!(
            exported(),
            listed("public-items"),
            "lib.rs exports vs README list"
        );
        assert_eq!(
            methods(),
            listed("cache-methods"),
            "Cache methods vs README list"
        );
    }
}
