//! Tabular classification data for the ensemble lab: the bundled iris table,
//! CSV loading, and seeded stratified splits.
//!
//! Every bad input becomes a [`DataError`] whose message names the place
//! (source, data row, file line, column) and says what was expected.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Fisher's iris data: 150 rows, 4 numeric features, 3 classes of 50, sorted by class.
pub const IRIS_CSV: &str = include_str!("../../assets/iris.csv");

/// A classification table: numeric features and class indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// rows x features.
    pub features: ndarray::Array2<f64>,
    /// The class index of every row, `< class_names.len()`.
    pub labels: Vec<usize>,
    pub feature_names: Vec<String>,
    /// Class index -> name: sorted numerically when every label is an integer, else lexicographically.
    pub class_names: Vec<String>,
    /// Where the data came from: "iris" or the file path.
    pub source: String,
}

impl Dataset {
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The features and labels of the given rows, in that order.
    pub fn select(&self, rows: &[usize]) -> (Array2<f64>, Vec<usize>) {
        (self.features.select(Axis(0), rows), rows.iter().map(|&r| self.labels[r]).collect())
    }

    /// Rows per class, by class index.
    pub fn class_counts(&self) -> Vec<usize> {
        class_counts(&self.labels, self.classes())
    }
}

/// Rows per class; labels `>= classes` are not counted.
pub fn class_counts(labels: &[usize], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &l in labels {
        if l < classes {
            counts[l] += 1;
        }
    }
    counts
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{input}: not a readable CSV file: {message}")]
    Csv { input: String, message: String },

    #[error(
        "{input} has no header row: the first line must name the columns, for example \
         sepal_length,sepal_width,petal_length,petal_width,species"
    )]
    NoHeader { input: String },

    #[error(
        "{input} has {columns} column(s) ({}); a classification table needs at least one numeric feature column \
         and a label column",
        .names.join(", ")
    )]
    TooFewColumns { input: String, columns: usize, names: Vec<String> },

    #[error("{input}: column {column} has an empty name in the header row; every column needs a name")]
    EmptyColumnName { input: String, column: usize },

    #[error("{input}: the header names column {name:?} twice; column names must be unique")]
    DuplicateColumn { input: String, name: String },

    #[error("{input} has no column named {name:?} to use as the label; its columns are: {}", .columns.join(", "))]
    UnknownLabelColumn { input: String, name: String, columns: Vec<String> },

    #[error("{input} has a header but no data rows, so there is nothing to train on")]
    NoRows { input: String },

    #[error(
        "{input}: row {row} has {found} field(s) but the header has {expected} (file line {line}); \
         every row needs one value per column"
    )]
    RaggedRow { input: String, row: usize, line: u64, expected: usize, found: usize },

    #[error("{input}: row {row}, column {column}: the value is missing (file line {line}); fill it in or drop the row")]
    MissingValue { input: String, row: usize, line: u64, column: String },

    #[error(
        "{input}: row {row}, column {column}: {value:?} is not a number (file line {line}); every column except \
         the label column {label} must hold finite numbers"
    )]
    NotANumber { input: String, row: usize, line: u64, column: String, value: String, label: String },

    #[error(
        "{input}: every row has the label {class:?} in column {label}, so there is only one class; \
         classification needs at least two (is {label} the right label column?)"
    )]
    OneClass { input: String, label: String, class: String },

    #[error("test fraction {0} is outside (0, 1): the split needs rows on both sides")]
    InvalidTestFraction(f64),

    #[error("{folds} folds is outside 2..={rows} (the number of rows): each fold needs rows and so does training")]
    InvalidFolds { folds: usize, rows: usize },

    #[error("there are no rows to split")]
    Empty,

    #[error("row {row} has the class index {label}, but there are only {classes} classes")]
    LabelOutOfRange { row: usize, label: usize, classes: usize },

    #[error(
        "class {class} has {rows} row(s), fewer than the {needed} the {purpose} needs; \
         add rows of that class, {remedy}"
    )]
    ClassTooSmall { class: String, rows: usize, needed: usize, purpose: String, remedy: String },
}

impl DataError {
    /// Replaces class indices in the message by the class names.
    pub fn with_class_names(self, names: &[String]) -> DataError {
        match self {
            DataError::ClassTooSmall { class, rows, needed, purpose, remedy } => {
                let class = match class.parse::<usize>().ok().and_then(|i| names.get(i)) {
                    Some(name) => format!("{name:?}"),
                    None => class,
                };
                DataError::ClassTooSmall { class, rows, needed, purpose, remedy }
            }
            other => other,
        }
    }
}

