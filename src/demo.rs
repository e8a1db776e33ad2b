//! Demo data: realistic, deterministic cardholders of 柳江区 for trying the
//! product and for tests (`sscard serve --demo`, `sscard demo seed`) and
//! large generated import files for measurements (`sscard demo export-*`).
//!
//! Everything here is pure: the same seed gives the same persons and cards,
//! whatever the clock or the machine (a [`SplitMix64`] generator, one stream
//! per person, so person *i* does not depend on how many come after it).
//! Every identifier is valid: ID numbers carry their GB 11643 check
//! character, unified social credit codes their GB 32100 one, bank accounts
//! their Luhn digit.

use std::io::Write;

use chrono::{Datelike, Duration, NaiveDate};
use sscard_domain::identifiers::{id_check_char, luhn_check_digit, uscc_check_char};
use sscard_domain::registry::{EnrolmentStatus, FinancialState, SocialSecurityState};

/// The default seed of the demo data.
pub const DEFAULT_SEED: u64 = 2026;
/// How many persons the demo database gets.
pub const DEMO_PERSONS: usize = 300;

/// The day the demo data is "as of": issue dates, enrolment dates and
/// expiry are relative to it, never to the clock.
fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()
}

/// SplitMix64 (Steele, Lea and Flood 2014): small, fast, and good enough
/// for test data. Not for anything secret.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32
    /// for the small `n` used here).
    #[allow(clippy::cast_possible_truncation)] // the high half of a u128 product by n fits in n
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An index into a slice of `len` elements.
    #[allow(clippy::cast_possible_truncation)] // below(len) < len fits in usize
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The SplitMix64 finaliser: a bijection on `u64`.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One generated person, as an import file row carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoPerson {
    pub id_number: String,
    pub name: String,
    pub mobile: Option<String>,
    pub address: Option<String>,
    pub employer_uscc: Option<String>,
    pub enrolment_region: String,
    pub enrolment_status: EnrolmentStatus,
    pub enrolled_on: NaiveDate,
    pub cards: Vec<DemoCard>,
}

/// One generated card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoCard {
    pub card_number: String,
    pub card_identification_code: String,
    pub issuing_area_code: String,
    pub spec_version: String,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub bank_code: String,
    pub bank_account: Option<String>,
    pub social_state: SocialSecurityState,
    pub financial_state: FinancialState,
}

/// A demo employer (单位) with a valid unified social credit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoEmployer {
    pub uscc: String,
    pub name: &'static str,
}

/// A cooperating bank of the demo: its code, Chinese name and a card BIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoBank {
    pub code: &'static str,
    pub name: &'static str,
    pub bin: &'static str,
}

/// The cooperating banks (BINs of their debit social security cards).
pub const BANKS: [DemoBank; 4] = [
    DemoBank {
        code: "ICBC",
        name: "中国工商银行",
        bin: "621226",
    },
    DemoBank {
        code: "ABC",
        name: "中国农业银行",
        bin: "622848",
    },
    DemoBank {
        code: "CCB",
        name: "中国建设银行",
        bin: "621700",
    },
    DemoBank {
        code: "BOC",
        name: "中国银行",
        bin: "621661",
    },
];

const EMPLOYER_NAMES: [&str; 4] = [
    "柳州市柳江区螺香食品有限公司",
    "广西柳江拉堡建筑工程有限公司",
    "柳州市柳江区穿山汽车配件有限公司",
    "柳江区百朋莲藕种植专业合作社",
];

/// The demo employers, in a fixed order (the first one gets the demo
/// employer account). Their codes are fixed by the seed.
pub fn employers(seed: u64) -> Vec<DemoEmployer> {
    let mut rng = SplitMix64::new(seed ^ 0x454D_504C_4F59_4552);
    EMPLOYER_NAMES
        .iter()
        .map(|name| DemoEmployer {
            uscc: uscc(&mut rng),
            name,
        })
        .collect()
}

/// A valid USCC of a company registered in 柳江区: `91` (industry and
/// commerce, enterprise), `450206`, a 9-character organisation code, and the
/// GB 32100 check character.
fn uscc(rng: &mut SplitMix64) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut first17 = String::from("91450206MA5");
    for _ in 0..6 {
        first17.push(char::from(*rng.pick(CHARS)));
    }
    let check = uscc_check_char(&first17).unwrap_or('0');
    first17.push(check);
    first17
}

