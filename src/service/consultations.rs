//! 互联网咨询 — questions about the item asked online, and the staff's
//! answers (rules in [`sscard_domain::consultation`]).
//!
//! - **Asking**: anyone on the public page or API (rate-limited), or a
//!   signed-in cardholder from their account. Each question gets a number
//!   (`ZX-YYYYMMDD-NNNNNN`, per China day). An anonymous asker also gets a
//!   random access code (查询码), shown once and kept only as its HMAC-SM3
//!   blind index: the answer is read on the progress page with the number
//!   **and** the code, and every wrong pair gets the same `404` (compared in
//!   constant time; the route is rate-limited), so nobody reads another
//!   person's question. A cardholder's question belongs to the person and is
//!   read in their account; it has no code.
//! - **Answering**: bureau staff answer on the workbench's queue, once per
//!   question (compare-and-set), audited.
//!
//! The question is citizens' free text, sealed at rest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sscard_crypto::constant_time_eq;
use sscard_domain::consultation::{
    ACCESS_CODE_LEN, AccessCode, ConsultationStatus, TextRefusal, check_answer, check_question,
};

use super::accounts::{Client, Principal};
use super::citizens::CitizenPrincipal;
use super::registry::invalid;
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::to_china;
use crate::store::feedback::{self as rows, ConsultationRow, QUESTION_SEALED};

/// The blind-index purpose of access codes.
pub const ACCESS_CODE_INDEX: &str = "consultation.access_code";

/// The body of `POST /api/v1/consultations` and
/// `POST /api/v1/citizen/consultations`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct QuestionInput {
    /// The question, 5–500 characters.
    #[serde(default)]
    #[schema(example = "社会保障卡的金融功能可以请家人代为激活吗？")]
    pub question: String,
}

/// The body of `POST /api/v1/consultations/lookup`.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ConsultationLookup {
    #[serde(default)]
    #[schema(example = "ZX-20261127-000001")]
    pub consultation_no: String,
    /// The access code given when the question was asked.
    #[serde(default)]
    pub access_code: String,
}

