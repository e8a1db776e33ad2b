//! 业务反馈单 — the business feedback slip, the result of the case as a
//! document a person can hold and anyone can check.
//!
//! - **Issued once**: the first request for the slip of an ended case
//!   (已办结 in any outcome, or 不予受理) renders it ([`crate::slip`]), draws
//!   a random verification code, signs what it certifies and stores the PDF
//!   sealed in the blob store; every later download returns the same bytes.
//!   Two first requests racing: one insert wins (`slips.case_id` is unique),
//!   the other returns the winner's slip.
//! - **Signed**: the bureau's SM2 key signs `sscard-slip-v1 ‖ LF ‖ canonical
//!   JSON of what the slip certifies (masked) ‖ LF ‖ SM3 of the PDF, hex`.
//!   The key is generated on first use and kept sealed in the database (so
//!   every node signs with it), or read from `[slip] signing_key_file` in
//!   production. Every key that ever signed stays in `slip_keys`, so old
//!   slips keep verifying after a key change.
//! - **Verified**: by code (`GET /api/v1/slips/{code}`: the stored record's
//!   signature), or by the PDF's bytes (`POST /api/v1/slips/verify`: the
//!   code from the PDF's metadata, the bytes' SM3 against the record, and
//!   the signature). A code nobody issued, or a PDF whose bytes differ from
//!   the issued ones, is answered `genuine: false` with a stable code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sscard_crypto::{Sm2PublicKey, Sm2SigningKey};
use sscard_domain::access::Role;
use sscard_domain::case::CaseActionKind;
use sscard_domain::guide::Guide;

use super::accounts::Client;
use super::cases::{CaseCaller, CaseView, StepView, normalize_application_no};
use super::signing_keys::{self, LoadedKey};
use super::{Actor, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::to_china;
use crate::slip::fonts::{FONT_PACKAGES, FontSet, FontSpec};
use crate::slip::{SlipDocument, SlipStep, code_in_pdf};
use crate::store::StoreError;
use crate::store::signing_keys::{self as signing_key_rows, KeyRow};
use crate::store::slips::{self as rows, SlipRow};

/// The format of the certified content and of the signed message.
pub const SLIP_FORMAT: &str = "sscard-slip/1";
/// The first line of every signed message.
const SIGNED_PREFIX: &str = "sscard-slip-v1";
/// Crockford's base32 alphabet (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The length of a verification code (80 random bits).
pub const CODE_LEN: usize = 16;
/// The largest PDF accepted for verification.
pub const MAX_VERIFY_BYTES: usize = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Settings and state

/// How slips are made: from `[slip]` and `[server] public_url`.
#[derive(Clone, Debug)]
pub struct SlipSettings {
    /// Primary font first, then the fallbacks (`[slip] fonts`).
    pub fonts: Vec<FontSpec>,
    /// The address people reach this site at, without a trailing slash:
    /// the QR code and the printed link point to `<public_url>/verify/<code>`.
    pub public_url: String,
    /// A PEM file with the bureau's SM2 private key (`[slip]
    /// signing_key_file`); without it a key is generated and kept sealed in
    /// the database.
    pub signing_key_file: Option<PathBuf>,
}

impl Default for SlipSettings {
    fn default() -> Self {
        Self {
            fonts: FontSpec::defaults(),
            public_url: format!("http://{}", crate::config::DEFAULT_LISTEN),
            signing_key_file: None,
        }
    }
}

/// The signing key in use, read once per process.
#[derive(Debug)]
struct Signer {
    key: Sm2SigningKey,
    key_id: String,
}

/// The slips' part of [`Services`]: settings, fonts (read on first use) and
/// the signing key (loaded on first use).
#[derive(Debug)]
pub struct SlipState {
    settings: SlipSettings,
    fonts: FontSet,
    signer: tokio::sync::OnceCell<Arc<Signer>>,
}

impl SlipState {
    #[must_use]
    pub fn new(settings: SlipSettings) -> Self {
        Self {
            fonts: FontSet::new(settings.fonts.clone()),
            settings,
            signer: tokio::sync::OnceCell::new(),
        }
    }

    #[must_use]
    pub fn settings(&self) -> &SlipSettings {
        &self.settings
    }

    #[must_use]
    pub fn fonts(&self) -> &FontSet {
        &self.fonts
    }
}

// ---------------------------------------------------------------------------
// Views

/// One step as the slip certifies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertifiedStep {
    /// e.g. 受理, 准予启用, 送达结果.
    pub action_label: String,
    /// The post that acted: 申请人, 受理岗, 经办岗, 反馈岗.
    pub role_label: String,
    pub occurred_at: DateTime<Utc>,
}

