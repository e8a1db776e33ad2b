//! Importing persons and cards from CSV or XLSX files: the pure part.
//!
//! - [`reader`] turns a file (CSV in UTF-8, UTF-8 with BOM, GBK or UTF-16;
//!   or XLSX) into a stream of rows in bounded memory;
//! - this module maps a header row onto the known columns (Chinese and
//!   English names, see `docs/import.md`), normalises cells (white space,
//!   full-width characters, Excel's ways of mangling numbers and dates) and
//!   describes every problem as a [`RowError`] (row, column, code, Chinese
//!   message) for the report file;
//! - [`persons`] and [`cards`] turn one row into a validated record.
//!
//! Nothing here touches the database; `crate::service::import` applies the
//! records.

pub mod batch;
pub mod cards;
pub mod persons;
pub mod reader;
pub mod report;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use chrono::NaiveDate;

pub use reader::{Cell, CellKind, Row};

/// Which register a file fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Persons,
    Cards,
}

impl ImportKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Persons => "persons",
            Self::Cards => "cards",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Persons => "参保人员",
            Self::Cards => "社会保障卡",
        }
    }

    /// The columns of this kind of file.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Self::Persons => persons::COLUMNS,
            Self::Cards => cards::COLUMNS,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Persons => Self::Cards,
            Self::Cards => Self::Persons,
        }
    }
}

/// What an optional column says about a stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Patch<T> {
    /// The file has no such column: keep what is stored.
    Keep,
    /// The cell is blank: the value is removed.
    Clear,
    /// The cell holds this value.
    Set(T),
}

impl<T> Patch<T> {
    /// The value after applying this patch to `stored`.
    pub fn apply(self, stored: Option<T>) -> Option<T> {
        match self {
            Self::Keep => stored,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }
}

/// One known column of an import file.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The field name, also accepted as an English header (`id_number`).
    pub field: &'static str,
    /// The Chinese header as documented, used in messages.
    pub label: &'static str,
    /// Further accepted headers (compared after [`normalize_header`]).
    pub aliases: &'static [&'static str],
    /// Whether the column must be present.
    pub required: bool,
}

/// One problem in one row (or in the header, row 1), as written into the
/// report file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The row number as a person sees it (header is usually row 1); 0 for
    /// a problem of the whole file.
    pub row: u64,
    /// The column as headed in the file (or the documented header of a
    /// missing column); empty for a problem of the whole row.
    pub column: String,
    /// A stable upper-snake code, e.g. `ID_NUMBER_CHECKSUM`.
    pub code: String,
    /// What is wrong and what to do, in Chinese. Never repeats a personal
    /// identifier.
    pub message: String,
}

