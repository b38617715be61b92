//! Accounts and their privileges, as the catalog stores them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

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
