use std::sync::LazyLock;

static CACHE: LazyLock<cachette::Cache> = LazyLock::new(|| cachette::MemoryBackend::new().cache());

struct Client;

impl Client {
    #[cachette::cached(cache = CACHE)]
    fn answer(&self) -> u32 {
        42
    }
}

fn main() {}
