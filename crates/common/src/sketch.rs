//! The values of StarRocks' HLL and BITMAP columns, and their binary encodings.
//!
//! Both are stored as Arrow `Binary` values. Each encoding starts with a tag byte (`H` or
//! `B`) and a kind byte, so a value of one type handed to a function of the other is
//! refused with a clear error instead of being misread. The encodings are part of the
//! on-disk format (docs/format.md) and never change meaning.
//!
//! **HLL** is a HyperLogLog sketch with 2^14 registers (standard error about 0.8%) over
//! 64-bit xxHash values. Up to [`HLL_EXPLICIT_MAX`] distinct hashes are kept as they are, so
//! small sets count exactly; beyond that the registers are written sparse (index, value)
//! while few are set, and dense after.
//!
//! **BITMAP** is a set of unsigned 64-bit integers: empty, a single value, or a Roaring
//! bitmap (the portable 64-bit "treemap" serialization).

use std::fmt;

use roaring::RoaringTreemap;

use crate::error::{ErrorCode, SqlError};

const HLL_TAG: u8 = b'H';
const BITMAP_TAG: u8 = b'B';

const KIND_EMPTY: u8 = 0;
const HLL_EXPLICIT: u8 = 1;
const HLL_SPARSE: u8 = 2;
const HLL_DENSE: u8 = 3;
const BITMAP_SINGLE: u8 = 1;
const BITMAP_ROARING: u8 = 2;

/// log2 of the number of HLL registers.
const HLL_PRECISION: u32 = 14;
/// The number of HLL registers.
const HLL_REGISTERS: usize = 1 << HLL_PRECISION;
/// The most distinct hashes an HLL keeps as they are before switching to registers.
pub const HLL_EXPLICIT_MAX: usize = 160;

fn invalid(what: &str, detail: impl fmt::Display) -> SqlError {
    SqlError::new(
        ErrorCode::ER_WRONG_ARGUMENTS,
        format!("Invalid {what} value: {detail}"),
    )
}

/// Splits a value into its kind byte and payload, checking the tag.
fn kind_and_payload<'a>(bytes: &'a [u8], tag: u8, what: &str) -> Result<(u8, &'a [u8]), SqlError> {
    match bytes {
        [t, kind, payload @ ..] if *t == tag => Ok((*kind, payload)),
        [t, ..] if *t == HLL_TAG || *t == BITMAP_TAG => Err(invalid(
            what,
            format!(
                "this is a{} value",
                if *t == HLL_TAG { "n HLL" } else { " BITMAP" }
            ),
        )),
        _ => Err(invalid(what, "not an encoded value")),
    }
}

fn read_u32<'a>(payload: &'a [u8], what: &str) -> Result<(usize, &'a [u8]), SqlError> {
    match payload.split_first_chunk::<4>() {
        Some((n, rest)) => Ok((u32::from_le_bytes(*n) as usize, rest)),
        None => Err(invalid(what, "truncated")),
    }
}

/// The 64-bit hash HLL values are built from (xxHash64, seed 0).
pub fn hll_hash(bytes: &[u8]) -> u64 {
    twox_hash::XxHash64::oneshot(0, bytes)
}

/// A HyperLogLog sketch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hll {
    repr: HllRepr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HllRepr {
    /// Distinct hashes, sorted.
    Explicit(Vec<u64>),
    /// One rank per register.
    Registers(Box<[u8]>),
}

impl Default for HllRepr {
    fn default() -> Self {
        HllRepr::Explicit(vec![])
    }
}

impl Hll {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoding of an empty sketch.
    pub fn empty_bytes() -> Vec<u8> {
        vec![HLL_TAG, KIND_EMPTY]
    }