const SURNAMES: [&str; 40] = [
    "韦", "覃", "黄", "莫", "蓝", "陆", "廖", "梁", "李", "王", "张", "刘", "陈", "杨", "赵", "吴",
    "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "谢", "宋", "唐", "许",
    "潘", "蒙", "卢", "甘", "龙", "欧阳", "韩", "曾",
];

const GIVEN_CHARS: [&str; 60] = [
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "兰", "霞", "平", "刚", "桂", "华", "建", "文", "玲", "红", "春", "海", "燕",
    "志", "东", "宁", "柳", "江", "贵", "福", "秋", "月", "凤", "金", "玉", "宏", "斌", "晓", "婷",
    "梅", "琳", "鹏", "飞", "欣", "怡", "思", "雨", "佳", "俊", "宇", "泽",
];

/// The first persons of every generation have these names, so the rare
/// characters (outside the BMP, and the CJK extension block) and a minority
/// name with a middle dot are always present.
const FIXED_NAMES: [&str; 5] = ["王𠈌", "李䶮", "覃𬀩", "阿依古丽·买买提", "韦国𪚥"];

const TOWNS: [&str; 9] = [
    "拉堡镇",
    "里雍镇",
    "百朋镇",
    "成团镇",
    "三都镇",
    "里高镇",
    "进德镇",
    "穿山镇",
    "土博镇",
];

const STREETS: [&str; 8] = [
    "柳堡路",
    "南环路",
    "农贸路",
    "新兴路",
    "拉堡大道",
    "江华路",
    "福塘路",
    "白沙路",
];

/// The social and financial states of the first cards, in order, so that a
/// demo database has every state of both applications (and every pair that
/// [`sscard_domain::registry::check_initial_states`] allows and matters).
const STATE_CYCLE: [(SocialSecurityState, FinancialState); 13] = {
    use FinancialState as F;
    use SocialSecurityState as S;
    [
        (S::InProduction, F::NotActivated),
        (S::AwaitingCollection, F::NotActivated),
        (S::Collected, F::NotActivated),
        (S::Collected, F::Active),
        (S::Normal, F::Active),
        (S::Normal, F::NotActivated),
        (S::Normal, F::Frozen),
        (S::TemporarilyLost, F::Active),
        (S::TemporarilyLost, F::Frozen),
        (S::FormallyLost, F::Frozen),
        (S::Cancelled, F::Closed),
        (S::Normal, F::Closed),
        (S::AwaitingCollection, F::Closed),
    ]
};

