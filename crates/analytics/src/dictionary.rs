//! Codes for the texts analytic rows name (event types, catalogue
//! categories, regions), so Parquet files carry numbers only.
//!
//! These texts are the business's own vocabulary, not anyone's data; the
//! dictionary is kept beside the partitions and only ever grows (a code is
//! never reused, so an old file cannot change meaning).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::{AnalyticsError, Result};

/// Texts numbered in the order first met; a text's code is its position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    texts: Vec<String>,
    codes: HashMap<String, u32>,
}

impl Dictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// The code of `text`, numbering it if new.
    pub fn code(&mut self, text: &str) -> u32 {
        if let Some(c) = self.codes.get(text) {
            return *c;
        }
        let c = self.texts.len() as u32;
        self.codes.insert(text.to_string(), c);
        self.texts.push(text.to_string());
        c
    }

    /// The code of `text` if it was ever written: a query naming a text
    /// never written matches nothing.
    pub fn lookup(&self, text: &str) -> Option<u32> {
        self.codes.get(text).copied()
    }

    /// The text a code stands for.
    pub fn text(&self, code: u32) -> Option<&str> {
        self.texts.get(code as usize).map(String::as_str)
    }

    /// Texts numbered.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether no text is numbered.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub(crate) fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]))
    }

    pub(crate) fn to_batch(&self) -> Result<RecordBatch> {
        let texts = StringArray::from_iter_values(self.texts.iter());
        Ok(RecordBatch::try_new(Self::schema(), vec![Arc::new(texts)])?)
    }

    pub(crate) fn extend_from(&mut self, batch: &RecordBatch, file: &str) -> Result<()> {
        let texts = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| AnalyticsError::Corrupt(file.into(), "text is not utf8".into()))?;
        for i in 0..texts.len() {
            self.code(texts.value(i));
        }
        Ok(())
    }
}
