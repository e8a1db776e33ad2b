//! The service guide (办事指南) of 社会保障卡启用 as versioned, validated data.
//!
//! Each published guide version (事项版本) lives in one reviewed TOML file
//! (`guide/v44.toml` for version 44) that holds every fact of the guide in the
//! guide's own Chinese wording. [`Guide::from_toml_str`] parses such a file
//! strictly (unknown keys are errors) and then checks the rules that hold
//! between the facts — the 实施编码 (implementation code) is built from the
//! implementing body's 统一社会信用代码 and the 基本编码, the process has sane
//! time limits, every 可减免 (waivable) material says how it is waived, and so
//! on. Errors name the 1-based line and the field path, so a reviewer can fix
//! the file directly.
//!
//! Conventions of the data file: where the guide says 无 for a free-text fact
//! the value is the string `"无"`; 是/否 answers are booleans; facts the guide
//! gives as 暂无 (not yet given) are omitted optional keys.
//!
//! Field paths use 0-based indexes: `process[1]` is the second step.

use std::fmt;
use std::ops::Range;

use chrono::{NaiveDate, NaiveTime, Timelike, Weekday};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The text of the guide file shipped with this build: version 44.
pub const BUNDLED_V44_TOML: &str = include_str!("../../../guide/v44.toml");

/// The longest time limit (in working days) a single process step may state.
pub const MAX_STEP_TIME_LIMIT_WORKING_DAYS: u32 = 60;

/// One version of the service guide (办事指南).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    /// 事项版本: the guide version, starting at 1.
    pub version: u32,
    /// 指南地址: where the guide is published.
    pub source_url: String,
    /// 事项名称: the name of the service item.
    pub item_name: String,
    /// 事项类型, e.g. 公共服务 (public service).
    pub item_type: String,
    /// 基本编码: the 12-digit base code of the item.
    pub item_code: String,
    /// 实施编码: implementing body code + `4` + [`Guide::item_code`].
    pub implementation_code: String,
    /// 业务办理项编码: the code of the business handling item; starts with the
    /// implementation code.
    pub business_item_code: String,
    /// 行使层级, e.g. 县级 (county level).
    pub level: String,
    /// 办件类型, e.g. 即办件 (handled on the spot).
    pub case_type: String,
    /// 是否网办: whether the item can be handled online.
    pub online_service: bool,
    /// 年检或年审: whether an annual inspection applies.
    pub annual_inspection: bool,
    /// 办理形式: the application channels, e.g. 窗口办理, 网上办理, 快递申请.
    pub channels: Vec<String>,
    /// 办理公示 (`无` when none).
    pub public_notice: String,
    /// 公示地址 (`无` when none).
    pub public_notice_address: String,
    /// 权力来源 (`无` when none).
    pub power_source: String,
    /// 委托部门: the entrusting department (`无` when none).
    pub entrusting_department: String,
    /// 是否容缺受理: whether an application with missing materials is accepted.
    pub deficiency_acceptance: bool,
    /// 容缺时限: the time limit for supplying missing materials (`无` when none).
    pub deficiency_time_limit: String,
    /// 行使内容: what the power consists of, citing its sources.
    pub exercise_content: String,
    /// 权限划分: how competence is divided between levels.
    pub authority_division: String,
    /// 受理条件: the conditions an applicant must meet to be accepted.
    pub acceptance_conditions: Vec<String>,
    /// 结果名称: the name of the result the applicant receives.
    pub result_name: String,
    /// 特别程序: special procedures (`无` when none).
    pub special_procedures: String,
    /// 收费标准: the fee (`无` when free of charge).
    pub fee: String,
    /// 实施主体: the implementing body.
    pub implementing_body: ImplementingBody,
    /// 办理进度查询途径 with the 查询方式 details of each channel.
    pub query_channels: Vec<QueryChannel>,
    /// 审查方式及标准: how applications are reviewed.
    pub review: Review,
    /// 办理地点: the service windows.
    pub windows: Vec<Window>,
    /// 办理流程图: the downloadable process charts.
    pub process_charts: Vec<Attachment>,
    /// 办理流程: the steps of the process, in order.
    pub process: Vec<ProcessStep>,
    /// 申请材料: the application materials.
    pub materials: Vec<Material>,
    /// 扩展信息: the extended information of the guide.
    pub extended: ExtendedInfo,
    /// 设定依据: the legal basis.
    pub legal_basis: Vec<LegalBasis>,
    /// 常见问题: frequently asked questions.
    pub faq: Vec<Faq>,
}

/// 实施主体: the body that implements the service item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImplementingBody {
    /// The body's name, e.g. 柳江区人力资源和社会保障局.
    pub name: String,
    /// 实施主体编码: the body's 统一社会信用代码 (unified social credit code,
    /// GB 32100-2015).
    pub code: String,
    /// 实施主体性质, verbatim as the guide gives it.
    pub nature: String,
}

/// One 办理进度查询途径 (way to query the progress of a case) with its details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryChannel {
    /// The channel, e.g. 网上查询, 电话查询, 现场查询.
    pub name: String,
    /// 查询网址, for the online channel.
    pub url: Option<String>,
    /// 查询电话, for the telephone channel.
    pub phone: Option<String>,
    /// 查询地址, for the on-site channel.
    pub address: Option<String>,
}

/// 审查方式及标准: the review method and its standards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// 审查方式, e.g. 书面审查 (written review).
    pub method: String,
    /// What the standards apply to, e.g. 申请书（表）的审查标准.
    pub standards_heading: String,
    /// The numbered standards, without their numbers.
    pub standards: Vec<String>,
}

/// One service window (窗口) of the 办理地点 table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// 窗口名称, e.g. 综合受理1-2号窗口.
    pub name: String,
    /// 窗口电话.
    pub phone: String,
    /// 办理时间 as the guide writes it.
    pub hours_text: String,
    /// 办理时间, structured: the periods the window is open.
    pub hours: Vec<OpeningPeriod>,
    /// 法定节假日除外: closed on statutory holidays.
    pub closed_on_statutory_holidays: bool,
    /// 办理地点: the address.
    pub address: String,
    /// 交通指引: how to get there.
    pub transport: String,
    /// 地图定位: a map link.
    pub map_url: Option<String>,
}

