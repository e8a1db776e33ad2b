//! `batch`: an employer's batch activation (单位批量启用, issue 8) of
//! `--rows` (100,000) employees, from upload to report, through the real
//! server. A fresh database gets generated persons with new cards
//! (`sscard bank demo-cards`' bulk insert), made the employees of one
//! employer (a valid unified social credit code) with collected cards, and
//! two accounts: the employer's and a window clerk's (受理岗+经办岗+反馈岗),
//! both signed in for real. The list is the employer's CSV (姓名,
//! 社会保障号码, 社会保障卡卡号, 手机号) with a mix of outcomes — per 50
//! rows: one card already active, one name that does not match, one person
//! of another employer, 47 to activate. Measured from the upload on:
//!
//! 1. `POST /api/v1/batches` as the employer (multipart: the sealed letter
//!    and the list) — `201` with every row counted;
//! 2. `POST /api/v1/batches/{no}/accept` as the clerk;
//! 3. `GET /api/v1/batches/{no}` every 100 ms until every row is decided,
//!    then the counts must be exactly the planned ones;
//! 4. `GET /api/v1/batches/{no}/report.xlsx` — read back, every row's line,
//!    result and reason code must be the planned one.
//!
//! Wall time, rows/s, the server's peak resident memory (`VmHWM`; also
//! its value before the upload, after it and after the processing, and the
//! highest `VmRSS` read every 10 ms in each phase — upload, processing,
//! report — beside the resident memory just before the upload: these show
//! where memory grows) and CPU time are reported; any failed request or
//! unexpected outcome is an error. Then the storage baseline: the same rows
//! written to the same tables by the same store functions in the same
//! transactions (the list's rows in one, then chunks of 500 rows with their
//! cards, card events, progress and audit entry), without HTTP, list
//! parsing, look-ups or rules.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::service::Outcome;
use sscard::service::registry::ID_NUMBER_INDEX;
use sscard::store::audit::{self, AuditEntry};
use sscard::store::batches::{self as rows, FAILED, NewBatchRow, SUCCEEDED};
use sscard::store::cases::UploadRow;

use super::Options;
use crate::db::BenchDb;
use crate::http::Api;
use crate::report::{Report, mb, round3};
use crate::seed::{self, Registered};
use crate::server::ServerProcess;

