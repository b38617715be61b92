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
use rigel_sql::{
    AccountStatement, AuthSpec, GrantObject, Grantee, Privilege, RoleSet, UserIdentity,
};
use sha1::{Digest, Sha1};

use crate::now_ms;
use crate::result::{ResultBuilder, s};
use crate::session::Session;
use rigel_catalog::{
    CatalogState, Grant, GrantTarget, JournalEntry, RoleDef, UserAccount, account_key,
};

/// The name of the account that holds every privilege.
pub const ROOT: &str = "root";

/// The account `root@%` has while it has no password.
pub fn builtin_root() -> UserAccount {
    UserAccount::new(ROOT, "%")
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

/// The role every account has.
pub const PUBLIC: &str = "public";

/// Built-in roles; all but `public` cannot be changed or dropped.
pub const BUILTIN_ROLES: [&str; 5] = [ROOT, "cluster_admin", "db_admin", "user_admin", PUBLIC];

fn global_grant(privileges: &[Privilege]) -> Grant {
    Grant {
        object: GrantTarget::Global,
        privileges: privileges.iter().map(|p| p.as_str().to_string()).collect(),
    }
}

/// A role's own privileges and the roles granted to it.
fn role_privileges(state: &CatalogState, role: &str) -> (Vec<Grant>, Vec<String>) {
    use Privilege as P;
    let builtin = match role {
        ROOT => Some(global_grant(&P::ALL)),
        "db_admin" => Some(global_grant(&[
            P::Select,
            P::Insert,
            P::Update,
            P::Delete,
            P::Alter,
            P::Create,
            P::Drop,
        ])),
        "user_admin" => Some(global_grant(&[P::Grant])),
        "cluster_admin" => Some(global_grant(&[P::Operate])),
        _ => None,
    };
    if let Some(g) = builtin {
        return (vec![g], vec![]);
    }
    match state.roles.get(role) {
        Some(r) => (r.grants.clone(), r.roles.clone()),
        None => (vec![], vec![]),
    }
}

/// Whether a role exists (built in, or created).
fn role_exists(state: &CatalogState, role: &str) -> bool {
    BUILTIN_ROLES.contains(&role) || state.roles.contains_key(role)
}

fn unknown_role(role: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_WRONG_ARGUMENTS,
        format!("Role '{role}' does not exist"),
    )
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

/// Whether an account holds any privilege on a table (directly, on its database or
/// globally): it may then see the table in SHOW TABLES and information_schema.
pub fn sees_table(account: &UserAccount, db: &str, table: &str) -> bool {
    account.name == ROOT
        || account.grants.iter().any(|g| match &g.object {
            GrantTarget::Global => true,
            GrantTarget::Database(d) => d.eq_ignore_ascii_case(db),
            GrantTarget::Table { db: d, table: t } => {
                d.eq_ignore_ascii_case(db) && t.eq_ignore_ascii_case(table)
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
        let me = UserIdentity {
            name: self.conn.user.clone(),
            host: self.conn.host.clone(),
        };
        let mut account =
            exact_account(&state, &me).unwrap_or_else(|| UserAccount::new(&me.name, &me.host));
        let all_on_login = self.fe.config.read().activate_all_roles_on_login;
        let active: Vec<String> = match &self.active_roles {
            None | Some(RoleSet::Default) if all_on_login => account.roles.clone(),
            None | Some(RoleSet::Default) => account.default_roles.clone(),
            Some(RoleSet::None) => vec![],
            Some(RoleSet::All) => account.roles.clone(),
            // Only roles still granted count.
            Some(RoleSet::Roles(r)) => r
                .iter()
                .filter(|x| account.roles.contains(x))
                .cloned()
                .collect(),
        };
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = active;
        stack.push(PUBLIC.to_string());
        while let Some(r) = stack.pop() {
            if !seen.insert(r.clone()) {
                continue;
            }
            let (grants, roles) = role_privileges(&state, &r);
            account.grants.extend(grants);
            stack.extend(roles);
        }
        Arc::new(account)
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

    /// Runs an account statement.
    pub(crate) async fn account_statement(
        &mut self,
        stmt: AccountStatement,
    ) -> Result<QueryResult, SqlError> {
        match &stmt {
            AccountStatement::ShowGrants(grantee) => return self.show_grants(grantee.clone()),
            AccountStatement::ShowUsers => return self.show_users(),
            AccountStatement::ShowRoles => return self.show_roles(),
            AccountStatement::SetRole(set) => return self.set_role(set.clone()),
            AccountStatement::SetPassword { user, .. } => {
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
        if let AccountStatement::GrantRoles { roles, .. }
        | AccountStatement::RevokeRoles { roles, .. } = &stmt
            && let Some(r) = roles.iter().find(|r| !role_exists(&state, r))
        {
            return Err(unknown_role(r));
        }
        let entry = match stmt {
            AccountStatement::CreateUser {
                if_not_exists,
                user,
                auth,
                default_roles,
                require_ssl,
            } => {
                if exact_account(&state, &user).is_some() {
                    if if_not_exists {
                        return Ok(QueryResult::ok());
                    }
                    return Err(cannot_user("CREATE USER", &user));
                }
                validate_identity(&user)?;
                if let Some(r) = default_roles.iter().find(|r| !role_exists(&state, r)) {
                    return Err(unknown_role(r));
                }
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
                        roles: default_roles.clone(),
                        default_roles,
                        require_ssl: require_ssl.unwrap_or(false),
                    },
                }
            }
            AccountStatement::AlterUser {
                if_exists,
                user,
                auth,
                require_ssl,
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
                if let Some(r) = require_ssl {
                    account.require_ssl = r;
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
            AccountStatement::CreateRole {
                if_not_exists,
                name,
            } => {
                if role_exists(&state, &name) {
                    if if_not_exists {
                        return Ok(QueryResult::ok());
                    }
                    return Err(SqlError::new(
                        ErrorCode::ER_CANNOT_USER,
                        format!("Operation CREATE ROLE failed for '{name}': it exists"),
                    ));
                }
                validate_identity(&UserIdentity {
                    name: name.clone(),
                    host: "%".into(),
                })?;
                JournalEntry::PutRole {
                    role: RoleDef {
                        name,
                        grants: vec![],
                        roles: vec![],
                    },
                }
            }
            AccountStatement::DropRole { if_exists, name } => {
                if BUILTIN_ROLES.contains(&name.as_str()) {
                    return Err(SqlError::new(
                        ErrorCode::ER_CANNOT_USER,
                        format!("Operation DROP ROLE failed: '{name}' is a built-in role"),
                    ));
                }
                if !state.roles.contains_key(&name) {
                    if if_exists {
                        return Ok(QueryResult::ok());
                    }
                    return Err(unknown_role(&name));
                }
                JournalEntry::DropRole { name }
            }
            AccountStatement::GrantRoles { roles, grantee } => match grantee {
                Grantee::User(user) => {
                    let mut account = self.existing_account(&state, &user, "GRANT")?;
                    for r in roles {
                        if !account.roles.contains(&r) {
                            account.roles.push(r);
                        }
                    }
                    JournalEntry::PutUser { user: account }
                }
                Grantee::Role(target) => {
                    let mut role = mutable_role(&state, &target)?;
                    for r in roles {
                        // A role may not (indirectly) contain itself.
                        if r == target || role_reaches(&state, &r, &target) {
                            return Err(SqlError::new(
                                ErrorCode::ER_WRONG_ARGUMENTS,
                                format!("Granting '{r}' to '{target}' would make a cycle"),
                            ));
                        }
                        if !role.roles.contains(&r) {
                            role.roles.push(r);
                        }
                    }
                    JournalEntry::PutRole { role }
                }
            },
            AccountStatement::RevokeRoles { roles, grantee } => match grantee {
                Grantee::User(user) => {
                    let mut account = self.existing_account(&state, &user, "REVOKE")?;
                    account.roles.retain(|r| !roles.contains(r));
                    account.default_roles.retain(|r| !roles.contains(r));
                    JournalEntry::PutUser { user: account }
                }
                Grantee::Role(target) => {
                    let mut role = mutable_role(&state, &target)?;
                    role.roles.retain(|r| !roles.contains(r));
                    JournalEntry::PutRole { role }
                }
            },
            AccountStatement::SetDefaultRole { roles, user } => {
                let mut account = self.existing_account(&state, &user, "SET DEFAULT ROLE")?;
                account.default_roles = match roles {
                    RoleSet::None => vec![],
                    RoleSet::All | RoleSet::Default => account.roles.clone(),
                    RoleSet::Roles(list) => {
                        if let Some(r) = list.iter().find(|r| !account.roles.contains(r)) {
                            return Err(SqlError::new(
                                ErrorCode::ER_WRONG_ARGUMENTS,
                                format!("Role '{r}' is not granted to {user}"),
                            ));
                        }
                        list
                    }
                };
                JournalEntry::PutUser { user: account }
            }
            AccountStatement::Grant {
                privileges,
                object,
                grantee,
            } => {
                let target = self.grant_target(&object)?;
                check_grantable(&granter, &privileges, &target)?;
                let change = |grants: &mut Vec<Grant>| add_privileges(grants, &target, &privileges);
                match self.change_grants(&state, grantee, "GRANT", change)? {
                    Some(entry) => entry,
                    // root holds everything already.
                    None => return Ok(QueryResult::ok()),
                }
            }
            AccountStatement::Revoke {
                privileges,
                object,
                grantee,
            } => {
                let target = self.grant_target(&object)?;
                check_grantable(&granter, &privileges, &target)?;
                let change =
                    |grants: &mut Vec<Grant>| remove_privileges(grants, &target, &privileges);
                match self.change_grants(&state, grantee, "REVOKE", change)? {
                    Some(entry) => entry,
                    None => {
                        return Err(SqlError::new(
                            ErrorCode::ER_CANNOT_USER,
                            "Operation REVOKE failed: root keeps every privilege",
                        ));
                    }
                }
            }
            AccountStatement::ShowGrants(_)
            | AccountStatement::ShowUsers
            | AccountStatement::ShowRoles
            | AccountStatement::SetRole(_) => return Ok(QueryResult::ok()),
        };
        drop(state);
        w.commit(vec![entry])?;
        Ok(QueryResult::ok())
    }

    /// The journal entry of a GRANT or REVOKE (`op`) that `change`s the grants of a user
    /// or role; `None` for root, whose privileges do not change.
    fn change_grants(
        &self,
        state: &CatalogState,
        grantee: Grantee,
        op: &str,
        change: impl FnOnce(&mut Vec<Grant>),
    ) -> Result<Option<JournalEntry>, SqlError> {
        Ok(Some(match grantee {
            Grantee::User(user) => {
                let mut account = self.existing_account(state, &user, op)?;
                if account.name == ROOT {
                    return Ok(None);
                }
                change(&mut account.grants);
                JournalEntry::PutUser { user: account }
            }
            Grantee::Role(name) => {
                let mut role = mutable_role(state, &name)?;
                change(&mut role.grants);
                JournalEntry::PutRole { role }
            }
        }))
    }

    fn existing_account(
        &self,
        state: &CatalogState,
        user: &UserIdentity,
        op: &str,
    ) -> Result<UserAccount, SqlError> {
        exact_account(state, user).ok_or_else(|| {
            SqlError::new(
                ErrorCode::ER_CANNOT_USER,
                format!("Operation {op} failed: no such account {user}"),
            )
        })
    }

    /// `SET ROLE`: the roles must be granted to the account.
    fn set_role(&mut self, set: RoleSet) -> Result<QueryResult, SqlError> {
        if let RoleSet::Roles(list) = &set {
            let granted = {
                let state = self.fe.catalog().read();
                exact_account(
                    &state,
                    &UserIdentity {
                        name: self.conn.user.clone(),
                        host: self.conn.host.clone(),
                    },
                )
                .map(|a| a.roles)
                .unwrap_or_default()
            };
            if let Some(r) = list.iter().find(|r| !granted.contains(r)) {
                return Err(SqlError::new(
                    ErrorCode::ER_SPECIFIC_ACCESS_DENIED_ERROR,
                    format!(
                        "Role '{r}' is not granted to '{}'@'{}'",
                        self.conn.user, self.conn.host
                    ),
                ));
            }
        }
        self.active_roles = Some(set);
        Ok(QueryResult::ok())
    }

    fn show_users(&self) -> Result<QueryResult, SqlError> {
        self.require(Privilege::Grant, None, None)?;
        let state = self.fe.catalog().read();
        let mut users: BTreeSet<String> = state.users.values().map(UserAccount::identity).collect();
        if !state.users.values().any(|u| u.name == ROOT) {
            users.insert(builtin_root().identity());
        }
        let mut b = ResultBuilder::new(&[("User", DataType::Utf8)]);
        for u in users {
            b.row(vec![s(u)]);
        }
        b.into_result()
    }

    fn show_roles(&self) -> Result<QueryResult, SqlError> {
        let state = self.fe.catalog().read();
        let mut b = ResultBuilder::new(&[
            ("Name", DataType::Utf8),
            ("Builtin", DataType::Utf8),
            ("Comment", DataType::Utf8),
        ]);
        let mut names: BTreeSet<&str> = BUILTIN_ROLES.into_iter().collect();
        names.extend(state.roles.keys().map(String::as_str));
        for n in names {
            let builtin = BUILTIN_ROLES.contains(&n);
            b.row(vec![s(n), s(if builtin { "true" } else { "false" }), s("")]);
        }
        b.into_result()
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

    fn show_grants(&self, grantee: Option<Grantee>) -> Result<QueryResult, SqlError> {
        let own = UserIdentity {
            name: self.conn.user.clone(),
            host: self.conn.host.clone(),
        };
        let grantee = grantee.unwrap_or(Grantee::User(own.clone()));
        if grantee != Grantee::User(own) {
            self.require(Privilege::Grant, None, None)?;
        }
        let (identity, grants, roles, is_root) = {
            let state = self.fe.catalog().read();
            match &grantee {
                Grantee::User(user) => {
                    let Some(account) = exact_account(&state, user) else {
                        return Err(SqlError::new(
                            ErrorCode::ER_NONEXISTING_GRANT,
                            format!("There is no such grant defined for user {user}"),
                        ));
                    };
                    let is_root = account.name == ROOT;
                    (account.identity(), account.grants, account.roles, is_root)
                }
                Grantee::Role(r) => {
                    if !role_exists(&state, r) {
                        return Err(unknown_role(r));
                    }
                    let (grants, roles) = role_privileges(&state, r);
                    (format!("ROLE '{r}'"), grants, roles, false)
                }
            }
        };
        let mut b = ResultBuilder::new(&[
            ("UserIdentity", DataType::Utf8),
            ("Catalog", DataType::Utf8),
            ("Grants", DataType::Utf8),
        ]);
        if is_root {
            b.row(vec![
                s(identity.clone()),
                s("default_catalog"),
                s(format!(
                    "GRANT ALL PRIVILEGES ON *.* TO {identity} WITH GRANT OPTION"
                )),
            ]);
        }
        if !roles.is_empty() {
            let list: Vec<String> = roles.iter().map(|r| format!("'{r}'")).collect();
            b.row(vec![
                s(identity.clone()),
                s(""),
                s(format!("GRANT {} TO {identity}", list.join(", "))),
            ]);
        }
        for g in &grants {
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

/// Adds privileges on `target` to a list of grants.
fn add_privileges(grants: &mut Vec<Grant>, target: &GrantTarget, privileges: &[Privilege]) {
    let names = privileges.iter().map(|p| p.as_str().to_string());
    match grants.iter_mut().find(|g| &g.object == target) {
        Some(g) => g.privileges.extend(names),
        None => grants.push(Grant {
            object: target.clone(),
            privileges: names.collect(),
        }),
    }
}

/// Removes privileges on `target` from a list of grants (and grants left empty).
fn remove_privileges(grants: &mut Vec<Grant>, target: &GrantTarget, privileges: &[Privilege]) {
    for g in grants.iter_mut().filter(|g| &g.object == target) {
        for p in privileges {
            g.privileges.remove(p.as_str());
        }
    }
    grants.retain(|g| !g.privileges.is_empty());
}

/// A role that GRANT/REVOKE may change: created ones and `public`.
fn mutable_role(state: &CatalogState, name: &str) -> Result<RoleDef, SqlError> {
    if let Some(r) = state.roles.get(name) {
        return Ok(r.clone());
    }
    if name == PUBLIC {
        return Ok(RoleDef {
            name: PUBLIC.to_string(),
            grants: vec![],
            roles: vec![],
        });
    }
    if BUILTIN_ROLES.contains(&name) {
        return Err(SqlError::new(
            ErrorCode::ER_WRONG_ARGUMENTS,
            format!("The built-in role '{name}' cannot be changed"),
        ));
    }
    Err(unknown_role(name))
}

/// Whether `from` contains `to`, directly or through other roles.
fn role_reaches(state: &CatalogState, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(r) = stack.pop() {
        if r == to {
            return true;
        }
        if seen.insert(r.clone()) {
            stack.extend(role_privileges(state, &r).1);
        }
    }
    false
}

/// A grant or revoke needs GRANT on the object, and the privileges themselves: nobody
/// hands out (or takes away) what they do not hold.
fn check_grantable(
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
            let u = UserAccount::new("a", host);
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
