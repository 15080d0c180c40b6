use std::sync::LazyLock;

static CACHE: LazyLock<cachette::Cache> = LazyLock::new(|| cachette::MemoryBackend::new().cache());

#[cachette::cached(cache = CACHE, tll = std::time::Duration::from_secs(60))]
fn answer() -> u32 {
    42
}

fn main() {}