impl RowError {
    pub fn new(
        row: u64,
        column: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            row,
            column: column.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Normalises a header for matching: no white space (including U+3000, BOM
/// and zero-width space), half-width, lower-case, without required-markers
/// (`*`), colons and a trailing note in brackets (`身份证号（必填）`).
pub fn normalize_header(header: &str) -> String {
    let mut text: String = header
        .chars()
        .map(to_half_width)
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200B}' | '\u{FEFF}' | '*' | ':'))
        .flat_map(char::to_lowercase)
        .collect();
    // Drop one trailing bracketed note.
    if text.ends_with(')')
        && let Some(open) = text.rfind('(')
        && open > 0
    {
        text.truncate(open);
    }
    text
}

/// Normalises a cell's text: trims white space (including U+3000, U+00A0,
/// BOM and zero-width space) and turns full-width ASCII variants into ASCII.
/// Inner text is kept (inner full-width spaces become ASCII spaces).
pub fn normalize_cell(text: &str) -> String {
    text.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{200B}' | '\u{FEFF}'))
        .chars()
        .map(to_half_width)
        .collect()
}

fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' | '\u{00A0}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Where each known column is in the file.
#[derive(Clone, Debug)]
pub struct HeaderMap {
    kind: ImportKind,
    /// For each of `kind.columns()`, its position and header text in the file.
    positions: Vec<Option<(usize, String)>>,
    /// Headers of columns that are not known and are ignored.
    pub ignored: Vec<String>,
}

/// Why a header row cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    pub row: u64,
    /// Documented headers of required columns that are missing.
    pub missing: Vec<&'static str>,
    /// Columns headed twice: the documented header and the two headers found.
    pub duplicated: Vec<(&'static str, String, String)>,
    /// The file looks like the other kind of import file.
    pub looks_like: Option<ImportKind>,
}

impl HeaderError {
    pub fn code(&self) -> &'static str {
        if self.missing.is_empty() {
            "IMPORT_COLUMN_DUPLICATED"
        } else {
            "IMPORT_COLUMNS_MISSING"
        }
    }

    /// The report rows for this header.
    pub fn row_errors(&self) -> Vec<RowError> {
        let mut errors: Vec<RowError> = self
            .missing
            .iter()
            .map(|label| {
                RowError::new(
                    self.row,
                    *label,
                    "IMPORT_COLUMN_MISSING",
                    format!("缺少必填列“{label}”。"),
                )
            })
            .collect();
        for (label, first, second) in &self.duplicated {
            errors.push(RowError::new(
                self.row,
                second.clone(),
                "IMPORT_COLUMN_DUPLICATED",
                format!("“{first}”和“{second}”都表示“{label}”，只能保留一列。"),
            ));
        }
        errors
    }
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "表头（第 {} 行）缺少必填列：{}",
                self.row,
                self.missing.join("、")
            ));
        }
        for (label, first, second) in &self.duplicated {
            parts.push(format!(
                "“{first}”和“{second}”都表示“{label}”，只能保留一列"
            ));
        }
        write!(
            f,
            "{}。请按 docs/import.md 的列名修改表头后重新导入。",
            parts.join("；")
        )?;
        if let Some(kind) = self.looks_like {
            write!(
                f,
                "这个文件看起来是{}文件，请使用 `sscard import {}`。",
                kind.label_zh(),
                kind.code()
            )?;
        }
        Ok(())
    }
}

impl HeaderMap {
    /// Maps a header row onto `kind`'s columns. Unknown headers are ignored;
    /// every missing required column and every column headed twice is
    /// reported at once.
    ///
    /// # Errors
    ///
    /// Missing required columns or duplicated columns.
    pub fn new(kind: ImportKind, header: &Row) -> Result<Self, HeaderError> {
        let (positions, ignored, duplicated) = match_columns(kind.columns(), header);
        let missing: Vec<&'static str> = kind
            .columns()
            .iter()
            .zip(&positions)
            .filter(|(column, position)| column.required && position.is_none())
            .map(|(column, _)| column.label)
            .collect();
        if missing.is_empty() && duplicated.is_empty() {
            return Ok(Self {
                kind,
                positions,
                ignored,
            });
        }
        let looks_like = (!missing.is_empty())
            .then(|| {
                let other = kind.other();
                let (other_positions, _, _) = match_columns(other.columns(), header);
                let fits = other
                    .columns()
                    .iter()
                    .zip(&other_positions)
                    .all(|(column, position)| !column.required || position.is_some());
                fits.then_some(other)
            })
            .flatten();
        Err(HeaderError {
            row: header.number,
            missing,
            duplicated,
            looks_like,
        })
    }

    pub fn kind(&self) -> ImportKind {
        self.kind
    }

    /// The cell of `field` in `row` and the column's header as in the file;
    /// `None` when the column is absent or the row is shorter.
    pub fn cell<'r>(&self, row: &'r Row, field: &str) -> (Option<&'r Cell>, &str) {
        let columns = self.kind.columns();
        let Some(index) = columns.iter().position(|c| c.field == field) else {
            return (None, field_label(columns, field));
        };
        match &self.positions[index] {
            Some((position, header)) => (row.cells.get(*position), header.as_str()),
            None => (None, columns[index].label),
        }
    }

    /// The header of `field`'s column as in the file, or its documented
    /// header when the file has no such column.
    pub fn header_of(&self, field: &str) -> &str {
        let columns = self.kind.columns();
        match columns.iter().position(|c| c.field == field) {
            Some(index) => self.positions[index]
                .as_ref()
                .map_or(columns[index].label, |(_, header)| header.as_str()),
            None => "",
        }
    }

    /// Whether the file has a column for `field`.
    pub fn has(&self, field: &str) -> bool {
        self.kind
            .columns()
            .iter()
            .position(|c| c.field == field)
            .is_some_and(|i| self.positions[i].is_some())
    }
}

