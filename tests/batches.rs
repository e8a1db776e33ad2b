//! 单位批量启用 over the API, on SQLite and (with SSCARD_TEST_POSTGRES_URL)
//! PostgreSQL: messy real-world lists (XLSX with a title row, header
//! variants, extra columns, blank rows, full-width digits, a lower-case x,
//! an ID number Excel made a number, duplicates, a bank column; CSV in GBK
//! and UTF-8 with a BOM), the case's steps (受理, one-time notice and
//! supplement, refusal, 经办 by the worker, 反馈), idempotency, another
//! employer kept out, and the report checked against the cards.

mod common;

use std::collections::BTreeMap;

use common::TestApp;
use common::batches::{
    Card, LETTER_PDF, Person, account, card_number, csv_list, id_number, insert_registry,
    post_batch, report_rows, uscc, wait_for,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The people of the messy list and what each row should get.
struct Expected {
    line: u64,
    result: &'static str,
    code: &'static str,
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
            'X' => 'x',
            c => c,
        })
        .collect()
}

struct World {
    app: TestApp,
    base: String,
    employer: String,
    other_employer: String,
    clerk: String,
    processor: String,
    uscc: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let base = app.url("");
    let services = app.db().services().await;
    let ours = uscc(1);
    let theirs = uscc(2);
    let employer = account(
        &app.client,
        &base,
        &services,
        "employer.one",
        &["employer"],
        Some(&ours),
    )
    .await;
    let other_employer = account(
        &app.client,
        &base,
        &services,
        "employer.two",
        &["employer"],
        Some(&theirs),
    )
    .await;
    let clerk = account(
        &app.client,
        &base,
        &services,
        "clerk.all",
        &["acceptor", "processor", "feedback"],
        None,
    )
    .await;
    let processor = account(
        &app.client,
        &base,
        &services,
        "clerk.processor",
        &["processor"],
        None,
    )
    .await;
    World {
        app,
        base,
        employer,
        other_employer,
        clerk,
        processor,
        uscc: ours,
    }
}

/// The registry behind the messy list: one person per outcome.
async fn messy_registry(world: &World) {
    let ours = &world.uscc;
    let theirs = uscc(2);
    let mut persons = vec![
        Person::employee(1, "张三", ours),
        Person::employee(2, "李四", ours),
        Person::employee(3, "王五", ours),
        Person::employee(4, "赵六", &theirs),
        Person {
            region: "450102".to_owned(),
            ..Person::employee(5, "孙七", ours)
        },
        Person::employee(6, "周八", ours),
        Person::employee(7, "吴九", ours),
        Person::employee(8, "郑十", ours),
        Person::employee(10, "王𠈌", ours),
        Person::employee(11, "冯十一", ours),
        Person::employee(12, "陈十二", ours),
        Person::employee(13, "褚十三", ours),
        Person::employee(14, "卫十四", ours),
        Person::employee(15, "蒋十五", ours),
    ];
    persons.push(Person {
        status: "terminated".to_owned(),
        ..Person::employee(16, "沈十六", ours)
    });
    let cards = vec![
        Card::of(1, &id_number(1), "collected"),
        Card::of(2, &id_number(2), "normal"),
        Card::of(3, &id_number(3), "temporarily_lost"),
        Card::of(4, &id_number(4), "collected"),
        Card::of(5, &id_number(5), "collected"),
        Card::of(6, &id_number(6), "collected"),
        Card::of(7, &id_number(7), "collected"),
        Card::of(8, &id_number(8), "collected"),
        Card::of(10, &id_number(10), "collected"),
        Card::of(11, &id_number(11), "collected"),
        Card::of(12, &id_number(12), "collected"),
        Card::of(13, &id_number(13), "collected"),
        Card::of(14, &id_number(14), "in_production"),
        Card::of(16, &id_number(16), "collected"),
    ];
    insert_registry(&world.app.db().services().await, &persons, &cards).await;
}

/// Rows written into the messy sheet and what each should get.
struct List {
    row: u32,
    expected: Vec<Expected>,
}

