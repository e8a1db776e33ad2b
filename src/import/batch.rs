//! The electronic list of an employer's batch (单位批量启用名单): finding
//! its header and reading each row as people and HR tools write it. Pure:
//! rows in ([`super::Row`] from [`super::reader`]), checked lines out.
//!
//! Tolerated, because that is what arrives:
//! - header variants (身份证号, 身份证号码, 公民身份号码 for 社会保障号码; 卡号,
//!   社保卡号 for 社会保障卡卡号 …; compared after [`super::normalize_header`]),
//!   a title row or notes above the header (the header is the first of the
//!   first [`MAX_ROWS_BEFORE_HEADER`] non-blank rows that names the required
//!   columns), extra columns (ignored and named), blank rows (skipped by the
//!   reader), rows with nothing in the known columns (a 序号 or a note:
//!   skipped);
//! - in cells: surrounding and inner spaces (also U+3000), full-width digits
//!   and letters, a lower-case `x`, the text markers `'…` and `="…"`.
//!
//! Reported per row, never guessed: an ID number Excel stored as a number
//! has lost its last digits ([`ID_NUMBER_DIGITS_LOST`]) and is never used to
//! look anyone up; an invalid ID or card number gets the identifier's own
//! code. The mobile column is read so that it is not reported as unknown,
//! and nothing of it is kept: notices go to the number on record.

use chrono::NaiveDate;
use sscard_domain::batch::{asks_for_bank, clean_identifier, service_mentions_bank};
use sscard_domain::identifiers::{CardNumber, IdNumber};
use sscard_domain::mask::mask_middle;

use super::{
    Cell, Column, Row, is_excel_error, is_mangled_number, match_columns, normalize_cell,
    strip_text_markers,
};

/// Non-blank rows looked through for the header (title rows, notes).
pub const MAX_ROWS_BEFORE_HEADER: usize = 10;

/// `ID_NUMBER_DIGITS_LOST`: Excel turned the ID number into a number.
pub const ID_NUMBER_DIGITS_LOST: &str = "ID_NUMBER_DIGITS_LOST";

/// The columns of the list; the template carries the first four.
pub const COLUMNS: &[Column] = &[
    Column {
        field: "name",
        label: "姓名",
        aliases: &["职工姓名", "员工姓名", "持卡人姓名", "人员姓名", "名字"],
        required: true,
    },
    Column {
        field: "id_number",
        label: "社会保障号码",
        aliases: &[
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "公民身份证号码",
            "身份证",
            "证件号码",
            "证件号",
            "社会保障号",
            "社保号码",
            "社保号",
            "个人社会保障号码",
        ],
        required: true,
    },
    Column {
        field: "card_number",
        label: "社会保障卡卡号",
        aliases: &[
            "卡号",
            "社保卡号",
            "社保卡卡号",
            "社会保障卡号",
            "社会保障卡号码",
            "社保卡号码",
        ],
        required: true,
    },
    Column {
        field: "mobile",
        label: "手机号",
        aliases: &[
            "手机",
            "手机号码",
            "联系电话",
            "电话",
            "联系方式",
            "移动电话",
        ],
        required: false,
    },
    Column {
        field: "bank",
        label: "金融功能",
        aliases: &[
            "银行激活",
            "激活金融功能",
            "金融功能激活",
            "金融账户激活",
            "银行账户激活",
            "开通金融功能",
            "激活银行卡",
            "银行卡激活",
            "金融应用",
            "激活金融账户",
            "是否激活金融功能",
            "是否激活银行账户",
        ],
        required: false,
    },
    Column {
        field: "service",
        label: "办理业务",
        aliases: &[
            "业务类型",
            "启用类型",
            "激活类型",
            "申请事项",
            "办理事项",
            "激活内容",
        ],
        required: false,
    },
];

const NAME: usize = 0;
const ID_NUMBER: usize = 1;
const CARD_NUMBER: usize = 2;
const BANK: usize = 4;
const SERVICE: usize = 5;