impl std::fmt::Debug for ConsultationLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsultationLookup")
            .field("consultation_no", &self.consultation_no)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /api/v1/consultations/{consultation_no}/answer`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AnswerInput {
    /// The answer, at most 1000 characters.
    #[serde(default)]
    pub answer: String,
}

/// What the asker gets back.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AskedConsultation {
    pub consultation_no: String,
    /// Anonymous questions only: the access code (e.g. `ABCDE-23456`),
    /// shown this once; with the number it reads the answer on the progress
    /// page. A cardholder reads the answer in their account instead.
    pub access_code: Option<String>,
    pub status: ConsultationStatus,
    pub asked_at: DateTime<Utc>,
}

/// A consultation with its answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConsultationView {
    pub consultation_no: String,
    pub question: String,
    pub asked_at: DateTime<Utc>,
    /// Staff only: `网上办事账户` or `匿名（凭查询码）`.
    pub asked_via: Option<String>,
    pub status: ConsultationStatus,
    pub status_label: String,
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Staff only: who answered.
    pub answered_by: Option<String>,
}

/// Who asks.
#[derive(Clone, Copy, Debug)]
pub enum Asker<'a> {
    /// A signed-in cardholder: the question belongs to the person.
    Citizen(&'a CitizenPrincipal),
    /// Anyone: the question gets an access code.
    Anonymous,
}

const NOT_FOUND: &str = "未找到与所填咨询编号和查询码相符的咨询。请核对咨询编号和查询码（提问时页面显示的10位字母数字）；在网上办事账户中提问的，请登录后在“我的咨询”中查看答复。";

fn not_found() -> ServiceError {
    ServiceError::NotFound {
        code: "CONSULTATION_NOT_FOUND",
        detail: NOT_FOUND.to_owned(),
    }
}

fn staff_not_found(consultation_no: &str) -> ServiceError {
    let shown: String = consultation_no.chars().take(40).collect();
    ServiceError::NotFound {
        code: "CONSULTATION_NOT_FOUND",
        detail: format!("未找到咨询编号为 {shown} 的咨询，请核对编号（例如 ZX-20261127-000001）。"),
    }
}

fn text_error(field: &str, label: &str, refusal: TextRefusal) -> ServiceError {
    invalid(
        &format!("{label}有误：{refusal}"),
        vec![FieldError::new(field, refusal.code(), refusal.to_string())],
    )
}

/// A consultation number as typed.
#[must_use]
pub fn normalize_consultation_no(input: &str) -> String {
    sscard_domain::identifiers::normalize(input).to_ascii_uppercase()
}

impl Services {
    /// 提问: see the module documentation.
    ///
    /// # Errors
    ///
    /// `Invalid TEXT_TOO_SHORT`, `TEXT_TOO_LONG`, `TEXT_INVALID`.
    pub async fn ask_question(
        &self,
        asker: Asker<'_>,
        input: &QuestionInput,
        client: &Client,
    ) -> ServiceResult<AskedConsultation> {
        let question =
            check_question(&input.question).map_err(|r| text_error("question", "咨询问题", r))?;
        let guide = self.current_guide().await?.guide;
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().to_string();
        let keyring = self.keyring();
        let (actor, person_id, code) = match asker {
            Asker::Citizen(citizen) => {
                (citizen.actor(client), Some(citizen.person_id.clone()), None)
            }
            Asker::Anonymous => (
                Actor {
                    id: "public".to_owned(),
                    role: "public".to_owned(),
                    client_address: client.address.clone(),
                },
                None,
                Some(AccessCode::from_random(sscard_crypto::random_bytes::<
                    ACCESS_CODE_LEN,
                >())),
            ),
        };
        let mut tx = self.store().begin().await?;
        let day = to_china(now).format("%Y%m%d").to_string();
        let seq = rows::next_consultation_seq(&mut tx, &day).await?;
        let consultation_no = format!("ZX-{day}-{seq:06}");
        let row = ConsultationRow {
            id: id.clone(),
            consultation_no: consultation_no.clone(),
            item_code: guide.item_code.clone(),
            person_id,
            access_code_index: code.as_ref().map(|code| {
                keyring.blind_index(
                    ACCESS_CODE_INDEX,
                    &format!("{consultation_no}:{}", code.as_str()),
                )
            }),
            question_sealed: keyring.encrypt_str(&question, QUESTION_SEALED.aad(&id).as_bytes()),
            asked_at: now,
            status: ConsultationStatus::Open.code().to_owned(),
            answer: None,
            answered_by: None,
            answered_by_name: None,
            answered_at: None,
            version: 1,
        };
        rows::insert_consultation(&mut tx, &row).await?;
        self.record_audit(
            &mut tx,
            &actor,
            "consultation.ask",
            &format!("consultation:{id}"),
            Outcome::Succeeded,
            serde_json::json!({
                "consultation_no": consultation_no,
                "signed_in": code.is_none(),
                "length": question.chars().count(),
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(AskedConsultation {
            consultation_no,
            access_code: code.map(|c| c.grouped()),
            status: ConsultationStatus::Open,
            asked_at: now,
        })
    }

    /// Reads an anonymous question and its answer by number and access
    /// code. Every wrong pair — unknown number, wrong code, a cardholder's
    /// question (which has no code) — gets the same answer.
    ///
    /// # Errors
    ///
    /// `NotFound CONSULTATION_NOT_FOUND`; `Invalid` when a field is empty.
    pub async fn consultation_by_code(
        &self,
        lookup: &ConsultationLookup,
    ) -> ServiceResult<ConsultationView> {
        let number = normalize_consultation_no(&lookup.consultation_no);
        let mut errors = Vec::new();
        if number.is_empty() || number.chars().count() > 40 {
            errors.push(FieldError::new(
                "consultation_no",
                "CONSULTATION_NO_REQUIRED",
                "请填写咨询编号（例如 ZX-20261127-000001）。",
            ));
        }
        if lookup.access_code.trim().is_empty() {
            errors.push(FieldError::new(
                "access_code",
                "ACCESS_CODE_REQUIRED",
                "请填写提问时页面显示的10位查询码。",
            ));
        }
        if !errors.is_empty() {
            return Err(invalid("查询信息填写有误，请按提示修改。", errors));
        }
        // A code of the wrong form is compared like any other (a dummy), so
        // its answer is the same.
        let code = AccessCode::parse(&lookup.access_code)
            .map_or_else(|| "-".repeat(ACCESS_CODE_LEN), |c| c.as_str().to_owned());
        let index = self
            .keyring()
            .blind_index(ACCESS_CODE_INDEX, &format!("{number}:{code}"));
        let mut conn = self.connection().await?;
        let row = rows::consultation_by_number(&mut conn, &number).await?;
        drop(conn);
        let stored = row
            .as_ref()
            .and_then(|r| r.access_code_index.clone())
            .unwrap_or_else(|| "-".repeat(index.len()));
        let matches = constant_time_eq(stored.as_bytes(), index.as_bytes());
        match row {
            Some(row) if matches && row.access_code_index.is_some() => self.view(&row, false),
            _ => Err(not_found()),
        }
    }

    /// A signed-in cardholder's own questions, newest first.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn my_consultations(
        &self,
        citizen: &CitizenPrincipal,
    ) -> ServiceResult<Vec<ConsultationView>> {
        let mut conn = self.connection().await?;
        let found = rows::consultations_of_person(&mut conn, &citizen.person_id, 200).await?;
        drop(conn);
        found.iter().map(|row| self.view(row, false)).collect()
    }

    /// The staff's queue: open questions oldest first, or answered ones
    /// newest first.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn consultation_queue(
        &self,
        status: ConsultationStatus,
        limit: i64,
    ) -> ServiceResult<Vec<ConsultationView>> {
        let mut conn = self.connection().await?;
        let found = rows::list_consultations(&mut conn, Some(status.code()), limit).await?;
        drop(conn);
        found.iter().map(|row| self.view(row, true)).collect()
    }

    /// How many questions wait for an answer.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn open_consultation_count(&self) -> ServiceResult<i64> {
        let mut conn = self.connection().await?;
        Ok(rows::count_open_consultations(&mut conn).await?)
    }

    /// One question, for staff.
    ///
    /// # Errors
    ///
    /// `NotFound CONSULTATION_NOT_FOUND`.
    pub async fn consultation_for_staff(
        &self,
        consultation_no: &str,
    ) -> ServiceResult<ConsultationView> {
        let number = normalize_consultation_no(consultation_no);
        let mut conn = self.connection().await?;
        let row = rows::consultation_by_number(&mut conn, &number)
            .await?
            .ok_or_else(|| staff_not_found(&number))?;
        drop(conn);
        self.view(&row, true)
    }

    /// 答复: a staff member answers a question, once.
    ///
    /// # Errors
    ///
    /// `NotFound CONSULTATION_NOT_FOUND`, `Conflict ALREADY_ANSWERED` (also to
    /// the loser of a race), `Invalid` for the answer's text.
    pub async fn answer_consultation(
        &self,
        principal: &Principal,
        consultation_no: &str,
        input: &AnswerInput,
        client: &Client,
    ) -> ServiceResult<ConsultationView> {
        let number = normalize_consultation_no(consultation_no);
        let answer =
            check_answer(&input.answer).map_err(|r| text_error("answer", "答复内容", r))?;
        let actor = principal.actor(client);
        let name = if principal.display_name.trim().is_empty() {
            principal.username.clone()
        } else {
            format!("{}（{}）", principal.display_name, principal.username)
        };
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        let row = rows::consultation_by_number(&mut tx, &number)
            .await?
            .ok_or_else(|| staff_not_found(&number))?;
        let object = format!("consultation:{}", row.id);
        if row.status != ConsultationStatus::Open.code()
            || !rows::answer_consultation(
                &mut tx,
                &row.id,
                row.version,
                &answer,
                &actor.id,
                &name,
                now,
            )
            .await?
        {
            return self
                .commit_refusal(
                    tx,
                    &actor,
                    "consultation.answer",
                    &object,
                    serde_json::json!({ "consultation_no": number, "code": "ALREADY_ANSWERED" }),
                    ServiceError::Conflict {
                        code: "ALREADY_ANSWERED",
                        detail: "该咨询已经答复过了（可能刚被其他工作人员答复），请刷新后查看。"
                            .to_owned(),
                    },
                )
                .await;
        }
        self.record_audit(
            &mut tx,
            &actor,
            "consultation.answer",
            &object,
            Outcome::Succeeded,
            serde_json::json!({
                "consultation_no": number,
                "length": answer.chars().count(),
            }),
        )
        .await?;
        commit(tx).await?;
        self.consultation_for_staff(&number).await
    }

    fn view(&self, row: &ConsultationRow, staff: bool) -> ServiceResult<ConsultationView> {
        let status = ConsultationStatus::from_code(&row.status)
            .ok_or_else(|| super::registry::corrupt("consultations.status", &row.status))?;
        Ok(ConsultationView {
            consultation_no: row.consultation_no.clone(),
            question: self.open_sealed(&row.question_sealed, &QUESTION_SEALED.aad(&row.id))?,
            asked_at: row.asked_at,
            asked_via: staff.then(|| {
                if row.person_id.is_some() {
                    "网上办事账户".to_owned()
                } else {
                    "匿名（凭查询码查看答复）".to_owned()
                }
            }),
            status,
            status_label: status.label_zh().to_owned(),
            answer: row.answer.clone(),
            answered_at: row.answered_at,
            answered_by: row.answered_by_name.clone().filter(|_| staff),
        })
    }
}
