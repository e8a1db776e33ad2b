//! The batch files exchanged with cooperating banks (issue 7), on SQLite and
//! PostgreSQL: export → a return file made by a simulated bank from the
//! exported file (with rejections) → import, every card in the right state;
//! never a card twice; an interrupted export redone; a batch re-sent;
//! transport encryption; importing twice changes nothing; a wrong digest, a
//! wrong count or another file under the same number refused whole; records
//! that cannot be applied reported; reconciliation both ways; the `sscard
//! bank` commands as an operator runs them; the documented examples.

mod common;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::DateTime;
use common::bank::{BankCard, CCB_BIN, account};
use common::{TestApp, TestDb};
use sscard::bankfile::{
    self, FileKind, FileReader, FileWriter, Header, SimulatedBank, simulate_return,
    simulated_account,
};
use sscard::service::bank_exchange::{ExportOptions, ImportOptions};
use sscard::service::{Actor, ServiceError, Services};
use sscard_crypto::TransportKey;
use sscard_domain::registry::BankCode;

fn operator() -> Actor {
    Actor::operator("test")
}

async fn export(services: &Services, out: &Path) -> sscard::service::bank_exchange::ExportSummary {
    services
        .export_bank_batch(
            &ExportOptions {
                bank: "ICBC".to_owned(),
                out: out.to_owned(),
                resend: None,
                transport_key: None,
                max_records: None,
            },
            &operator(),
        )
        .await
        .expect("the export")
}

async fn import(
    services: &Services,
    file: &Path,
) -> Result<sscard::service::bank_exchange::ImportSummary, ServiceError> {
    services
        .import_bank_return(
            &ImportOptions {
                file: file.to_owned(),
                transport_key: None,
                report: None,
            },
            &operator(),
        )
        .await
}

/// The bank's answer to an export file: every `reject_every`-th rejected.
fn bank_answers(export: &Path, out: &Path, reject_every: u64) {
    let input = BufReader::new(std::fs::File::open(export).unwrap());
    let output = std::fs::File::create(out).unwrap();
    simulate_return(
        input,
        output,
        &SimulatedBank {
            bin: "621226".to_owned(),
            reject_every,
            created_at: DateTime::parse_from_rfc3339("2026-11-28T09:00:00+08:00").unwrap(),
        },
    )
    .expect("the simulated bank reads the export");
}

fn records(file: &Path) -> Vec<bankfile::Record> {
    let mut reader = FileReader::open(BufReader::new(std::fs::File::open(file).unwrap())).unwrap();
    let mut all = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        all.push(record);
    }
    all
}

async fn count(services: &Services, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(services.store().pool())
        .await
        .unwrap()
}

/// A registry with banks and: 30 new ICBC cards (to export), 3 new CCB
/// cards, an ICBC card with an account, a cancelled new ICBC card.
async fn registry(app: &TestApp) -> Services {
    app.register_test_banks().await;
    let services = app.db().services().await;
    services
        .bulk_new_cards("ICBC", 1000, 30, &operator())
        .await
        .unwrap();
    services
        .bulk_new_cards("CCB", 2000, 3, &operator())
        .await
        .unwrap();
    app.bank_card(&BankCard {
        account: Some(account("621226", 77)),
        ..BankCard::new("45022119800101771", "A77777777")
    })
    .await;
    app.bank_card(&BankCard {
        social: "cancelled",
        ..BankCard::new("45022119800101772", "A77777778")
    })
    .await;
    services
}

