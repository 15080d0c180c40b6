//! Which server holds a key: rendezvous (highest random weight) hashing, as pymemcache's
//! `HashClient` does, so that adding or removing a server moves only the keys it gains or
//! loses.
//!
//! The hash is FNV-1a over the server's address and the stored key, finished with a 64-bit
//! mix; it is stable across releases and platforms. Placement is not the same as
//! pymemcache's (which uses murmur3): a Python and a Rust client sharing several servers would
//! look for a key on different servers, but they cannot share values anyway (different
//! encodings).

/// The index of the server that holds `key`, among `addresses` (not empty).
pub(crate) fn pick(addresses: &[String], key: &[u8]) -> usize {
    if addresses.len() < 2 {
        // One server holds every key: nothing to hash.
        return 0;
    }
    let mut best = (0, 0_u64);
    for (i, address) in addresses.iter().enumerate() {
        let weight = mix(fnv1a(fnv1a(OFFSET, address.as_bytes()), key));
        if i == 0 || weight > best.1 {
            best = (i, weight);
        }
    }
    best.0
}

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// splitmix64's finaliser: spreads FNV's weak low bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_and_removing_a_server_moves_only_its_keys() {
        let three: Vec<String> = ["a:1", "b:2", "c:3"].map(String::from).to_vec();
        let two = three[..2].to_vec();
        let mut counts = [0; 3];
        for i in 0..3000 {
            let key = format!("key{i}");
            let on_three = pick(&three, key.as_bytes());
            counts[on_three] += 1;
            if on_three < 2 {
                assert_eq!(pick(&two, key.as_bytes()), on_three);
            }
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
