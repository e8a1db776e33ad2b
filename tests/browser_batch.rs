//! 单位批量启用 as an employer does it, in Debian's Chromium
//! (`common/browser.rs`): sign in, find the template, upload the sealed
//! letter and a messy XLSX (title row, header variants, extra columns, a
//! blank row, full-width digits, an ID number Excel made a number, a
//! duplicate, a bank column), watch the progress bar move to 100 % once a
//! clerk has accepted the batch, and — after the result is delivered —
//! download the report, whose rows match the expected outcomes.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use common::batches::{
    Card, LETTER_PDF, Person, account, card_number, id_number, insert_registry, report_rows, uscc,
};
use common::browser::{
    browser, click, fill, screenshot, texts, wait_for_text, wait_for_text_within,
};
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::Value;

/// An attribute of the element `css` (`<progress>` reflects its `value`
/// and `max` properties), or `None` while the page reloads.
async fn attr(client: &Client, css: &str, name: &str) -> Option<String> {
    let element = client.find(Locator::Css(css)).await.ok()?;
    element.attr(name).await.ok().flatten()
}

/// The messy list and what each row should get: (name, result, code).
fn messy_xlsx() -> (Vec<u8>, Vec<(&'static str, &'static str, &'static str)>) {
    use rust_xlsxwriter::Workbook;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet
        .write_string(0, 0, "螺香食品有限公司 2026年11月 批量启用名单")
        .unwrap();
    for (col, header) in ["序号", "职工姓名", "身份证号", "卡号", "部门", "金融功能"]
        .iter()
        .enumerate()
    {
        sheet
            .write_string(1, u16::try_from(col).unwrap(), *header)
            .unwrap();
    }
    let full_width = |text: &str| -> String {
        text.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
                c => c,
            })
            .collect()
    };
    let rows: Vec<(&str, String, String, &str, &str, &str)> = vec![
        (
            "黄一",
            id_number(41),
            card_number(41),
            "",
            "成功",
            "ACTIVATED",
        ),
        (
            "黄二",
            full_width(&id_number(42)),
            card_number(42),
            "",
            "成功",
            "ACTIVATED",
        ),
        (
            "黄三",
            id_number(43),
            card_number(43),
            "是",
            "成功",
            "ACTIVATED",
        ),
        (
            "黄四",
            id_number(44),
            card_number(44),
            "",
            "失败",
            "CARD_REPORTED_LOST",
        ),
        (
            "黄五",
            String::new(),
            card_number(45),
            "",
            "失败",
            "ID_NUMBER_DIGITS_LOST",
        ),
        (
            "黄一",
            id_number(41),
            card_number(41),
            "",
            "失败",
            "DUPLICATE_ROW",
        ),
        (
            "黄七",
            id_number(47),
            card_number(47),
            "",
            "失败",
            "PERSON_NOT_FOUND",
        ),
    ];
    let mut expected = Vec::new();
    let mut row: u32 = 2;
    for (i, (name, id, card, bank, result, code)) in rows.iter().enumerate() {
        if i == 3 {
            row += 1; // a blank row
        }
        sheet.write_number(row, 0, f64::from(row)).unwrap();
        sheet.write_string(row, 1, *name).unwrap();
        if *code == "ID_NUMBER_DIGITS_LOST" {
            let number = id_number(45)[..17].parse::<f64>().unwrap() * 10.0;
            sheet.write_number(row, 2, number).unwrap();
        } else {
            sheet.write_string(row, 2, id).unwrap();
        }
        sheet.write_string(row, 3, card).unwrap();
        sheet.write_string(row, 4, "生产部").unwrap();
        sheet.write_string(row, 5, *bank).unwrap();
        expected.push((*name, *result, *code));
        row += 1;
    }
    (workbook.save_to_buffer().unwrap(), expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employer_uploads_a_messy_list_and_watches_the_bar_reach_100_percent() {
    let app = TestApp::spawn().await;
    let base = app.url("");
    let services = app.db().services().await;
    let employer_uscc = uscc(40);
    let persons: Vec<Person> = [41, 42, 43, 44, 45]
        .iter()
        .map(|n| {
            Person::employee(
                *n,
                &format!("黄{}", ["一", "二", "三", "四", "五"][(*n - 41) as usize]),
                &employer_uscc,
            )
        })
        .collect();
    let cards = vec![
        Card::of(41, &id_number(41), "collected"),
        Card::of(42, &id_number(42), "collected"),
        Card::of(43, &id_number(43), "collected"),
        Card::of(44, &id_number(44), "temporarily_lost"),
        Card::of(45, &id_number(45), "collected"),
    ];
    insert_registry(&services, &persons, &cards).await;
    let employer_token = account(
        &app.client,
        &base,
        &services,
        "employer.page",
        &["employer"],
        Some(&employer_uscc),
    )
    .await;
    let clerk = account(
        &app.client,
        &base,
        &services,
        "clerk.page",
        &["acceptor", "processor", "feedback"],
        None,
    )
    .await;
    let (xlsx, expected) = messy_xlsx();
    let dir = tempfile::tempdir().unwrap();
    let list_path = dir.path().join("职工名单.xlsx");
    let letter_path = dir.path().join("授权委托书.pdf");
    std::fs::write(&list_path, &xlsx).unwrap();
    std::fs::write(&letter_path, LETTER_PDF).unwrap();

    let (_driver, client) = browser().await;
    // Sign in on the page; the workbench leads to the batch page.
    client.goto(&app.url("/signin")).await.unwrap();
    fill(&client, "#username", "employer.page").await;
    fill(&client, "#password", "Liujiang-318-Batch-2026").await;
    click(&client, "#submit").await;
    wait_for_text(&client, "main", "批量启用").await;
    client.goto(&app.url("/employer")).await.unwrap();
    assert!(
        texts(&client, "#employer-uscc")
            .await
            .join("")
            .contains(&employer_uscc)
    );
    let template = client
        .find(Locator::Css("#template-download"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(template.as_deref(), Some("/api/v1/batches/template.xlsx"));
    assert!(
        texts(&client, "#bank-notice")
            .await
            .join("")
            .contains("本人持身份证原件")
    );

    // Upload the letter and the list.
    client
        .find(Locator::Css("#authorization"))
        .await
        .unwrap()
        .send_keys(letter_path.to_str().unwrap())
        .await
        .unwrap();
    client
        .find(Locator::Css("#list"))
        .await
        .unwrap()
        .send_keys(list_path.to_str().unwrap())
        .await
        .unwrap();
    click(&client, "#submit-batch").await;
    wait_for_text(&client, "#notice", "批量办件已提交").await;
    let path = client.current_url().await.unwrap().path().to_owned();
    let batch_no = path.trim_start_matches("/employer/batches/").to_owned();
    assert!(batch_no.starts_with("PL-"), "{path}");
    assert_eq!(texts(&client, "#batch-status").await.join(""), "待受理");
    assert_eq!(
        texts(&client, "#rows-total").await.join(""),
        expected.len().to_string()
    );
    assert_eq!(texts(&client, "#rows-done").await.join(""), "0");
    let facts = texts(&client, "#fact-list").await.join("");
    assert!(facts.contains("表头在第 2 行"), "{facts}");
    assert!(facts.contains("序号") && facts.contains("部门"), "{facts}");
    assert!(
        texts(&client, "#notice-AGENT_NOT_ALLOWED_FOR_BANK")
            .await
            .join("")
            .contains("1 行")
    );
    screenshot(&client, "batch-submitted.png").await;

    // A clerk accepts; the page follows the rows to 100 %.
    let (status, body) = app
        .post_as(
            &clerk,
            &format!("/api/v1/batches/{batch_no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_text_within(&client, "#batch-percent", "100%", 30).await;
    let started = Instant::now();
    loop {
        let value = attr(&client, "#batch-bar", "value").await;
        let max = attr(&client, "#batch-bar", "max").await;
        if value.is_some() && value == max {
            assert_eq!(value.as_deref(), Some(expected.len().to_string().as_str()));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "bar at {value:?} of {max:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_text(&client, "#batch-status", "待反馈").await;
    let succeeded = expected.iter().filter(|e| e.1 == "成功").count();
    assert_eq!(
        texts(&client, "#rows-succeeded").await.join(""),
        succeeded.to_string()
    );
    assert_eq!(
        texts(&client, "#rows-failed").await.join(""),
        (expected.len() - succeeded).to_string()
    );
    assert!(
        texts(&client, "#report-pending")
            .await
            .join("")
            .contains("送达")
    );
    screenshot(&client, "batch-processed.png").await;

    // 反馈: the result is delivered; the report link appears by itself.
    let (status, body) = app
        .post_as(
            &clerk,
            &format!("/api/v1/batches/{batch_no}/deliver"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_text_within(&client, "#batch-status", "已办结", 30).await;
    let href = client
        .find(Locator::Css("#report-download"))
        .await
        .expect("the report link")
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, format!("/api/v1/batches/{batch_no}/report.xlsx"));
    screenshot(&client, "batch-completed.png").await;

    // The report's rows are the expected outcomes, in the list's order.
    let response = app
        .client
        .get(app.url(&href))
        .bearer_auth(&employer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rows = report_rows(&response.bytes().await.unwrap());
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[1].clone(), r[4].clone(), r[5].clone()))
        .collect();
    let want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(n, r, c)| ((*n).to_owned(), (*r).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(got, want);
    assert!(
        rows[2][7].contains("AGENT_NOT_ALLOWED_FOR_BANK"),
        "{:?}",
        rows[2]
    );

    // The employer's list page shows the batch at 100 %.
    client.goto(&app.url("/employer")).await.unwrap();
    let row = texts(&client, &format!("#batch-{batch_no}")).await.join("");
    assert!(row.contains("100%") && row.contains("已办结"), "{row}");
    screenshot(&client, "batch-employer-list.png").await;
}
