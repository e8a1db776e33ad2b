//! The spreadsheets of a batch: the list template the employer fills in,
//! and the per-row result (结果清单) the report route serves.
//!
//! The report is written by `rust_xlsxwriter` in constant-memory mode on a
//! thread of its own while the rows are read from the database a page at a
//! time, so a 100,000-row report holds one page of rows in memory (plus the
//! compressed file being built).

use std::sync::mpsc::sync_channel;

use rust_xlsxwriter::{Format, Workbook, XlsxError};
use sscard_domain::batch::{BANK_NOT_BATCHABLE, BANK_NOT_BATCHABLE_MESSAGE};
use sscard_domain::case::CaseState;

use super::{may_see, report_available, state_of};
use crate::clock::to_china;
use crate::service::accounts::Principal;
use crate::service::{ServiceError, ServiceResult, Services};
use crate::store::batches::{self as rows, BatchRow, FAILED, ReportRow, SUCCEEDED};

/// The content type of both spreadsheets.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The template's file name.
pub const TEMPLATE_FILE_NAME: &str = "单位批量启用社会保障卡社保功能名单模板.xlsx";
/// Rows read per page while the report is written.
const PAGE_ROWS: i64 = 2000;

/// The report's columns, in order.
pub const REPORT_COLUMNS: [&str; 8] = [
    "原表行号",
    "姓名",
    "社会保障号码",
    "社会保障卡卡号",
    "办理结果",
    "原因代码",
    "原因说明",
    "金融功能",
];

/// A finished spreadsheet.
#[derive(Debug)]
pub struct Spreadsheet {
    pub file_name: String,
    pub content: SpreadsheetContent,
}

/// Where a finished spreadsheet is: a small one (the template) in memory; a
/// batch's report (up to 200,000 rows) in an anonymous temporary file, gone
/// when closed, which the answer streams, so the server's memory does not
/// grow with the rows.
#[derive(Debug)]
pub enum SpreadsheetContent {
    Memory(Vec<u8>),
    File { file: std::fs::File, length: u64 },
}

fn xlsx_error(error: &XlsxError) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("cannot write the spreadsheet: {error}"))
}

/// The list template: 姓名, 社会保障号码, 社会保障卡卡号, 手机号 with one
/// example row, every column formatted as text (so Excel keeps an ID number
/// whole), and a sheet of instructions.
///
/// # Errors
///
/// Only if the spreadsheet library fails.
pub fn template_xlsx() -> ServiceResult<Spreadsheet> {
    build_template().map_err(|e| xlsx_error(&e))
}

fn build_template() -> Result<Spreadsheet, XlsxError> {
    let mut workbook = Workbook::new();
    let text = Format::new().set_num_format("@");
    let bold = Format::new().set_bold().set_num_format("@");
    let example_id = example_id_number();
    let sheet = workbook.add_worksheet();
    sheet.set_name("名单")?;
    for (col, (label, width)) in [
        ("姓名", 14.0),
        ("社会保障号码", 24.0),
        ("社会保障卡卡号", 18.0),
        ("手机号", 16.0),
    ]
    .into_iter()
    .enumerate()
    {
        let col = u16::try_from(col).unwrap_or(0);
        sheet.set_column_format(col, &text)?;
        sheet.set_column_width(col, width)?;
        sheet.write_string_with_format(0, col, label, &bold)?;
    }
    sheet.write_string_with_format(1, 0, "张三（示例，请删除）", &text)?;
    sheet.write_string_with_format(1, 1, &example_id, &text)?;
    sheet.write_string_with_format(1, 2, "A12345678", &text)?;
    sheet.write_string_with_format(1, 3, "13800138000", &text)?;
    sheet.set_freeze_panes(1, 0)?;

    let help = workbook.add_worksheet();
    help.set_name("填写说明")?;
    help.set_column_width(0, 110.0)?;
    let lines = [
        "单位批量启用社会保障卡社保功能 —— 电子名单填写说明",
        "1. 在“名单”工作表中每行填写一名本单位职工：姓名、社会保障号码（18 位身份证号码）、社会保障卡卡号（卡面上的 9 位卡号）、手机号。第 2 行是示例，请删除。",
        "2. 各列已设为“文本”格式，请直接录入或粘贴为“值”。身份证号码如被 Excel 存成数字（显示为 4.50221E+17），后几位已经丢失，该行不能办理。",
        "3. 名单可保存为 XLSX，或 CSV（UTF-8 或 GBK 编码均可）。上传时须同时上传加盖单位公章的《单位批量激活社会保障卡社保功能授权委托书》扫描件（PDF、JPEG 或 PNG）。",
        "4. 只能为参保单位为本单位、在柳州市参保的职工启用本人已领取的社会保障卡的社保功能；每行的办理结果和原因见办结后下载的结果清单。",
        &format!("5. {BANK_NOT_BATCHABLE_MESSAGE}"),
    ];
    for (row, line) in lines.iter().enumerate() {
        help.write_string(u32::try_from(row).unwrap_or(0), 0, *line)?;
    }
    Ok(Spreadsheet {
        file_name: TEMPLATE_FILE_NAME.to_owned(),
        content: SpreadsheetContent::Memory(workbook.save_to_buffer()?),
    })
}