/// What a slip certifies: the case's facts with identifiers masked. Stored
/// as canonical JSON and signed with the PDF's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertifiedSlip {
    /// `sscard-slip/1`.
    pub format: String,
    /// 16 characters, Crockford base32.
    pub verification_code: String,
    pub application_no: String,
    pub item_name: String,
    /// 基本编码.
    pub item_code: String,
    /// 实施编码.
    pub implementation_code: String,
    pub guide_version: i64,
    /// e.g. `王*`.
    pub applicant_name_masked: String,
    pub applicant_id_number_masked: String,
    pub card_number_masked: String,
    /// e.g. 社会保障卡启用.
    pub service_label: String,
    pub channel_label: String,
    /// `completed` or `refused`.
    pub status: String,
    /// e.g. 已办结（准予启用）, 不予受理.
    pub result_label: String,
    /// The refusal or denial reason's code, when there is one.
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub steps: Vec<CertifiedStep>,
    pub implementing_body: String,
    /// 统一社会信用代码 of the implementing body.
    pub implementing_body_code: String,
    pub window: String,
    pub issued_at: DateTime<Utc>,
    /// The id of the SM2 key that signed (see `GET /api/v1/slips/public-key`).
    pub key_id: String,
}

/// The answer of a verification.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SlipVerification {
    /// True only for a slip this system issued, unaltered, with a valid
    /// signature.
    pub genuine: bool,
    /// `SLIP_GENUINE`, `SLIP_NOT_FOUND` (no slip has this code, or the file
    /// carries none), `SLIP_ALTERED` (the file's bytes differ from the
    /// issued slip's), `SLIP_SIGNATURE_INVALID` (the stored record does not
    /// match its signature).
    pub result: String,
    /// What the answer means, in Chinese.
    pub message: String,
    /// The code asked for or found in the file, normalised (when it has the
    /// form of one).
    pub verification_code: Option<String>,
    /// What the slip certifies (masked), when such a slip was issued —
    /// also when the uploaded file was altered, so a person sees what the
    /// genuine slip says.
    pub certified: Option<CertifiedSlip>,
    /// SM3 of the issued PDF, hex.
    pub pdf_sm3: Option<String>,
    /// SM3 of the uploaded file, hex (file verification only).
    pub uploaded_sm3: Option<String>,
    /// SM2 signature (r ‖ s, hex) over the signed message.
    pub signature: Option<String>,
    pub key_id: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
}

/// One public key of the bureau.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SlipPublicKey {
    pub key_id: String,
    /// `SM2` (GB/T 32918.2-2016) with the `SM3` hash.
    pub algorithm: String,
    /// The SM2 user id used in signing (GM/T 0009-2012's default).
    pub user_id: String,
    /// The uncompressed SEC1 point, hex.
    pub public_key_hex: String,
    /// SPKI PEM.
    pub public_key_pem: String,
    /// `generated` (kept sealed in the database) or `file`.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// The bureau's slip-signing keys: the one in use and every earlier one.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SlipPublicKeys {
    /// The key signing new slips.
    pub current: SlipPublicKey,
    /// Keys that signed earlier slips (oldest first), still valid for them.
    pub earlier: Vec<SlipPublicKey>,
    /// How the signed message is formed.
    pub signed_message: String,
}

/// A slip's PDF, for download.
pub struct SlipPdf {
    pub application_no: String,
    pub verification_code: String,
    pub bytes: Vec<u8>,
}

// ---------------------------------------------------------------------------
// Use cases

