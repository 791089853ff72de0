//! Flat numeric data for `fsrgan train --data F.csv` (the `mlp` / `linear`
//! learners of SPEC §2): a CSV with a header row and numeric columns, one
//! sample per row, read into a `d x N` matrix (one column per sample).

use std::path::Path;

use nalgebra::DMatrix;

use super::DataError;
use super::load::{csv_read_error, csv_reader};

/// Reads a flat CSV file (see the module docs).
pub fn load_flat_csv(path: &Path) -> Result<DMatrix<f64>, DataError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    parse_flat_csv(&bytes, &name)
}

/// Parses flat CSV bytes; `source` names the file in errors; lines are
/// 1-based file lines (the header is line 1).
pub fn parse_flat_csv(bytes: &[u8], source: &str) -> Result<DMatrix<f64>, DataError> {
    let path = || source.to_string();
    let mut rdr = csv_reader(bytes);
    let read_err = |e: csv::Error| csv_read_error(source, e);
    let names: Vec<String> = rdr
        .headers()
        .map_err(read_err)?
        .iter()
        .map(str::to_string)
        .collect();
    if names.is_empty() || (names.len() == 1 && names[0].is_empty()) {
        return Err(DataError::CsvNoPixelColumns { path: path() });
    }
    let mut values: Vec<f64> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    while rdr.read_record(&mut record).map_err(read_err)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].is_empty() && names.len() > 1 {
            continue;
        }
        if record.len() != names.len() {
            return Err(DataError::CsvColumns {
                path: path(),
                line,
                found: record.len(),
                expected: names.len(),
            });
        }
        for (c, cell) in record.iter().enumerate() {
            let v: f64 =
                cell.parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| DataError::FlatValue {
                        path: path(),
                        line,
                        column: c + 1,
                        name: names[c].clone(),
                        value: cell.to_string(),
                    })?;
            values.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::CsvEmpty { path: path() });
    }
    Ok(DMatrix::from_vec(names.len(), rows, values))
}