/// List rows when `--rows` is not given.
pub const DEFAULT_ROWS: u64 = 100_000;
/// Rows per chunk transaction: the server's default (`[batches] chunk_rows`).
pub const CHUNK_ROWS: usize = sscard::service::batches::DEFAULT_CHUNK_ROWS;
/// How often the progress is asked for.
pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// A minimal PDF: the scan of the sealed authorization letter.
const LETTER_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// The employer of the list: a valid unified social credit code.
pub fn employer_uscc() -> String {
    let first17 = "91450221MA5N00009";
    let check = sscard_domain::identifiers::uscc_check_char(first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// What the row of generated person `i` (card `Z{i:08}`) must get:
/// the report's 办理结果 and 原因代码.
pub fn planned(i: u64) -> (&'static str, &'static str) {
    match i % 50 {
        0 => ("成功", sscard_domain::batch::ALREADY_ACTIVE),
        1 => ("失败", sscard_domain::batch::NAME_MISMATCH),
        2 => ("失败", sscard_domain::batch::NOT_EMPLOYEE),
        _ => ("成功", sscard_domain::batch::ACTIVATED),
    }
}

/// The generated index of a card number `Z00000123` → 123.
pub fn card_index(card_number: &str) -> Option<u64> {
    card_number
        .strip_prefix(seed::BULK_CARD_PREFIX)
        .and_then(|digits| digits.parse().ok())
}

/// The planned counts of `rows` generated persons: succeeded, failed,
/// activated.
pub fn planned_counts(rows: u64) -> (i64, i64, i64) {
    let (mut succeeded, mut failed, mut activated) = (0, 0, 0);
    for i in 0..rows {
        match planned(i) {
            ("成功", code) => {
                succeeded += 1;
                if code == sscard_domain::batch::ACTIVATED {
                    activated += 1;
                }
            }
            _ => failed += 1,
        }
    }
    (succeeded, failed, activated)
}

/// The employer's list as CSV (UTF-8), one row per registered person in
/// order; the planned name mismatches carry another name.
pub fn csv_list(persons: &[Registered]) -> Vec<u8> {
    let mut out = String::with_capacity(persons.len() * 64 + 64);
    out.push_str("姓名,社会保障号码,社会保障卡卡号,手机号\n");
    for (k, person) in persons.iter().enumerate() {
        let name = if planned(k as u64).1 == sscard_domain::batch::NAME_MISMATCH {
            format!("{}错", person.name)
        } else {
            person.name.clone()
        };
        out.push_str(&format!(
            "{name},{},{},139{:08}\n",
            person.id_number, person.card_number, k
        ));
    }
    out.into_bytes()
}

/// What a report said, summed up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportCheck {
    pub rows: u64,
    /// Rows whose line, result or code was not the planned one.
    pub mismatches: u64,
    pub first_mismatches: Vec<String>,
}

/// Reads `report.xlsx` (sheet 办理结果: 原表行号, 姓名, 社会保障号码,
/// 社会保障卡卡号, 办理结果, 原因代码, …) and compares every row with the
/// plan: row `k` of the list is line `k + 2` (the header is line 1) and
/// must have `planned[k]`.
///
/// # Errors
///
/// Not an XLSX with that sheet and header.
pub fn check_report(
    bytes: &[u8],
    planned: &[(&'static str, &'static str)],
) -> anyhow::Result<ReportCheck> {
    use calamine::{Reader as _, Xlsx};
    let mut book: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(bytes)).context("the report is not an XLSX")?;
    let range = book
        .worksheet_range("办理结果")
        .context("the report has no sheet 办理结果")?;
    let mut lines = range.rows();
    let header: Vec<String> = lines
        .next()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    if header.first().map(String::as_str) != Some("原表行号")
        || header.get(4).map(String::as_str) != Some("办理结果")
        || header.get(5).map(String::as_str) != Some("原因代码")
    {
        bail!("the report's header is {header:?}");
    }
    let mut check = ReportCheck::default();
    for (k, row) in lines.enumerate() {
        check.rows += 1;
        let line = row
            .first()
            .map(ToString::to_string)
            .and_then(|l| l.parse::<f64>().ok());
        let result = row.get(4).map(ToString::to_string).unwrap_or_default();
        let code = row.get(5).map(ToString::to_string).unwrap_or_default();
        #[allow(clippy::cast_precision_loss)] // line numbers far below 2^52
        let want_line = (k + 2) as f64;
        let ok = match planned.get(k) {
            Some((want_result, want_code)) => {
                line == Some(want_line) && result == *want_result && code == *want_code
            }
            None => false,
        };
        if !ok {
            check.mismatches += 1;
            if check.first_mismatches.len() < 5 {
                check.first_mismatches.push(format!(
                    "report row {}: line {line:?} {result} {code}, planned line {want_line} {:?}",
                    k + 1,
                    planned.get(k)
                ));
            }
        }
    }
    if check.rows != planned.len() as u64 {
        check.mismatches += 1;
        check.first_mismatches.push(format!(
            "the report has {} rows, the list {}",
            check.rows,
            planned.len()
        ));
    }
    Ok(check)
}