#[tokio::test]
async fn export_then_a_bank_return_with_rejections_then_import_leaves_every_card_right() {
    let app = TestApp::spawn().await;
    let services = registry(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let export_file = dir.path().join("export.txt");

    let summary = export(&services, &export_file).await;
    let batch_no = summary.batch_no.clone().expect("a batch");
    assert_eq!(
        summary.records, 30,
        "the 30 new ICBC cards, none of the others"
    );
    assert!(
        batch_no.starts_with("ICBC-") && batch_no.ends_with("-0001"),
        "{batch_no}"
    );
    let (header, verified) =
        bankfile::verify(BufReader::new(std::fs::File::open(&export_file).unwrap())).unwrap();
    assert_eq!(header.kind, FileKind::Export);
    assert_eq!(header.bank.as_str(), "ICBC");
    assert_eq!(header.record_count, 30);
    assert_eq!(Some(verified.digest), summary.digest);
    let exported = records(&export_file);
    assert!(
        exported
            .iter()
            .all(|r| r.get(FileKind::Export, "card_number").starts_with('Z'))
    );
    let first = &exported[0];
    assert_eq!(
        first.get(FileKind::Export, "id_number").len(),
        18,
        "the full ID number goes to the bank"
    );
    assert!(
        first
            .get(FileKind::Export, "address")
            .starts_with("广西柳州市鱼峰区")
    );
    assert!(["1", "2"].contains(&first.get(FileKind::Export, "sex")));
    assert!(!dir.path().join("export.txt.partial").exists());

    // Nothing new: no second batch, no card twice.
    let again = export(&services, &dir.path().join("again.txt")).await;
    assert_eq!(again.batch_no, None);
    assert!(!dir.path().join("again.txt").exists());

    // The bank answers: every 4th rejected.
    let return_file = dir.path().join("return.txt");
    bank_answers(&export_file, &return_file, 4);
    let imported = import(&services, &return_file).await.unwrap();
    assert_eq!(imported.records, 30);
    assert_eq!(
        (
            imported.accepted,
            imported.rejected,
            imported.unchanged,
            imported.refused
        ),
        (23, 7, 0, 0)
    );
    assert!(!imported.already_imported);

    // Every card in the right state.
    for record in &exported {
        let number = record.get(FileKind::Export, "card_number");
        let card = app.card_view(number).await;
        assert_eq!(
            card.financial_state.code, "not_activated",
            "activation is at the counter only"
        );
        if record.seq % 4 == 0 {
            assert_eq!(card.bank_account_masked, None, "{number} rejected");
        } else {
            let account = simulated_account("621226", number);
            let masked = sscard_domain::identifiers::BankCardNumber::parse(&account)
                .unwrap()
                .masked();
            assert_eq!(
                card.bank_account_masked.as_deref(),
                Some(masked.as_str()),
                "{number} accepted"
            );
        }
    }
    let rejections = services.bank_rejections("ICBC").await.unwrap();
    assert_eq!(rejections.len(), 7);
    assert!(rejections.iter().all(|r| r.export_batch_no == batch_no));
    let codes: std::collections::BTreeSet<&str> =
        rejections.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes.len(), 3, "{codes:?}");
    assert!(
        rejections.iter().any(|r| r.code == "AML_REVIEW_FAILED"
            && r.code_label.as_deref() == Some("反洗钱审查未通过"))
    );
    // The accounts are sealed: the plaintext is nowhere in the cards table.
    let account = simulated_account("621226", exported[0].get(FileKind::Export, "card_number"));
    let plain = count(&services, &format!("SELECT COUNT(*) FROM cards WHERE bank_account_sealed LIKE '%{account}%' OR bank_account_masked = '{account}'")).await;
    assert_eq!(plain, 0);

    // The report: one line per record.
    let report = std::fs::read_to_string(&imported.report).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 31, "{report}");
    assert!(lines[0].starts_with("\u{feff}seq,card_number,result,code,message"));
    assert_eq!(lines.iter().filter(|l| l.contains(",rejected,")).count(), 7);
    assert!(
        !report.contains(&exported[0].get(FileKind::Export, "id_number").to_owned()),
        "no ID numbers in the report"
    );

    // The same file again: nothing changes, not even the audit trail.
    let audits = count(&services, "SELECT COUNT(*) FROM audit_log").await;
    let before = count(
        &services,
        "SELECT COUNT(*) FROM bank_card_exchange WHERE status = 'accepted'",
    )
    .await;
    let twice = import(&services, &return_file).await.unwrap();
    assert!(twice.already_imported);
    assert_eq!(
        (
            twice.accepted,
            twice.rejected,
            twice.unchanged,
            twice.refused
        ),
        (0, 0, 30, 0)
    );
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM audit_log").await,
        audits
    );
    assert_eq!(
        count(
            &services,
            "SELECT COUNT(*) FROM bank_card_exchange WHERE status = 'accepted'"
        )
        .await,
        before
    );

    // The admin API shows where the bank's cards stand.
    let detail = services.bank_exchange("ICBC").await.unwrap();
    assert_eq!(
        (
            detail.awaiting_export,
            detail.exported,
            detail.accepted,
            detail.rejected
        ),
        (0, 0, 23, 7)
    );
    assert_eq!(detail.batches.len(), 2);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("sscard_bank_exchange_cards{bank=\"ICBC\",status=\"accepted\"} 23"),
        "{metrics}"
    );
    assert!(metrics.contains("sscard_bank_exchange_cards{bank=\"ICBC\",status=\"rejected\"} 7"));
    app.stop().await;
}