impl Services {
    /// The slip of a case, issued on the first request (see the module
    /// documentation): staff, or the signed-in cardholder for their own case.
    ///
    /// # Errors
    ///
    /// `NotFound APPLICATION_NOT_FOUND` (also another person's case),
    /// `Conflict SLIP_NOT_AVAILABLE` while the case has not ended,
    /// `NotReady SLIP_FONTS_MISSING` when the fonts are not installed.
    pub async fn slip_pdf(
        &self,
        caller: CaseCaller<'_>,
        application_no: &str,
        client: &Client,
    ) -> ServiceResult<SlipPdf> {
        let view = self.application(caller, application_no).await?;
        if !matches!(view.status.as_str(), "completed" | "refused") {
            return Err(ServiceError::Conflict {
                code: "SLIP_NOT_AVAILABLE",
                detail: format!(
                    "办件当前状态为“{}”，尚未办结。业务反馈单在办结（或不予受理）后出具，请办结后再下载。",
                    view.status_label
                ),
            });
        }
        let mut conn = self.connection().await?;
        let case = crate::store::cases::case_by_number(&mut conn, &view.application_no)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "APPLICATION_NOT_FOUND",
                detail: "未找到该办件。".to_owned(),
            })?;
        let existing = rows::slip_of_case(&mut conn, &case.id).await?;
        drop(conn);
        if let Some(slip) = existing {
            return self.stored_slip(&slip).await;
        }
        self.issue_slip(caller, &case.id, &view, client).await
    }

    /// Issues the slip of an ended case: render, sign, store.
    async fn issue_slip(
        &self,
        caller: CaseCaller<'_>,
        case_id: &str,
        view: &CaseView,
        client: &Client,
    ) -> ServiceResult<SlipPdf> {
        let missing = self.slips().fonts().missing_files();
        if !missing.is_empty() {
            let files: Vec<String> = missing.iter().map(ToString::to_string).collect();
            tracing::error!(
                fonts = %files.join(", "),
                packages = FONT_PACKAGES,
                "cannot issue a slip: its fonts are missing; run scripts/setup.sh or install the packages"
            );
            return Err(fonts_missing());
        }
        let signer = self.slip_signer().await?;
        let guide = self
            .guide_version(u32::try_from(view.guide_version).unwrap_or(0))
            .await?
            .guide;
        let code = new_verification_code();
        let issued_at = Utc::now();
        let certified = certify(view, &guide, &code, issued_at, &signer.key_id);
        let content = canonical_json(
            &serde_json::to_value(&certified).map_err(|e| ServiceError::Internal(e.into()))?,
        );
        let document = slip_document(view, &guide, &code, issued_at, &signer.key_id, self);
        let state = Arc::clone(&self.slips);
        let rendered =
            tokio::task::spawn_blocking(move || crate::slip::render(&document, &state.fonts))
                .await
                .map_err(|e| ServiceError::Internal(e.into()))?
                .map_err(|error| match error {
                    crate::slip::RenderError::Font(crate::slip::fonts::FontError::Missing(_)) => {
                        fonts_missing()
                    }
                    other => ServiceError::Internal(anyhow::anyhow!("rendering a slip: {other}")),
                })?;
        if !rendered.missing.is_empty() {
            // Never the text itself (it holds a name): the code points only.
            let points: Vec<String> = rendered
                .missing
                .iter()
                .map(|c| format!("U+{:04X}", u32::from(*c)))
                .collect();
            tracing::error!(
                application_no = %view.application_no,
                characters = %points.join(" "),
                "a slip has characters no configured font has; they print as boxes: add a font that has them to [slip] fonts"
            );
        }
        let pdf_sm3 = sscard_crypto::sm3_hex(&rendered.pdf);
        let signature = hex::encode(signer.key.sign(&signed_message(&content, &pdf_sm3)));
        let slip = SlipRow {
            id: uuid::Uuid::new_v4().to_string(),
            case_id: case_id.to_owned(),
            application_no: view.application_no.clone(),
            verification_code: code.clone(),
            content,
            pdf_sm3: pdf_sm3.clone(),
            pdf_size: i64::try_from(rendered.pdf.len()).unwrap_or(i64::MAX),
            key_id: signer.key_id.clone(),
            signature,
            issued_at,
            issued_by: caller_actor(caller, client).id,
        };

        let mut tx = self.store().begin().await?;
        if !rows::insert_slip(&mut tx, &slip).await? {
            // Another request issued it first: theirs is the slip.
            drop(tx);
            let mut conn = self.connection().await?;
            let winner = rows::slip_of_case(&mut conn, case_id)
                .await?
                .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("a slip vanished")))?;
            drop(conn);
            return self.stored_slip(&winner).await;
        }
        // The blob is written before the row naming it commits.
        let sealed = self
            .keyring()
            .encrypt(&rendered.pdf, format!("blob:{}", slip.id).as_bytes());
        self.blob_store()
            .put(&slip.id, sealed.into_bytes())
            .await
            .map_err(|e| blob_error(&e))?;
        self.record_audit(
            &mut tx,
            &caller_actor(caller, client),
            "slip.issue",
            &format!("case:{case_id}"),
            Outcome::Succeeded,
            serde_json::json!({
                "slip_id": slip.id,
                "pdf_sm3": pdf_sm3,
                "pdf_size": slip.pdf_size,
                "pages": rendered.pages,
                "key_id": slip.key_id,
                "characters_without_glyph": rendered.missing.len(),
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(SlipPdf {
            application_no: slip.application_no,
            verification_code: code,
            bytes: rendered.pdf,
        })
    }

    /// An issued slip's bytes from the blob store.
    async fn stored_slip(&self, slip: &SlipRow) -> ServiceResult<SlipPdf> {
        let sealed = self
            .blob_store()
            .get(&slip.id)
            .await
            .map_err(|e| blob_error(&e))?;
        let sealed = String::from_utf8(sealed).map_err(|e| ServiceError::Internal(e.into()))?;
        let bytes = self
            .keyring()
            .decrypt(&sealed, format!("blob:{}", slip.id).as_bytes())
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("slip blob {}: {e}", slip.id)))?;
        Ok(SlipPdf {
            application_no: slip.application_no.clone(),
            verification_code: slip.verification_code.clone(),
            bytes,
        })
    }

    /// Whether a slip with this verification code was issued, and what it
    /// certifies. Public; an unknown or malformed code is answered
    /// `genuine: false` in the same shape.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn verify_slip_code(&self, code: &str) -> ServiceResult<SlipVerification> {
        let Some(code) = normalize_code(code) else {
            return Ok(not_found(None));
        };
        let mut conn = self.connection().await?;
        let Some(slip) = rows::slip_by_code(&mut conn, &code).await? else {
            return Ok(not_found(Some(code)));
        };
        let key = signing_key_rows::key_by_id(&mut conn, rows::SIGNING_KEYS, &slip.key_id).await?;
        drop(conn);
        Ok(verdict(&slip, key.as_ref(), None))
    }

    /// Verifies a slip's PDF file: the code from its metadata, its bytes'
    /// SM3 against the issued slip's and the signature. Public.
    ///
    /// # Errors
    ///
    /// `Invalid SLIP_FILE_EMPTY` / `SLIP_FILE_TOO_LARGE`.
    pub async fn verify_slip_file(&self, bytes: &[u8]) -> ServiceResult<SlipVerification> {
        if bytes.is_empty() {
            return Err(super::registry::invalid(
                "请选择要核验的业务反馈单PDF文件。",
                vec![super::FieldError::new(
                    "file",
                    "SLIP_FILE_EMPTY",
                    "上传的文件是空的，请选择业务反馈单的PDF文件。",
                )],
            ));
        }
        if bytes.len() > MAX_VERIFY_BYTES {
            return Err(super::registry::invalid(
                "文件过大。",
                vec![super::FieldError::new(
                    "file",
                    "SLIP_FILE_TOO_LARGE",
                    "业务反馈单的PDF文件不超过 10 MB，请确认选择的是本系统出具的反馈单。",
                )],
            ));
        }
        let uploaded_sm3 = sscard_crypto::sm3_hex(bytes);
        let mut conn = self.connection().await?;
        let slip = match code_in_pdf(bytes).and_then(|code| normalize_code(&code)) {
            Some(code) => rows::slip_by_code(&mut conn, &code).await?,
            // A file whose metadata was stripped: found by its digest.
            None => rows::slip_by_digest(&mut conn, &uploaded_sm3).await?,
        };
        let Some(slip) = slip else {
            drop(conn);
            let mut answer = not_found(code_in_pdf(bytes).and_then(|c| normalize_code(&c)));
            answer.uploaded_sm3 = Some(uploaded_sm3);
            answer.message = "未找到与此文件对应的业务反馈单：文件中没有本系统出具的验证码，或验证码不存在。此文件不是本系统出具的业务反馈单，或已被改动。".to_owned();
            return Ok(answer);
        };
        let key = signing_key_rows::key_by_id(&mut conn, rows::SIGNING_KEYS, &slip.key_id).await?;
        drop(conn);
        Ok(verdict(&slip, key.as_ref(), Some(uploaded_sm3)))
    }

    /// The bureau's slip-signing public keys (the current one is generated
    /// now if this is the first use).
    ///
    /// # Errors
    ///
    /// Only when the database or the key file cannot be read.
    pub async fn slip_public_keys(&self) -> ServiceResult<SlipPublicKeys> {
        let signer = self.slip_signer().await?;
        let mut conn = self.connection().await?;
        let keys = signing_key_rows::all_keys(&mut conn, rows::SIGNING_KEYS).await?;
        drop(conn);
        let mut current = None;
        let mut earlier = Vec::new();
        for row in keys {
            let Ok(public) = Sm2PublicKey::from_sec1_hex(&row.public_key) else {
                tracing::error!(key_id = %row.id, "a stored slip key is not an SM2 public key");
                continue;
            };
            let shown = SlipPublicKey {
                key_id: row.id.clone(),
                algorithm: "SM2 with SM3".to_owned(),
                user_id: sscard_crypto::SM2_USER_ID.to_owned(),
                public_key_hex: public.to_sec1_hex(),
                public_key_pem: public.to_pem(),
                source: row.source.clone(),
                created_at: row.created_at,
            };
            if row.id == signer.key_id {
                current = Some(shown);
            } else {
                earlier.push(shown);
            }
        }
        let current = current.ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("the current slip key is not stored"))
        })?;
        Ok(SlipPublicKeys {
            current,
            earlier,
            signed_message: "UTF-8 of \"sscard-slip-v1\" LF <content> LF <pdf_sm3>: content is the slip's certified content as canonical JSON (keys sorted, no spaces), pdf_sm3 the SM3 of the PDF's bytes in lowercase hex; signature SM2 (r ‖ s, 64 bytes) with the user id 1234567812345678".to_owned(),
        })
    }

    /// Makes sure the signing key exists (generating and storing it on the
    /// first start of a database); returns its id. `sscard serve` calls it
    /// at start-up so the key is there before the first slip.
    ///
    /// # Errors
    ///
    /// The key file (when configured) cannot be read, or the database
    /// cannot be written.
    pub async fn ensure_slip_signing_key(&self) -> ServiceResult<String> {
        Ok(self.slip_signer().await?.key_id.clone())
    }

    /// The signing key, loaded once per process (see the module docs).
    async fn slip_signer(&self) -> ServiceResult<Arc<Signer>> {
        let signer = self
            .slips
            .signer
            .get_or_try_init(|| async { self.load_slip_signer().await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(signer))
    }

    async fn load_slip_signer(&self) -> ServiceResult<Signer> {
        let key_file = self.slips.settings.signing_key_file.as_deref();
        let LoadedKey { key, key_id } = self
            .load_signing_key(&signing_keys::SLIPS, key_file)
            .await?;
        if let Some(path) = key_file {
            tracing::info!(key_id = %key_id, path = %path.display(), "slips are signed with the key from the configured file");
        }
        Ok(Signer { key, key_id })
    }

    fn slips(&self) -> &SlipState {
        &self.slips
    }
}

