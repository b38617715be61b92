//! Column types in StarRocks' grammar: `DECIMAL(27, 9)`, `VARCHAR(65533)`,
//! `ARRAY<MAP<INT, STRUCT<a INT, b STRING>>>` (nested `>>` included).

use datafusion::sql::sqlparser::tokenizer::Token;
use rigel_common::ColumnType;
use rigel_common::types::STRING_LENGTH;

use crate::parser::{PResult, StarRocksParser};

impl StarRocksParser<'_> {
    /// Parses a StarRocks type from tokens.
    pub(crate) fn parse_column_type(&mut self) -> PResult<ColumnType> {
        let mut pending_gt = 0usize;
        let ty = self.parse_type_inner(&mut pending_gt)?;
        if pending_gt > 0 {
            return self.error("unbalanced '>' in type");
        }
        Ok(ty)
    }

    pub(crate) fn type_args(&mut self) -> PResult<Vec<u64>> {
        let mut args = vec![];
        if self.parser.consume_token(&Token::LParen) {
            loop {
                args.push(self.uint()?);
                if self.parser.consume_token(&Token::Comma) {
                    continue;
                }
                self.expect_token(&Token::RParen)?;
                break;
            }
        }
        Ok(args)
    }

    pub(crate) fn expect_lt(&mut self) -> PResult<()> {
        self.expect_token(&Token::Lt)
    }

    /// Expects a `>`, splitting a `>>` token across two nested closes.
    pub(crate) fn expect_gt(&mut self, pending_gt: &mut usize) -> PResult<()> {
        if *pending_gt > 0 {
            *pending_gt -= 1;
            return Ok(());
        }
        let tok = self.parser.next_token();
        match tok.token {
            Token::Gt => Ok(()),
            Token::ShiftRight => {
                *pending_gt += 1;
                Ok(())
            }
            _ => self.parser.expected("'>'", tok),
        }
    }

    pub(crate) fn parse_type_inner(&mut self, pending_gt: &mut usize) -> PResult<ColumnType> {
        let tok = self.parser.next_token();
        let name = match &tok.token {
            Token::Word(w) => w.value.to_ascii_uppercase(),
            _ => return self.parser.expected("a data type", tok),
        };
        let arg_len = |args: &[u64], default: u32| -> u32 {
            args.first()
                .map(|&n| n.min(u32::MAX as u64) as u32)
                .unwrap_or(default)
        };
        let ty = match name.as_str() {
            "BOOLEAN" | "BOOL" => ColumnType::Boolean,
            "TINYINT" => {
                self.type_args()?;
                ColumnType::TinyInt
            }
            "SMALLINT" => {
                self.type_args()?;
                ColumnType::SmallInt
            }
            "INT" | "INTEGER" => {
                self.type_args()?;
                ColumnType::Int
            }
            "BIGINT" => {
                self.type_args()?;
                ColumnType::BigInt
            }
            "LARGEINT" => {
                self.type_args()?;
                ColumnType::LargeInt
            }
            "FLOAT" => {
                self.type_args()?;
                ColumnType::Float
            }
            "DOUBLE" => {
                self.type_args()?;
                ColumnType::Double
            }
            "DECIMAL" | "DECIMALV2" | "DECIMAL32" | "DECIMAL64" | "DECIMAL128" | "NUMERIC" => {
                let args = self.type_args()?;
                let precision = args.first().copied().unwrap_or(10);
                let scale = args.get(1).copied().unwrap_or(0);
                if precision > 255 || scale > 255 {
                    return self.error("DECIMAL precision is out of range");
                }
                ColumnType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                }
            }
            "CHAR" => ColumnType::Char(arg_len(&self.type_args()?, 1)),
            "VARCHAR" => ColumnType::Varchar(arg_len(&self.type_args()?, 1)),
            "STRING" | "TEXT" => ColumnType::Varchar(STRING_LENGTH),
            "BINARY" | "VARBINARY" => {
                ColumnType::Varbinary(arg_len(&self.type_args()?, STRING_LENGTH))
            }
            "DATE" => ColumnType::Date,
            "DATETIME" | "TIMESTAMP" => {
                self.type_args()?;
                ColumnType::Datetime
            }
            "JSON" => ColumnType::Json,
            "HLL" => {
                self.type_args()?;
                ColumnType::Hll
            }
            "BITMAP" => ColumnType::Bitmap,
            "ARRAY" => {
                self.expect_lt()?;
                let inner = self.parse_type_inner(pending_gt)?;
                self.expect_gt(pending_gt)?;
                ColumnType::Array(Box::new(inner))
            }
            "MAP" => {
                self.expect_lt()?;
                let k = self.parse_type_inner(pending_gt)?;
                self.expect_token(&Token::Comma)?;
                let v = self.parse_type_inner(pending_gt)?;
                self.expect_gt(pending_gt)?;
                ColumnType::Map(Box::new(k), Box::new(v))
            }
            "STRUCT" => {
                self.expect_lt()?;
                let mut fields = vec![];
                loop {
                    let fname = self.ident()?;
                    let _ = self.parser.consume_token(&Token::Colon);
                    let fty = self.parse_type_inner(pending_gt)?;
                    fields.push((fname, fty));
                    if *pending_gt == 0 && self.parser.consume_token(&Token::Comma) {
                        continue;
                    }
                    self.expect_gt(pending_gt)?;
                    break;
                }
                ColumnType::Struct(fields)
            }
            _ => {
                return Err(
                    datafusion::sql::sqlparser::parser::ParserError::ParserError(format!(
                        "unknown data type '{}' at Line: {}, Column: {}",
                        name, tok.span.start.line, tok.span.start.column
                    )),
                );
            }
        };
        Ok(ty)
    }
}
