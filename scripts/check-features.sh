#!/usr/bin/env bash
# Builds a fresh project outside the workspace that depends on the facade by path (as a user
# would by version) with default features, with only the memory backend, and with every
# feature: proves that the feature combinations users choose compile on their own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
facade=cachette
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cat > "$dir/src/main.rs" <<'RS'
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = facade::from_url("memory://?prefix=fresh").await?;
    cache.set("k", &1).await?;
    assert_eq!(cache.get::<i32>("k").await?, Some(1));
    Ok(())
}
RS
export CARGO_TARGET_DIR="$root/target/feature-check"
for features in "" "default-features = false, features = [\"memory\"]" "default-features = false, features = [\"memory\", \"postgres\", \"memcached\"]" "features = [\"memory\", \"redis\", \"tls\", \"metrics\", \"tiered\", \"postgres\", \"memcached\", \"django\", \"blocking\", \"macros\"]"; do
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "fresh-user"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
facade = { package = "$facade", path = "$root/caches"${features:+, $features} }
tokio = { version = "1", features = ["macros", "rt"] }

[workspace]
TOML
  echo "check-features: ${features:-default features}"
  (cd "$dir" && cargo run --quiet)
done
echo "check-features: the facade builds and runs outside the workspace with every feature set"
