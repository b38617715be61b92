//! Accounts and privileges: CREATE/ALTER/DROP USER, SET PASSWORD, GRANT, REVOKE, and
//! redacting passwords from statement text.

use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::parser::{PResult, StarRocksParser};

/// An account: `'name'@'host'` (the host is a pattern, `%` when omitted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserIdentity {
    /// User name.
    pub name: String,
    /// Host pattern (`%` and `_` wildcards).
    pub host: String,
}

impl std::fmt::Display for UserIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}'@'{}'", self.name, self.host)
    }
}

/// How an account authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSpec {
    /// `IDENTIFIED BY 'password'` (clear text, hashed before it is stored).
    Password(String),
    /// `IDENTIFIED BY PASSWORD '*…'` / `IDENTIFIED WITH mysql_native_password AS '*…'`: the
    /// mysql_native_password hash.
    Hash(String),
}

/// A privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    /// Read rows.
    Select,
    /// Write rows (INSERT, Stream Load; `LOAD_PRIV` in older grammar).
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// ALTER TABLE / ALTER DATABASE.
    Alter,
    /// CREATE TABLE / VIEW / DATABASE.
    Create,
    /// DROP.
    Drop,
    /// Accounts and grants (`GRANT`, in the MySQL-style shorthand).
    Grant,
    /// Operating the server: `ADMIN SET FRONTEND CONFIG`, `SET GLOBAL`, killing others'
    /// statements (`OPERATE ON SYSTEM`).
    Operate,
}

impl Privilege {
    /// Every privilege, for `ALL`.
    pub const ALL: [Privilege; 9] = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
        Privilege::Alter,
        Privilege::Create,
        Privilege::Drop,
        Privilege::Grant,
        Privilege::Operate,
    ];

    /// The keyword.
    pub fn as_str(&self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Alter => "ALTER",
            Privilege::Create => "CREATE",
            Privilege::Drop => "DROP",
            Privilege::Grant => "GRANT",
            Privilege::Operate => "OPERATE",
        }
    }

    /// Parses a privilege keyword, including the legacy `*_PRIV` spellings.
    pub fn parse(word: &str) -> Option<Privilege> {
        Some(match word.to_ascii_uppercase().as_str() {
            "SELECT" | "SELECT_PRIV" => Privilege::Select,
            "INSERT" | "LOAD_PRIV" | "LOAD" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" => Privilege::Delete,
            "ALTER" | "ALTER_PRIV" => Privilege::Alter,
            "CREATE" | "CREATE_PRIV" => Privilege::Create,
            "DROP" | "DROP_PRIV" => Privilege::Drop,
            "GRANT" | "GRANT_PRIV" => Privilege::Grant,
            "OPERATE" | "NODE_PRIV" | "ADMIN_PRIV" => Privilege::Operate,
            _ => return None,
        })
    }
}

/// What a privilege is granted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantObject {
    /// `*.*`: everything.
    Global,
    /// `db.*`, `DATABASE db`, `ALL TABLES IN DATABASE db`: the database and its tables.
    Database(String),
    /// `db.t`, `TABLE db.t`: one table (or view).
    Table {
        /// Database (the session's when omitted).
        db: Option<String>,
        /// Table.
        table: String,
    },
}