/// Where the known columns are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListHeader {
    /// The header's row number as Excel shows it.
    pub row: u64,
    positions: Vec<Option<usize>>,
    /// Headers of the columns that are not known and are ignored.
    pub ignored: Vec<String>,
}

/// Why a list cannot be read at all (before any row is looked at).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error(
        "名单中找不到表头：前 {looked} 行中没有一行同时含有{}。请使用名单模板（第一行为表头：姓名、社会保障号码、社会保障卡卡号、手机号），或把表头改为这些列名后重新上传。{}",
        columns_named(missing), closest(*closest_row)
    )]
    ColumnsMissing {
        looked: usize,
        /// The required columns missing from the row that came closest.
        missing: Vec<&'static str>,
        closest_row: Option<u64>,
    },
    #[error(
        "表头（第 {row} 行）中“{first}”和“{second}”都表示“{label}”，只能保留一列。请删除其中一列后重新上传。"
    )]
    ColumnDuplicated {
        row: u64,
        label: &'static str,
        first: String,
        second: String,
    },
    #[error("名单中只有表头，没有职工的数据行。请填写后重新上传。")]
    NoRows,
    #[error("名单超过 {max} 行。请分成几个名单分别上传。")]
    TooManyRows { max: u64 },
}

fn columns_named(missing: &[&str]) -> String {
    if missing.is_empty() {
        "必填列".to_owned()
    } else {
        missing
            .iter()
            .map(|label| format!("“{label}”"))
            .collect::<Vec<_>>()
            .join("、")
    }
}

fn closest(row: Option<u64>) -> String {
    row.map(|row| format!("（第 {row} 行最接近表头。）"))
        .unwrap_or_default()
}

impl ListError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ColumnsMissing { .. } => "BATCH_LIST_COLUMNS_MISSING",
            Self::ColumnDuplicated { .. } => "BATCH_LIST_COLUMN_DUPLICATED",
            Self::NoRows => "BATCH_LIST_EMPTY",
            Self::TooManyRows { .. } => "BATCH_LIST_TOO_LARGE",
        }
    }
}

/// Looks for the header among the first rows of a list.
#[derive(Debug, Default)]
pub struct HeaderFinder {
    looked: usize,
    /// The row with the most required columns so far, and what it lacks.
    closest: Option<(usize, u64, Vec<&'static str>)>,
}

impl HeaderFinder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers the next non-blank row: `Ok(Some(header))` when it is the
    /// header, `Ok(None)` to go on looking.
    ///
    /// # Errors
    ///
    /// [`ListError::ColumnDuplicated`] when the header names a column twice;
    /// [`ListError::ColumnsMissing`] when [`MAX_ROWS_BEFORE_HEADER`] rows
    /// passed without a header.
    pub fn offer(&mut self, row: &Row) -> Result<Option<ListHeader>, ListError> {
        self.looked += 1;
        let (positions, ignored, duplicated) = match_columns(COLUMNS, row);
        let missing: Vec<&'static str> = COLUMNS
            .iter()
            .zip(&positions)
            .filter(|(column, position)| column.required && position.is_none())
            .map(|(column, _)| column.label)
            .collect();
        let found = COLUMNS.iter().filter(|c| c.required).count() - missing.len();
        if missing.is_empty() {
            if let Some((label, first, second)) = duplicated.into_iter().next() {
                return Err(ListError::ColumnDuplicated {
                    row: row.number,
                    label,
                    first,
                    second,
                });
            }
            return Ok(Some(ListHeader {
                row: row.number,
                positions: positions.iter().map(|p| p.as_ref().map(|p| p.0)).collect(),
                ignored,
            }));
        }
        if found > 0 && self.closest.as_ref().is_none_or(|(best, ..)| found > *best) {
            self.closest = Some((found, row.number, missing));
        }
        if self.looked >= MAX_ROWS_BEFORE_HEADER {
            return Err(self.give_up());
        }
        Ok(None)
    }

