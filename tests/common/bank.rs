//! Fixtures of the bank interface: registered test banks, cards of a bank
//! in a chosen state, tellers of a bank, and requests signed like a bank's
//! system (with the published test key of docs/bank-interface.md).

#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::Value;
use sscard::service::banks::{BankInput, canonical_request, canonical_response, example};
use sscard_crypto::{Sm2PublicKey, Sm2SigningKey};

use super::{SignedIn, TestApp, valid_id_number};

/// The ICBC BINs of the tests (ICBC's real social security card BINs).
pub const ICBC_BINS: [&str; 2] = ["621226", "622202"];
/// The CCB BIN of the tests.
pub const CCB_BIN: &str = "621700";

/// The published test key of the worked example (registered for ICBC).
pub fn test_key() -> Sm2SigningKey {
    Sm2SigningKey::from_pem(example::TEST_PRIVATE_KEY_PEM).expect("the test key reads")
}

/// A Luhn-valid 19-digit account under `bin`, unique to `n`.
pub fn account(bin: &str, n: u32) -> String {
    let payload = format!("{bin}{n:012}");
    let digit = sscard_domain::identifiers::luhn_check_digit(&payload).expect("digits");
    format!("{payload}{digit}")
}

/// A card of a bank in a chosen state.
pub struct BankCard<'a> {
    pub first17: &'a str,
    pub name: &'a str,
    pub number: &'a str,
    pub bank: &'a str,
    pub social: &'a str,
    pub financial: &'a str,
    pub account: Option<String>,
    /// YYYYMMDD.
    pub expiry: &'a str,
}

impl<'a> BankCard<'a> {
    /// An ICBC card in the holder's hands (已领卡未启用), account not activated.
    pub fn new(first17: &'a str, number: &'a str) -> Self {
        Self {
            first17,
            name: "韦秀兰",
            number,
            bank: "ICBC",
            social: "collected",
            financial: "not_activated",
            account: None,
            expiry: "20360101",
        }
    }
}

impl TestApp {
    /// Registers ICBC (the test key, BINs 621226 and 622202) and CCB (no
    /// key, BIN 621700) through the service.
    pub async fn register_test_banks(&self) {
        let services = self.db().services().await;
        let actor = sscard::service::Actor::system();
        services
            .create_bank(
                &BankInput {
                    code: "ICBC".to_owned(),
                    name: "中国工商银行柳州分行".to_owned(),
                    bins: ICBC_BINS.iter().map(|b| (*b).to_owned()).collect(),
                    contact_name: "王经理（个人金融部）".to_owned(),
                    contact_phone: "0772-2812345".to_owned(),
                    api_public_key: Some(example::TEST_PUBLIC_KEY_PEM.to_owned()),
                    status: None,
                },
                &actor,
            )
            .await
            .expect("register ICBC");
        services
            .create_bank(
                &BankInput {
                    code: "CCB".to_owned(),
                    name: "中国建设银行柳州分行".to_owned(),
                    bins: vec![CCB_BIN.to_owned()],
                    contact_name: String::new(),
                    contact_phone: String::new(),
                    api_public_key: None,
                    status: None,
                },
                &actor,
            )
            .await
            .expect("register CCB");
    }

    /// Registers the holder (unless known) and the card; gives the holder's
    /// ID number.
    pub async fn bank_card(&self, card: &BankCard<'_>) -> String {
        let id_number = valid_id_number(card.first17);
        let services = self.db().services().await;
        let index = services
            .keyring()
            .blind_index(sscard::service::registry::ID_NUMBER_INDEX, &id_number);
        let known = {
            let mut conn = services
                .store()
                .pool()
                .acquire()
                .await
                .expect("a connection");
            sscard::store::registry::person_by_index(&mut conn, &index)
                .await
                .expect("look up")
                .is_some()
        };
        if !known {
            self.register_person(&id_number, card.name, Some("13977212345"))
                .await;
        }
        let n: u32 = card.number.bytes().fold(11u32, |acc, b| {
            acc.wrapping_mul(37).wrapping_add(u32::from(b))
        });
        let record = sscard::service::registry::CardInput {
            card_number: card.number.to_owned(),
            card_identification_code: format!("450200D156000005{n:08X}{:08X}", n.rotate_left(9)),
            issuing_area_code: "450200".to_owned(),
            spec_version: "3.00".to_owned(),
            // Issued ten years before the expiry (third-generation cards).
            issue_date: format!(
                "{}{}",
                card.expiry[..4].parse::<u32>().expect("a year") - 10,
                &card.expiry[4..]
            ),
            expiry_date: card.expiry.to_owned(),
            holder_id_number: id_number.clone(),
            bank_code: card.bank.to_owned(),
            bank_account: card.account.clone(),
            social_state: Some(card.social.to_owned()),
            financial_state: Some(card.financial.to_owned()),
        }
        .parse()
        .expect("a valid card");
        services
            .register_card(&record, &sscard::service::Actor::system())
            .await
            .expect("register the card");
        id_number
    }

