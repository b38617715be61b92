//! MySQL string functions with MySQL semantics where DataFusion's differ.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

fn utf8(arr: &ArrayRef) -> Result<ArrayRef> {
    Ok(match arr.data_type() {
        DataType::Utf8 => Arc::clone(arr),
        _ => cast(arr, &DataType::Utf8)?,
    })
}

fn finish(array: ArrayRef, args: &[ColumnarValue]) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// `length(s)`: the length in bytes, as in MySQL (`char_length` counts characters).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteLength {
    signature: Signature,
}

impl ScalarUDFImpl for ByteLength {
    fn name(&self) -> &str {
        "length"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arr = utf8(&args.args[0].to_array(args.number_rows)?)?;
        let s = arr.as_string::<i32>();
        let out: Int64Array = s.iter().map(|v| v.map(|v| v.len() as i64)).collect();
        finish(Arc::new(out), &args.args)
    }
}

/// `locate(substr, str[, pos])` and `instr(str, substr)`: 1-based position, 0 if absent.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Locate {
    name: &'static str,
    /// `instr` takes its arguments the other way round.
    swapped: bool,
    signature: Signature,
}

impl ScalarUDFImpl for Locate {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let a = utf8(&args.args[0].to_array(n)?)?;
        let b = utf8(&args.args[1].to_array(n)?)?;
        let (needle, hay) = if self.swapped { (b, a) } else { (a, b) };
        let pos = match args.args.get(2) {
            Some(p) => Some(cast(&p.to_array(n)?, &DataType::Int64)?),
            None => None,
        };
        let needle = needle.as_string::<i32>();
        let hay = hay.as_string::<i32>();
        let len = needle.len().max(hay.len());
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            if needle.is_null(i) || hay.is_null(i) {
                out.push(None);
                continue;
            }
            let start = match &pos {
                Some(p) if p.is_null(i) => {
                    out.push(None);
                    continue;
                }
                Some(p) => p
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(i),
                None => 1,
            };
            let h: Vec<char> = hay.value(i).chars().collect();
            let nd: Vec<char> = needle.value(i).chars().collect();
            if start < 1 || start as usize > h.len() + 1 {
                out.push(Some(0));
                continue;
            }
            let from = start as usize - 1;
            let found = (from..=h.len().saturating_sub(nd.len()))
                .find(|&k| k + nd.len() <= h.len() && h[k..k + nd.len()] == nd[..]);
            out.push(Some(found.map(|k| k as i64 + 1).unwrap_or(0)));
        }
        finish(Arc::new(Int64Array::from(out)), &args.args)
    }
}

/// `space(n)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Space {
    signature: Signature,
}

impl ScalarUDFImpl for Space {
    fn name(&self) -> &str {
        "space"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = cast(&args.args[0].to_array(args.number_rows)?, &DataType::Int64)?;
        let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let out: StringArray = n
            .iter()
            .map(|v| v.map(|v| " ".repeat(v.clamp(0, 1 << 20) as usize)))
            .collect();
        finish(Arc::new(out), &args.args)
    }
}

/// The string functions.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(ByteLength {
            signature: Signature::any(1, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Locate {
            name: "locate",
            swapped: false,
            signature: Signature::variadic_any(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Locate {
            name: "instr",
            swapped: true,
            signature: Signature::any(2, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Space {
            signature: Signature::any(1, Volatility::Immutable),
        }),
    ]
}
