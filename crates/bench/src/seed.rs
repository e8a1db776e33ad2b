//! Generated data, written through the `sscard` library crate so that the
//! rows are exactly what the server writes: cardholders with a card waiting
//! to be activated (through the registry's own upserts), window clerks
//! (through account creation), and — for the progress query — a million
//! historic cases (the store's row types, sealed form and blind index,
//! inserted many rows per statement).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::demo::{DemoPerson, Generator};
use sscard::service::accounts::NewAccount;
use sscard::service::registry::{CardInput, ID_NUMBER_INDEX, PersonInput};
use sscard::service::{Actor, Outcome, Services};
use sscard::store::audit::{self, AuditEntry};
use sscard::store::cases::{CaseRow, FORM_SEALED, MaterialRow, StepRow};
use sscard::store::{Tx, format_time};
use sscard_crypto::Keyring;
use sscard_domain::identifiers::IdNumber;

use crate::http::Api;

/// The seed of the generated people (the demo generator's).
pub const SEED: u64 = 2026;
/// The password the clerks choose at their first sign-in.
pub const CLERK_PASSWORD: &str = "Bench-Liujiang-318-2026";

/// A cardholder with a card in 已领卡未启用 (collected), ready for a case.
#[derive(Clone, Debug)]
pub struct Holder {
    pub id_number: String,
    pub name: String,
    pub mobile: String,
    pub card_number: String,
    pub person_id: String,
    pub card_id: String,
}

fn actor() -> Actor {
    Actor::operator("sscard-bench")
}

/// The generated person `index` as the registry takes them: insured in
/// 柳江区 and contributing, so that a case can be accepted.
fn person_input(person: &DemoPerson) -> PersonInput {
    PersonInput {
        id_number: person.id_number.clone(),
        name: person.name.clone(),
        mobile: Some(
            person
                .mobile
                .clone()
                .unwrap_or_else(|| "13977212345".to_owned()),
        ),
        address: person.address.clone(),
        employer_uscc: None,
        enrolment_region: "450206".to_owned(),
        enrolment_status: "contributing".to_owned(),
        enrolment_since: person.enrolled_on.format("%Y-%m-%d").to_string(),
    }
}

/// The person's current card, issued in 2024 and collected, not yet
/// activated (已领卡未启用).
fn card_input(person: &DemoPerson) -> CardInput {
    let card = person
        .cards
        .last()
        .expect("every generated person has a card");
    CardInput {
        card_number: card.card_number.clone(),
        card_identification_code: card.card_identification_code.clone(),
        issuing_area_code: card.issuing_area_code.clone(),
        spec_version: "3.00".to_owned(),
        issue_date: "20240315".to_owned(),
        expiry_date: "20340314".to_owned(),
        holder_id_number: person.id_number.clone(),
        bank_code: card.bank_code.clone(),
        bank_account: card.bank_account.clone(),
        social_state: Some("collected".to_owned()),
        financial_state: Some("not_activated".to_owned()),
    }
}

/// Adults only: the generator's minors would need a guardian at the window.
fn is_adult(person: &DemoPerson) -> bool {
    person
        .id_number
        .get(6..10)
        .and_then(|year| year.parse::<i32>().ok())
        .is_some_and(|year| year <= 2007)
}

