//! Accounts and their privileges, as the catalog stores them, and what they mean: the
//! mysql_native_password hash and login check, MySQL host patterns, which account a client
//! logs in as, the built-in roles, and whether an account holds a privilege.
//!
//! `root` has every privilege and cannot lose them. Until it is given a password, `root@%`
//! exists without one (not stored in the catalog). Other accounts have the privileges
//! granted to them, on everything (`*.*`), a database and its tables (`db.*`) or one table.

use std::collections::BTreeSet;

use rigel_common::{ErrorCode, SqlError};
use rigel_sql::{Privilege, UserIdentity};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::state::CatalogState;

/// A user account: a name and the hosts it may connect from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccount {
    /// User name.
    pub name: String,
    /// Host pattern (`%` and `_` wildcards, as in MySQL).
    pub host: String,
    /// The mysql_native_password hash, `*` and 40 upper-case hex digits of
    /// SHA1(SHA1(password)); empty for no password. The password itself is never stored.
    pub password: String,
    /// Privileges granted to the account.
    pub grants: Vec<Grant>,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Roles granted to the account.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The roles active at login.
    #[serde(default)]
    pub default_roles: Vec<String>,
    /// Logins must use TLS (`REQUIRE SSL`).
    #[serde(default)]
    pub require_ssl: bool,
}

/// A role: privileges and other roles, granted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    /// Name.
    pub name: String,
    /// Privileges granted to the role.
    pub grants: Vec<Grant>,
    /// Roles granted to the role.
    pub roles: Vec<String>,
}

/// Privileges on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// What they are on.
    pub object: GrantTarget,
    /// Privilege keywords (`SELECT`, `INSERT`, …).
    pub privileges: BTreeSet<String>,
}

/// What privileges are granted on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantTarget {
    /// Everything (`*.*`).
    Global,
    /// A database and all its tables (`db.*`).
    Database(String),
    /// One table or view.
    Table {
        /// Database.
        db: String,
        /// Table.
        table: String,
    },
}

impl UserAccount {
    /// An account with no password, grants or roles.
    pub fn new(name: &str, host: &str) -> Self {
        Self {
            name: name.to_string(),
            host: host.to_string(),
            password: String::new(),
            grants: vec![],
            created_ms: 0,
            roles: vec![],
            default_roles: vec![],
            require_ssl: false,
        }
    }

    /// The catalog key: `name@host`.
    pub fn key(&self) -> String {
        account_key(&self.name, &self.host)
    }

    /// `'name'@'host'`.
    pub fn identity(&self) -> String {
        format!("'{}'@'{}'", self.name, self.host)
    }
}

/// The catalog key of an account.
pub fn account_key(name: &str, host: &str) -> String {
    format!("{name}@{host}")
}

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

/// SHA1(SHA1(password)) from a stored hash (`None` when it is not one).
pub fn stage2(hash: &str) -> Option<[u8; 20]> {
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
pub fn exact_account(state: &CatalogState, user: &UserIdentity) -> Option<UserAccount> {
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
pub fn role_privileges(state: &CatalogState, role: &str) -> (Vec<Grant>, Vec<String>) {
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
pub fn role_exists(state: &CatalogState, role: &str) -> bool {
    BUILTIN_ROLES.contains(&role) || state.roles.contains_key(role)
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
