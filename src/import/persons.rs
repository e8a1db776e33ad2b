//! A persons import file (参保人员): one row → one [`PersonLine`].

use chrono::NaiveDate;
use sscard_domain::identifiers::{IdNumber, MobileNumber, Uscc};
use sscard_domain::registry::{Address, Enrolment, EnrolmentStatus, PersonName, RegionCode};

use super::{Column, HeaderMap, Patch, Row, RowCheck, RowError, normalize_cell};

/// The columns of a persons file; `docs/import.md` documents them.
pub const COLUMNS: &[Column] = &[
    Column {
        field: "id_number",
        label: "社会保障号码",
        aliases: &[
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "居民身份证号码",
            "证件号码",
            "社保号",
            "社会保障号",
        ],
        required: true,
    },
    Column {
        field: "name",
        label: "姓名",
        aliases: &["参保人姓名", "人员姓名"],
        required: true,
    },
    Column {
        field: "mobile",
        label: "手机号",
        aliases: &["手机号码", "手机", "联系电话", "移动电话"],
        required: false,
    },
    Column {
        field: "address",
        label: "地址",
        aliases: &["住址", "联系地址", "通讯地址", "居住地址", "家庭住址"],
        required: false,
    },
    Column {
        field: "employer_uscc",
        label: "单位统一社会信用代码",
        aliases: &["统一社会信用代码", "单位信用代码", "单位代码"],
        required: false,
    },
    Column {
        field: "enrolment_region",
        label: "参保地区划代码",
        aliases: &[
            "参保地行政区划代码",
            "参保地区划",
            "参保地",
            "参保地区代码",
            "参保区划代码",
        ],
        required: true,
    },
    Column {
        field: "enrolment_status",
        label: "参保状态",
        aliases: &["参保缴费状态"],
        required: true,
    },
    Column {
        field: "enrolled_on",
        label: "参保日期",
        aliases: &["参保时间", "参保起始日期", "enrolment_since"],
        required: true,
    },
];

/// One valid row of a persons file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonLine {
    /// The row it came from.
    pub row: u64,
    pub id_number: IdNumber,
    pub name: PersonName,
    pub mobile: Patch<MobileNumber>,
    pub address: Patch<Address>,
    pub employer_uscc: Patch<Uscc>,
    pub enrolment: Enrolment,
}

/// Accepted spellings of the enrolment states besides the documented ones.
fn enrolment_status(text: &str) -> Option<EnrolmentStatus> {
    if let Ok(status) = EnrolmentStatus::parse(text) {
        return Some(status);
    }
    match text {
        "参保" | "正常参保" | "正常缴费" | "缴费" | "在保" => {
            Some(EnrolmentStatus::Contributing)
        }
        "暂停" | "暂停参保" | "中断缴费" | "停保" => Some(EnrolmentStatus::Suspended),
        "终止参保" | "终止缴费" | "已终止" => Some(EnrolmentStatus::Terminated),
        _ => None,
    }
}