/// The bundled iris table: setosa = 0, versicolor = 1, virginica = 2.
pub fn iris() -> Dataset {
    parse_csv(IRIS_CSV, "iris", None).expect("the bundled iris.csv is valid (tested)")
}

/// Reads a classification table from a CSV file (see [`parse_csv`]).
pub fn load_csv(path: &Path, label: Option<&str>) -> Result<Dataset, DataError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.display().to_string(), source })?;
    parse_csv(&text, &path.display().to_string(), label)
}

/// Parses a CSV table with a header row.
///
/// The label column is `label` if given, else the last column; every other
/// column must be numeric. Labels may be strings or integers; the class
/// names are sorted numerically when every label is an integer, else
/// lexicographically, and a class's index is its position in that order.
/// Whitespace around fields is ignored; blank lines are skipped.
pub fn parse_csv(text: &str, source: &str, label: Option<&str>) -> Result<Dataset, DataError> {
    let src = || source.to_string();
    let csv_error = |e: csv::Error| DataError::Csv { input: src(), message: e.to_string() };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());

    let header: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(str::to_string).collect();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DataError::NoHeader { input: src() });
    }
    if let Some(column) = header.iter().position(|h| h.is_empty()) {
        return Err(DataError::EmptyColumnName { input: src(), column: column + 1 });
    }
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(DataError::DuplicateColumn { input: src(), name: name.clone() });
        }
    }
    let label_col =
        match label {
            Some(name) => header.iter().position(|h| h == name.trim()).ok_or_else(|| {
                DataError::UnknownLabelColumn { input: src(), name: name.to_string(), columns: header.clone() }
            })?,
            None => header.len() - 1,
        };
    if header.len() < 2 {
        return Err(DataError::TooFewColumns { input: src(), columns: header.len(), names: header });
    }
    let feature_cols: Vec<usize> = (0..header.len()).filter(|&c| c != label_col).collect();

    let mut values: Vec<f64> = Vec::new();
    let mut raw_labels: Vec<String> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let row = i + 1;
        let line = record.position().map_or(row as u64 + 1, |p| p.line());
        if record.len() != header.len() {
            return Err(DataError::RaggedRow { input: src(), row, line, expected: header.len(), found: record.len() });
        }
        let missing = |c: usize| DataError::MissingValue { input: src(), row, line, column: header[c].clone() };
        for &c in &feature_cols {
            let field = &record[c];
            if field.is_empty() {
                return Err(missing(c));
            }
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => {
                    return Err(DataError::NotANumber {
                        input: src(),
                        row,
                        line,
                        column: header[c].clone(),
                        value: field.to_string(),
                        label: header[label_col].clone(),
                    });
                }
            }
        }
        let field = &record[label_col];
        if field.is_empty() {
            return Err(missing(label_col));
        }
        raw_labels.push(field.to_string());
    }
    if raw_labels.is_empty() {
        return Err(DataError::NoRows { input: src() });
    }

    let (class_names, labels) = index_labels(&raw_labels);
    if class_names.len() < 2 {
        return Err(DataError::OneClass {
            input: src(),
            label: header[label_col].clone(),
            class: class_names[0].clone(),
        });
    }
    let features = Array2::from_shape_vec((raw_labels.len(), feature_cols.len()), values)
        .expect("one value per feature column per row");
    Ok(Dataset {
        features,
        labels,
        feature_names: feature_cols.iter().map(|&c| header[c].clone()).collect(),
        class_names,
        source: source.to_string(),
    })
}

/// Class names in order and the class index of every label.
fn index_labels(raw: &[String]) -> (Vec<String>, Vec<usize>) {
    let ints: Option<Vec<i64>> = raw.iter().map(|s| s.parse::<i64>().ok()).collect();
    match ints {
        Some(ints) => {
            // Numeric order; "01" and "1" are the same class, named by its value.
            let order: BTreeMap<i64, usize> =
                ints.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().zip(0..).collect();
            let names = order.keys().map(|v| v.to_string()).collect();
            (names, ints.iter().map(|v| order[v]).collect())
        }
        None => {
            let order: BTreeMap<&str, usize> = raw
                .iter()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .zip(0..)
                .collect();
            let names = order.keys().map(|s| s.to_string()).collect();
            (names, raw.iter().map(|s| order[s.as_str()]).collect())
        }
    }
}

