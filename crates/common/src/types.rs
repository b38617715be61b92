//! StarRocks column types and their Arrow representation.
//!
//! The catalog stores [`ColumnType`]s; storage and execution only ever see the Arrow
//! [`DataType`] returned by [`ColumnType::to_arrow`]. Fields of table schemas carry the
//! StarRocks type name in their metadata ([`TYPE_METADATA_KEY`]) so the MySQL layer can report
//! exact column types (CHAR vs VARCHAR, JSON, LARGEINT) for columns read straight from tables.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde::{Deserialize, Serialize};

/// Field metadata key holding the StarRocks type name of a table column.
pub const TYPE_METADATA_KEY: &str = "rigel.type";
/// Field metadata key holding a column's unique id (stable across renames).
pub const COLUMN_ID_METADATA_KEY: &str = "rigel.uid";
/// Field metadata key: the text of the value rows written before a column existed read as
/// (the column's default at `ADD COLUMN` time). Absent means NULL.
pub const FILL_METADATA_KEY: &str = "rigel.fill";

/// Largest DECIMAL precision.
pub const MAX_DECIMAL_PRECISION: u8 = 38;
/// Largest VARCHAR length in bytes (StarRocks 2.1+).
pub const MAX_VARCHAR_LENGTH: u32 = 1_048_576;
/// The length STRING stands for.
pub const STRING_LENGTH: u32 = 65_533;
/// Largest CHAR length.
pub const MAX_CHAR_LENGTH: u32 = 255;

/// A StarRocks column type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// BOOLEAN
    Boolean,
    /// TINYINT (1 byte)
    TinyInt,
    /// SMALLINT (2 bytes)
    SmallInt,
    /// INT (4 bytes)
    Int,
    /// BIGINT (8 bytes)
    BigInt,
    /// LARGEINT (16 bytes)
    LargeInt,
    /// FLOAT
    Float,
    /// DOUBLE
    Double,
    /// DECIMAL(p, s)
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point, 0..=precision.
        scale: u8,
    },
    /// CHAR(n)
    Char(u32),
    /// VARCHAR(n); STRING is VARCHAR(65533).
    Varchar(u32),
    /// VARBINARY / BINARY
    Varbinary(u32),
    /// DATE
    Date,
    /// DATETIME (microsecond precision)
    Datetime,
    /// JSON, stored as its canonical text.
    Json,
    /// ARRAY<T>
    Array(Box<ColumnType>),
    /// MAP<K, V>
    Map(Box<ColumnType>, Box<ColumnType>),
    /// STRUCT<name type, ...>
    Struct(Vec<(String, ColumnType)>),
    /// HLL sketch.
    Hll,
    /// BITMAP.
    Bitmap,
}

impl ColumnType {
    /// The Arrow type this column is stored and processed as.
    pub fn to_arrow(&self) -> DataType {
        match self {
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::TinyInt => DataType::Int8,
            ColumnType::SmallInt => DataType::Int16,
            ColumnType::Int => DataType::Int32,
            ColumnType::BigInt => DataType::Int64,
            // Arrow has no 128-bit integer; a scale-0 decimal holds every LARGEINT value.
            ColumnType::LargeInt => DataType::Decimal128(MAX_DECIMAL_PRECISION, 0),
            ColumnType::Float => DataType::Float32,
            ColumnType::Double => DataType::Float64,
            ColumnType::Decimal { precision, scale } => {
                DataType::Decimal128(*precision, *scale as i8)
            }
            ColumnType::Char(_) | ColumnType::Varchar(_) | ColumnType::Json => DataType::Utf8,
            ColumnType::Varbinary(_) | ColumnType::Hll | ColumnType::Bitmap => DataType::Binary,
            ColumnType::Date => DataType::Date32,
            ColumnType::Datetime => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Array(inner) => DataType::List(Arc::new(inner.to_field("item", true))),
            ColumnType::Map(k, v) => {
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        k.to_field("key", false),
                        v.to_field("value", true),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            ColumnType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|(name, ty)| ty.to_field(name, true))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        }
    }

    /// An Arrow field of this type, with the StarRocks type name in its metadata.
    pub fn to_field(&self, name: &str, nullable: bool) -> Field {
        Field::new(name, self.to_arrow(), nullable).with_metadata(HashMap::from([(
            TYPE_METADATA_KEY.to_string(),
            self.to_string(),
        )]))
    }