/// Parses and checks one row of a persons file. `today` bounds birth and
/// enrolment dates.
///
/// # Errors
///
/// Every problem of the row, each naming its column.
pub fn parse_row(
    map: &HeaderMap,
    row: &Row,
    today: NaiveDate,
) -> Result<PersonLine, Vec<RowError>> {
    let mut check = RowCheck::new(map, row);

    let id_number = check.required("id_number").and_then(|(cell, header)| {
        check.identifier(
            cell,
            &header,
            |text| IdNumber::parse_at(text, today),
            |e| (e.code(), e.to_string()),
        )
    });
    let name =
        check
            .required("name")
            .and_then(|(cell, header)| match PersonName::parse(&cell.text) {
                Ok(name) => Some(name),
                Err(e) => {
                    check.error(&header, e.code(), format!("“{header}”：{e}"));
                    None
                }
            });
    let mobile = patch(&mut check, "mobile", |check, cell, header| {
        check.identifier(cell, header, MobileNumber::parse, |e| {
            (e.code(), e.to_string())
        })
    });
    let address = patch(
        &mut check,
        "address",
        |check, cell, header| match Address::parse(&cell.text) {
            Ok(address) => address,
            Err(e) => {
                check.error(header, e.code(), format!("“{header}”：{e}"));
                None
            }
        },
    );
    let employer_uscc = patch(&mut check, "employer_uscc", |check, cell, header| {
        check.identifier(cell, header, Uscc::parse, |e| (e.code(), e.to_string()))
    });
    let region = check
        .required("enrolment_region")
        .and_then(|(cell, header)| {
            match RegionCode::parse(&super::strip_text_markers(&normalize_cell(&cell.text))) {
                Ok(region) => Some(region),
                Err(e) => {
                    check.error(&header, e.code(), format!("“{header}”：{e}"));
                    None
                }
            }
        });
    let status = check
        .required("enrolment_status")
        .and_then(|(cell, header)| {
            let text = normalize_cell(&cell.text);
            let status = enrolment_status(&text);
            if status.is_none() {
                check.error(
                    &header,
                    "ENROLMENT_STATUS_INVALID",
                    format!(
                        "“{header}”：无法识别的参保状态“{text}”，应为“参保缴费”“暂停缴费”或“终止”。"
                    ),
                );
            }
            status
        });
    let since = check.required("enrolled_on").and_then(|(cell, header)| {
        let date = check.date(cell, &header)?;
        if date > today {
            check.error(
                &header,
                "ENROLMENT_DATE_IN_FUTURE",
                format!("“{header}”晚于今天，请核对后重新填写。"),
            );
            return None;
        }
        if let Some(id) = &id_number
            && date < id.birth_date()
        {
            check.error(
                &header,
                "ENROLMENT_DATE_BEFORE_BIRTH",
                format!("“{header}”早于身份证号码中的出生日期，请核对后重新填写。"),
            );
            return None;
        }
        Some(date)
    });

    let record = match (
        id_number,
        name,
        mobile,
        address,
        employer_uscc,
        region,
        status,
        since,
    ) {
        (
            Some(id_number),
            Some(name),
            Some(mobile),
            Some(address),
            Some(employer_uscc),
            Some(region_code),
            Some(status),
            Some(since),
        ) => Some(PersonLine {
            row: row.number,
            id_number,
            name,
            mobile,
            address,
            employer_uscc,
            enrolment: Enrolment {
                region_code,
                status,
                since,
            },
        }),
        _ => None,
    };
    check.finish(record)
}

