//! The Parquet output of an export: columns `series` (string), `time`
//! (timestamp in seconds, UTC) and `value` (float64, null where `/render`
//! shows null), snappy-compressed, in row groups of about a million rows
//! so that readers can skip and parallelise over large exports while the
//! writer buffers one row group at most.
//!
//! Parquet's own timestamp types have no unit of seconds, so arrow-rs
//! stores `time` as INT64 epoch seconds and records its Arrow type,
//! `timestamp[s, UTC]`, in the file's `ARROW:schema` metadata: arrow-rs
//! readers get timestamps back, while pyarrow, pandas and DuckDB read the
//! integer seconds (`to_timestamp(time)`, `pd.to_datetime(unit="s")`).

use std::io::Write;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampSecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::series::Series;

/// Rows per row group: large enough for columnar scans to pay off, small
/// enough that the writer's buffer stays in the tens of megabytes.
const ROWS_PER_GROUP: usize = 1 << 20;

/// A Parquet file being written to `W`.
pub(super) struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: Arc<Schema>,
}

fn io_error(e: ParquetError) -> std::io::Error {
    match e {
        ParquetError::External(inner) => std::io::Error::other(inner),
        other => std::io::Error::other(other),
    }
}

impl<W: Write + Send> ParquetSink<W> {
    pub(super) fn new(out: W) -> std::io::Result<ParquetSink<W>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("series", DataType::Utf8, false),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                false,
            ),
            Field::new("value", DataType::Float64, true),
        ]));
        let props = WriterProperties::builder()
            .set_max_row_group_size(ROWS_PER_GROUP)
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(io_error)?;
        Ok(ParquetSink { writer, schema })
    }

    /// Appends the points of `series` (as `/render`'s JSON lists them).
    pub(super) fn write(&mut self, series: &[Series]) -> std::io::Result<()> {
        let mut names: Vec<&str> = Vec::new();
        let mut times: Vec<i64> = Vec::new();
        let mut values: Vec<Option<f64>> = Vec::new();
        for s in series {
            for (value, time) in s.datapoints() {
                names.push(&s.name);
                times.push(time);
                values.push(value.filter(|v| !v.is_nan()));
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(TimestampSecondArray::from(times).with_timezone("UTC")),
            Arc::new(Float64Array::from(values)),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.writer.write(&batch).map_err(io_error)
    }

    /// Writes the footer and returns the output.
    pub(super) fn finish(self) -> std::io::Result<W> {
        let mut out = self.writer.into_inner().map_err(io_error)?;
        out.flush()?;
        Ok(out)
    }
}