    /// Can this type be a key column (DUPLICATE/AGGREGATE/UNIQUE/PRIMARY KEY)?
    pub fn can_be_key(&self) -> bool {
        !matches!(
            self,
            ColumnType::Float
                | ColumnType::Double
                | ColumnType::Json
                | ColumnType::Array(_)
                | ColumnType::Map(..)
                | ColumnType::Struct(_)
                | ColumnType::Hll
                | ColumnType::Bitmap
                | ColumnType::Varbinary(_)
        )
    }

    /// Can this type be a RANGE partition column?
    pub fn can_be_range_partition(&self) -> bool {
        matches!(
            self,
            ColumnType::TinyInt
                | ColumnType::SmallInt
                | ColumnType::Int
                | ColumnType::BigInt
                | ColumnType::LargeInt
                | ColumnType::Date
                | ColumnType::Datetime
        )
    }

    /// Is this a string type (CHAR/VARCHAR)?
    pub fn is_string(&self) -> bool {
        matches!(self, ColumnType::Char(_) | ColumnType::Varchar(_))
    }

    /// Byte-length limit of a string or binary column.
    pub fn max_length(&self) -> Option<u32> {
        match self {
            ColumnType::Char(n) | ColumnType::Varchar(n) | ColumnType::Varbinary(n) => Some(*n),
            _ => None,
        }
    }

    /// Checks the parameters of the type (precision, lengths), recursively.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ColumnType::Decimal { precision, scale } => {
                if *precision == 0 || *precision > MAX_DECIMAL_PRECISION {
                    return Err(format!(
                        "DECIMAL precision {precision} is out of range [1, {MAX_DECIMAL_PRECISION}]"
                    ));
                }
                if scale > precision {
                    return Err(format!(
                        "DECIMAL scale {scale} must not exceed its precision {precision}"
                    ));
                }
                Ok(())
            }
            ColumnType::Char(n) if *n == 0 || *n > MAX_CHAR_LENGTH => Err(format!(
                "CHAR length {n} is out of range [1, {MAX_CHAR_LENGTH}]"
            )),
            ColumnType::Varchar(n) | ColumnType::Varbinary(n)
                if *n == 0 || *n > MAX_VARCHAR_LENGTH =>
            {
                Err(format!(
                    "VARCHAR length {n} is out of range [1, {MAX_VARCHAR_LENGTH}]"
                ))
            }
            ColumnType::Array(inner) => inner.validate(),
            ColumnType::Map(k, v) => {
                if !k.is_scalar() {
                    return Err("MAP keys must be of a scalar type".to_string());
                }
                k.validate()?;
                v.validate()
            }
            ColumnType::Struct(fields) => {
                if fields.is_empty() {
                    return Err("STRUCT needs at least one field".to_string());
                }
                let mut seen = std::collections::HashSet::new();
                for (name, ty) in fields {
                    if !seen.insert(name.to_ascii_lowercase()) {
                        return Err(format!("duplicate STRUCT field name '{name}'"));
                    }
                    ty.validate()?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Is this a scalar (non-nested) type?
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self,
            ColumnType::Array(_) | ColumnType::Map(..) | ColumnType::Struct(_)
        )
    }

    /// Recovers the StarRocks type of an Arrow field: from its metadata when present,
    /// otherwise from the Arrow type alone.
    pub fn from_field(field: &Field) -> Option<ColumnType> {
        if let Some(name) = field.metadata().get(TYPE_METADATA_KEY)
            && let Ok(ty) = name.parse::<ColumnType>()
        {
            return Some(ty);
        }
        Self::from_arrow(field.data_type())
    }

    /// The StarRocks type closest to an Arrow type (used for CTAS and result metadata).
    pub fn from_arrow(dt: &DataType) -> Option<ColumnType> {
        Some(match dt {
            DataType::Boolean => ColumnType::Boolean,
            DataType::Int8 => ColumnType::TinyInt,
            DataType::Int16 | DataType::UInt8 => ColumnType::SmallInt,
            DataType::Int32 | DataType::UInt16 => ColumnType::Int,
            DataType::Int64 | DataType::UInt32 => ColumnType::BigInt,
            DataType::UInt64 => ColumnType::LargeInt,
            DataType::Float16 | DataType::Float32 => ColumnType::Float,
            DataType::Float64 => ColumnType::Double,
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
                ColumnType::Decimal {
                    precision: (*p).min(MAX_DECIMAL_PRECISION),
                    scale: (*s).max(0) as u8,
                }
            }
            DataType::Decimal256(p, s) => ColumnType::Decimal {
                precision: (*p).min(MAX_DECIMAL_PRECISION),
                scale: ((*s).max(0) as u8).min(MAX_DECIMAL_PRECISION),
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                ColumnType::Varchar(STRING_LENGTH)
            }
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => ColumnType::Varbinary(STRING_LENGTH),
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            DataType::Timestamp(_, _) => ColumnType::Datetime,
            DataType::Null => ColumnType::Boolean,
            DataType::Dictionary(_, v) => return Self::from_arrow(v),
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                ColumnType::Array(Box::new(Self::from_field(f)?))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => ColumnType::Map(
                    Box::new(Self::from_field(&fields[0])?),
                    Box::new(Self::from_field(&fields[1])?),
                ),
                _ => return None,
            },
            DataType::Struct(fields) => ColumnType::Struct(
                fields
                    .iter()
                    .map(|f| Some((f.name().clone(), Self::from_field(f)?)))
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        })
    }
}

