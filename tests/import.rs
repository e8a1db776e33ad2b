//! `sscard import persons|cards FILE` as an operator runs it: the built
//! binary on a fresh database (SQLite, or PostgreSQL with
//! SSCARD_TEST_POSTGRES_URL), files of every shape an office produces.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TestDb;
use sscard::demo::{CARD_HEADER, DemoPerson, Generator, PERSON_HEADER};
use sscard::service::registry::Viewer;
use sscard_domain::identifiers::{CardNumber, IdNumber, id_check_char};

/// Runs `sscard ARGS` on a test database and its key file.
fn sscard(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .env("USER", "import-test")
        .output()
        .expect("run sscard")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn import(db: &TestDb, kind: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["import", kind, file.to_str().unwrap()];
    args.extend_from_slice(extra);
    sscard(db, &args)
}

fn report_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap().to_owned();
    name.push(".report.csv");
    file.with_file_name(name)
}

/// One line of a report file.
#[derive(Debug, Clone)]
struct Problem {
    row: String,
    column: String,
    code: String,
    message: String,
}

fn read_report(file: &Path) -> Vec<Problem> {
    let bytes = std::fs::read(report_path(file)).expect("the report is written");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8 report");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        &csv::StringRecord::from(vec!["row", "column", "code", "message"])
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Problem {
                row: r[0].to_owned(),
                column: r[1].to_owned(),
                code: r[2].to_owned(),
                message: r[3].to_owned(),
            }
        })
        .collect()
}

fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