fn field_label(columns: &[Column], field: &str) -> &'static str {
    columns
        .iter()
        .find(|c| c.field == field)
        .map_or("", |c| c.label)
}

type Matched = (
    Vec<Option<(usize, String)>>,
    Vec<String>,
    Vec<(&'static str, String, String)>,
);

/// Maps a header row onto `columns`: each column's position and header as
/// written, the headers not known, and the columns headed twice.
pub fn match_columns(columns: &[Column], header: &Row) -> Matched {
    let mut positions: Vec<Option<(usize, String)>> = vec![None; columns.len()];
    let mut ignored = Vec::new();
    let mut duplicated = Vec::new();
    for (position, cell) in header.cells.iter().enumerate() {
        let key = normalize_header(&cell.text);
        if key.is_empty() {
            continue;
        }
        let found = columns.iter().position(|column| {
            normalize_header(column.label) == key
                || normalize_header(column.field) == key
                || column.aliases.iter().any(|a| normalize_header(a) == key)
        });
        let original = normalize_cell(&cell.text);
        match found {
            Some(index) => match &positions[index] {
                Some((_, first)) => {
                    duplicated.push((columns[index].label, first.clone(), original));
                }
                None => positions[index] = Some((position, original)),
            },
            None => ignored.push(original),
        }
    }
    (positions, ignored, duplicated)
}

/// Collects the problems of one row, naming the row and the column.
#[derive(Debug)]
pub struct RowCheck<'a> {
    pub map: &'a HeaderMap,
    pub row: &'a Row,
    pub errors: Vec<RowError>,
}

impl<'a> RowCheck<'a> {
    pub fn new(map: &'a HeaderMap, row: &'a Row) -> Self {
        Self {
            map,
            row,
            errors: Vec::new(),
        }
    }

    /// The normalised text of `field` and its header; `None` when blank.
    pub fn text(&self, field: &str) -> (Option<String>, String) {
        let (cell, header) = self.map.cell(self.row, field);
        let text = cell
            .map(|c| normalize_cell(&c.text))
            .filter(|t| !t.is_empty());
        (text, header.to_owned())
    }

    pub fn cell(&self, field: &str) -> (Option<&'a Cell>, String) {
        let (cell, header) = self.map.cell(self.row, field);
        (
            cell.filter(|c| !normalize_cell(&c.text).is_empty()),
            header.to_owned(),
        )
    }

    pub fn error(&mut self, column: &str, code: impl Into<String>, message: impl Into<String>) {
        self.errors
            .push(RowError::new(self.row.number, column, code, message));
    }

    /// A required cell: its cell, or an error saying it is empty.
    pub fn required(&mut self, field: &str) -> Option<(&'a Cell, String)> {
        let (cell, header) = self.cell(field);
        match cell {
            Some(cell) if is_excel_error(cell) => {
                self.excel_error(&header, cell);
                None
            }
            Some(cell) => Some((cell, header)),
            None => {
                self.error(
                    &header,
                    "IMPORT_VALUE_REQUIRED",
                    format!("“{header}”不能为空。"),
                );
                None
            }
        }
    }

    /// An optional cell: `None` when blank (or an Excel error value, reported).
    pub fn optional(&mut self, field: &str) -> Option<(&'a Cell, String)> {
        let (cell, header) = self.cell(field);
        match cell {
            Some(cell) if is_excel_error(cell) => {
                self.excel_error(&header, cell);
                None
            }
            Some(cell) => Some((cell, header)),
            None => None,
        }
    }