/// A period the window is open on the given weekdays, `start` inclusive,
/// `end` exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpeningPeriod {
    /// The weekdays, as `Mon` … `Sun`.
    #[schema(value_type = Vec<String>, example = json!(["Mon", "Tue", "Wed", "Thu", "Fri"]))]
    pub weekdays: Vec<Weekday>,
    /// Opening time (a TOML local time such as `09:00:00`).
    #[serde(deserialize_with = "de_time")]
    #[schema(value_type = String, example = "09:00:00")]
    pub start: NaiveTime,
    /// Closing time.
    #[serde(deserialize_with = "de_time")]
    #[schema(value_type = String, example = "12:00:00")]
    pub end: NaiveTime,
}

/// A downloadable attachment named by the guide (e.g. 空白附件, 样本附件).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The attachment's name as the guide shows it.
    pub name: String,
    /// Where the guide's site offers it for download.
    pub url: Option<String>,
}

/// The staff role that performs a process step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleCode {
    /// 受理岗: accepts the application (受理).
    Acceptor,
    /// 经办岗: reviews and decides (经办).
    Processor,
    /// 反馈岗: returns the result (反馈).
    Feedback,
}

impl RoleCode {
    /// All role codes in process order.
    pub const ALL: [Self; 3] = [Self::Acceptor, Self::Processor, Self::Feedback];

    /// The code as written in the guide file: `acceptor`, `processor`, `feedback`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Acceptor => "acceptor",
            Self::Processor => "processor",
            Self::Feedback => "feedback",
        }
    }
}

impl fmt::Display for RoleCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RoleCode {
    type Err = UnknownRoleCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRoleCode(s.to_owned()))
    }
}

/// A string that is not one of the [`RoleCode`]s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role code `{0}`, expected acceptor, processor or feedback")]
pub struct UnknownRoleCode(pub String);

/// One step of the 办理流程 (process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessStep {
    /// 办理环节: the stage, e.g. 收件与受理.
    pub step: String,
    /// 办理步骤: the action, e.g. 受理.
    pub action: String,
    /// 办理人员: who performs it, e.g. 受理岗人员.
    pub role: String,
    /// The machine code of the role.
    pub role_code: RoleCode,
    /// 办理时限（工作日）: the time limit in working days; 0 = the same working day.
    pub time_limit_working_days: u32,
    /// 审查标准: the criterion of the step (`None` where the guide leaves it blank).
    pub criterion: Option<String>,
    /// 办理结果: what the step produces or where the case goes next.
    pub result: String,
}

/// When a material is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialCondition {
    /// For every application.
    Always,
    /// 如委托代办: when an agent (受委托人) applies for the cardholder.
    Entrusted,
    /// 单位批量激活: when an employer batch-activates its employees' cards.
    EmployerBatch,
}

/// One 申请材料 (application material).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Material {
    /// A stable ASCII identifier, e.g. `application_form`, `own_card`.
    pub code: String,
    /// 材料名称, verbatim.
    pub name: String,
    /// 材料填写样本: blank forms and filled-in samples (empty for 无).
    pub attachments: Vec<Attachment>,
    /// 来源渠道, e.g. 申请人自备 (brought by the applicant) or 政府部门核发
    /// (issued by a government department).
    pub source: String,
    /// 纸质材料: the number of paper copies handed in (0: shown, not kept).
    pub copies: u32,
    /// 材料类型, e.g. 原件 (original).
    pub form: String,
    /// 材料必要性 必要: whether the material is required.
    pub required: bool,
    /// 是否减免材料: whether the material may be waived.
    pub waivable: bool,
    /// How the material is waived, e.g. 通过基本证照凭证核验; required when
    /// `waivable`.
    pub waiver_method: Option<String>,
    /// When the material applies.
    pub condition: MaterialCondition,
    /// 受理标准: the acceptance standard (`None` where the guide leaves it blank).
    pub acceptance_standard: Option<String>,
}

/// 扩展信息: the extended information of the guide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendedInfo {
    /// 是否进驻政务大厅: handled in the government service hall.
    pub in_service_hall: bool,
    /// 是否有联办机构: whether other bodies handle it jointly.
    pub joint_handling: bool,
    /// 四办, e.g. 马上办, 网上办, 一次办.
    pub four_ways: Vec<String>,
    /// 审批结果类型 (`无` when none).
    pub approval_result_type: String,
    /// 审批结果名称 (`无` when none).
    pub approval_result_name: String,
    /// 审批结果样本 (`无` when none).
    pub approval_result_sample: String,
    /// 网上办理深度: how far the item can be handled online.
    pub online_depth: Vec<String>,
    /// 改革方式 (`无` when none).
    pub reform_method: String,
    /// 中介服务 (`无` when none).
    pub intermediary_service: String,
    /// 是否有数量限制: whether the quantity is limited.
    pub quantity_limited: bool,
    /// 数量限制 (`无` when none).
    pub quantity_limit: String,
    /// 数量限制情况说明 (`无` when none).
    pub quantity_limit_note: String,
    /// 是否证照分离, verbatim.
    pub license_separation: String,
    /// 是否智能审批.
    pub smart_approval: bool,
    /// 是否代办、帮办: whether staff handle or help with it for the applicant.
    pub proxy_assistance: bool,
    /// 是否支持预约办理: whether appointments are offered.
    pub appointment: bool,
    /// 是否支持网上支付.
    pub online_payment: bool,
    /// 是否支持物流快递: whether results can be sent by express.
    pub express_delivery: bool,
    /// 送达付费方式: who pays for the delivery, e.g. 政府支付 (the government).
    pub delivery_payment: String,
    /// 是否支持自助终端办理.
    pub self_service_terminal: bool,
    /// 是否承诺审批.
    pub promised_approval: bool,
    /// 行政复议 (`无` when none).
    pub administrative_reconsideration: String,
    /// 行政诉讼 (`无` when none).
    pub administrative_litigation: String,
    /// 服务主题: the service theme classification.
    pub service_themes: ServiceThemes,
}