fn csv_text(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn persons(seed: u64, range: std::ops::Range<usize>) -> Vec<DemoPerson> {
    let generator = Generator::new(seed);
    range.map(|i| generator.person(i)).collect()
}

fn person_rows(persons: &[DemoPerson]) -> Vec<Vec<String>> {
    persons.iter().map(|p| p.to_row().to_vec()).collect()
}

/// The current (last) card of each person as a cards file row.
fn card_rows(persons: &[DemoPerson]) -> Vec<Vec<String>> {
    persons
        .iter()
        .map(|p| p.cards.last().unwrap().to_row(&p.id_number).to_vec())
        .collect()
}

async fn count(db: &TestDb, table: &str) -> i64 {
    let services = db.services().await;
    let row: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(services.store().pool())
        .await
        .unwrap();
    services.store().close().await;
    row.0
}

fn id(first17: &str) -> String {
    format!("{first17}{}", id_check_char(first17).unwrap())
}

#[tokio::test]
async fn two_thousand_generated_persons_and_their_cards_land_and_a_second_import_changes_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let persons_file = dir.path().join("persons.csv");
    let cards_file = dir.path().join("cards.csv");
    let made = sscard(
        &db,
        &[
            "demo",
            "export-persons",
            persons_file.to_str().unwrap(),
            "--count",
            "2000",
            "--seed",
            "11",
        ],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let made = sscard(
        &db,
        &[
            "demo",
            "export-cards",
            cards_file.to_str().unwrap(),
            "--count",
            "2000",
            "--seed",
            "11",
        ],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let expected_cards: usize = Generator::new(11)
        .persons(2000)
        .map(|p| p.cards.len())
        .sum();

    let first = import(&db, "persons", &persons_file, &[]);
    assert!(
        first.status.success(),
        "{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first)
            .contains("共读取 2000 行：新增 2000 行，更新 0 行，无变化 0 行，未导入 0 行"),
        "{}",
        stdout(&first)
    );
    let cards = import(&db, "cards", &cards_file, &[]);
    assert!(
        cards.status.success(),
        "{}\n{}",
        stdout(&cards),
        stderr(&cards)
    );
    assert!(
        stdout(&cards).contains(&format!(
            "共读取 {expected_cards} 行：新增 {expected_cards} 行"
        )),
        "{}",
        stdout(&cards)
    );
    assert!(read_report(&cards_file).is_empty(), "no problem reported");
    assert_eq!(count(&db, "persons").await, 2000);
    assert_eq!(
        count(&db, "cards").await,
        i64::try_from(expected_cards).unwrap()
    );
    let audit_after_first = count(&db, "audit_log").await;
    // One audit entry per batch of 500 rows.
    let batches = 4 + i64::try_from(expected_cards.div_ceil(500)).unwrap();
    assert!(
        audit_after_first >= batches,
        "{audit_after_first} audit entries for {batches} batches"
    );

    // The data reads back as generated, rare characters included.
    let services = db.services().await;
    let generated = Generator::new(11).person(0);
    let person = services
        .person_by_id_number(&IdNumber::parse(&generated.id_number).unwrap())
        .await
        .unwrap();
    assert_eq!(person.name, "王𠈌");
    assert_eq!(person.cards.len(), generated.cards.len());
    let card = generated.cards.last().unwrap();
    let view = services
        .card_by_number(
            &CardNumber::parse(&card.card_number).unwrap(),
            &Viewer::Staff,
        )
        .await
        .unwrap();
    assert_eq!(view.social_state.code, card.social_state.code());
    assert_eq!(view.financial_state.code, card.financial_state.code());
    services.store().close().await;

    // The same files again: nothing changes, not even the audit trail.
    let again = import(&db, "persons", &persons_file, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("新增 0 行，更新 0 行，无变化 2000 行，未导入 0 行"),
        "{}",
        stdout(&again)
    );
    let again = import(&db, "cards", &cards_file, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains(&format!("新增 0 行，更新 0 行，无变化 {expected_cards} 行")),
        "{}",
        stdout(&again)
    );
    assert_eq!(count(&db, "audit_log").await, audit_after_first);
}

#[tokio::test]
async fn utf8_with_bom_gbk_and_gb18030_files_are_read_and_names_kept_exactly() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let people = persons(21, 0..30);

    // UTF-8 with BOM and CRLF line ends (Excel's "CSV UTF-8").
    let bom_file = dir.path().join("bom.csv");
    let text = csv_text(&PERSON_HEADER, &person_rows(&people[..10])).replace('\n', "\r\n");
    let gbk_text = csv_text(&PERSON_HEADER, &{
        let mut rows = person_rows(&people[10..20]);
        rows[0][1] = "覃春燕".to_owned();
        rows[1][1] = "欧阳秀英".to_owned();
        rows
    });
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    std::fs::write(&bom_file, bytes).unwrap();
    let output = import(&db, "persons", &bom_file, &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("UTF-8 (BOM)"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("新增 10 行"),
        "{}",
        stdout(&output)
    );

    // GBK, as Excel on a Chinese Windows saves "CSV (逗号分隔)": only GBK characters.
    let gbk_file = dir.path().join("gbk.csv");
    let mut gbk_rows = person_rows(&people[10..20]);
    gbk_rows[0][1] = "覃春燕".to_owned();
    gbk_rows[1][1] = "欧阳秀英".to_owned();
    let (encoded, _, unmappable) = encoding_rs::GBK.encode(&gbk_text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&encoded).is_err(), "really not UTF-8");
    std::fs::write(&gbk_file, &encoded).unwrap();
    let output = import(&db, "persons", &gbk_file, &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("GBK"), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("新增 10 行"),
        "{}",
        stdout(&output)
    );

    // GB18030 carries the rare characters GBK lacks.
    let gb18030_file = dir.path().join("gb18030.csv");
    let mut rare_rows = person_rows(&people[20..30]);
    rare_rows[0][1] = "王𠈌".to_owned();
    rare_rows[1][1] = "李䶮".to_owned();
    let rare_text = csv_text(&PERSON_HEADER, &rare_rows);
    let (encoded, _, unmappable) = encoding_rs::GB18030.encode(&rare_text);
    assert!(!unmappable);
    std::fs::write(&gb18030_file, &encoded).unwrap();
    let output = import(&db, "persons", &gb18030_file, &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );

    let services = db.services().await;
    for (row, name) in [
        (&gbk_rows[0], "覃春燕"),
        (&gbk_rows[1], "欧阳秀英"),
        (&rare_rows[0], "王𠈌"),
        (&rare_rows[1], "李䶮"),
    ] {
        let person = services
            .person_by_id_number(&IdNumber::parse(&row[0]).unwrap())
            .await
            .unwrap();
        assert_eq!(person.name, name);
    }
    let first = services
        .person_by_id_number(&IdNumber::parse(&people[0].id_number).unwrap())
        .await
        .unwrap();
    assert_eq!(first.name, people[0].name);
    services.store().close().await;
    assert_eq!(count(&db, "persons").await, 30);
}

#[tokio::test]
async fn xlsx_with_number_and_date_cells_extra_columns_blank_rows_and_full_width_digits() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("人员名单.xlsx");
    let people = persons(31, 0..6);

    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let headers = [
        "序号",
        "*身份证号",
        "姓名",
        "手机号码",
        "住址",
        "参保地区划代码",
        "参保状态",
        "参保日期（年月日）",
        "备注",
    ];
    for (c, header) in headers.iter().enumerate() {
        sheet
            .write_string(0, u16::try_from(c).unwrap(), *header)
            .unwrap();
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
    let mut r = 1;
    for (i, person) in people.iter().enumerate() {
        if i == 2 {
            r += 1; // a blank row
        }
        sheet
            .write_number(r, 0, f64::from(u32::try_from(i + 1).unwrap()))
            .unwrap();
        let id_text = if i == 1 {
            // Full-width digits, as some input methods type them.
            person
                .id_number
                .chars()
                .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap())
                .collect()
        } else {
            person.id_number.clone()
        };
        sheet.write_string(r, 1, &id_text).unwrap();
        sheet.write_string(r, 2, &person.name).unwrap();
        if let Some(mobile) = &person.mobile {
            // A mobile number typed into a General cell is a number.
            sheet
                .write_number(r, 3, mobile.parse::<f64>().unwrap())
                .unwrap();
        }
        if let Some(address) = &person.address {
            sheet.write_string(r, 4, address).unwrap();
        }
        sheet
            .write_number(r, 5, person.enrolment_region.parse::<f64>().unwrap())
            .unwrap();
        sheet
            .write_string(r, 6, person.enrolment_status.label_zh())
            .unwrap();
        let since = &person.enrolled_on;
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(
            u16::try_from(chrono::Datelike::year(since)).unwrap(),
            u8::try_from(chrono::Datelike::month(since)).unwrap(),
            u8::try_from(chrono::Datelike::day(since)).unwrap(),
        )
        .unwrap();
        sheet
            .write_datetime_with_format(r, 7, &date, &date_format)
            .unwrap();
        sheet.write_string(r, 8, "无").unwrap();
        r += 1;
    }
    // An ID number Excel turned into a number: its last digits are gone.
    sheet.write_number(r, 1, 450_221_199_001_011_234.0).unwrap();
    sheet.write_string(r, 2, "张三").unwrap();
    sheet.write_string(r, 5, "450206").unwrap();
    sheet.write_string(r, 6, "参保缴费").unwrap();
    sheet.write_string(r, 7, "2020-01-01").unwrap();
    let mangled_row = r + 1;
    workbook.save(&file).unwrap();

    let output = import(&db, "persons", &file, &[]);
    assert!(!output.status.success(), "the mangled row is refused");
    let out = stdout(&output);
    assert!(out.contains("XLSX"), "{out}");
    assert!(out.contains("已忽略未知列：序号、备注"), "{out}");
    assert!(
        out.contains("共读取 7 行：新增 6 行，更新 0 行，无变化 0 行，未导入 1 行"),
        "{out}"
    );
    let report = read_report(&file);
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0].row, mangled_row.to_string());
    assert_eq!(report[0].column, "*身份证号");
    assert_eq!(report[0].code, "EXCEL_SCIENTIFIC_NOTATION");
    assert!(report[0].message.contains("文本"));

    let services = db.services().await;
    for person in &people {
        let view = services
            .person_by_id_number(&IdNumber::parse(&person.id_number).unwrap())
            .await
            .unwrap();
        assert_eq!(view.name, person.name);
        assert_eq!(
            view.enrolment.since, person.enrolled_on,
            "the date cell is read as a date"
        );
        assert_eq!(view.mobile_masked.is_some(), person.mobile.is_some());
    }
    services.store().close().await;
}