/// The deterministic generator: person `i` of seed `s` is always the same.
#[derive(Clone, Debug)]
pub struct Generator {
    seed: u64,
    employers: Vec<DemoEmployer>,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            employers: employers(seed),
        }
    }

    pub fn employers(&self) -> &[DemoEmployer] {
        &self.employers
    }

    /// Persons `0..count`, generated one by one (nothing is kept).
    pub fn persons(&self, count: usize) -> impl Iterator<Item = DemoPerson> + '_ {
        (0..count).map(move |i| self.person(i))
    }

    /// Person number `index` (unique ID numbers for `index < 1_800_000`;
    /// unique card numbers, identification codes and accounts).
    #[allow(clippy::cast_possible_truncation)] // bounded by the modulo
    pub fn person(&self, index: usize) -> DemoPerson {
        let i = index as u64;
        // Offsets of the bijections below, so that another seed gives other
        // ID and card numbers.
        let offset = mix64(self.seed);
        let mut rng = SplitMix64::new(mix64(self.seed.wrapping_mul(0x1000_0000_01B3) ^ i));
        // Where the person lives and is insured.
        let outside = index % 50 == 7; // about 2%: insured in 南宁, not in Liuzhou
        let id_region = if outside {
            "450102"
        } else if rng.chance(60) {
            "450206"
        } else {
            "450221"
        };
        // Unique ID number: the birth day and the sequence are a bijection of the index.
        let minor = index % 40 == 11; // a few holders under 16
        let birth = if minor {
            NaiveDate::from_ymd_opt(2011, 1, 1).unwrap_or_default()
                + Duration::days(((i * 397 + offset % 3650) % 3650) as i64)
        } else {
            NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
                + Duration::days(((i * 7919 + offset % 20_000) % 20_000) as i64)
        };
        let male = rng.chance(50);
        // (birth day, sequence) is a bijection of the index: unique ID
        // numbers for the first 1,800,000 persons.
        let period = if minor { 3650 } else { 20_000 };
        let sequence = ((i / period) % 500) * 2 + u64::from(male);
        let first17 = format!("{id_region}{}{sequence:03}", birth.format("%Y%m%d"));
        let check = id_check_char(&first17).unwrap_or('0');
        let id_number = format!("{first17}{check}");

        let name = match FIXED_NAMES.get(index) {
            Some(name) => (*name).to_owned(),
            None => {
                let mut name = (*rng.pick(&SURNAMES)).to_owned();
                let given: &&str = rng.pick(&GIVEN_CHARS);
                name.push_str(given);
                if rng.chance(75) {
                    let given: &&str = rng.pick(&GIVEN_CHARS);
                    name.push_str(given);
                }
                name
            }
        };
        let mobile = (!minor && rng.chance(90)).then(|| {
            let prefixes = [
                "138", "139", "135", "136", "150", "152", "177", "180", "187", "199",
            ];
            format!("{}{:08}", rng.pick(&prefixes), rng.below(100_000_000))
        });
        let address = rng.chance(85).then(|| {
            format!(
                "广西柳州市柳江区{}{}{}号",
                rng.pick(&TOWNS),
                rng.pick(&STREETS),
                1 + rng.below(400)
            )
        });
        let employer_uscc =
            (!minor && !outside && rng.chance(40)).then(|| rng.pick(&self.employers).uscc.clone());
        let enrolment_region = if outside {
            "450102".to_owned()
        } else {
            "450206".to_owned()
        };
        let enrolment_status = if index % 25 == 13 {
            EnrolmentStatus::Terminated
        } else if index % 10 == 3 {
            EnrolmentStatus::Suspended
        } else {
            EnrolmentStatus::Contributing
        };
        let adult = birth + Duration::days(18 * 365);
        let earliest = adult.max(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default());
        let span = (as_of() - earliest).num_days().max(1);
        let enrolled_on = if minor {
            birth + Duration::days(30)
        } else {
            earliest + Duration::days(rng.below(span.unsigned_abs()) as i64)
        };

        let mut cards = Vec::new();
        let card_count = if index % 9 == 4 { 2 } else { 1 };
        for k in 0..card_count {
            let card_index = i * 2 + k;
            let replaced_earlier = card_count == 2 && k == 0;
            let (social, financial) = if replaced_earlier {
                (SocialSecurityState::Cancelled, FinancialState::Closed)
            } else if let Some(pair) = STATE_CYCLE.get(index) {
                *pair
            } else {
                weighted_states(&mut rng)
            };
            cards.push(self.card(
                &mut rng,
                card_index,
                social,
                financial,
                replaced_earlier,
                index,
            ));
        }
        DemoPerson {
            id_number,
            name,
            mobile,
            address,
            employer_uscc,
            enrolment_region,
            enrolment_status,
            enrolled_on,
            cards,
        }
    }

    #[allow(clippy::cast_possible_truncation)] // bounded by the modulo
    fn card(
        &self,
        rng: &mut SplitMix64,
        card_index: u64,
        social: SocialSecurityState,
        financial: FinancialState,
        old: bool,
        person_index: usize,
    ) -> DemoCard {
        // Unique: a bijection of the card index.
        let card_number = format!(
            "{}{:08}",
            char::from(b'A' + (card_index / 100_000_000 % 26) as u8),
            (card_index * 48_271 + mix64(self.seed) % 100_000_000) % 100_000_000
        );
        let card_identification_code =
            format!("450200D156000005{:016X}", mix64(card_index ^ self.seed));
        let bank = *rng.pick(&BANKS);
        let payload = format!(
            "{}{:012}",
            bank.bin,
            (card_index.wrapping_mul(7_777_777_777) + self.seed) % 1_000_000_000_000
        );
        let bank_account = luhn_check_digit(&payload).map(|digit| format!("{payload}{digit}"));
        // Third-generation cards (3.00) since 2019, second-generation before.
        let issue_date = if old {
            NaiveDate::from_ymd_opt(2012, 1, 1).unwrap_or_default()
                + Duration::days(rng.below(2000) as i64)
        } else if person_index % 30 == 17 {
            // Expired: issued before November 2016, valid ten years.
            NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default()
                + Duration::days(rng.below(600) as i64)
        } else {
            NaiveDate::from_ymd_opt(2017, 1, 1).unwrap_or_default()
                + Duration::days(
                    rng.below(
                        (as_of() - NaiveDate::from_ymd_opt(2017, 1, 1).unwrap_or_default())
                            .num_days()
                            .unsigned_abs(),
                    ) as i64,
                )
        };
        let expiry_date = issue_date
            .with_year(issue_date.year() + 10)
            .unwrap_or(issue_date + Duration::days(3652));
        let spec_version = if issue_date.year() >= 2019 {
            "3.00"
        } else {
            "2.00"
        };
        DemoCard {
            card_number,
            card_identification_code,
            issuing_area_code: if rng.chance(70) { "450206" } else { "450200" }.to_owned(),
            spec_version: spec_version.to_owned(),
            issue_date,
            expiry_date,
            bank_code: bank.code.to_owned(),
            bank_account,
            social_state: social,
            financial_state: financial,
        }
    }
}