/// Displays the type the way StarRocks' SHOW CREATE TABLE does; the text parses back to the
/// same type.
impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::TinyInt => f.write_str("tinyint(4)"),
            ColumnType::SmallInt => f.write_str("smallint(6)"),
            ColumnType::Int => f.write_str("int(11)"),
            ColumnType::BigInt => f.write_str("bigint(20)"),
            ColumnType::LargeInt => f.write_str("largeint(40)"),
            ColumnType::Float => f.write_str("float"),
            ColumnType::Double => f.write_str("double"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            ColumnType::Char(n) => write!(f, "char({n})"),
            ColumnType::Varchar(n) => write!(f, "varchar({n})"),
            ColumnType::Varbinary(n) => write!(f, "varbinary({n})"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Datetime => f.write_str("datetime"),
            ColumnType::Json => f.write_str("json"),
            ColumnType::Array(inner) => write!(f, "array<{inner}>"),
            ColumnType::Map(k, v) => write!(f, "map<{k},{v}>"),
            ColumnType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name} {ty}")?;
                }
                f.write_str(">")
            }
            ColumnType::Hll => f.write_str("hll"),
            ColumnType::Bitmap => f.write_str("bitmap"),
        }
    }
}

impl ColumnType {
    /// The short type name used by DESC and information_schema.columns.DATA_TYPE.
    pub fn data_type_name(&self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::TinyInt => "tinyint",
            ColumnType::SmallInt => "smallint",
            ColumnType::Int => "int",
            ColumnType::BigInt => "bigint",
            ColumnType::LargeInt => "largeint",
            ColumnType::Float => "float",
            ColumnType::Double => "double",
            ColumnType::Decimal { .. } => "decimal",
            ColumnType::Char(_) => "char",
            ColumnType::Varchar(_) => "varchar",
            ColumnType::Varbinary(_) => "varbinary",
            ColumnType::Date => "date",
            ColumnType::Datetime => "datetime",
            ColumnType::Json => "json",
            ColumnType::Array(_) => "array",
            ColumnType::Map(..) => "map",
            ColumnType::Struct(_) => "struct",
            ColumnType::Hll => "hll",
            ColumnType::Bitmap => "bitmap",
        }
    }
}

/// Parses the text form produced by `Display` (and the common StarRocks spellings).
impl std::str::FromStr for ColumnType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = TypeTextParser {
            s: s.as_bytes(),
            pos: 0,
        };
        let ty = p.parse()?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(format!("unexpected text after type in '{s}'"));
        }
        Ok(ty)
    }
}

