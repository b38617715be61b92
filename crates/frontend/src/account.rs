//! Account statements — CREATE/ALTER/DROP USER, SET PASSWORD, CREATE/DROP ROLE, GRANT,
//! REVOKE, SET ROLE, SHOW GRANTS, SHOW USERS — and the privilege check every statement goes
//! through. What accounts and privileges mean (password hashes, host patterns, built-in
//! roles) is `rigel_catalog::account`.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::{
    AccountStatement, AuthSpec, GrantObject, Grantee, Privilege, RoleSet, UserIdentity,
};

use crate::now_ms;
use crate::result::{ResultBuilder, s};
use crate::session::Session;
use rigel_catalog::account::{
    BUILTIN_ROLES, PUBLIC, ROOT, allowed, builtin_root, denied, exact_account, password_hash,
    role_exists, role_privileges, stage2,
};
use rigel_catalog::{CatalogState, Grant, GrantTarget, JournalEntry, RoleDef, UserAccount};

fn unknown_role(role: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_WRONG_ARGUMENTS,
        format!("Role '{role}' does not exist"),
    )
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
