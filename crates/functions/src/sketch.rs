//! StarRocks' HLL and BITMAP functions over the encodings of [`rigel_common::sketch`].
//!
//! Scalar: `hll_hash`, `hll_empty`, `hll_cardinality`, `to_bitmap`, `bitmap_empty`,
//! `bitmap_hash`, `bitmap_count`, `bitmap_to_string`, `bitmap_from_string`,
//! `bitmap_contains`, `bitmap_has_any`, `bitmap_or`, `bitmap_and`, `bitmap_xor`,
//! `bitmap_andnot`, `bitmap_min`, `bitmap_max`, `bitmap_to_array`.
//! Aggregate: `hll_union` (`hll_raw_agg`), `hll_union_agg`, `bitmap_union`,
//! `bitmap_union_count`, `bitmap_union_int`, `bitmap_agg`, `bitmap_intersect`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, Int64Array, ListArray,
    StringArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use rigel_common::sketch::{Bitmap, Hll, hll_hash};
use rigel_common::types::TYPE_METADATA_KEY;
use rigel_common::{ColumnType, SqlError};

fn sketch_error(e: SqlError) -> DataFusionError {
    DataFusionError::Execution(e.message)
}

/// The argument as a `Binary` array (a NULL literal becomes all NULLs; text is checked by
/// the decoders, which refuse it).
fn binary(arr: &ArrayRef) -> Result<ArrayRef> {
    Ok(match arr.data_type() {
        DataType::Binary => Arc::clone(arr),
        _ => cast(arr, &DataType::Binary)?,
    })
}

/// The argument as unsigned 64-bit integers: integers as they are, text parsed; a negative
/// or non-integer value is `None`, as StarRocks ignores it.
fn unsigned_values(arr: &ArrayRef) -> Result<Vec<Option<u64>>> {
    use DataType::*;
    Ok(match arr.data_type() {
        UInt8 | UInt16 | UInt32 | UInt64 => cast(arr, &UInt64)?
            .as_primitive::<UInt64Type>()
            .iter()
            .collect(),
        Int8 | Int16 | Int32 | Int64 | Boolean => cast(arr, &Int64)?
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.and_then(|v| u64::try_from(v).ok()))
            .collect(),
        Null => vec![None; arr.len()],
        _ => cast(arr, &Utf8)?
            .as_string::<i32>()
            .iter()
            .map(|v| v.and_then(|s| s.trim().parse::<u64>().ok()))
            .collect(),
    })
}

fn strings(arr: &ArrayRef) -> Result<ArrayRef> {
    Ok(match arr.data_type() {
        DataType::Utf8 => Arc::clone(arr),
        _ => cast(arr, &DataType::Utf8)?,
    })
}

/// A result field; sketches carry their StarRocks type, which tells them from VARBINARY
/// (the MySQL layer sends them as NULL, `COUNT(DISTINCT)` counts their values).
fn sketch_field(name: &str, ty: DataType, sketch: Option<ColumnType>, nullable: bool) -> FieldRef {
    let field = Field::new(name, ty, nullable);
    Arc::new(match sketch {
        Some(t) => field.with_metadata(HashMap::from([(
            TYPE_METADATA_KEY.to_string(),
            t.to_string(),
        )])),
        None => field,
    })
}

/// A sketch of each value's hash (of its text form); NULL gives the empty sketch.
fn hash_each(
    arg: &ArrayRef,
    single: impl Fn(u64) -> Vec<u8>,
    empty: impl Fn() -> Vec<u8>,
) -> Result<ArrayRef> {
    let text = strings(arg)?;
    let out: BinaryArray = text
        .as_string::<i32>()
        .iter()
        .map(|v| Some(v.map_or_else(&empty, |s| single(hll_hash(s.as_bytes())))))
        .collect();
    Ok(Arc::new(out))
}

