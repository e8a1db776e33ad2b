//! Seeding an empty database with the demo data of [`crate::demo`]:
//! `sscard serve --demo` and `sscard demo seed`.
//!
//! Persons and cards come from the deterministic generator (same seed, same
//! people and cards); they are written through the registry's upserts in one
//! transaction with one audit entry (`demo.seed`). Then one staff account per
//! role is created through [`Services::create_account`], each with a random
//! one-time initial password, which is shown once and not part of the
//! determinism.

use sscard_domain::identifiers::{
    BankCardNumber, CardIdentificationCode, CardNumber, IdNumber, MobileNumber, Uscc,
};
use sscard_domain::registry::{Address, BankCode, Enrolment, PersonName, RegionCode, SpecVersion};

use super::accounts::{NewAccount, TotpEnrollment};
use super::registry::{CardRecord, PersonRecord};
use super::{Actor, Outcome, ServiceError, ServiceResult, Services};
use crate::demo::{BANKS, DEMO_PERSONS, DemoCard, DemoPerson, Generator};
use crate::store::StoreError;
use crate::store::demo::{Population, population};

/// One demo staff account with its one-time credentials.
pub struct DemoAccount {
    pub username: String,
    pub display_name: String,
    /// Role codes, e.g. `bank_teller`.
    pub roles: Vec<String>,
    /// What the account is for, in Chinese (岗位, bound bank or employer).
    pub description: String,
    pub initial_password: String,
    /// For admin and supervisor: the TOTP secret to enrol.
    pub totp: Option<TotpEnrollment>,
}

impl std::fmt::Debug for DemoAccount {
    /// Prints no credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoAccount")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// What `seed_demo` did.
#[derive(Debug)]
pub enum DemoOutcome {
    /// The database was empty and now holds the demo data.
    Seeded {
        seed: u64,
        persons: u64,
        cards: u64,
        accounts: Vec<DemoAccount>,
    },
    /// The database already holds data; nothing was written.
    NotEmpty(Population),
}

impl Services {
    /// Fills an empty database with the demo data of `seed`; a database
    /// that holds any person, card or account is left alone.
    ///
    /// # Errors
    ///
    /// The database fails.
    pub async fn seed_demo(&self, seed: u64, actor: &Actor) -> ServiceResult<DemoOutcome> {
        let generator = Generator::new(seed);
        let mut tx = self.store().begin().await?;
        let found = population(&mut tx).await?;
        if !found.is_empty() {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(DemoOutcome::NotEmpty(found));
        }
        // The cooperating banks first, so every demo card's account is
        // checked against its bank's BINs as it is written.
        self.seed_demo_banks(&mut tx).await?;
        let mut persons = 0;
        let mut cards = 0;
        for person in generator.persons(DEMO_PERSONS) {
            self.upsert_person_in(&mut tx, &person_record(&person)?)
                .await?;
            persons += 1;
            for card in &person.cards {
                self.upsert_card_in(&mut tx, &card_record(card, &person.id_number)?, actor)
                    .await?;
                cards += 1;
            }
        }
        self.record_audit(
            &mut tx,
            actor,
            "demo.seed",
            "demo",
            Outcome::Succeeded,
            serde_json::json!({ "seed": seed, "persons": persons, "cards": cards }),
        )
        .await?;
        super::commit(tx).await?;

        let mut accounts = Vec::new();
        for spec in account_specs(&generator) {
            let created = self
                .create_account(
                    NewAccount {
                        username: spec.username.to_owned(),
                        display_name: Some(spec.display_name.clone()),
                        roles: spec.roles.iter().map(|r| (*r).to_owned()).collect(),
                        bank_code: spec.bank_code.map(str::to_owned),
                        employer_uscc: spec.employer_uscc.clone(),
                    },
                    actor,
                )
                .await?;
            accounts.push(DemoAccount {
                username: created.account.username.clone(),
                display_name: created.account.display_name.clone(),
                roles: created
                    .account
                    .roles
                    .iter()
                    .map(|r| r.code().to_owned())
                    .collect(),
                description: spec.description,
                initial_password: created.initial_password,
                totp: created.totp,
            });
        }
        Ok(DemoOutcome::Seeded {
            seed,
            persons,
            cards,
            accounts,
        })
    }
}

struct AccountSpec {
    username: &'static str,
    display_name: String,
    roles: &'static [&'static str],
    bank_code: Option<&'static str>,
    employer_uscc: Option<String>,
    description: String,
}