/// A valid ID number for the example row (check character computed).
fn example_id_number() -> String {
    let first17 = "45022119900101123";
    let check = sscard_domain::identifiers::id_check_char(first17).unwrap_or('0');
    format!("{first17}{check}")
}

impl Services {
    /// The per-row result of a batch (结果清单) as XLSX: every row of the
    /// list with 成功/失败, the code and the reason in Chinese, identifiers
    /// masked; a second sheet sums it up. Staff may take it once every row
    /// is decided, the employer once the result is delivered.
    ///
    /// # Errors
    ///
    /// `NotFound BATCH_NOT_FOUND`, `Conflict BATCH_REPORT_NOT_READY`.
    pub async fn batch_report(
        &self,
        principal: &Principal,
        batch_no: &str,
    ) -> ServiceResult<Spreadsheet> {
        let batch_no = super::normalize_batch_no(batch_no);
        let mut conn = self.connection().await?;
        let batch = rows::batch_by_number(&mut conn, &batch_no)
            .await?
            .filter(|b| may_see(principal, b))
            .ok_or_else(|| super::batch_not_found(&batch_no))?;
        let state = state_of(&batch)?;
        if !report_available(principal, state) {
            let detail = match state {
                CaseState::AwaitingFeedback(_) => {
                    "逐行办理已完成，结果清单待反馈岗送达后即可下载。"
                }
                CaseState::Refused => "该批量办件不予受理，没有办理结果清单。",
                _ => {
                    "该批量办件尚未办理完成，结果清单在逐行办理完成并送达后提供。请稍后查看办理进度。"
                }
            };
            return Err(ServiceError::Conflict {
                code: "BATCH_REPORT_NOT_READY",
                detail: detail.to_owned(),
            });
        }
        let (sender, receiver) = sync_channel::<Vec<ReportRow>>(2);
        let summary = batch.clone();
        let writer = tokio::task::spawn_blocking(move || write_report(&summary, &receiver));
        let mut after = 0;
        loop {
            let page = rows::rows_page(&mut conn, &batch.id, after, PAGE_ROWS).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.line_no;
            let full = i64::try_from(page.len()).unwrap_or(0) == PAGE_ROWS;
            if sender.send(page).is_err() || !full {
                break;
            }
        }
        drop(sender);
        drop(conn);
        let (file, length) = writer
            .await
            .map_err(|e| ServiceError::Internal(e.into()))?
            .map_err(|e| xlsx_error(&e))?;
        Ok(Spreadsheet {
            file_name: format!("{}-结果清单.xlsx", batch.batch_no),
            content: SpreadsheetContent::File { file, length },
        })
    }
}