    /// The error when the rows ran out (or the limit passed) without a header.
    pub fn give_up(&self) -> ListError {
        let (missing, closest_row) = match &self.closest {
            Some((_, row, missing)) => (missing.clone(), Some(*row)),
            None => (
                COLUMNS
                    .iter()
                    .filter(|c| c.required)
                    .map(|c| c.label)
                    .collect(),
                None,
            ),
        };
        ListError::ColumnsMissing {
            looked: self.looked,
            missing,
            closest_row,
        }
    }
}

/// One row of the list, checked. A row with a problem is kept with its
/// problem: it is reported, never silently dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListLine {
    /// The row number as Excel (or a text editor) shows it.
    pub line: u64,
    /// The name as listed (trimmed, full-width spaces made half-width).
    pub name: String,
    /// The ID number, when it is a valid one.
    pub id_number: Option<IdNumber>,
    /// The ID number cell as cleaned, when not blank (whatever it holds),
    /// to be sealed; `None` when the cell is blank.
    pub id_text: Option<String>,
    /// The ID number for screens and the report: masked.
    pub id_masked: String,
    pub card_number: Option<CardNumber>,
    /// The card number for screens and the report: masked.
    pub card_masked: String,
    /// The row asks for the bank function as well.
    pub bank_requested: bool,
    /// The first problem's code and every problem of the row, in Chinese.
    pub problem: Option<(String, String)>,
}

impl ListHeader {
    fn cell<'r>(&self, row: &'r Row, column: usize) -> Option<&'r Cell> {
        self.positions[column]
            .and_then(|position| row.cells.get(position))
            .filter(|cell| !cell.is_blank())
    }

    /// Whether the list has a column asking for the bank function.
    pub fn has_bank_column(&self) -> bool {
        self.positions[BANK].is_some() || self.positions[SERVICE].is_some()
    }

    /// Reads one data row; `None` for a row with nothing in the name, ID
    /// number and card number columns (a 序号 alone, a note under the table).
    pub fn line(&self, row: &Row, today: NaiveDate) -> Option<ListLine> {
        let name_cell = self.cell(row, NAME);
        let id_cell = self.cell(row, ID_NUMBER);
        let card_cell = self.cell(row, CARD_NUMBER);
        if name_cell.is_none() && id_cell.is_none() && card_cell.is_none() {
            return None;
        }
        let mut problems: Vec<(String, String)> = Vec::new();

        let id_text = id_cell.map(|cell| clean_identifier(&strip_text_markers(&cell.text)));
        let id_number = match id_cell {
            None => {
                problems.push((
                    "ID_NUMBER_REQUIRED".to_owned(),
                    "社会保障号码（身份证号码）为空，请填写。".to_owned(),
                ));
                None
            }
            Some(cell) if is_excel_error(cell) => {
                problems.push(excel_error("社会保障号码", cell));
                None
            }
            Some(cell)
                if is_mangled_number(cell, &strip_text_markers(&normalize_cell(&cell.text))) =>
            {
                problems.push((
                    ID_NUMBER_DIGITS_LOST.to_owned(),
                    "社会保障号码被 Excel 当作数字保存，后几位已经丢失（显示为科学计数法，如 4.50206E+17），无法确定是哪一位职工，本行未办理。请把该列设为“文本”格式、重新录入号码后再上传。".to_owned(),
                ));
                None
            }
            Some(_) => match IdNumber::parse_at(id_text.as_deref().unwrap_or_default(), today) {
                Ok(id) => Some(id),
                Err(error) => {
                    problems.push((error.code().to_owned(), format!("社会保障号码：{error}")));
                    None
                }
            },
        };

        let card_text = card_cell.map(|cell| clean_identifier(&strip_text_markers(&cell.text)));
        let card_number = match card_cell {
            None => {
                problems.push((
                    "CARD_NUMBER_REQUIRED".to_owned(),
                    "社会保障卡卡号为空，请填写卡面上的 9 位卡号。".to_owned(),
                ));
                None
            }
            Some(cell) if is_excel_error(cell) => {
                problems.push(excel_error("社会保障卡卡号", cell));
                None
            }
            Some(_) => match CardNumber::parse(card_text.as_deref().unwrap_or_default()) {
                Ok(card) => Some(card),
                Err(error) => {
                    problems.push((error.code().to_owned(), format!("社会保障卡卡号：{error}")));
                    None
                }
            },
        };

        let name = name_cell
            .map(|cell| normalize_cell(&cell.text))
            .unwrap_or_default();
        if name.is_empty() {
            problems.push((
                "NAME_REQUIRED".to_owned(),
                "姓名为空，请填写（须与身份证上的姓名一致）。".to_owned(),
            ));
        } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
            problems.push((
                "NAME_INVALID".to_owned(),
                "姓名过长或含有不可见字符，请按身份证上的姓名填写。".to_owned(),
            ));
        }

        let bank_requested = self
            .cell(row, BANK)
            .is_some_and(|cell| asks_for_bank(&cell.text))
            || self
                .cell(row, SERVICE)
                .is_some_and(|cell| service_mentions_bank(&cell.text));

        let id_masked = match (&id_number, &id_text) {
            (Some(id), _) => id.masked(),
            (None, Some(text)) => mask_middle(text, 6, 4),
            (None, None) => String::new(),
        };
        let card_masked = match (&card_number, &card_text) {
            (Some(card), _) => card.masked(),
            (None, Some(text)) => mask_middle(text, 5, 0),
            (None, None) => String::new(),
        };
        let problem = (!problems.is_empty()).then(|| {
            let code = problems[0].0.clone();
            let reason = problems
                .iter()
                .map(|(_, message)| message.trim_end_matches('。'))
                .collect::<Vec<_>>()
                .join("；");
            (code, format!("{reason}。"))
        });
        Some(ListLine {
            line: row.number,
            name,
            id_number,
            id_text,
            id_masked,
            card_number,
            card_masked,
            bank_requested,
            problem,
        })
    }
}

