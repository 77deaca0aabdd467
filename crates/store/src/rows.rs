//! Decoding rows into model values. Times are stored as integer
//! milliseconds since the Unix epoch and durations as milliseconds, so both
//! backends hold exactly the same values.

use std::collections::BTreeMap;

use dayshift_schedule::{SignedDuration, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, StoreError};

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(ms)
}

pub(crate) fn dur_ms(d: SignedDuration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn ts_from_ms(value: i64, column: &str) -> Result<Timestamp> {
    Timestamp::from_millisecond(value)
        .map_err(|e| StoreError::Corrupt(format!("column {column}: {value}: {e}")))
}

pub(crate) fn get_i64(row: &AnyRow, column: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(column)?)
}

pub(crate) fn get_opt_i64(row: &AnyRow, column: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(column)?)
}

pub(crate) fn get_str(row: &AnyRow, column: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

pub(crate) fn get_opt_str(row: &AnyRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

pub(crate) fn get_bool(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(get_i64(row, column)? != 0)
}

pub(crate) fn get_ts(row: &AnyRow, column: &str) -> Result<Timestamp> {
    ts_from_ms(get_i64(row, column)?, column)
}

pub(crate) fn get_opt_ts(row: &AnyRow, column: &str) -> Result<Option<Timestamp>> {
    get_opt_i64(row, column)?
        .map(|v| ts_from_ms(v, column))
        .transpose()
}

pub(crate) fn get_dur(row: &AnyRow, column: &str) -> Result<SignedDuration> {
    Ok(SignedDuration::from_millis(get_i64(row, column)?))
}

pub(crate) fn get_opt_dur(row: &AnyRow, column: &str) -> Result<Option<SignedDuration>> {
    Ok(get_opt_i64(row, column)?.map(SignedDuration::from_millis))
}

pub(crate) fn get_parsed<T: std::str::FromStr<Err = StoreError>>(
    row: &AnyRow,
    column: &str,
) -> Result<T> {
    get_str(row, column)?.parse()
}

pub(crate) fn get_map(row: &AnyRow, column: &str) -> Result<BTreeMap<String, String>> {
    let text = get_str(row, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

pub(crate) fn map_json(map: &BTreeMap<String, String>) -> String {
    // A map of strings always serialises.
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}