#[tokio::test]
async fn a_file_with_a_wrong_digest_or_count_or_a_different_file_under_the_same_number_is_refused_whole()
 {
    let app = TestApp::spawn().await;
    let services = registry(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let export_file = dir.path().join("export.txt");
    export(&services, &export_file).await;
    let good = dir.path().join("return.txt");
    bank_answers(&export_file, &good, 0);
    let text = std::fs::read_to_string(&good).unwrap();
    let audits = count(&services, "SELECT COUNT(*) FROM audit_log").await;

    // One digit of an account changed in transit.
    let corrupt = dir.path().join("corrupt.txt");
    let line = text.lines().nth(5).unwrap();
    let changed = line.replacen("\tA\t6212269", "\tA\t6212268", 1);
    assert_ne!(line, changed);
    std::fs::write(&corrupt, text.replacen(line, &changed, 1)).unwrap();
    let error = import(&services, &corrupt).await.unwrap_err();
    assert_eq!(error.code(), "FILE_DIGEST_MISMATCH");
    assert!(error.to_string().contains("整个文件不予处理"), "{error}");

    // The last record missing (the header and trailer left as they were).
    let short = dir.path().join("short.txt");
    let last = text.lines().rev().nth(1).unwrap();
    std::fs::write(&short, text.replacen(&format!("{last}\n"), "", 1)).unwrap();
    assert_eq!(
        import(&services, &short).await.unwrap_err().code(),
        "FILE_COUNT_MISMATCH"
    );
    // Cut off before the trailer.
    let cut = dir.path().join("cut.txt");
    std::fs::write(&cut, &text[..text.rfind("T\t").unwrap()]).unwrap();
    assert_eq!(
        import(&services, &cut).await.unwrap_err().code(),
        "FILE_TRAILER_MISSING"
    );
    // An export file is not a return file.
    assert_eq!(
        import(&services, &export_file).await.unwrap_err().code(),
        "FILE_KIND_WRONG"
    );

    // Nothing was applied, nothing was recorded.
    assert_eq!(
        count(
            &services,
            "SELECT COUNT(*) FROM bank_card_exchange WHERE status <> 'exported'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &services,
            "SELECT COUNT(*) FROM bank_batches WHERE kind = 'return'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &services,
            "SELECT COUNT(*) FROM cards WHERE bank_account_sealed IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM audit_log").await,
        audits
    );

    // The good file applies; then another file under its number is refused.
    import(&services, &good).await.unwrap();
    let mut reader = FileReader::open(BufReader::new(std::fs::File::open(&good).unwrap())).unwrap();
    let header = reader.header().clone();
    let other = dir.path().join("other.txt");
    let mut writer = FileWriter::new(
        std::fs::File::create(&other).unwrap(),
        &Header {
            record_count: 29,
            ..header
        },
    )
    .unwrap();
    let mut n = 0;
    while let Some(record) = reader.next_record().unwrap() {
        if n < 29 {
            let fields: Vec<&str> = record.fields.iter().map(String::as_str).collect();
            writer.record(&fields).unwrap();
        }
        n += 1;
    }
    writer.finish().unwrap();
    let error = import(&services, &other).await.unwrap_err();
    assert_eq!(error.code(), "RETURN_BATCH_CONFLICT");
    app.stop().await;
}

#[tokio::test]
async fn records_that_cannot_be_applied_are_reported_and_the_rest_applied() {
    let app = TestApp::spawn().await;
    let services = registry(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let export_file = dir.path().join("export.txt");
    let batch_no = export(&services, &export_file).await.batch_no.unwrap();
    let exported = records(&export_file);
    let card = |i: usize| exported[i].get(FileKind::Export, "card_number").to_owned();
    let id = |i: usize| exported[i].get(FileKind::Export, "id_number").to_owned();
    let ccb_card = "Z00002000";
    let lines: Vec<Vec<String>> = vec![
        vec![
            card(0),
            id(0),
            "A".into(),
            simulated_account("621226", &card(0)),
            String::new(),
            String::new(),
        ],
        // A CCB account for an ICBC card.
        vec![
            card(1),
            id(1),
            "A".into(),
            account(CCB_BIN, 1),
            String::new(),
            String::new(),
        ],
        // A digit wrong: the Luhn check fails.
        vec![
            card(2),
            id(2),
            "A".into(),
            luhn_broken(&account("621226", 3)),
            String::new(),
            String::new(),
        ],
        // Someone else's ID number.
        vec![
            card(3),
            id(4),
            "A".into(),
            simulated_account("621226", &card(3)),
            String::new(),
            String::new(),
        ],
        // The account of card 0 again, for card 5.
        vec![
            card(5),
            id(5),
            "A".into(),
            simulated_account("621226", &card(0)),
            String::new(),
            String::new(),
        ],
        // Unknown card, another bank's card, a card never exported.
        vec![
            "Y00000001".into(),
            id(6),
            "A".into(),
            simulated_account("621226", "Y00000001"),
            String::new(),
            String::new(),
        ],
        vec![
            ccb_card.into(),
            id(6),
            "R".into(),
            String::new(),
            "OTHER".into(),
            String::new(),
        ],
        vec![
            "A77777777".into(),
            common::valid_id_number("45022119800101771"),
            "R".into(),
            String::new(),
            "OTHER".into(),
            String::new(),
        ],
        // A bad reason code and a bad result.
        vec![
            card(7),
            id(7),
            "R".into(),
            String::new(),
            "aml".into(),
            String::new(),
        ],
        vec![
            card(8),
            id(8),
            "X".into(),
            String::new(),
            String::new(),
            String::new(),
        ],
        // A rejection of card 0, accepted above.
        vec![
            card(0),
            id(0),
            "R".into(),
            String::new(),
            "DUPLICATE_ACCOUNT".into(),
            String::new(),
        ],
        // A rejection without text gets the code's label.
        vec![
            card(9),
            id(9),
            "R".into(),
            String::new(),
            "INFO_INCOMPLETE".into(),
            String::new(),
        ],
    ];
    let file = dir.path().join("mixed.txt");
    let mut writer = FileWriter::new(
        std::fs::File::create(&file).unwrap(),
        &Header {
            kind: FileKind::Return,
            batch_no: "ICBC-MIXED-1".into(),
            bank: BankCode::parse("ICBC").unwrap(),
            record_count: lines.len() as u64,
            created_at: DateTime::parse_from_rfc3339("2026-11-28T09:00:00+08:00").unwrap(),
            answers_batch: Some(batch_no),
        },
    )
    .unwrap();
    for line in &lines {
        let fields: Vec<&str> = line.iter().map(String::as_str).collect();
        writer.record(&fields).unwrap();
    }
    writer.finish().unwrap();
    let summary = import(&services, &file).await.unwrap();
    assert_eq!(
        (summary.accepted, summary.rejected, summary.refused),
        (1, 1, 10)
    );
    let report = std::fs::read_to_string(&summary.report).unwrap();
    let results: Vec<(String, String)> = report
        .lines()
        .skip(1)
        .map(|line| {
            let parts: Vec<&str> = line.split(',').collect();
            (parts[2].to_owned(), parts[3].to_owned())
        })
        .collect();
    let expected = [
        ("accepted", ""),
        ("refused", "ACCOUNT_BIN_MISMATCH"),
        ("refused", "BANK_CARD_CHECKSUM"),
        ("refused", "CARD_HOLDER_MISMATCH"),
        ("refused", "ACCOUNT_TAKEN"),
        ("refused", "CARD_NOT_FOUND"),
        ("refused", "CARD_OF_OTHER_BANK"),
        ("refused", "CARD_NOT_EXPORTED"),
        ("refused", "REJECTION_CODE_FORMAT"),
        ("refused", "RESULT_INVALID"),
        ("refused", "ALREADY_ACCEPTED"),
        ("rejected", "INFO_INCOMPLETE"),
    ];
    let got: Vec<(&str, &str)> = results
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(got, expected, "{report}");
    assert_eq!(app.card_view(&card(1)).await.bank_account_masked, None);
    assert!(app.card_view(&card(0)).await.bank_account_masked.is_some());
    let rejected = services.bank_rejections("ICBC").await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].text, "开户资料不全或有误");
    app.stop().await;
}

