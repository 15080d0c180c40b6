#[cachette::cached(ttl = std::time::Duration::from_secs(60))]
fn answer() -> u32 {
    42
}

fn main() {}