/// Mostly cards in use, some in every other state.
fn weighted_states(rng: &mut SplitMix64) -> (SocialSecurityState, FinancialState) {
    use FinancialState as F;
    use SocialSecurityState as S;
    let roll = rng.below(100);
    match roll {
        0..=54 => (S::Normal, F::Active),
        55..=69 => (S::Normal, F::NotActivated),
        70..=79 => (S::Collected, F::NotActivated),
        80..=84 => (S::AwaitingCollection, F::NotActivated),
        85..=87 => (S::InProduction, F::NotActivated),
        88..=90 => (S::TemporarilyLost, F::Active),
        91..=92 => (S::FormallyLost, F::Frozen),
        93..=94 => (S::Normal, F::Frozen),
        95..=97 => (S::Collected, F::Active),
        _ => (S::Cancelled, F::Closed),
    }
}

/// The header of a persons import file, as documented in `docs/import.md`.
pub const PERSON_HEADER: [&str; 8] = [
    "社会保障号码",
    "姓名",
    "手机号",
    "地址",
    "单位统一社会信用代码",
    "参保地区划代码",
    "参保状态",
    "参保日期",
];

/// The header of a cards import file, as documented in `docs/import.md`.
pub const CARD_HEADER: [&str; 11] = [
    "社会保障卡卡号",
    "卡识别码",
    "社会保障号码",
    "发卡地区划代码",
    "规范版本",
    "发卡日期",
    "有效期",
    "合作银行代码",
    "银行账号",
    "社保应用状态",
    "金融应用状态",
];

impl DemoPerson {
    /// The person as a row of a persons import file (see [`PERSON_HEADER`]).
    pub fn to_row(&self) -> [String; 8] {
        [
            self.id_number.clone(),
            self.name.clone(),
            self.mobile.clone().unwrap_or_default(),
            self.address.clone().unwrap_or_default(),
            self.employer_uscc.clone().unwrap_or_default(),
            self.enrolment_region.clone(),
            self.enrolment_status.label_zh().to_owned(),
            self.enrolled_on.format("%Y-%m-%d").to_string(),
        ]
    }
}

impl DemoCard {
    /// The card as a row of a cards import file (see [`CARD_HEADER`]).
    pub fn to_row(&self, id_number: &str) -> [String; 11] {
        [
            self.card_number.clone(),
            self.card_identification_code.clone(),
            id_number.to_owned(),
            self.issuing_area_code.clone(),
            self.spec_version.clone(),
            self.issue_date.format("%Y%m%d").to_string(),
            self.expiry_date.format("%Y%m%d").to_string(),
            self.bank_code.clone(),
            self.bank_account.clone().unwrap_or_default(),
            self.social_state.label_zh().to_owned(),
            self.financial_state.label_zh().to_owned(),
        ]
    }
}