#[tokio::test]
async fn a_truncated_xlsx_is_refused_clearly_and_changes_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, header) in PERSON_HEADER.iter().enumerate() {
        sheet
            .write_string(0, u16::try_from(c).unwrap(), *header)
            .unwrap();
    }
    for (r, person) in persons(41, 0..200).iter().enumerate() {
        for (c, value) in person.to_row().iter().enumerate() {
            sheet
                .write_string(
                    u32::try_from(r + 1).unwrap(),
                    u16::try_from(c).unwrap(),
                    value,
                )
                .unwrap();
        }
    }
    let bytes = workbook.save_to_buffer().unwrap();
    let file = dir.path().join("persons.xlsx");
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let output = import(&db, "persons", &file, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("XLSX 文件已损坏或不完整"), "{message}");
    assert!(message.contains("FILE_XLSX_CORRUPT"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    let report = read_report(&file);
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].code, "FILE_XLSX_CORRUPT");
    assert_eq!(count(&db, "persons").await, 0);
}

#[tokio::test]
async fn an_empty_file_and_a_file_of_blank_lines_are_refused_clearly() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("empty.csv", &b""[..]),
        ("blank.csv", b"\xEF\xBB\xBF\r\n , \r\n\r\n"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let output = import(&db, "persons", &file, &[]);
        assert!(!output.status.success(), "{name}");
        let message = stderr(&output);
        assert!(message.contains("文件是空的"), "{name}: {message}");
        assert!(!message.contains("panicked"));
        assert_eq!(read_report(&file)[0].code, "FILE_EMPTY");
    }
    // Not a table at all.
    let file = dir.path().join("photo.csv");
    std::fs::write(&file, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").unwrap();
    let output = import(&db, "persons", &file, &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("FILE_NOT_A_TABLE"),
        "{}",
        stderr(&output)
    );
    assert_eq!(count(&db, "persons").await, 0);
}

#[tokio::test]
async fn missing_columns_are_named_in_one_message_and_a_cards_file_given_as_persons_is_recognised()
{
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.csv");
    let rows: Vec<Vec<String>> = persons(51, 0..3)
        .iter()
        .map(|p| {
            vec![
                p.id_number.clone(),
                "450206".to_owned(),
                "2020-01-01".to_owned(),
            ]
        })
        .collect();
    write_csv(&file, &["身份证号", "参保地区划代码", "参保日期"], &rows);
    let output = import(&db, "persons", &file, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("缺少必填列：姓名、参保状态"), "{message}");
    assert_eq!(
        message.matches("缺少必填列").count(),
        1,
        "one message: {message}"
    );
    assert!(message.contains("IMPORT_COLUMNS_MISSING"), "{message}");
    let report = read_report(&file);
    let missing: Vec<&str> = report.iter().map(|p| p.column.as_str()).collect();
    assert_eq!(missing, ["姓名", "参保状态"]);
    assert!(report.iter().all(|p| p.row == "1"));

    let cards_file = dir.path().join("cards.csv");
    write_csv(&cards_file, &CARD_HEADER, &card_rows(&persons(51, 0..3)));
    let output = import(&db, "persons", &cards_file, &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("sscard import cards"),
        "{}",
        stderr(&output)
    );
    assert_eq!(count(&db, "persons").await, 0);
}