    /// A signed-in teller of `bank` (password changed).
    pub async fn teller_of(&self, username: &str, bank: &str) -> SignedIn {
        let services = self.db().services().await;
        let created = services
            .create_account(
                sscard::service::accounts::NewAccount {
                    username: username.to_owned(),
                    display_name: Some(format!("{bank}柜员")),
                    roles: vec!["bank_teller".to_owned()],
                    bank_code: Some(bank.to_owned()),
                    employer_uscc: None,
                },
                &sscard::service::Actor::system(),
            )
            .await
            .expect("create the teller");
        let token = self
            .sign_in(username, &created.initial_password, None)
            .await
            .expect("first sign-in");
        let response = self
            .client
            .post(self.url("/api/v1/session/password"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "current_password": created.initial_password,
                "new_password": "Liujiang-Bank-Counter-2026",
            }))
            .send()
            .await
            .expect("change password");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        SignedIn {
            username: username.to_owned(),
            token,
        }
    }

    /// The card as bureau staff see it (through the service).
    pub async fn card_view(&self, number: &str) -> sscard::service::registry::CardView {
        self.db()
            .services()
            .await
            .card_by_number(
                &sscard_domain::identifiers::CardNumber::parse(number).expect("a card number"),
                &sscard::service::registry::Viewer::Staff,
            )
            .await
            .expect("the card")
    }

    /// Sends a request signed as `signing` says; the body is sent as given.
    pub async fn bank_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
        signing: &Signing<'_>,
    ) -> reqwest::Response {
        let canonical = canonical_request(
            method.as_str(),
            path,
            signing.bank,
            &signing.timestamp.to_string(),
            &signing.nonce,
            signing
                .signed_body
                .unwrap_or(body.unwrap_or_default())
                .as_bytes(),
        );
        let signature = hex::encode(signing.key.sign(canonical.as_bytes()));
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("X-Bank-Code", signing.bank)
            .header("X-Timestamp", signing.timestamp.to_string())
            .header("X-Nonce", &signing.nonce)
            .header(
                "X-Signature",
                signing.signature.as_deref().unwrap_or(&signature),
            );
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.expect("the request")
    }

    /// The bureau's current answer-verification key.
    pub async fn server_key(&self) -> (String, Sm2PublicKey) {
        let (status, keys) = self.get_json("/api/v1/bank/server-key").await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        let key_id = keys["current"]["key_id"]
            .as_str()
            .expect("key id")
            .to_owned();
        let key =
            Sm2PublicKey::from_sec1_hex(keys["current"]["public_key_hex"].as_str().expect("hex"))
                .expect("a public key");
        (key_id, key)
    }
}

/// How [`TestApp::bank_call`] signs.
pub struct Signing<'a> {
    pub bank: &'a str,
    pub key: &'a Sm2SigningKey,
    pub timestamp: i64,
    pub nonce: String,
    /// Sign this body instead of the one sent (a tampered request).
    pub signed_body: Option<&'a str>,
    /// Send this signature header instead of the computed one.
    pub signature: Option<String>,
}

impl<'a> Signing<'a> {
    /// Now, a fresh random nonce.
    pub fn fresh(bank: &'a str, key: &'a Sm2SigningKey) -> Self {
        Self {
            bank,
            key,
            timestamp: chrono::Utc::now().timestamp(),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            signed_body: None,
            signature: None,
        }
    }
}

/// Checks the bureau's signature of an answer to a request with `nonce`
/// and gives the status and JSON body.
pub async fn verified_answer(
    app: &TestApp,
    response: reqwest::Response,
    nonce: &str,
) -> (StatusCode, Value) {
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("the answer carries {name}"))
    };
    let timestamp = header("x-timestamp");
    let key_id = header("x-key-id");
    let signature = hex::decode(header("x-signature")).expect("hex signature");
    let bytes = response.bytes().await.expect("the body");
    let (current_id, key) = app.server_key().await;
    assert_eq!(key_id, current_id, "signed with the published key");
    let canonical = canonical_response(status.as_u16(), nonce, &timestamp, &bytes);
    assert!(
        key.verify(canonical.as_bytes(), &signature),
        "the bureau's signature verifies"
    );
    let mut tampered = bytes.to_vec();
    tampered.push(b' ');
    assert!(
        !key.verify(
            canonical_response(status.as_u16(), nonce, &timestamp, &tampered).as_bytes(),
            &signature
        ),
        "and covers the body"
    );
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
