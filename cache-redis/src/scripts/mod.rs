//! The Lua the driver sends, and how a script call is made: `EVALSHA`, then `EVAL` with the
//! source when the server answers `NOSCRIPT` (a new or restarted server, a failover to a node
//! that never ran it). A script is thus one round trip, two the first time on each node.

use redis::Cmd;

/// One script: its source and its SHA-1.
#[derive(Debug)]
pub(crate) struct Lua {
    /// What errors and traces name it by.
    pub(crate) name: &'static str,
    source: &'static str,
    sha: String,
}

impl Lua {
    fn new(name: &'static str, source: &'static str) -> Lua {
        Lua {
            name,
            source,
            sha: redis::Script::new(source).get_hash().to_owned(),
        }
    }

    /// `EVALSHA sha nkeys keys… args…`.
    pub(crate) fn evalsha<K: AsRef<[u8]>, A: AsRef<[u8]>>(&self, keys: &[K], args: &[A]) -> Cmd {
        self.command("EVALSHA", self.sha.as_bytes(), keys, args)
    }

    /// `EVAL source nkeys keys… args…`, after a `NOSCRIPT`.
    pub(crate) fn eval<K: AsRef<[u8]>, A: AsRef<[u8]>>(&self, keys: &[K], args: &[A]) -> Cmd {
        self.command("EVAL", self.source.as_bytes(), keys, args)
    }

    fn command<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        verb: &str,
        script: &[u8],
        keys: &[K],
        args: &[A],
    ) -> Cmd {
        let mut cmd = redis::cmd(verb);
        cmd.arg(script).arg(keys.len());
        for key in keys {
            cmd.arg(key.as_ref());
        }
        for arg in args {
            cmd.arg(arg.as_ref());
        }
        cmd
    }
}

/// Every script of the driver.
#[derive(Debug)]
pub(crate) struct Scripts {
    /// `incr.lua`: checked, exact `incr` keeping the TTL.
    pub(crate) incr: Lua,
    /// `delete_if_value.lua`: compare-and-delete.
    pub(crate) delete_if_value: Lua,
    /// `get_with_expiry.lua`: values with their `PTTL`, atomically.
    pub(crate) get_with_expiry: Lua,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            incr: Lua::new("incr", include_str!("incr.lua")),
            delete_if_value: Lua::new("delete_if_value", include_str!("delete_if_value.lua")),
            get_with_expiry: Lua::new("get_with_expiry", include_str!("get_with_expiry.lua")),
        }
    }
}
