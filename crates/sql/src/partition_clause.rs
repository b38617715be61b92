//! The PARTITION BY and DISTRIBUTED BY clauses of CREATE TABLE: RANGE, LIST and
//! expression partitioning, HASH and RANDOM distribution.

use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::ast::*;
use crate::parser::{PResult, StarRocksParser};

impl StarRocksParser<'_> {
    pub(crate) fn parse_partition_desc(&mut self) -> PResult<PartitionDesc> {
        if self.eat_word("RANGE") {
            let columns = self.ident_list()?;
            let partitions = self.parse_range_partition_list()?;
            return Ok(PartitionDesc::Range {
                columns,
                partitions,
            });
        }
        if self.eat_word("LIST") {
            let columns = self.ident_list()?;
            self.expect_token(&Token::LParen)?;
            let mut partitions = vec![];
            if !self.parser.consume_token(&Token::RParen) {
                loop {
                    self.expect_word("PARTITION")?;
                    self.eat_words(&["IF", "NOT", "EXISTS"]);
                    let name = self.ident()?;
                    self.expect_word("VALUES")?;
                    self.expect_word("IN")?;
                    partitions.push((name, self.parse_list_values()?));
                    if self.parser.consume_token(&Token::Comma) {
                        continue;
                    }
                    self.expect_token(&Token::RParen)?;
                    break;
                }
            }
            return Ok(PartitionDesc::List {
                columns,
                partitions,
            });
        }
        // Expression partitioning.
        if self.peek_is(&Token::LParen) {
            let args = self.ident_list()?;
            return Ok(PartitionDesc::Expr {
                function: None,
                args,
            });
        }
        let expr = self.parser.parse_expr()?;
        match expr {
            ast::Expr::Function(f) => {
                let args = match &f.args {
                    ast::FunctionArguments::List(list) => {
                        list.args.iter().map(|a| a.to_string()).collect()
                    }
                    _ => vec![],
                };
                Ok(PartitionDesc::Expr {
                    function: Some(f.name.to_string().to_ascii_lowercase()),
                    args,
                })
            }
            ast::Expr::Identifier(ident) => Ok(PartitionDesc::Expr {
                function: None,
                args: vec![ident.value],
            }),
            other => self.error(format!("unsupported partition expression {other}")),
        }
    }

    /// `( ("a", "b"), ("c", "d") )` or `("a", "b")`: value tuples of a LIST partition.
    pub(crate) fn parse_list_values(&mut self) -> PResult<Vec<Vec<String>>> {
        self.expect_token(&Token::LParen)?;
        let mut out = vec![];
        loop {
            if self.parser.consume_token(&Token::LParen) {
                let mut tuple = vec![];
                loop {
                    tuple.push(self.value_text()?);
                    if self.parser.consume_token(&Token::Comma) {
                        continue;
                    }
                    self.expect_token(&Token::RParen)?;
                    break;
                }
                out.push(tuple);
            } else {
                out.push(vec![self.value_text()?]);
            }
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(&Token::RParen)?;
            break;
        }
        Ok(out)
    }

    pub(crate) fn parse_range_partition_list(&mut self) -> PResult<Vec<RangePartitionDef>> {
        self.expect_token(&Token::LParen)?;
        let mut out = vec![];
        if self.parser.consume_token(&Token::RParen) {
            return Ok(out);
        }
        loop {
            out.push(self.parse_range_partition_def()?);
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(&Token::RParen)?;
            break;
        }
        Ok(out)
    }

    /// `PARTITION p VALUES …` or `START (…) END (…) EVERY (…)`.
    pub(crate) fn parse_range_partition_def(&mut self) -> PResult<RangePartitionDef> {
        if self.eat_word("START") {
            self.expect_token(&Token::LParen)?;
            let start = self.value_text()?;
            self.expect_token(&Token::RParen)?;
            self.expect_word("END")?;
            self.expect_token(&Token::LParen)?;
            let end = self.value_text()?;
            self.expect_token(&Token::RParen)?;
            self.expect_word("EVERY")?;
            self.expect_token(&Token::LParen)?;
            let (every, unit) = if self.eat_word("INTERVAL") {
                let n = self.value_text()?;
                let n = n
                    .parse::<i64>()
                    .or_else(|_| self.error(format!("invalid EVERY step '{n}'")))?;
                let unit = self.ident()?.to_ascii_lowercase();
                (n, Some(unit))
            } else {
                let n = self.value_text()?;
                let n = n
                    .parse::<i64>()
                    .or_else(|_| self.error(format!("invalid EVERY step '{n}'")))?;
                (n, None)
            };
            self.expect_token(&Token::RParen)?;
            return Ok(RangePartitionDef::Batch {
                start,
                end,
                every,
                unit,
            });
        }
        self.expect_word("PARTITION")?;
        let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = self.ident()?;
        self.expect_word("VALUES")?;
        if self.eat_words(&["LESS", "THAN"]) {
            let upper = if self.eat_word("MAXVALUE") {
                None
            } else {
                self.expect_token(&Token::LParen)?;
                if self.eat_word("MAXVALUE") {
                    self.expect_token(&Token::RParen)?;
                    None
                } else {
                    let mut values = vec![];
                    loop {
                        values.push(self.value_text()?);
                        if self.parser.consume_token(&Token::Comma) {
                            continue;
                        }
                        self.expect_token(&Token::RParen)?;
                        break;
                    }
                    Some(values)
                }
            };
            let properties = self.optional_partition_properties()?;
            return Ok(RangePartitionDef::LessThan {
                if_not_exists,
                name,
                upper,
                properties,
            });
        }
        // Fixed range: [("a"), ("b"))
        self.expect_token(&Token::LBracket)?;
        let lower = self.value_tuple()?;
        self.expect_token(&Token::Comma)?;
        let upper = self.value_tuple()?;
        self.expect_token(&Token::RParen)?;
        let properties = self.optional_partition_properties()?;
        Ok(RangePartitionDef::Fixed {
            if_not_exists,
            name,
            lower,
            upper,
            properties,
        })
    }

    pub(crate) fn value_tuple(&mut self) -> PResult<Vec<String>> {
        self.expect_token(&Token::LParen)?;
        let mut values = vec![];
        loop {
            values.push(self.value_text()?);
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(&Token::RParen)?;
            break;
        }
        Ok(values)
    }

    pub(crate) fn optional_partition_properties(&mut self) -> PResult<Vec<(String, String)>> {
        // `("k" = "v")` directly after a partition definition.
        if self.peek_is(&Token::LParen)
            && matches!(
                self.parser.peek_nth_token(1).token,
                Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)
            )
        {
            return self.property_list();
        }
        Ok(vec![])
    }

    pub(crate) fn parse_distribution(&mut self) -> PResult<DistributionDesc> {
        let dist = if self.eat_word("HASH") {
            let columns = self.ident_list()?;
            if columns.is_empty() {
                return self.error("DISTRIBUTED BY HASH needs at least one column");
            }
            DistributionDesc::Hash {
                columns,
                buckets: None,
            }
        } else if self.eat_word("RANDOM") {
            DistributionDesc::Random { buckets: None }
        } else {
            return self
                .parser
                .expected("HASH or RANDOM", self.parser.peek_token());
        };
        let buckets = if self.eat_word("BUCKETS") {
            if self.eat_word("AUTO") {
                None
            } else {
                let n = self.uint()?;
                if n == 0 || n > 1024 * 1024 {
                    return self.error(format!("BUCKETS {n} is out of range [1, 1048576]"));
                }
                Some(n as u32)
            }
        } else {
            None
        };
        Ok(match dist {
            DistributionDesc::Hash { columns, .. } => DistributionDesc::Hash { columns, buckets },
            DistributionDesc::Random { .. } => DistributionDesc::Random { buckets },
        })
    }
}