/// One account per role: the three window posts, supervisor, admin, a
/// teller of the first cooperating bank and the first demo employer.
fn account_specs(generator: &Generator) -> Vec<AccountSpec> {
    let bank = BANKS[0];
    let employer = &generator.employers()[0];
    let plain = |username, display_name: &str, roles, description: &str| AccountSpec {
        username,
        display_name: display_name.to_owned(),
        roles,
        bank_code: None,
        employer_uscc: None,
        description: description.to_owned(),
    };
    vec![
        plain(
            "acceptor",
            "受理岗演示账号",
            &["acceptor"],
            "受理岗（收件与受理）",
        ),
        plain(
            "processor",
            "经办岗演示账号",
            &["processor"],
            "经办岗（审查与决定）",
        ),
        plain(
            "feedback",
            "反馈岗演示账号",
            &["feedback"],
            "反馈岗（颁证与送达）",
        ),
        plain(
            "supervisor",
            "监督员演示账号",
            &["supervisor"],
            "监督（统计、审计、超期与差评），须动态口令",
        ),
        plain(
            "admin",
            "管理员演示账号",
            &["admin"],
            "系统管理员，须动态口令",
        ),
        AccountSpec {
            username: "teller.icbc",
            display_name: format!("{}柜员", bank.name),
            roles: &["bank_teller"],
            bank_code: Some(bank.code),
            employer_uscc: None,
            description: format!("合作银行柜员，绑定{}（{}）", bank.name, bank.code),
        },
        AccountSpec {
            username: "employer.demo",
            display_name: employer.name.to_owned(),
            roles: &["employer"],
            bank_code: None,
            employer_uscc: Some(employer.uscc.clone()),
            description: format!("单位经办人，绑定{}（{}）", employer.name, employer.uscc),
        },
    ]
}

fn generated(what: &str) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!(
        "the demo generator produced an invalid {what}"
    ))
}

fn person_record(person: &DemoPerson) -> ServiceResult<PersonRecord> {
    Ok(PersonRecord {
        id_number: IdNumber::parse(&person.id_number).map_err(|_| generated("ID number"))?,
        name: PersonName::parse(&person.name).map_err(|_| generated("name"))?,
        mobile: person
            .mobile
            .as_deref()
            .map(MobileNumber::parse)
            .transpose()
            .map_err(|_| generated("mobile number"))?,
        address: match person.address.as_deref() {
            Some(address) => Address::parse(address).map_err(|_| generated("address"))?,
            None => None,
        },
        employer_uscc: person
            .employer_uscc
            .as_deref()
            .map(Uscc::parse)
            .transpose()
            .map_err(|_| generated("USCC"))?,
        enrolment: Enrolment {
            region_code: RegionCode::parse(&person.enrolment_region)
                .map_err(|_| generated("region"))?,
            status: person.enrolment_status,
            since: person.enrolled_on,
        },
    })
}

fn card_record(card: &DemoCard, holder: &str) -> ServiceResult<CardRecord> {
    Ok(CardRecord {
        card_number: CardNumber::parse(&card.card_number).map_err(|_| generated("card number"))?,
        card_identification_code: CardIdentificationCode::parse(&card.card_identification_code)
            .map_err(|_| generated("card identification code"))?,
        issuing_area_code: RegionCode::parse(&card.issuing_area_code)
            .map_err(|_| generated("area"))?,
        spec_version: SpecVersion::parse(&card.spec_version).map_err(|_| generated("version"))?,
        issue_date: card.issue_date,
        expiry_date: card.expiry_date,
        holder: IdNumber::parse(holder).map_err(|_| generated("ID number"))?,
        bank_code: BankCode::parse(&card.bank_code).map_err(|_| generated("bank code"))?,
        bank_account: card
            .bank_account
            .as_deref()
            .map(BankCardNumber::parse)
            .transpose()
            .map_err(|_| generated("bank account"))?,
        social_state: card.social_state,
        financial_state: card.financial_state,
    })
}