    /// The encoding of a sketch holding one hash, without building the sketch.
    pub fn single_bytes(hash: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(14);
        out.extend_from_slice(&[HLL_TAG, HLL_EXPLICIT]);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&hash.to_le_bytes());
        out
    }

    /// Adds a hash (see [`hll_hash`]).
    pub fn insert(&mut self, hash: u64) {
        match &mut self.repr {
            HllRepr::Explicit(hashes) => {
                if let Err(at) = hashes.binary_search(&hash) {
                    hashes.insert(at, hash);
                    if hashes.len() > HLL_EXPLICIT_MAX {
                        self.switch_to_registers();
                    }
                }
            }
            HllRepr::Registers(registers) => set_register(registers, hash),
        }
    }

    fn switch_to_registers(&mut self) {
        if let HllRepr::Explicit(hashes) = &self.repr {
            let mut registers = vec![0u8; HLL_REGISTERS].into_boxed_slice();
            for &h in hashes {
                set_register(&mut registers, h);
            }
            self.repr = HllRepr::Registers(registers);
        }
    }

    /// Adds every hash of another sketch.
    pub fn merge(&mut self, other: &Hll) {
        match &other.repr {
            HllRepr::Explicit(hashes) => {
                for &h in hashes {
                    self.insert(h);
                }
            }
            HllRepr::Registers(theirs) => {
                self.switch_to_registers();
                if let HllRepr::Registers(ours) = &mut self.repr {
                    for (a, b) in ours.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    /// Adds every hash of an encoded sketch, without decoding it into a sketch first.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), SqlError> {
        let (kind, payload) = kind_and_payload(bytes, HLL_TAG, "HLL")?;
        match kind {
            KIND_EMPTY => {}
            HLL_EXPLICIT => {
                let (n, rest) = read_u32(payload, "HLL")?;
                if rest.len() != n * 8 {
                    return Err(invalid("HLL", "truncated hash list"));
                }
                for h in rest.chunks_exact(8) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(h);
                    self.insert(u64::from_le_bytes(b));
                }
            }
            HLL_SPARSE => {
                let (n, rest) = read_u32(payload, "HLL")?;
                if rest.len() != n * 3 {
                    return Err(invalid("HLL", "truncated register list"));
                }
                self.switch_to_registers();
                if let HllRepr::Registers(ours) = &mut self.repr {
                    for entry in rest.chunks_exact(3) {
                        let index = u16::from_le_bytes([entry[0], entry[1]]) as usize;
                        let Some(r) = ours.get_mut(index) else {
                            return Err(invalid("HLL", "register index out of range"));
                        };
                        *r = (*r).max(entry[2]);
                    }
                }
            }
            HLL_DENSE => {
                if payload.len() != HLL_REGISTERS {
                    return Err(invalid("HLL", "wrong register count"));
                }
                self.switch_to_registers();
                if let HllRepr::Registers(ours) = &mut self.repr {
                    for (a, b) in ours.iter_mut().zip(payload) {
                        *a = (*a).max(*b);
                    }
                }
            }
            other => return Err(invalid("HLL", format!("unknown kind {other}"))),
        }
        Ok(())
    }

    /// Decodes an encoded sketch.
    pub fn from_bytes(bytes: &[u8]) -> Result<Hll, SqlError> {
        let mut hll = Hll::new();
        hll.merge_bytes(bytes)?;
        Ok(hll)
    }

    /// The encoding of this sketch.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.repr {
            HllRepr::Explicit(hashes) if hashes.is_empty() => Self::empty_bytes(),
            HllRepr::Explicit(hashes) => {
                let mut out = Vec::with_capacity(6 + hashes.len() * 8);
                out.extend_from_slice(&[HLL_TAG, HLL_EXPLICIT]);
                out.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
                for h in hashes {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            HllRepr::Registers(registers) => {
                let set = registers.iter().filter(|&&r| r != 0).count();
                if set * 3 < HLL_REGISTERS {
                    let mut out = Vec::with_capacity(6 + set * 3);
                    out.extend_from_slice(&[HLL_TAG, HLL_SPARSE]);
                    out.extend_from_slice(&(set as u32).to_le_bytes());
                    for (i, &r) in registers.iter().enumerate() {
                        if r != 0 {
                            out.extend_from_slice(&(i as u16).to_le_bytes());
                            out.push(r);
                        }
                    }
                    out
                } else {
                    let mut out = Vec::with_capacity(2 + HLL_REGISTERS);
                    out.extend_from_slice(&[HLL_TAG, HLL_DENSE]);
                    out.extend_from_slice(registers);
                    out
                }
            }
        }
    }

    /// The estimated number of distinct values: exact while the hashes are kept, else the
    /// HyperLogLog estimate with linear counting for small cardinalities.
    pub fn estimate(&self) -> u64 {
        match &self.repr {
            HllRepr::Explicit(hashes) => hashes.len() as u64,
            HllRepr::Registers(registers) => {
                let m = HLL_REGISTERS as f64;
                let mut sum = 0.0;
                let mut zeros = 0usize;
                for &r in registers.iter() {
                    sum += 1.0 / (1u64 << r) as f64;
                    zeros += usize::from(r == 0);
                }
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let raw = alpha * m * m / sum;
                let estimate = if raw <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    raw
                };
                estimate.round() as u64
            }
        }
    }
}

fn set_register(registers: &mut [u8], hash: u64) {
    let index = (hash & (HLL_REGISTERS as u64 - 1)) as usize;
    let rest = hash >> HLL_PRECISION;
    // The position of the lowest set bit of the remaining 50 bits, 1-based (51 if none).
    let rank = (rest.trailing_zeros().min(64 - HLL_PRECISION) + 1) as u8;
    if registers[index] < rank {
        registers[index] = rank;
    }
}

/// A set of unsigned 64-bit integers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bitmap {
    set: RoaringTreemap,
}