/// Writes `count` generated persons as a persons import file (CSV, UTF-8).
///
/// # Errors
///
/// The writer fails.
pub fn write_persons_csv(writer: impl Write, seed: u64, count: usize) -> csv::Result<u64> {
    let mut out = csv::Writer::from_writer(writer);
    out.write_record(PERSON_HEADER)?;
    let mut rows = 0;
    for person in Generator::new(seed).persons(count) {
        out.write_record(person.to_row())?;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}

/// Writes the cards of `count` generated persons as a cards import file.
///
/// # Errors
///
/// The writer fails.
pub fn write_cards_csv(writer: impl Write, seed: u64, count: usize) -> csv::Result<u64> {
    let mut out = csv::Writer::from_writer(writer);
    out.write_record(CARD_HEADER)?;
    let mut rows = 0;
    for person in Generator::new(seed).persons(count) {
        for card in &person.cards {
            out.write_record(card.to_row(&person.id_number))?;
            rows += 1;
        }
    }
    out.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use sscard_domain::identifiers::{
        BankCardNumber, CardIdentificationCode, CardNumber, IdNumber, MobileNumber, Uscc,
    };
    use sscard_domain::registry::{PersonName, check_initial_states};

    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut rng = SplitMix64::new(7);
        for _ in 0..1000 {
            assert!(rng.below(13) < 13);
        }
    }

    #[test]
    fn same_seed_same_people_other_seed_other_people() {
        let a: Vec<DemoPerson> = Generator::new(2026).persons(50).collect();
        let b: Vec<DemoPerson> = Generator::new(2026).persons(50).collect();
        let c: Vec<DemoPerson> = Generator::new(7).persons(50).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Person i does not depend on the count.
        assert_eq!(Generator::new(2026).person(42), a[42]);
    }

    #[test]
    fn every_value_is_valid_and_every_key_unique() {
        let generator = Generator::new(DEFAULT_SEED);
        let mut ids = HashSet::new();
        let mut card_numbers = HashSet::new();
        let mut codes = HashSet::new();
        let mut accounts = HashSet::new();
        let mut social = HashSet::new();
        let mut financial = HashSet::new();
        let mut statuses = HashSet::new();
        let mut regions = HashSet::new();
        let mut expired = 0;
        for person in generator.persons(3000) {
            IdNumber::parse_at(&person.id_number, as_of()).unwrap();
            assert!(ids.insert(person.id_number.clone()));
            regions.insert(person.id_number[..6].to_owned());
            PersonName::parse(&person.name).unwrap();
            if let Some(mobile) = &person.mobile {
                MobileNumber::parse(mobile).unwrap();
            }
            if let Some(uscc) = &person.employer_uscc {
                Uscc::parse(uscc).unwrap();
            }
            statuses.insert(person.enrolment_status);
            for card in &person.cards {
                CardNumber::parse(&card.card_number).unwrap();
                CardIdentificationCode::parse(&card.card_identification_code).unwrap();
                assert!(card_numbers.insert(card.card_number.clone()));
                assert!(codes.insert(card.card_identification_code.clone()));
                let account = card.bank_account.as_ref().unwrap();
                BankCardNumber::parse(account).unwrap();
                assert!(accounts.insert(account.clone()));
                let bank = BANKS.iter().find(|b| b.code == card.bank_code).unwrap();
                assert!(account.starts_with(bank.bin));
                check_initial_states(card.social_state, card.financial_state).unwrap();
                social.insert(card.social_state);
                financial.insert(card.financial_state);
                assert!(card.expiry_date > card.issue_date);
                if card.expiry_date < as_of() && card.social_state == SocialSecurityState::Normal {
                    expired += 1;
                }
            }
        }
        assert_eq!(social.len(), SocialSecurityState::ALL.len());
        assert_eq!(financial.len(), FinancialState::ALL.len());
        assert_eq!(statuses.len(), 3);
        assert!(
            regions.contains("450206") && regions.contains("450221") && regions.contains("450102")
        );
        assert!(expired > 0, "some cards in use have expired");
    }

    #[test]
    fn the_demo_set_has_everything_a_tester_needs() {
        let persons: Vec<DemoPerson> = Generator::new(DEFAULT_SEED).persons(DEMO_PERSONS).collect();
        let social: HashSet<_> = persons
            .iter()
            .flat_map(|p| p.cards.iter().map(|c| c.social_state))
            .collect();
        let financial: HashSet<_> = persons
            .iter()
            .flat_map(|p| p.cards.iter().map(|c| c.financial_state))
            .collect();
        assert_eq!(social.len(), 7);
        assert_eq!(financial.len(), 4);
        assert_eq!(persons[0].name, "王𠈌");
        assert_eq!(persons[1].name, "李䶮");
        assert!(persons.iter().any(|p| p.enrolment_region == "450102"));
        let employers = employers(DEFAULT_SEED);
        for employer in &employers {
            Uscc::parse(&employer.uscc).unwrap();
        }
        assert!(
            persons
                .iter()
                .filter(|p| p.employer_uscc.as_deref() == Some(employers[0].uscc.as_str()))
                .count()
                >= 5
        );
        let banks: HashSet<_> = persons
            .iter()
            .flat_map(|p| p.cards.iter().map(|c| c.bank_code.clone()))
            .collect();
        assert_eq!(banks.len(), BANKS.len());
    }

    #[test]
    fn export_files_have_the_documented_headers() {
        let mut persons = Vec::new();
        assert_eq!(write_persons_csv(&mut persons, 1, 20).unwrap(), 20);
        let text = String::from_utf8(persons).unwrap();
        assert!(text.starts_with("社会保障号码,姓名,手机号"));
        let mut cards = Vec::new();
        let written = write_cards_csv(&mut cards, 1, 20).unwrap();
        assert!(written >= 20);
        assert_eq!(
            String::from_utf8(cards).unwrap().lines().count() as u64,
            written + 1
        );
    }
}