/// `batch` (and, unless told not to, its storage baseline).
///
/// # Errors
///
/// Set-up failed.
pub async fn run(options: &Options) -> anyhow::Result<Vec<Report>> {
    let count = options.rows.unwrap_or(DEFAULT_ROWS);
    let db = BenchDb::fresh(
        options.postgres.as_deref(),
        options.work_dir.as_deref(),
        "batch",
    )
    .await?;
    let result = batch_on(&db, options, count).await;
    db.remove().await;
    let mut reports = vec![result?];
    if !options.no_baseline {
        let db = BenchDb::fresh(
            options.postgres.as_deref(),
            options.work_dir.as_deref(),
            "batch_baseline",
        )
        .await?;
        let base = baseline_on(&db, count).await;
        db.remove().await;
        let mut base = base?;
        let ratio = if base.throughput_per_s > 0.0 {
            reports[0].throughput_per_s / base.throughput_per_s
        } else {
            0.0
        };
        reports[0].set("ratio_to_baseline", round3(ratio));
        base.set("batch_rows_per_s", reports[0].throughput_per_s);
        reports.push(base);
    }
    Ok(reports)
}

/// The generated persons and cards as the list needs them: every card
/// collected (已领卡未启用) except the planned already-active ones (正常),
/// every person an employee of `uscc` except the planned others.
async fn registry(
    db: &BenchDb,
    count: u64,
    uscc: &str,
) -> anyhow::Result<(sscard::service::Services, Vec<Registered>)> {
    let services = db.services().await?;
    seed::bulk_cards(&services, count).await?;
    let pool = services.store().pool();
    let index = "CAST(SUBSTR(card_number, 2) AS INTEGER) % 50";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE cards SET social_state = CASE WHEN {index} = 0 THEN 'normal' ELSE 'collected' END \
         WHERE card_number LIKE 'Z%'"
    )))
    .execute(pool)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE persons SET employer_uscc = $1 WHERE id IN \
         (SELECT person_id FROM cards WHERE card_number LIKE 'Z%' AND {index} <> 2)"
    )))
    .bind(uscc.to_owned())
    .execute(pool)
    .await?;
    let registered = seed::registered(&services).await?;
    if registered.len() as u64 != count {
        bail!(
            "{} generated persons read back, {count} written",
            registered.len()
        );
    }
    for (k, person) in registered.iter().enumerate() {
        if card_index(&person.card_number) != Some(k as u64) {
            bail!("generated card {} is not number {k}", person.card_number);
        }
    }
    Ok((services, registered))
}