impl Bitmap {
    /// An empty bitmap.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoding of an empty bitmap.
    pub fn empty_bytes() -> Vec<u8> {
        vec![BITMAP_TAG, KIND_EMPTY]
    }

    /// The encoding of a bitmap holding one value, without building the bitmap.
    pub fn single_bytes(value: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        out.extend_from_slice(&[BITMAP_TAG, BITMAP_SINGLE]);
        out.extend_from_slice(&value.to_le_bytes());
        out
    }

    /// Adds a value.
    pub fn insert(&mut self, value: u64) {
        self.set.insert(value);
    }

    /// Whether the value is in the set.
    pub fn contains(&self, value: u64) -> bool {
        self.set.contains(value)
    }

    /// The number of values.
    pub fn len(&self) -> u64 {
        self.set.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The smallest value.
    pub fn min(&self) -> Option<u64> {
        self.set.min()
    }

    /// The largest value.
    pub fn max(&self) -> Option<u64> {
        self.set.max()
    }

    /// The values in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.set.iter()
    }

    /// Adds every value of another bitmap.
    pub fn union_with(&mut self, other: &Bitmap) {
        self.set |= &other.set;
    }

    /// Keeps the values also in another bitmap.
    pub fn intersect_with(&mut self, other: &Bitmap) {
        self.set &= &other.set;
    }

    /// Removes the values of another bitmap.
    pub fn difference_with(&mut self, other: &Bitmap) {
        self.set -= &other.set;
    }

    /// Keeps the values in exactly one of the two bitmaps.
    pub fn symmetric_difference_with(&mut self, other: &Bitmap) {
        self.set ^= &other.set;
    }

    /// Whether the two bitmaps share a value.
    pub fn intersects(&self, other: &Bitmap) -> bool {
        !self.set.is_disjoint(&other.set)
    }

    /// Adds every value of an encoded bitmap; a single value is added without decoding a
    /// bitmap first.
    pub fn union_bytes(&mut self, bytes: &[u8]) -> Result<(), SqlError> {
        let (kind, payload) = kind_and_payload(bytes, BITMAP_TAG, "BITMAP")?;
        match kind {
            KIND_EMPTY => {}
            BITMAP_SINGLE => self.insert(read_single(payload)?),
            _ => self.union_with(&Bitmap::from_bytes(bytes)?),
        }
        Ok(())
    }

    /// Decodes an encoded bitmap.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bitmap, SqlError> {
        let (kind, payload) = kind_and_payload(bytes, BITMAP_TAG, "BITMAP")?;
        let mut bitmap = Bitmap::new();
        match kind {
            KIND_EMPTY => {}
            BITMAP_SINGLE => bitmap.insert(read_single(payload)?),
            BITMAP_ROARING => {
                bitmap.set =
                    RoaringTreemap::deserialize_from(payload).map_err(|e| invalid("BITMAP", e))?;
            }
            other => return Err(invalid("BITMAP", format!("unknown kind {other}"))),
        }
        Ok(bitmap)
    }

    /// The number of values of an encoded bitmap, decoding it only when it holds several.
    pub fn count_bytes(bytes: &[u8]) -> Result<u64, SqlError> {
        let (kind, payload) = kind_and_payload(bytes, BITMAP_TAG, "BITMAP")?;
        match kind {
            KIND_EMPTY => Ok(0),
            BITMAP_SINGLE => read_single(payload).map(|_| 1),
            _ => Ok(Bitmap::from_bytes(bytes)?.len()),
        }
    }

    /// The encoding of this bitmap.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self.set.len() {
            0 => Self::empty_bytes(),
            1 => Self::single_bytes(self.set.min().unwrap_or_default()),
            _ => {
                let mut out = Vec::with_capacity(2 + self.set.serialized_size());
                out.extend_from_slice(&[BITMAP_TAG, BITMAP_ROARING]);
                // Writing into a Vec cannot fail.
                let _ = self.set.serialize_into(&mut out);
                out
            }
        }
    }

    /// The values separated by commas, in ascending order (`bitmap_to_string`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, v) in self.set.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&v.to_string());
        }
        out
    }

    /// Parses comma-separated unsigned integers (`bitmap_from_string`); `None` when any is
    /// not one.
    pub fn from_text(text: &str) -> Option<Bitmap> {
        let mut bitmap = Bitmap::new();
        let text = text.trim();
        if text.is_empty() {
            return Some(bitmap);
        }
        for part in text.split(',') {
            bitmap.insert(part.trim().parse::<u64>().ok()?);
        }
        Some(bitmap)
    }
}

impl FromIterator<u64> for Bitmap {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        Bitmap {
            set: iter.into_iter().collect(),
        }
    }
}