    fn excel_error(&mut self, header: &str, cell: &Cell) {
        self.error(
            header,
            "EXCEL_ERROR_VALUE",
            format!(
                "“{header}”是 Excel 错误值 {}（公式出错），请改为实际的值。",
                normalize_cell(&cell.text)
            ),
        );
    }

    /// Checks an identifier cell for Excel's mangling before parsing it:
    /// a number that Excel showed in scientific notation (`4.50221E+17`),
    /// whose last digits are lost; then hands the text to `parse`.
    pub fn identifier<T, E>(
        &mut self,
        cell: &Cell,
        header: &str,
        parse: impl Fn(&str) -> Result<T, E>,
        describe: impl Fn(&E) -> (&'static str, String),
    ) -> Option<T> {
        let text = strip_text_markers(&normalize_cell(&cell.text));
        if is_mangled_number(cell, &text) {
            self.error(
                header,
                "EXCEL_SCIENTIFIC_NOTATION",
                format!(
                    "“{header}”被 Excel 当作数字保存并显示为科学计数法，号码的后几位已经丢失，无法导入。请在 Excel 中把该列设为“文本”格式，重新录入号码后再导出。"
                ),
            );
            return None;
        }
        match parse(&text) {
            Ok(value) => Some(value),
            Err(error) => {
                let (code, message) = describe(&error);
                self.error(header, code, format!("“{header}”：{message}"));
                None
            }
        }
    }

    /// Parses a date cell (see [`parse_date`]).
    pub fn date(&mut self, cell: &Cell, header: &str) -> Option<NaiveDate> {
        match parse_date(cell) {
            Ok(date) => Some(date),
            Err((code, message)) => {
                self.error(header, code, format!("“{header}”：{message}"));
                None
            }
        }
    }

    /// The result: the value when the row had no problem, else every problem.
    ///
    /// # Errors
    ///
    /// Every problem found in the row.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<RowError>> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => {
                let mut errors = self.errors;
                if errors.is_empty() {
                    errors.push(RowError::new(
                        self.row.number,
                        "",
                        "IMPORT_ROW_INVALID",
                        "该行数据无效。",
                    ));
                }
                Err(errors)
            }
        }
    }
}

/// Excel's error values, as an XLSX error cell or as the text a CSV saved
/// by Excel holds.
const EXCEL_ERRORS: [&str; 11] = [
    "#N/A",
    "#VALUE!",
    "#REF!",
    "#DIV/0!",
    "#NUM!",
    "#NAME?",
    "#NULL!",
    "#SPILL!",
    "#CALC!",
    "#GETTING_DATA",
    "#FIELD!",
];

/// True for an Excel error value (`#N/A`, `#VALUE!` …) in any form.
pub fn is_excel_error(cell: &Cell) -> bool {
    cell.kind == CellKind::Error
        || EXCEL_ERRORS.contains(&normalize_cell(&cell.text).to_ascii_uppercase().as_str())
}

/// Removes the wrappers people use to keep Excel from turning a number into
/// a number: a leading apostrophe (`'450221…`) and the formula form
/// `="450221…"`.
pub fn strip_text_markers(text: &str) -> String {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix("=\"")
        .and_then(|rest| rest.strip_suffix('"'))
    {
        return inner.trim().to_owned();
    }
    if let Some(rest) = text.strip_prefix('\'') {
        return rest.trim().to_owned();
    }
    text.to_owned()
}

/// True for a value Excel has turned into an imprecise number: an XLSX
/// number cell of 15 or more digits or in exponent form, or text such as
/// `4.50221E+17` (what a CSV saved by Excel holds for a long number).
pub fn is_mangled_number(cell: &Cell, text: &str) -> bool {
    let looks_scientific = {
        let upper = text.to_ascii_uppercase();
        upper.split_once('E').is_some_and(|(mantissa, exponent)| {
            let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
            !mantissa.is_empty()
                && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
                && mantissa.chars().filter(|&c| c == '.').count() <= 1
                && !exponent.is_empty()
                && exponent.chars().all(|c| c.is_ascii_digit())
        })
    };
    match cell.kind {
        CellKind::Number => {
            looks_scientific
                || text
                    .parse::<f64>()
                    .is_ok_and(|value| value.abs() >= 1e15 || value.fract() != 0.0)
        }
        _ => looks_scientific,
    }
}