/// An optional column: [`Patch::Keep`] when the file has no such column,
/// [`Patch::Clear`] for a blank cell, else the parsed value (`None` when
/// invalid, with the error recorded).
fn patch<'a, T>(
    check: &mut RowCheck<'a>,
    field: &str,
    parse: impl FnOnce(&mut RowCheck<'a>, &'a super::Cell, &str) -> Option<T>,
) -> Option<Patch<T>> {
    if !check.map.has(field) {
        return Some(Patch::Keep);
    }
    let had_error = check.errors.len();
    match check.optional(field) {
        None if check.errors.len() > had_error => None,
        None => Some(Patch::Clear),
        Some((cell, header)) => parse(check, cell, &header).map(Patch::Set),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cell, ImportKind};
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn id(first17: &str) -> String {
        let check = sscard_domain::identifiers::id_check_char(first17).unwrap();
        format!("{first17}{check}")
    }

    fn row(number: u64, cells: &[&str]) -> Row {
        Row {
            number,
            cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        }
    }

    fn full_map() -> HeaderMap {
        HeaderMap::new(
            ImportKind::Persons,
            &row(
                1,
                &[
                    "身份证号",
                    "姓名",
                    "手机号",
                    "地址",
                    "单位统一社会信用代码",
                    "参保地区划代码",
                    "参保状态",
                    "参保日期",
                ],
            ),
        )
        .unwrap()
    }

    #[test]
    fn a_good_row_with_full_width_digits_and_spaces() {
        let id_number = id("45022119900101123");
        let full_width: String = id_number
            .chars()
            .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap())
            .collect();
        let record = parse_row(
            &full_map(),
            &row(
                2,
                &[
                    &format!("\u{3000}{full_width} "),
                    " 王𠈌 ",
                    "138 0013 8000",
                    "柳江区拉堡镇",
                    "",
                    "４５０２０６",
                    "参保缴费",
                    "2020/3/1",
                ],
            ),
            today(),
        )
        .unwrap();
        assert_eq!(record.id_number.as_str(), id_number);
        assert_eq!(record.name.as_str(), "王𠈌");
        assert!(matches!(record.mobile, Patch::Set(ref m) if m.as_str() == "13800138000"));
        assert!(matches!(record.employer_uscc, Patch::Clear));
        assert_eq!(record.enrolment.region_code.as_str(), "450206");
        assert_eq!(record.enrolment.status, EnrolmentStatus::Contributing);
        assert_eq!(
            record.enrolment.since,
            NaiveDate::from_ymd_opt(2020, 3, 1).unwrap()
        );
        assert_eq!(record.row, 2);
    }

    #[test]
    fn absent_optional_columns_keep_what_is_stored() {
        let map = HeaderMap::new(
            ImportKind::Persons,
            &row(
                1,
                &[
                    "社会保障号码",
                    "姓名",
                    "参保地区划代码",
                    "参保状态",
                    "参保日期",
                ],
            ),
        )
        .unwrap();
        let record = parse_row(
            &map,
            &row(
                2,
                &[
                    &id("45020619850615002"),
                    "李䶮",
                    "450206",
                    "暂停缴费",
                    "20100101",
                ],
            ),
            today(),
        )
        .unwrap();
        assert!(matches!(record.mobile, Patch::Keep));
        assert!(matches!(record.address, Patch::Keep));
        assert_eq!(record.enrolment.status, EnrolmentStatus::Suspended);
    }

    #[test]
    fn every_problem_of_a_row_is_reported_at_once() {
        let errors = parse_row(
            &full_map(),
            &row(
                7,
                &[
                    "450221199001011230",
                    "",
                    "12345",
                    "",
                    "91450206MA5XXXXXX0",
                    "4502",
                    "在职",
                    "2026-02-30",
                ],
            ),
            today(),
        )
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.column.as_str(), e.code.as_str()))
            .collect();
        assert!(
            codes.contains(&("身份证号", "ID_NUMBER_CHECKSUM")),
            "{codes:?}"
        );
        assert!(
            codes.contains(&("姓名", "IMPORT_VALUE_REQUIRED")),
            "{codes:?}"
        );
        assert!(codes.contains(&("手机号", "MOBILE_FORMAT")), "{codes:?}");
        assert!(
            codes.contains(&("参保地区划代码", "REGION_CODE_FORMAT")),
            "{codes:?}"
        );
        assert!(
            codes.contains(&("参保状态", "ENROLMENT_STATUS_INVALID")),
            "{codes:?}"
        );
        assert!(codes.contains(&("参保日期", "DATE_INVALID")), "{codes:?}");
        assert!(errors.iter().all(|e| e.row == 7));
        assert!(errors.iter().any(|e| e.column == "单位统一社会信用代码"));
        // Messages never repeat the ID number.
        assert!(
            errors
                .iter()
                .all(|e| !e.message.contains("450221199001011230"))
        );
    }

    #[test]
    fn excel_mangled_id_numbers_are_named_as_such() {
        let errors = parse_row(
            &full_map(),
            &row(
                3,
                &[
                    "4.50221E+17",
                    "张三",
                    "",
                    "",
                    "",
                    "450206",
                    "参保缴费",
                    "2020-01-01",
                ],
            ),
            today(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "EXCEL_SCIENTIFIC_NOTATION");
        assert!(errors[0].message.contains("科学计数法"));
    }

    #[test]
    fn dates_must_be_plausible() {
        let future = parse_row(
            &full_map(),
            &row(
                3,
                &[
                    &id("45022119900101123"),
                    "张三",
                    "",
                    "",
                    "",
                    "450206",
                    "参保缴费",
                    "2099-01-01",
                ],
            ),
            today(),
        )
        .unwrap_err();
        assert_eq!(future[0].code, "ENROLMENT_DATE_IN_FUTURE");
        let before_birth = parse_row(
            &full_map(),
            &row(
                3,
                &[
                    &id("45022119900101123"),
                    "张三",
                    "",
                    "",
                    "",
                    "450206",
                    "参保缴费",
                    "1980-01-01",
                ],
            ),
            today(),
        )
        .unwrap_err();
        assert_eq!(before_birth[0].code, "ENROLMENT_DATE_BEFORE_BIRTH");
        let born_in_future = parse_row(
            &full_map(),
            &row(
                3,
                &[
                    &id("45022120990101123"),
                    "张三",
                    "",
                    "",
                    "",
                    "450206",
                    "参保缴费",
                    "2020-01-01",
                ],
            ),
            today(),
        )
        .unwrap_err();
        assert_eq!(born_in_future[0].code, "ID_NUMBER_BIRTH_DATE");
    }

    #[test]
    fn status_aliases() {
        assert_eq!(enrolment_status("终止"), Some(EnrolmentStatus::Terminated));
        assert_eq!(
            enrolment_status("terminated"),
            Some(EnrolmentStatus::Terminated)
        );
        assert_eq!(
            enrolment_status("正常参保"),
            Some(EnrolmentStatus::Contributing)
        );
        assert_eq!(enrolment_status("暂停"), Some(EnrolmentStatus::Suspended));
        assert_eq!(enrolment_status("退休"), None);
    }
}