#[tokio::test]
async fn all_or_nothing_applies_nothing_unless_every_row_is_valid() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("persons.csv");
    let people = persons(61, 0..12);
    let mut rows = person_rows(&people);
    let good_last = rows[11][0].clone();
    // One wrong check character in the last row.
    let mut broken = good_last[..17].to_owned();
    broken.push(if good_last.ends_with('0') { '1' } else { '0' });
    rows[11][0] = broken;
    write_csv(&file, &PERSON_HEADER, &rows);

    let output = import(&db, "persons", &file, &["--all-or-nothing"]);
    assert!(!output.status.success());
    assert!(
        stdout(&output).contains("本次没有写入任何数据"),
        "{}",
        stdout(&output)
    );
    let report = read_report(&file);
    assert!(
        report
            .iter()
            .any(|p| p.row == "13" && p.code == "ID_NUMBER_CHECKSUM"),
        "{report:?}"
    );
    assert!(
        report.iter().any(|p| p.code == "IMPORT_NOTHING_APPLIED"),
        "{report:?}"
    );
    assert_eq!(count(&db, "persons").await, 0);
    let audit_before = count(&db, "audit_log").await;

    // Corrected, the whole file lands in one transaction with one audit entry.
    rows[11][0] = good_last;
    write_csv(&file, &PERSON_HEADER, &rows);
    let output = import(
        &db,
        "persons",
        &file,
        &["--all-or-nothing", "--batch-size", "5"],
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("新增 12 行"),
        "{}",
        stdout(&output)
    );
    assert!(read_report(&file).is_empty());
    assert_eq!(count(&db, "persons").await, 12);
    assert_eq!(count(&db, "audit_log").await, audit_before + 1);

    // Without --all-or-nothing, the same broken file lands its good rows.
    let more = persons(61, 12..20);
    let mut rows = person_rows(&more);
    rows[3][6] = "在职".to_owned();
    write_csv(&file, &PERSON_HEADER, &rows);
    let output = import(&db, "persons", &file, &[]);
    assert!(!output.status.success());
    assert!(
        stdout(&output).contains("新增 7 行，更新 0 行，无变化 0 行，未导入 1 行"),
        "{}",
        stdout(&output)
    );
    assert_eq!(count(&db, "persons").await, 19);
}

/// One kind of broken row: what it is, the column (index into
/// `CARD_HEADER`) and code the report must name, and the cells to change in
/// an otherwise valid row.
struct Kind {
    what: &'static str,
    column: usize,
    code: &'static str,
    cells: Vec<(usize, String)>,
}

fn kind(what: &'static str, column: usize, code: &'static str, cells: &[(usize, &str)]) -> Kind {
    Kind {
        what,
        column,
        code,
        cells: cells.iter().map(|(c, v)| (*c, (*v).to_owned())).collect(),
    }
}

