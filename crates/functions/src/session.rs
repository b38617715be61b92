//! Functions whose value comes from the session: `database()`, `user()`, `connection_id()`,
//! `version()`, `last_insert_id()`.
//!
//! The session's facts travel in the query's configuration as the [`SessionFacts`]
//! extension; the functions fold to literals while the plan is simplified.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// Facts about the session running a query.
#[derive(Debug, Clone, Default)]
pub struct SessionFacts {
    /// Current database, if any.
    pub database: Option<String>,
    /// `'user'@'host'` as `current_user()` reports it.
    pub current_user: String,
    /// `user@client_host` as `user()` reports it.
    pub user: String,
    /// Connection id.
    pub connection_id: u64,
    /// `version()`.
    pub version: String,
    /// `last_insert_id()`.
    pub last_insert_id: u64,
}

impl ExtensionOptions for SessionFacts {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> Result<()> {
        plan_err!("session fact '{key}' is read-only")
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![]
    }
}

impl ConfigExtension for SessionFacts {
    const PREFIX: &'static str = "rigel_session";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fact {
    Database,
    CurrentUser,
    User,
    ConnectionId,
    Version,
    LastInsertId,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionFunction {
    name: &'static str,
    aliases: Vec<String>,
    fact: Fact,
    signature: Signature,
}

impl SessionFunction {
    fn value(&self, facts: Option<&SessionFacts>) -> ScalarValue {
        let default = SessionFacts::default();
        let f = facts.unwrap_or(&default);
        match self.fact {
            Fact::Database => ScalarValue::Utf8(f.database.clone()),
            Fact::CurrentUser => ScalarValue::Utf8(Some(f.current_user.clone())),
            Fact::User => ScalarValue::Utf8(Some(f.user.clone())),
            Fact::ConnectionId => ScalarValue::Int64(Some(f.connection_id as i64)),
            Fact::Version => ScalarValue::Utf8(Some(f.version.clone())),
            Fact::LastInsertId => ScalarValue::Int64(Some(f.last_insert_id as i64)),
        }
    }

    fn data_type(&self) -> DataType {
        match self.fact {
            Fact::ConnectionId | Fact::LastInsertId => DataType::Int64,
            _ => DataType::Utf8,
        }
    }
}

impl ScalarUDFImpl for SessionFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.data_type())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            self.name,
            self.data_type(),
            self.fact == Fact::Database,
        )))
    }

    fn simplify(&self, _args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let facts = info.config_options().extensions.get::<SessionFacts>();
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            self.value(facts),
            None,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.is_empty() {
            return exec_err!("{}() takes no arguments", self.name);
        }
        let facts = args.config_options.extensions.get::<SessionFacts>();
        Ok(ColumnarValue::Scalar(self.value(facts)))
    }
}

fn session_fn(name: &'static str, aliases: &[&str], fact: Fact) -> ScalarUDF {
    ScalarUDF::new_from_impl(SessionFunction {
        name,
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        fact,
        signature: Signature::nullary(Volatility::Stable),
    })
}

/// The session functions.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        session_fn("database", &["schema"], Fact::Database),
        session_fn("current_user", &[], Fact::CurrentUser),
        session_fn("user", &["session_user", "system_user"], Fact::User),
        session_fn("connection_id", &[], Fact::ConnectionId),
        session_fn("version", &[], Fact::Version),
        session_fn("last_insert_id", &[], Fact::LastInsertId),
    ]
}