impl List {
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        sheet: &mut rust_xlsxwriter::Worksheet,
        name: &str,
        id: &str,
        card: &str,
        bank: &str,
        result: &'static str,
        code: &'static str,
    ) {
        let row = self.row;
        sheet.write_number(row, 0, f64::from(row - 2)).unwrap();
        sheet.write_string(row, 1, name).unwrap();
        sheet.write_string(row, 2, id).unwrap();
        sheet.write_string(row, 3, card).unwrap();
        sheet.write_string(row, 4, "13800138000").unwrap();
        sheet.write_string(row, 5, bank).unwrap();
        sheet.write_string(row, 6, "无").unwrap();
        self.expected.push(Expected {
            line: u64::from(row + 1),
            result,
            code,
        });
        self.row += 1;
    }
}

/// The messy XLSX as an HR tool and a person make it, and what each row
/// should get. Row numbers are Excel's (1-based).
fn messy_xlsx() -> (Vec<u8>, Vec<Expected>) {
    use rust_xlsxwriter::Workbook;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    // Row 1: a title; row 2 blank; row 3 the header with variants and extras.
    sheet
        .write_string(0, 0, "柳州市柳江区螺香食品有限公司 批量启用社会保障卡名单")
        .unwrap();
    for (col, header) in [
        "序号",
        " 姓 名 ",
        "公民身份号码",
        "社保卡号",
        "联系电话",
        "激活金融功能",
        "备注",
    ]
    .iter()
    .enumerate()
    {
        sheet
            .write_string(2, u16::try_from(col).unwrap(), *header)
            .unwrap();
    }
    let mut list = List {
        row: 3,
        expected: Vec::new(),
    };
    list.put(
        sheet,
        "张三",
        &id_number(1),
        &card_number(1),
        "",
        "成功",
        "ACTIVATED",
    );
    list.put(
        sheet,
        " 李四 ",
        &id_number(2),
        &card_number(2),
        "否",
        "成功",
        "ALREADY_ACTIVE",
    );
    list.put(
        sheet,
        "王五",
        &id_number(3),
        &card_number(3),
        "",
        "失败",
        "CARD_REPORTED_LOST",
    );
    list.put(
        sheet,
        "赵六",
        &id_number(4),
        &card_number(4),
        "",
        "失败",
        "NOT_EMPLOYEE_OF_EMPLOYER",
    );
    list.put(
        sheet,
        "孙七",
        &id_number(5),
        &card_number(5),
        "",
        "失败",
        "NOT_INSURED_IN_LIUZHOU",
    );
    list.put(
        sheet,
        "周八",
        &id_number(6),
        &card_number(7),
        "",
        "失败",
        "CARD_NOT_APPLICANTS",
    );
    list.put(
        sheet,
        "郑石",
        &id_number(8),
        &card_number(8),
        "",
        "失败",
        "NAME_MISMATCH",
    );
    list.put(
        sheet,
        "钱九",
        &id_number(9),
        &card_number(9),
        "",
        "失败",
        "PERSON_NOT_FOUND",
    );
    // Full-width digits, a lower-case x, full-width and inner spaces.
    let typed = format!("\u{3000}{} ", full_width(&id_number(10)).replace('x', " x"));
    let card = format!(" {} ", card_number(10).to_lowercase());
    list.put(sheet, "王𠈌", &typed, &card, "", "成功", "ACTIVATED");
    // Row for 冯十一 gets its ID as a number below.
    let lost_row = list.row;
    list.put(
        sheet,
        "冯十一",
        "",
        &card_number(11),
        "",
        "失败",
        "ID_NUMBER_DIGITS_LOST",
    );
    list.put(
        sheet,
        "陈十二",
        &id_number(12),
        &card_number(12),
        "",
        "成功",
        "ACTIVATED",
    );
    list.put(
        sheet,
        "陈十二",
        &id_number(12),
        &card_number(12),
        "",
        "失败",
        "DUPLICATE_ROW",
    );
    list.put(
        sheet,
        "褚十三",
        &id_number(13),
        &card_number(13),
        "是",
        "成功",
        "ACTIVATED",
    );
    list.put(
        sheet,
        "卫十四",
        &id_number(14),
        &card_number(14),
        "",
        "失败",
        "CARD_NOT_YET_COLLECTED",
    );
    // A blank row in the middle of the data.
    list.row += 1;
    list.put(
        sheet,
        "蒋十五",
        &id_number(15),
        "B99999999",
        "",
        "失败",
        "CARD_NOT_FOUND",
    );
    list.put(
        sheet,
        "沈十六",
        &id_number(16),
        &card_number(16),
        "",
        "失败",
        "NOT_INSURED_IN_LIUZHOU",
    );
    list.put(
        sheet,
        "韩十七",
        "45022119900101123",
        &card_number(17),
        "",
        "失败",
        "ID_NUMBER_LENGTH",
    );
    let row = list.row;
    let expected = list.expected;
    // Excel took 冯十一's ID number for a number: it has lost its last digits.
    let number: f64 = id_number(11)[..17].parse::<f64>().unwrap() * 10.0;
    sheet.write_number(lost_row, 2, number).unwrap();
    // A note under the table, in the 序号 column only: not a row.
    sheet.write_string(row + 1, 0, "制表人：李会计").unwrap();
    (workbook.save_to_buffer().unwrap(), expected)
}