/// Writes the report into an anonymous temporary file (rewound), giving it
/// with its length.
fn write_report(
    batch: &BatchRow,
    pages: &std::sync::mpsc::Receiver<Vec<ReportRow>>,
) -> Result<(std::fs::File, u64), XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("办理结果")?;
    for (col, width) in [10.0, 14.0, 22.0, 16.0, 10.0, 28.0, 60.0, 40.0]
        .into_iter()
        .enumerate()
    {
        sheet.set_column_width(u16::try_from(col).unwrap_or(0), width)?;
    }
    for (col, label) in REPORT_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, u16::try_from(col).unwrap_or(0), *label, &bold)?;
    }
    let bank_note = format!("{BANK_NOT_BATCHABLE}：须持卡人本人持身份证原件到合作银行柜台激活");
    let mut row_no: u32 = 1;
    while let Ok(page) = pages.recv() {
        for row in page {
            let result = match row.status.as_str() {
                SUCCEEDED => "成功",
                FAILED => "失败",
                _ => "未办理",
            };
            let code = row.result_code.as_deref().unwrap_or_default();
            #[allow(clippy::cast_precision_loss)] // a row number, far below 2^52
            sheet.write_number(row_no, 0, row.line_no as f64)?;
            sheet.write_string(row_no, 1, row.name)?;
            sheet.write_string(row_no, 2, row.id_number_masked)?;
            sheet.write_string(row_no, 3, row.card_masked)?;
            sheet.write_string(row_no, 4, result)?;
            sheet.write_string(row_no, 5, code)?;
            sheet.write_string(row_no, 6, row.result_reason.unwrap_or_default())?;
            if row.bank_requested {
                sheet.write_string(row_no, 7, &bank_note)?;
            }
            row_no += 1;
        }
    }
    sheet.set_freeze_panes(1, 0)?;

    let summary = workbook.add_worksheet();
    summary.set_name("汇总")?;
    summary.set_column_width(0, 20.0)?;
    summary.set_column_width(1, 70.0)?;
    let state = CaseState::from_codes(&batch.state, batch.outcome.as_deref())
        .map_or_else(|| batch.state.clone(), CaseState::full_label_zh);
    let lines: Vec<(&str, String)> = vec![
        ("批量办件编号", batch.batch_no.clone()),
        ("单位名称", batch.employer_name.clone()),
        ("统一社会信用代码", batch.employer_uscc.clone()),
        (
            "事项",
            "社会保障卡启用（含社会保障卡银行账户激活）".to_owned(),
        ),
        ("基本编码", batch.item_code.clone()),
        ("办事指南版本", batch.guide_version.to_string()),
        ("办理状态", state),
        ("名单文件", batch.list_file_name.clone()),
        ("名单 SM3", batch.list_digest_sm3.clone()),
        ("名单行数", batch.rows_total.to_string()),
        ("成功", batch.rows_succeeded.to_string()),
        ("其中本次启用", batch.rows_activated.to_string()),
        ("失败", batch.rows_failed.to_string()),
        ("要求激活金融功能的行", batch.bank_requests.to_string()),
        (
            "提交时间",
            to_china(batch.received_at)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        ),
    ];
    for (row, (label, value)) in lines.into_iter().enumerate() {
        let row = u32::try_from(row).unwrap_or(0);
        summary.write_string_with_format(row, 0, label, &bold)?;
        summary.write_string(row, 1, value)?;
    }
    if batch.bank_requests > 0 {
        summary.write_string(16, 0, BANK_NOT_BATCHABLE_MESSAGE)?;
    }
    let mut file = tempfile::tempfile()?;
    workbook.save_to_writer(&mut file)?;
    let length = std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
    std::io::Seek::rewind(&mut file)?;
    Ok((file, length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Reader as _, Xlsx};

    #[test]
    fn the_template_has_the_columns_and_an_example_row() {
        let template = template_xlsx().unwrap();
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(match template.content {
            SpreadsheetContent::Memory(bytes) => bytes,
            SpreadsheetContent::File { .. } => panic!("the template is built in memory"),
        }))
        .unwrap();
        let range = book.worksheet_range("名单").unwrap();
        let rows: Vec<Vec<String>> = range
            .rows()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(
            rows[0],
            ["姓名", "社会保障号码", "社会保障卡卡号", "手机号"]
        );
        assert_eq!(rows.len(), 2);
        assert!(sscard_domain::identifiers::IdNumber::parse(&rows[1][1]).is_ok());
        assert!(book.worksheet_range("填写说明").is_ok());
    }
}