fn read_single(payload: &[u8]) -> Result<u64, SqlError> {
    let bytes: [u8; 8] = payload
        .try_into()
        .map_err(|_| invalid("BITMAP", "truncated"))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Checks that a value is an encoded HLL.
pub fn validate_hll(bytes: &[u8]) -> Result<(), SqlError> {
    Hll::from_bytes(bytes).map(|_| ())
}

/// Checks that a value is an encoded BITMAP.
pub fn validate_bitmap(bytes: &[u8]) -> Result<(), SqlError> {
    Bitmap::from_bytes(bytes).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hll_of(range: std::ops::Range<u64>) -> Hll {
        let mut h = Hll::new();
        for v in range {
            h.insert(hll_hash(v.to_string().as_bytes()));
        }
        h
    }

    #[test]
    fn hll_counts_small_sets_exactly() {
        let h = hll_of(0..100);
        assert_eq!(h.estimate(), 100);
        let mut again = h.clone();
        again.merge(&hll_of(50..150));
        assert_eq!(again.estimate(), 150);
        assert_eq!(Hll::from_bytes(&h.to_bytes()).unwrap(), h);
        assert_eq!(Hll::from_bytes(&Hll::empty_bytes()).unwrap().estimate(), 0);
    }

    #[test]
    fn hll_estimates_within_its_error() {
        for n in [1_000u64, 20_000, 1_000_000] {
            let h = hll_of(0..n);
            let e = h.estimate() as f64;
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < 0.03, "n={n} estimate={e}");
            // Sparse and dense encodings both round-trip.
            let back = Hll::from_bytes(&h.to_bytes()).unwrap();
            assert_eq!(back.estimate(), h.estimate());
        }
        assert_eq!(hll_of(0..1000).to_bytes()[1], HLL_SPARSE);
        assert_eq!(hll_of(0..1_000_000).to_bytes()[1], HLL_DENSE);
    }

    #[test]
    fn hll_merge_is_a_union() {
        let a = hll_of(0..30_000);
        let b = hll_of(20_000..50_000);
        let mut u = a.clone();
        u.merge_bytes(&b.to_bytes()).unwrap();
        let mut direct = hll_of(0..50_000);
        assert_eq!(u.estimate(), direct.estimate());
        // Merging explicit hashes into registers and registers into explicit agree.
        let small = hll_of(0..10);
        direct.merge(&small);
        let mut other = small.clone();
        other.merge(&hll_of(0..50_000));
        assert_eq!(direct.estimate(), other.estimate());
        let mut single = Hll::new();
        single.merge_bytes(&Hll::single_bytes(42)).unwrap();
        assert_eq!(single.estimate(), 1);
    }

    #[test]
    fn bitmap_round_trips_every_kind() {
        for values in [vec![], vec![7u64], vec![1, 5, u64::MAX, 1 << 40]] {
            let b: Bitmap = values.iter().copied().collect();
            let back = Bitmap::from_bytes(&b.to_bytes()).unwrap();
            assert_eq!(back.iter().collect::<Vec<_>>(), {
                let mut v = values.clone();
                v.sort();
                v
            });
            assert_eq!(
                Bitmap::count_bytes(&b.to_bytes()).unwrap(),
                values.len() as u64
            );
        }
        let mut u = Bitmap::new();
        u.union_bytes(&Bitmap::single_bytes(3)).unwrap();
        u.union_bytes(&[1u64, 2].into_iter().collect::<Bitmap>().to_bytes())
            .unwrap();
        assert_eq!(u.to_text(), "1,2,3");
        assert_eq!(Bitmap::from_text(" 3, 1,2 ").unwrap().to_text(), "1,2,3");
        assert!(Bitmap::from_text("1,x").is_none());
        assert!(Bitmap::from_text("-1").is_none());
    }

    #[test]
    fn values_of_the_wrong_type_or_damaged_are_refused() {
        let e = Bitmap::from_bytes(&Hll::empty_bytes()).unwrap_err();
        assert!(e.message.contains("HLL value"), "{e}");
        let e = Hll::from_bytes(&Bitmap::single_bytes(1)).unwrap_err();
        assert!(e.message.contains("BITMAP value"), "{e}");
        assert!(Hll::from_bytes(b"hello").is_err());
        assert!(Hll::from_bytes(&[]).is_err());
        let mut bytes = hll_of(0..500).to_bytes();
        bytes.pop();
        assert!(Hll::from_bytes(&bytes).is_err());
        let mut bytes = [1u64, 2, 3].into_iter().collect::<Bitmap>().to_bytes();
        bytes.truncate(bytes.len() - 3);
        assert!(Bitmap::from_bytes(&bytes).is_err());
        assert!(Bitmap::from_bytes(&[BITMAP_TAG, BITMAP_SINGLE, 1, 2]).is_err());
    }
}
