#!/usr/bin/env bash
# Checks the workspace's `rust-version` claim: no package in the lockfile's dependency tree of
# the publishable crates declares a newer `rust-version` than the workspace does. Fails with
# the offending packages listed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
meta = json.load(sys.stdin)
ws_ids = set(meta["workspace_members"])
ours = None
for p in meta["packages"]:
    if p["id"] in ws_ids and p.get("rust_version"):
        ours = p["rust_version"]
        break
if ours is None:
    sys.exit("check-msrv: the workspace declares no rust-version")
def key(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
newer = sorted(
    (p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p["id"] not in ws_ids and p.get("rust_version") and key(p["rust_version"]) > key(ours)
)
if newer:
    for name, version, rv in newer:
        print(f"check-msrv: {name} {version} needs Rust {rv}, newer than our rust-version {ours}")
    sys.exit(1)
print(f"check-msrv: every dependency builds with Rust {ours}")
'