/// Parses a civil date as files carry it: `YYYYMMDD`, `YYYY-MM-DD`,
/// `YYYY/M/D` (Excel's CSV in a Chinese locale), `YYYY.MM.DD`,
/// `YYYY年M月D日`, optionally followed by a midnight time (`2026/1/5 0:00`),
/// or an XLSX date cell. Full-width digits are accepted.
///
/// # Errors
///
/// `(code, Chinese message)`: `DATE_FORMAT` when the text is not a date in
/// one of those forms, `DATE_INVALID` when it names a day that does not
/// exist (`2026-02-30`), `DATE_AS_NUMBER` when Excel stored the date as a
/// bare serial number.
pub fn parse_date(cell: &Cell) -> Result<NaiveDate, (&'static str, String)> {
    const FORMAT_HELP: &str =
        "日期格式应为 YYYYMMDD 或 YYYY-MM-DD（例如 20260105 或 2026-01-05）。";
    let text = strip_text_markers(&normalize_cell(&cell.text));
    if cell.kind == CellKind::Number
        && !(text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err((
            "DATE_AS_NUMBER",
            "日期被 Excel 存成了数字，请把该列设为“日期”或“文本”格式后重新导出。".to_owned(),
        ));
    }
    // Drop a time part: "2026/1/5 0:00", "2026-01-05 00:00:00", "2026-01-05T00:00:00".
    let date_part = text.split([' ', 'T']).next().unwrap_or_default();
    let parts: Vec<&str> = if date_part.len() == 8 && date_part.bytes().all(|b| b.is_ascii_digit())
    {
        vec![&date_part[..4], &date_part[4..6], &date_part[6..]]
    } else {
        date_part
            .trim_end_matches('日')
            .split(['-', '/', '.', '年', '月'])
            .collect()
    };
    let numbers: Option<Vec<u32>> = (parts.len() == 3
        && parts[0].len() == 4
        && parts[1..].iter().all(|p| (1..=2).contains(&p.len())))
    .then(|| {
        parts
            .iter()
            .map(|p| {
                p.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| p.parse::<u32>().ok())
                    .flatten()
            })
            .collect()
    })
    .flatten();
    let Some(numbers) = numbers else {
        return Err(("DATE_FORMAT", FORMAT_HELP.to_owned()));
    };
    let (year, month, day) = (numbers[0], numbers[1], numbers[2]);
    let year_i32 = i32::try_from(year).unwrap_or(0);
    NaiveDate::from_ymd_opt(year_i32, month, day)
        .filter(|_| (1900..=2100).contains(&year_i32))
        .ok_or_else(|| {
            (
                "DATE_INVALID",
                format!("日期 {year} 年 {month} 月 {day} 日不存在，请核对后重新填写。"),
            )
        })
}

/// Remembers the rows' keys to find a key used twice in one file, in
/// 24 bytes per row (a 128-bit keyed hash of the key and the row number);
/// the key itself is not kept.
#[derive(Debug, Default)]
pub struct DuplicateFinder {
    hashers: (RandomState, RandomState),
    seen: HashMap<u128, u64>,
}

impl DuplicateFinder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `key` for `row`; returns the earlier row with the same key.
    pub fn check(&mut self, key: &str, row: u64) -> Option<u64> {
        let high = self.hashers.0.hash_one(key);
        let low = self.hashers.1.hash_one(key);
        let hash = (u128::from(high) << 64) | u128::from(low);
        match self.seen.get(&hash) {
            Some(earlier) => Some(*earlier),
            None => {
                self.seen.insert(hash, row);
                None
            }
        }
    }
}