/// What `sscard serve` says about slips at start: a warning naming the
/// packages when the fonts are missing (slips then answer 503
/// `SLIP_FONTS_MISSING`), a warning when the verification links would point
/// at a listen address other hosts reach (`public_url_derived`: no `[server]
/// public_url` and not listening on loopback), and the signing key in use
/// (generated now on the first start of a database).
///
/// # Errors
///
/// The signing key cannot be read or stored.
pub async fn warn_at_start(services: &Services, public_url_derived: bool) -> ServiceResult<()> {
    let state = services.slip_state();
    let missing: Vec<String> = state
        .fonts()
        .missing_files()
        .iter()
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            fonts = %missing.join(", "),
            "the fonts of the 业务反馈单 are missing, so slips cannot be issued (503 SLIP_FONTS_MISSING): run scripts/setup.sh, or install the Debian packages {FONT_PACKAGES}, or set [slip] fonts"
        );
    }
    if public_url_derived {
        tracing::warn!(
            public_url = %state.settings().public_url,
            "the verification links and QR codes of slips point at the listen address: set [server] public_url (SSCARD_PUBLIC_URL) to the address people reach this site at"
        );
    }
    let key_id = services.ensure_slip_signing_key().await?;
    tracing::info!(key_id = %key_id, "slips are signed with this SM2 key (GET /api/v1/slips/public-key)");
    Ok(())
}

