//! Fixtures of employer batches: accounts bound to a given employer, many
//! persons and cards inserted in bulk through the store (sealed and
//! blind-indexed as the registry keeps them), lists as CSV and XLSX, and
//! reading a report back.

#![allow(dead_code)]

use chrono::{Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::service::Services;

/// A valid unified social credit code made from `n`.
pub fn uscc(n: u32) -> String {
    let first17 = format!("91450221MA5N{n:05}");
    let check = sscard_domain::identifiers::uscc_check_char(&first17).expect("check char");
    format!("{first17}{check}")
}

/// A valid ID number unique to `n` (born 1970 onwards in 柳江区).
pub fn id_number(n: u32) -> String {
    let birth = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + Duration::days(i64::from(n / 900));
    let first17 = format!("450221{}{:03}", birth.format("%Y%m%d"), n % 900 + 100);
    let check = sscard_domain::identifiers::id_check_char(&first17).expect("check char");
    format!("{first17}{check}")
}

/// A card number unique to `n`.
pub fn card_number(n: u32) -> String {
    format!("B{n:08}")
}

/// A person to insert.
#[derive(Clone, Debug)]
pub struct Person {
    pub id_number: String,
    pub name: String,
    pub employer_uscc: Option<String>,
    pub region: String,
    pub status: String,
}

impl Person {
    /// An insured employee of `employer` in 柳江区.
    pub fn employee(n: u32, name: &str, employer: &str) -> Self {
        Self {
            id_number: id_number(n),
            name: name.to_owned(),
            employer_uscc: Some(employer.to_owned()),
            region: "450206".to_owned(),
            status: "contributing".to_owned(),
        }
    }
}

/// A card to insert.
#[derive(Clone, Debug)]
pub struct Card {
    pub number: String,
    pub holder_id_number: String,
    /// A social-security state code (`collected`, `normal` …).
    pub state: String,
    pub expiry: NaiveDate,
}

impl Card {
    pub fn of(n: u32, holder: &str, state: &str) -> Self {
        Self {
            number: card_number(n),
            holder_id_number: holder.to_owned(),
            state: state.to_owned(),
            expiry: NaiveDate::from_ymd_opt(2034, 3, 14).unwrap(),
        }
    }
}

/// Inserts persons and their cards a few hundred per statement, in one
/// transaction: sealed ID numbers, blind indexes, masked copies, one
/// `register` card event per card, as the registry writes them.
pub async fn insert_registry(services: &Services, persons: &[Person], cards: &[Card]) {
    let keyring = services.keyring();
    let now = sscard::store::format_time(Utc::now());
    let mut tx = services.store().begin().await.expect("begin");
    let mut person_ids = std::collections::HashMap::new();
    for part in persons.chunks(200) {
        let mut sql = String::from(
            "INSERT INTO persons (id, id_number_index, id_number_sealed, id_number_masked, name, \
             sex, birth_date, employer_uscc, enrolment_region, enrolment_status, enrolment_since, \
             created_at, updated_at) VALUES ",
        );
        let rows: Vec<String> = (0..part.len())
            .map(|i| {
                let params: Vec<String> = (1..=13).map(|k| format!("${}", i * 13 + k)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        sql.push_str(&rows.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for person in part {
            let id = uuid::Uuid::new_v4().to_string();
            let parsed = sscard_domain::identifiers::IdNumber::parse(&person.id_number)
                .expect("a valid ID number");
            person_ids.insert(person.id_number.clone(), id.clone());
            query = query
                .bind(id.clone())
                .bind(
                    keyring
                        .blind_index(sscard::service::registry::ID_NUMBER_INDEX, parsed.as_str()),
                )
                .bind(
                    keyring.encrypt_str(
                        parsed.as_str(),
                        sscard::store::registry::ID_NUMBER_SEALED
                            .aad(&id)
                            .as_bytes(),
                    ),
                )
                .bind(parsed.masked())
                .bind(person.name.clone())
                .bind(match parsed.sex() {
                    sscard_domain::identifiers::Sex::Male => "male".to_owned(),
                    sscard_domain::identifiers::Sex::Female => "female".to_owned(),
                })
                .bind(parsed.birth_date().format("%Y-%m-%d").to_string())
                .bind(person.employer_uscc.clone())
                .bind(person.region.clone())
                .bind(person.status.clone())
                .bind("2015-07-01".to_owned())
                .bind(now.clone())
                .bind(now.clone());
        }
        query.execute(&mut *tx).await.expect("insert persons");
    }
    for (part_no, part) in cards.chunks(200).enumerate() {
        let rows: Vec<String> = (0..part.len())
            .map(|i| {
                let params: Vec<String> = (1..=13).map(|k| format!("${}", i * 13 + k)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO cards (id, card_number, card_identification_code, issuing_area_code, \
             spec_version, issue_date, expiry_date, person_id, bank_code, social_state, \
             financial_state, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let mut events = Vec::new();
        for (i, card) in part.iter().enumerate() {
            let id = uuid::Uuid::new_v4().to_string();
            let person_id = person_ids
                .get(&card.holder_id_number)
                .cloned()
                .expect("the holder is inserted in the same call");
            let serial = part_no * 200 + i;
            events.push((id.clone(), card.state.clone()));
            query = query
                .bind(id)
                .bind(card.number.clone())
                .bind(format!("450200D156000005{serial:016X}"))
                .bind("450200".to_owned())
                .bind("3.00".to_owned())
                .bind("2024-03-15".to_owned())
                .bind(card.expiry.format("%Y-%m-%d").to_string())
                .bind(person_id)
                .bind("ICBC".to_owned())
                .bind(card.state.clone())
                .bind("not_activated".to_owned())
                .bind(now.clone())
                .bind(now.clone());
        }
        query.execute(&mut *tx).await.expect("insert cards");
        let rows: Vec<String> = (0..events.len())
            .map(|i| {
                let k = i * 4;
                format!(
                    "(${}, ${}, 1, ${}, 'social', NULL, ${}, 'register', NULL, 'system', 'system')",
                    k + 1,
                    k + 2,
                    k + 3,
                    k + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO card_events (id, card_id, seq, occurred_at, application, from_state, \
             to_state, event, reason, actor, actor_role) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (card_id, state) in &events {
            query = query
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(card_id.clone())
                .bind(now.clone())
                .bind(state.clone());
        }
        query.execute(&mut *tx).await.expect("insert card events");
    }
    tx.commit().await.expect("commit the registry");
}

/// An account with `roles` (an employer bound to `employer`), signed in at
/// `base_url` with its initial password replaced; its bearer token.
pub async fn account(
    client: &reqwest::Client,
    base_url: &str,
    services: &Services,
    username: &str,
    roles: &[&str],
    employer: Option<&str>,
) -> String {
    let created = services
        .create_account(
            sscard::service::accounts::NewAccount {
                username: username.to_owned(),
                display_name: Some(format!("{username} 的显示名")),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                bank_code: None,
                employer_uscc: employer.map(str::to_owned),
            },
            &sscard::service::Actor::system(),
        )
        .await
        .expect("create the account");
    let totp = created
        .totp
        .as_ref()
        .and_then(|t| sscard::service::accounts::current_totp(&t.secret_base32));
    let response = client
        .post(format!("{base_url}/api/v1/session"))
        .json(&json!({ "username": username, "password": created.initial_password, "totp": totp }))
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("JSON");
    let token = body["token"].as_str().expect("token").to_owned();
    let response = client
        .post(format!("{base_url}/api/v1/session/password"))
        .bearer_auth(&token)
        .json(&json!({
            "current_password": created.initial_password,
            "new_password": "Liujiang-318-Batch-2026",
        }))
        .send()
        .await
        .expect("change password");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    token
}

/// A minimal PDF (the server checks the first bytes).
pub const LETTER_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// Posts a batch (letter and list) to `base_url`; status and body.
pub async fn post_batch(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    list_name: &str,
    list: Vec<u8>,
    idempotency_key: Option<&str>,
) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .part(
            "authorization",
            reqwest::multipart::Part::bytes(LETTER_PDF.to_vec()).file_name("授权委托书.pdf"),
        )
        .part(
            "list",
            reqwest::multipart::Part::bytes(list).file_name(list_name.to_owned()),
        );
    let mut request = client
        .post(format!("{base_url}/api/v1/batches"))
        .bearer_auth(token)
        .multipart(form);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("POST /api/v1/batches");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A CSV list (UTF-8, header 姓名,身份证号,卡号) of `rows`.
pub fn csv_list(rows: &[(String, String, String)]) -> Vec<u8> {
    let mut out = String::from("姓名,身份证号,卡号,手机号\n");
    for (name, id, card) in rows {
        out.push_str(&format!("{name},{id},{card},13800138000\n"));
    }
    out.into_bytes()
}

/// The rows of a report (the first sheet, header excluded), as text.
pub fn report_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Reader as _, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("an XLSX");
    let range = book.worksheet_range("办理结果").expect("the result sheet");
    let mut rows: Vec<Vec<String>> = range
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    let header = rows.remove(0);
    assert_eq!(
        header,
        [
            "原表行号",
            "姓名",
            "社会保障号码",
            "社会保障卡卡号",
            "办理结果",
            "原因代码",
            "原因说明",
            "金融功能"
        ]
    );
    rows
}

/// Polls `GET /api/v1/batches/{no}` until `done(batch)` (at most
/// `max_seconds`); the last answer.
pub async fn wait_for(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    batch_no: &str,
    max_seconds: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(max_seconds);
    loop {
        let response = client
            .get(format!("{base_url}/api/v1/batches/{batch_no}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET batch");
        let body: Value = response.json().await.expect("JSON");
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "batch {batch_no} did not get there in {max_seconds} s: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
