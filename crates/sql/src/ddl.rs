//! CREATE / DROP / ALTER in StarRocks' grammar.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::ast::*;
use crate::parser::{PResult, StarRocksParser};

impl StarRocksParser<'_> {
    pub(crate) fn parse_create(&mut self) -> PResult<Statement> {
        self.expect_word("CREATE")?;
        if self.eat_word("DATABASE") || self.eat_word("SCHEMA") {
            let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
            let name = self.db_name()?;
            let properties = if self.eat_word("PROPERTIES") {
                self.property_list()?
            } else {
                vec![]
            };
            return Ok(Statement::CreateDatabase {
                if_not_exists,
                name,
                properties,
            });
        }
        let read_only = self.eat_words(&["READ", "ONLY"]);
        if read_only || self.peek_word().as_deref() == Some("REPOSITORY") {
            return self.parse_create_repository(read_only);
        }
        let or_replace = self.eat_words(&["OR", "REPLACE"]);
        if self.eat_word("VIEW") {
            return self.parse_create_view(or_replace);
        }
        if or_replace {
            return self.error("OR REPLACE is only supported for views");
        }
        let external = self.eat_word("EXTERNAL");
        let temporary = self.eat_word("TEMPORARY");
        if self.eat_word("TABLE") {
            return self.parse_create_table(external, temporary);
        }
        if self.peek_word().as_deref() == Some("USER") {
            return Ok(Statement::Account(self.parse_create_user()?));
        }
        if self.peek_word().as_deref() == Some("ROLE") {
            return Ok(Statement::Account(self.parse_role_ddl(true)?));
        }
        let what = self.peek_word().unwrap_or_default();
        match what.as_str() {
            "MATERIALIZED" | "REPOSITORY" | "RESOURCE" | "CATALOG" | "FUNCTION" | "INDEX"
            | "ROUTINE" | "ANALYZE" | "FILE" | "PIPE" | "EXTERNAL" => {
                Ok(self.unsupported(format!("CREATE {what}")))
            }
            _ => self.parser.expected(
                "DATABASE, TABLE or VIEW after CREATE",
                self.parser.peek_token(),
            ),
        }
    }

    fn db_name(&mut self) -> PResult<String> {
        let first = self.ident()?;
        // `catalog.db` is accepted; Rigel has the one internal catalog.
        if self.parser.consume_token(&Token::Period) {
            return self.ident();
        }
        Ok(first)
    }

    fn parse_create_view(&mut self, or_replace: bool) -> PResult<Statement> {
        let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = self.table_name()?;
        let mut columns = vec![];
        if self.parser.consume_token(&Token::LParen) {
            loop {
                let col = self.ident()?;
                let comment = if self.eat_word("COMMENT") {
                    Some(self.string_lit()?)
                } else {
                    None
                };
                columns.push((col, comment));
                if self.parser.consume_token(&Token::Comma) {
                    continue;
                }
                self.expect_token(&Token::RParen)?;
                break;
            }
        }
        let comment = if self.eat_word("COMMENT") {
            Some(self.string_lit()?)
        } else {
            None
        };
        self.expect_word("AS")?;
        let query = self.parser.parse_query()?;
        Ok(Statement::CreateView(Box::new(CreateView {
            or_replace,
            if_not_exists,
            name,
            columns,
            comment,
            query,
        })))
    }

    fn parse_create_table(&mut self, external: bool, temporary: bool) -> PResult<Statement> {
        let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = self.table_name()?;
        if self.eat_word("LIKE") {
            let like = self.table_name()?;
            return Ok(Statement::CreateTableLike {
                if_not_exists,
                name,
                like,
            });
        }
        let mut ct = CreateTable {
            if_not_exists,
            external,
            temporary,
            name,
            columns: vec![],
            column_names: vec![],
            indexes: vec![],
            engine: None,
            keys: None,
            comment: None,
            partition: None,
            distribution: None,
            order_by: vec![],
            properties: vec![],
            as_query: None,
        };
        if self.parser.consume_token(&Token::LParen) {
            self.parse_table_elements(&mut ct)?;
        }
        while let Some(word) = self.peek_word() {
            match word.as_str() {
                "ENGINE" => {
                    self.parser.next_token();
                    let _ = self.parser.consume_token(&Token::Eq);
                    ct.engine = Some(self.ident()?);
                }
                "DUPLICATE" | "AGGREGATE" | "UNIQUE" | "PRIMARY" => {
                    self.parser.next_token();
                    self.expect_word("KEY")?;
                    let kind = match word.as_str() {
                        "DUPLICATE" => KeysType::Duplicate,
                        "AGGREGATE" => KeysType::Aggregate,
                        "UNIQUE" => KeysType::Unique,
                        _ => KeysType::Primary,
                    };
                    let columns = self.ident_list()?;
                    ct.keys = Some(KeysDesc { kind, columns });
                }
                "COMMENT" => {
                    self.parser.next_token();
                    let _ = self.parser.consume_token(&Token::Eq);
                    ct.comment = Some(self.string_lit()?);
                }
                "PARTITION" => {
                    self.parser.next_token();
                    self.expect_word("BY")?;
                    ct.partition = Some(self.parse_partition_desc()?);
                }
                "DISTRIBUTED" => {
                    self.parser.next_token();
                    self.expect_word("BY")?;
                    ct.distribution = Some(self.parse_distribution()?);
                }
                "ORDER" => {
                    self.parser.next_token();
                    self.expect_word("BY")?;
                    ct.order_by = self.ident_list()?;
                }
                "PROPERTIES" => {
                    self.parser.next_token();
                    ct.properties = self.property_list()?;
                }
                "ROLLUP" => return self.error("ROLLUP is not supported yet"),
                "AS" => {
                    self.parser.next_token();
                    ct.as_query = Some(self.parser.parse_query()?);
                    break;
                }
                _ => break,
            }
        }
        if ct.columns.is_empty() && ct.as_query.is_none() {
            return self.error("CREATE TABLE needs a column list or AS SELECT");
        }
        if !ct.column_names.is_empty() && ct.as_query.is_none() {
            return self.error("a column list without types is only valid with AS SELECT");
        }
        Ok(Statement::CreateTable(Box::new(ct)))
    }

    fn parse_table_elements(&mut self, ct: &mut CreateTable) -> PResult<()> {
        loop {
            if self.peek_word().as_deref() == Some("INDEX") {
                self.parser.next_token();
                let name = self.ident()?;
                let columns = self.ident_list()?;
                let using = if self.parser.parse_keyword(Keyword::USING) {
                    Some(self.ident()?.to_ascii_uppercase())
                } else {
                    None
                };
                let comment = if self.eat_word("COMMENT") {
                    Some(self.string_lit()?)
                } else {
                    None
                };
                ct.indexes.push(IndexDef {
                    name,
                    columns,
                    using,
                    comment,
                });
            } else {
                let name = self.ident()?;
                if matches!(self.parser.peek_token().token, Token::Comma | Token::RParen) {
                    ct.column_names.push(name);
                } else {
                    let col = self.parse_column_def_after_name(name)?;
                    ct.columns.push(col);
                }
            }
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(&Token::RParen)?;
            break;
        }
        if !ct.columns.is_empty() && !ct.column_names.is_empty() {
            return self.error("mixing typed and untyped columns");
        }
        Ok(())
    }

    pub(crate) fn parse_column_def(&mut self) -> PResult<ColumnDef> {
        let name = self.ident()?;
        self.parse_column_def_after_name(name)
    }

    fn parse_column_def_after_name(&mut self, name: String) -> PResult<ColumnDef> {
        let ty = self.parse_column_type()?;
        let mut col = ColumnDef {
            name,
            ty,
            agg: None,
            nullable: None,
            default: None,
            auto_increment: false,
            generated: None,
            comment: None,
        };
        while let Some(word) = self.peek_word() {
            if let Some(agg) = AggType::parse(&word) {
                if col.agg.is_some() {
                    return self.error("duplicate aggregation type");
                }
                self.parser.next_token();
                col.agg = Some(agg);
                continue;
            }
            match word.as_str() {
                "NULL" => {
                    self.parser.next_token();
                    col.nullable = Some(true);
                }
                "NOT" => {
                    self.parser.next_token();
                    self.expect_word("NULL")?;
                    col.nullable = Some(false);
                }
                "DEFAULT" => {
                    self.parser.next_token();
                    col.default = Some(self.parse_default()?);
                }
                "AUTO_INCREMENT" => {
                    self.parser.next_token();
                    col.auto_increment = true;
                }
                "AS" => {
                    self.parser.next_token();
                    col.generated = Some(self.parser.parse_expr()?.to_string());
                }
                "COMMENT" => {
                    self.parser.next_token();
                    col.comment = Some(self.string_lit()?);
                }
                "KEY" => {
                    // MySQL-style inline `PRIMARY KEY`/`KEY` is not StarRocks syntax.
                    return self.error("inline KEY is not supported; use PRIMARY KEY(col)");
                }
                _ => break,
            }
        }
        Ok(col)
    }

    fn parse_default(&mut self) -> PResult<DefaultValue> {
        let tok = self.parser.peek_token();
        match &tok.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                let s = s.clone();
                self.parser.next_token();
                Ok(DefaultValue::Literal(s))
            }
            Token::Number(_, _) | Token::Minus => Ok(DefaultValue::Literal(self.value_text()?)),
            Token::LParen => {
                self.parser.next_token();
                let e = self.parser.parse_expr()?;
                self.expect_token(&Token::RParen)?;
                Ok(DefaultValue::Expr(e.to_string()))
            }
            Token::Word(w) => {
                let upper = w.value.to_ascii_uppercase();
                match upper.as_str() {
                    "NULL" => {
                        self.parser.next_token();
                        Ok(DefaultValue::Null)
                    }
                    "CURRENT_TIMESTAMP" | "NOW" | "LOCALTIMESTAMP" => {
                        self.parser.next_token();
                        if self.parser.consume_token(&Token::LParen) {
                            self.expect_token(&Token::RParen)?;
                        }
                        Ok(DefaultValue::CurrentTimestamp)
                    }
                    "TRUE" | "FALSE" => {
                        self.parser.next_token();
                        Ok(DefaultValue::Literal(
                            if upper == "TRUE" { "1" } else { "0" }.to_string(),
                        ))
                    }
                    _ => {
                        // A function call such as uuid() or a bare expression.
                        let e = self.parser.parse_expr()?;
                        Ok(DefaultValue::Expr(e.to_string()))
                    }
                }
            }
            _ => self.parser.expected("a default value", tok),
        }
    }

    fn parse_create_repository(&mut self, read_only: bool) -> PResult<Statement> {
        self.expect_word("REPOSITORY")?;
        let name = self.ident()?;
        self.expect_word("WITH")?;
        self.expect_word("BROKER")?;
        if self.peek_word().as_deref() != Some("ON") {
            // The broker name: StarRocks' brokerless repositories take none.
            self.ident()?;
        }
        self.expect_word("ON")?;
        self.expect_word("LOCATION")?;
        let location = self.string_lit()?;
        let properties = if self.eat_word("PROPERTIES") {
            self.property_list()?
        } else {
            vec![]
        };
        Ok(Statement::CreateRepository {
            name,
            read_only,
            location,
            properties,
        })
    }

    pub(crate) fn parse_drop(&mut self) -> PResult<Statement> {
        self.expect_word("DROP")?;
        if self.eat_word("REPOSITORY") {
            return Ok(Statement::DropRepository(self.ident()?));
        }
        if self.eat_word("SNAPSHOT") {
            return self.parse_drop_snapshot();
        }
        if self.eat_word("DATABASE") || self.eat_word("SCHEMA") {
            let if_exists = self.eat_words(&["IF", "EXISTS"]);
            let name = self.db_name()?;
            let force = self.eat_word("FORCE");
            return Ok(Statement::DropDatabase {
                if_exists,
                name,
                force,
            });
        }
        self.eat_word("TEMPORARY");
        if self.eat_word("TABLE") {
            let if_exists = self.eat_words(&["IF", "EXISTS"]);
            let name = self.table_name()?;
            let force = self.eat_word("FORCE");
            return Ok(Statement::DropTable {
                if_exists,
                name,
                force,
            });
        }
        if self.eat_word("VIEW") {
            let if_exists = self.eat_words(&["IF", "EXISTS"]);
            let name = self.table_name()?;
            return Ok(Statement::DropView { if_exists, name });
        }
        if self.peek_word().as_deref() == Some("USER") {
            return Ok(Statement::Account(self.parse_drop_user()?));
        }
        if self.peek_word().as_deref() == Some("ROLE") {
            return Ok(Statement::Account(self.parse_role_ddl(false)?));
        }
        let what = self.peek_word().unwrap_or_default();
        Ok(self.unsupported(format!("DROP {what}")))
    }

    pub(crate) fn parse_alter(&mut self) -> PResult<Statement> {
        self.expect_word("ALTER")?;
        if self.peek_word().as_deref() == Some("USER") {
            return Ok(Statement::Account(self.parse_alter_user()?));
        }
        if self.eat_word("VIEW") {
            let name = self.table_name()?;
            let mut columns = vec![];
            if self.peek_is(&Token::LParen) {
                columns = self.ident_list()?.into_iter().map(|c| (c, None)).collect();
            }
            self.expect_word("AS")?;
            let query = self.parser.parse_query()?;
            return Ok(Statement::CreateView(Box::new(CreateView {
                or_replace: true,
                if_not_exists: false,
                name,
                columns,
                comment: None,
                query,
            })));
        }
        if self.eat_word("SYSTEM") {
            return self.parse_alter_system();
        }
        if !self.eat_word("TABLE") {
            let what = self.peek_word().unwrap_or_default();
            return Ok(self.unsupported(format!("ALTER {what}")));
        }
        let name = self.table_name()?;
        let mut ops = vec![];
        loop {
            ops.extend(self.parse_alter_op()?);
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        Ok(Statement::AlterTable { name, ops })
    }

    /// After `ALTER SYSTEM`: `ADD|DROP BACKEND "host:port"[, ...]`.
    fn parse_alter_system(&mut self) -> PResult<Statement> {
        let add = if self.eat_word("ADD") {
            true
        } else if self.eat_word("DROP") {
            false
        } else {
            let what = self.peek_word().unwrap_or_default();
            return Ok(self.unsupported(format!("ALTER SYSTEM {what}")));
        };
        if !self.eat_word("BACKEND") {
            let what = self.peek_word().unwrap_or_default();
            let verb = if add { "ADD" } else { "DROP" };
            return Ok(self.unsupported(format!("ALTER SYSTEM {verb} {what}")));
        }
        let mut addresses = vec![self.string_lit()?];
        while self.parser.consume_token(&Token::Comma) {
            addresses.push(self.string_lit()?);
        }
        Ok(if add {
            Statement::AddBackends(addresses)
        } else {
            Statement::DropBackends(addresses)
        })
    }

    fn column_position(&mut self) -> PResult<Option<ColumnPosition>> {
        if self.eat_word("FIRST") {
            Ok(Some(ColumnPosition::First))
        } else if self.eat_word("AFTER") {
            Ok(Some(ColumnPosition::After(self.ident()?)))
        } else {
            Ok(None)
        }
    }

    fn skip_rollup_clause(&mut self) -> PResult<()> {
        if self.eat_word("TO") || self.eat_word("IN") || self.eat_word("FROM") {
            let rollup = self.ident()?;
            return self.error(format!("ROLLUP '{rollup}' is not supported yet"));
        }
        if self.eat_word("PROPERTIES") {
            self.property_list()?;
        }
        Ok(())
    }

    fn parse_alter_op(&mut self) -> PResult<Vec<AlterOp>> {
        let word = self.peek_word().unwrap_or_default();
        match word.as_str() {
            "ADD" => {
                self.parser.next_token();
                if self.peek_word().as_deref() == Some("PARTITION")
                    || self.peek_word().as_deref() == Some("PARTITIONS")
                {
                    let is_batch = self.peek_word().as_deref() == Some("PARTITIONS");
                    if is_batch {
                        self.parser.next_token();
                    }
                    // Detect LIST partitions: PARTITION p VALUES IN (…)
                    let is_list = !is_batch
                        && self.peek_nth_word(2).as_deref() == Some("VALUES")
                        && self.peek_nth_word(3).as_deref() == Some("IN");
                    if is_list {
                        self.parser.next_token();
                        let name = self.ident()?;
                        self.expect_word("VALUES")?;
                        self.expect_word("IN")?;
                        let values = self.parse_list_values()?;
                        return Ok(vec![AlterOp::AddListPartition { name, values }]);
                    }
                    let def = self.parse_range_partition_def()?;
                    if self.eat_word("DISTRIBUTED") {
                        self.expect_word("BY")?;
                        self.parse_distribution()?;
                    }
                    return Ok(vec![AlterOp::AddPartition(def)]);
                }
                self.eat_word("COLUMN");
                if self.parser.consume_token(&Token::LParen) {
                    let mut ops = vec![];
                    loop {
                        let column = self.parse_column_def()?;
                        ops.push(AlterOp::AddColumn {
                            column,
                            position: None,
                        });
                        if self.parser.consume_token(&Token::Comma) {
                            continue;
                        }
                        self.expect_token(&Token::RParen)?;
                        break;
                    }
                    self.skip_rollup_clause()?;
                    return Ok(ops);
                }
                let column = self.parse_column_def()?;
                let position = self.column_position()?;
                self.skip_rollup_clause()?;
                Ok(vec![AlterOp::AddColumn { column, position }])
            }
            "DROP" => {
                self.parser.next_token();
                if self.eat_word("PARTITION") {
                    let if_exists = self.eat_words(&["IF", "EXISTS"]);
                    let name = self.ident()?;
                    self.eat_word("FORCE");
                    return Ok(vec![AlterOp::DropPartition { if_exists, name }]);
                }
                self.eat_word("COLUMN");
                let name = self.ident()?;
                self.skip_rollup_clause()?;
                Ok(vec![AlterOp::DropColumn(name)])
            }
            "MODIFY" => {
                self.parser.next_token();
                if self.eat_word("COMMENT") {
                    return Ok(vec![AlterOp::Comment(self.string_lit()?)]);
                }
                self.eat_word("COLUMN");
                let column = self.parse_column_def()?;
                let position = self.column_position()?;
                self.skip_rollup_clause()?;
                Ok(vec![AlterOp::ModifyColumn { column, position }])
            }
            "RENAME" => {
                self.parser.next_token();
                if self.eat_word("COLUMN") {
                    let from = self.ident()?;
                    self.eat_word("TO");
                    let to = self.ident()?;
                    return Ok(vec![AlterOp::RenameColumn { from, to }]);
                }
                if self.eat_word("PARTITION") {
                    let from = self.ident()?;
                    let to = self.ident()?;
                    return Ok(vec![AlterOp::RenamePartition { from, to }]);
                }
                if self.eat_word("ROLLUP") {
                    return self.error("ROLLUP is not supported yet");
                }
                self.eat_word("TO");
                Ok(vec![AlterOp::RenameTable(self.ident()?)])
            }
            "SET" => {
                self.parser.next_token();
                Ok(vec![AlterOp::SetProperties(self.property_list()?)])
            }
            "COMMENT" => {
                self.parser.next_token();
                let _ = self.parser.consume_token(&Token::Eq);
                Ok(vec![AlterOp::Comment(self.string_lit()?)])
            }
            _ => self.parser.expected(
                "ADD, DROP, MODIFY, RENAME, SET or COMMENT",
                self.parser.peek_token(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parser::parse_one;
    use rigel_common::ColumnType;

    fn create(sql: &str) -> CreateTable {
        match parse_one(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .statement
        {
            Statement::CreateTable(ct) => *ct,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alter_system_backends() {
        let st = |sql: &str| {
            parse_one(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .statement
        };
        assert!(matches!(
            st(r#"ALTER SYSTEM ADD BACKEND "10.0.0.1:9050", '10.0.0.2:9050'"#),
            Statement::AddBackends(a) if a == ["10.0.0.1:9050", "10.0.0.2:9050"]
        ));
        assert!(matches!(
            st(r#"alter system drop backend "be1:9050""#),
            Statement::DropBackends(a) if a == ["be1:9050"]
        ));
        assert!(parse_one("ALTER SYSTEM ADD BACKEND").is_err());
        assert!(matches!(
            st(r#"ALTER SYSTEM DECOMMISSION BACKEND "be1:9050""#),
            Statement::Unsupported(_)
        ));
    }

    #[test]
    fn guide_hot_data_table() {
        let ct = create(
            r#"CREATE TABLE hot_data (id BIGINT, data_time DATETIME, content STRING) ENGINE=OLAP DUPLICATE KEY(id)
   PARTITION BY RANGE(data_time) () DISTRIBUTED BY HASH(id) BUCKETS 32
   PROPERTIES ("replication_num" = "3", "storage_medium" = "SSD", "storage_cooldown_time" = "7d")"#,
        );
        assert_eq!(ct.columns.len(), 3);
        assert_eq!(ct.columns[2].ty, ColumnType::Varchar(65533));
        assert_eq!(ct.engine.as_deref(), Some("OLAP"));
        assert_eq!(ct.keys.unwrap().kind, KeysType::Duplicate);
        assert_eq!(
            ct.partition,
            Some(PartitionDesc::Range {
                columns: vec!["data_time".into()],
                partitions: vec![]
            })
        );
        assert_eq!(
            ct.distribution,
            Some(DistributionDesc::Hash {
                columns: vec!["id".into()],
                buckets: Some(32)
            })
        );
        assert_eq!(ct.properties.len(), 3);
    }

    #[test]
    fn aggregate_table_from_docs() {
        let ct = create(
            "CREATE TABLE site_access (event_day DATE, site_id INT DEFAULT '10', city_code VARCHAR(100),
  user_name VARCHAR(32) DEFAULT '', pv BIGINT SUM DEFAULT '0')
AGGREGATE KEY(event_day, site_id, city_code, user_name)
PARTITION BY date_trunc('day', event_day)
DISTRIBUTED BY HASH(event_day, site_id) BUCKETS 8
PROPERTIES (\"replication_num\" = \"3\")",
        );
        assert_eq!(ct.columns[4].agg, Some(AggType::Sum));
        assert_eq!(
            ct.columns[1].default,
            Some(DefaultValue::Literal("10".into()))
        );
        assert!(
            matches!(ct.partition, Some(PartitionDesc::Expr { function: Some(f), .. }) if f == "date_trunc")
        );
    }

    #[test]
    fn range_partitions_all_forms() {
        let ct = create(
            "CREATE TABLE t (k DATE, v INT) DUPLICATE KEY(k) PARTITION BY RANGE(k) (
                PARTITION p1 VALUES LESS THAN ('2021-01-02'),
                PARTITION p2 VALUES [('2021-01-02'), ('2021-01-03')),
                START ('2021-01-03') END ('2021-01-06') EVERY (INTERVAL 1 DAY),
                PARTITION pmax VALUES LESS THAN MAXVALUE
            ) DISTRIBUTED BY RANDOM BUCKETS 2",
        );
        let Some(PartitionDesc::Range { partitions, .. }) = ct.partition else {
            panic!()
        };
        assert_eq!(partitions.len(), 4);
        assert!(
            matches!(&partitions[2], RangePartitionDef::Batch { every: 1, unit: Some(u), .. } if u == "day")
        );
        assert!(matches!(
            &partitions[3],
            RangePartitionDef::LessThan { upper: None, .. }
        ));
        assert_eq!(
            ct.distribution,
            Some(DistributionDesc::Random { buckets: Some(2) })
        );
    }

    #[test]
    fn nested_types_and_options() {
        let ct = create(
            "create table t (a ARRAY<ARRAY<INT>> NOT NULL COMMENT 'x', m MAP<VARCHAR(10), DECIMAL(10, 2)>,
              s STRUCT<a INT, b ARRAY<STRING>>, j JSON, l LARGEINT, d DECIMAL(38, 10) NULL DEFAULT '1.5',
              ts DATETIME DEFAULT CURRENT_TIMESTAMP)
             PRIMARY KEY(a) ORDER BY (a, l) COMMENT 'tbl'",
        );
        assert_eq!(
            ct.columns[0].ty,
            ColumnType::Array(Box::new(ColumnType::Array(Box::new(ColumnType::Int))))
        );
        assert_eq!(ct.columns[0].nullable, Some(false));
        assert!(matches!(ct.columns[2].ty, ColumnType::Struct(ref f) if f.len() == 2));
        assert_eq!(ct.columns[6].default, Some(DefaultValue::CurrentTimestamp));
        assert_eq!(ct.order_by, vec!["a", "l"]);
        assert_eq!(ct.comment.as_deref(), Some("tbl"));
    }

    #[test]
    fn ctas_and_like() {
        let ct = create("CREATE TABLE t2 (x, y) DISTRIBUTED BY HASH(x) AS SELECT a, b FROM t");
        assert_eq!(ct.column_names, vec!["x", "y"]);
        assert!(ct.as_query.is_some());
        let ct = create("CREATE TABLE t2 AS SELECT 1 AS a");
        assert!(ct.as_query.is_some());
        assert!(matches!(
            parse_one("CREATE TABLE IF NOT EXISTS a.b LIKE c")
                .unwrap()
                .statement,
            Statement::CreateTableLike {
                if_not_exists: true,
                ..
            }
        ));
    }

    #[test]
    fn alter_table_ops() {
        let stmt = parse_one(
            "ALTER TABLE t ADD PARTITION p3 VALUES LESS THAN ('2022-01-01'), DROP PARTITION IF EXISTS p1,
             ADD COLUMN c INT DEFAULT '0' AFTER b, DROP COLUMN d, MODIFY COLUMN e BIGINT NULL,
             RENAME COLUMN f TO g, SET (\"replication_num\" = \"1\")",
        )
        .unwrap()
        .statement;
        let Statement::AlterTable { ops, .. } = stmt else {
            panic!()
        };
        assert_eq!(ops.len(), 7);
        assert!(
            matches!(&ops[2], AlterOp::AddColumn { position: Some(ColumnPosition::After(a)), .. } if a == "b")
        );
        assert!(matches!(
            parse_one("ALTER TABLE t RENAME t2").unwrap().statement,
            Statement::AlterTable { ops, .. } if ops == vec![AlterOp::RenameTable("t2".into())]
        ));
    }

    #[test]
    fn bad_ddl_is_a_syntax_error() {
        assert!(parse_one("CREATE TABLE t (a FOO)").is_err());
        assert!(parse_one("CREATE TABLE t (a INT) DISTRIBUTED BY HASH() BUCKETS 3").is_err());
        assert!(parse_one("CREATE TABLE t (a INT) DISTRIBUTED BY HASH(a) BUCKETS 0").is_err());
        assert!(parse_one("CREATE TABLE t").is_err());
        assert!(parse_one("CREATE TABLE t (a ARRAY<INT)").is_err());
    }

    #[test]
    fn views_and_drops() {
        assert!(matches!(
            parse_one("CREATE OR REPLACE VIEW v (a COMMENT 'x') COMMENT 'v' AS SELECT 1").unwrap().statement,
            Statement::CreateView(v) if v.or_replace && v.columns.len() == 1
        ));
        assert!(matches!(
            parse_one("DROP TABLE IF EXISTS db.t FORCE")
                .unwrap()
                .statement,
            Statement::DropTable {
                if_exists: true,
                force: true,
                ..
            }
        ));
        assert!(matches!(
            parse_one("drop database if exists d").unwrap().statement,
            Statement::DropDatabase {
                if_exists: true,
                ..
            }
        ));
    }

    #[test]
    fn repositories() {
        match parse_one(
            "CREATE READ ONLY REPOSITORY r WITH BROKER ON LOCATION \"file:///b\" PROPERTIES (\"k\" = \"v\")",
        )
        .unwrap()
        .statement
        {
            Statement::CreateRepository {
                name,
                read_only,
                location,
                properties,
            } => {
                assert_eq!((name.as_str(), read_only), ("r", true));
                assert_eq!(location, "file:///b");
                assert_eq!(properties, vec![("k".to_string(), "v".to_string())]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_one("CREATE REPOSITORY r WITH BROKER hdfs_broker ON LOCATION 's3a://x/y'")
                .unwrap()
                .statement,
            Statement::CreateRepository {
                read_only: false,
                ..
            }
        ));
        assert!(matches!(
            parse_one("DROP REPOSITORY r").unwrap().statement,
            Statement::DropRepository(n) if n == "r"
        ));
        assert!(parse_one("CREATE REPOSITORY r ON LOCATION 'x'").is_err());
    }
}
