"""The Django side of the interop tests (caches/tests/django_interop/mod.rs).

Usage: interop.py CONFIG REDIS_URL PHASE

CONFIG names a Django cache configuration (see CONFIGS), PHASE is one of:
  write    write the values the Rust test reads (under KEY_PREFIX wheel_analyzer, VERSION 1),
           and one key under another prefix (other_app) that the Rust clear() must leave
  check    read and check what the Rust test wrote; incr, delete_many, incr_version on them
  cleared  check that the Rust clear() removed wheel_analyzer's keys and left other_app's

Any failed check raises AssertionError (exit status 1) with what differed.
"""

import os
import sys

CONFIGS = {
    "builtin_redis": ("django.core.cache.backends.redis.RedisCache", None, None),
    "django_redis_pickle": ("django_redis.cache.RedisCache", None, None),
    "django_redis_json": ("django_redis.cache.RedisCache", "json", None),
    "django_redis_msgpack": ("django_redis.cache.RedisCache", "msgpack", None),
    "django_redis_pickle_zlib": ("django_redis.cache.RedisCache", None, "zlib"),
    "django_redis_pickle_zstd": ("django_redis.cache.RedisCache", None, "zstd"),
    "django_redis_pickle_lz4": ("django_redis.cache.RedisCache", None, "lz4"),
    "django_redis_msgpack_zlib": ("django_redis.cache.RedisCache", "msgpack", "zlib"),
    "django_redis_json_zstd": ("django_redis.cache.RedisCache", "json", "zstd"),
}

SERIALIZERS = {
    "json": "django_redis.serializers.json.JSONSerializer",
    "msgpack": "django_redis.serializers.msgpack.MSGPackSerializer",
}
COMPRESSORS = {
    "zlib": "django_redis.compressors.zlib.ZlibCompressor",
    "zstd": "django_redis.compressors.zstd.ZStdCompressor",
    "lz4": "django_redis.compressors.lz4.Lz4Compressor",
}


def settings_for(config, url):
    backend, serializer, compressor = CONFIGS[config]
    options = {}
    if serializer:
        options["SERIALIZER"] = SERIALIZERS[serializer]
    if compressor:
        options["COMPRESSOR"] = COMPRESSORS[compressor]

    def cache(prefix):
        entry = {"BACKEND": backend, "LOCATION": url, "KEY_PREFIX": prefix, "VERSION": 1}
        if options:
            entry["OPTIONS"] = dict(options)
        return entry

    return {"default": cache("wheel_analyzer"), "other": cache("other_app")}


POSITION = {
    "ticker": "AAPL",
    "shares": 100,
    "price": 189.5,
    "tags": ["wheel", "tech"],
    "note": None,
}
NESTED = [[1, 2], [3, [4, 5]], []]
TEXT = "héllo wörld ✓ 日本"
RAW = b"\x00\x01\xffraw"
BIG = [2**62, -(2**63), 2**64 - 1]


def expect(what, got, want):
    assert got == want and type(got) is type(want), f"{what}: got {got!r}, want {want!r}"


def main():
    config, url, phase = sys.argv[1:4]
    serializer = CONFIGS[config][1]
    import django
    from django.conf import settings

    settings.configure(CACHES=settings_for(config, url), USE_TZ=True)
    django.setup()
    import redis
    from django.core.cache import caches

    cache, other = caches["default"], caches["other"]
    raw = redis.Redis.from_url(url)
    missing = object()

    if phase == "write":
        cache.set("dj:position", POSITION, 600)
        cache.set("dj:nested", NESTED, 600)
        cache.set("dj:text", TEXT, 600)
        if serializer != "json":
            cache.set("dj:bytes", RAW, 600)
        cache.set("dj:float", 1.0625e-3, 600)
        cache.set("dj:none", None, 600)
        cache.set("dj:bool", True, 600)
        for i, n in enumerate(BIG):
            cache.set(f"dj:big{i}", n, 600)
        cache.set("dj:counter", 10, 600)
        expect("django incr", cache.incr("dj:counter", 1), 11)
        cache.set("dj:ttl", "expires", 120)
        cache.set_many({"dj:del1": 1, "dj:del2": "two", "dj:keep": "kept"}, 600)
        cache.set("dj:moved", "by django", 600)
        cache.incr_version("dj:moved")
        cache.set("dj:rust_moves", "moved by rust", 600)
        other.set("dj:other", "not ours", 600)
    elif phase == "check":
        want_position = dict(POSITION, ticker="MSFT", tags=["rust"])
        expect("rust position", cache.get("rs:position"), want_position)
        expect("rust nested", cache.get("rs:nested"), NESTED)
        expect("rust text", cache.get("rs:text"), TEXT)
        if serializer != "json":
            expect("rust bytes", cache.get("rs:bytes"), RAW)
        expect("rust float", cache.get("rs:float"), 2.5)
        expect("rust none present", cache.get("rs:none", missing), None)
        expect("rust bool", cache.get("rs:bool"), False)
        for i, n in enumerate(BIG):
            expect(f"rust big{i}", cache.get(f"rs:big{i}"), n)
        expect("django incr of rust counter", cache.incr("rs:counter", 1), 101)
        expect("counter rust incremented", cache.get("dj:counter"), 16)
        ttl = raw.ttl("wheel_analyzer:1:rs:ttl")
        assert 0 < ttl <= 90, f"ttl of rs:ttl is {ttl}, want 1..=90"
        for key in ["dj:del1", "dj:del2"]:
            expect(f"{key} deleted by rust", cache.get(key, missing), missing)
        expect("dj:keep", cache.get("dj:keep"), "kept")
        expect("rust incr_version (v1 gone)", cache.get("dj:rust_moves", missing), missing)
        expect("rust incr_version (v2)", cache.get("dj:rust_moves", version=2), "moved by rust")
        cache.delete_many(["rs:del1", "rs:del2"])
        cache.incr_version("rs:moves")
    elif phase == "cleared":
        left = sorted(k.decode() for k in raw.keys("wheel_analyzer:*"))
        assert left == [], f"keys left after the Rust clear(): {left}"
        expect("other prefix kept", other.get("dj:other"), "not ours")
    else:
        raise SystemExit(f"unknown phase {phase}")
    print(f"{config} {phase}: ok")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