/// 服务主题: the theme classification for natural and legal persons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceThemes {
    /// 面向自然人.
    pub natural_person: ThemeClassification,
    /// 面向法人.
    pub legal_person: ThemeClassification,
}

/// One audience's theme classification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThemeClassification {
    /// 事项主题分类.
    pub category: String,
    /// 地方特色主题分类 (`无` when none).
    pub local_feature: String,
}

/// One 设立依据 (legal basis) entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// 法律法规名称.
    pub name: String,
    /// 依据文号, e.g. 人社部发〔2011〕47号.
    pub document_number: String,
    /// 条款号.
    pub article: String,
    /// 颁布机关 (`None` where the guide says 暂无).
    pub issuing_body: Option<String>,
    /// 实施日期 (`None` where the guide says 暂无).
    #[serde(default, deserialize_with = "de_opt_date")]
    pub effective_date: Option<NaiveDate>,
    /// 条款内容.
    pub content: String,
}

/// One 常见问题 (frequently asked question).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    /// 问题.
    pub question: String,
    /// 解答.
    pub answer: String,
    /// 常见错误示例: a common mistake and why it is wrong.
    pub common_mistake: Option<String>,
}

/// A guide file that cannot be loaded: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuideFileError {
    /// The 1-based line in the file.
    pub line: usize,
    /// The field path, e.g. `process[1].time_limit_working_days` (0-based
    /// indexes); empty for a TOML syntax error.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for GuideFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, field {}: {}",
                self.line, self.field, self.message
            )
        }
    }
}

impl std::error::Error for GuideFileError {}

/// A rule between the facts of a guide that does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuideViolation {
    /// The field path, as in [`GuideFileError::field`].
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for GuideViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}: {}", self.field, self.message)
    }
}

impl std::error::Error for GuideViolation {}

impl Guide {
    /// Parses and validates a guide file.
    ///
    /// # Errors
    ///
    /// A TOML syntax error, a key the model does not know, a missing or
    /// mistyped field, or a broken rule (see [`Guide::validate`]), with the
    /// line and the field path.
    pub fn from_toml_str(text: &str) -> Result<Self, GuideFileError> {
        let guide: Self = toml::from_str(text).map_err(|e| schema_error(text, &e))?;
        if let Err(v) = guide.check() {
            let line = toml_edit::Document::parse(text)
                .ok()
                .and_then(|doc| span_of_path(doc.as_table(), &v.path))
                .map_or(1, |span| line_of(text, span.start));
            return Err(GuideFileError {
                line,
                field: render_path(&v.path),
                message: v.message,
            });
        }
        Ok(guide)
    }

    /// The guide shipped with this build (version 44).
    ///
    /// # Panics
    ///
    /// Never in a tested build: the bundled file is loaded by the unit tests.
    #[must_use]
    pub fn bundled() -> Self {
        Self::from_toml_str(BUNDLED_V44_TOML).expect("the bundled guide file is valid")
    }

    /// Checks the rules between the facts: the codes, the process, the
    /// materials and the windows.
    ///
    /// # Errors
    ///
    /// The first rule that does not hold.
    pub fn validate(&self) -> Result<(), GuideViolation> {
        self.check().map_err(|v| GuideViolation {
            field: render_path(&v.path),
            message: v.message,
        })
    }

    /// The process steps in order.
    #[must_use]
    pub fn steps(&self) -> &[ProcessStep] {
        &self.process
    }

    /// The step with the given 办理步骤 (action), e.g. `受理`.
    #[must_use]
    pub fn step(&self, action: &str) -> Option<&ProcessStep> {
        self.process.iter().find(|s| s.action == action)
    }

    /// The step performed by the given role.
    #[must_use]
    pub fn step_for(&self, role: RoleCode) -> Option<&ProcessStep> {
        self.process.iter().find(|s| s.role_code == role)
    }

    /// The time limit, in working days, of the step performed by `role`.
    #[must_use]
    pub fn time_limit_for(&self, role: RoleCode) -> Option<u32> {
        self.step_for(role).map(|s| s.time_limit_working_days)
    }

    /// The sum of all step time limits, in working days.
    #[must_use]
    pub fn total_time_limit_working_days(&self) -> u32 {
        self.process.iter().map(|s| s.time_limit_working_days).sum()
    }

    /// The material with the given code, e.g. `own_card`.
    #[must_use]
    pub fn material(&self, code: &str) -> Option<&Material> {
        self.materials.iter().find(|m| m.code == code)
    }

