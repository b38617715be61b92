//! Decoding COM_STMT_EXECUTE parameter values.

use std::collections::HashMap;
use std::io;

use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::io::ParseBuf;
use mysql_common::value::{BinValue, Value, ValueDeserializer};

/// Parameter types as last bound by the client (they persist across executions).
pub type BoundTypes = Vec<(ColumnType, ColumnFlags)>;

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "truncated COM_STMT_EXECUTE")
}

/// Decodes the parameter block of COM_STMT_EXECUTE (`buf` starts after the iteration count).
pub fn decode_params(
    buf: &[u8],
    num_params: usize,
    types: &mut BoundTypes,
    long_data: &HashMap<u16, Vec<u8>>,
) -> io::Result<Vec<Value>> {
    if num_params == 0 {
        return Ok(vec![]);
    }
    let bitmap_len = num_params.div_ceil(8);
    if buf.len() < bitmap_len + 1 {
        return Err(eof());
    }
    let (bitmap, rest) = buf.split_at(bitmap_len);
    let new_params_bound = rest[0];
    let mut rest = &rest[1..];
    if new_params_bound == 1 {
        if rest.len() < num_params * 2 {
            return Err(eof());
        }
        types.clear();
        for i in 0..num_params {
            let ty = ColumnType::try_from(rest[i * 2]).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown parameter type {}", rest[i * 2]),
                )
            })?;
            let flags = if rest[i * 2 + 1] & 0x80 != 0 {
                ColumnFlags::UNSIGNED_FLAG
            } else {
                ColumnFlags::empty()
            };
            types.push((ty, flags));
        }
        rest = &rest[num_params * 2..];
    } else if types.len() != num_params {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "parameter types were never bound",
        ));
    }
    let mut values = Vec::with_capacity(num_params);
    let mut pbuf = ParseBuf(rest);
    for (i, (ty, flags)) in types.iter().enumerate() {
        if let Some(data) = long_data.get(&(i as u16)) {
            values.push(Value::Bytes(data.clone()));
            continue;
        }
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            values.push(Value::NULL);
            continue;
        }
        let v: ValueDeserializer<BinValue> = pbuf.parse((*ty, *flags))?;
        values.push(v.0);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_int_string_null() {
        // 3 params: LONGLONG 42, VAR_STRING "hi", NULL (type LONGLONG).
        let mut buf = vec![0b100u8, 1];
        buf.extend_from_slice(&[8, 0, 253, 0, 8, 0]);
        buf.extend_from_slice(&42i64.to_le_bytes());
        buf.extend_from_slice(&[2, b'h', b'i']);
        let mut types = vec![];
        let v = decode_params(&buf, 3, &mut types, &HashMap::new()).unwrap();
        assert_eq!(
            v,
            vec![Value::Int(42), Value::Bytes(b"hi".to_vec()), Value::NULL]
        );
        // Re-execution without rebinding reuses the types.
        let mut buf2 = vec![0u8, 0];
        buf2.extend_from_slice(&7i64.to_le_bytes());
        buf2.extend_from_slice(&[1, b'x']);
        buf2.extend_from_slice(&1i64.to_le_bytes());
        let v = decode_params(&buf2, 3, &mut types, &HashMap::new()).unwrap();
        assert_eq!(v[0], Value::Int(7));
    }

    #[test]
    fn truncated_is_an_error() {
        let mut types = vec![];
        assert!(decode_params(&[0], 3, &mut types, &HashMap::new()).is_err());
        let buf = vec![0u8, 1, 8, 0];
        assert!(decode_params(&buf, 1, &mut types, &HashMap::new()).is_err());
    }
}