#[tokio::test]
async fn an_interrupted_export_is_redone_a_batch_is_resent_and_files_travel_encrypted() {
    let app = TestApp::spawn().await;
    let services = registry(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let key = TransportKey::generate();
    let first = dir.path().join("first.sm4");
    let summary = services
        .export_bank_batch(
            &ExportOptions {
                bank: "ICBC".into(),
                out: first.clone(),
                resend: None,
                transport_key: Some(key.clone()),
                max_records: Some(20),
            },
            &operator(),
        )
        .await
        .unwrap();
    assert_eq!(summary.records, 20);
    assert!(summary.encrypted);
    let bytes = std::fs::read(&first).unwrap();
    assert!(bytes.starts_with(b"SSCSM4G1"), "encrypted");
    assert!(!String::from_utf8_lossy(&bytes).contains("SSCARD-BANK"));
    let plain = dir.path().join("first.txt");
    let mut reader =
        sscard_crypto::Sm4StreamReader::new(&key, std::fs::File::open(&first).unwrap()).unwrap();
    std::io::copy(&mut reader, &mut std::fs::File::create(&plain).unwrap()).unwrap();
    assert_eq!(
        bankfile::verify(BufReader::new(std::fs::File::open(&plain).unwrap()))
            .unwrap()
            .1
            .digest,
        summary.digest.clone().unwrap()
    );

    // A crash after the cards were listed, before the file was finished:
    // the next run finishes that batch, with the same cards, before any new one.
    let batch_no = summary.batch_no.clone().unwrap();
    sqlx::query("UPDATE bank_batches SET state = 'claimed' WHERE batch_no = $1")
        .bind(batch_no.clone())
        .execute(services.store().pool())
        .await
        .unwrap();
    let redo = dir.path().join("redo.txt");
    let redone = export(&services, &redo).await;
    assert_eq!(redone.batch_no.as_deref(), Some(batch_no.as_str()));
    assert!(redone.resumed);
    assert_eq!(redone.records, 20);
    assert_eq!(redone.digest, summary.digest, "the same file");
    // Then the remaining 10 in a new batch, and nothing after that.
    let rest = export(&services, &dir.path().join("rest.txt")).await;
    assert_eq!(rest.records, 10);
    assert!(rest.batch_no.unwrap().ends_with("-0002"));
    let numbers: Vec<String> = records(&redo)
        .iter()
        .chain(records(&dir.path().join("rest.txt")).iter())
        .map(|r| r.get(FileKind::Export, "card_number").to_owned())
        .collect();
    let unique: std::collections::BTreeSet<&String> = numbers.iter().collect();
    assert_eq!(unique.len(), 30, "every card once");

    // Re-sending the first batch writes it again.
    let resent = services
        .export_bank_batch(
            &ExportOptions {
                bank: "ICBC".into(),
                out: dir.path().join("resent.txt"),
                resend: Some(batch_no.clone()),
                transport_key: None,
                max_records: None,
            },
            &operator(),
        )
        .await
        .unwrap();
    assert!(resent.resent);
    assert_eq!(
        (resent.batch_no, resent.records, resent.digest),
        (Some(batch_no), 20, summary.digest)
    );
    assert_eq!(
        count(&services, "SELECT MAX(sends) FROM bank_batches").await,
        3
    );
    let unknown = services
        .export_bank_batch(
            &ExportOptions {
                bank: "ICBC".into(),
                out: dir.path().join("x.txt"),
                resend: Some("ICBC-19990101-0001".into()),
                transport_key: None,
                max_records: None,
            },
            &operator(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "BATCH_NOT_FOUND");

    // An encrypted return needs its key; with it, it imports.
    let answer = dir.path().join("answer.txt");
    bank_answers(&plain, &answer, 0);
    let sealed = dir.path().join("answer.sm4");
    let mut writer =
        sscard_crypto::Sm4StreamWriter::new(&key, std::fs::File::create(&sealed).unwrap()).unwrap();
    std::io::copy(&mut std::fs::File::open(&answer).unwrap(), &mut writer).unwrap();
    writer.finish().unwrap();
    assert_eq!(
        import(&services, &sealed).await.unwrap_err().code(),
        "TRANSPORT_KEY_REQUIRED"
    );
    let wrong = services
        .import_bank_return(
            &ImportOptions {
                file: sealed.clone(),
                transport_key: Some(TransportKey::generate()),
                report: None,
            },
            &operator(),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), "FILE_DECRYPT_FAILED");
    let imported = services
        .import_bank_return(
            &ImportOptions {
                file: sealed,
                transport_key: Some(key),
                report: None,
            },
            &operator(),
        )
        .await
        .unwrap();
    assert_eq!(imported.accepted, 20);
    app.stop().await;
}

#[tokio::test]
async fn reconciliation_reports_every_mismatch_both_ways() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let services = app.db().services().await;
    let teller = app.teller_of("teller.icbc", "ICBC").await;
    // Four active ICBC cards with accounts, one not active, one CCB card.
    let mut ids = Vec::new();
    for i in 0..5u32 {
        let number = format!("A6000000{i}");
        let id = app
            .bank_card(&BankCard {
                account: Some(account("621226", 600 + i)),
                ..BankCard::new(&format!("4502211980021{i}00{i}"), &number)
            })
            .await;
        ids.push((number, id));
    }
    for (number, id) in &ids[..4] {
        let (status, body) = app
            .post_as(
                &teller.token,
                "/api/v1/bank/activations",
                &serde_json::json!({ "card_number": number, "id_number": id, "holder_present": true, "id_verified_by": "visual" }),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    app.bank_card(&BankCard {
        bank: "CCB",
        account: Some(account(CCB_BIN, 9)),
        ..BankCard::new("45022119800301009", "A60000009")
    })
    .await;
    // The bank's list: card 0 right, card 1 with another account, card 4
    // (not active here), an unknown card, the CCB card; card 2 and 3 missing.
    let rows = [
        ("A60000000", account("621226", 600)),
        ("A60000001", account("621226", 999)),
        ("A60000004", account("621226", 604)),
        ("A69999999", account("621226", 1)),
        ("A60000009", account(CCB_BIN, 9)),
        ("BAD", "123".to_owned()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("activated.txt");
    let mut writer = FileWriter::new(
        std::fs::File::create(&file).unwrap(),
        &Header {
            kind: FileKind::Activated,
            batch_no: "ICBC-ACT-20261130".into(),
            bank: BankCode::parse("ICBC").unwrap(),
            record_count: rows.len() as u64,
            created_at: DateTime::parse_from_rfc3339("2026-11-30T08:00:00+08:00").unwrap(),
            answers_batch: None,
        },
    )
    .unwrap();
    for (number, account) in &rows {
        writer.record(&[number, account, "2026-11-28"]).unwrap();
    }
    writer.finish().unwrap();
    let summary = services
        .reconcile_bank("ICBC", &file, None, &operator())
        .await
        .unwrap();
    assert_eq!((summary.records, summary.matched), (6, 1));
    assert_eq!(
        summary.mismatches,
        vec![
            ("NOT_IN_REGISTRY", 1),
            ("OTHER_BANK_IN_REGISTRY", 1),
            ("NOT_ACTIVE_IN_REGISTRY", 1),
            ("ACCOUNT_DIFFERS", 1),
            ("ONLY_IN_REGISTRY", 2),
            ("RECORD_INVALID", 1),
        ]
    );
    let report = std::fs::read_to_string(&summary.report).unwrap();
    assert!(
        report.contains("registry,,A60000002,ONLY_IN_REGISTRY"),
        "{report}"
    );
    assert!(report.contains("registry,,A60000003,ONLY_IN_REGISTRY"));
    assert!(report.contains("bank,2,A60000001,ACCOUNT_DIFFERS"));
    assert!(
        !report.contains(&account("621226", 999)),
        "accounts masked in the report"
    );
    let error = services
        .reconcile_bank("CCB", &file, None, &operator())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "FILE_BANK_MISMATCH");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The commands, as an operator runs them
// ---------------------------------------------------------------------------

fn sscard(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn the_bank_commands_export_import_and_reconcile() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let db = app.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let p = |name: &str| path(name).to_string_lossy().into_owned();

    let output = sscard(
        &db,
        &["bank", "demo-cards", "--bank", "ICBC", "--count", "12"],
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = sscard(&db, &["bank", "transport-key", &p("icbc.key")]);
    assert!(output.status.success(), "{}", text(&output));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(path("icbc.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let output = sscard(
        &db,
        &[
            "bank",
            "export",
            "--bank",
            "ICBC",
            "--out",
            &p("e.sm4"),
            "--encrypt-key-file",
            &p("icbc.key"),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("12 条记录"), "{}", text(&output));
    let output = sscard(
        &db,
        &[
            "bank",
            "simulate-return",
            &p("e.sm4"),
            "--out",
            &p("r.txt"),
            "--reject-every",
            "5",
            "--decrypt-key-file",
            &p("icbc.key"),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = sscard(&db, &["bank", "import", &p("r.txt")]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("开户成功 10 条，拒绝开户 2 条"),
        "{}",
        text(&output)
    );
    let output = sscard(&db, &["bank", "import", &p("r.txt")]);
    assert!(output.status.success());
    assert!(
        text(&output).contains("此前已导入，本次未作任何变更"),
        "{}",
        text(&output)
    );

    // A corrupted file: refused, non-zero exit, the code named.
    let corrupted = std::fs::read_to_string(path("r.txt"))
        .unwrap()
        .replacen("\tA\t", "\tA\t ", 1);
    std::fs::write(path("bad.txt"), corrupted).unwrap();
    let output = sscard(&db, &["bank", "import", &p("bad.txt")]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("FILE_DIGEST_MISMATCH"),
        "{}",
        text(&output)
    );

    // Reconcile an empty list: nothing active at ICBC, nothing listed.
    let writer = FileWriter::new(
        std::fs::File::create(path("a.txt")).unwrap(),
        &Header {
            kind: FileKind::Activated,
            batch_no: "A1".into(),
            bank: BankCode::parse("ICBC").unwrap(),
            record_count: 0,
            created_at: DateTime::parse_from_rfc3339("2026-11-30T08:00:00+08:00").unwrap(),
            answers_batch: None,
        },
    )
    .unwrap();
    writer.finish().unwrap();
    let output = sscard(&db, &["bank", "reconcile", "--bank", "ICBC", &p("a.txt")]);
    assert!(output.status.success(), "{}", text(&output));

    // The worked example, as a bank's developer reproduces it.
    let output = sscard(&db, &["bank", "sign-example"]);
    assert!(output.status.success());
    let worked = sscard::service::banks::example::worked();
    assert!(text(&output).contains(&worked.signature));
    assert!(text(&output).contains(&worked.canonical));
    std::fs::write(
        path("key.pem"),
        sscard::service::banks::example::TEST_PRIVATE_KEY_PEM,
    )
    .unwrap();
    std::fs::write(path("body.json"), sscard::service::banks::example::BODY).unwrap();
    let output = sscard(
        &db,
        &[
            "bank",
            "sign",
            "--key-file",
            &p("key.pem"),
            "--bank",
            "ICBC",
            "--path",
            "/api/v1/bank/activations",
            "--body-file",
            &p("body.json"),
            "--timestamp",
            "1795744800",
            "--nonce",
            "5f3c9a1e7b2d4c6e8a0f1b3d",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("X-Signature: {}", worked.signature)),
        "{}",
        text(&output)
    );
    let output = sscard(&db, &["bank", "server-key"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("-----BEGIN PUBLIC KEY-----"));
}

/// The example files of docs/bank-interface.md are valid files.
#[test]
fn the_documented_example_files_verify() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/bank-interface.md"
    ))
    .unwrap();
    let mut checked = 0;
    let mut lines = doc.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("H⇥SSCARD-BANK⇥") {
            let mut file = format!("{}\n", line.replace('⇥', "\t"));
            for next in lines.by_ref() {
                file.push_str(&next.replace('⇥', "\t"));
                file.push('\n');
                if next.starts_with("T⇥") {
                    break;
                }
            }
            let verified = bankfile::verify(file.as_bytes());
            assert!(verified.is_ok(), "{file}: {verified:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3, "the export, return and activated examples");
}

/// `account` with its last digit changed, so its Luhn check fails.
fn luhn_broken(account: &str) -> String {
    let (body, last) = account.split_at(account.len() - 1);
    let digit = last.parse::<u32>().unwrap();
    format!("{body}{}", (digit + 1) % 10)
}

/// More cards than one claim transaction takes: the batch still holds each
/// card once, in card-number order, and nothing is left for a second batch.
#[tokio::test]
async fn a_batch_larger_than_a_claim_chunk_holds_every_card_once() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let services = app.db().services().await;
    let count = sscard::service::bank_exchange::CLAIM_CHUNK as u64 + 50;
    services
        .bulk_new_cards("ICBC", 0, count, &operator())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.txt");
    let summary = export(&services, &file).await;
    assert_eq!(summary.records, count);
    let numbers: Vec<String> = records(&file)
        .iter()
        .map(|r| r.get(FileKind::Export, "card_number").to_owned())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, numbers, "every card once, in card-number order");
    assert_eq!(
        count_claims(&services).await,
        2,
        "two claim transactions, each audited"
    );
    assert_eq!(
        export(&services, &dir.path().join("none.txt"))
            .await
            .batch_no,
        None
    );
    app.stop().await;
}

async fn count_claims(services: &Services) -> i64 {
    count(
        services,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'bank.export_claim'",
    )
    .await
}

/// How many exchange rows of ICBC have `status`.
async fn exchange_status(services: &Services, status: &str) -> i64 {
    count(
        services,
        &format!(
            "SELECT COUNT(*) FROM bank_card_exchange WHERE bank_code = 'ICBC' AND status = '{status}'"
        ),
    )
    .await
}

#[tokio::test]
async fn a_rejected_card_followed_up_and_requeued_goes_in_the_next_export_once() {
    let app = TestApp::spawn().await;
    let services = registry(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let first_export = dir.path().join("export-1.txt");
    let first_batch = export(&services, &first_export).await.batch_no.unwrap();
    let first_return = dir.path().join("return-1.txt");
    bank_answers(&first_export, &first_return, 4);
    import(&services, &first_return).await.unwrap();
    let rejected: Vec<String> = services
        .bank_rejections("ICBC")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.card_number)
        .collect();
    assert_eq!(rejected.len(), 7);
    let admin = app.staff("requeue.admin", &["admin"]).await;
    let requeue = |card: &str, note: &str| {
        app.client
            .post(app.url("/api/v1/banks/ICBC/requeue"))
            .bearer_auth(&admin.token)
            .json(&serde_json::json!({ "card_number": card, "note": note }))
            .send()
    };

    // The API: re-queued once, with the note; the answer masks the card.
    let response = requeue(&rejected[0], "持卡人已到窗口更正姓名，请银行重新开户")
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "requeued");
    assert_eq!(answer["bank"], "ICBC");
    let masked = answer["card_number_masked"].as_str().unwrap();
    assert!(masked.contains('*') && masked != rejected[0], "{answer}");
    // Refusals, each with what to do.
    let again = requeue(&rejected[0], "再次报送").await.unwrap();
    let problem =
        common::assert_problem(again, reqwest::StatusCode::CONFLICT, "NOT_REJECTED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("已重新报送"),
        "{problem}"
    );
    let accepted_card = records(&first_export)[0]
        .get(FileKind::Export, "card_number")
        .to_owned();
    let problem = common::assert_problem(
        requeue(&accepted_card, "误操作").await.unwrap(),
        reqwest::StatusCode::CONFLICT,
        "NOT_REJECTED",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("开户成功"),
        "{problem}"
    );
    let ccb_card: String = sqlx::query_scalar(
        "SELECT card_number FROM cards WHERE bank_code = 'CCB' ORDER BY card_number LIMIT 1",
    )
    .fetch_one(services.store().pool())
    .await
    .unwrap();
    common::assert_problem(
        requeue(&ccb_card, "持卡人已更正信息").await.unwrap(),
        reqwest::StatusCode::NOT_FOUND,
        "CARD_NOT_FOUND",
    )
    .await;
    let problem = common::assert_problem(
        requeue(&rejected[1], " ").await.unwrap(),
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "note", "{problem}");
    let teller = app.teller_of("requeue.teller", "ICBC").await;
    let response = app
        .client
        .post(app.url("/api/v1/banks/ICBC/requeue"))
        .bearer_auth(&teller.token)
        .json(&serde_json::json!({ "card_number": rejected[1], "note": "柜员不能操作" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);

    // The page: the administrator re-queues another one from the list.
    let browser = common::page_client(&admin.token);
    let (status, html) = common::page(&browser, &app, "/admin/banks/ICBC").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(html.contains("银行拒绝开户的卡（6 张，待跟进）"), "{html}");
    assert!(html.contains(r#"<dd id="requeued">1</dd>"#), "{html}");
    assert!(
        html.contains(r#"<dd id="awaiting-export">1</dd>"#),
        "{html}"
    );
    assert!(!html.contains(&format!(r#"data-card="{}""#, rejected[0])));
    let response = common::post_form(
        &browser,
        &app,
        "/admin/banks/ICBC/requeue",
        &[("card_number", &rejected[2]), ("note", "")],
    )
    .await;
    assert_eq!(response.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"data-code="NOTE_INVALID""#) && html.contains("请写明跟进处理情况"),
        "{html}"
    );
    let response = common::post_form(
        &browser,
        &app,
        "/admin/banks/ICBC/requeue",
        &[
            ("card_number", &rejected[2]),
            ("note", "已与银行核实，重新开户"),
        ],
    )
    .await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/admin/banks/ICBC?notice=requeued#rejections");
    let (_, html) = common::page(&browser, &app, &location).await;
    assert!(
        html.contains("已重新报送") && html.contains("银行拒绝开户的卡（5 张，待跟进）"),
        "{html}"
    );
    assert_eq!(exchange_status(&services, "requeued").await, 2);

    // The same return file again: the re-queued cards stay re-queued.
    let again = import(&services, &first_return).await.unwrap();
    assert!(again.already_imported);
    assert_eq!(exchange_status(&services, "requeued").await, 2);
    assert_eq!(exchange_status(&services, "rejected").await, 5);

    // The next export sends exactly the two, once.
    let second_export = dir.path().join("export-2.txt");
    let second = export(&services, &second_export).await;
    let second_batch = second.batch_no.clone().unwrap();
    assert_ne!(second_batch, first_batch);
    let mut sent: Vec<String> = records(&second_export)
        .iter()
        .map(|r| r.get(FileKind::Export, "card_number").to_owned())
        .collect();
    sent.sort();
    let mut expected = vec![rejected[0].clone(), rejected[2].clone()];
    expected.sort();
    assert_eq!(sent, expected);
    assert_eq!(exchange_status(&services, "requeued").await, 0);
    assert_eq!(exchange_status(&services, "exported").await, 2);
    assert_eq!(
        export(&services, &dir.path().join("export-3.txt"))
            .await
            .batch_no,
        None,
        "nothing left to send"
    );

    // The bank opens both accounts this time.
    let second_return = dir.path().join("return-2.txt");
    bank_answers(&second_export, &second_return, 0);
    let applied = import(&services, &second_return).await.unwrap();
    assert_eq!((applied.accepted, applied.refused), (2, 0));
    // The first return file once more does not undo it.
    import(&services, &first_return).await.unwrap();
    for number in &expected {
        let card = app.card_view(number).await;
        assert!(card.bank_account_masked.is_some(), "{number}");
    }
    assert_eq!(exchange_status(&services, "accepted").await, 25);
    let rejections = services.bank_rejections("ICBC").await.unwrap();
    assert_eq!(rejections.len(), 5);

    // Each re-queue is in the audit trail with the bank's reason and the note.
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT detail_json FROM audit_log WHERE action = 'bank.rejection.requeue' ORDER BY occurred_at",
    )
    .fetch_all(services.store().pool())
    .await
    .unwrap();
    assert_eq!(details.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&details[0]).unwrap();
    assert_eq!(first["note"], "持卡人已到窗口更正姓名，请银行重新开户");
    assert_eq!(first["export_batch"], first_batch);
    assert!(
        first["rejection_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(
        !details[0].contains(&rejected[0]),
        "the card number is masked"
    );
    app.stop().await;
}