    /// The materials an application needs: those needed always plus those
    /// whose condition is among `conditions` (e.g. `[MaterialCondition::Entrusted]`
    /// for an application by an agent).
    pub fn materials_for<'a>(
        &'a self,
        conditions: &'a [MaterialCondition],
    ) -> impl Iterator<Item = &'a Material> + 'a {
        self.materials.iter().filter(move |m| {
            m.condition == MaterialCondition::Always || conditions.contains(&m.condition)
        })
    }

    fn check(&self) -> Result<(), Violation> {
        if self.version < 1 {
            return Err(Violation::at(
                &["version"],
                "the version must be at least 1",
            ));
        }
        non_empty(&self.item_name, &[Seg::key("item_name")])?;
        if self.item_code.len() != 12 || !self.item_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Violation::at(
                &["item_code"],
                format!("基本编码 must be 12 digits, not `{}`", self.item_code),
            ));
        }
        if !is_valid_uscc(&self.implementing_body.code) {
            return Err(Violation::at(
                &["implementing_body", "code"],
                format!(
                    "`{}` is not a valid unified social credit code (GB 32100-2015)",
                    self.implementing_body.code
                ),
            ));
        }
        let expected = format!("{}4{}", self.implementing_body.code, self.item_code);
        if self.implementation_code != expected {
            return Err(Violation::at(
                &["implementation_code"],
                format!(
                    "实施编码 must be the implementing body code + \"4\" + 基本编码 = `{expected}`, not `{}`",
                    self.implementation_code
                ),
            ));
        }
        if !self
            .business_item_code
            .starts_with(&self.implementation_code)
        {
            return Err(Violation::at(
                &["business_item_code"],
                format!(
                    "业务办理项编码 must start with the 实施编码 `{}`",
                    self.implementation_code
                ),
            ));
        }
        for (i, c) in self.acceptance_conditions.iter().enumerate() {
            non_empty(c, &[Seg::key("acceptance_conditions"), Seg::Index(i)])?;
        }
        for (i, q) in self.query_channels.iter().enumerate() {
            non_empty(
                &q.name,
                &[Seg::key("query_channels"), Seg::Index(i), Seg::key("name")],
            )?;
        }
        self.check_process()?;
        self.check_materials()?;
        self.check_windows()
    }

    fn check_process(&self) -> Result<(), Violation> {
        if self.process.is_empty() {
            return Err(Violation::at(
                &["process"],
                "the process needs at least one step",
            ));
        }
        for (i, s) in self.process.iter().enumerate() {
            let at = |field: &str| vec![Seg::key("process"), Seg::Index(i), Seg::key(field)];
            non_empty(&s.step, &at("step"))?;
            non_empty(&s.action, &at("action"))?;
            non_empty(&s.role, &at("role"))?;
            non_empty(&s.result, &at("result"))?;
            if s.time_limit_working_days > MAX_STEP_TIME_LIMIT_WORKING_DAYS {
                return Err(Violation::new(
                    at("time_limit_working_days"),
                    format!(
                        "a step's time limit must be at most {MAX_STEP_TIME_LIMIT_WORKING_DAYS} working days, not {}",
                        s.time_limit_working_days
                    ),
                ));
            }
            if self.process[..i].iter().any(|p| p.role_code == s.role_code) {
                return Err(Violation::new(
                    at("role_code"),
                    format!("role code `{}` is used by an earlier step", s.role_code),
                ));
            }
        }
        Ok(())
    }

    fn check_materials(&self) -> Result<(), Violation> {
        if self.materials.is_empty() {
            return Err(Violation::at(
                &["materials"],
                "at least one material is needed",
            ));
        }
        for (i, m) in self.materials.iter().enumerate() {
            let at = |field: &str| vec![Seg::key("materials"), Seg::Index(i), Seg::key(field)];
            if m.code.is_empty()
                || !m
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(Violation::new(
                    at("code"),
                    format!(
                        "a material code must be lower-case ASCII snake_case, not `{}`",
                        m.code
                    ),
                ));
            }
            if self.materials[..i].iter().any(|p| p.code == m.code) {
                return Err(Violation::new(
                    at("code"),
                    format!("duplicate material code `{}`", m.code),
                ));
            }
            non_empty(&m.name, &at("name"))?;
            match (m.waivable, m.waiver_method.as_deref()) {
                (true, None | Some("")) => {
                    return Err(Violation::new(
                        at("waiver_method"),
                        "a waivable material must state its waiver method",
                    ));
                }
                (false, Some(_)) => {
                    return Err(Violation::new(
                        at("waiver_method"),
                        "a material that is not waivable has no waiver method",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_windows(&self) -> Result<(), Violation> {
        if self.windows.is_empty() {
            return Err(Violation::at(&["windows"], "at least one window is needed"));
        }
        for (i, w) in self.windows.iter().enumerate() {
            let at = |rest: &[Seg]| {
                let mut path = vec![Seg::key("windows"), Seg::Index(i)];
                path.extend_from_slice(rest);
                path
            };
            non_empty(&w.name, &at(&[Seg::key("name")]))?;
            non_empty(&w.hours_text, &at(&[Seg::key("hours_text")]))?;
            if w.hours.is_empty() {
                return Err(Violation::new(
                    at(&[Seg::key("hours")]),
                    "a window needs at least one opening period",
                ));
            }
            for (j, p) in w.hours.iter().enumerate() {
                let period = |field: &str| at(&[Seg::key("hours"), Seg::Index(j), Seg::key(field)]);
                if p.weekdays.is_empty() {
                    return Err(Violation::new(
                        period("weekdays"),
                        "an opening period needs at least one weekday",
                    ));
                }
                if p.start >= p.end {
                    return Err(Violation::new(
                        period("end"),
                        format!("the period must end after it starts ({})", p.start),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Window {
    /// Whether the window is open at `time` on `weekday`, by its opening
    /// periods alone; statutory holidays are the calendar's business.
    #[must_use]
    pub fn is_open_at(&self, weekday: Weekday, time: NaiveTime) -> bool {
        self.hours.iter().any(|p| p.contains(weekday, time))
    }
}

impl OpeningPeriod {
    /// Whether `time` on `weekday` falls in this period.
    #[must_use]
    pub fn contains(&self, weekday: Weekday, time: NaiveTime) -> bool {
        self.weekdays.contains(&weekday) && self.start <= time && time < self.end
    }
}

// ---- semantic violations and field paths ----

/// One segment of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    fn key(k: &str) -> Self {
        Self::Key(k.to_owned())
    }
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

struct Violation {
    path: Vec<Seg>,
    message: String,
}

impl Violation {
    fn new(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }

    fn at(keys: &[&str], message: impl Into<String>) -> Self {
        Self::new(keys.iter().map(|k| Seg::key(k)).collect(), message)
    }
}

fn non_empty(value: &str, path: &[Seg]) -> Result<(), Violation> {
    if value.trim().is_empty() {
        Err(Violation::new(path.to_vec(), "must not be empty"))
    } else {
        Ok(())
    }
}

// ---- the unified social credit code check (GB 32100-2015) ----

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [usize; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: u8) -> Option<usize> {
    USCC_ALPHABET.iter().position(|&a| a == c)
}

/// Whether `code` is 18 characters of the GB 32100-2015 alphabet with the
/// right check character.
fn is_valid_uscc(code: &str) -> bool {
    let bytes = code.as_bytes();
    if bytes.len() != 18 {
        return false;
    }
    let mut sum = 0;
    for (&c, w) in bytes[..17].iter().zip(USCC_WEIGHTS) {
        let Some(v) = uscc_value(c) else {
            return false;
        };
        sum += v * w;
    }
    uscc_value(bytes[17]) == Some((31 - sum % 31) % 31)
}

// ---- locating errors in the file ----

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A serde or TOML syntax error with its line and field path.
fn schema_error(text: &str, err: &toml::de::Error) -> GuideFileError {
    let message = err.message().trim().to_owned();
    let span = err.span();
    let line = span.as_ref().map_or(1, |s| line_of(text, s.start));
    let mut path = Vec::new();
    if let (Some(span), Ok(doc)) = (span.as_ref(), toml_edit::Document::parse(text)) {
        find_table(doc.as_table(), span, &mut path);
    }
    if let Some(missing) = missing_field_name(&message) {
        path.push(Seg::key(missing));
    }
    GuideFileError {
        line,
        field: render_path(&path),
        message,
    }
}

/// The field named by serde's "missing field `x`" message.
fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

fn covers(outer: Option<Range<usize>>, inner: &Range<usize>) -> bool {
    !inner.is_empty() && outer.is_some_and(|o| o.start <= inner.start && inner.end <= o.end)
}

/// Finds the key or value whose span covers `span`, pushing its path.
fn find_item(item: &toml_edit::Item, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    match item {
        toml_edit::Item::Table(t) => find_table(t, span, path),
        toml_edit::Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_table(t, span, path) {
                    return true;
                }
                path.pop();
            }
            covers(a.span(), span)
        }
        toml_edit::Item::Value(v) => find_value(v, span, path),
        toml_edit::Item::None => false,
    }
}

fn find_table(t: &toml_edit::Table, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    for (k, item) in t {
        path.push(Seg::key(k));
        if covers(t.key(k).and_then(toml_edit::Key::span), span) || find_item(item, span, path) {
            return true;
        }
        path.pop();
    }
    covers(t.span(), span)
}

fn find_value(v: &toml_edit::Value, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    match v {
        toml_edit::Value::Array(a) => {
            for (i, elem) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_value(elem, span, path) {
                    return true;
                }
                path.pop();
            }
        }
        toml_edit::Value::InlineTable(t) => {
            for (k, elem) in t {
                path.push(Seg::key(k));
                if covers(t.key(k).and_then(toml_edit::Key::span), span)
                    || find_value(elem, span, path)
                {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    covers(v.span(), span)
}

/// A node of the parsed document while walking a path.
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Tables(&'a toml_edit::ArrayOfTables),
    Inline(&'a toml_edit::InlineTable),
    Array(&'a toml_edit::Array),
    Leaf,
}

impl<'a> Node<'a> {
    fn of_item(item: &'a toml_edit::Item) -> Self {
        match item {
            toml_edit::Item::Table(t) => Self::Table(t),
            toml_edit::Item::ArrayOfTables(a) => Self::Tables(a),
            toml_edit::Item::Value(v) => Self::of_value(v),
            toml_edit::Item::None => Self::Leaf,
        }
    }

    fn of_value(v: &'a toml_edit::Value) -> Self {
        match v {
            toml_edit::Value::InlineTable(t) => Self::Inline(t),
            toml_edit::Value::Array(a) => Self::Array(a),
            _ => Self::Leaf,
        }
    }
}

/// The span of the deepest existing node along `path`: the key of a field,
/// the header of a table in an array of tables, or an array element.
fn span_of_path(root: &toml_edit::Table, path: &[Seg]) -> Option<Range<usize>> {
    let mut node = Node::Table(root);
    let mut best = None;
    for seg in path {
        let (next, span) = match (node, seg) {
            (Node::Table(t), Seg::Key(k)) => match t.get_key_value(k) {
                Some((key, item)) => (Node::of_item(item), key.span().or_else(|| item.span())),
                None => break,
            },
            (Node::Inline(t), Seg::Key(k)) => match t.get_key_value(k) {
                Some((key, item)) => (Node::of_item(item), key.span().or_else(|| item.span())),
                None => break,
            },
            (Node::Tables(a), Seg::Index(i)) => match a.get(*i) {
                Some(t) => (Node::Table(t), t.span()),
                None => break,
            },
            (Node::Array(a), Seg::Index(i)) => match a.get(*i) {
                Some(v) => (Node::of_value(v), v.span()),
                None => break,
            },
            _ => break,
        };
        if span.is_some() {
            best = span;
        }
        node = next;
    }
    best
}

// ---- TOML dates and times (also accepted as strings, e.g. from JSON) ----

fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
    d.deserialize_any(TomlTemporal::<NaiveTime>::new())
}

fn de_opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Option::<DateField>::deserialize(d).map(|o| o.map(|f| f.0))
}

struct DateField(NaiveDate);

impl<'de> Deserialize<'de> for DateField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TomlTemporal::<NaiveDate>::new())
            .map(DateField)
    }
}

/// Parsing of a local date or time from its text.
trait Temporal: Sized {
    const EXPECTING: &'static str;
    fn parse(text: &str) -> Option<Self>;
}

impl Temporal for NaiveTime {
    const EXPECTING: &'static str = "a local time such as 09:00:00";

    fn parse(text: &str) -> Option<Self> {
        let t = Self::parse_from_str(text, "%H:%M:%S")
            .or_else(|_| Self::parse_from_str(text, "%H:%M"))
            .ok()?;
        // Whole minutes or seconds only; no leap seconds.
        (t.nanosecond() == 0).then_some(t)
    }
}

impl Temporal for NaiveDate {
    const EXPECTING: &'static str = "a local date such as 2011-04-20";

    fn parse(text: &str) -> Option<Self> {
        Self::parse_from_str(text, "%Y-%m-%d").ok()
    }
}

struct TomlTemporal<T>(std::marker::PhantomData<T>);

impl<T> TomlTemporal<T> {
    const fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<'de, T: Temporal> Visitor<'de> for TomlTemporal<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let dt = toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let text = dt.to_string();
        T::parse(&text).ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(&text), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V44: &str = include_str!("../../../guide/v44.toml");

    fn v44() -> Guide {
        Guide::from_toml_str(V44).expect("the shipped guide loads")
    }

    /// The 1-based line of the `nth` (0-based) occurrence of `needle`.
    fn line_of_nth(text: &str, needle: &str, nth: usize) -> usize {
        let (offset, _) = text
            .match_indices(needle)
            .nth(nth)
            .unwrap_or_else(|| panic!("`{needle}` occurs at least {} times", nth + 1));
        line_of(text, offset)
    }

    /// Replaces the `nth` occurrence of `from` in `text`.
    fn replace_nth(text: &str, from: &str, to: &str, nth: usize) -> String {
        let (offset, _) = text
            .match_indices(from)
            .nth(nth)
            .unwrap_or_else(|| panic!("`{from}` occurs at least {} times", nth + 1));
        format!("{}{}{}", &text[..offset], to, &text[offset + from.len()..])
    }

    fn load_err(text: &str) -> GuideFileError {
        Guide::from_toml_str(text).expect_err("the variant is rejected")
    }

    #[test]
    fn shipped_guide_loads_with_the_facts_of_version_44() {
        let g = v44();
        assert_eq!(g.version, 44);
        assert_eq!(g.item_name, "社会保障卡启用（含社会保障卡银行账户激活）");
        assert_eq!(g.item_type, "公共服务");
        assert_eq!(g.item_code, "002014010002");
        assert_eq!(g.implementation_code, "11450221007624051J4002014010002");
        assert_eq!(g.business_item_code, "11450221007624051J4002014010002");
        assert_eq!(g.implementing_body.name, "柳江区人力资源和社会保障局");
        assert_eq!(g.implementing_body.code, "11450221007624051J");
        assert_eq!(g.level, "县级");
        assert_eq!(g.case_type, "即办件");
        assert!(g.online_service);
        assert!(!g.annual_inspection);
        assert!(!g.deficiency_acceptance);
        assert_eq!(g.channels, ["窗口办理", "网上办理", "快递申请"]);
        assert_eq!(g.acceptance_conditions, ["申请人已参加柳州市社会保险"]);
        assert_eq!(g.result_name, "业务反馈单");
        assert_eq!(g.fee, "无");
        assert_eq!(g.special_procedures, "无");
        assert_eq!(g.review.method, "书面审查");
        assert_eq!(g.review.standards.len(), 4);
        let queries: Vec<_> = g.query_channels.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(queries, ["网上查询", "电话查询", "现场查询"]);
        assert_eq!(g.query_channels[1].phone.as_deref(), Some("0772-7215670"));
        assert_eq!(g.extended.four_ways, ["马上办", "网上办", "一次办"]);
        assert_eq!(g.extended.online_depth.len(), 8);
        assert!(g.extended.express_delivery);
        assert_eq!(g.extended.delivery_payment, "政府支付");
        assert!(!g.extended.appointment);
        assert!(!g.extended.online_payment);
        assert!(!g.extended.self_service_terminal);
        assert!(g.extended.in_service_hall);
        assert!(!g.extended.joint_handling);
        assert_eq!(g.legal_basis.len(), 4);
        assert_eq!(
            g.legal_basis[1].effective_date,
            NaiveDate::from_ymd_opt(2011, 4, 20)
        );
        assert_eq!(g.legal_basis[0].effective_date, None);
        assert_eq!(
            g.legal_basis[3].effective_date,
            NaiveDate::from_ymd_opt(2011, 7, 26)
        );
        assert_eq!(g.faq.len(), 1);
        assert_eq!(g.faq[0].question, "是否需要本人办理？");
        assert_eq!(g, Guide::bundled());
    }

    #[test]
    fn shipped_process_has_three_steps_with_limits_0_1_0() {
        let g = v44();
        let rows: Vec<_> = g
            .steps()
            .iter()
            .map(|s| {
                (
                    s.step.as_str(),
                    s.action.as_str(),
                    s.role.as_str(),
                    s.role_code,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("收件与受理", "受理", "受理岗人员", RoleCode::Acceptor),
                ("审查与决定", "经办", "经办岗人员", RoleCode::Processor),
                ("颁证与送达", "反馈", "反馈岗人员", RoleCode::Feedback),
            ]
        );
        let limits: Vec<_> = g
            .steps()
            .iter()
            .map(|s| s.time_limit_working_days)
            .collect();
        assert_eq!(limits, [0, 1, 0]);
        assert_eq!(g.time_limit_for(RoleCode::Processor), Some(1));
        assert_eq!(g.time_limit_for(RoleCode::Acceptor), Some(0));
        assert_eq!(g.total_time_limit_working_days(), 1);
        assert_eq!(
            g.step("受理").map(|s| s.criterion.as_deref()),
            Some(Some("办理材料齐全即可"))
        );
        assert_eq!(
            g.step("经办").map(|s| s.result.as_str()),
            Some("移送反馈岗")
        );
        assert_eq!(g.step("反馈").and_then(|s| s.criterion.as_deref()), None);
        assert_eq!(
            g.step_for(RoleCode::Feedback).map(|s| s.result.as_str()),
            Some("业务反馈单")
        );
        assert!(g.step("审批").is_none());
    }

    #[test]
    fn shipped_materials_are_the_five_of_the_guide() {
        let g = v44();
        let codes: Vec<_> = g.materials.iter().map(|m| m.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "application_form",
                "own_card",
                "agent_id_card",
                "agent_commitment",
                "employer_authorization"
            ]
        );
        let own = g.material("own_card").expect("own card");
        assert_eq!(own.name, "本人社会保障卡");
        assert!(own.waivable);
        assert_eq!(own.waiver_method.as_deref(), Some("通过基本证照凭证核验"));
        assert_eq!(own.source, "政府部门核发");
        assert_eq!(own.copies, 0);
        let form = g.material("application_form").expect("form");
        let attachments: Vec<_> = form.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(attachments, ["空白附件", "样本附件"]);
        assert_eq!(form.copies, 1);
        assert!(g.materials.iter().all(|m| m.required && m.form == "原件"));
        assert!(
            g.materials
                .iter()
                .filter(|m| m.code != "own_card")
                .all(|m| !m.waivable)
        );
        assert!(g.material("nope").is_none());

        let by_agent: Vec<_> = g
            .materials_for(&[MaterialCondition::Entrusted])
            .map(|m| m.code.as_str())
            .collect();
        assert_eq!(
            by_agent,
            [
                "application_form",
                "own_card",
                "agent_id_card",
                "agent_commitment"
            ]
        );
        let in_person: Vec<_> = g.materials_for(&[]).map(|m| m.code.as_str()).collect();
        assert_eq!(in_person, ["application_form", "own_card"]);
    }

    #[test]
    fn shipped_window_hours_are_weekday_mornings_and_afternoons() {
        let g = v44();
        let w = &g.windows[0];
        assert_eq!(w.name, "综合受理1-2号窗口");
        assert!(w.closed_on_statutory_holidays);
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("time");
        assert!(w.is_open_at(Weekday::Mon, at(9, 0)));
        assert!(w.is_open_at(Weekday::Fri, at(15, 59)));
        assert!(!w.is_open_at(Weekday::Wed, at(12, 30)));
        assert!(!w.is_open_at(Weekday::Tue, at(16, 0)));
        assert!(!w.is_open_at(Weekday::Sat, at(10, 0)));
    }

    #[test]
    fn json_has_the_contract_field_names() {
        let json = serde_json::to_value(v44()).expect("serialises");
        for field in [
            "item_name",
            "item_code",
            "implementation_code",
            "version",
            "process",
            "materials",
            "acceptance_conditions",
            "windows",
            "query_channels",
        ] {
            assert!(json.get(field).is_some(), "missing `{field}`");
        }
        assert_eq!(json["version"], 44);
        assert_eq!(json["item_code"], "002014010002");
        assert_eq!(
            json["implementation_code"],
            "11450221007624051J4002014010002"
        );
        let step = &json["process"][0];
        for field in [
            "step",
            "action",
            "role",
            "time_limit_working_days",
            "criterion",
            "result",
        ] {
            assert!(step.get(field).is_some(), "process step lacks `{field}`");
        }
        assert_eq!(step["step"], "收件与受理");
        assert_eq!(step["action"], "受理");
        assert_eq!(step["role"], "受理岗人员");
        assert_eq!(step["role_code"], "acceptor");
        assert_eq!(json["process"][1]["time_limit_working_days"], 1);
        assert_eq!(json["process"][2]["criterion"], serde_json::Value::Null);
        assert_eq!(json["materials"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            json["acceptance_conditions"][0],
            "申请人已参加柳州市社会保险"
        );
        assert_eq!(json["windows"][0]["hours"][0]["start"], "09:00:00");
        assert_eq!(json["windows"][0]["hours"][0]["weekdays"][0], "Mon");
        assert_eq!(json["legal_basis"][1]["effective_date"], "2011-04-20");

        // The JSON form reads back to the same guide.
        let back: Guide = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, v44());
    }

    #[test]
    fn validate_accepts_the_shipped_guide() {
        assert_eq!(v44().validate(), Ok(()));
        let mut g = v44();
        g.process[1].time_limit_working_days = 99;
        let v = g.validate().expect_err("too long");
        assert_eq!(v.field, "process[1].time_limit_working_days");
    }

    #[test]
    fn unknown_key_points_at_its_line() {
        let text = V44.replace("online_payment = false", "online_paymnet = false");
        let e = load_err(&text);
        assert_eq!(e.field, "extended.online_paymnet");
        assert_eq!(e.line, line_of_nth(&text, "online_paymnet", 0));
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn unknown_key_in_an_inline_table_points_at_its_line() {
        let text = replace_nth(V44, "start = 13:00:00", "begin = 13:00:00", 0);
        let e = load_err(&text);
        assert_eq!(e.field, "windows[0].hours[1].begin");
        assert_eq!(e.line, line_of_nth(&text, "begin = 13:00:00", 0));
    }

    #[test]
    fn missing_field_points_at_its_table() {
        let text = V44.replace("result = \"移送反馈岗\"\n", "");
        let e = load_err(&text);
        assert_eq!(e.field, "process[1].result");
        assert_eq!(e.line, line_of_nth(&text, "[[process]]", 1));
        assert!(e.message.contains("missing field"), "{e}");
    }

    #[test]
    fn missing_top_level_field_falls_back_to_line_1() {
        let text = V44.replace("fee = \"无\"\n", "");
        let e = load_err(&text);
        assert_eq!(e.field, "fee");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn negative_time_limit_is_rejected_at_its_line() {
        let text = replace_nth(
            V44,
            "time_limit_working_days = 1",
            "time_limit_working_days = -1",
            0,
        );
        let e = load_err(&text);
        assert_eq!(e.field, "process[1].time_limit_working_days");
        assert_eq!(
            e.line,
            line_of_nth(&text, "time_limit_working_days = -1", 0)
        );
    }

    #[test]
    fn oversized_time_limit_is_rejected_at_its_line() {
        let text = replace_nth(
            V44,
            "time_limit_working_days = 1",
            "time_limit_working_days = 61",
            0,
        );
        let e = load_err(&text);
        assert_eq!(e.field, "process[1].time_limit_working_days");
        assert_eq!(
            e.line,
            line_of_nth(&text, "time_limit_working_days = 61", 0)
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!(
                "line {}, field process[1].time_limit_working_days: ",
                e.line
            )),
            "{shown}"
        );
    }

    #[test]
    fn bad_implementing_body_code_is_rejected_at_its_line() {
        let text = V44.replace(
            "code = \"11450221007624051J\"",
            "code = \"11450221007624051K\"",
        );
        let e = load_err(&text);
        assert_eq!(e.field, "implementing_body.code");
        assert_eq!(
            e.line,
            line_of_nth(&text, "code = \"11450221007624051K\"", 0)
        );
    }

    #[test]
    fn implementation_code_must_follow_body_and_item_code() {
        let text = V44.replace(
            "implementation_code = \"11450221007624051J4002014010002\"",
            "implementation_code = \"11450221007624051J5002014010002\"",
        );
        let e = load_err(&text);
        assert_eq!(e.field, "implementation_code");
        assert_eq!(e.line, line_of_nth(&text, "implementation_code = ", 0));
    }

    #[test]
    fn item_code_must_be_12_digits() {
        let text = V44.replace(
            "item_code = \"002014010002\"",
            "item_code = \"00201401000X\"",
        );
        let e = load_err(&text);
        assert_eq!(e.field, "item_code");
        assert_eq!(e.line, line_of_nth(&text, "item_code = ", 0));
    }

    #[test]
    fn duplicate_material_codes_are_rejected_at_the_second() {
        let text = V44.replace("code = \"agent_commitment\"", "code = \"agent_id_card\"");
        let e = load_err(&text);
        assert_eq!(e.field, "materials[3].code");
        assert_eq!(e.line, line_of_nth(&text, "code = \"agent_id_card\"", 1));
    }

    #[test]
    fn waivable_material_needs_its_waiver_method() {
        let text = V44.replace("waiver_method = \"通过基本证照凭证核验\"\n", "");
        let e = load_err(&text);
        assert_eq!(e.field, "materials[1].waiver_method");
        assert_eq!(e.line, line_of_nth(&text, "[[materials]]", 1));
        assert_eq!(
            e.to_string(),
            format!(
                "line {}, field materials[1].waiver_method: a waivable material must state its waiver method",
                e.line
            )
        );
    }

    #[test]
    fn unknown_role_code_is_rejected_at_its_line() {
        let text = V44.replace("role_code = \"processor\"", "role_code = \"boss\"");
        let e = load_err(&text);
        assert_eq!(e.field, "process[1].role_code");
        assert_eq!(e.line, line_of_nth(&text, "role_code = \"boss\"", 0));
    }

    #[test]
    fn duplicate_role_code_is_rejected() {
        let text = V44.replace("role_code = \"feedback\"", "role_code = \"processor\"");
        let e = load_err(&text);
        assert_eq!(e.field, "process[2].role_code");
        assert_eq!(e.line, line_of_nth(&text, "role_code = \"processor\"", 1));
    }

    #[test]
    fn opening_period_must_end_after_it_starts() {
        let text = replace_nth(V44, "end = 12:00:00", "end = 08:00:00", 0);
        let e = load_err(&text);
        assert_eq!(e.field, "windows[0].hours[0].end");
        assert_eq!(e.line, line_of_nth(&text, "end = 08:00:00", 0));
    }

    #[test]
    fn window_needs_hours() {
        let start = V44.find("hours = [").expect("hours");
        let end = start + V44[start..].find("]\n").expect("end of hours") + 2;
        let text = format!("{}hours = []\n{}", &V44[..start], &V44[end..]);
        let e = load_err(&text);
        assert_eq!(e.field, "windows[0].hours");
        assert_eq!(e.line, line_of_nth(&text, "hours = []", 0));
    }

    #[test]
    fn a_date_where_a_time_belongs_is_rejected() {
        let text = replace_nth(V44, "start = 09:00:00", "start = 2011-04-20", 0);
        let e = load_err(&text);
        assert_eq!(e.field, "windows[0].hours[0].start");
        assert_eq!(e.line, line_of_nth(&text, "start = 2011-04-20", 0));
    }

    #[test]
    fn syntax_error_has_a_line_and_no_field() {
        let text = V44.replace("level = \"县级\"", "level = \"县级");
        let e = load_err(&text);
        assert_eq!(e.field, "");
        assert_eq!(e.line, line_of_nth(&text, "level = ", 0));
        assert!(
            e.to_string().starts_with(&format!("line {}: ", e.line)),
            "{e}"
        );
    }

    #[test]
    fn zero_version_is_rejected() {
        let text = V44.replace("version = 44", "version = 0");
        let e = load_err(&text);
        assert_eq!(e.field, "version");
        assert_eq!(e.line, line_of_nth(&text, "version = 0", 0));
    }

    #[test]
    fn uscc_check_accepts_the_body_code_and_rejects_others() {
        assert!(is_valid_uscc("11450221007624051J"));
        assert!(is_valid_uscc("91350100M000100Y43"));
        assert!(!is_valid_uscc("11450221007624051"));
        assert!(!is_valid_uscc("11450221007624051I"));
        assert!(!is_valid_uscc("1145022100762405IJ"));
        assert!(!is_valid_uscc("11450221007624051j"));
    }

    #[test]
    fn role_codes_round_trip_through_text() {
        for role in RoleCode::ALL {
            assert_eq!(role.as_str().parse::<RoleCode>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert!("boss".parse::<RoleCode>().is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any single changed character of a valid code is caught.
            #[test]
            fn uscc_catches_any_single_substitution(pos in 0usize..18, c in 0usize..31) {
                let mut code = b"11450221007624051J".to_vec();
                let replacement = USCC_ALPHABET[c];
                prop_assume!(code[pos] != replacement);
                code[pos] = replacement;
                let code = String::from_utf8(code).expect("ascii");
                prop_assert!(!is_valid_uscc(&code));
            }

            /// A truncated file never panics the loader, and the error's
            /// line is inside the text.
            #[test]
            fn truncated_files_fail_with_a_line_inside_the_text(cut in 0usize..BUNDLED_V44_TOML.len()) {
                let mut cut = cut;
                while !BUNDLED_V44_TOML.is_char_boundary(cut) {
                    cut -= 1;
                }
                let text = &BUNDLED_V44_TOML[..cut];
                if let Err(e) = Guide::from_toml_str(text) {
                    prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1, "{e}");
                }
            }
        }
    }
}