/// One key made of several parts (for compound keys), unambiguous.
pub fn key_of(parts: &[&str]) -> String {
    let mut key = String::new();
    for part in parts {
        key.push_str(part);
        key.push('\u{1F}');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: u64, cells: &[&str]) -> Row {
        Row {
            number,
            cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        }
    }

    #[test]
    fn headers_are_normalised() {
        assert_eq!(normalize_header(" 身份证号 "), "身份证号");
        assert_eq!(normalize_header("*身份证号（必填）"), "身份证号");
        assert_eq!(normalize_header("社会保障号码:"), "社会保障号码");
        assert_eq!(normalize_header("\u{FEFF}ID_Number"), "id_number");
        assert_eq!(normalize_header("手机\u{3000}号"), "手机号");
        assert_eq!(normalize_header("有效期(YYYYMMDD)"), "有效期");
    }

    #[test]
    fn cells_are_normalised() {
        assert_eq!(normalize_cell("\u{3000}４５０２２１ \u{00A0}"), "450221");
        assert_eq!(normalize_cell("\u{200B}张三\u{FEFF}"), "张三");
        assert_eq!(normalize_cell("柳江区　拉堡镇"), "柳江区 拉堡镇");
    }

    #[test]
    fn chinese_and_english_headers_map_and_extra_columns_are_ignored() {
        let header = row(
            1,
            &[
                "序号",
                "身份证号",
                "姓名",
                "备注",
                "mobile",
                "参保地区划代码",
                "参保状态",
                "参保日期",
            ],
        );
        let map = HeaderMap::new(ImportKind::Persons, &header).unwrap();
        assert_eq!(map.ignored, ["序号", "备注"]);
        let data = row(2, &["1", "45022119900101123X", "张三", "", "13800138000"]);
        let (cell, column) = map.cell(&data, "id_number");
        assert_eq!(cell.unwrap().text, "45022119900101123X");
        assert_eq!(column, "身份证号");
        let (cell, column) = map.cell(&data, "mobile");
        assert_eq!(cell.unwrap().text, "13800138000");
        assert_eq!(column, "mobile");
        // Beyond the row's end.
        assert_eq!(map.cell(&data, "enrolled_on").0, None);
    }

    #[test]
    fn missing_columns_are_named_all_at_once() {
        let header = row(1, &["姓名", "手机号"]);
        let error = HeaderMap::new(ImportKind::Persons, &header).unwrap_err();
        assert_eq!(error.code(), "IMPORT_COLUMNS_MISSING");
        assert!(error.missing.contains(&"社会保障号码"));
        let message = error.to_string();
        assert!(message.contains("缺少必填列"), "{message}");
        assert!(message.contains("社会保障号码"), "{message}");
        assert_eq!(error.row_errors().len(), error.missing.len());
    }

    #[test]
    fn a_cards_file_given_as_persons_is_recognised() {
        let header = row(
            1,
            &[
                "社会保障卡卡号",
                "卡识别码",
                "社会保障号码",
                "发卡地区划代码",
                "规范版本",
                "发卡日期",
                "有效期",
                "社保应用状态",
                "金融应用状态",
                "合作银行代码",
                "银行账号",
            ],
        );
        let error = HeaderMap::new(ImportKind::Persons, &header).unwrap_err();
        assert_eq!(error.looks_like, Some(ImportKind::Cards));
        assert!(error.to_string().contains("sscard import cards"));
    }

    #[test]
    fn a_column_headed_twice_is_refused() {
        let header = row(1, &["身份证号", "社会保障号码", "姓名", "参保状态"]);
        let error = HeaderMap::new(ImportKind::Persons, &header).unwrap_err();
        assert!(!error.duplicated.is_empty());
        assert!(error.to_string().contains("只能保留一列"));
    }

    #[test]
    fn dates_in_every_form_files_carry() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        for text in [
            "20260105",
            "2026-01-05",
            "2026-1-5",
            "2026/1/5",
            "2026/01/05 0:00",
            "2026.01.05",
            "2026年1月5日",
            "２０２６０１０５",
            " 2026-01-05T00:00:00 ",
            "'20260105",
        ] {
            assert_eq!(parse_date(&Cell::text(text)), Ok(date), "{text}");
        }
        let xlsx = Cell {
            text: "2026-01-05".into(),
            kind: CellKind::Date,
        };
        assert_eq!(parse_date(&xlsx), Ok(date));
        let number = Cell {
            text: "20260105".into(),
            kind: CellKind::Number,
        };
        assert_eq!(parse_date(&number), Ok(date));
    }

    #[test]
    fn bad_dates_say_why() {
        let code = |text: &str| parse_date(&Cell::text(text)).unwrap_err().0;
        assert_eq!(code("2026-02-30"), "DATE_INVALID");
        assert_eq!(code("20260230"), "DATE_INVALID");
        assert_eq!(code("2026-13-01"), "DATE_INVALID");
        assert_eq!(code("1850-01-01"), "DATE_INVALID");
        assert_eq!(code("2026/1"), "DATE_FORMAT");
        assert_eq!(code("26-01-05"), "DATE_FORMAT");
        assert_eq!(code("明天"), "DATE_FORMAT");
        assert_eq!(code("2026-01-05x"), "DATE_FORMAT");
        assert_eq!(code("202615"), "DATE_FORMAT");
        let serial = Cell {
            text: "46027".into(),
            kind: CellKind::Number,
        };
        assert_eq!(parse_date(&serial).unwrap_err().0, "DATE_AS_NUMBER");
        assert!(
            parse_date(&Cell::text("2026-02-30"))
                .unwrap_err()
                .1
                .contains("不存在")
        );
    }

    #[test]
    fn excel_mangled_numbers_are_recognised() {
        assert!(is_mangled_number(&Cell::text("4.50221E+17"), "4.50221E+17"));
        assert!(is_mangled_number(&Cell::text("4.50221e17"), "4.50221e17"));
        assert!(!is_mangled_number(
            &Cell::text("45022119900101123X"),
            "45022119900101123X"
        ));
        assert!(!is_mangled_number(&Cell::text("E12345678"), "E12345678"));
        assert!(!is_mangled_number(&Cell::text("1E"), "1E"));
        let number = Cell {
            text: "450221199001011000".into(),
            kind: CellKind::Number,
        };
        assert!(is_mangled_number(&number, &number.text));
        let phone = Cell {
            text: "13800138000".into(),
            kind: CellKind::Number,
        };
        assert!(!is_mangled_number(&phone, &phone.text));
    }

    #[test]
    fn excel_error_values_in_csv_text_are_recognised() {
        assert!(is_excel_error(&Cell::text(" #N/A ")));
        assert!(is_excel_error(&Cell::text("#div/0!")));
        assert!(!is_excel_error(&Cell::text("N/A")));
        let map = HeaderMap::new(
            ImportKind::Persons,
            &row(
                1,
                &[
                    "社会保障号码",
                    "姓名",
                    "参保地区划代码",
                    "参保状态",
                    "参保日期",
                ],
            ),
        )
        .unwrap();
        let data = row(2, &["#N/A", "张三", "450206", "参保缴费", "2020-01-01"]);
        let mut check = RowCheck::new(&map, &data);
        assert!(check.required("id_number").is_none());
        assert_eq!(check.errors[0].code, "EXCEL_ERROR_VALUE");
        assert!(check.errors[0].message.contains("#N/A"));
    }

    #[test]
    fn text_markers_are_stripped() {
        assert_eq!(strip_text_markers("'450221"), "450221");
        assert_eq!(strip_text_markers("=\"450221\""), "450221");
        assert_eq!(strip_text_markers("450221"), "450221");
    }

    #[test]
    fn duplicates_are_found_by_key() {
        let mut finder = DuplicateFinder::new();
        assert_eq!(finder.check("a", 2), None);
        assert_eq!(finder.check("b", 3), None);
        assert_eq!(finder.check("a", 4), Some(2));
        assert_eq!(finder.check(&key_of(&["a", "b"]), 5), None);
        assert_eq!(finder.check(&key_of(&["ab", ""]), 6), None);
    }
}
