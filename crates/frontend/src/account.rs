//! Accounts, authentication and privileges: CREATE/ALTER/DROP USER, SET PASSWORD, GRANT,
//! REVOKE, SHOW GRANTS, SHOW USERS, mysql_native_password logins and the checks every
//! statement goes through.
//!
//! `root` has every privilege and cannot lose them. Until it is given a password, `root@%`
//! exists without one (not stored in the catalog). Other accounts have the privileges
//! granted to them, on everything (`*.*`), a database and its tables (`db.*`) or one table.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::{AccountStatement, AuthSpec, GrantObject, Privilege, UserIdentity};
use sha1::{Digest, Sha1};

use crate::catalog::{CatalogState, Grant, GrantTarget, JournalEntry, UserAccount, account_key};
use crate::now_ms;
use crate::result::{ResultBuilder, s};
use crate::session::Session;

/// The name of the account that holds every privilege.
pub const ROOT: &str = "root";

/// The account `root@%` has while it has no password.
pub fn builtin_root() -> UserAccount {
    UserAccount {
        name: ROOT.to_string(),
        host: "%".to_string(),
        password: String::new(),
        grants: vec![],
        created_ms: 0,
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The mysql_native_password hash of a password: `*` and the upper-case hex of
/// SHA1(SHA1(password)); empty for the empty password.
pub fn password_hash(password: &str) -> String {
    if password.is_empty() {
        return String::new();
    }
    let stage2 = sha1(&[&sha1(&[password.as_bytes()])]);
    let hex: String = stage2.iter().map(|b| format!("{b:02X}")).collect();
    format!("*{hex}")
}

/// SHA1(SHA1(password)) from a stored hash.
fn stage2(hash: &str) -> Option<[u8; 20]> {
    let hex = hash.strip_prefix('*')?;
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Checks a mysql_native_password login: the client sent SHA1(password) XOR
/// SHA1(scramble, SHA1(SHA1(password))).
pub fn check_scramble(stored: &str, scramble: &[u8], response: &[u8]) -> bool {
    if stored.is_empty() {
        return response.is_empty();
    }
    let (Some(stage2), Ok(response)) = (stage2(stored), <[u8; 20]>::try_from(response)) else {
        return false;
    };
    let key = sha1(&[scramble, &stage2]);
    let mut stage1 = [0u8; 20];
    for i in 0..20 {
        stage1[i] = response[i] ^ key[i];
    }
    sha1(&[&stage1]) == stage2
}

/// Checks a clear-text password (HTTP Basic auth) against a stored hash.
pub fn check_password(stored: &str, password: &str) -> bool {
    password_hash(password) == stored
}

/// MySQL host pattern matching: `%` any run of characters, `_` one, case-insensitive.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    fn go(p: &[u8], h: &[u8]) -> bool {
        match p.split_first() {
            None => h.is_empty(),
            Some((b'%', rest)) => (0..=h.len()).any(|i| go(rest, &h[i..])),
            Some((b'_', rest)) => !h.is_empty() && go(rest, &h[1..]),
            Some((c, rest)) => {
                h.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &h[1..])
            }
        }
    }
    go(pattern.as_bytes(), host.as_bytes())
}

/// The account a user connecting from `host` logs in as: among the accounts of that name
/// whose host pattern matches, the most specific (fewest wildcards, then the longest).
pub fn find_account(state: &CatalogState, name: &str, host: &str) -> Option<UserAccount> {
    let mut candidates: Vec<&UserAccount> = state
        .users
        .values()
        .filter(|u| u.name == name && host_matches(&u.host, host))
        .collect();
    candidates.sort_by_key(|u| {
        let wildcards = u.host.chars().filter(|c| *c == '%' || *c == '_').count();
        (wildcards, std::cmp::Reverse(u.host.len()))
    });
    match candidates.first() {
        Some(u) => Some((*u).clone()),
        None if name == ROOT && !state.users.values().any(|u| u.name == ROOT) => {
            Some(builtin_root())
        }
        None => None,
    }
}