/// A tiny recursive-descent parser for type text (metadata round trips and CAST targets).
struct TypeTextParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl TypeTextParser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
        {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.pos < self.s.len() && self.s[self.pos] == c {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        let w = self.word();
        w.parse::<u32>()
            .map_err(|_| format!("expected a number, found '{w}'"))
    }

    fn args(&mut self) -> Result<Vec<u32>, String> {
        let mut out = vec![];
        if self.eat(b'(') {
            loop {
                out.push(self.number()?);
                if self.eat(b')') {
                    break;
                }
                if !self.eat(b',') {
                    return Err("expected ',' or ')' in type arguments".to_string());
                }
            }
        }
        Ok(out)
    }

    fn parse(&mut self) -> Result<ColumnType, String> {
        let name = self.word().to_ascii_lowercase();
        let ty = match name.as_str() {
            "boolean" | "bool" => {
                self.args()?;
                ColumnType::Boolean
            }
            "tinyint" => {
                self.args()?;
                ColumnType::TinyInt
            }
            "smallint" => {
                self.args()?;
                ColumnType::SmallInt
            }
            "int" | "integer" => {
                self.args()?;
                ColumnType::Int
            }
            "bigint" => {
                self.args()?;
                ColumnType::BigInt
            }
            "largeint" => {
                self.args()?;
                ColumnType::LargeInt
            }
            "float" => ColumnType::Float,
            "double" => ColumnType::Double,
            "decimal" | "decimalv2" | "decimal32" | "decimal64" | "decimal128" | "numeric" => {
                let a = self.args()?;
                let precision = a.first().copied().unwrap_or(10);
                let scale = a.get(1).copied().unwrap_or(0);
                if precision > 255 || scale > 255 {
                    return Err("DECIMAL arguments are out of range".to_string());
                }
                ColumnType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                }
            }
            "char" => ColumnType::Char(self.args()?.first().copied().unwrap_or(1)),
            "varchar" => ColumnType::Varchar(self.args()?.first().copied().unwrap_or(1)),
            "string" | "text" => ColumnType::Varchar(STRING_LENGTH),
            "varbinary" | "binary" => {
                ColumnType::Varbinary(self.args()?.first().copied().unwrap_or(STRING_LENGTH))
            }
            "date" => ColumnType::Date,
            "datetime" | "timestamp" => {
                self.args()?;
                ColumnType::Datetime
            }
            "json" => ColumnType::Json,
            "hll" => ColumnType::Hll,
            "bitmap" => ColumnType::Bitmap,
            "array" => {
                if !self.eat(b'<') {
                    return Err("expected '<' after ARRAY".to_string());
                }
                let inner = self.parse()?;
                if !self.eat(b'>') {
                    return Err("expected '>' to close ARRAY".to_string());
                }
                ColumnType::Array(Box::new(inner))
            }
            "map" => {
                if !self.eat(b'<') {
                    return Err("expected '<' after MAP".to_string());
                }
                let k = self.parse()?;
                if !self.eat(b',') {
                    return Err("expected ',' in MAP".to_string());
                }
                let v = self.parse()?;
                if !self.eat(b'>') {
                    return Err("expected '>' to close MAP".to_string());
                }
                ColumnType::Map(Box::new(k), Box::new(v))
            }
            "struct" => {
                if !self.eat(b'<') {
                    return Err("expected '<' after STRUCT".to_string());
                }
                let mut fields = vec![];
                loop {
                    let fname = self.word();
                    if fname.is_empty() {
                        return Err("expected a STRUCT field name".to_string());
                    }
                    self.eat(b':');
                    let fty = self.parse()?;
                    fields.push((fname, fty));
                    if self.eat(b'>') {
                        break;
                    }
                    if !self.eat(b',') {
                        return Err("expected ',' or '>' in STRUCT".to_string());
                    }
                }
                ColumnType::Struct(fields)
            }
            "" => return Err("expected a type name".to_string()),
            other => return Err(format!("unknown type '{other}'")),
        };
        Ok(ty)
    }
}

/// A FLOAT or DOUBLE as MySQL and StarRocks write it, from Arrow's text of it: an integral
/// value has no fraction (`2.0` → `2`); other forms (`2.5`, `1e20`, `inf`) are as Arrow
/// writes them.
pub fn float_text(arrow_text: &str) -> &str {
    arrow_text.strip_suffix(".0").unwrap_or(arrow_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        let types = vec![
            ColumnType::Boolean,
            ColumnType::TinyInt,
            ColumnType::LargeInt,
            ColumnType::Decimal {
                precision: 38,
                scale: 10,
            },
            ColumnType::Char(10),
            ColumnType::Varchar(65533),
            ColumnType::Datetime,
            ColumnType::Json,
            ColumnType::Array(Box::new(ColumnType::Array(Box::new(ColumnType::Int)))),
            ColumnType::Map(
                Box::new(ColumnType::Varchar(10)),
                Box::new(ColumnType::Double),
            ),
            ColumnType::Struct(vec![
                ("a".to_string(), ColumnType::Int),
                ("b".to_string(), ColumnType::Varchar(20)),
            ]),
        ];
        for ty in types {
            let text = ty.to_string();
            assert_eq!(text.parse::<ColumnType>().unwrap(), ty, "{text}");
        }
    }

    #[test]
    fn string_is_varchar_65533() {
        assert_eq!(
            "STRING".parse::<ColumnType>().unwrap(),
            ColumnType::Varchar(STRING_LENGTH)
        );
    }

    #[test]
    fn validation() {
        assert!(
            ColumnType::Decimal {
                precision: 39,
                scale: 0
            }
            .validate()
            .is_err()
        );
        assert!(
            ColumnType::Decimal {
                precision: 5,
                scale: 6
            }
            .validate()
            .is_err()
        );
        assert!(ColumnType::Char(256).validate().is_err());
        assert!(ColumnType::Varchar(10).validate().is_ok());
    }
}