/// Row indices of a train/test split, each sorted ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Row indices of every class, ascending, after checking the labels.
fn rows_by_class(labels: &[usize], classes: usize) -> Result<Vec<Vec<usize>>, DataError> {
    if labels.is_empty() {
        return Err(DataError::Empty);
    }
    let mut by_class = vec![Vec::new(); classes];
    for (row, &label) in labels.iter().enumerate() {
        if label >= classes {
            return Err(DataError::LabelOutOfRange { row, label, classes });
        }
        by_class[label].push(row);
    }
    Ok(by_class)
}

/// A seeded stratified train/test split.
///
/// One `ChaCha8Rng::seed_from_u64(seed)` shuffles each class's rows in turn
/// (classes in index order); `round(n_c * test_fraction)` of them, at least 1
/// and at most `n_c - 1`, go to the test side.
pub fn stratified_split(labels: &[usize], classes: usize, test_fraction: f64, seed: u64) -> Result<Split, DataError> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DataError::InvalidTestFraction(test_fraction));
    }
    let by_class = rows_by_class(labels, classes)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::with_capacity(labels.len()), Vec::new());
    for (class, mut rows) in by_class.into_iter().enumerate() {
        let n = rows.len();
        if n < 2 {
            return Err(DataError::ClassTooSmall {
                class: class.to_string(),
                rows: n,
                needed: 2,
                purpose: "train/test split (one row on each side)".into(),
                remedy: "or drop the class".into(),
            });
        }
        rows.shuffle(&mut rng);
        let n_test = ((n as f64 * test_fraction).round() as usize).clamp(1, n - 1);
        test.extend_from_slice(&rows[..n_test]);
        train.extend_from_slice(&rows[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok(Split { train, test })
}

/// Seeded stratified k-fold partition of `0..labels.len()`.
///
/// Each class's rows are shuffled (one `ChaCha8Rng::seed_from_u64(seed)`,
/// classes in index order) and dealt round-robin, continuing where the
/// previous class stopped, so every class's count differs by at most one
/// between folds and so do the fold sizes. Each fold is sorted ascending.
pub fn stratified_folds(
    labels: &[usize],
    classes: usize,
    folds: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>, DataError> {
    if folds < 2 || folds > labels.len() {
        return Err(DataError::InvalidFolds { folds, rows: labels.len() });
    }
    let by_class = rows_by_class(labels, classes)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![Vec::with_capacity(labels.len() / folds + classes); folds];
    let mut next = 0;
    for (class, mut rows) in by_class.into_iter().enumerate() {
        if rows.len() < folds {
            return Err(DataError::ClassTooSmall {
                class: class.to_string(),
                rows: rows.len(),
                needed: folds,
                purpose: format!("{folds}-fold cross-validation (one row per fold)"),
                remedy: "or lower the number of folds".into(),
            });
        }
        rows.shuffle(&mut rng);
        for row in rows {
            out[next].push(row);
            next = (next + 1) % folds;
        }
    }
    for fold in &mut out {
        fold.sort_unstable();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris_parses_with_sorted_class_names() {
        let d = iris();
        assert_eq!(d.rows(), 150);
        assert_eq!(d.features.dim(), (150, 4));
        assert_eq!(d.classes(), 3);
        assert_eq!(d.class_names, ["setosa", "versicolor", "virginica"]);
        assert_eq!(d.feature_names, ["sepal_length", "sepal_width", "petal_length", "petal_width"]);
        assert_eq!(d.class_counts(), [50, 50, 50]);
        assert_eq!((d.labels[0], d.labels[50], d.labels[149]), (0, 1, 2));
        assert_eq!(d.features[[0, 0]], 5.1);
        assert_eq!(d.source, "iris");
        let (x, y) = d.select(&[149, 0]);
        assert_eq!(y, [2, 0]);
        assert_eq!(x.row(1).to_vec(), d.features.row(0).to_vec());
    }

    #[test]
    fn string_labels_sort_lexicographically_and_whitespace_is_trimmed() {
        let d = parse_csv("a, b ,kind\n1, 2, zebra\n3,4,ant \n\n5,6,zebra\n", "t", None).unwrap();
        assert_eq!(d.class_names, ["ant", "zebra"]);
        assert_eq!(d.labels, [1, 0, 1]);
        assert_eq!(d.feature_names, ["a", "b"]);
        assert_eq!(d.features.row(2).to_vec(), [5.0, 6.0]);
    }

    #[test]
    fn byte_order_mark_and_crlf_are_accepted() {
        let d = parse_csv("\u{feff}a,kind\r\n1,x\r\n2,y\r\n", "t", Some("kind")).unwrap();
        assert_eq!(d.feature_names, ["a"]);
        assert_eq!(d.labels, [0, 1]);
    }

    #[test]
    fn integer_labels_sort_numerically() {
        let d = parse_csv("x,y\n1,10\n2,9\n3,-1\n4,10\n", "t", None).unwrap();
        assert_eq!(d.class_names, ["-1", "9", "10"]);
        assert_eq!(d.labels, [2, 1, 0, 2]);
        // A mixture of integers and words is sorted as strings.
        let d = parse_csv("x,y\n1,10\n2,9\n3,b\n", "t", None).unwrap();
        assert_eq!(d.class_names, ["10", "9", "b"]);
    }

    #[test]
    fn label_column_can_be_named() {
        let d = parse_csv("kind,a,b\ncat,1,2\ndog,3,4\n", "t", Some("kind")).unwrap();
        assert_eq!(d.feature_names, ["a", "b"]);
        assert_eq!(d.labels, [0, 1]);
        assert_eq!(d.features.row(1).to_vec(), [3.0, 4.0]);
    }

    #[test]
    fn unknown_label_column_lists_the_columns() {
        let err = parse_csv("a,b,kind\n1,2,x\n", "t.csv", Some("species")).unwrap_err();
        assert!(matches!(err, DataError::UnknownLabelColumn { .. }));
        let msg = err.to_string();
        assert!(msg.contains("\"species\"") && msg.contains("a, b, kind"), "{msg}");
    }

    #[test]
    fn non_numeric_feature_names_row_and_column() {
        let mut text = String::from("sepal_length,sepal_width,petal_length,petal_width,species\n");
        for i in 1..=12 {
            let w = if i == 12 { "abc" } else { "0.2" };
            text.push_str(&format!("5.1,3.5,1.4,{w},setosa\n"));
        }
        let err = parse_csv(&text, "iris.csv", None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("row 12, column petal_width: \"abc\" is not a number"), "{msg}");
        assert!(msg.contains("line 13"), "{msg}");
        let err = parse_csv("a,k\nNaN,x\n", "t", None).unwrap_err();
        assert!(err.to_string().contains("\"NaN\" is not a number"), "{err}");
    }

    #[test]
    fn missing_values_and_ragged_rows_are_errors() {
        let err = parse_csv("a,b,k\n1,2,x\n1,,y\n", "t", None).unwrap_err();
        assert!(matches!(err, DataError::MissingValue { row: 2, line: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("row 2, column b"), "{err}");
        let err = parse_csv("a,b,k\n1,2,x\n1,2,\n", "t", None).unwrap_err();
        assert!(err.to_string().contains("row 2, column k"), "{err}");
        let err = parse_csv("a,b,k\n1,2,x\n1,2\n", "t", None).unwrap_err();
        assert!(matches!(err, DataError::RaggedRow { row: 2, expected: 3, found: 2, .. }), "{err:?}");
    }

    #[test]
    fn degenerate_tables_are_errors() {
        let one = parse_csv("a,k\n1,x\n2,x\n", "t", None).unwrap_err();
        assert!(matches!(one, DataError::OneClass { .. }), "{one:?}");
        assert!(one.to_string().contains("only one class"), "{one}");
        assert!(matches!(parse_csv("a,k\n", "t", None).unwrap_err(), DataError::NoRows { .. }));
        assert!(matches!(parse_csv("", "t", None).unwrap_err(), DataError::NoHeader { .. }));
        assert!(matches!(parse_csv("k\nx\ny\n", "t", None).unwrap_err(), DataError::TooFewColumns { .. }));
        assert!(matches!(parse_csv("a,a,k\n1,2,x\n", "t", None).unwrap_err(), DataError::DuplicateColumn { .. }));
        assert!(matches!(parse_csv("a,,k\n1,2,x\n", "t", None).unwrap_err(), DataError::EmptyColumnName { .. }));
    }

    #[test]
    fn load_csv_reports_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, "a,k\n1,x\n2,y\n").unwrap();
        assert_eq!(load_csv(&path, None).unwrap().source, path.display().to_string());
        let err = load_csv(&dir.path().join("nope.csv"), None).unwrap_err();
        assert!(err.to_string().contains("nope.csv"), "{err}");
    }

    #[test]
    fn stratified_split_counts_and_determinism() {
        let d = iris();
        let s = stratified_split(&d.labels, 3, 0.2, 42).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (120, 30));
        assert_eq!(class_counts(&d.select(&s.test).1, 3), [10, 10, 10]);
        assert!(s.train.windows(2).all(|w| w[0] < w[1]) && s.test.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..150).collect::<Vec<_>>());
        assert_eq!(s, stratified_split(&d.labels, 3, 0.2, 42).unwrap());
        assert_ne!(s, stratified_split(&d.labels, 3, 0.2, 43).unwrap());
        // At least one row on each side of every class.
        let labels = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let s = stratified_split(&labels, 2, 0.01, 0).unwrap();
        assert_eq!(class_counts(&s.test.iter().map(|&r| labels[r]).collect::<Vec<_>>(), 2), [1, 1]);
        let s = stratified_split(&labels, 2, 0.99, 0).unwrap();
        assert_eq!(class_counts(&s.train.iter().map(|&r| labels[r]).collect::<Vec<_>>(), 2), [1, 1]);
    }

    #[test]
    fn stratified_split_errors() {
        assert!(matches!(stratified_split(&[0, 0, 1, 1], 2, 0.0, 0), Err(DataError::InvalidTestFraction(_))));
        assert!(matches!(stratified_split(&[0, 0, 1, 1], 2, 1.0, 0), Err(DataError::InvalidTestFraction(_))));
        assert!(matches!(stratified_split(&[0, 0, 1, 1], 2, f64::NAN, 0), Err(DataError::InvalidTestFraction(_))));
        let err = stratified_split(&[0, 0, 1], 2, 0.5, 0).unwrap_err();
        assert!(matches!(err, DataError::ClassTooSmall { rows: 1, needed: 2, .. }), "{err:?}");
        assert!(matches!(stratified_split(&[0, 3], 2, 0.5, 0), Err(DataError::LabelOutOfRange { .. })));
        assert!(matches!(stratified_split(&[], 2, 0.5, 0), Err(DataError::Empty)));
    }

    #[test]
    fn stratified_folds_balance_classes() {
        let d = iris();
        let folds = stratified_folds(&d.labels, 3, 5, 42).unwrap();
        assert_eq!(folds.len(), 5);
        for f in &folds {
            assert_eq!(f.len(), 30);
            assert_eq!(class_counts(&d.select(f).1, 3), [10, 10, 10]);
            assert!(f.windows(2).all(|w| w[0] < w[1]));
        }
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..150).collect::<Vec<_>>());
        // Uneven classes: per-class counts and fold sizes differ by at most one.
        let labels: Vec<usize> = (0..23)
            .map(|i| {
                if i < 7 {
                    0
                } else if i < 18 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let folds = stratified_folds(&labels, 3, 4, 1).unwrap();
        for c in 0..3 {
            let counts: Vec<usize> = folds.iter().map(|f| f.iter().filter(|&&r| labels[r] == c).count()).collect();
            assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{counts:?}");
        }
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        assert_eq!(folds, stratified_folds(&labels, 3, 4, 1).unwrap());
    }

    #[test]
    fn stratified_folds_errors_name_the_class() {
        let labels = [0, 0, 0, 0, 0, 1, 1, 1];
        let err = stratified_folds(&labels, 2, 4, 0).unwrap_err();
        assert!(matches!(err, DataError::ClassTooSmall { rows: 3, needed: 4, .. }), "{err:?}");
        let named = err.with_class_names(&["cat".into(), "dog".into()]).to_string();
        assert!(named.contains("class \"dog\" has 3 row(s)") && named.contains("4-fold"), "{named}");
        assert!(matches!(stratified_folds(&labels, 2, 1, 0), Err(DataError::InvalidFolds { .. })));
        assert!(matches!(stratified_folds(&labels, 2, 9, 0), Err(DataError::InvalidFolds { .. })));
    }
}