/// An account or privilege statement.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountStatement {
    /// `CREATE USER [IF NOT EXISTS] u [IDENTIFIED …]`
    CreateUser {
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Account.
        user: UserIdentity,
        /// Password, if any.
        auth: Option<AuthSpec>,
        /// `DEFAULT ROLE r1, …`: granted, and active at login.
        default_roles: Vec<String>,
        /// `REQUIRE SSL` (`Some(true)`) / `REQUIRE NONE`.
        require_ssl: Option<bool>,
    },
    /// `ALTER USER [IF EXISTS] u IDENTIFIED …`
    AlterUser {
        /// `IF EXISTS`
        if_exists: bool,
        /// Account.
        user: UserIdentity,
        /// New password (`None`: unchanged).
        auth: Option<AuthSpec>,
        /// `REQUIRE SSL` / `REQUIRE NONE` (`None`: unchanged).
        require_ssl: Option<bool>,
    },
    /// `DROP USER [IF EXISTS] u`
    DropUser {
        /// `IF EXISTS`
        if_exists: bool,
        /// Account.
        user: UserIdentity,
    },
    /// `SET PASSWORD [FOR u] = PASSWORD('…') | '*…'`
    SetPassword {
        /// Account (the session's when omitted).
        user: Option<UserIdentity>,
        /// New password.
        auth: AuthSpec,
    },
    /// `GRANT privileges ON object TO {[USER] u | ROLE r} [WITH GRANT OPTION]`
    Grant {
        /// Privileges.
        privileges: Vec<Privilege>,
        /// Object.
        object: GrantObject,
        /// Grantee.
        grantee: Grantee,
    },
    /// `REVOKE privileges ON object FROM {[USER] u | ROLE r}`
    Revoke {
        /// Privileges.
        privileges: Vec<Privilege>,
        /// Object.
        object: GrantObject,
        /// Who loses them.
        grantee: Grantee,
    },
    /// `CREATE ROLE [IF NOT EXISTS] r`
    CreateRole {
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Name.
        name: String,
    },
    /// `DROP ROLE [IF EXISTS] r`
    DropRole {
        /// `IF EXISTS`
        if_exists: bool,
        /// Name.
        name: String,
    },
    /// `GRANT r1, … TO {[USER] u | ROLE r}`
    GrantRoles {
        /// Roles granted.
        roles: Vec<String>,
        /// Grantee.
        grantee: Grantee,
    },
    /// `REVOKE r1, … FROM {[USER] u | ROLE r}`
    RevokeRoles {
        /// Roles revoked.
        roles: Vec<String>,
        /// Who loses them.
        grantee: Grantee,
    },
    /// `SET ROLE {DEFAULT | NONE | ALL | r1, …}`
    SetRole(RoleSet),
    /// `SET DEFAULT ROLE {NONE | ALL | r1, …} TO u`
    SetDefaultRole {
        /// Roles.
        roles: RoleSet,
        /// Account.
        user: UserIdentity,
    },
    /// `SHOW GRANTS [FOR {u | ROLE r}]`
    ShowGrants(Option<Grantee>),
    /// `SHOW USERS`
    ShowUsers,
    /// `SHOW ROLES`
    ShowRoles,
}

/// Who receives a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// An account.
    User(UserIdentity),
    /// A role.
    Role(String),
}

/// The roles `SET ROLE` / `SET DEFAULT ROLE` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSet {
    /// `DEFAULT`: the account's default roles.
    Default,
    /// `NONE`
    None,
    /// `ALL`: every role granted.
    All,
    /// These roles.
    Roles(Vec<String>),
}