/// The account with exactly this name and host (the built-in root included).
fn exact_account(state: &CatalogState, user: &UserIdentity) -> Option<UserAccount> {
    match state.users.get(&account_key(&user.name, &user.host)) {
        Some(u) => Some(u.clone()),
        None if user.name == ROOT && user.host == "%" => {
            (!state.users.values().any(|u| u.name == ROOT)).then(builtin_root)
        }
        None => None,
    }
}

fn covers(target: &GrantTarget, db: Option<&str>, table: Option<&str>) -> bool {
    match target {
        GrantTarget::Global => true,
        GrantTarget::Database(d) => db.is_some_and(|db| db.eq_ignore_ascii_case(d)),
        GrantTarget::Table { db: d, table: t } => {
            db.is_some_and(|db| db.eq_ignore_ascii_case(d))
                && table.is_some_and(|tb| tb.eq_ignore_ascii_case(t))
        }
    }
}

/// Whether an account holds a privilege on a table (`table` given), a database (`db` only)
/// or globally (neither).
pub fn allowed(account: &UserAccount, p: Privilege, db: Option<&str>, table: Option<&str>) -> bool {
    account.name == ROOT
        || account
            .grants
            .iter()
            .any(|g| g.privileges.contains(p.as_str()) && covers(&g.object, db, table))
}

/// Whether an account holds any privilege in a database or on one of its tables (it may
/// then see the database).
pub fn sees_database(account: &UserAccount, db: &str) -> bool {
    account.name == ROOT
        || account.grants.iter().any(|g| match &g.object {
            GrantTarget::Global => true,
            GrantTarget::Database(d) | GrantTarget::Table { db: d, .. } => {
                d.eq_ignore_ascii_case(db)
            }
        })
}

/// The error for a missing privilege, worded as MySQL words it.
pub fn denied(
    account: &UserAccount,
    p: Privilege,
    db: Option<&str>,
    table: Option<&str>,
) -> SqlError {
    let who = format!("'{}'@'{}'", account.name, account.host);
    match (db, table) {
        (Some(_), Some(t)) => SqlError::new(
            ErrorCode::ER_TABLEACCESS_DENIED_ERROR,
            format!(
                "{} command denied to user {who} for table '{t}'",
                p.as_str()
            ),
        ),
        (Some(d), None) => SqlError::new(
            ErrorCode::ER_DBACCESS_DENIED_ERROR,
            format!(
                "Access denied for user {who} to database '{d}' (needs {})",
                p.as_str()
            ),
        ),
        _ => SqlError::new(
            ErrorCode::ER_SPECIFIC_ACCESS_DENIED_ERROR,
            format!(
                "Access denied; you need (at least one of) the {} privilege(s) for this operation",
                p.as_str()
            ),
        ),
    }
}

fn target_text(t: &GrantTarget) -> String {
    match t {
        GrantTarget::Global => "*.*".to_string(),
        GrantTarget::Database(d) => format!("`{d}`.*"),
        GrantTarget::Table { db, table } => format!("`{db}`.`{table}`"),
    }
}

fn cannot_user(op: &str, user: &UserIdentity) -> SqlError {
    SqlError::new(
        ErrorCode::ER_CANNOT_USER,
        format!("Operation {op} failed for {user}"),
    )
}

fn stored_hash(auth: &AuthSpec) -> Result<String, SqlError> {
    match auth {
        AuthSpec::Password(p) => Ok(password_hash(p)),
        AuthSpec::Hash(h) if h.is_empty() => Ok(String::new()),
        AuthSpec::Hash(h) => match stage2(h) {
            Some(_) => Ok(h.to_ascii_uppercase()),
            None => Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                "The password hash has the wrong format: expected '*' and 40 hex digits",
            )),
        },
    }
}

impl Session {
    /// The account this session runs as, as the catalog has it now (grants and revokes
    /// apply to open sessions at once). A dropped account keeps no privileges.
    pub(crate) fn account(&self) -> Arc<UserAccount> {
        let state = self.fe.catalog().read();
        let found = state
            .users
            .get(&account_key(&self.conn.user, &self.conn.host))
            .cloned()
            .or_else(|| {
                (self.conn.user == ROOT && self.conn.host == "%")
                    .then(|| {
                        exact_account(
                            &state,
                            &UserIdentity {
                                name: ROOT.into(),
                                host: "%".into(),
                            },
                        )
                    })
                    .flatten()
            });
        Arc::new(found.unwrap_or_else(|| UserAccount {
            name: self.conn.user.clone(),
            host: self.conn.host.clone(),
            password: String::new(),
            grants: vec![],
            created_ms: 0,
        }))
    }