fn fonts_missing() -> ServiceError {
    ServiceError::NotReady {
        code: "SLIP_FONTS_MISSING",
        detail: format!(
            "业务反馈单所需的中文字体未安装，暂时无法出具。请系统管理员在服务器上运行 scripts/setup.sh（安装 Debian 软件包 {FONT_PACKAGES}），或在配置 [slip] fonts 中指定字体文件，然后重试。"
        ),
    }
}

fn blob_error(error: &std::io::Error) -> ServiceError {
    tracing::error!(error = %error, "cannot use the blob store for a slip");
    ServiceError::Unavailable(StoreError::Corrupt {
        what: "blob store".to_owned(),
        reason: error.to_string(),
    })
}

fn caller_actor(caller: CaseCaller<'_>, client: &Client) -> Actor {
    match caller {
        CaseCaller::Citizen(citizen) => citizen.actor(client),
        CaseCaller::Staff(staff) => staff.actor(client),
        CaseCaller::Public => Actor {
            id: "public".to_owned(),
            role: "public".to_owned(),
            client_address: client.address.clone(),
        },
    }
}

// ---------------------------------------------------------------------------
// Verification

fn not_found(code: Option<String>) -> SlipVerification {
    SlipVerification {
        genuine: false,
        result: "SLIP_NOT_FOUND".to_owned(),
        message: "未找到此验证码对应的业务反馈单。请核对验证码（16位字母和数字，不区分大小写）；仍无法查到的，此反馈单不是本系统出具的。".to_owned(),
        verification_code: code,
        certified: None,
        pdf_sm3: None,
        uploaded_sm3: None,
        signature: None,
        key_id: None,
        issued_at: None,
    }
}