impl StarRocksParser<'_> {
    /// `'name'@'host'`, `name@host`, `'name'` (host `%`).
    pub(crate) fn user_identity(&mut self) -> PResult<UserIdentity> {
        let mut name = self.name_or_string_lit()?;
        // MySQL's tokenizer reads `bob@` (before a quoted host) as one word.
        let trailing_at = name.len() > 1 && name.ends_with('@');
        if trailing_at {
            name.pop();
        }
        let host = if trailing_at || self.parser.consume_token(&Token::AtSign) {
            self.name_or_string_lit()?
        } else {
            match self.parser.peek_token().token {
                // The tokenizer reads `@'host'` after a name as one token.
                Token::Word(ref w) if w.value.starts_with('@') => {
                    let w = w.value.clone();
                    self.parser.next_token();
                    w.trim_start_matches('@').to_string()
                }
                _ => "%".to_string(),
            }
        };
        Ok(UserIdentity {
            name,
            host: host.trim_matches('\'').trim_matches('"').to_string(),
        })
    }

    fn name_or_string_lit(&mut self) -> PResult<String> {
        let tok = self.parser.next_token();
        match tok.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
            Token::Word(w) => Ok(w.value),
            _ => self.parser.expected("a user name", tok),
        }
    }

    /// `IDENTIFIED BY 'pw' | BY PASSWORD '*…' | WITH mysql_native_password [BY 'pw' | AS '*…']`
    fn auth_spec(&mut self) -> PResult<Option<AuthSpec>> {
        if !self.eat_word("IDENTIFIED") {
            return Ok(None);
        }
        if self.eat_word("WITH") {
            let plugin = self.name_or_string_lit()?;
            if !plugin.eq_ignore_ascii_case("mysql_native_password") {
                return self.error(format!(
                    "authentication plugin '{plugin}' is not supported; use mysql_native_password"
                ));
            }
            if self.eat_word("BY") {
                return Ok(Some(AuthSpec::Password(self.string_lit()?)));
            }
            if self.eat_word("AS") {
                return Ok(Some(AuthSpec::Hash(self.string_lit()?)));
            }
            return Ok(Some(AuthSpec::Password(String::new())));
        }
        self.expect_word("BY")?;
        if self.eat_word("PASSWORD") {
            return Ok(Some(AuthSpec::Hash(self.string_lit()?)));
        }
        Ok(Some(AuthSpec::Password(self.string_lit()?)))
    }

    /// `REQUIRE SSL | X509 | NONE`: whether logins must use TLS.
    fn require_clause(&mut self) -> PResult<Option<bool>> {
        if !self.eat_word("REQUIRE") {
            return Ok(None);
        }
        if self.eat_word("NONE") {
            return Ok(Some(false));
        }
        if self.eat_word("SSL") || self.eat_word("X509") {
            return Ok(Some(true));
        }
        self.error("expected SSL, X509 or NONE after REQUIRE")
    }

    /// After `CREATE`: `USER …`.
    pub(crate) fn parse_create_user(&mut self) -> PResult<AccountStatement> {
        self.expect_word("USER")?;
        let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
        let user = self.user_identity()?;
        let auth = self.auth_spec()?;
        let require_ssl = self.require_clause()?;
        let default_roles = if self.eat_words(&["DEFAULT", "ROLE"]) {
            self.role_names()?
        } else {
            vec![]
        };
        let require_ssl = require_ssl.or(self.require_clause()?);
        Ok(AccountStatement::CreateUser {
            if_not_exists,
            user,
            auth,
            default_roles,
            require_ssl,
        })
    }

    /// After `ALTER`: `USER …`.
    pub(crate) fn parse_alter_user(&mut self) -> PResult<AccountStatement> {
        self.expect_word("USER")?;
        let if_exists = self.eat_words(&["IF", "EXISTS"]);
        let user = self.user_identity()?;
        let auth = self.auth_spec()?;
        let require_ssl = self.require_clause()?;
        Ok(AccountStatement::AlterUser {
            if_exists,
            user,
            auth,
            require_ssl,
        })
    }

    /// After `DROP`: `USER …`.
    pub(crate) fn parse_drop_user(&mut self) -> PResult<AccountStatement> {
        self.expect_word("USER")?;
        let if_exists = self.eat_words(&["IF", "EXISTS"]);
        let user = self.user_identity()?;
        Ok(AccountStatement::DropUser { if_exists, user })
    }

    /// After `SET`: `PASSWORD [FOR u] = PASSWORD('…') | '*…'`.
    pub(crate) fn parse_set_password(&mut self) -> PResult<AccountStatement> {
        self.expect_word("PASSWORD")?;
        let user = if self.eat_word("FOR") {
            Some(self.user_identity()?)
        } else {
            None
        };
        self.expect_token(&Token::Eq)?;
        let auth = if self.eat_word("PASSWORD") {
            self.expect_token(&Token::LParen)?;
            let pw = self.string_lit()?;
            self.expect_token(&Token::RParen)?;
            AuthSpec::Password(pw)
        } else {
            AuthSpec::Hash(self.string_lit()?)
        };
        Ok(AccountStatement::SetPassword { user, auth })
    }

    fn privileges(&mut self) -> PResult<Vec<Privilege>> {
        let mut out = vec![];
        loop {
            let word = self.name_or_string_lit()?;
            if word.eq_ignore_ascii_case("ALL") {
                self.eat_word("PRIVILEGES");
                out.extend(Privilege::ALL);
            } else if word.eq_ignore_ascii_case("USAGE") {
                // The right to use a catalog, which every account has: nothing to record.
            } else {
                let Some(p) = Privilege::parse(&word) else {
                    return self.error(format!("unknown privilege '{word}'"));
                };
                // StarRocks 3.x spells database privileges `CREATE TABLE`, `CREATE VIEW`.
                if p == Privilege::Create {
                    let _ = self.eat_word("TABLE")
                        || self.eat_word("VIEW")
                        || self.eat_word("DATABASE");
                }
                out.push(p);
            }
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `*.*`, `db.*`, `db.t`, `t`, `DATABASE db`, `TABLE [db.]t`, `ALL TABLES IN DATABASE db`,
    /// `SYSTEM`.
    fn grant_object(&mut self) -> PResult<GrantObject> {
        if self.eat_word("SYSTEM") {
            return Ok(GrantObject::Global);
        }
        // There is one catalog (default_catalog): its privileges are global ones.
        if self.eat_word("CATALOG") {
            self.name_or_string_lit()?;
            return Ok(GrantObject::Global);
        }
        if self.eat_words(&["ALL", "CATALOGS"]) {
            return Ok(GrantObject::Global);
        }
        if self.eat_word("DATABASE") {
            return Ok(GrantObject::Database(self.ident()?));
        }
        if self.eat_words(&["ALL", "TABLES", "IN", "DATABASE"])
            || self.eat_words(&["ALL", "VIEWS", "IN", "DATABASE"])
        {
            return Ok(GrantObject::Database(self.ident()?));
        }
        if self.eat_words(&["ALL", "DATABASES"])
            || self.eat_words(&["ALL", "TABLES", "IN", "ALL", "DATABASES"])
        {
            return Ok(GrantObject::Global);
        }
        let _ = self.eat_word("TABLE") || self.eat_word("VIEW");
        let first = if self.parser.consume_token(&Token::Mul) {
            None
        } else {
            Some(self.ident()?)
        };
        if !self.parser.consume_token(&Token::Period) {
            return match first {
                Some(table) => Ok(GrantObject::Table { db: None, table }),
                None => Ok(GrantObject::Global),
            };
        }
        let second = if self.parser.consume_token(&Token::Mul) {
            None
        } else {
            Some(self.ident()?)
        };
        match (first, second) {
            (None, None) => Ok(GrantObject::Global),
            (Some(db), None) => Ok(GrantObject::Database(db)),
            (Some(db), Some(table)) => Ok(GrantObject::Table {
                db: Some(db),
                table,
            }),
            (None, Some(_)) => self.error("'*.t' is not a valid grant object"),
        }
    }

    /// `[USER] u` or `ROLE r`.
    pub(crate) fn grantee(&mut self) -> PResult<Grantee> {
        if self.eat_word("ROLE") {
            return Ok(Grantee::Role(self.name_or_string_lit()?));
        }
        self.eat_word("USER");
        Ok(Grantee::User(self.user_identity()?))
    }

    /// Whether the words before the next `to_word` include `ON`: a privilege grant rather
    /// than a role grant.
    fn grants_privileges(&self, to_word: &str) -> bool {
        for i in 0.. {
            match self.parser.peek_nth_token(i).token {
                Token::EOF | Token::SemiColon => return false,
                Token::Word(w) if w.quote_style.is_none() => {
                    if w.value.eq_ignore_ascii_case("ON") {
                        return true;
                    }
                    if w.value.eq_ignore_ascii_case(to_word) {
                        return false;
                    }
                }
                _ => {}
            }
        }
        false
    }

    fn role_names(&mut self) -> PResult<Vec<String>> {
        let mut roles = vec![self.name_or_string_lit()?];
        while self.parser.consume_token(&Token::Comma) {
            roles.push(self.name_or_string_lit()?);
        }
        Ok(roles)
    }

    /// `DEFAULT | NONE | ALL | r1, …`
    fn role_set(&mut self) -> PResult<RoleSet> {
        if self.eat_word("DEFAULT") {
            return Ok(RoleSet::Default);
        }
        if self.eat_word("NONE") {
            return Ok(RoleSet::None);
        }
        if self.eat_word("ALL") {
            return Ok(RoleSet::All);
        }
        Ok(RoleSet::Roles(self.role_names()?))
    }

    /// `GRANT privileges ON object TO grantee [WITH GRANT OPTION]`, `GRANT roles TO grantee`.
    pub(crate) fn parse_grant(&mut self) -> PResult<AccountStatement> {
        self.expect_word("GRANT")?;
        if !self.grants_privileges("TO") {
            let roles = self.role_names()?;
            self.expect_word("TO")?;
            let grantee = self.grantee()?;
            return Ok(AccountStatement::GrantRoles { roles, grantee });
        }
        let mut privileges = self.privileges()?;
        self.expect_word("ON")?;
        let object = self.grant_object()?;
        self.expect_word("TO")?;
        let grantee = self.grantee()?;
        if self.eat_words(&["WITH", "GRANT", "OPTION"]) {
            privileges.push(Privilege::Grant);
            privileges.sort();
            privileges.dedup();
        }
        Ok(AccountStatement::Grant {
            privileges,
            object,
            grantee,
        })
    }

    /// `REVOKE privileges ON object FROM grantee`, `REVOKE roles FROM grantee`.
    pub(crate) fn parse_revoke(&mut self) -> PResult<AccountStatement> {
        self.expect_word("REVOKE")?;
        if !self.grants_privileges("FROM") {
            let roles = self.role_names()?;
            self.expect_word("FROM")?;
            let grantee = self.grantee()?;
            return Ok(AccountStatement::RevokeRoles { roles, grantee });
        }
        let privileges = self.privileges()?;
        self.expect_word("ON")?;
        let object = self.grant_object()?;
        self.expect_word("FROM")?;
        let grantee = self.grantee()?;
        Ok(AccountStatement::Revoke {
            privileges,
            object,
            grantee,
        })
    }

    /// After `CREATE` / `DROP`: `ROLE …`.
    pub(crate) fn parse_role_ddl(&mut self, create: bool) -> PResult<AccountStatement> {
        self.expect_word("ROLE")?;
        if create {
            let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
            Ok(AccountStatement::CreateRole {
                if_not_exists,
                name: self.name_or_string_lit()?,
            })
        } else {
            let if_exists = self.eat_words(&["IF", "EXISTS"]);
            Ok(AccountStatement::DropRole {
                if_exists,
                name: self.name_or_string_lit()?,
            })
        }
    }

    /// After `SET`: `ROLE …` or `DEFAULT ROLE … TO u`.
    pub(crate) fn parse_set_role(&mut self) -> PResult<AccountStatement> {
        if self.eat_words(&["DEFAULT", "ROLE"]) {
            let roles = self.role_set()?;
            self.expect_word("TO")?;
            let user = self.user_identity()?;
            return Ok(AccountStatement::SetDefaultRole { roles, user });
        }
        self.expect_word("ROLE")?;
        Ok(AccountStatement::SetRole(self.role_set()?))
    }
}

/// Property keys whose values are secrets (repository and catalog credentials).
pub fn is_credential_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "access_key",
        "access.key",
        "password",
        "token",
        "credential",
    ]
    .iter()
    .any(|needle| k.contains(needle))
}