#[tokio::test]
async fn a_hundred_kinds_of_broken_rows_are_each_reported_while_the_good_rows_land() {
    const CARD: usize = 0;
    const CODE: usize = 1;
    const HOLDER: usize = 2;
    const AREA: usize = 3;
    const VERSION: usize = 4;
    const ISSUED: usize = 5;
    const EXPIRES: usize = 6;
    const BANK: usize = 7;
    const ACCOUNT: usize = 8;
    const SOCIAL: usize = 9;
    const FINANCIAL: usize = 10;

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let people = persons(71, 0..300);
    let persons_file = dir.path().join("persons.csv");
    write_csv(&persons_file, &PERSON_HEADER, &person_rows(&people));
    let output = import(&db, "persons", &persons_file, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Cards already registered, in use: 正常 / 已激活.
    let mut registered = card_rows(&people[250..254]);
    for row in &mut registered {
        row[SOCIAL] = "正常".to_owned();
        row[FINANCIAL] = "已激活".to_owned();
    }
    let registered_file = dir.path().join("registered.csv");
    write_csv(&registered_file, &CARD_HEADER, &registered);
    let output = import(&db, "cards", &registered_file, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let good = card_rows(&people[0..50]);
    let stranger = Generator::new(71).person(5000).id_number;
    let wrong_check = {
        let holder = &people[120].id_number;
        let mut broken = holder[..17].to_owned();
        broken.push(if holder.ends_with('1') { '2' } else { '1' });
        broken
    };
    let full_width_copy: Vec<String> = good[2]
        .iter()
        .map(|cell| {
            format!(
                "\u{3000}{}",
                cell.chars()
                    .map(|c| if c.is_ascii_alphanumeric() {
                        char::from_u32(u32::from(c) + 0xFEE0).unwrap()
                    } else {
                        c
                    })
                    .collect::<String>()
            )
        })
        .collect();

    let kinds = vec![
        kind(
            "card number empty",
            CARD,
            "IMPORT_VALUE_REQUIRED",
            &[(CARD, "")],
        ),
        kind(
            "card number of 8 characters",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "A1234567")],
        ),
        kind(
            "card number of 10 characters",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "A123456789")],
        ),
        kind(
            "card number with a hyphen",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "A1234-678")],
        ),
        kind(
            "card number with a Chinese character",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "卡12345678")],
        ),
        kind(
            "card number with an inner space",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "A1234 678")],
        ),
        kind(
            "card number #N/A",
            CARD,
            "EXCEL_ERROR_VALUE",
            &[(CARD, "#N/A")],
        ),
        kind(
            "card number with an emoji",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "A1234567🦀")],
        ),
        kind(
            "card number with a dot",
            CARD,
            "CARD_NUMBER_FORMAT",
            &[(CARD, "A1234.678")],
        ),
        kind(
            "identification code empty",
            CODE,
            "IMPORT_VALUE_REQUIRED",
            &[(CODE, "")],
        ),
        kind(
            "identification code of 31",
            CODE,
            "CARD_ID_CODE_FORMAT",
            &[(CODE, "450200D15600000500000000ABCDEF1")],
        ),
        kind(
            "identification code of 33",
            CODE,
            "CARD_ID_CODE_FORMAT",
            &[(CODE, "450200D15600000500000000ABCDEF123")],
        ),
        kind(
            "identification code not hexadecimal",
            CODE,
            "CARD_ID_CODE_FORMAT",
            &[(CODE, "450200G15600000500000000ABCDEF12")],
        ),
        kind(
            "identification code with a space",
            CODE,
            "CARD_ID_CODE_FORMAT",
            &[(CODE, "450200D156000005 0000000ABCDEF12")],
        ),
        kind(
            "identification code #NULL!",
            CODE,
            "EXCEL_ERROR_VALUE",
            &[(CODE, "#NULL!")],
        ),
        kind(
            "identification code in Chinese",
            CODE,
            "CARD_ID_CODE_FORMAT",
            &[(CODE, "卡识别码")],
        ),
        kind(
            "holder empty",
            HOLDER,
            "IMPORT_VALUE_REQUIRED",
            &[(HOLDER, "")],
        ),
        kind(
            "holder with a wrong check character",
            HOLDER,
            "ID_NUMBER_CHECKSUM",
            &[(HOLDER, &wrong_check)],
        ),
        kind(
            "holder of 17 characters",
            HOLDER,
            "ID_NUMBER_LENGTH",
            &[(HOLDER, "45022119900101123")],
        ),
        kind(
            "holder of 19 characters",
            HOLDER,
            "ID_NUMBER_LENGTH",
            &[(HOLDER, "4502211990010112345")],
        ),
        kind(
            "holder with a letter inside",
            HOLDER,
            "ID_NUMBER_CHARACTERS",
            &[(HOLDER, "45022119900A011234")],
        ),
        kind(
            "holder in province 99",
            HOLDER,
            "ID_NUMBER_REGION",
            &[(HOLDER, &id("99022119900101123"))],
        ),
        kind(
            "holder born in month 13",
            HOLDER,
            "ID_NUMBER_BIRTH_DATE",
            &[(HOLDER, &id("45022119901301123"))],
        ),
        kind(
            "holder born on 30 February",
            HOLDER,
            "ID_NUMBER_BIRTH_DATE",
            &[(HOLDER, &id("45022119900230123"))],
        ),
        kind(
            "holder born in 2099",
            HOLDER,
            "ID_NUMBER_BIRTH_DATE",
            &[(HOLDER, &id("45022120990101123"))],
        ),
        kind(
            "holder as Excel scientific notation",
            HOLDER,
            "EXCEL_SCIENTIFIC_NOTATION",
            &[(HOLDER, "4.50221E+17")],
        ),
        kind(
            "holder with an old 15-digit number",
            HOLDER,
            "ID_NUMBER_LENGTH",
            &[(HOLDER, "450221900101123")],
        ),
        kind(
            "holder with X inside",
            HOLDER,
            "ID_NUMBER_CHARACTERS",
            &[(HOLDER, "4502211990X1011234")],
        ),
        kind(
            "holder not registered",
            HOLDER,
            "PERSON_NOT_FOUND",
            &[(HOLDER, &stranger)],
        ),
        kind(
            "holder of zeros",
            HOLDER,
            "ID_NUMBER_REGION",
            &[(HOLDER, "000000000000000000")],
        ),
        kind(
            "holder born in 1899",
            HOLDER,
            "ID_NUMBER_BIRTH_DATE",
            &[(HOLDER, &id("45022118990101123"))],
        ),
        kind(
            "holder #N/A",
            HOLDER,
            "EXCEL_ERROR_VALUE",
            &[(HOLDER, "#N/A")],
        ),
        kind(
            "holder in words",
            HOLDER,
            "ID_NUMBER_LENGTH",
            &[(HOLDER, "身份证")],
        ),
        kind("area empty", AREA, "IMPORT_VALUE_REQUIRED", &[(AREA, "")]),
        kind(
            "area of 5 digits",
            AREA,
            "REGION_CODE_FORMAT",
            &[(AREA, "45020")],
        ),
        kind(
            "area of 7 digits",
            AREA,
            "REGION_CODE_FORMAT",
            &[(AREA, "4502000")],
        ),
        kind(
            "area in letters",
            AREA,
            "REGION_CODE_FORMAT",
            &[(AREA, "ABCDEF")],
        ),
        kind(
            "area starting 00",
            AREA,
            "REGION_CODE_FORMAT",
            &[(AREA, "002000")],
        ),
        kind(
            "area with a space",
            AREA,
            "REGION_CODE_FORMAT",
            &[(AREA, "4502 0")],
        ),
        kind(
            "version empty",
            VERSION,
            "IMPORT_VALUE_REQUIRED",
            &[(VERSION, "")],
        ),
        kind(
            "version 3.000",
            VERSION,
            "SPEC_VERSION_FORMAT",
            &[(VERSION, "3.000")],
        ),
        kind(
            "version v3",
            VERSION,
            "SPEC_VERSION_FORMAT",
            &[(VERSION, "v3")],
        ),
        kind(
            "version with a decimal comma",
            VERSION,
            "SPEC_VERSION_FORMAT",
            &[(VERSION, "3,00")],
        ),
        kind(
            "version in words",
            VERSION,
            "SPEC_VERSION_FORMAT",
            &[(VERSION, "三点零")],
        ),
        kind(
            "version 3.",
            VERSION,
            "SPEC_VERSION_FORMAT",
            &[(VERSION, "3.")],
        ),
        kind(
            "version .00",
            VERSION,
            "SPEC_VERSION_FORMAT",
            &[(VERSION, ".00")],
        ),
        kind(
            "issue date empty",
            ISSUED,
            "IMPORT_VALUE_REQUIRED",
            &[(ISSUED, "")],
        ),
        kind(
            "issue date 30 February",
            ISSUED,
            "DATE_INVALID",
            &[(ISSUED, "2023-02-30")],
        ),
        kind(
            "issue date month 13",
            ISSUED,
            "DATE_INVALID",
            &[(ISSUED, "20231301")],
        ),
        kind(
            "issue date 30 February with slashes",
            ISSUED,
            "DATE_INVALID",
            &[(ISSUED, "2023/02/30")],
        ),
        kind(
            "issue date in words",
            ISSUED,
            "DATE_FORMAT",
            &[(ISSUED, "明天")],
        ),
        kind(
            "issue date in the future",
            ISSUED,
            "CARD_ISSUE_DATE_IN_FUTURE",
            &[(ISSUED, "2099-01-01"), (EXPIRES, "2099-12-31")],
        ),
        kind(
            "issue date with a two-digit year",
            ISSUED,
            "DATE_FORMAT",
            &[(ISSUED, "23-01-05")],
        ),
        kind(
            "issue date without a day",
            ISSUED,
            "DATE_FORMAT",
            &[(ISSUED, "2023-1")],
        ),
        kind(
            "issue date as an Excel serial",
            ISSUED,
            "DATE_FORMAT",
            &[(ISSUED, "45000")],
        ),
        kind(
            "issue date 29 February of a common year",
            ISSUED,
            "DATE_INVALID",
            &[(ISSUED, "2023-02-29")],
        ),
        kind(
            "issue date in year 0",
            ISSUED,
            "DATE_INVALID",
            &[(ISSUED, "0000-01-01")],
        ),
        kind(
            "issue date 31 April",
            ISSUED,
            "DATE_INVALID",
            &[(ISSUED, "2023-04-31")],
        ),
        kind(
            "issue date #VALUE!",
            ISSUED,
            "EXCEL_ERROR_VALUE",
            &[(ISSUED, "#VALUE!")],
        ),
        kind(
            "expiry before issue",
            EXPIRES,
            "CARD_EXPIRY_BEFORE_ISSUE",
            &[(ISSUED, "2020-06-01"), (EXPIRES, "2019-06-01")],
        ),
        kind(
            "expiry on the issue day",
            EXPIRES,
            "CARD_EXPIRY_BEFORE_ISSUE",
            &[(ISSUED, "2020-06-01"), (EXPIRES, "20200601")],
        ),
        kind(
            "expiry 29 February of a common year",
            EXPIRES,
            "DATE_INVALID",
            &[(EXPIRES, "2027-02-29")],
        ),
        kind(
            "expiry month 13",
            EXPIRES,
            "DATE_INVALID",
            &[(EXPIRES, "2036.13.01")],
        ),
        kind(
            "expiry empty",
            EXPIRES,
            "IMPORT_VALUE_REQUIRED",
            &[(EXPIRES, "")],
        ),
        kind(
            "expiry of zeros",
            EXPIRES,
            "DATE_INVALID",
            &[(EXPIRES, "00000000")],
        ),
        kind(
            "expiry in year 9999",
            EXPIRES,
            "DATE_INVALID",
            &[(EXPIRES, "9999-12-31")],
        ),
        kind(
            "expiry #DIV/0!",
            EXPIRES,
            "EXCEL_ERROR_VALUE",
            &[(EXPIRES, "#DIV/0!")],
        ),
        kind("bank empty", BANK, "IMPORT_VALUE_REQUIRED", &[(BANK, "")]),
        kind(
            "bank of one letter",
            BANK,
            "BANK_CODE_FORMAT",
            &[(BANK, "I")],
        ),
        kind(
            "bank in Chinese",
            BANK,
            "BANK_CODE_FORMAT",
            &[(BANK, "工行")],
        ),
        kind(
            "bank of 21 characters",
            BANK,
            "BANK_CODE_FORMAT",
            &[(BANK, "ICBCICBCICBCICBCICBCI")],
        ),
        kind(
            "bank with a hyphen",
            BANK,
            "BANK_CODE_FORMAT",
            &[(BANK, "IC-BC")],
        ),
        kind(
            "bank with an exclamation mark",
            BANK,
            "BANK_CODE_FORMAT",
            &[(BANK, "ICBC!")],
        ),
        kind("bank #REF!", BANK, "EXCEL_ERROR_VALUE", &[(BANK, "#REF!")]),
        kind(
            "account with a wrong Luhn digit",
            ACCOUNT,
            "BANK_CARD_CHECKSUM",
            &[(ACCOUNT, "6212260000000000001")],
        ),
        kind(
            "account of 15 digits",
            ACCOUNT,
            "BANK_CARD_FORMAT",
            &[(ACCOUNT, "621226000000000")],
        ),
        kind(
            "account of 20 digits",
            ACCOUNT,
            "BANK_CARD_FORMAT",
            &[(ACCOUNT, "62122600000000000000")],
        ),
        kind(
            "account with letters",
            ACCOUNT,
            "BANK_CARD_FORMAT",
            &[(ACCOUNT, "62122600000000ABCD")],
        ),
        kind(
            "account as Excel scientific notation",
            ACCOUNT,
            "EXCEL_SCIENTIFIC_NOTATION",
            &[(ACCOUNT, "6.21226E+18")],
        ),
        kind(
            "account missing for an active account",
            ACCOUNT,
            "BANK_ACCOUNT_REQUIRED",
            &[(ACCOUNT, ""), (SOCIAL, "正常"), (FINANCIAL, "已激活")],
        ),
        kind(
            "account missing for a frozen account",
            ACCOUNT,
            "BANK_ACCOUNT_REQUIRED",
            &[(ACCOUNT, ""), (SOCIAL, "正常"), (FINANCIAL, "冻结")],
        ),
        kind(
            "social state unknown",
            SOCIAL,
            "SOCIAL_STATE_INVALID",
            &[(SOCIAL, "激活了")],
        ),
        kind(
            "social state empty",
            SOCIAL,
            "IMPORT_VALUE_REQUIRED",
            &[(SOCIAL, "")],
        ),
        kind(
            "social state in English",
            SOCIAL,
            "SOCIAL_STATE_INVALID",
            &[(SOCIAL, "lost")],
        ),
        kind(
            "social state as a number",
            SOCIAL,
            "SOCIAL_STATE_INVALID",
            &[(SOCIAL, "3")],
        ),
        kind(
            "social state expired",
            SOCIAL,
            "SOCIAL_STATE_INVALID",
            &[(SOCIAL, "已过期")],
        ),
        kind(
            "social state #NAME?",
            SOCIAL,
            "EXCEL_ERROR_VALUE",
            &[(SOCIAL, "#NAME?")],
        ),
        kind(
            "financial state unknown",
            FINANCIAL,
            "FINANCIAL_STATE_INVALID",
            &[(FINANCIAL, "已开户")],
        ),
        kind(
            "financial state empty",
            FINANCIAL,
            "IMPORT_VALUE_REQUIRED",
            &[(FINANCIAL, "")],
        ),
        kind(
            "financial state frozen-ish",
            FINANCIAL,
            "FINANCIAL_STATE_INVALID",
            &[(FINANCIAL, "冻结中")],
        ),
        kind(
            "financial state as a number",
            FINANCIAL,
            "FINANCIAL_STATE_INVALID",
            &[(FINANCIAL, "1")],
        ),
        kind(
            "in production with an active account",
            FINANCIAL,
            "CARD_STATES_INCONSISTENT",
            &[(SOCIAL, "制卡中"), (FINANCIAL, "已激活")],
        ),
        kind(
            "awaiting collection with a frozen account",
            FINANCIAL,
            "CARD_STATES_INCONSISTENT",
            &[(SOCIAL, "待领卡"), (FINANCIAL, "冻结")],
        ),
        Kind {
            what: "the same row twice",
            column: CARD,
            code: "DUPLICATE_IN_FILE",
            cells: good[0].iter().cloned().enumerate().collect(),
        },
        kind(
            "another card with the identification code of an earlier row",
            CODE,
            "DUPLICATE_IN_FILE",
            &[(CODE, &good[1][CODE])],
        ),
        Kind {
            what: "the same row again in full-width characters",
            column: CARD,
            code: "DUPLICATE_IN_FILE",
            cells: full_width_copy.into_iter().enumerate().collect(),
        },
        kind(
            "a registered card given to someone else",
            HOLDER,
            "CARD_HOLDER_MISMATCH",
            &[(CARD, &registered[0][CARD]), (CODE, &registered[0][CODE])],
        ),
        Kind {
            what: "a registered card in other states",
            column: SOCIAL,
            code: "CARD_STATE_DIFFERS",
            cells: {
                let mut row = registered[1].clone();
                row[SOCIAL] = "注销".to_owned();
                row[FINANCIAL] = "销户".to_owned();
                row.into_iter().enumerate().collect()
            },
        },
        kind(
            "the identification code of a registered card",
            CODE,
            "CARD_ID_CODE_TAKEN",
            &[(CODE, &registered[2][CODE])],
        ),
        kind(
            "a second card for a holder of a card in use",
            HOLDER,
            "PERSON_HAS_ACTIVE_CARD",
            &[(HOLDER, &registered[3][HOLDER])],
        ),
        kind(
            "several cells wrong at once",
            HOLDER,
            "ID_NUMBER_CHECKSUM",
            &[
                (HOLDER, &wrong_check),
                (ISSUED, "2023-02-30"),
                (ACCOUNT, "6212260000000000001"),
            ],
        ),
        Kind {
            what: "a row cut short",
            column: ISSUED,
            code: "IMPORT_VALUE_REQUIRED",
            cells: Vec::new(),
        },
    ];
    assert!(kinds.len() >= 100, "{} kinds", kinds.len());
    let mut whats: Vec<&str> = kinds.iter().map(|k| k.what).collect();
    whats.sort_unstable();
    whats.dedup();
    assert_eq!(whats.len(), kinds.len(), "every kind is distinct");

    // Interleave: good, broken, broken, good, … Each broken row starts from
    // the valid card of its own person (100 + k), in use, issued in 2020.
    let base = card_rows(&people[100..100 + kinds.len()]);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut expected: Vec<(usize, &Kind)> = Vec::new();
    let mut good_iter = good.iter();
    for (k, kind) in kinds.iter().enumerate() {
        if k % 2 == 0
            && let Some(row) = good_iter.next()
        {
            rows.push(row.clone());
        }
        let mut row = base[k].clone();
        row[SOCIAL] = "正常".to_owned();
        row[FINANCIAL] = "已激活".to_owned();
        row[ISSUED] = "20200601".to_owned();
        row[EXPIRES] = "20300601".to_owned();
        for (column, value) in &kind.cells {
            row[*column].clone_from(value);
        }
        if kind.what == "a row cut short" {
            row.truncate(5);
        }
        rows.push(row);
        expected.push((rows.len() + 1, kind));
    }
    rows.extend(good_iter.cloned());
    let file = dir.path().join("cards.csv");
    {
        // Written by hand: the cut-short row has fewer cells.
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .from_path(&file)
            .unwrap();
        writer.write_record(CARD_HEADER).unwrap();
        for row in &rows {
            writer.write_record(row).unwrap();
        }
        writer.flush().unwrap();
    }

    let output = import(&db, "cards", &file, &[]);
    assert!(!output.status.success());
    let out = stdout(&output);
    assert!(
        out.contains(&format!(
            "共读取 {} 行：新增 50 行，更新 0 行，无变化 0 行，未导入 {} 行",
            rows.len(),
            kinds.len()
        )),
        "{out}"
    );
    assert!(
        stderr(&output).contains(&format!("有 {} 行未导入", kinds.len())),
        "{}",
        stderr(&output)
    );

    let report = read_report(&file);
    let mut by_row: HashMap<String, Vec<Problem>> = HashMap::new();
    for problem in &report {
        assert!(
            common::has_chinese(&problem.message),
            "Chinese message: {problem:?}"
        );
        by_row
            .entry(problem.row.clone())
            .or_default()
            .push(problem.clone());
    }
    assert_eq!(
        by_row.len(),
        kinds.len(),
        "only the broken rows are reported"
    );
    for (row, kind) in &expected {
        let problems = by_row
            .get(&row.to_string())
            .unwrap_or_else(|| panic!("row {row} ({}) is reported", kind.what));
        assert!(
            problems
                .iter()
                .any(|p| p.code == kind.code && p.column == CARD_HEADER[kind.column]),
            "row {row} ({}): expected {} in {}, got {problems:?}",
            kind.what,
            kind.code,
            CARD_HEADER[kind.column]
        );
    }
    // No message repeats a full ID number.
    for person in &people {
        assert!(
            report
                .iter()
                .all(|p| !p.message.contains(&person.id_number))
        );
    }

    // The good rows landed, whole; no broken row left anything behind.
    assert_eq!(count(&db, "cards").await, 4 + 50);
    assert_eq!(count(&db, "card_events").await, 2 * (4 + 50));
    let services = db.services().await;
    let kept = services
        .card_by_number(
            &CardNumber::parse(&registered[1][CARD]).unwrap(),
            &Viewer::Staff,
        )
        .await
        .unwrap();
    assert_eq!(
        kept.social_state.code, "normal",
        "an import never changes a card's state"
    );
    services.store().close().await;
}

/// Not a test but a fixture for the XLSX measurement in BENCHMARKS.md:
/// `cargo test --release --test import -- --ignored write_the_100k_persons_xlsx`
/// writes `target/tmp/persons-100k.xlsx` (SSCARD_XLSX_COUNT persons, default 100,000).
#[test]
#[ignore = "writes a large file for a measurement"]
fn write_the_100k_persons_xlsx() {
    let count: usize = std::env::var("SSCARD_XLSX_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100_000);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("persons-100k.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, header) in PERSON_HEADER.iter().enumerate() {
        sheet
            .write_string(0, u16::try_from(c).unwrap(), *header)
            .unwrap();
    }
    for (r, person) in Generator::new(2026).persons(count).enumerate() {
        for (c, value) in person.to_row().iter().enumerate() {
            sheet
                .write_string(
                    u32::try_from(r + 1).unwrap(),
                    u16::try_from(c).unwrap(),
                    value,
                )
                .unwrap();
        }
    }
    workbook.save(&path).unwrap();
    println!("wrote {}", path.display());
}