fn excel_error(label: &str, cell: &Cell) -> (String, String) {
    (
        "EXCEL_ERROR_VALUE".to_owned(),
        format!(
            "{label}是 Excel 错误值 {}（公式出错），请改为实际的号码。",
            normalize_cell(&cell.text)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::CellKind;
    use proptest::prelude::*;
    use sscard_domain::identifiers::id_check_char;

    fn row(number: u64, cells: &[&str]) -> Row {
        Row {
            number,
            cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn id(first17: &str) -> String {
        format!("{first17}{}", id_check_char(first17).unwrap())
    }

    fn header(cells: &[&str]) -> ListHeader {
        HeaderFinder::new()
            .offer(&row(1, cells))
            .unwrap()
            .expect("a header")
    }

    #[test]
    fn the_template_header_and_its_variants_are_found() {
        for cells in [
            &["姓名", "社会保障号码", "社会保障卡卡号", "手机号"][..],
            &["序号", " 姓 名 ", "身份证号码（18位）", "卡号", "部门"],
            &["*姓名", "公民身份号码", "社保卡号", "联系电话", "金融功能"],
            &["名字", "身份证号", "社会保障卡号"],
        ] {
            let h = header(cells);
            assert_eq!(h.row, 1);
        }
        let h = header(&["序号", "姓名", "身份证号码", "卡号", "部门"]);
        assert_eq!(h.ignored, ["序号", "部门"]);
    }

    #[test]
    fn title_rows_above_the_header_are_skipped() {
        let mut finder = HeaderFinder::new();
        assert_eq!(
            finder
                .offer(&row(1, &["柳州市某某公司批量启用社会保障卡名单"]))
                .unwrap(),
            None
        );
        assert_eq!(
            finder
                .offer(&row(2, &["填报日期：2026年11月", "", "单位盖章"]))
                .unwrap(),
            None
        );
        let h = finder
            .offer(&row(4, &["姓名", "身份证号", "社会保障卡卡号"]))
            .unwrap()
            .expect("found");
        assert_eq!(h.row, 4);
    }

    #[test]
    fn a_list_without_a_header_says_what_is_missing() {
        let mut finder = HeaderFinder::new();
        for n in 1..MAX_ROWS_BEFORE_HEADER as u64 {
            assert_eq!(finder.offer(&row(n, &["张三", "x"])).unwrap(), None);
        }
        let error = finder
            .offer(&row(10, &["姓名", "身份证号", "电话"]))
            .unwrap_err();
        assert_eq!(error.code(), "BATCH_LIST_COLUMNS_MISSING");
        let message = error.to_string();
        assert!(message.contains("社会保障卡卡号"), "{message}");
        assert!(message.contains("第 10 行最接近"), "{message}");
        let mut empty = HeaderFinder::new();
        empty.offer(&row(1, &["随便什么"])).unwrap();
        assert!(empty.give_up().to_string().contains("社会保障号码"));
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let error = HeaderFinder::new()
            .offer(&row(1, &["姓名", "身份证号", "社会保障号码", "卡号"]))
            .unwrap_err();
        assert_eq!(error.code(), "BATCH_LIST_COLUMN_DUPLICATED");
    }

    #[test]
    fn messy_cells_read_as_the_values_they_mean() {
        let h = header(&["姓名", "身份证号", "卡号", "手机号", "备注"]);
        let the_id = id("45022119900101123");
        let typed_id: String = format!(
            "\u{3000}{} ",
            the_id
                .chars()
                .map(|c| match c {
                    '0'..='9' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
                    'X' => 'x',
                    c => c,
                })
                .collect::<String>()
        );
        let line = h
            .line(
                &row(
                    2,
                    &[" 张　三 ", &typed_id, " ａ1234 5678", "138 0013 8000", "x"],
                ),
                today(),
            )
            .unwrap();
        assert_eq!(line.problem, None, "{line:?}");
        assert_eq!(line.name, "张 三");
        assert_eq!(line.id_number.unwrap().as_str(), the_id);
        assert_eq!(line.card_number.unwrap().as_str(), "A12345678");
        assert!(!line.bank_requested);
        assert_eq!(line.line, 2);
        let marked = h
            .line(
                &row(3, &["李四", &format!("'{the_id}"), "=\"A12345678\""]),
                today(),
            )
            .unwrap();
        assert_eq!(marked.problem, None);
    }

    #[test]
    fn an_id_number_excel_made_a_number_is_never_read() {
        let h = header(&["姓名", "身份证号", "卡号"]);
        let number = Row {
            number: 5,
            cells: vec![
                Cell::text("王五"),
                Cell {
                    text: "4.50206199003071e17".into(),
                    kind: CellKind::Number,
                },
                Cell::text("A12345678"),
            ],
        };
        let line = h.line(&number, today()).unwrap();
        assert_eq!(line.id_number, None);
        assert_eq!(line.problem.as_ref().unwrap().0, ID_NUMBER_DIGITS_LOST);
        // As a CSV saved by Excel has it.
        let text = h
            .line(&row(6, &["王五", "4.50206E+17", "A12345678"]), today())
            .unwrap();
        assert_eq!(text.problem.unwrap().0, ID_NUMBER_DIGITS_LOST);
        assert_eq!(text.id_number, None);
    }

    #[test]
    fn every_problem_of_a_row_is_named_and_the_first_coded() {
        let h = header(&["姓名", "身份证号", "卡号"]);
        let line = h
            .line(&row(7, &["", "450221199001011230", ""]), today())
            .unwrap();
        let (code, reason) = line.problem.unwrap();
        assert_eq!(code, "ID_NUMBER_CHECKSUM");
        assert!(reason.contains("卡号为空"), "{reason}");
        assert!(reason.contains("姓名为空"), "{reason}");
        assert_eq!(line.id_masked, "450221********1230");
        assert_eq!(h.line(&row(8, &["", "", ""]), today()), None);
        let error = h
            .line(&row(9, &["赵六", "#N/A", "A12345678"]), today())
            .unwrap();
        assert_eq!(error.problem.unwrap().0, "EXCEL_ERROR_VALUE");
    }

    #[test]
    fn a_bank_column_or_a_service_naming_the_bank_is_a_request() {
        let h = header(&["姓名", "身份证号", "卡号", "激活金融功能"]);
        assert!(h.has_bank_column());
        let the_id = id("45022119900101123");
        let yes = h
            .line(&row(2, &["张三", &the_id, "A12345678", "是"]), today())
            .unwrap();
        assert!(yes.bank_requested);
        let no = h
            .line(&row(3, &["张三", &the_id, "A12345678", "否"]), today())
            .unwrap();
        assert!(!no.bank_requested);
        let service = header(&["姓名", "身份证号", "卡号", "办理业务"]);
        let both = service
            .line(
                &row(2, &["张三", &the_id, "A12345678", "社保功能和金融功能"]),
                today(),
            )
            .unwrap();
        assert!(both.bank_requested);
        assert!(!header(&["姓名", "身份证号", "卡号"]).has_bank_column());
    }

    proptest! {
        /// Column order, extra columns and surrounding spaces in the header
        /// do not change what a row says.
        #[test]
        fn column_order_and_extras_do_not_matter(
            order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
            extra in proptest::collection::vec("[a-z备注部门岗位]{1,4}", 0..3),
            pad in "[ \u{3000}]{0,2}",
        ) {
            let labels = ["姓名", "身份证号码", "社会保障卡卡号", "手机号"];
            let values = ["黄明".to_owned(), id("45022119900101123"), "L00000042".to_owned(), "13877212345".to_owned()];
            let mut head: Vec<String> = order.iter().map(|&i| format!("{pad}{}{pad}", labels[i])).collect();
            let mut data: Vec<String> = order.iter().map(|&i| format!("{pad}{}{pad}", values[i])).collect();
            for (n, e) in extra.iter().enumerate() {
                head.push(format!("{e}{n}"));
                data.push("?".to_owned());
            }
            let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
            let data_refs: Vec<&str> = data.iter().map(String::as_str).collect();
            let h = match HeaderFinder::new().offer(&row(1, &head_refs)) {
                Ok(Some(h)) => h,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            let line = h.line(&row(2, &data_refs), today()).unwrap();
            prop_assert_eq!(line.problem, None);
            prop_assert_eq!(line.name, "黄明");
            prop_assert_eq!(line.id_number.map(IdNumber::into_string), Some(values[1].clone()));
            prop_assert_eq!(line.card_number.map(CardNumber::into_string), Some("L00000042".to_owned()));
        }

        /// Whatever a cell holds, reading a row never panics, and a row
        /// with a problem never carries a usable ID number and card both
        /// unless only the name is at fault.
        #[test]
        fn any_cells_are_read_without_panicking(
            cells in proptest::collection::vec("\\PC{0,24}", 0..6),
        ) {
            let h = header(&["姓名", "身份证号", "卡号", "金融功能", "办理业务"]);
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            if let Some(line) = h.line(&row(2, &refs), today()) {
                if line.id_number.is_some() && line.card_number.is_some() {
                    prop_assert!(line.problem.as_ref().is_none_or(|(code, _)| code.starts_with("NAME_")));
                } else {
                    prop_assert!(line.problem.is_some());
                }
            }
        }
    }
}