#[tokio::test]
async fn a_messy_xlsx_goes_through_the_three_steps_and_the_report_matches_the_cards() {
    let world = world().await;
    messy_registry(&world).await;
    let app = &world.app;
    let (xlsx, expected) = messy_xlsx();

    // Submission, with an idempotency key.
    let (status, batch) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.xlsx",
        xlsx.clone(),
        Some("batch-key-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let no = batch["batch_no"].as_str().unwrap().to_owned();
    assert!(no.starts_with("PL-"), "{no}");
    assert_eq!(batch["state"], "submitted");
    assert_eq!(batch["status_label"], "待受理");
    assert_eq!(batch["guide_version"], 44);
    assert_eq!(batch["employer_uscc"], world.uscc);
    assert_eq!(batch["progress"]["rows_total"], expected.len());
    assert_eq!(batch["progress"]["rows_done"], 0);
    assert_eq!(batch["list"]["format"], "XLSX");
    assert_eq!(batch["list"]["header_row"], 3);
    assert_eq!(batch["list"]["ignored_columns"], json!(["序号", "备注"]));
    assert_eq!(batch["notices"][0]["code"], "AGENT_NOT_ALLOWED_FOR_BANK");
    assert_eq!(batch["notices"][0]["rows"], 1);
    assert!(
        batch["notices"][0]["message"]
            .as_str()
            .unwrap()
            .contains("本人持身份证原件")
    );
    assert_eq!(batch["letter"]["content_type"], "application/pdf");
    assert_eq!(batch["report_available"], false);

    // The same key and files: the same batch. Another list: refused.
    let (status, again) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.xlsx",
        xlsx.clone(),
        Some("batch-key-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["batch_no"], no.as_str());
    let (status, reused) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.csv",
        csv_list(&[("张三".into(), id_number(1), card_number(1))]),
        Some("batch-key-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    assert_eq!(reused["code"], "IDEMPOTENCY_KEY_REUSED");
    let (_, mine) = app.get_as(&world.employer, "/api/v1/batches").await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");

    // Another employer sees nothing of it.
    for path in [
        format!("/api/v1/batches/{no}"),
        format!("/api/v1/batches/{no}/report.xlsx"),
        format!("/api/v1/batches/{no}/authorization"),
    ] {
        let (status, body) = app.get_as(&world.other_employer, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["code"], "BATCH_NOT_FOUND");
    }
    let (_, theirs) = app.get_as(&world.other_employer, "/api/v1/batches").await;
    assert_eq!(theirs, json!([]));
    let (status, _) = app
        .post_as(
            &world.other_employer,
            &format!("/api/v1/batches/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Staff see it in their queue, with the letter.
    let (_, queue) = app
        .get_as(&world.clerk, "/api/v1/batches?state=submitted")
        .await;
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["batch_no"] == no.as_str())
    );
    let letter = app
        .client
        .get(app.url(&format!("/api/v1/batches/{no}/authorization")))
        .bearer_auth(&world.clerk)
        .send()
        .await
        .unwrap();
    assert_eq!(letter.status(), StatusCode::OK);
    assert_eq!(letter.bytes().await.unwrap().as_ref(), LETTER_PDF);

    // Nothing is processed before acceptance; 经办 is not taken by hand.
    let report = app
        .client
        .get(app.url(&format!("/api/v1/batches/{no}/report.xlsx")))
        .bearer_auth(&world.clerk)
        .send()
        .await
        .unwrap();
    common::assert_problem(report, StatusCode::CONFLICT, "BATCH_REPORT_NOT_READY").await;
    let (status, body) = app
        .post_as(
            &world.processor,
            &format!("/api/v1/batches/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "ROLE_NOT_PERMITTED_FOR_STEP");
    let (status, body) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/approve"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "BATCH_PROCESSED_BY_RULES");

    // 受理: the worker in the server then decides every row.
    let (status, accepted) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/accept"),
            &json!({ "opinion": "授权委托书加盖单位公章，符合要求。" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let processed = wait_for(&app.client, &world.base, &world.employer, &no, 60, |b| {
        b["state"] == "awaiting_feedback"
    })
    .await;
    assert_eq!(processed["progress"]["percent"], 100);
    assert_eq!(processed["progress"]["rows_done"], expected.len());
    let succeeded = expected.iter().filter(|e| e.result == "成功").count();
    assert_eq!(processed["progress"]["rows_succeeded"], succeeded);
    assert_eq!(
        processed["progress"]["rows_failed"],
        expected.len() - succeeded
    );
    assert_eq!(processed["progress"]["rows_activated"], succeeded - 1); // 李四 was active
    assert_eq!(processed["outcome"], "approved");
    assert_eq!(processed["report_available"], false, "not before 反馈");
    let report = app
        .client
        .get(app.url(&format!("/api/v1/batches/{no}/report.xlsx")))
        .bearer_auth(&world.employer)
        .send()
        .await
        .unwrap();
    common::assert_problem(report, StatusCode::CONFLICT, "BATCH_REPORT_NOT_READY").await;

    // 反馈: delivered; the employer takes the report.
    let (status, delivered) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/deliver"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{delivered}");
    assert_eq!(delivered["state"], "completed");
    let actions: Vec<&str> = delivered["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["submit", "accept", "approve", "deliver"]);
    let response = app
        .client
        .get(app.url(&format!("/api/v1/batches/{no}/report.xlsx")))
        .bearer_auth(&world.employer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap();
    let rows = report_rows(&bytes);
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    let by_line: BTreeMap<u64, &Vec<String>> = rows
        .iter()
        .map(|r| (r[0].parse::<u64>().unwrap(), r))
        .collect();
    for e in &expected {
        let row = by_line
            .get(&e.line)
            .unwrap_or_else(|| panic!("line {} in {rows:?}", e.line));
        assert_eq!(row[4], e.result, "line {}: {row:?}", e.line);
        assert_eq!(row[5], e.code, "line {}: {row:?}", e.line);
        assert!(
            !row[6].is_empty() && common::has_chinese(&row[6]),
            "{row:?}"
        );
    }
    // Identifiers masked; the bank request told.
    let text = format!("{rows:?}");
    for n in 1..=17 {
        assert!(
            !text.contains(&id_number(n)),
            "a full ID number in the report"
        );
    }
    assert!(by_line[&5][2].contains("********"), "{:?}", by_line[&5]);
    let bank_row = rows.iter().find(|r| r[1] == "褚十三").unwrap();
    assert!(
        bank_row[7].contains("AGENT_NOT_ALLOWED_FOR_BANK"),
        "{bank_row:?}"
    );
    assert!(rows.iter().filter(|r| !r[7].is_empty()).count() == 1);

    // The report matches the cards.
    let pool = app.db().services().await.store().pool().clone();
    let states: BTreeMap<String, (String, String)> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT card_number, social_state, financial_state FROM cards",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(n, s, f)| (n, (s, f)))
    .collect();
    for n in [1, 10, 12, 13] {
        assert_eq!(states[&card_number(n)].0, "normal", "card {n}");
    }
    for (n, state) in [
        (3, "temporarily_lost"),
        (4, "collected"),
        (5, "collected"),
        (7, "collected"),
        (8, "collected"),
        (11, "collected"),
        (14, "in_production"),
        (16, "collected"),
    ] {
        assert_eq!(states[&card_number(n)].0, state, "card {n}");
    }
    // Batches never touch the bank function.
    assert!(states.values().all(|(_, f)| f == "not_activated"));
    let activations: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.card_number, COUNT(*) FROM card_events e JOIN cards c ON c.id = e.card_id \
         WHERE e.event = 'activate' GROUP BY c.card_number ORDER BY c.card_number",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        activations,
        [1, 10, 12, 13]
            .iter()
            .map(|n| (card_number(*n), 1))
            .collect::<Vec<_>>()
    );

    // The rows counted by outcome in the metrics.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("sscard_batch_rows_total{outcome=\"activated\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn csv_in_gbk_and_in_utf8_with_a_bom_is_read() {
    let world = world().await;
    let app = &world.app;
    insert_registry(
        &app.db().services().await,
        &[
            Person::employee(21, "欧阳修", &world.uscc),
            Person::employee(22, "阿依古丽·买买提", &world.uscc),
        ],
        &[
            Card::of(21, &id_number(21), "collected"),
            Card::of(22, &id_number(22), "collected"),
        ],
    )
    .await;
    // GBK, as Excel on a Chinese Windows saves "CSV (逗号分隔)", with a title
    // line, a blank line and a lower-case x.
    let gbk_text = format!(
        "职工名单（2026年11月）,,\r\n\r\n姓名,身份证号码,社会保障卡卡号\r\n欧阳修,{},{}\r\n",
        id_number(21).to_lowercase(),
        card_number(21)
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&gbk_text);
    assert!(!unmappable);
    let (status, batch) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.csv",
        gbk.to_vec(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["list"]["encoding"], "GBK");
    assert_eq!(batch["list"]["header_row"], 3);
    assert_eq!(batch["progress"]["rows_total"], 1);
    let gbk_no = batch["batch_no"].as_str().unwrap().to_owned();

    // UTF-8 with a byte-order mark, the middle dot written as •.
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(
        format!(
            "姓名,社会保障号码,社会保障卡卡号,手机号\n阿依古丽•买买提,{},{},\n",
            id_number(22),
            card_number(22)
        )
        .as_bytes(),
    );
    let (status, batch) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.csv",
        bom,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["list"]["encoding"], "UTF-8 (BOM)");
    let bom_no = batch["batch_no"].as_str().unwrap().to_owned();

    for no in [&gbk_no, &bom_no] {
        let (status, _) = app
            .post_as(
                &world.clerk,
                &format!("/api/v1/batches/{no}/accept"),
                &Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let done = wait_for(&app.client, &world.base, &world.clerk, no, 60, |b| {
            b["state"] == "awaiting_feedback"
        })
        .await;
        assert_eq!(done["progress"]["rows_activated"], 1, "{done}");
        assert_eq!(done["progress"]["rows_failed"], 0, "{done}");
    }
}

#[tokio::test]
async fn a_list_that_cannot_be_read_is_refused_whole_and_leaves_nothing() {
    let world = world().await;
    let app = &world.app;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "无表头.csv",
            "张三,450221199001011234\n李四,450221199001011242\n"
                .as_bytes()
                .to_vec(),
            "BATCH_LIST_COLUMNS_MISSING",
        ),
        (
            "缺卡号.csv",
            "姓名,身份证号,电话\n张三,450221199001011234,1380\n"
                .as_bytes()
                .to_vec(),
            "BATCH_LIST_COLUMNS_MISSING",
        ),
        (
            "只有表头.csv",
            "姓名,身份证号,卡号\n".as_bytes().to_vec(),
            "BATCH_LIST_EMPTY",
        ),
        (
            "坏的.xlsx",
            b"PK\x03\x04this is not really a workbook".to_vec(),
            "FILE_XLSX_CORRUPT",
        ),
        ("空.csv", Vec::new(), "BATCH_LIST_EMPTY"),
    ];
    for (name, bytes, code) in cases {
        let (status, body) =
            post_batch(&app.client, &world.base, &world.employer, name, bytes, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}: {body}");
        assert!(common::has_chinese(body["detail"].as_str().unwrap()));
        if code == "BATCH_LIST_COLUMNS_MISSING" && name == "缺卡号.csv" {
            assert!(
                body["detail"].as_str().unwrap().contains("社会保障卡卡号"),
                "{body}"
            );
        }
    }
    // A letter that is not a scan; no letter at all.
    let form = reqwest::multipart::Form::new()
        .part(
            "authorization",
            reqwest::multipart::Part::bytes(b"just text".to_vec()).file_name("授权书.pdf"),
        )
        .part(
            "list",
            reqwest::multipart::Part::bytes(csv_list(&[(
                "张三".into(),
                id_number(1),
                card_number(1),
            )]))
            .file_name("名单.csv"),
        );
    let response = app
        .client
        .post(app.url("/api/v1/batches"))
        .bearer_auth(&world.employer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    common::assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_TYPE_NOT_ALLOWED",
    )
    .await;
    let form = reqwest::multipart::Form::new().part(
        "list",
        reqwest::multipart::Part::bytes(csv_list(&[])).file_name("名单.csv"),
    );
    let response = app
        .client
        .post(app.url("/api/v1/batches"))
        .bearer_auth(&world.employer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = common::assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_FIELD_MISSING",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "authorization");
    // A staff account may not submit.
    let (status, _) = post_batch(
        &app.client,
        &world.base,
        &world.clerk,
        "名单.csv",
        csv_list(&[]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, mine) = app.get_as(&world.employer, "/api/v1/batches").await;
    assert_eq!(mine, json!([]), "nothing was left behind");
}

#[tokio::test]
async fn a_defective_letter_gets_a_one_time_notice_then_a_supplement_or_a_refusal() {
    let world = world().await;
    let app = &world.app;
    let list = csv_list(&[("张三".into(), id_number(31), card_number(31))]);
    let (_, batch) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.csv",
        list.clone(),
        None,
    )
    .await;
    let no = batch["batch_no"].as_str().unwrap().to_owned();

    let (status, body) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/notify-missing"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "DEFECT_REASON_REQUIRED");
    let (status, notified) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/notify-missing"),
            &json!({ "reason": "未加盖单位公章" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{notified}");
    assert_eq!(notified["state"], "awaiting_supplement");
    let (_, seen) = app
        .get_as(&world.employer, &format!("/api/v1/batches/{no}"))
        .await;
    assert_eq!(seen["allowed_actions"], json!(["supplement"]));
    assert_eq!(seen["letter"]["status"], "defective");
    let notice = seen["notice"]["items"][0]["message_zh"].as_str().unwrap();
    assert!(notice.contains("未加盖单位公章"), "{notice}");
    // Accepting now is a state conflict.
    let (status, body) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "CASE_STATE_CONFLICT");

    // The employer sends a new scan (a PNG this time).
    let png: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];
    let form = reqwest::multipart::Form::new().part(
        "authorization",
        reqwest::multipart::Part::bytes(png.to_vec()).file_name("盖章授权书.png"),
    );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/batches/{no}/supplement")))
        .bearer_auth(&world.employer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let supplemented: Value = response.json().await.unwrap();
    assert_eq!(supplemented["state"], "submitted");
    assert_eq!(supplemented["letter"]["content_type"], "image/png");
    assert_eq!(supplemented["letter"]["status"], "submitted");

    // 不予受理 needs a code and a reason; then the batch is closed.
    let (status, body) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/refuse"),
            &json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "REASON_REQUIRED");
    let (status, refused) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/refuse"),
            &json!({ "code": "NOT_AUTHORIZED", "reason": "授权委托书的单位与账号绑定的单位不一致。" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(refused["state"], "refused");
    assert_eq!(refused["outcome_code"], "NOT_AUTHORIZED");
    assert_eq!(
        refused["progress"]["rows_done"], 0,
        "no row of a refused batch is done"
    );
    let (status, body) = app
        .post_as(
            &world.clerk,
            &format!("/api/v1/batches/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The audit trail has every step.
    let pool = app.db().services().await.store().pool().clone();
    let actions: Vec<(String,)> = sqlx::query_as(
        "SELECT action FROM audit_log WHERE action LIKE 'batch.%' ORDER BY occurred_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<String> = actions.into_iter().map(|(a,)| a).collect();
    for action in [
        "batch.submit",
        "batch.notify_missing",
        "batch.supplement",
        "batch.refuse",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_template_has_the_columns_and_an_example_row() {
    let world = world().await;
    let app = &world.app;
    let response = app
        .client
        .get(app.url("/api/v1/batches/template.xlsx"))
        .bearer_auth(&world.employer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let bytes = response.bytes().await.unwrap();
    use calamine::{Reader as _, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range("名单").unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["姓名", "社会保障号码", "社会保障卡卡号", "手机号"]
    );
    assert_eq!(rows.len(), 2, "one example row");
    // The template as it comes, uploaded: read without a problem of the
    // file (its example person is simply not found).
    let (status, batch) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "模板.xlsx",
        bytes.to_vec(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["progress"]["rows_total"], 1);
}

#[tokio::test]
async fn the_pages_show_batches_to_their_employer_and_to_staff_and_take_the_steps() {
    let world = world().await;
    let app = &world.app;
    let list = csv_list(&[("张三".into(), id_number(51), card_number(51))]);
    let (_, batch) = post_batch(
        &app.client,
        &world.base,
        &world.employer,
        "名单.csv",
        list,
        None,
    )
    .await;
    let no = batch["batch_no"].as_str().unwrap().to_owned();
    let page = |token: &str, path: String| {
        let request = app.client.get(app.url(&path)).bearer_auth(token.to_owned());
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    // The employer's pages.
    let (status, html) = page(&world.employer, "/employer".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&no) && html.contains("/api/v1/batches/template.xlsx"),
        "{html}"
    );
    assert!(html.contains(r#"<script src="/static/batch.js" defer></script>"#));
    let (status, html) = page(&world.employer, format!("/employer/batches/{no}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("待受理") && html.contains("data-batch-url"),
        "{html}"
    );
    let (status, _) = page(&world.other_employer, format!("/employer/batches/{no}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&world.clerk, "/employer".to_owned()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The staff's queue and batch page, and a step taken through its form.
    let (status, html) = page(&world.clerk, "/batches".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("/batches/{no}")), "{html}");
    let (status, html) = page(&world.clerk, format!("/batches/{no}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="form-accept""#) && html.contains(r#"id="form-refuse""#));
    assert!(
        html.contains(
            r#"<option value="NOT_AUTHORIZED">授权委托书的单位与账号绑定的单位不一致</option>"#
        ),
        "the usual reasons are offered: {html}"
    );
    assert!(!html.contains(r#"id="form-deliver""#));
    let (status, _) = page(&world.employer, format!("/batches/{no}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = app
        .client
        .post(app.url(&format!("/batches/{no}/notify-missing")))
        .bearer_auth(&world.clerk)
        .form(&[("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("授权委托材料哪里不符合要求"), "{html}");
    let response = app
        .client
        .post(app.url(&format!("/batches/{no}/accept")))
        .bearer_auth(&world.clerk)
        .form(&[("opinion", "符合要求")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("/batches/{no}?notice=accept").as_str()
    );
    let done = wait_for(&app.client, &world.base, &world.clerk, &no, 60, |b| {
        b["state"] == "awaiting_feedback"
    })
    .await;
    assert_eq!(
        done["progress"]["rows_failed"], 1,
        "nobody is registered: {done}"
    );
    let (_, html) = page(&world.clerk, format!("/batches/{no}")).await;
    assert!(
        html.contains(r#"id="form-deliver""#) && html.contains("PERSON_NOT_FOUND"),
        "{html}"
    );
    let (status, script) = page(&world.clerk, "/static/batch.js".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(script.contains("data-batch-url"));
}
