//! The statement parser: sqlparser's tokenizer and expression/query parser, with StarRocks'
//! statements parsed by hand on top (the pattern GreptimeDB uses).

use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};
use rigel_common::SqlError;

use crate::ast::*;

static DIALECT: MySqlDialect = MySqlDialect {};

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Getting syntax error at line {line}, column {column}. Detail message: {detail}")]
pub struct ParseError {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What went wrong.
    pub detail: String,
}

impl From<ParseError> for SqlError {
    fn from(e: ParseError) -> Self {
        SqlError::syntax(e.to_string())
    }
}

pub(crate) type PResult<T> = Result<T, ParserError>;

/// Parses SQL text that may hold several `;`-separated statements.
pub fn parse_statements(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    let tokens = Tokenizer::new(&DIALECT, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| to_parse_error(ParserError::TokenizerError(e.to_string()), sql))?;
    let parser = Parser::new(&DIALECT).with_tokens_with_locations(map_literals(tokens));
    let mut p = StarRocksParser {
        parser,
        sql,
        line_starts: line_starts(sql),
    };
    p.parse_all().map_err(|e| to_parse_error(e, sql))
}

/// Rewrites StarRocks' map literal `map{k1: v1, k2: v2}` into the function call
/// `map(k1, v1, k2, v2)`, which the MySQL dialect parses and DataFusion plans.
fn map_literals(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_map =
        |t: &TokenWithSpan| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::MAP);
    let mut i = 0;
    while i + 1 < tokens.len() {
        if !(is_map(&tokens[i]) && tokens[i + 1].token == Token::LBrace) {
            i += 1;
            continue;
        }
        // Find the matching brace; colons and braces of nested literals are rewritten when
        // the scan reaches them.
        let open = i + 1;
        let mut depth = 0usize;
        let mut close = None;
        for (j, t) in tokens.iter().enumerate().skip(open) {
            match t.token {
                Token::LBrace | Token::LParen | Token::LBracket => depth += 1,
                Token::RBrace | Token::RParen | Token::RBracket => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { break };
        if tokens[close].token != Token::RBrace {
            i += 1;
            continue;
        }
        let mut depth = 0usize;
        for t in &mut tokens[open + 1..close] {
            match t.token {
                Token::LBrace | Token::LParen | Token::LBracket => depth += 1,
                Token::RBrace | Token::RParen | Token::RBracket => depth -= 1,
                Token::Colon if depth == 0 => t.token = Token::Comma,
                _ => {}
            }
        }
        tokens[open].token = Token::LParen;
        tokens[close].token = Token::RParen;
        if close == open + 1 {
            // `map{}`: the empty map, as `map([], [])` (keys and values as lists).
            let span = tokens[open].span;
            let empty_lists = [
                Token::LBracket,
                Token::RBracket,
                Token::Comma,
                Token::LBracket,
                Token::RBracket,
            ];
            tokens.splice(
                close..close,
                empty_lists
                    .into_iter()
                    .map(|token| TokenWithSpan { token, span }),
            );
        }
        i = open + 1;
    }
    tokens
}

/// Parses exactly one statement.
pub fn parse_one(sql: &str) -> Result<ParsedStatement, ParseError> {
    let mut stmts = parse_statements(sql)?;
    match stmts.len() {
        1 => Ok(stmts.remove(0)),
        0 => Err(ParseError {
            line: 1,
            column: 1,
            detail: "the statement is empty".to_string(),
        }),
        _ => Err(ParseError {
            line: 1,
            column: 1,
            detail: "expected a single statement".to_string(),
        }),
    }
}

/// Parses a standalone SQL expression (used for defaults and session variable values).
pub fn parse_expr(sql: &str) -> Result<ast::Expr, ParseError> {
    let mut parser = Parser::new(&DIALECT)
        .try_with_sql(sql)
        .map_err(|e| to_parse_error(e, sql))?;
    let expr = parser.parse_expr().map_err(|e| to_parse_error(e, sql))?;
    match parser.peek_token().token {
        Token::EOF => Ok(expr),
        _ => Err(ParseError {
            line: 1,
            column: 1,
            detail: format!("unexpected text after expression '{sql}'"),
        }),
    }
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn to_parse_error(e: ParserError, sql: &str) -> ParseError {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => "the statement is nested too deeply".to_string(),
    };
    // sqlparser appends " at Line: L, Column: C" to its messages.
    if let Some(idx) = text.rfind(" at Line: ") {
        let tail = &text[idx + " at Line: ".len()..];
        if let Some((l, c)) = tail.split_once(", Column: ")
            && let (Ok(line), Ok(column)) = (l.trim().parse(), c.trim().parse())
        {
            return ParseError {
                line,
                column,
                detail: text[..idx].to_string(),
            };
        }
    }
    let _ = sql;
    ParseError {
        line: 1,
        column: 1,
        detail: text,
    }
}

pub(crate) struct StarRocksParser<'a> {
    pub(crate) parser: Parser<'a>,
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> StarRocksParser<'a> {
    fn offset_of(&self, loc: Location) -> usize {
        if loc.line == 0 {
            return self.sql.len();
        }
        let Some(&start) = self.line_starts.get(loc.line as usize - 1) else {
            return self.sql.len();
        };
        let line = &self.sql[start..];
        let col = loc.column.saturating_sub(1) as usize;
        start
            + line
                .char_indices()
                .nth(col)
                .map(|(i, _)| i)
                .unwrap_or(line.len())
    }

    fn parse_all(&mut self) -> PResult<Vec<ParsedStatement>> {
        let mut out = vec![];
        loop {
            while self.parser.consume_token(&Token::SemiColon) {}
            let start_tok = self.parser.peek_token();
            if start_tok.token == Token::EOF {
                break;
            }
            let start = self.offset_of(start_tok.span.start);
            let statement = self.parse_statement()?;
            let next = self.parser.peek_token();
            let end = match next.token {
                Token::EOF => self.sql.len(),
                Token::SemiColon => self.offset_of(next.span.start),
                _ => return self.parser.expected("end of statement", next),
            };
            let text = self
                .sql
                .get(start..end.max(start))
                .unwrap_or_default()
                .trim()
                .to_string();
            out.push(ParsedStatement { statement, text });
        }
        Ok(out)
    }

    // ---- token helpers ------------------------------------------------------------------

    /// The upper-cased next word, if the next token is a word (quoted identifiers excluded).
    pub(crate) fn peek_word(&self) -> Option<String> {
        self.peek_nth_word(0)
    }

    pub(crate) fn peek_nth_word(&self, n: usize) -> Option<String> {
        match self.parser.peek_nth_token(n).token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// Consumes the next token if it is the word `w` (case-insensitive).
    pub(crate) fn eat_word(&mut self, w: &str) -> bool {
        if self.peek_word().as_deref() == Some(w) {
            self.parser.next_token();
            true
        } else {
            false
        }
    }

    /// Consumes the words in sequence, or none of them.
    pub(crate) fn eat_words(&mut self, words: &[&str]) -> bool {
        for (i, w) in words.iter().enumerate() {
            if self.peek_nth_word(i).as_deref() != Some(*w) {
                return false;
            }
        }
        for _ in words {
            self.parser.next_token();
        }
        true
    }

    pub(crate) fn expect_word(&mut self, w: &str) -> PResult<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            self.parser.expected(w, self.parser.peek_token())
        }
    }

    pub(crate) fn expect_token(&mut self, t: &Token) -> PResult<()> {
        self.parser.expect_token(t).map(|_| ())
    }

    pub(crate) fn peek_is(&self, t: &Token) -> bool {
        &self.parser.peek_token().token == t
    }

    pub(crate) fn error<T>(&self, message: impl Into<String>) -> PResult<T> {
        let tok = self.parser.peek_token();
        Err(ParserError::ParserError(format!(
            "{} at Line: {}, Column: {}",
            message.into(),
            tok.span.start.line.max(1),
            tok.span.start.column.max(1)
        )))
    }

    /// An identifier (bare or back-quoted).
    pub(crate) fn ident(&mut self) -> PResult<String> {
        Ok(self.parser.parse_identifier()?.value)
    }

    /// A possibly qualified table name; `default_catalog.db.t` is accepted.
    pub(crate) fn table_name(&mut self) -> PResult<TableName> {
        let name = self.parser.parse_object_name(false)?;
        match TableName::try_from(&name) {
            Ok(t) => Ok(t),
            Err(e) => self.error(e),
        }
    }

    /// A string literal ('…' or "…").
    pub(crate) fn string_lit(&mut self) -> PResult<String> {
        let tok = self.parser.next_token();
        match tok.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
            _ => self.parser.expected("a string literal", tok),
        }
    }

    /// A literal used as a partition value: a string or a number, as text.
    pub(crate) fn value_text(&mut self) -> PResult<String> {
        let tok = self.parser.next_token();
        match tok.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
            Token::Number(n, _) => Ok(n),
            Token::Minus => match self.parser.next_token().token {
                Token::Number(n, _) => Ok(format!("-{n}")),
                _ => self.parser.expected("a number", tok),
            },
            _ => self.parser.expected("a literal value", tok),
        }
    }

    pub(crate) fn uint(&mut self) -> PResult<u64> {
        self.parser.parse_literal_uint()
    }

    /// `( ident, ... )`
    pub(crate) fn ident_list(&mut self) -> PResult<Vec<String>> {
        self.expect_token(&Token::LParen)?;
        if self.parser.consume_token(&Token::RParen) {
            return Ok(vec![]);
        }
        let list = self
            .parser
            .parse_comma_separated(|p| Ok(p.parse_identifier()?.value))?;
        self.expect_token(&Token::RParen)?;
        Ok(list)
    }

    /// `PROPERTIES ("k" = "v", …)` after the keyword, or the parenthesized list alone.
    pub(crate) fn property_list(&mut self) -> PResult<Vec<(String, String)>> {
        self.expect_token(&Token::LParen)?;
        let mut out = vec![];
        if self.parser.consume_token(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let key = self.string_lit()?;
            self.expect_token(&Token::Eq)?;
            let value = self.value_text()?;
            out.push((key, value));
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(&Token::RParen)?;
            return Ok(out);
        }
    }

    /// `LIKE 'x'` or `WHERE expr`, if present.
    pub(crate) fn show_filter(&mut self) -> PResult<Option<ShowFilter>> {
        if self.parser.parse_keyword(Keyword::LIKE) {
            Ok(Some(ShowFilter::Like(self.string_lit()?)))
        } else if self.parser.parse_keyword(Keyword::WHERE) {
            Ok(Some(ShowFilter::Where(Box::new(self.parser.parse_expr()?))))
        } else {
            Ok(None)
        }
    }

    /// Skips the rest of the statement and reports it as not supported yet.
    pub(crate) fn unsupported(&mut self, what: String) -> Statement {
        while !matches!(
            self.parser.peek_token().token,
            Token::EOF | Token::SemiColon
        ) {
            self.parser.next_token();
        }
        Statement::Unsupported(what)
    }

    pub(crate) fn next(&mut self) -> TokenWithSpan {
        self.parser.next_token()
    }

    // ---- statements ---------------------------------------------------------------------

    pub(crate) fn parse_statement(&mut self) -> PResult<Statement> {
        let tok = self.parser.peek_token();
        let word = match &tok.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            Token::LParen => return Ok(Statement::Query(self.parser.parse_query()?)),
            _ => return self.parser.expected("a statement", tok),
        };
        match word.as_str() {
            "SELECT" | "WITH" | "VALUES" | "TABLE" => {
                Ok(Statement::Query(self.parser.parse_query()?))
            }
            "CREATE" => self.parse_create(),
            "DROP" => self.parse_drop(),
            "ALTER" => self.parse_alter(),
            "SHOW" => self.parse_show(),
            "DESC" | "DESCRIBE" | "EXPLAIN" => self.parse_desc_or_explain(),
            "USE" => self.parse_use(),
            "SET" => self.parse_set(),
            "INSERT" => self.parse_insert(),
            "TRUNCATE" => self.parse_truncate(),
            "KILL" => self.parse_kill(),
            "ADMIN" => self.parse_admin(),
            "RECOVER" => self.parse_recover(),
            "BACKUP" => self.parse_backup(),
            "RESTORE" => self.parse_restore(),
            "CANCEL" => self.parse_cancel(),
            "VERIFY" => self.parse_verify(),
            "ANALYZE" => self.parse_analyze(),
            "BEGIN" | "COMMIT" | "ROLLBACK" | "START" => self.parse_transaction(),
            "GRANT" => Ok(Statement::Account(self.parse_grant()?)),
            "REVOKE" => Ok(Statement::Account(self.parse_revoke()?)),
            _ => {
                let stmt = self.parser.parse_statement()?;
                Ok(Statement::Other(Box::new(stmt)))
            }
        }
    }

    fn parse_use(&mut self) -> PResult<Statement> {
        self.expect_word("USE")?;
        let first = self.ident()?;
        if self.parser.consume_token(&Token::Period) {
            let db = self.ident()?;
            Ok(Statement::Use {
                catalog: Some(first),
                db,
            })
        } else {
            Ok(Statement::Use {
                catalog: None,
                db: first,
            })
        }
    }

    fn parse_truncate(&mut self) -> PResult<Statement> {
        self.expect_word("TRUNCATE")?;
        self.eat_word("TABLE");
        let name = self.table_name()?;
        let mut partitions = vec![];
        if self.eat_word("PARTITION") || self.eat_word("PARTITIONS") {
            partitions = self.ident_list()?;
        }
        Ok(Statement::Truncate { name, partitions })
    }

    fn parse_kill(&mut self) -> PResult<Statement> {
        self.expect_word("KILL")?;
        let query_only = if self.eat_word("QUERY") {
            true
        } else {
            self.eat_word("CONNECTION");
            false
        };
        let tok = self.next();
        let id = match &tok.token {
            Token::Number(n, _) => n.parse::<u64>().ok(),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.parse::<u64>().ok(),
            _ => None,
        };
        match id {
            Some(id) => Ok(Statement::Kill { query_only, id }),
            None => self.parser.expected("a connection id", tok),
        }
    }

    fn parse_transaction(&mut self) -> PResult<Statement> {
        let mut words = vec![];
        while let Some(w) = self.peek_word() {
            words.push(w);
            self.parser.next_token();
        }
        Ok(Statement::Transaction(words.join(" ")))
    }

    fn parse_analyze(&mut self) -> PResult<Statement> {
        self.expect_word("ANALYZE")?;
        let sample = if self.eat_word("SAMPLE") {
            true
        } else {
            self.eat_word("FULL");
            false
        };
        self.expect_word("TABLE")?;
        let table = self.table_name()?;
        let columns = if self.parser.peek_token().token == Token::LParen {
            self.ident_list()?
        } else {
            vec![]
        };
        if self.eat_word("WITH") {
            if !self.eat_word("SYNC") {
                self.expect_word("ASYNC")?;
            }
            self.expect_word("MODE")?;
        }
        if self.eat_word("PROPERTIES") {
            self.property_list()?;
        }
        Ok(Statement::Analyze {
            table,
            columns,
            sample,
        })
    }

    fn parse_recover(&mut self) -> PResult<Statement> {
        self.expect_word("RECOVER")?;
        if self.eat_word("TABLE") {
            return Ok(Statement::RecoverTable(self.table_name()?));
        }
        if self.eat_word("PARTITION") {
            let partition = self.ident()?;
            self.expect_word("FROM")?;
            let table = self.table_name()?;
            return Ok(Statement::RecoverPartition { partition, table });
        }
        let what = self.peek_word().unwrap_or_default();
        Ok(self.unsupported(format!("RECOVER {what}")))
    }

    fn parse_admin(&mut self) -> PResult<Statement> {
        self.expect_word("ADMIN")?;
        if self.eat_word("SET") {
            self.eat_word("FRONTEND");
            self.expect_word("CONFIG")?;
            let props = self.property_list()?;
            return Ok(Statement::AdminSetConfig(props));
        }
        if self.eat_word("SHOW") {
            if self.eat_word("REPLICA") {
                self.expect_word("STATUS")?;
                if !(self.parser.parse_keyword(Keyword::FROM)
                    || self.parser.parse_keyword(Keyword::IN))
                {
                    return self.parser.expected("FROM", self.parser.peek_token());
                }
                let table = self.table_name()?;
                let mut partitions = vec![];
                if self.eat_word("PARTITION") || self.eat_word("PARTITIONS") {
                    self.parser.expect_token(&Token::LParen)?;
                    loop {
                        partitions.push(self.ident()?);
                        if !self.parser.consume_token(&Token::Comma) {
                            break;
                        }
                    }
                    self.parser.expect_token(&Token::RParen)?;
                }
                let filter = self.show_filter()?;
                return Ok(Statement::Show(Show::ReplicaStatus {
                    table,
                    partitions,
                    filter,
                }));
            }
            self.eat_word("FRONTEND");
            self.expect_word("CONFIG")?;
            let pattern = if self.parser.parse_keyword(Keyword::LIKE) {
                Some(self.string_lit()?)
            } else {
                None
            };
            return Ok(Statement::AdminShowConfig(pattern));
        }
        let what = self.peek_word().unwrap_or_default();
        Ok(self.unsupported(format!("ADMIN {what}")))
    }

    fn parse_desc_or_explain(&mut self) -> PResult<Statement> {
        let word = self.peek_word().unwrap_or_default();
        self.parser.next_token();
        // `DESC t` describes a table; `DESC SELECT …` / `EXPLAIN …` explains.
        let next = self.peek_word();
        let explains = word == "EXPLAIN"
            || matches!(
                next.as_deref(),
                Some("SELECT" | "WITH" | "INSERT" | "VERBOSE" | "COSTS" | "ANALYZE" | "LOGICAL")
            )
            || self.peek_is(&Token::LParen);
        if !explains {
            let name = self.table_name()?;
            let all = self.eat_word("ALL");
            return Ok(Statement::Describe { name, all });
        }
        let mut kind = String::new();
        for k in ["VERBOSE", "COSTS", "ANALYZE", "LOGICAL"] {
            if self.eat_word(k) {
                kind = k.to_ascii_lowercase();
                break;
            }
        }
        let statement = self.parse_statement()?;
        match statement {
            Statement::Query(_) | Statement::Insert(_) => Ok(Statement::Explain {
                kind,
                statement: Box::new(statement),
            }),
            _ => self.error("EXPLAIN supports queries and INSERT"),
        }
    }

    fn parse_insert(&mut self) -> PResult<Statement> {
        self.expect_word("INSERT")?;
        let overwrite = if self.eat_word("OVERWRITE") {
            true
        } else {
            self.expect_word("INTO")?;
            false
        };
        self.eat_word("TABLE");
        let table = self.table_name()?;
        let mut partitions = vec![];
        if self.eat_word("PARTITION") || self.eat_word("PARTITIONS") {
            partitions = self.ident_list()?;
        }
        let mut label = None;
        if self.eat_words(&["WITH", "LABEL"]) {
            label = Some(self.ident()?);
        }
        let mut columns = vec![];
        // A parenthesized column list, unless the parenthesis opens a query.
        if self.peek_is(&Token::LParen)
            && !matches!(
                self.peek_nth_word(1).as_deref(),
                Some("SELECT" | "WITH" | "VALUES")
            )
        {
            columns = self.ident_list()?;
        }
        let source = self.parser.parse_query()?;
        Ok(Statement::Insert(Box::new(Insert {
            overwrite,
            table,
            partitions,
            label,
            columns,
            source,
        })))
    }

    fn parse_set(&mut self) -> PResult<Statement> {
        self.expect_word("SET")?;
        if self.peek_word().as_deref() == Some("PASSWORD") {
            return Ok(Statement::Account(self.parse_set_password()?));
        }
        if self.peek_word().as_deref() == Some("ROLE")
            || (self.peek_word().as_deref() == Some("DEFAULT")
                && self.peek_nth_word(1).as_deref() == Some("ROLE"))
        {
            return Ok(Statement::Account(self.parse_set_role()?));
        }
        if self.eat_word("NAMES") {
            let charset = self.name_or_string()?;
            let collation = if self.parser.parse_keyword(Keyword::COLLATE) {
                Some(self.name_or_string()?)
            } else {
                None
            };
            return Ok(Statement::Set(vec![SetItem::Names { charset, collation }]));
        }
        if self.eat_words(&["CHARACTER", "SET"]) || self.eat_word("CHARSET") {
            let charset = self.name_or_string()?;
            return Ok(Statement::Set(vec![SetItem::Names {
                charset,
                collation: None,
            }]));
        }
        let mut items = vec![];
        loop {
            items.push(self.parse_set_item()?);
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        Ok(Statement::Set(items))
    }

    fn name_or_string(&mut self) -> PResult<String> {
        let tok = self.next();
        match tok.token {
            Token::Word(w) => Ok(w.value),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
            _ => self.parser.expected("a name", tok),
        }
    }

    fn parse_set_item(&mut self) -> PResult<SetItem> {
        let mut scope = VarScope::Session;
        if self.eat_word("GLOBAL") {
            scope = VarScope::Global;
        } else if self.eat_word("SESSION") || self.eat_word("LOCAL") {
            scope = VarScope::Session;
        }
        if self.eat_word("TRANSACTION") {
            // SET [SESSION] TRANSACTION ISOLATION LEVEL … / READ ONLY: accepted.
            while !matches!(
                self.parser.peek_token().token,
                Token::EOF | Token::SemiColon | Token::Comma
            ) {
                self.parser.next_token();
            }
            return Ok(SetItem::Transaction);
        }
        let tok = self.next();
        let raw = match &tok.token {
            Token::Word(w) => w.value.clone(),
            _ => return self.parser.expected("a variable name", tok),
        };
        let mut name = raw.clone();
        if let Some(rest) = raw.strip_prefix("@@") {
            name = rest.to_string();
            let lower = name.to_ascii_lowercase();
            if lower == "global" || lower == "session" || lower == "local" {
                if lower == "global" {
                    scope = VarScope::Global;
                }
                self.expect_token(&Token::Period)?;
                name = self.ident()?;
            }
        } else if let Some(rest) = raw.strip_prefix('@') {
            scope = VarScope::User;
            name = rest.to_string();
        }
        // Dotted names such as `@@session.x` may also come as separate tokens.
        while self.parser.consume_token(&Token::Period) {
            name = format!("{name}.{}", self.ident()?);
        }
        if !self.parser.consume_token(&Token::Eq) && !self.parser.consume_token(&Token::Assignment)
        {
            return self.parser.expected("'='", self.parser.peek_token());
        }
        let value = if self.eat_word("DEFAULT") {
            None
        } else if let Some(w) = self.peek_word().filter(|w| w == "ON" || w == "OFF") {
            // ON/OFF are keywords, not expressions, in the expression grammar.
            self.parser.next_token();
            Some(Box::new(ast::Expr::Value(
                ast::Value::SingleQuotedString(w.to_ascii_lowercase()).into(),
            )))
        } else {
            Some(Box::new(self.parser.parse_expr()?))
        };
        let name = if scope == VarScope::User {
            name
        } else {
            name.to_ascii_lowercase()
        };
        Ok(SetItem::Variable { scope, name, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Statement {
        parse_one(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .statement
    }

    #[test]
    fn splits_statements_with_text() {
        let stmts = parse_statements("select 1; select 'a;b' ;; use db1").unwrap();
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[0].text, "select 1");
        assert_eq!(stmts[1].text, "select 'a;b'");
        assert!(matches!(&stmts[2].statement, Statement::Use { db, .. } if db == "db1"));
    }

    #[test]
    fn map_literals_become_map_calls() {
        assert!(parse_one("SELECT map{'a': 1, 'b': map{'c': [1, 2]}}").is_ok());
        assert!(parse_one("SELECT map{}").is_ok());
        // Unbalanced or misused braces are syntax errors, never a panic.
        for bad in [
            "SELECT map{'a': 1",
            "SELECT map{)",
            "SELECT map{'a': (1}",
            "SELECT map}",
        ] {
            assert!(parse_one(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_statements("select 1;\nselect from from").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.column > 1, "{err:?}");
        assert!(
            err.to_string()
                .starts_with("Getting syntax error at line 2")
        );
    }

    #[test]
    fn set_variants() {
        match one("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci") {
            Statement::Set(items) => assert!(matches!(
                &items[0],
                SetItem::Names { charset, collation: Some(_) } if charset == "utf8mb4"
            )),
            other => panic!("{other:?}"),
        }
        match one("SET autocommit=1, @@session.query_timeout = 10, GLOBAL pipeline_dop = 2") {
            Statement::Set(items) => {
                assert_eq!(items.len(), 3);
                assert!(
                    matches!(&items[1], SetItem::Variable { name, scope: VarScope::Session, .. } if name == "query_timeout")
                );
                assert!(matches!(
                    &items[2],
                    SetItem::Variable {
                        scope: VarScope::Global,
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
        match one("SET @x = 5") {
            Statement::Set(items) => {
                assert!(
                    matches!(&items[0], SetItem::Variable { scope: VarScope::User, name, .. } if name == "x")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            one("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            Statement::Set(_)
        ));
        assert!(matches!(one("SET sql_mode = DEFAULT"), Statement::Set(_)));
    }

    #[test]
    fn insert_with_starrocks_clauses() {
        match one(
            "INSERT INTO db.t PARTITION (p1, p2) WITH LABEL l1 (a, b) VALUES (1, 'x'), (2, DEFAULT)",
        ) {
            Statement::Insert(i) => {
                assert_eq!(i.table.db.as_deref(), Some("db"));
                assert_eq!(i.partitions, vec!["p1", "p2"]);
                assert_eq!(i.label.as_deref(), Some("l1"));
                assert_eq!(i.columns, vec!["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        match one("insert into t (select * from s)") {
            Statement::Insert(i) => assert!(i.columns.is_empty()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(one("INSERT OVERWRITE t SELECT 1"), Statement::Insert(i) if i.overwrite));
    }

    #[test]
    fn desc_and_explain() {
        assert!(matches!(one("DESC t"), Statement::Describe { .. }));
        assert!(matches!(
            one("describe db.t all"),
            Statement::Describe { all: true, .. }
        ));
        assert!(matches!(one("EXPLAIN SELECT 1"), Statement::Explain { .. }));
        assert!(matches!(one("desc select 1"), Statement::Explain { .. }));
        assert!(
            matches!(one("explain verbose select 1"), Statement::Explain { kind, .. } if kind == "verbose")
        );
    }

    #[test]
    fn misc_statements() {
        assert!(matches!(
            one("KILL QUERY 12"),
            Statement::Kill {
                query_only: true,
                id: 12
            }
        ));
        assert!(matches!(
            one("kill 7"),
            Statement::Kill {
                query_only: false,
                id: 7
            }
        ));
        assert!(
            matches!(one("TRUNCATE TABLE t PARTITION (p1)"), Statement::Truncate { partitions, .. } if partitions == vec!["p1"])
        );
        assert!(matches!(one("begin"), Statement::Transaction(_)));
        assert!(matches!(
            one("USE default_catalog.db1"),
            Statement::Use {
                catalog: Some(_),
                ..
            }
        ));
        assert!(matches!(one("select 1"), Statement::Query(_)));
        assert!(matches!(
            one("(select 1) union (select 2)"),
            Statement::Query(_)
        ));
        assert!(matches!(
            one("delete from t where a = 1"),
            Statement::Other(_)
        ));
    }
}