/// The answer for an issued slip: the signature checked with the key that
/// made it, and — for a file — its digest against the issued one.
fn verdict(slip: &SlipRow, key: Option<&KeyRow>, uploaded_sm3: Option<String>) -> SlipVerification {
    let signature_valid = key
        .and_then(|key| Sm2PublicKey::from_sec1_hex(&key.public_key).ok())
        .zip(hex::decode(&slip.signature).ok())
        .is_some_and(|(public, signature)| {
            public.verify(&signed_message(&slip.content, &slip.pdf_sm3), &signature)
        });
    let certified: Option<CertifiedSlip> = serde_json::from_str(&slip.content).ok();
    let bytes_match = uploaded_sm3.as_deref().is_none_or(|uploaded| {
        sscard_crypto::constant_time_eq(uploaded.as_bytes(), slip.pdf_sm3.as_bytes())
    });
    let (genuine, result, message) = if !signature_valid || certified.is_none() {
        tracing::error!(slip = %slip.id, "a stored slip does not match its signature");
        (
            false,
            "SLIP_SIGNATURE_INVALID",
            "此验证码对应的出具记录未能通过电子签名校验，不能确认其真伪。请联系柳江区人力资源和社会保障局（0772-7215670）核实。",
        )
    } else if !bytes_match {
        (
            false,
            "SLIP_ALTERED",
            "此文件与本系统出具的业务反馈单不一致：文件内容已被改动（或不是原始文件）。以下是该验证码对应的反馈单原本证明的内容。",
        )
    } else if uploaded_sm3.is_some() {
        (
            true,
            "SLIP_GENUINE",
            "真实有效：此文件是本系统出具的业务反馈单原件，内容未被改动，电子签名有效。",
        )
    } else {
        (
            true,
            "SLIP_GENUINE",
            "真实有效：本系统出具过此验证码的业务反馈单，电子签名有效。请核对反馈单上的内容与下列内容一致。",
        )
    };
    SlipVerification {
        genuine,
        result: result.to_owned(),
        message: message.to_owned(),
        verification_code: Some(slip.verification_code.clone()),
        certified,
        pdf_sm3: Some(slip.pdf_sm3.clone()),
        uploaded_sm3,
        signature: Some(slip.signature.clone()),
        key_id: Some(slip.key_id.clone()),
        issued_at: Some(slip.issued_at),
    }
}

/// The message the SM2 signature covers.
fn signed_message(content: &str, pdf_sm3: &str) -> Vec<u8> {
    format!("{SIGNED_PREFIX}\n{content}\n{pdf_sm3}").into_bytes()
}

// ---------------------------------------------------------------------------
// Codes

/// A new verification code: 80 random bits as 16 Crockford base32
/// characters (not derived from anything about the case).
fn new_verification_code() -> String {
    let bytes: [u8; 10] = sscard_crypto::random_bytes();
    let mut bits: u128 = 0;
    for byte in bytes {
        bits = (bits << 8) | u128::from(byte);
    }
    (0..CODE_LEN)
        .rev()
        .map(|i| char::from(CROCKFORD[usize::try_from((bits >> (i * 5)) & 31).unwrap_or(0)]))
        .collect()
}