/// The statement text with passwords replaced by `'***'`, for logs and the process list:
/// every string literal of a statement that sets a password (CREATE/ALTER USER, SET
/// PASSWORD, GRANT … IDENTIFIED BY) is masked, and so is the value of every credential
/// property (`"aws.s3.secret_key" = "…"`).
pub fn redact(sql: &str) -> std::borrow::Cow<'_, str> {
    let upper = sql.to_ascii_uppercase();
    if !(upper.contains("PASSWORD")
        || upper.contains("IDENTIFIED")
        || upper.contains("SECRET")
        || upper.contains("ACCESS")
        || upper.contains("TOKEN"))
    {
        return std::borrow::Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize() else {
        // Unparseable text that mentions passwords: keep none of it.
        return std::borrow::Cow::Owned("/* statement redacted */".to_string());
    };
    let mut out = String::with_capacity(sql.len());
    let mut masking = false;
    // In PROPERTIES ("aws.s3.secret_key" = "…"): the value after a credential key.
    let mut secret_value = false;
    for t in tokens {
        match &t {
            Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) if secret_value => {
                secret_value = false;
                out.push_str("'***'");
                continue;
            }
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) if is_credential_key(s) => {
                secret_value = true;
            }
            Token::Eq | Token::Whitespace(_) => {}
            _ => secret_value = false,
        }
        if let Token::Word(w) = &t
            && (w.value.eq_ignore_ascii_case("IDENTIFIED")
                || w.value.eq_ignore_ascii_case("PASSWORD"))
        {
            masking = true;
        }
        match &t {
            Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) if masking => {
                out.push_str("'***'")
            }
            Token::SemiColon => {
                masking = false;
                out.push(';');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(sql: &str) -> AccountStatement {
        match crate::parse_one(sql).map(|p| p.statement) {
            Ok(crate::Statement::Account(a)) => a,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn account_statements_parse() {
        let u = |name: &str, host: &str| UserIdentity {
            name: name.into(),
            host: host.into(),
        };
        assert_eq!(
            account("CREATE USER 'app_user'@'%' IDENTIFIED BY 'pw'"),
            AccountStatement::CreateUser {
                if_not_exists: false,
                user: u("app_user", "%"),
                auth: Some(AuthSpec::Password("pw".into())),
                default_roles: vec![],
                require_ssl: None,
            }
        );
        assert_eq!(
            account(
                "create user if not exists bob@'10.0.%' identified with mysql_native_password as '*AB'"
            ),
            AccountStatement::CreateUser {
                if_not_exists: true,
                user: u("bob", "10.0.%"),
                auth: Some(AuthSpec::Hash("*AB".into())),
                default_roles: vec![],
                require_ssl: None,
            }
        );
        assert_eq!(
            account("GRANT SELECT, LOAD_PRIV ON ALL TABLES IN DATABASE w TO USER 'a'@'%'"),
            AccountStatement::Grant {
                privileges: vec![Privilege::Select, Privilege::Insert],
                object: GrantObject::Database("w".into()),
                grantee: Grantee::User(u("a", "%")),
            }
        );
        assert_eq!(
            account("GRANT ALL ON *.* TO a WITH GRANT OPTION"),
            AccountStatement::Grant {
                privileges: Privilege::ALL.to_vec(),
                object: GrantObject::Global,
                grantee: Grantee::User(u("a", "%")),
            }
        );
        assert_eq!(
            account("REVOKE DELETE ON w.t FROM 'a'@'%'"),
            AccountStatement::Revoke {
                privileges: vec![Privilege::Delete],
                object: GrantObject::Table {
                    db: Some("w".into()),
                    table: "t".into(),
                },
                grantee: Grantee::User(u("a", "%")),
            }
        );
        assert_eq!(
            account("SET PASSWORD FOR 'a'@'%' = PASSWORD('x')"),
            AccountStatement::SetPassword {
                user: Some(u("a", "%")),
                auth: AuthSpec::Password("x".into()),
            }
        );
        assert_eq!(account("SHOW GRANTS"), AccountStatement::ShowGrants(None));
        assert_eq!(
            account("GRANT USAGE, CREATE DATABASE ON CATALOG default_catalog TO a"),
            AccountStatement::Grant {
                privileges: vec![Privilege::Create],
                object: GrantObject::Global,
                grantee: Grantee::User(u("a", "%")),
            }
        );
        assert_eq!(
            account("GRANT OPERATE ON SYSTEM TO ROLE ops"),
            AccountStatement::Grant {
                privileges: vec![Privilege::Operate],
                object: GrantObject::Global,
                grantee: Grantee::Role("ops".into()),
            }
        );
        assert!(crate::parse_one("GRANT FLY ON *.* TO a").is_err());
        assert_eq!(
            account("GRANT analyst, 'etl' TO USER a"),
            AccountStatement::GrantRoles {
                roles: vec!["analyst".into(), "etl".into()],
                grantee: Grantee::User(u("a", "%")),
            }
        );
        assert_eq!(
            account("GRANT SELECT ON TABLE w.t TO ROLE analyst"),
            AccountStatement::Grant {
                privileges: vec![Privilege::Select],
                object: GrantObject::Table {
                    db: Some("w".into()),
                    table: "t".into(),
                },
                grantee: Grantee::Role("analyst".into()),
            }
        );
        assert_eq!(
            account("REVOKE analyst FROM ROLE r2"),
            AccountStatement::RevokeRoles {
                roles: vec!["analyst".into()],
                grantee: Grantee::Role("r2".into()),
            }
        );
        assert_eq!(
            account("SET DEFAULT ROLE analyst TO 'a'@'%'"),
            AccountStatement::SetDefaultRole {
                roles: RoleSet::Roles(vec!["analyst".into()]),
                user: u("a", "%"),
            }
        );
        assert_eq!(
            account("SET ROLE ALL"),
            AccountStatement::SetRole(RoleSet::All)
        );
        assert_eq!(
            account("CREATE ROLE r"),
            AccountStatement::CreateRole {
                if_not_exists: false,
                name: "r".into(),
            }
        );
        assert_eq!(account("SHOW ROLES"), AccountStatement::ShowRoles);
    }

    #[test]
    fn passwords_are_redacted() {
        for sql in [
            "CREATE USER 'a'@'%' IDENTIFIED BY 'secret1'",
            "ALTER USER a IDENTIFIED WITH mysql_native_password BY \"secret1\"",
            "SET PASSWORD FOR 'a'@'%' = PASSWORD('secret1')",
            "set password = 'secret1'",
        ] {
            let r = redact(sql);
            assert!(!r.contains("secret1"), "{r}");
            assert!(r.contains("'***'"), "{r}");
        }
        assert_eq!(redact("SELECT 'x'"), "SELECT 'x'");
        let r = redact(
            "CREATE REPOSITORY r WITH BROKER ON LOCATION 's3a://b/p' PROPERTIES \
             (\"aws.s3.access_key\" = \"AK\", \"aws.s3.secret_key\"=\"SK\", \"aws.s3.region\" = \"eu\")",
        );
        assert!(!r.contains("\"AK\"") && !r.contains("\"SK\""), "{r}");
        assert!(r.contains("eu") && r.contains("s3a://b/p"), "{r}");
        // The user name stays.
        assert!(redact("CREATE USER 'bob'@'%' IDENTIFIED BY 'pw'").contains("'bob'"));
    }
}
