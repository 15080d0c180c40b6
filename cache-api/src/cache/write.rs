//! Writes: `set`, `add`, `set_many`, `touch`, `delete`, `delete_many`, `clear`, `close`.

use serde::Serialize;

use crate::expiry::Lifetime;
use crate::{Cache, Result, SetMode, SetOptions, WriteOptions};

impl Cache {
    /// Writes a value with the default TTL.
    ///
    /// # Errors
    /// [`InvalidKey`](crate::ErrorKind::InvalidKey); [`Encode`](crate::ErrorKind::Encode)
    /// when the value cannot be encoded (nothing is written);
    /// [`TooLarge`](crate::ErrorKind::TooLarge); the backend's errors.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.set_opts(key, value, WriteOptions::new()).await
    }

    /// [`set`](Cache::set) with per-call options. A zero TTL deletes the key.
    pub async fn set_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<WriteOptions>,
    ) -> Result<()> {
        self.write("set", key, value, options.into(), SetMode::Always)
            .await
            .map(drop)
    }

    /// Writes a value only if the key is absent (or expired); answers whether it wrote.
    ///
    /// With a zero TTL nothing is stored, and the answer is whether the key was absent.
    pub async fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool> {
        self.add_opts(key, value, WriteOptions::new()).await
    }

    /// [`add`](Cache::add) with per-call options.
    pub async fn add_opts<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: impl Into<WriteOptions>,
    ) -> Result<bool> {
        self.write("add", key, value, options.into(), SetMode::IfAbsent)
            .await
    }

    async fn write<T: Serialize + ?Sized>(
        &self,
        op: &'static str,
        key: &str,
        value: &T,
        options: WriteOptions,
        mode: SetMode,
    ) -> Result<bool> {
        let call = self.call(op, Some(key));
        let composed = call.compose(key)?;
        let bytes = call.encode(value)?;
        let backend = self.backend();
        match self.lifetime(options.ttl) {
            Lifetime::Keep(expiry) => {
                let options = SetOptions::new(expiry).with_mode(mode);
                let stored = call
                    .run_or(1, backend.set(&composed, bytes, options), || false)
                    .await?;
                self.counters().set(u64::from(stored));
                Ok(stored)
            }
            // Django: a zero timeout stores nothing and expires what is there; `add` answers
            // whether it would have written.
            Lifetime::ExpireNow => match mode {
                SetMode::IfAbsent => {
                    let exists = call.run_or(1, backend.has_key(&composed), || true).await?;
                    Ok(!exists)
                }
                _ => {
                    let deleted = call.run_or(1, backend.delete(&composed), || false).await?;
                    self.counters().delete(u64::from(deleted));
                    Ok(true)
                }
            },
        }
    }

    /// Writes many values with the default TTL (one round trip on Redis); returns the keys
    /// that could not be stored.
    ///
    /// Every key and value is checked and encoded first: an invalid key or a value that fails
    /// to encode fails the whole call before anything is written.
    pub async fn set_many<K, V, I>(&self, entries: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        self.set_many_opts(entries, WriteOptions::new()).await
    }

    /// [`set_many`](Cache::set_many) with per-call options. A zero TTL deletes the keys.
    pub async fn set_many_opts<K, V, I>(
        &self,
        entries: I,
        options: impl Into<WriteOptions>,
    ) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Serialize,
    {
        let call = self.call("set_many", None);
        let mut user_keys = Vec::new();
        let mut encoded = Vec::new();
        for (key, value) in entries {
            let key = key.as_ref();
            let composed = call.compose(key)?;
            let bytes = call.about(key).encode(&value)?;
            user_keys.push(key.to_owned());
            encoded.push((composed, bytes));
        }
        if encoded.is_empty() {
            return Ok(Vec::new());
        }
        let n = encoded.len();
        let backend = self.backend();
        let failed = match self.lifetime(options.into().ttl) {
            Lifetime::Keep(expiry) => {
                call.run_or(n, backend.set_many(&encoded, expiry), || (0..n).collect())
                    .await?
            }
            Lifetime::ExpireNow => {
                let composed: Vec<String> = encoded.into_iter().map(|(k, _)| k).collect();
                let deleted = call.run_or(n, backend.delete_many(&composed), || 0).await?;
                self.counters().delete(deleted);
                return Ok(Vec::new());
            }
        };
        self.counters().set((n - failed.len()) as u64);
        Ok(failed
            .into_iter()
            .filter_map(|i| user_keys.get(i).cloned())
            .collect())
    }

    /// Gives an existing key the default TTL again; answers whether the key existed. A
    /// missing key stays missing.
    pub async fn touch(&self, key: &str) -> Result<bool> {
        self.touch_opts(key, WriteOptions::new()).await
    }

    /// [`touch`](Cache::touch) with per-call options: [`Ttl::Never`](crate::Ttl::Never)
    /// makes the key permanent; a zero TTL deletes it (and answers whether it existed).
    pub async fn touch_opts(&self, key: &str, options: impl Into<WriteOptions>) -> Result<bool> {
        let call = self.call("touch", Some(key));
        let composed = call.compose(key)?;
        let backend = self.backend();
        match self.lifetime(options.into().ttl) {
            Lifetime::Keep(expiry) => {
                call.run_or(1, backend.touch(&composed, expiry), || false)
                    .await
            }
            Lifetime::ExpireNow => call.run_or(1, backend.delete(&composed), || false).await,
        }
    }

    /// Deletes a key; answers whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let call = self.call("delete", Some(key));
        let composed = call.compose(key)?;
        let deleted = call
            .run_or(1, self.backend().delete(&composed), || false)
            .await?;
        self.counters().delete(u64::from(deleted));
        Ok(deleted)
    }

    /// Deletes many keys (one round trip on Redis); returns how many existed.
    pub async fn delete_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        let call = self.call("delete_many", None);
        let composed = call.compose_all(keys)?;
        if composed.is_empty() {
            return Ok(0);
        }
        let deleted = call
            .run_or(composed.len(), self.backend().delete_many(&composed), || 0)
            .await?;
        self.counters().delete(deleted);
        Ok(deleted)
    }

    /// Deletes every key of this cache: all versions of its prefix, or, on a
    /// [`namespace`](Cache::namespace) view, the keys of that namespace at this version.
    /// Keys of other prefixes survive, whatever the backend. Returns how many were deleted.
    pub async fn clear(&self) -> Result<u64> {
        let call = self.call("clear", None);
        let pattern = if self.is_root() {
            format!("{}:", self.prefix())
        } else {
            self.head().to_owned()
        };
        let deleted = call.run(0, self.backend().clear(&pattern)).await?;
        self.counters().delete(deleted);
        Ok(deleted)
    }

    /// Closes the backend's connections. The handle (and its clones) may fail afterwards.
    pub async fn close(&self) -> Result<()> {
        self.call("close", None)
            .run(0, self.backend().close())
            .await
    }
}
