//! Building small result sets (SHOW output, system tables).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::scalar::ScalarValue;
use futures::stream;
use rigel_common::SqlError;
use rigel_mysql::QueryResult;

/// A row-at-a-time result builder.
pub struct ResultBuilder {
    schema: SchemaRef,
    rows: Vec<Vec<ScalarValue>>,
}

/// A text cell.
pub fn s(v: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}

/// An optional text cell.
pub fn opt(v: Option<impl Into<String>>) -> ScalarValue {
    ScalarValue::Utf8(v.map(Into::into))
}

/// An integer cell.
pub fn i(v: impl TryInto<i64>) -> ScalarValue {
    ScalarValue::Int64(v.try_into().ok())
}

/// A NULL integer cell.
pub fn null_i() -> ScalarValue {
    ScalarValue::Int64(None)
}

impl ResultBuilder {
    /// Columns are (name, type); every column is nullable.
    pub fn new(columns: &[(&str, DataType)]) -> Self {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect();
        Self {
            schema: Arc::new(Schema::new(fields)),
            rows: vec![],
        }
    }

    /// Text columns only.
    pub fn text(columns: &[&str]) -> Self {
        let cols: Vec<(&str, DataType)> = columns.iter().map(|c| (*c, DataType::Utf8)).collect();
        Self::new(&cols)
    }

    /// Adds a row (one value per column).
    pub fn row(&mut self, values: Vec<ScalarValue>) {
        debug_assert_eq!(values.len(), self.schema.fields().len());
        self.rows.push(values);
    }

    /// The schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The same rows under column names `rename` gives.
    pub fn renamed(self, rename: impl Fn(&str) -> String) -> Self {
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_name(rename(f.name())))
            .collect();
        Self {
            schema: Arc::new(Schema::new(fields)),
            rows: self.rows,
        }
    }

    /// Keeps the rows for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&[ScalarValue]) -> bool) {
        self.rows.retain(|r| keep(r));
    }

    /// The record batch.
    pub fn finish(self) -> Result<RecordBatch, SqlError> {
        let mut arrays: Vec<ArrayRef> = vec![];
        for (idx, field) in self.schema.fields().iter().enumerate() {
            let array = if self.rows.is_empty() {
                new_empty_array(field.data_type())
            } else {
                let values = self.rows.iter().map(|r| {
                    let v = r[idx].clone();
                    if v.is_null() {
                        ScalarValue::try_from(field.data_type()).unwrap_or(v)
                    } else if &v.data_type() != field.data_type() {
                        v.cast_to(field.data_type()).unwrap_or(v)
                    } else {
                        v
                    }
                });
                ScalarValue::iter_to_array(values).map_err(SqlError::internal)?
            };
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(SqlError::internal)
    }

    /// As a MySQL result set.
    pub fn into_result(self) -> Result<QueryResult, SqlError> {
        let schema = self.schema();
        let batch = self.finish()?;
        Ok(QueryResult::Rows {
            schema,
            stream: Box::pin(stream::iter(vec![Ok(batch)])),
        })
    }
}