#[allow(clippy::too_many_lines)]
async fn batch_on(db: &BenchDb, options: &Options, count: u64) -> anyhow::Result<Report> {
    let backend = db.backend_name();
    eprintln!("batch on {backend}: registering {count} employees …");
    let uscc = employer_uscc();
    let (services, registered) = registry(db, count, &uscc).await?;
    let employer = seed::account(&services, "bench.employer", &["employer"], Some(&uscc)).await?;
    let clerk = seed::account(
        &services,
        "bench.batchclerk",
        &["acceptor", "processor", "feedback"],
        None,
    )
    .await?;
    services.store().close().await;
    drop(services);
    let list = csv_list(&registered);
    let plan: Vec<(&'static str, &'static str)> = (0..count).map(planned).collect();
    let (want_succeeded, want_failed, want_activated) = planned_counts(count);
    drop(registered);

    let server = ServerProcess::start(&options.binary, db).await?;
    let api = Api::new(&server.base_url, 2);
    let employer_token =
        seed::sign_in_with_totp(&api, &employer.0, &employer.1, employer.2.as_deref()).await?;
    let clerk_token = seed::sign_in_with_totp(&api, &clerk.0, &clerk.1, clerk.2.as_deref()).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1800))
        .build()?;
    let rss_before = server.peak_rss();
    let rss_now = server.rss();
    let watch = RssWatch::start(server.pid);
    let cpu_before = server.cpu_time();
    let list_bytes = list.len();
    eprintln!(
        "  uploading a {count}-row list ({:.1} MB CSV) …",
        mb(list_bytes as u64)
    );

    let mut report = Report::timed("batch", backend, "rows", count, Duration::ZERO);
    let began = Instant::now();
    // 1. Upload.
    let form = reqwest::multipart::Form::new()
        .part(
            "authorization",
            reqwest::multipart::Part::bytes(LETTER_PDF.to_vec()).file_name("授权委托书.pdf"),
        )
        .part(
            "list",
            reqwest::multipart::Part::bytes(list).file_name("职工名单.csv"),
        );
    let response = client
        .post(format!("{}/api/v1/batches", server.base_url))
        .bearer_auth(&employer_token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .multipart(form)
        .send()
        .await
        .context("POST /api/v1/batches")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let uploaded = began.elapsed();
    let peak_after_upload = server.peak_rss();
    let rss_upload = watch.take();
    if status != StatusCode::CREATED
        || body.pointer("/progress/rows_total").and_then(Value::as_i64) != i64::try_from(count).ok()
    {
        server.stop().await?;
        report.error(format!("upload: {status} {}", short(&body)));
        return Ok(report);
    }
    let batch_no = body
        .get("batch_no")
        .and_then(Value::as_str)
        .context("no batch_no")?
        .to_owned();

    // 2. 受理.
    let accepted = api
        .post(
            &format!("/api/v1/batches/{batch_no}/accept"),
            Some(&clerk_token),
            &json!({}),
            &[],
        )
        .await
        .map_err(anyhow::Error::msg)
        .and_then(|a| {
            a.expect(StatusCode::OK, "accept")
                .map_err(anyhow::Error::msg)
        });
    let accepted_at = began.elapsed();
    if let Err(error) = accepted {
        server.stop().await?;
        report.error(format!("{error:#}"));
        return Ok(report);
    }

    // 3. Progress, until every row is decided.
    let mut polls = 0u64;
    let mut rss_max = 0u64;
    let last = loop {
        let answer = api
            .get(
                &format!("/api/v1/batches/{batch_no}"),
                Some(&employer_token),
            )
            .await
            .map_err(anyhow::Error::msg)
            .and_then(|a| {
                a.expect(StatusCode::OK, "progress")
                    .map_err(anyhow::Error::msg)
            });
        polls += 1;
        rss_max = rss_max.max(server.rss().unwrap_or(0));
        match answer {
            Ok(answer)
                if answer
                    .body
                    .pointer("/progress/finished")
                    .and_then(Value::as_bool)
                    == Some(true) =>
            {
                break Some(answer.body);
            }
            Ok(_) => {}
            Err(error) => {
                report.error(format!("{error:#}"));
                break None;
            }
        }
        if began.elapsed() > Duration::from_secs(3600) {
            report.error("the batch was not processed within an hour");
            break None;
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    let processed = began.elapsed();
    let peak_after_processing = server.peak_rss();
    let rss_processing = watch.take();
    let Some(last) = last else {
        server.stop().await?;
        return Ok(report);
    };
    let counts = |field: &str| {
        last.pointer(&format!("/progress/{field}"))
            .and_then(Value::as_i64)
    };
    for (field, want) in [
        ("rows_done", i64::try_from(count).unwrap_or(i64::MAX)),
        ("rows_succeeded", want_succeeded),
        ("rows_failed", want_failed),
        ("rows_activated", want_activated),
    ] {
        if counts(field) != Some(want) {
            report.error(format!(
                "progress {field} = {:?}, planned {want}",
                counts(field)
            ));
        }
    }

    // 4. The report.
    let response = client
        .get(format!(
            "{}/api/v1/batches/{batch_no}/report.xlsx",
            server.base_url
        ))
        .bearer_auth(&clerk_token)
        .send()
        .await
        .context("GET report.xlsx")?;
    let status = response.status();
    let bytes = response.bytes().await.context("report.xlsx")?;
    let elapsed = began.elapsed();
    let peak = server.peak_rss();
    let rss_report = watch.take();
    drop(watch);
    let cpu = server.cpu_time().zip(cpu_before).map(|(b, a)| b - a);
    server.stop().await?;

    if status == StatusCode::OK {
        match check_report(&bytes, &plan) {
            Ok(check) => {
                for mismatch in check.first_mismatches {
                    report.error(mismatch);
                }
                report.set("report_rows", check.rows);
                report.set("report_rows_unexpected", check.mismatches);
            }
            Err(error) => report.error(format!("report.xlsx: {error:#}")),
        }
    } else {
        report.error(format!("report.xlsx: {status}"));
    }
    let errors = std::mem::take(&mut report.error_samples);
    let error_count = report.errors;
    let mut done = Report::timed("batch", backend, "rows", count, elapsed)
        .with("upload_s", round3(uploaded.as_secs_f64()))
        .with("accept_s", round3((accepted_at - uploaded).as_secs_f64()))
        .with(
            "processing_s",
            round3((processed - accepted_at).as_secs_f64()),
        )
        .with("report_s", round3((elapsed - processed).as_secs_f64()))
        .with("list_mb", mb(list_bytes as u64))
        .with("report_mb", mb(bytes.len() as u64))
        .with("progress_polls", polls)
        .with("rss_before_upload_mb", rss_before.map_or(0.0, mb))
        .with("peak_after_upload_mb", peak_after_upload.map_or(0.0, mb))
        .with(
            "peak_after_processing_mb",
            peak_after_processing.map_or(0.0, mb),
        )
        .with("rss_max_sampled_mb", mb(rss_max))
        .with("rss_at_upload_mb", rss_now.map_or(0.0, mb))
        .with("rss_max_upload_mb", mb(rss_upload))
        .with("rss_max_processing_mb", mb(rss_processing))
        .with("rss_max_report_mb", mb(rss_report))
        .with("planned_activated", want_activated)
        .with("planned_failed", want_failed);
    if let Some(cpu) = cpu {
        done.set("server_cpu_s", round3(cpu.as_secs_f64()));
    }
    for (key, value) in report.extra {
        done.set(&key, value);
    }
    done.errors = error_count;
    done.error_samples = errors;
    done.peak_rss_mb = peak.map(mb);
    Ok(done)
}

/// The server's resident memory (`VmRSS`), read every 10 ms on a task of
/// its own: the highest reading of each phase.
struct RssWatch {
    max: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    fn start(pid: u32) -> Self {
        let max = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn({
            let max = std::sync::Arc::clone(&max);
            async move {
                loop {
                    if let Some(kb) = crate::server::proc_status_kb(pid, "VmRSS:") {
                        max.fetch_max(kb * 1024, std::sync::atomic::Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        Self { max, task }
    }

    /// The highest reading since the last call, in bytes.
    fn take(&self) -> u64 {
        self.max.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn short(body: &Value) -> String {
    body.to_string().chars().take(300).collect()
}

// ---------------------------------------------------------------------------
// The storage baseline

/// One chunk's writes, prepared before the clock starts.
struct PreparedChunk {
    groups: Vec<rows::ResultGroup>,
    first_line: i64,
    last_line: i64,
    activated: i64,
    succeeded: i64,
    failed: i64,
    listed: Value,
}

/// The same rows in the same tables through the same store functions:
/// the upload's transaction (the letter's upload row, the batch, every list
/// row sealed and blind-indexed, the audit entry), then per chunk of
/// [`CHUNK_ROWS`] rows one transaction (the rows' results, the cards
/// activated by compare-and-set, their card events, the batch's progress,
/// the audit entry listing the rows) with SQLite's page cache widened as
/// the server's chunk does. The sealing and the decisions are made before
/// the clock starts; nothing is read to decide.
#[allow(clippy::too_many_lines)]
async fn baseline_on(db: &BenchDb, count: u64) -> anyhow::Result<Report> {
    let backend = db.backend_name();
    eprintln!("batch baseline on {backend}: registering {count} employees …");
    let uscc = employer_uscc();
    let (services, registered) = registry(db, count, &uscc).await?;
    let keyring = services.keyring();
    let guide = services.current_guide().await?.guide;
    let batch_id = uuid::Uuid::new_v4().to_string();
    let upload_id = uuid::Uuid::new_v4().to_string();
    let list: Vec<NewBatchRow> = registered
        .iter()
        .enumerate()
        .map(|(k, person)| {
            let id = format!("{batch_id}:{k:010}");
            let line = i64::try_from(k + 2).unwrap_or(i64::MAX);
            let id_number = sscard_domain::identifiers::IdNumber::parse(&person.id_number)
                .expect("generated ID numbers are valid");
            let card = sscard_domain::identifiers::CardNumber::parse(&person.card_number)
                .expect("generated card numbers are valid");
            NewBatchRow {
                line_no: line,
                name: person.name.clone(),
                id_number_index: Some(keyring.blind_index(ID_NUMBER_INDEX, id_number.as_str())),
                id_number_sealed: Some(keyring.encrypt_str(
                    id_number.as_str(),
                    rows::ID_NUMBER_SEALED.aad(&id).as_bytes(),
                )),
                id_number_masked: id_number.masked(),
                card_number: Some(person.card_number.clone()),
                card_masked: card.masked(),
                bank_requested: false,
                problem_code: None,
                problem_reason: None,
                id,
            }
        })
        .collect();
    let mut chunks = Vec::new();
    for part in list.chunks(CHUNK_ROWS) {
        let mut groups: BTreeMap<&'static str, rows::ResultGroup> = BTreeMap::new();
        let (mut activated, mut succeeded, mut failed) = (0, 0, 0);
        let mut listed = Vec::with_capacity(part.len());
        for row in part {
            let k = u64::try_from(row.line_no - 2).unwrap_or(0);
            let (result, code) = planned(k);
            let is_activated = code == sscard_domain::batch::ACTIVATED;
            if result == "成功" {
                succeeded += 1;
            } else {
                failed += 1;
            }
            activated += i64::from(is_activated);
            listed.push(json!([row.line_no, code]));
            groups
                .entry(code)
                .or_insert_with(|| rows::ResultGroup {
                    status: if result == "成功" {
                        SUCCEEDED
                    } else {
                        FAILED
                    },
                    code: code.to_owned(),
                    reason: format!("{code}：压测基线的原因说明（与服务器写入的长度相当）。"),
                    activated: is_activated,
                    rows: Vec::new(),
                })
                .rows
                .push(row.id.clone());
        }
        chunks.push(PreparedChunk {
            groups: groups.into_values().collect(),
            first_line: part.first().map_or(0, |r| r.line_no),
            last_line: part.last().map_or(0, |r| r.line_no),
            activated,
            succeeded,
            failed,
            listed: Value::Array(listed),
        });
    }
    drop(registered);
    let actor = "system:batch".to_owned();
    let entry = |action: &'static str, detail: Value| AuditEntry {
        occurred_at: Utc::now(),
        actor: actor.clone(),
        actor_role: "processor".to_owned(),
        client_address: "-".to_owned(),
        action,
        object: format!("batch:{batch_id}"),
        outcome: Outcome::Succeeded,
        detail,
    };
    eprintln!("  writing …");

    let began = Instant::now();
    let now = Utc::now();
    let mut tx = services.store().begin().await?;
    rows::widen_cache(&mut tx).await?;
    sscard::store::cases::insert_upload(
        &mut tx,
        &UploadRow {
            id: upload_id.clone(),
            owner: "account:bench-baseline".to_owned(),
            content_type: "application/pdf".to_owned(),
            size_bytes: i64::try_from(LETTER_PDF.len()).unwrap_or(0),
            digest_sm3: "0".repeat(64),
            file_name: "授权委托书.pdf".to_owned(),
            case_id: None,
            created_at: now,
        },
    )
    .await?;
    rows::insert_batch(
        &mut tx,
        &rows::BatchRow {
            id: batch_id.clone(),
            batch_no: "PL-20261127-900001".to_owned(),
            item_code: guide.item_code.clone(),
            implementation_code: guide.implementation_code.clone(),
            guide_version: i64::from(guide.version),
            employer_uscc: uscc.clone(),
            employer_name: "压测单位".to_owned(),
            submitted_by: "account:bench-baseline".to_owned(),
            letter_upload_id: upload_id,
            letter_status: "submitted".to_owned(),
            letter_reason: None,
            list_file_name: "职工名单.csv".to_owned(),
            list_format: "CSV".to_owned(),
            list_encoding: "UTF-8".to_owned(),
            list_digest_sm3: "0".repeat(64),
            header_row: 1,
            ignored_columns: "[]".to_owned(),
            state: "awaiting_processing".to_owned(),
            outcome: None,
            outcome_code: None,
            outcome_reason: None,
            rows_total: i64::try_from(count).unwrap_or(i64::MAX),
            rows_done: 0,
            rows_succeeded: 0,
            rows_failed: 0,
            rows_activated: 0,
            bank_requests: 0,
            chunks_done: 0,
            received_at: now,
            step_started_at: Some(now),
            step_due: None,
            step_due_provisional: false,
            case_due: None,
            processing_started_at: Some(now),
            processing_finished_at: None,
            delivered_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    for part in list.chunks(1000) {
        rows::insert_rows(&mut tx, &batch_id, part).await?;
    }
    audit::append(&mut tx, &entry("batch.submit", json!({ "rows": count }))).await?;
    rows::narrow_cache(&mut tx).await?;
    tx.commit().await?;
    let uploaded = began.elapsed();
    drop(list);

    let mut rows_done = 0;
    for chunk in &chunks {
        let now = Utc::now();
        let mut tx = services.store().begin().await?;
        rows::widen_cache(&mut tx).await?;
        let range = rows::ChunkRange {
            batch_id: batch_id.clone(),
            first_line: chunk.first_line,
            last_line: chunk.last_line,
        };
        rows::write_results(&mut tx, &chunk.groups, chunk.first_line, now).await?;
        let changed = rows::activate_chunk_cards(
            &mut tx,
            &range,
            chunk.first_line,
            sscard_domain::batch::ACTIVATED,
            ("collected", "normal"),
            now,
        )
        .await?;
        let events = rows::insert_chunk_events(
            &mut tx,
            &range,
            chunk.first_line,
            sscard_domain::batch::ACTIVATED,
            &rows::ChunkEvent {
                occurred_at: now,
                from_state: "collected",
                to_state: "normal",
                event: "activate",
                reason_prefix: "单位批量启用 PL-20261127-900001".to_owned(),
                actor: "system:batch",
                actor_role: "processor",
            },
        )
        .await?;
        if i64::try_from(changed).ok() != Some(chunk.activated)
            || i64::try_from(events).ok() != Some(chunk.activated)
        {
            bail!(
                "baseline chunk {}: {changed} cards and {events} events for {} activations",
                chunk.first_line,
                chunk.activated
            );
        }
        let (done, _, _) = rows::add_progress(
            &mut tx,
            &batch_id,
            chunk.succeeded,
            chunk.failed,
            chunk.activated,
            now,
        )
        .await?;
        rows_done = done;
        audit::append(
            &mut tx,
            &entry(
                "batch.process_chunk",
                json!({ "chunk": chunk.first_line, "rows": chunk.listed, "activated": chunk.activated }),
            ),
        )
        .await?;
        rows::narrow_cache(&mut tx).await?;
        tx.commit().await?;
    }
    let elapsed = began.elapsed();
    services.store().close().await;
    let mut report = Report::timed("batch-baseline", backend, "rows", count, elapsed)
        .with("insert_s", round3(uploaded.as_secs_f64()))
        .with("chunks_s", round3((elapsed - uploaded).as_secs_f64()))
        .with("chunk_rows", CHUNK_ROWS);
    if u64::try_from(rows_done).ok() != Some(count) {
        report.error(format!("the baseline decided {rows_done} of {count} rows"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(i: u64) -> Registered {
        Registered {
            card_number: format!("Z{i:08}"),
            id_number: "450203195001011200".to_owned(),
            name: "韦桂秀".to_owned(),
        }
    }

    #[test]
    fn the_plan_mixes_outcomes_per_fifty_rows() {
        assert_eq!(planned(0), ("成功", "ALREADY_ACTIVE"));
        assert_eq!(planned(51), ("失败", "NAME_MISMATCH"));
        assert_eq!(planned(102), ("失败", "NOT_EMPLOYEE_OF_EMPLOYER"));
        assert_eq!(planned(3), ("成功", "ACTIVATED"));
        assert_eq!(planned_counts(100), (96, 4, 94));
        assert_eq!(card_index("Z00000123"), Some(123));
        assert_eq!(card_index("A00000123"), None);
    }

    #[test]
    fn the_list_changes_only_the_planned_names() {
        let list = String::from_utf8(csv_list(&[person(0), person(1), person(2)])).unwrap();
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines[0], "姓名,社会保障号码,社会保障卡卡号,手机号");
        assert_eq!(lines[1], "韦桂秀,450203195001011200,Z00000000,13900000000");
        assert!(lines[2].starts_with("韦桂秀错,"), "{}", lines[2]);
        assert!(lines[3].starts_with("韦桂秀,"));
        assert_eq!(lines.len(), 4);
        assert!(sscard_domain::identifiers::uscc_check_char(&employer_uscc()[..17]).is_some());
    }

    fn report(rows: &[(f64, &str, &str)]) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("办理结果").unwrap();
        let header = [
            "原表行号",
            "姓名",
            "社会保障号码",
            "社会保障卡卡号",
            "办理结果",
            "原因代码",
            "原因说明",
            "金融功能",
        ];
        for (c, h) in header.iter().enumerate() {
            sheet
                .write_string(0, u16::try_from(c).unwrap(), *h)
                .unwrap();
        }
        for (r, (line, result, code)) in rows.iter().enumerate() {
            let r = u32::try_from(r + 1).unwrap();
            sheet.write_number(r, 0, *line).unwrap();
            sheet.write_string(r, 1, "韦桂秀").unwrap();
            sheet.write_string(r, 4, *result).unwrap();
            sheet.write_string(r, 5, *code).unwrap();
        }
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn a_report_matching_the_plan_passes() {
        let plan = [planned(0), planned(1), planned(3)];
        let bytes = report(&[
            (2.0, "成功", "ALREADY_ACTIVE"),
            (3.0, "失败", "NAME_MISMATCH"),
            (4.0, "成功", "ACTIVATED"),
        ]);
        let check = check_report(&bytes, &plan).unwrap();
        assert_eq!(check.rows, 3);
        assert_eq!(check.mismatches, 0, "{:?}", check.first_mismatches);
    }

    #[test]
    fn a_wrong_outcome_a_wrong_line_or_a_missing_row_is_counted() {
        let plan = [planned(0), planned(1), planned(3)];
        let wrong_code = report(&[
            (2.0, "成功", "ALREADY_ACTIVE"),
            (3.0, "成功", "ACTIVATED"),
            (4.0, "成功", "ACTIVATED"),
        ]);
        assert_eq!(check_report(&wrong_code, &plan).unwrap().mismatches, 1);
        let wrong_line = report(&[
            (2.0, "成功", "ALREADY_ACTIVE"),
            (4.0, "失败", "NAME_MISMATCH"),
            (5.0, "成功", "ACTIVATED"),
        ]);
        assert_eq!(check_report(&wrong_line, &plan).unwrap().mismatches, 2);
        let missing = report(&[
            (2.0, "成功", "ALREADY_ACTIVE"),
            (3.0, "失败", "NAME_MISMATCH"),
        ]);
        let check = check_report(&missing, &plan).unwrap();
        assert_eq!((check.rows, check.mismatches), (2, 1));
        assert!(check_report(b"not a workbook", &plan).is_err());
    }
}