    /// Fails unless the session's account holds `p` on the table / database / globally.
    pub(crate) fn require(
        &self,
        p: Privilege,
        db: Option<&str>,
        table: Option<&str>,
    ) -> Result<(), SqlError> {
        let account = self.account();
        if allowed(&account, p, db, table) {
            Ok(())
        } else {
            Err(denied(&account, p, db, table))
        }
    }

    fn grant_target(&self, object: &GrantObject) -> Result<GrantTarget, SqlError> {
        Ok(match object {
            GrantObject::Global => GrantTarget::Global,
            GrantObject::Database(d) => GrantTarget::Database(d.clone()),
            GrantObject::Table { db, table } => GrantTarget::Table {
                db: match db {
                    Some(d) => d.clone(),
                    None => self.current_db()?,
                },
                table: table.clone(),
            },
        })
    }

    /// Runs an account statement.
    pub(crate) async fn account_statement(
        &mut self,
        stmt: AccountStatement,
    ) -> Result<QueryResult, SqlError> {
        match stmt {
            AccountStatement::ShowGrants(user) => return self.show_grants(user),
            AccountStatement::ShowUsers => {
                self.require(Privilege::Grant, None, None)?;
                let state = self.fe.catalog().read();
                let mut users: BTreeSet<String> =
                    state.users.values().map(UserAccount::identity).collect();
                if !state.users.values().any(|u| u.name == ROOT) {
                    users.insert(builtin_root().identity());
                }
                let mut b = ResultBuilder::new(&[("User", DataType::Utf8)]);
                for u in users {
                    b.row(vec![s(u)]);
                }
                return b.into_result();
            }
            AccountStatement::SetPassword { ref user, .. } => {
                // Anyone may change their own password.
                let own = user
                    .as_ref()
                    .is_none_or(|u| u.name == self.conn.user && u.host == self.conn.host);
                if !own {
                    self.require(Privilege::Grant, None, None)?;
                }
            }
            _ => self.require(Privilege::Grant, None, None)?,
        }
        let granter = self.account();
        let mut w = self.fe.catalog().writer().await;
        let state = w.read();
        let entry = match stmt {
            AccountStatement::CreateUser {
                if_not_exists,
                user,
                auth,
            } => {
                if exact_account(&state, &user).is_some() {
                    if if_not_exists {
                        return Ok(QueryResult::ok());
                    }
                    return Err(cannot_user("CREATE USER", &user));
                }
                validate_identity(&user)?;
                JournalEntry::PutUser {
                    user: UserAccount {
                        name: user.name.clone(),
                        host: user.host.clone(),
                        password: auth
                            .as_ref()
                            .map(stored_hash)
                            .transpose()?
                            .unwrap_or_default(),
                        grants: vec![],
                        created_ms: now_ms(),
                    },
                }
            }
            AccountStatement::AlterUser {
                if_exists,
                user,
                auth,
            } => {
                let Some(mut account) = exact_account(&state, &user) else {
                    if if_exists {
                        return Ok(QueryResult::ok());
                    }
                    return Err(cannot_user("ALTER USER", &user));
                };
                if let Some(auth) = auth {
                    account.password = stored_hash(&auth)?;
                }
                JournalEntry::PutUser { user: account }
            }
            AccountStatement::SetPassword { user, auth } => {
                let user = user.unwrap_or_else(|| UserIdentity {
                    name: self.conn.user.clone(),
                    host: self.conn.host.clone(),
                });
                let Some(mut account) = exact_account(&state, &user) else {
                    return Err(cannot_user("SET PASSWORD", &user));
                };
                account.password = stored_hash(&auth)?;
                JournalEntry::PutUser { user: account }
            }
            AccountStatement::DropUser { if_exists, user } => {
                if user.name == ROOT {
                    return Err(SqlError::new(
                        ErrorCode::ER_CANNOT_USER,
                        "Operation DROP USER failed: root cannot be dropped",
                    ));
                }
                if exact_account(&state, &user).is_none() {
                    if if_exists {
                        return Ok(QueryResult::ok());
                    }
                    return Err(cannot_user("DROP USER", &user));
                }
                JournalEntry::DropUser {
                    name: user.name,
                    host: user.host,
                }
            }
            AccountStatement::Grant {
                privileges,
                object,
                user,
            } => {
                let (target, mut account) =
                    self.grant_change(&state, &granter, "GRANT", &privileges, &object, &user)?;
                if account.name == ROOT {
                    return Ok(QueryResult::ok());
                }
                let names = privileges.iter().map(|p| p.as_str().to_string());
                match account.grants.iter_mut().find(|g| g.object == target) {
                    Some(g) => g.privileges.extend(names),
                    None => account.grants.push(Grant {
                        object: target,
                        privileges: names.collect(),
                    }),
                }
                JournalEntry::PutUser { user: account }
            }
            AccountStatement::Revoke {
                privileges,
                object,
                user,
            } => {
                let (target, mut account) =
                    self.grant_change(&state, &granter, "REVOKE", &privileges, &object, &user)?;
                if account.name == ROOT {
                    return Err(SqlError::new(
                        ErrorCode::ER_CANNOT_USER,
                        "Operation REVOKE failed: root keeps every privilege",
                    ));
                }
                for g in account.grants.iter_mut().filter(|g| g.object == target) {
                    for p in &privileges {
                        g.privileges.remove(p.as_str());
                    }
                }
                account.grants.retain(|g| !g.privileges.is_empty());
                JournalEntry::PutUser { user: account }
            }
            AccountStatement::ShowGrants(_) | AccountStatement::ShowUsers => {
                return Ok(QueryResult::ok());
            }
        };
        drop(state);
        w.commit(vec![entry])?;
        Ok(QueryResult::ok())
    }

