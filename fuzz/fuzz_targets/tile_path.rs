//! Tile paths (`tlog::Tile::parse`) and psdb's tile registers
//! (`abi::psdb::decode_tile`): parsing never panics; a path that parses is
//! canonical (the tile's path is the input); registers that decode encode
//! back to themselves and name a tile whose path parses to it.
#![no_main]

use abi::psdb::{decode_tile, encode_tile};
use libfuzzer_sys::fuzz_target;
use tlog::Tile;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data)
        && let Some(t) = Tile::parse(path)
    {
        assert_eq!(t.path().as_str(), path);
        assert!((1..=256).contains(&t.width));
        let _ = t.within(u64::MAX);
    }
    if data.len() >= 24 {
        let word = |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
        let mrs = [word(0), word(1), word(2)];
        if let Some(t) = decode_tile(mrs) {
            assert_eq!(encode_tile(&t), mrs);
            assert_eq!(Tile::parse(&t.path()), Some(t));
        }
    }
});
