//! SHOW statements.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::account::AccountStatement;
use crate::ast::*;
use crate::parser::{PResult, StarRocksParser};

impl StarRocksParser<'_> {
    fn db_clause(&mut self) -> PResult<Option<String>> {
        if self.parser.parse_keyword(Keyword::FROM) || self.parser.parse_keyword(Keyword::IN) {
            let first = self.ident()?;
            if self.parser.consume_token(&Token::Period) {
                return Ok(Some(self.ident()?));
            }
            return Ok(Some(first));
        }
        Ok(None)
    }

    fn table_clause(&mut self) -> PResult<TableName> {
        if !(self.parser.parse_keyword(Keyword::FROM) || self.parser.parse_keyword(Keyword::IN)) {
            return self.parser.expected("FROM", self.parser.peek_token());
        }
        let mut table = self.table_name()?;
        if let Some(db) = self.db_clause()? {
            table.db = Some(db);
        }
        Ok(table)
    }

    pub(crate) fn parse_show(&mut self) -> PResult<Statement> {
        self.expect_word("SHOW")?;
        let full = self.eat_word("FULL");
        let global = self.eat_word("GLOBAL");
        if !global {
            self.eat_word("SESSION");
        }
        let word = self.peek_word().unwrap_or_default();
        let show = match word.as_str() {
            "GRANTS" => {
                self.parser.next_token();
                let grantee = if self.eat_word("FOR") {
                    Some(self.grantee()?)
                } else {
                    None
                };
                return Ok(Statement::Account(AccountStatement::ShowGrants(grantee)));
            }
            "USERS" => {
                self.parser.next_token();
                return Ok(Statement::Account(AccountStatement::ShowUsers));
            }
            "ROLES" => {
                self.parser.next_token();
                return Ok(Statement::Account(AccountStatement::ShowRoles));
            }
            "DATABASES" | "SCHEMAS" => {
                self.parser.next_token();
                Show::Databases(self.show_filter()?)
            }
            "TABLES" => {
                self.parser.next_token();
                let db = self.db_clause()?;
                Show::Tables {
                    full,
                    db,
                    filter: self.show_filter()?,
                }
            }
            "COLUMNS" | "FIELDS" => {
                self.parser.next_token();
                let table = self.table_clause()?;
                Show::Columns {
                    full,
                    table,
                    filter: self.show_filter()?,
                }
            }
            "CREATE" => {
                self.parser.next_token();
                if self.eat_word("DATABASE") || self.eat_word("SCHEMA") {
                    Show::CreateDatabase(self.ident()?)
                } else if self.eat_word("TABLE") || self.eat_word("VIEW") {
                    Show::CreateTable(self.table_name()?)
                } else {
                    let what = self.peek_word().unwrap_or_default();
                    return Ok(self.unsupported(format!("SHOW CREATE {what}")));
                }
            }
            "PARTITIONS" | "TEMPORARY" => {
                self.parser.next_token();
                let temporary = word == "TEMPORARY";
                if temporary {
                    self.expect_word("PARTITIONS")?;
                }
                let table = self.table_clause()?;
                Show::Partitions { table, temporary }
            }
            "VARIABLES" => {
                self.parser.next_token();
                Show::Variables {
                    global,
                    filter: self.show_filter()?,
                }
            }
            "STATUS" => {
                self.parser.next_token();
                Show::Status(self.show_filter()?)
            }
            "WARNINGS" => {
                self.parser.next_token();
                self.skip_limit()?;
                Show::Warnings
            }
            "ERRORS" => {
                self.parser.next_token();
                self.skip_limit()?;
                Show::Errors
            }
            "PROCESSLIST" => {
                self.parser.next_token();
                Show::Processlist { full }
            }
            "ENGINES" => {
                self.parser.next_token();
                Show::Engines
            }
            "STORAGE" => {
                self.parser.next_token();
                self.expect_word("ENGINES")?;
                Show::Engines
            }
            "CHARSET" => {
                self.parser.next_token();
                Show::Charset(self.show_filter()?)
            }
            "CHARACTER" => {
                self.parser.next_token();
                self.expect_word("SET")?;
                Show::Charset(self.show_filter()?)
            }
            "COLLATION" => {
                self.parser.next_token();
                Show::Collation(self.show_filter()?)
            }
            "TABLE" => {
                self.parser.next_token();
                self.expect_word("STATUS")?;
                let db = self.db_clause()?;
                Show::TableStatus {
                    db,
                    filter: self.show_filter()?,
                }
            }
            "INDEX" | "INDEXES" | "KEYS" => {
                self.parser.next_token();
                Show::Index(self.table_clause()?)
            }
            "PLUGINS" => {
                self.parser.next_token();
                Show::Plugins
            }
            "TABLET" | "TABLETS" => {
                self.parser.next_token();
                Show::Tablets(self.table_clause()?)
            }
            "DATA" => {
                self.parser.next_token();
                if self.parser.parse_keyword(Keyword::FROM) {
                    Show::Data(Some(self.table_name()?))
                } else {
                    Show::Data(None)
                }
            }
            "CATALOGS" => {
                self.parser.next_token();
                Show::Catalogs
            }
            "CATALOG" => {
                self.parser.next_token();
                self.expect_word("RECYCLE")?;
                self.expect_word("BIN")?;
                Show::RecycleBin
            }
            "LOAD" => {
                self.parser.next_token();
                let db = self.db_clause()?;
                let filter = self.show_filter()?;
                self.skip_order_limit()?;
                Show::Load { db, filter }
            }
            "REPOSITORIES" => {
                self.parser.next_token();
                Show::Repositories
            }
            "BACKUP" | "RESTORE" => {
                self.parser.next_token();
                let restore = word == "RESTORE";
                let db = self.db_clause()?;
                let filter = self.show_filter()?;
                Show::Backup {
                    restore,
                    db,
                    filter,
                }
            }
            "SNAPSHOT" => {
                self.parser.next_token();
                self.expect_word("ON")?;
                let repository = self.ident()?;
                let filter = self.show_filter()?;
                Show::Snapshot { repository, filter }
            }
            "FRONTENDS" => {
                self.parser.next_token();
                Show::Frontends
            }
            "BACKENDS" => {
                self.parser.next_token();
                Show::Backends
            }
            "PROC" => {
                self.parser.next_token();
                Show::Proc(self.string_lit()?)
            }
            "ANALYZE" => {
                self.parser.next_token();
                self.expect_word("STATUS")?;
                let filter = self.show_filter()?;
                self.skip_order_limit()?;
                Show::AnalyzeStatus(filter)
            }
            _ => return Ok(self.unsupported(format!("SHOW {word}"))),
        };
        Ok(Statement::Show(show))
    }

    fn skip_order_limit(&mut self) -> PResult<()> {
        if self.parser.parse_keywords(&[Keyword::ORDER, Keyword::BY]) {
            self.parser
                .parse_comma_separated(|p| p.parse_order_by_expr())?;
        }
        self.skip_limit()
    }

    fn skip_limit(&mut self) -> PResult<()> {
        if self.parser.parse_keyword(Keyword::LIMIT) {
            self.uint()?;
            if self.parser.consume_token(&Token::Comma) {
                self.uint()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parser::parse_one;

    fn show(sql: &str) -> Show {
        match parse_one(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .statement
        {
            Statement::Show(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn show_forms() {
        assert!(matches!(show("SHOW DATABASES"), Show::Databases(None)));
        assert!(matches!(
            show("show full tables from db1 like 't%'"),
            Show::Tables {
                full: true,
                db: Some(_),
                filter: Some(ShowFilter::Like(_))
            }
        ));
        assert!(
            matches!(show("SHOW FULL COLUMNS FROM t FROM db"), Show::Columns { full: true, table, .. } if table.db.as_deref() == Some("db"))
        );
        assert!(matches!(show("SHOW COLUMNS IN db.t"), Show::Columns { .. }));
        assert!(matches!(
            show("SHOW VARIABLES LIKE 'lower_case%'"),
            Show::Variables { global: false, .. }
        ));
        assert!(matches!(
            show("SHOW GLOBAL VARIABLES WHERE Variable_name = 'x'"),
            Show::Variables {
                global: true,
                filter: Some(ShowFilter::Where(_))
            }
        ));
        assert!(matches!(
            show("SHOW CREATE TABLE db.t"),
            Show::CreateTable(_)
        ));
        assert!(matches!(
            show("SHOW PARTITIONS FROM t"),
            Show::Partitions {
                temporary: false,
                ..
            }
        ));
        assert!(matches!(show("SHOW WARNINGS LIMIT 10"), Show::Warnings));
        assert!(matches!(
            show("SHOW FULL PROCESSLIST"),
            Show::Processlist { full: true }
        ));
        assert!(matches!(show("SHOW CHARACTER SET"), Show::Charset(None)));
        assert!(matches!(
            show("SHOW TABLE STATUS FROM db LIKE 'x'"),
            Show::TableStatus { .. }
        ));
        assert!(matches!(show("SHOW KEYS FROM t"), Show::Index(_)));
    }

    #[test]
    fn unknown_show_is_unsupported_not_a_syntax_error() {
        assert!(matches!(
            parse_one("SHOW ROUTINE LOAD FROM db").unwrap().statement,
            Statement::Unsupported(s) if s == "SHOW ROUTINE"
        ));
    }
}
