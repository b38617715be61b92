//! BACKUP, RESTORE and snapshot statements.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::ast::*;
use crate::parser::{PResult, StarRocksParser};

impl StarRocksParser<'_> {
    /// `BACKUP SNAPSHOT [db.]snap TO repo [ON (…)] [PROPERTIES (…)]` or
    /// `BACKUP DATABASE db SNAPSHOT snap TO repo [ON (…)] [PROPERTIES (…)]`.
    pub(crate) fn parse_backup(&mut self) -> PResult<Statement> {
        self.expect_word("BACKUP")?;
        let (db, snapshot) = if self.eat_word("DATABASE") {
            let db = self.ident()?;
            self.expect_word("SNAPSHOT")?;
            (Some(db), self.ident()?)
        } else if self.eat_word("SNAPSHOT") {
            self.qualified_snapshot()?
        } else {
            let what = self.peek_word().unwrap_or_default();
            return Ok(self.unsupported(format!("BACKUP {what}")));
        };
        self.expect_word("TO")?;
        let repository = self.ident()?;
        let objects = self.backup_objects()?;
        let properties = self.optional_properties()?;
        Ok(Statement::Backup(BackupStmt {
            db,
            snapshot,
            repository,
            objects,
            properties,
        }))
    }

    /// `RESTORE SNAPSHOT [db.]snap FROM repo [ON (…)] [PROPERTIES (…)]` or
    /// `RESTORE SNAPSHOT snap FROM repo DATABASE db [AS db_new] [ON (…)] [PROPERTIES (…)]`.
    pub(crate) fn parse_restore(&mut self) -> PResult<Statement> {
        self.expect_word("RESTORE")?;
        self.expect_word("SNAPSHOT")?;
        let (mut db, snapshot) = self.qualified_snapshot()?;
        self.expect_word("FROM")?;
        let repository = self.ident()?;
        let mut new_db = None;
        if self.eat_word("DATABASE") {
            db = Some(self.ident()?);
            if self.eat_word("AS") {
                new_db = Some(self.ident()?);
            }
        }
        let objects = self.backup_objects()?;
        let properties = self.optional_properties()?;
        Ok(Statement::Restore(RestoreStmt {
            db,
            new_db,
            snapshot,
            repository,
            objects,
            properties,
        }))
    }

    /// `VERIFY SNAPSHOT snap FROM repo [PROPERTIES ("backup_timestamp" = …)]`.
    pub(crate) fn parse_verify(&mut self) -> PResult<Statement> {
        self.expect_word("VERIFY")?;
        self.expect_word("SNAPSHOT")?;
        let (_, snapshot) = self.qualified_snapshot()?;
        if !self.parser.parse_keyword(Keyword::FROM) {
            self.expect_word("ON")?;
        }
        let repository = self.ident()?;
        let properties = self.optional_properties()?;
        Ok(Statement::VerifySnapshot {
            snapshot,
            repository,
            properties,
        })
    }

    /// `DROP SNAPSHOT ON repo WHERE …` (after `DROP`).
    pub(crate) fn parse_drop_snapshot(&mut self) -> PResult<Statement> {
        self.expect_word("ON")?;
        let repository = self.ident()?;
        if !self.parser.parse_keyword(Keyword::WHERE) {
            return self.error("DROP SNAPSHOT needs a WHERE clause naming what to delete");
        }
        let filter = self.parser.parse_expr()?;
        Ok(Statement::DropSnapshot {
            repository,
            filter: Box::new(filter),
        })
    }

    /// `CANCEL BACKUP|RESTORE [FROM db]`.
    pub(crate) fn parse_cancel(&mut self) -> PResult<Statement> {
        self.expect_word("CANCEL")?;
        let restore = if self.eat_word("RESTORE") {
            true
        } else if self.eat_word("BACKUP") {
            false
        } else {
            let what = self.peek_word().unwrap_or_default();
            return Ok(self.unsupported(format!("CANCEL {what}")));
        };
        let db =
            if self.parser.parse_keyword(Keyword::FROM) || self.parser.parse_keyword(Keyword::IN) {
                Some(self.ident()?)
            } else {
                None
            };
        Ok(Statement::CancelBackup { restore, db })
    }

    fn qualified_snapshot(&mut self) -> PResult<(Option<String>, String)> {
        let first = self.ident()?;
        if self.parser.consume_token(&Token::Period) {
            Ok((Some(first), self.ident()?))
        } else {
            Ok((None, first))
        }
    }

    fn optional_properties(&mut self) -> PResult<Vec<(String, String)>> {
        if self.eat_word("PROPERTIES") {
            self.property_list()
        } else {
            Ok(vec![])
        }
    }

    /// `ON ( [TABLE] t [PARTITION (p, …)] [AS t2], … )`, if present.
    fn backup_objects(&mut self) -> PResult<Vec<BackupObject>> {
        if !self.eat_word("ON") {
            return Ok(vec![]);
        }
        self.expect_token(&Token::LParen)?;
        let mut out = vec![];
        loop {
            if self.eat_words(&["ALL", "MATERIALIZED", "VIEWS"])
                || self.peek_word().as_deref() == Some("FUNCTION")
                || self.peek_word().as_deref() == Some("MATERIALIZED")
            {
                return self.error("only tables and views can be backed up and restored");
            }
            if !self.eat_word("TABLE") {
                self.eat_word("VIEW");
            }
            let name = self.ident()?;
            let partitions = if self.eat_word("PARTITION") || self.eat_word("PARTITIONS") {
                self.ident_list()?
            } else {
                vec![]
            };
            let alias = if self.eat_word("AS") {
                Some(self.ident()?)
            } else {
                None
            };
            out.push(BackupObject {
                name,
                partitions,
                alias,
            });
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse_one;

    #[test]
    fn backup_and_restore() {
        let Statement::Backup(b) = parse_one(
            "BACKUP SNAPSHOT sales.snap1 TO repo ON (t1 PARTITION (p1, p2), TABLE t2) \
             PROPERTIES (\"type\" = \"incremental\")",
        )
        .unwrap()
        .statement
        else {
            panic!()
        };
        assert_eq!(b.db.as_deref(), Some("sales"));
        assert_eq!(b.snapshot, "snap1");
        assert_eq!(b.repository, "repo");
        assert_eq!(b.objects.len(), 2);
        assert_eq!(b.objects[0].partitions, vec!["p1", "p2"]);
        assert_eq!(b.properties, vec![("type".into(), "incremental".into())]);
        let Statement::Backup(b) = parse_one("BACKUP DATABASE sales SNAPSHOT s TO r")
            .unwrap()
            .statement
        else {
            panic!()
        };
        assert_eq!((b.db.as_deref(), b.snapshot.as_str()), (Some("sales"), "s"));
        let Statement::Restore(r) = parse_one(
            "RESTORE SNAPSHOT s FROM r DATABASE sales AS sales2 ON (TABLE t AS t2) \
             PROPERTIES (\"backup_timestamp\" = \"2026-01-01-00-00-00-000\")",
        )
        .unwrap()
        .statement
        else {
            panic!()
        };
        assert_eq!(r.db.as_deref(), Some("sales"));
        assert_eq!(r.new_db.as_deref(), Some("sales2"));
        assert_eq!(r.objects[0].alias.as_deref(), Some("t2"));
        assert!(matches!(
            parse_one("CANCEL RESTORE FROM sales").unwrap().statement,
            Statement::CancelBackup { restore: true, db: Some(d) } if d == "sales"
        ));
        assert!(matches!(
            parse_one("VERIFY SNAPSHOT s FROM r").unwrap().statement,
            Statement::VerifySnapshot { .. }
        ));
        assert!(matches!(
            parse_one("DROP SNAPSHOT ON r WHERE TIMESTAMP < '2026'")
                .unwrap()
                .statement,
            Statement::DropSnapshot { .. }
        ));
        assert!(parse_one("DROP SNAPSHOT ON r").is_err());
        assert!(parse_one("BACKUP SNAPSHOT s TO r ON (ALL MATERIALIZED VIEWS)").is_err());
        assert!(matches!(
            parse_one("SHOW SNAPSHOT ON r WHERE SNAPSHOT = 's'")
                .unwrap()
                .statement,
            Statement::Show(Show::Snapshot { .. })
        ));
        assert!(matches!(
            parse_one("SHOW RESTORE FROM d").unwrap().statement,
            Statement::Show(Show::Backup { restore: true, .. })
        ));
    }
}