/// Decodes each bitmap of a column (`None` for NULL).
fn bitmaps(arr: &ArrayRef) -> Result<Vec<Option<Bitmap>>> {
    let arr = binary(arr)?;
    arr.as_binary::<i32>()
        .iter()
        .map(|v| v.map(Bitmap::from_bytes).transpose().map_err(sketch_error))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ScalarOp {
    HllHash,
    HllEmpty,
    HllCardinality,
    ToBitmap,
    BitmapEmpty,
    BitmapHash,
    BitmapCount,
    BitmapToString,
    BitmapFromString,
    BitmapContains,
    BitmapHasAny,
    BitmapOr,
    BitmapAnd,
    BitmapXor,
    BitmapAndNot,
    BitmapMin,
    BitmapMax,
    BitmapToArray,
}

impl ScalarOp {
    const ALL: [ScalarOp; 18] = [
        ScalarOp::HllHash,
        ScalarOp::HllEmpty,
        ScalarOp::HllCardinality,
        ScalarOp::ToBitmap,
        ScalarOp::BitmapEmpty,
        ScalarOp::BitmapHash,
        ScalarOp::BitmapCount,
        ScalarOp::BitmapToString,
        ScalarOp::BitmapFromString,
        ScalarOp::BitmapContains,
        ScalarOp::BitmapHasAny,
        ScalarOp::BitmapOr,
        ScalarOp::BitmapAnd,
        ScalarOp::BitmapXor,
        ScalarOp::BitmapAndNot,
        ScalarOp::BitmapMin,
        ScalarOp::BitmapMax,
        ScalarOp::BitmapToArray,
    ];

    fn name(self) -> &'static str {
        match self {
            ScalarOp::HllHash => "hll_hash",
            ScalarOp::HllEmpty => "hll_empty",
            ScalarOp::HllCardinality => "hll_cardinality",
            ScalarOp::ToBitmap => "to_bitmap",
            ScalarOp::BitmapEmpty => "bitmap_empty",
            ScalarOp::BitmapHash => "bitmap_hash",
            ScalarOp::BitmapCount => "bitmap_count",
            ScalarOp::BitmapToString => "bitmap_to_string",
            ScalarOp::BitmapFromString => "bitmap_from_string",
            ScalarOp::BitmapContains => "bitmap_contains",
            ScalarOp::BitmapHasAny => "bitmap_has_any",
            ScalarOp::BitmapOr => "bitmap_or",
            ScalarOp::BitmapAnd => "bitmap_and",
            ScalarOp::BitmapXor => "bitmap_xor",
            ScalarOp::BitmapAndNot => "bitmap_andnot",
            ScalarOp::BitmapMin => "bitmap_min",
            ScalarOp::BitmapMax => "bitmap_max",
            ScalarOp::BitmapToArray => "bitmap_to_array",
        }
    }

    fn arity(self) -> usize {
        match self {
            ScalarOp::HllEmpty | ScalarOp::BitmapEmpty => 0,
            ScalarOp::BitmapContains
            | ScalarOp::BitmapHasAny
            | ScalarOp::BitmapOr
            | ScalarOp::BitmapAnd
            | ScalarOp::BitmapXor
            | ScalarOp::BitmapAndNot => 2,
            _ => 1,
        }
    }

    /// The StarRocks type of the result, for the ones that are sketches.
    fn sketch_type(self) -> Option<ColumnType> {
        match self {
            ScalarOp::HllHash | ScalarOp::HllEmpty => Some(ColumnType::Hll),
            _ if self.return_type() == DataType::Binary => Some(ColumnType::Bitmap),
            _ => None,
        }
    }

    fn return_type(self) -> DataType {
        match self {
            ScalarOp::HllCardinality
            | ScalarOp::BitmapCount
            | ScalarOp::BitmapMin
            | ScalarOp::BitmapMax => DataType::Int64,
            ScalarOp::BitmapToString => DataType::Utf8,
            ScalarOp::BitmapContains | ScalarOp::BitmapHasAny => DataType::Boolean,
            ScalarOp::BitmapToArray => {
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
            }
            _ => DataType::Binary,
        }
    }

    fn eval(self, args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        let out: ArrayRef = match self {
            ScalarOp::HllEmpty => Arc::new(BinaryArray::from_iter_values(std::iter::repeat_n(
                Hll::empty_bytes(),
                rows,
            ))),
            ScalarOp::BitmapEmpty => Arc::new(BinaryArray::from_iter_values(std::iter::repeat_n(
                Bitmap::empty_bytes(),
                rows,
            ))),
            // NULL hashes to an empty sketch, so a NOT NULL HLL column can take it.
            ScalarOp::HllHash => hash_each(&args[0], Hll::single_bytes, Hll::empty_bytes)?,
            ScalarOp::HllCardinality => {
                let arr = binary(&args[0])?;
                let out: Int64Array = arr
                    .as_binary::<i32>()
                    .iter()
                    .map(|v| {
                        v.map(|b| Hll::from_bytes(b).map(|h| h.estimate() as i64))
                            .transpose()
                            .map_err(sketch_error)
                    })
                    .collect::<Result<_>>()?;
                Arc::new(out)
            }
            ScalarOp::ToBitmap => {
                let out: BinaryArray = unsigned_values(&args[0])?
                    .into_iter()
                    .map(|v| v.map(Bitmap::single_bytes))
                    .collect();
                Arc::new(out)
            }
            ScalarOp::BitmapHash => hash_each(
                &args[0],
                |h| Bitmap::single_bytes(h as u32 as u64),
                Bitmap::empty_bytes,
            )?,
            ScalarOp::BitmapCount => {
                let arr = binary(&args[0])?;
                let out: Int64Array = arr
                    .as_binary::<i32>()
                    .iter()
                    .map(|v| match v {
                        Some(b) => Bitmap::count_bytes(b).map(|n| Some(n as i64)),
                        // StarRocks counts a NULL bitmap as empty.
                        None => Ok(Some(0)),
                    })
                    .collect::<std::result::Result<_, _>>()
                    .map_err(sketch_error)?;
                Arc::new(out)
            }
            ScalarOp::BitmapToString => {
                let out: StringArray = bitmaps(&args[0])?
                    .into_iter()
                    .map(|b| b.map(|b| b.to_text()))
                    .collect();
                Arc::new(out)
            }
            ScalarOp::BitmapFromString => {
                let text = strings(&args[0])?;
                let out: BinaryArray = text
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.and_then(Bitmap::from_text).map(|b| b.to_bytes()))
                    .collect();
                Arc::new(out)
            }
            ScalarOp::BitmapMin | ScalarOp::BitmapMax => {
                let out: Int64Array = bitmaps(&args[0])?
                    .into_iter()
                    .map(|b| {
                        let v = b.and_then(|b| {
                            if self == ScalarOp::BitmapMin {
                                b.min()
                            } else {
                                b.max()
                            }
                        })?;
                        i64::try_from(v).ok()
                    })
                    .collect();
                Arc::new(out)
            }
            ScalarOp::BitmapToArray => {
                let mut offsets = vec![0usize];
                let mut values = vec![];
                let mut valid = vec![];
                for b in bitmaps(&args[0])? {
                    valid.push(b.is_some());
                    if let Some(b) = b {
                        values.extend(b.iter().map(|v| i64::try_from(v).ok()));
                    }
                    offsets.push(values.len());
                }
                Arc::new(ListArray::try_new(
                    Arc::new(Field::new("item", DataType::Int64, true)),
                    OffsetBuffer::from_lengths(offsets.windows(2).map(|w| w[1] - w[0])),
                    Arc::new(Int64Array::from(values)),
                    Some(valid.into()),
                )?)
            }
            ScalarOp::BitmapContains => {
                let values = unsigned_values(&args[1])?;
                let out: BooleanArray = bitmaps(&args[0])?
                    .into_iter()
                    .zip(values)
                    .map(|(b, v)| match (b, v) {
                        (Some(b), Some(v)) => Some(b.contains(v)),
                        (Some(_), None) => Some(false),
                        _ => None,
                    })
                    .collect();
                Arc::new(out)
            }
            ScalarOp::BitmapHasAny => {
                let out: BooleanArray = bitmaps(&args[0])?
                    .into_iter()
                    .zip(bitmaps(&args[1])?)
                    .map(|(a, b)| Some(a?.intersects(&b?)))
                    .collect();
                Arc::new(out)
            }
            ScalarOp::BitmapOr
            | ScalarOp::BitmapAnd
            | ScalarOp::BitmapXor
            | ScalarOp::BitmapAndNot => {
                let mut out = BinaryBuilder::new();
                for (a, b) in bitmaps(&args[0])?.into_iter().zip(bitmaps(&args[1])?) {
                    match (a, b) {
                        (Some(mut a), Some(b)) => {
                            match self {
                                ScalarOp::BitmapOr => a.union_with(&b),
                                ScalarOp::BitmapAnd => a.intersect_with(&b),
                                ScalarOp::BitmapXor => a.symmetric_difference_with(&b),
                                _ => a.difference_with(&b),
                            }
                            out.append_value(a.to_bytes());
                        }
                        _ => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
        };
        Ok(out)
    }
}

/// One HLL or BITMAP scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchFunction {
    op: ScalarOp,
    signature: Signature,
}

impl ScalarUDFImpl for SketchFunction {
    fn name(&self) -> &str {
        self.op.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.op.return_type())
    }
    fn return_field_from_args(&self, _: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(sketch_field(
            self.name(),
            self.op.return_type(),
            self.op.sketch_type(),
            true,
        ))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let out = self.op.eval(&arrays, rows)?;
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// The scalar functions.
pub fn functions() -> Vec<ScalarUDF> {
    ScalarOp::ALL
        .into_iter()
        .map(|op| {
            let signature = match op.arity() {
                0 => Signature::new(TypeSignature::Nullary, Volatility::Immutable),
                n => Signature::any(n, Volatility::Immutable),
            };
            ScalarUDF::new_from_impl(SketchFunction { op, signature })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AggOp {
    HllUnion,
    HllUnionAgg,
    BitmapUnion,
    BitmapUnionCount,
    BitmapUnionInt,
    BitmapAgg,
    BitmapIntersect,
}

impl AggOp {
    fn name(self) -> &'static str {
        match self {
            AggOp::HllUnion => "hll_union",
            AggOp::HllUnionAgg => "hll_union_agg",
            AggOp::BitmapUnion => "bitmap_union",
            AggOp::BitmapUnionCount => "bitmap_union_count",
            AggOp::BitmapUnionInt => "bitmap_union_int",
            AggOp::BitmapAgg => "bitmap_agg",
            AggOp::BitmapIntersect => "bitmap_intersect",
        }
    }

    fn return_type(self) -> DataType {
        match self {
            AggOp::HllUnionAgg | AggOp::BitmapUnionCount | AggOp::BitmapUnionInt => DataType::Int64,
            _ => DataType::Binary,
        }
    }
}

/// One HLL or BITMAP aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchAggregate {
    op: AggOp,
    aliases: Vec<String>,
    signature: Signature,
}

impl AggregateUDFImpl for SketchAggregate {
    fn name(&self) -> &str {
        self.op.name()
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.op.return_type())
    }
    fn is_nullable(&self) -> bool {
        self.op == AggOp::BitmapIntersect
    }
    fn return_field(&self, _: &[FieldRef]) -> Result<FieldRef> {
        let sketch = match self.op {
            AggOp::HllUnion => Some(ColumnType::Hll),
            AggOp::BitmapUnion | AggOp::BitmapAgg | AggOp::BitmapIntersect => {
                Some(ColumnType::Bitmap)
            }
            _ => None,
        };
        Ok(sketch_field(
            self.name(),
            self.op.return_type(),
            sketch,
            self.is_nullable(),
        ))
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let state = match self.op {
            AggOp::HllUnion | AggOp::HllUnionAgg => State::Hll(Hll::new()),
            AggOp::BitmapIntersect => State::Intersect(None),
            _ => State::Bitmap(Bitmap::new()),
        };
        Ok(Box::new(SketchAccumulator { op: self.op, state }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "sketch"),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
enum State {
    Hll(Hll),
    Bitmap(Bitmap),
    /// The intersection so far; `None` before the first value.
    Intersect(Option<Bitmap>),
}

#[derive(Debug)]
struct SketchAccumulator {
    op: AggOp,
    state: State,
}

impl SketchAccumulator {
    /// Adds encoded sketches (input values or partial states).
    fn add_encoded(&mut self, arr: &ArrayRef) -> Result<()> {
        let arr = binary(arr)?;
        for v in arr.as_binary::<i32>().iter().flatten() {
            match &mut self.state {
                State::Hll(h) => h.merge_bytes(v).map_err(sketch_error)?,
                State::Bitmap(b) => b.union_bytes(v).map_err(sketch_error)?,
                State::Intersect(acc) => {
                    let b = Bitmap::from_bytes(v).map_err(sketch_error)?;
                    match acc {
                        Some(acc) => acc.intersect_with(&b),
                        None => *acc = Some(b),
                    }
                }
            }
        }
        Ok(())
    }
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(input) = values.first() else {
            return exec_err!("{} takes one argument", self.op.name());
        };
        match (&mut self.state, self.op) {
            (State::Bitmap(b), AggOp::BitmapUnionInt | AggOp::BitmapAgg) => {
                for v in unsigned_values(input)?.into_iter().flatten() {
                    b.insert(v);
                }
                Ok(())
            }
            _ => self.add_encoded(input),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        match states.first() {
            Some(s) => self.add_encoded(s),
            None => exec_err!("{}: no partial state", self.op.name()),
        }
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(match &self.state {
            State::Hll(h) => Some(h.to_bytes()),
            State::Bitmap(b) => Some(b.to_bytes()),
            State::Intersect(b) => b.as_ref().map(Bitmap::to_bytes),
        })])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match (&self.state, self.op) {
            (State::Hll(h), AggOp::HllUnionAgg) => ScalarValue::Int64(Some(h.estimate() as i64)),
            (State::Hll(h), _) => ScalarValue::Binary(Some(h.to_bytes())),
            (State::Bitmap(b), AggOp::BitmapUnionCount | AggOp::BitmapUnionInt) => {
                ScalarValue::Int64(Some(b.len() as i64))
            }
            (State::Bitmap(b), _) => ScalarValue::Binary(Some(b.to_bytes())),
            (State::Intersect(b), _) => ScalarValue::Binary(b.as_ref().map(Bitmap::to_bytes)),
        })
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + match &self.state {
                State::Hll(h) => h.to_bytes().len(),
                State::Bitmap(b) | State::Intersect(Some(b)) => (b.len() as usize) / 4 + 64,
                State::Intersect(None) => 0,
            }
    }
}

fn aggregate(op: AggOp, aliases: &[&str]) -> AggregateUDF {
    AggregateUDF::new_from_impl(SketchAggregate {
        op,
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// `hll_union`: the union of HLL sketches (merges HLL_UNION columns).
pub fn hll_union_udaf() -> AggregateUDF {
    aggregate(AggOp::HllUnion, &["hll_raw_agg"])
}

/// `bitmap_union`: the union of bitmaps (merges BITMAP_UNION columns).
pub fn bitmap_union_udaf() -> AggregateUDF {
    aggregate(AggOp::BitmapUnion, &[])
}

/// `bitmap_union_count`: the number of values in the union of bitmaps.
pub fn bitmap_union_count_udaf() -> AggregateUDF {
    aggregate(AggOp::BitmapUnionCount, &[])
}

/// `hll_union_agg`: the estimated number of values in the union of HLL sketches.
pub fn hll_union_agg_udaf() -> AggregateUDF {
    aggregate(AggOp::HllUnionAgg, &[])
}

/// The aggregate functions.
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![
        hll_union_udaf(),
        hll_union_agg_udaf(),
        bitmap_union_udaf(),
        bitmap_union_count_udaf(),
        aggregate(AggOp::BitmapUnionInt, &[]),
        aggregate(AggOp::BitmapAgg, &[]),
        aggregate(AggOp::BitmapIntersect, &[]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(op: ScalarOp, args: Vec<ArrayRef>) -> ArrayRef {
        let rows = args.first().map_or(1, |a| a.len());
        op.eval(&args, rows).unwrap()
    }

    #[test]
    fn to_bitmap_and_back() {
        let input: ArrayRef = Arc::new(Int64Array::from(vec![Some(10), Some(-5), None]));
        let bitmaps = eval(ScalarOp::ToBitmap, vec![input]);
        let text = eval(ScalarOp::BitmapToString, vec![bitmaps.clone()]);
        let text = text.as_string::<i32>();
        assert_eq!(text.value(0), "10");
        assert!(text.is_null(1) && text.is_null(2));
        let counts = eval(ScalarOp::BitmapCount, vec![bitmaps]);
        let counts = counts.as_primitive::<Int64Type>();
        assert_eq!(counts.values().to_vec(), vec![1, 0, 0]);
    }

    #[test]
    fn set_operations() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["1,2,3"]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["3,4"]));
        let a = eval(ScalarOp::BitmapFromString, vec![a]);
        let b = eval(ScalarOp::BitmapFromString, vec![b]);
        for (op, want) in [
            (ScalarOp::BitmapOr, "1,2,3,4"),
            (ScalarOp::BitmapAnd, "3"),
            (ScalarOp::BitmapXor, "1,2,4"),
            (ScalarOp::BitmapAndNot, "1,2"),
        ] {
            let out = eval(op, vec![a.clone(), b.clone()]);
            let text = eval(ScalarOp::BitmapToString, vec![out]);
            assert_eq!(text.as_string::<i32>().value(0), want, "{op:?}");
        }
        let has = eval(ScalarOp::BitmapHasAny, vec![a.clone(), b]);
        assert!(has.as_boolean().value(0));
        let four: ArrayRef = Arc::new(Int64Array::from(vec![4]));
        let has = eval(ScalarOp::BitmapContains, vec![a, four]);
        assert!(!has.as_boolean().value(0));
    }

    #[test]
    fn hll_functions_and_union() {
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values((0..1000).map(|i| i % 300)));
        let hashes = eval(ScalarOp::HllHash, vec![values]);
        let mut acc = SketchAccumulator {
            op: AggOp::HllUnionAgg,
            state: State::Hll(Hll::new()),
        };
        acc.update_batch(&[hashes]).unwrap();
        let ScalarValue::Int64(Some(n)) = acc.evaluate().unwrap() else {
            panic!("not a count")
        };
        assert!((290..=310).contains(&n), "{n}");
        // Partial states merge.
        let state = acc.state().unwrap()[0].to_array().unwrap();
        let mut other = SketchAccumulator {
            op: AggOp::HllUnionAgg,
            state: State::Hll(Hll::new()),
        };
        other.merge_batch(&[state]).unwrap();
        assert_eq!(other.evaluate().unwrap(), ScalarValue::Int64(Some(n)));
        // A BITMAP is not an HLL.
        let bitmap = eval(
            ScalarOp::ToBitmap,
            vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef],
        );
        let err = eval_err(ScalarOp::HllCardinality, vec![bitmap]);
        assert!(err.contains("Invalid HLL value"), "{err}");
    }

    fn eval_err(op: ScalarOp, args: Vec<ArrayRef>) -> String {
        let rows = args.first().map_or(1, |a| a.len());
        op.eval(&args, rows).unwrap_err().to_string()
    }

    #[test]
    fn bitmap_intersect_starts_from_the_first_value() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["1,2,3", "2,3,4", "3,9"]));
        let bitmaps = eval(ScalarOp::BitmapFromString, vec![a]);
        let mut acc = SketchAccumulator {
            op: AggOp::BitmapIntersect,
            state: State::Intersect(None),
        };
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Binary(None));
        acc.update_batch(&[bitmaps]).unwrap();
        let ScalarValue::Binary(Some(b)) = acc.evaluate().unwrap() else {
            panic!("no bitmap")
        };
        assert_eq!(Bitmap::from_bytes(&b).unwrap().to_text(), "3");
    }
}