    /// The object and the account a GRANT or REVOKE (`op`) changes, once the granter may.
    fn grant_change(
        &self,
        state: &CatalogState,
        granter: &UserAccount,
        op: &str,
        privileges: &[Privilege],
        object: &GrantObject,
        user: &UserIdentity,
    ) -> Result<(GrantTarget, UserAccount), SqlError> {
        let target = self.grant_target(object)?;
        self.check_grantable(granter, privileges, &target)?;
        match exact_account(state, user) {
            Some(account) => Ok((target, account)),
            None => Err(SqlError::new(
                ErrorCode::ER_CANNOT_USER,
                format!("Operation {op} failed: no such account {user}"),
            )),
        }
    }

    /// A grant or revoke needs GRANT on the object, and the privileges themselves: nobody
    /// hands out (or takes away) what they do not hold.
    fn check_grantable(
        &self,
        granter: &UserAccount,
        privileges: &[Privilege],
        target: &GrantTarget,
    ) -> Result<(), SqlError> {
        let (db, table) = match target {
            GrantTarget::Global => (None, None),
            GrantTarget::Database(d) => (Some(d.as_str()), None),
            GrantTarget::Table { db, table } => (Some(db.as_str()), Some(table.as_str())),
        };
        for p in std::iter::once(&Privilege::Grant).chain(privileges) {
            if !allowed(granter, *p, db, table) {
                return Err(denied(granter, *p, db, table));
            }
        }
        Ok(())
    }