/// `XXXX-XXXX-XXXX-XXXX`.
#[must_use]
pub fn group_code(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as a person may type it: any case, with hyphens or spaces, I and
/// L read as 1, O as 0 (Crockford's rules). `None` unless it then is 16
/// characters of the alphabet.
#[must_use]
pub fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{3000}'))
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        })
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CROCKFORD.contains(&b))).then_some(code)
}

/// JSON with object keys sorted and no whitespace: one spelling for one
/// value, so the signed bytes can be rebuilt by anyone.
#[must_use]
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn write(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
                out.push('{');
                for (i, (key, value)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push(':');
                    write(value, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

// ---------------------------------------------------------------------------
// What the slip says

/// The result line: 已办结（准予启用）, 不予受理.
fn result_label(view: &CaseView) -> String {
    view.status_label.clone()
}

/// The post of a step: 申请人 for the cardholder's own steps, else the
/// step's role.
fn role_label(step: &StepView) -> String {
    post(&step.action, &step.actor_role)
}

fn post(action: &str, actor_role: &str) -> String {
    if actor_role == "citizen" {
        return "申请人".to_owned();
    }
    match CaseActionKind::from_code(action) {
        Some(kind) => kind.required_role().label_zh().to_owned(),
        // The submission by staff is the 受理岗's entry.
        None => Role::Acceptor.label_zh().to_owned(),
    }
}

/// The clerk as printed: `受理岗 李明`, without the sign-in name the
/// timeline adds (`李明（clerk.li）`); the cardholder's own steps as the
/// timeline names them.
fn actor_label(step: &StepView) -> String {
    clerk(&step.action, &step.actor_role, &step.actor_name)
}

fn clerk(action: &str, actor_role: &str, actor_name: &str) -> String {
    if actor_role == "citizen" {
        return actor_name.to_owned();
    }
    let name = match actor_name.rsplit_once('（') {
        Some((display, rest)) if rest.ends_with('）') && !display.trim().is_empty() => {
            display.trim()
        }
        _ => actor_name.trim(),
    };
    format!("{} {name}", post(action, actor_role))
}

fn window_of(guide: &Guide) -> (String, String, String) {
    guide.windows.first().map_or_else(
        || (String::new(), String::new(), String::new()),
        |w| (w.name.clone(), w.address.clone(), w.phone.clone()),
    )
}

fn certify(
    view: &CaseView,
    guide: &Guide,
    code: &str,
    issued_at: DateTime<Utc>,
    key_id: &str,
) -> CertifiedSlip {
    let (window, _, _) = window_of(guide);
    CertifiedSlip {
        format: SLIP_FORMAT.to_owned(),
        verification_code: code.to_owned(),
        application_no: view.application_no.clone(),
        item_name: view.item_name.clone(),
        item_code: view.item_code.clone(),
        implementation_code: view.implementation_code.clone(),
        guide_version: view.guide_version,
        applicant_name_masked: super::progress::mask_name(&view.applicant_name),
        applicant_id_number_masked: view.applicant_id_number_masked.clone(),
        card_number_masked: view.card_number_masked.clone(),
        service_label: view.service_label.clone(),
        channel_label: view.channel_label.clone(),
        status: view.status.clone(),
        result_label: result_label(view),
        outcome_code: view.outcome_code.clone(),
        outcome_reason: view.outcome_reason.clone(),
        steps: view
            .timeline
            .iter()
            .map(|step| CertifiedStep {
                action_label: step.action_label.clone(),
                role_label: role_label(step),
                occurred_at: step.occurred_at,
            })
            .collect(),
        implementing_body: guide.implementing_body.name.clone(),
        implementing_body_code: guide.implementing_body.code.clone(),
        window,
        issued_at,
        key_id: key_id.to_owned(),
    }
}

fn slip_document(
    view: &CaseView,
    guide: &Guide,
    code: &str,
    issued_at: DateTime<Utc>,
    key_id: &str,
    services: &Services,
) -> SlipDocument {
    let fact = |label: &str, value: String| (label.to_owned(), value);
    let mut facts = vec![
        vec![fact("事项名称", view.item_name.clone())],
        vec![
            fact("基本编码", view.item_code.clone()),
            fact("办事指南版本", format!("第 {} 版", view.guide_version)),
        ],
        vec![fact("实施编码", view.implementation_code.clone())],
        vec![
            fact("申请人", view.applicant_name.clone()),
            fact("身份证号码", view.applicant_id_number_masked.clone()),
        ],
    ];
    if let Some(agent) = &view.agent_name {
        let id = view
            .agent_id_number_masked
            .as_deref()
            .map(|id| format!("（身份证 {id}）"))
            .unwrap_or_default();
        facts.push(vec![fact("受委托人", format!("{agent}{id}"))]);
    }
    facts.extend([
        vec![
            fact("社会保障卡号", view.card_number_masked.clone()),
            fact("申请业务", format!("社会保障卡{}", view.service_label)),
        ],
        vec![
            fact("办理形式", view.channel_label.clone()),
            fact(
                "收件时间",
                to_china(view.received_at)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            ),
        ],
        vec![
            fact("办理结果", result_label(view)),
            fact("结果送达方式", view.delivery_method_label.clone()),
        ],
    ]);
    if let Some(reason) = &view.outcome_reason {
        let label = if view.status == "refused" {
            "不予受理理由"
        } else {
            "原因"
        };
        facts.push(vec![fact(label, reason.clone())]);
    }
    let steps = view
        .timeline
        .iter()
        .map(|step| SlipStep {
            action: step.action_label.clone(),
            actor: actor_label(step),
            time: to_china(step.occurred_at)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            opinion: step.opinion.clone().filter(|o| !o.trim().is_empty()),
        })
        .collect();
    let (window, address, phone) = window_of(guide);
    let mut place = vec![(
        "实施主体".to_owned(),
        format!(
            "{}（统一社会信用代码 {}）",
            guide.implementing_body.name, guide.implementing_body.code
        ),
    )];
    if !window.is_empty() {
        place.push(("办理窗口".to_owned(), window));
        place.push(("办理地点".to_owned(), address));
    }
    if !phone.is_empty() {
        place.push(("咨询电话".to_owned(), phone));
    }
    let base = services.slips().settings().public_url.trim_end_matches('/');
    SlipDocument {
        issuer: guide.implementing_body.name.clone(),
        application_no: view.application_no.clone(),
        issue_date: to_china(issued_at).format("%Y年%m月%d日").to_string(),
        facts,
        steps,
        place,
        verification_code: code.to_owned(),
        verification_code_grouped: group_code(code),
        verification_url: format!("{base}/verify/{code}"),
        key_id: key_id.to_owned(),
    }
}

/// The download's file name: `业务反馈单-<application number>.pdf`.
#[must_use]
pub fn slip_file_name(application_no: &str) -> String {
    format!(
        "业务反馈单-{}.pdf",
        normalize_application_no(application_no)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_crockford_and_read_back_forgivingly() {
        let a = new_verification_code();
        let b = new_verification_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), CODE_LEN);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)), "{a}");
        assert_eq!(normalize_code(&a).as_deref(), Some(a.as_str()));
        assert_eq!(
            normalize_code(&group_code(&a).to_lowercase()).as_deref(),
            Some(a.as_str())
        );
        assert_eq!(
            normalize_code("oiL0-0000 0000-0000").as_deref(),
            Some("0110000000000000")
        );
        assert_eq!(
            normalize_code("UUUU-0000-0000-0000"),
            None,
            "U is not in the alphabet"
        );
        assert_eq!(normalize_code("0000"), None);
        assert_eq!(normalize_code("王𠈌"), None);
        assert_eq!(group_code("ABCDEFGHJKMNPQRS"), "ABCD-EFGH-JKMN-PQRS");
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_spaces() {
        let value = serde_json::json!({"b": 1, "a": {"d": [1, "x y"], "c": null}, "名": "王𠈌"});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"d":[1,"x y"]},"b":1,"名":"王𠈌"}"#
        );
    }

    #[test]
    fn clerks_are_printed_by_name_and_post() {
        assert_eq!(
            clerk("accept", "acceptor+processor", "李明（clerk.li）"),
            "受理岗 李明"
        );
        assert_eq!(
            clerk("deliver", "feedback", "clerk.zhao"),
            "反馈岗 clerk.zhao"
        );
        assert_eq!(
            clerk("submit", "citizen", "申请人（网上）"),
            "申请人（网上）"
        );
        assert_eq!(
            clerk("submit", "acceptor", "李明（clerk.li）"),
            "受理岗 李明"
        );
        assert_eq!(post("approve", "processor"), "经办岗");
    }
}
