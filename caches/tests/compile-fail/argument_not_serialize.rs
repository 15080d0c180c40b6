use std::sync::LazyLock;

static CACHE: LazyLock<cachette::Cache> = LazyLock::new(|| cachette::MemoryBackend::new().cache());

struct Connection;

#[cachette::cached(cache = CACHE)]
fn answer(connection: Connection) -> u32 {
    let _ = connection;
    42
}

fn main() {}