    fn show_grants(&self, user: Option<UserIdentity>) -> Result<QueryResult, SqlError> {
        let own = UserIdentity {
            name: self.conn.user.clone(),
            host: self.conn.host.clone(),
        };
        let user = user.unwrap_or(own.clone());
        if user != own {
            self.require(Privilege::Grant, None, None)?;
        }
        let account = {
            let state = self.fe.catalog().read();
            exact_account(&state, &user)
        };
        let Some(account) = account else {
            return Err(SqlError::new(
                ErrorCode::ER_NONEXISTING_GRANT,
                format!("There is no such grant defined for user {user}"),
            ));
        };
        let mut b = ResultBuilder::new(&[
            ("UserIdentity", DataType::Utf8),
            ("Catalog", DataType::Utf8),
            ("Grants", DataType::Utf8),
        ]);
        let identity = account.identity();
        if account.name == ROOT {
            b.row(vec![
                s(identity.clone()),
                s("default_catalog"),
                s(format!(
                    "GRANT ALL PRIVILEGES ON *.* TO {identity} WITH GRANT OPTION"
                )),
            ]);
        }
        for g in &account.grants {
            // In the canonical order (SELECT, INSERT, UPDATE, DELETE, …).
            let mut ordered: Vec<Privilege> = g
                .privileges
                .iter()
                .filter_map(|p| Privilege::parse(p))
                .filter(|p| *p != Privilege::Grant)
                .collect();
            ordered.sort();
            let mut privs: Vec<&str> = ordered.iter().map(Privilege::as_str).collect();
            if privs.is_empty() {
                privs.push("USAGE");
            }
            let option = if g.privileges.contains("GRANT") {
                " WITH GRANT OPTION"
            } else {
                ""
            };
            b.row(vec![
                s(identity.clone()),
                s("default_catalog"),
                s(format!(
                    "GRANT {} ON {} TO {identity}{option}",
                    privs.join(", "),
                    target_text(&g.object)
                )),
            ]);
        }
        b.into_result()
    }
}

fn validate_identity(user: &UserIdentity) -> Result<(), SqlError> {
    if user.name.is_empty() || user.name.len() > 64 || user.host.is_empty() {
        return Err(SqlError::new(
            ErrorCode::ER_WRONG_ARGUMENTS,
            format!("Invalid user {user}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_round_trip() {
        let stored = password_hash("secret");
        assert_eq!(stored.len(), 41);
        // MySQL's documented value for PASSWORD('secret').
        assert_eq!(stored, "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
        let scramble = [7u8; 20];
        let response = mysql_scramble(&scramble, "secret");
        assert!(check_scramble(&stored, &scramble, &response));
        assert!(!check_scramble(
            &stored,
            &scramble,
            &mysql_scramble(&scramble, "Secret")
        ));
        assert!(!check_scramble(&stored, &scramble, &[]));
        assert!(check_scramble("", &scramble, &[]));
        assert!(!check_scramble("", &scramble, &response));
        assert!(check_password(&stored, "secret"));
        assert!(!check_password(&stored, ""));
    }

    /// What a client computes.
    fn mysql_scramble(scramble: &[u8], password: &str) -> Vec<u8> {
        let stage1 = sha1(&[password.as_bytes()]);
        let stage2 = sha1(&[&stage1]);
        let key = sha1(&[scramble, &stage2]);
        stage1.iter().zip(key).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("%", "10.0.0.1"));
        assert!(host_matches("10.0.%", "10.0.3.4"));
        assert!(!host_matches("10.0.%", "10.1.3.4"));
        assert!(host_matches("127.0.0._", "127.0.0.1"));
        assert!(!host_matches("127.0.0._", "127.0.0.12"));
        assert!(host_matches("LocalHost", "localhost"));
    }

    #[test]
    fn the_most_specific_account_wins() {
        let mut state = CatalogState::default();
        for host in ["%", "10.0.%", "10.0.0.1"] {
            let u = UserAccount {
                name: "a".into(),
                host: host.into(),
                password: String::new(),
                grants: vec![],
                created_ms: 0,
            };
            state.users.insert(u.key(), u);
        }
        assert_eq!(
            find_account(&state, "a", "10.0.0.1").unwrap().host,
            "10.0.0.1"
        );
        assert_eq!(
            find_account(&state, "a", "10.0.0.2").unwrap().host,
            "10.0.%"
        );
        assert_eq!(find_account(&state, "a", "192.168.1.1").unwrap().host, "%");
        assert!(find_account(&state, "b", "10.0.0.1").is_none());
        // root exists without a password until an account named root is stored.
        assert_eq!(
            find_account(&state, "root", "1.2.3.4").unwrap().password,
            ""
        );
    }
}