/// Registers `count` cardholders (person and collected card) through the
/// registry's upserts, 500 to a transaction with one audit entry each, and
/// gives them with their row ids.
///
/// # Errors
///
/// A registry refusal or the database.
pub async fn holders(services: &Services, count: usize) -> anyhow::Result<Vec<Holder>> {
    let generator = Generator::new(SEED);
    let today = sscard::clock::today_in_china();
    let keyring = services.keyring();
    let mut holders = Vec::with_capacity(count);
    let mut index = 0;
    let started = Instant::now();
    while holders.len() < count {
        let mut tx = services.store().begin().await?;
        let mut batch = 0;
        while batch < 500 && holders.len() < count {
            let person = generator.person(index);
            index += 1;
            if !is_adult(&person) {
                continue;
            }
            let record = person_input(&person)
                .parse(today)
                .map_err(|e| anyhow::anyhow!("generated person {index}: {e}"))?;
            services.upsert_person_in(&mut tx, &record).await?;
            let card = card_input(&person)
                .parse()
                .map_err(|e| anyhow::anyhow!("generated card {index}: {e}"))?;
            services.upsert_card_in(&mut tx, &card, &actor()).await?;
            let blind = keyring.blind_index(ID_NUMBER_INDEX, &person.id_number);
            let person_id = sscard::store::registry::person_by_index(&mut tx, &blind)
                .await?
                .context("the person just registered")?
                .id;
            let card_number = card.card_number.as_str().to_owned();
            let card_id = sscard::store::registry::card_by_number(&mut tx, &card_number)
                .await?
                .context("the card just registered")?
                .id;
            holders.push(Holder {
                id_number: person.id_number.clone(),
                name: person.name.clone(),
                mobile: record
                    .mobile
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
                card_number,
                person_id,
                card_id,
            });
            batch += 1;
        }
        audit_batch(&mut tx, "bench.seed_holders", json!({ "rows": batch })).await?;
        tx.commit().await?;
    }
    eprintln!(
        "  {} cardholders with collected cards registered in {:.1} s",
        holders.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(holders)
}

async fn audit_batch(tx: &mut Tx, action: &'static str, detail: Value) -> anyhow::Result<()> {
    let actor = actor();
    audit::append(
        tx,
        &AuditEntry {
            occurred_at: Utc::now(),
            actor: actor.id,
            actor_role: actor.role,
            client_address: actor.client_address,
            action,
            object: "bench".to_owned(),
            outcome: Outcome::Succeeded,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Creates `count` window clerks holding 受理岗, 经办岗 and 反馈岗 (as a
/// 即办件 window does) and gives their usernames and one-time passwords.
///
/// # Errors
///
/// The account service refuses or the database fails.
pub async fn clerks(services: &Services, count: usize) -> anyhow::Result<Vec<(String, String)>> {
    let mut created = Vec::with_capacity(count);
    for k in 0..count {
        let username = format!("bench.window{k:03}");
        let account = services
            .create_account(
                NewAccount {
                    username: username.clone(),
                    display_name: Some(format!("压测窗口{k}")),
                    roles: vec![
                        "acceptor".to_owned(),
                        "processor".to_owned(),
                        "feedback".to_owned(),
                    ],
                    bank_code: None,
                    employer_uscc: None,
                },
                &actor(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("create {username}: {e}"))?;
        created.push((username, account.initial_password));
    }
    Ok(created)
}

/// A clerk's first sign-in over the API: the one-time password, then the
/// password change it requires; gives the session token.
///
/// # Errors
///
/// Any answer but the expected one.
pub async fn sign_in(api: &Api, username: &str, initial_password: &str) -> anyhow::Result<String> {
    sign_in_with_totp(api, username, initial_password, None).await
}

/// [`sign_in`] with the current TOTP code of `totp_secret` (base32), for
/// roles that must use one.
///
/// # Errors
///
/// Any answer but the expected one.
pub async fn sign_in_with_totp(
    api: &Api,
    username: &str,
    initial_password: &str,
    totp_secret: Option<&str>,
) -> anyhow::Result<String> {
    let totp = totp_secret.and_then(sscard::service::accounts::current_totp);
    let answer = api
        .post(
            "/api/v1/session",
            None,
            &json!({ "username": username, "password": initial_password, "totp": totp }),
            &[],
        )
        .await
        .map_err(anyhow::Error::msg)?
        .expect(StatusCode::CREATED, "sign-in")
        .map_err(anyhow::Error::msg)?;
    let token = answer
        .text("token", "sign-in")
        .map_err(anyhow::Error::msg)?;
    api.post(
        "/api/v1/session/password",
        Some(&token),
        &json!({ "current_password": initial_password, "new_password": CLERK_PASSWORD }),
        &[],
    )
    .await
    .map_err(anyhow::Error::msg)?
    .expect(StatusCode::NO_CONTENT, "password change")
    .map_err(anyhow::Error::msg)?;
    Ok(token)
}

/// A new account with `roles` (an employer account bound to `employer`)
/// as an administrator creates it; its username, one-time password and
/// TOTP secret (when its roles need one).
///
/// # Errors
///
/// The account service refuses or the database fails.
pub async fn account(
    services: &Services,
    username: &str,
    roles: &[&str],
    employer: Option<&str>,
) -> anyhow::Result<(String, String, Option<String>)> {
    let created = services
        .create_account(
            NewAccount {
                username: username.to_owned(),
                display_name: Some(format!("压测{username}")),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                bank_code: None,
                employer_uscc: employer.map(str::to_owned),
            },
            &actor(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("create {username}: {e}"))?;
    Ok((
        username.to_owned(),
        created.initial_password,
        created.totp.map(|t| t.secret_base32),
    ))
}

// ---------------------------------------------------------------------------
// Historic cases for the progress query

/// Cases per day of the generated history (numbers `SQ-day-000001…`).
pub const CASES_PER_DAY: usize = 2000;

/// What a generated case is: its number, applicant and state.
#[derive(Clone, Debug)]
pub struct PlannedCase {
    pub application_no: String,
    pub id_number: String,
    pub name: String,
    /// The state code the server must report.
    pub status: &'static str,
    pub day: NaiveDate,
    pub seq: usize,
    pub online: bool,
    pub card_number: String,
    pub mobile: String,
}

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first day of the history (yesterday, China time): today's counter
/// stays the server's.
pub fn history_end() -> NaiveDate {
    sscard::clock::today_in_china() - Duration::days(1)
}

/// Case `i` of the history ending on `end`: mostly completed, some in every
/// other state.
pub fn planned_case(generator: &Generator, end: NaiveDate, i: usize) -> PlannedCase {
    let person = generator.person(i);
    let day = end - Duration::days(i64::try_from(i / CASES_PER_DAY).unwrap_or(0));
    let seq = i % CASES_PER_DAY + 1;
    let status = match mix(i as u64) % 100 {
        0..=81 => "completed",
        82..=84 => "refused",
        85..=87 => "awaiting_supplement",
        88..=91 => "submitted",
        92..=95 => "awaiting_processing",
        _ => "awaiting_feedback",
    };
    PlannedCase {
        application_no: format!("SQ-{}-{seq:06}", day.format("%Y%m%d")),
        id_number: person.id_number.clone(),
        name: person.name.clone(),
        status,
        day,
        seq,
        online: i.is_multiple_of(3),
        card_number: person
            .cards
            .last()
            .map(|c| c.card_number.clone())
            .unwrap_or_default(),
        mobile: person.mobile.unwrap_or_else(|| "13977212345".to_owned()),
    }
}

/// The deadlines of a day's cases: acceptance, processing, feedback, case.
#[derive(Clone, Copy)]
struct DayDeadlines {
    accept: NaiveDate,
    process: NaiveDate,
    feedback: NaiveDate,
    case: NaiveDate,
}

/// Everything a batch of cases needs that is the same for all.
struct CaseContext {
    keyring: Arc<Keyring>,
    item_code: String,
    implementation_code: String,
    guide_version: i64,
    notice: Value,
    deadlines: BTreeMap<NaiveDate, DayDeadlines>,
    clerk: String,
}

/// One batch of rows, built off the async runtime.
struct CaseBatch {
    cases: Vec<CaseRow>,
    materials: Vec<MaterialRow>,
    steps: Vec<StepRow>,
}

/// Inserts `count` historic cases (numbers, sealed forms, blind indexes,
/// materials and timelines as the server writes them) into an empty
/// database, 2,000 to a transaction with one audit entry each.
///
/// # Errors
///
/// The database fails.
pub async fn historic_cases(services: &Services, count: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let guide = services.current_guide().await?.guide;
    let end = history_end();
    let days = count.div_ceil(CASES_PER_DAY);
    let mut deadlines = BTreeMap::new();
    for d in 0..days {
        let day = end - Duration::days(i64::try_from(d).unwrap_or(0));
        deadlines.insert(
            day,
            DayDeadlines {
                accept: services.deadline(day, 1).await?.deadline,
                process: services.deadline(day, 6).await?.deadline,
                feedback: services.deadline(day, 7).await?.deadline,
                case: services.deadline(day, 7).await?.deadline,
            },
        );
    }
    let circumstances = sscard_domain::case::Circumstances {
        has_agent: false,
        is_employer_batch: false,
    };
    let mut statuses = BTreeMap::new();
    statuses.insert(
        "application_form".to_owned(),
        sscard_domain::case::MaterialStatus::Submitted,
    );
    let notice = sscard_domain::case::acceptance_check(&guide, circumstances, &statuses)
        .err()
        .unwrap_or_default();
    let context = Arc::new(CaseContext {
        keyring: services.keyring(),
        item_code: guide.item_code.clone(),
        implementation_code: guide.implementation_code.clone(),
        guide_version: i64::from(guide.version),
        notice: json!({ "notice": notice }),
        deadlines,
        clerk: format!("account:{}", uuid::Uuid::new_v4()),
    });
    // Rows are built on a blocking thread while the previous batch is written.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<CaseBatch>(2);
    let builder = {
        let context = Arc::clone(&context);
        tokio::task::spawn_blocking(move || {
            let generator = Generator::new(SEED);
            let mut i = 0;
            while i < count {
                let upto = (i + 2000).min(count);
                let batch = build_batch(&context, &generator, end, i..upto);
                if sender.blocking_send(batch).is_err() {
                    return;
                }
                i = upto;
            }
        })
    };
    let mut written = 0;
    while let Some(batch) = receiver.recv().await {
        let mut tx = services.store().begin().await?;
        insert_cases(&mut tx, &batch.cases).await?;
        insert_materials(&mut tx, &batch.materials).await?;
        insert_steps(&mut tx, &batch.steps).await?;
        audit_batch(
            &mut tx,
            "bench.seed_cases",
            json!({ "cases": batch.cases.len() }),
        )
        .await?;
        tx.commit().await?;
        written += batch.cases.len();
        if written % 100_000 == 0 {
            eprintln!(
                "  {written} cases written ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    builder.await?;
    if written != count {
        bail!("only {written} of {count} cases were written");
    }
    // The day counters, so that numbers of new cases never collide.
    let mut tx = services.store().begin().await?;
    for d in 0..days {
        let day = end - Duration::days(i64::try_from(d).unwrap_or(0));
        let last = (count - d * CASES_PER_DAY).min(CASES_PER_DAY);
        sqlx::query(
            "INSERT INTO case_counters (day, last) VALUES ($1, $2) \
             ON CONFLICT (day) DO UPDATE SET last = $2",
        )
        .bind(day.format("%Y%m%d").to_string())
        .bind(i64::try_from(last).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // Fresh planner statistics, as a database in service has them
    // (PostgreSQL's autovacuum would otherwise be analysing during the run).
    let pool = services.store().pool();
    match services.store().backend() {
        sscard::store::Backend::Postgres => {
            for table in [
                "cases",
                "case_materials",
                "case_steps",
                "case_counters",
                "audit_log",
            ] {
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                    .execute(pool)
                    .await?;
            }
        }
        sscard::store::Backend::Sqlite => {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
    }
    eprintln!(
        "  {count} historic cases written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn china(day: NaiveDate, seconds: i64) -> DateTime<Utc> {
    let local = day.and_hms_opt(9, 0, 0).unwrap_or_default() + Duration::seconds(seconds);
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.from_local_datetime(&local).single())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

#[allow(clippy::too_many_lines)]
fn build_batch(
    context: &CaseContext,
    generator: &Generator,
    end: NaiveDate,
    range: std::ops::Range<usize>,
) -> CaseBatch {
    let mut batch = CaseBatch {
        cases: Vec::with_capacity(range.len()),
        materials: Vec::with_capacity(range.len() * 2),
        steps: Vec::with_capacity(range.len() * 4),
    };
    for i in range {
        let plan = planned_case(generator, end, i);
        let id = uuid::Uuid::new_v4().to_string();
        let deadlines = context.deadlines[&plan.day];
        let received_at = china(plan.day, i64::try_from(plan.seq).unwrap_or(0) * 10);
        let applicant = IdNumber::parse(&plan.id_number).expect("generated ID numbers are valid");
        let form = json!({
            "applicant_id_number": plan.id_number,
            "applicant_mobile": plan.mobile,
            "applicant_address": null,
            "agent_id_number": null,
            "agent_mobile": null,
            "agent_relation": null,
            "delivery_recipient": null,
            "delivery_mobile": null,
            "delivery_address": null,
        });
        let (channel, delivery, submitter, own_card) = if plan.online {
            (
                "online",
                "online",
                format!("citizen:{}", uuid::Uuid::new_v4()),
                "verified_by_e_certificate",
            )
        } else {
            ("window", "window", context.clerk.clone(), "submitted")
        };
        // The timeline: (action, from, to, outcome, detail, next_due).
        let submit = (
            "submit",
            None,
            "submitted",
            None,
            None,
            Some(deadlines.accept),
        );
        let accept = (
            "accept",
            Some("submitted"),
            "awaiting_processing",
            None,
            None,
            Some(deadlines.process),
        );
        let approve = (
            "approve",
            Some("awaiting_processing"),
            "awaiting_feedback",
            Some("approved"),
            None,
            Some(deadlines.feedback),
        );
        let delivered = json!({
            "method": delivery,
            "method_label": if plan.online { "网上下载" } else { "窗口领取" },
            "collected_by": "holder",
            "collector": format!("{}（本人）", plan.name),
            "delivered_at": received_at + Duration::days(3),
        });
        let deliver = (
            "deliver",
            Some("awaiting_feedback"),
            "completed",
            Some("approved"),
            Some(delivered.clone()),
            None,
        );
        let timeline = match plan.status {
            "submitted" => vec![submit],
            "awaiting_supplement" => vec![
                submit,
                (
                    "notify_missing",
                    Some("submitted"),
                    "awaiting_supplement",
                    None,
                    Some(context.notice.clone()),
                    None,
                ),
            ],
            "refused" => vec![
                submit,
                ("refuse", Some("submitted"), "refused", None, None, None),
            ],
            "awaiting_processing" => vec![submit, accept],
            "awaiting_feedback" => vec![submit, accept, approve],
            _ => vec![submit, accept, approve, deliver],
        };
        let last_at = received_at + Duration::days(i64::try_from(timeline.len()).unwrap_or(1) - 1);
        let running = matches!(
            plan.status,
            "submitted" | "awaiting_processing" | "awaiting_feedback"
        );
        let step_due = match plan.status {
            "submitted" => Some(deadlines.accept),
            "awaiting_processing" => Some(deadlines.process),
            "awaiting_feedback" => Some(deadlines.feedback),
            _ => None,
        };
        let (outcome, outcome_code, outcome_reason) = match plan.status {
            "completed" | "awaiting_feedback" => (Some("approved".to_owned()), None, None),
            "refused" => (
                None,
                Some("NOT_INSURED_IN_LIUZHOU".to_owned()),
                Some("申请人未参加柳州市社会保险。".to_owned()),
            ),
            _ => (None, None, None),
        };
        batch.cases.push(CaseRow {
            id: id.clone(),
            application_no: plan.application_no.clone(),
            item_code: context.item_code.clone(),
            implementation_code: context.implementation_code.clone(),
            guide_version: context.guide_version,
            channel: channel.to_owned(),
            service: "activate".to_owned(),
            person_id: None,
            applicant_index: context
                .keyring
                .blind_index(ID_NUMBER_INDEX, &plan.id_number),
            applicant_name: plan.name.clone(),
            applicant_id_masked: applicant.masked(),
            card_id: None,
            card_number: plan.card_number.clone(),
            has_agent: false,
            agent_name: None,
            agent_id_masked: None,
            form_sealed: context
                .keyring
                .encrypt_str(&form.to_string(), FORM_SEALED.aad(&id).as_bytes()),
            delivery_method: delivery.to_owned(),
            delivery_address_masked: None,
            inbound_waybill: None,
            state: plan.status.to_owned(),
            outcome,
            outcome_code,
            outcome_reason,
            received_at,
            step_started_at: running.then_some(last_at),
            step_due,
            step_due_provisional: false,
            case_due: Some(deadlines.case),
            delivery_detail: (plan.status == "completed").then(|| delivered.to_string()),
            submitted_by: submitter.clone(),
            version: i64::try_from(timeline.len()).unwrap_or(1),
            created_at: received_at,
            updated_at: last_at,
        });
        let own_card_status = if plan.status == "awaiting_supplement" {
            "missing"
        } else {
            own_card
        };
        for (code, status) in [
            ("application_form", "submitted"),
            ("own_card", own_card_status),
        ] {
            batch.materials.push(MaterialRow {
                case_id: id.clone(),
                code: code.to_owned(),
                status: status.to_owned(),
                reason: None,
                upload_id: None,
                updated_at: received_at,
            });
        }
        for (k, (action, from, to, outcome, detail, next_due)) in timeline.into_iter().enumerate() {
            let at = received_at + Duration::days(i64::try_from(k).unwrap_or(0));
            let by_citizen = k == 0 && plan.online;
            batch.steps.push(StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: id.clone(),
                seq: i64::try_from(k + 1).unwrap_or(1),
                action: action.to_owned(),
                from_state: from.map(str::to_owned),
                to_state: to.to_owned(),
                outcome: outcome.map(str::to_owned),
                actor: if by_citizen {
                    submitter.clone()
                } else {
                    context.clerk.clone()
                },
                actor_role: if by_citizen {
                    "citizen"
                } else {
                    "acceptor+processor+feedback"
                }
                .to_owned(),
                actor_name: if by_citizen {
                    "申请人（网上）".to_owned()
                } else {
                    "压测窗口（bench.window）".to_owned()
                },
                occurred_at: at,
                opinion: None,
                code: (action == "refuse").then(|| "NOT_INSURED_IN_LIUZHOU".to_owned()),
                detail: detail.map(|d| d.to_string()),
                next_due,
            });
        }
    }
    batch
}

/// A value bound into a multi-row insert.
enum Param {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

/// `INSERT INTO table (columns) VALUES (…), (…)`, `per_statement` rows at a
/// time. Kept to a few hundred parameters a statement: sqlx's SQLite driver
/// looks each parameter up by name, which grows with the square of their
/// number (thousands per statement spent most of the time there).
async fn insert_many(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Param>>,
    per_statement: usize,
) -> anyhow::Result<()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Param>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (r, row) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..row.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for param in row {
                query = match param {
                    Param::Text(text) => query.bind(text),
                    Param::OptText(text) => query.bind(text),
                    Param::Int(n) => query.bind(n),
                };
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn date(d: Option<NaiveDate>) -> Param {
    Param::OptText(d.map(|d| d.format("%Y-%m-%d").to_string()))
}

async fn insert_cases(tx: &mut Tx, cases: &[CaseRow]) -> anyhow::Result<()> {
    const COLUMNS: [&str; 34] = [
        "id",
        "application_no",
        "item_code",
        "implementation_code",
        "guide_version",
        "channel",
        "service",
        "person_id",
        "applicant_index",
        "applicant_name",
        "applicant_id_masked",
        "card_id",
        "card_number",
        "has_agent",
        "agent_name",
        "agent_id_masked",
        "form_sealed",
        "delivery_method",
        "delivery_address_masked",
        "inbound_waybill",
        "state",
        "outcome",
        "outcome_code",
        "outcome_reason",
        "received_at",
        "step_started_at",
        "step_due",
        "step_due_provisional",
        "case_due",
        "delivery_detail",
        "submitted_by",
        "version",
        "created_at",
        "updated_at",
    ];
    let rows = cases
        .iter()
        .map(|c| {
            vec![
                Param::Text(c.id.clone()),
                Param::Text(c.application_no.clone()),
                Param::Text(c.item_code.clone()),
                Param::Text(c.implementation_code.clone()),
                Param::Int(c.guide_version),
                Param::Text(c.channel.clone()),
                Param::Text(c.service.clone()),
                Param::OptText(c.person_id.clone()),
                Param::Text(c.applicant_index.clone()),
                Param::Text(c.applicant_name.clone()),
                Param::Text(c.applicant_id_masked.clone()),
                Param::OptText(c.card_id.clone()),
                Param::Text(c.card_number.clone()),
                Param::Int(i64::from(c.has_agent)),
                Param::OptText(c.agent_name.clone()),
                Param::OptText(c.agent_id_masked.clone()),
                Param::Text(c.form_sealed.clone()),
                Param::Text(c.delivery_method.clone()),
                Param::OptText(c.delivery_address_masked.clone()),
                Param::OptText(c.inbound_waybill.clone()),
                Param::Text(c.state.clone()),
                Param::OptText(c.outcome.clone()),
                Param::OptText(c.outcome_code.clone()),
                Param::OptText(c.outcome_reason.clone()),
                Param::Text(format_time(c.received_at)),
                Param::OptText(c.step_started_at.map(format_time)),
                date(c.step_due),
                Param::Int(i64::from(c.step_due_provisional)),
                date(c.case_due),
                Param::OptText(c.delivery_detail.clone()),
                Param::Text(c.submitted_by.clone()),
                Param::Int(c.version),
                Param::Text(format_time(c.created_at)),
                Param::Text(format_time(c.updated_at)),
            ]
        })
        .collect();
    insert_many(tx, "cases", &COLUMNS, rows, 16).await
}

async fn insert_materials(tx: &mut Tx, materials: &[MaterialRow]) -> anyhow::Result<()> {
    let rows = materials
        .iter()
        .map(|m| {
            vec![
                Param::Text(m.case_id.clone()),
                Param::Text(m.code.clone()),
                Param::Text(m.status.clone()),
                Param::OptText(m.reason.clone()),
                Param::OptText(m.upload_id.clone()),
                Param::Text(format_time(m.updated_at)),
            ]
        })
        .collect();
    insert_many(
        tx,
        "case_materials",
        &[
            "case_id",
            "code",
            "status",
            "reason",
            "upload_id",
            "updated_at",
        ],
        rows,
        64,
    )
    .await
}

async fn insert_steps(tx: &mut Tx, steps: &[StepRow]) -> anyhow::Result<()> {
    let rows = steps
        .iter()
        .map(|s| {
            vec![
                Param::Text(s.id.clone()),
                Param::Text(s.case_id.clone()),
                Param::Int(s.seq),
                Param::Text(s.action.clone()),
                Param::OptText(s.from_state.clone()),
                Param::Text(s.to_state.clone()),
                Param::OptText(s.outcome.clone()),
                Param::Text(s.actor.clone()),
                Param::Text(s.actor_role.clone()),
                Param::Text(s.actor_name.clone()),
                Param::Text(format_time(s.occurred_at)),
                Param::OptText(s.opinion.clone()),
                Param::OptText(s.code.clone()),
                Param::OptText(s.detail.clone()),
                date(s.next_due),
            ]
        })
        .collect();
    insert_many(
        tx,
        "case_steps",
        &[
            "id",
            "case_id",
            "seq",
            "action",
            "from_state",
            "to_state",
            "outcome",
            "actor",
            "actor_role",
            "actor_name",
            "occurred_at",
            "opinion",
            "code",
            "detail",
            "next_due",
        ],
        rows,
        32,
    )
    .await
}

// ---------------------------------------------------------------------------
// New cards in bulk, for `batch` and `bank`

/// The bank of the generated new cards (a demo bank).
pub const BULK_BANK: &str = "ICBC";

/// Card numbers of the generated new cards start with this
/// (`sscard bank demo-cards`: `Z00000000`, `Z00000001` …).
pub const BULK_CARD_PREFIX: &str = "Z";

/// A generated cardholder as the registry holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub card_number: String,
    pub id_number: String,
    pub name: String,
}

/// The demo data (the four demo banks, 300 persons) and `count` generated
/// persons of 鱼峰区 with new, never exported ICBC cards — exactly what
/// `sscard bank demo-cards` writes ([`Services::bulk_new_cards`]: sealed
/// and blind-indexed persons, cards 制卡中 without an account, an audit
/// entry per 2,000). On SQLite the loading connection gets a larger page
/// cache for the load only (the tool's own connection; the server and the
/// measured commands start with their defaults).
///
/// # Errors
///
/// The database fails.
pub async fn bulk_cards(services: &Services, count: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    services
        .seed_demo(sscard::demo::DEFAULT_SEED, &actor())
        .await?;
    if services.store().backend() == sscard::store::Backend::Sqlite {
        let mut tx = services.store().begin().await?;
        sqlx::query("PRAGMA cache_size = -524288")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let done = services
        .bulk_new_cards(BULK_BANK, 0, count, &actor())
        .await
        .map_err(|e| anyhow::anyhow!("bulk cards: {e}"))?;
    if services.store().backend() == sscard::store::Backend::Sqlite {
        let mut tx = services.store().begin().await?;
        sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    eprintln!(
        "  {done} persons with new {BULK_BANK} cards registered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The generated cardholders of [`bulk_cards`], by card number, with their
/// ID numbers opened (as an employer's HR system knows them).
///
/// # Errors
///
/// The database fails or a sealed value does not open.
pub async fn registered(services: &Services) -> anyhow::Result<Vec<Registered>> {
    let keyring = services.keyring();
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT c.card_number, p.id, p.name, p.id_number_sealed FROM cards c \
             JOIN persons p ON p.id = c.person_id \
             WHERE c.card_number LIKE 'Z%' AND c.card_number > $1 \
             ORDER BY c.card_number LIMIT 10000",
        )
        .bind(after.clone())
        .fetch_all(services.store().pool())
        .await?;
        let Some(last) = page.last() else {
            break;
        };
        after.clone_from(&last.0);
        for (card_number, person_id, name, sealed) in page {
            let id_number = keyring
                .decrypt_str(
                    &sealed,
                    sscard::store::registry::ID_NUMBER_SEALED
                        .aad(&person_id)
                        .as_bytes(),
                )
                .map_err(|e| anyhow::anyhow!("the ID number of card {card_number}: {e}"))?;
            out.push(Registered {
                card_number,
                id_number,
                name,
            });
        }
    }
    Ok(out)
}
