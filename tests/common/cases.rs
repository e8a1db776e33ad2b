//! Fixtures of the activation case: cards in a chosen state, the forms of
//! each channel, and signed-in calls.

#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{CitizenSignedIn, TestApp, valid_id_number};

/// A small PNG (the 8-byte signature is what the server checks).
pub const PNG_SCAN: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89, 0, 0, 0, 10, b'I', b'D', b'A', b'T',
    0x78, 0x9C, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0D, 0x0A, 0x2D, 0xB4, 0, 0, 0, 0, b'I', b'E', b'N',
    b'D', 0xAE, 0x42, 0x60, 0x82,
];

/// A minimal PDF.
pub const PDF_SCAN: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// A card number unique to `n` (9 characters: a letter and 8 digits).
pub fn card_number(n: u32) -> String {
    format!("L{:08}", n % 100_000_000)
}

impl TestApp {
    /// Registers a card of `holder_id` in `social_state` (a state code such
    /// as `collected`, `normal`, `temporarily_lost`), valid until 2034.
    pub async fn register_card(&self, holder_id: &str, number: &str, social_state: &str) {
        self.register_card_expiring(holder_id, number, social_state, "20340314")
            .await;
    }

    /// As [`TestApp::register_card`] with an expiry date (YYYYMMDD).
    pub async fn register_card_expiring(
        &self,
        holder_id: &str,
        number: &str,
        social_state: &str,
        expiry: &str,
    ) {
        let services = self.db().services().await;
        let n: u32 = number.bytes().fold(7u32, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u32::from(b))
        });
        let record = sscard::service::registry::CardInput {
            card_number: number.to_owned(),
            card_identification_code: format!("450200D156000005{n:08X}{:08X}", n.rotate_left(7)),
            issuing_area_code: "450200".to_owned(),
            spec_version: "3.00".to_owned(),
            issue_date: "20240315".to_owned(),
            expiry_date: expiry.to_owned(),
            holder_id_number: holder_id.to_owned(),
            bank_code: "ICBC".to_owned(),
            bank_account: None,
            social_state: Some(social_state.to_owned()),
            financial_state: None,
        }
        .parse()
        .expect("a valid card");
        services
            .register_card(&record, &sscard::service::Actor::system())
            .await
            .expect("register the card");
    }

    /// Registers a person enrolled elsewhere or not any more: `region` a
    /// division code, `status` `contributing` / `suspended` / `terminated`.
    pub async fn register_person_enrolled(
        &self,
        id_number: &str,
        name: &str,
        region: &str,
        status: &str,
    ) -> String {
        let services = self.db().services().await;
        let record = sscard::service::registry::PersonInput {
            id_number: id_number.to_owned(),
            name: name.to_owned(),
            mobile: Some("13977212345".to_owned()),
            address: None,
            employer_uscc: None,
            enrolment_region: region.to_owned(),
            enrolment_status: status.to_owned(),
            enrolment_since: "2015-07-01".to_owned(),
        }
        .parse(sscard::clock::today_in_china())
        .expect("a valid person");
        let view = services
            .register_person(&record, &sscard::service::Actor::system())
            .await
            .expect("register the person");
        view.id_number_masked
    }

    /// A signed-in cardholder with a card in `social_state`.
    pub async fn cardholder(
        &self,
        first17: &str,
        name: &str,
        number: &str,
        social_state: &str,
    ) -> CitizenSignedIn {
        let citizen = self.citizen(first17, name).await;
        self.register_card(&citizen.id_number, number, social_state)
            .await;
        citizen
    }

    /// `POST` with a bearer token and a JSON body (`Value::Null`: no body).
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path)).bearer_auth(token);
        if !body.is_null() {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET` with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Uploads a scan; returns its `upload_id`.
    pub async fn upload_as(&self, token: &str, file_name: &str, bytes: &[u8]) -> String {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(file_name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = self
            .client
            .post(self.url("/api/v1/uploads"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["upload_id"].as_str().expect("an upload id").to_owned()
    }

    /// Submits an online application for the citizen's card; returns the
    /// application number.
    pub async fn apply_online(&self, citizen: &CitizenSignedIn, number: &str) -> String {
        let (status, body) = self
            .post_as(
                &citizen.token,
                "/api/v1/applications",
                &online_form(citizen, number),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["application_no"]
            .as_str()
            .expect("a number")
            .to_owned()
    }

    /// Takes an action; asserts the status and returns the body.
    pub async fn act(
        &self,
        token: &str,
        application_no: &str,
        action: &str,
        body: &Value,
        expected: StatusCode,
    ) -> Value {
        let (status, answer) = self
            .post_as(
                token,
                &format!("/api/v1/applications/{application_no}/{action}"),
                body,
            )
            .await;
        assert_eq!(status, expected, "{action} on {application_no}: {answer}");
        answer
    }
}

/// The online form of a cardholder for their own card.
pub fn online_form(citizen: &CitizenSignedIn, number: &str) -> Value {
    json!({
        "applicant": {
            "name": citizen.name,
            "id_number": citizen.id_number,
            "mobile": "13877212345",
            "address": "广西柳州市柳江区柳堡路318号",
        },
        "card_number": number,
        "delivery": { "method": "online" },
        "declaration": true,
    })
}

/// A walk-in's form as the 受理岗 enters it, every material presented.
pub fn window_form(id_number: &str, name: &str, number: &str) -> Value {
    json!({
        "channel": "window",
        "applicant": { "name": name, "id_number": id_number, "mobile": "13977212345" },
        "card_number": number,
        "delivery": { "method": "window" },
        "materials": [
            { "code": "application_form", "status": "submitted" },
            { "code": "own_card", "status": "submitted" },
        ],
        "declaration": true,
    })
}

/// A valid ID number of someone born in 1990 in 柳江区, unique to `n`.
pub fn id_number_for(n: u32) -> String {
    valid_id_number(&format!("450221199001{:02}{:03}", n % 28 + 1, n % 1000))
}

/// The first 17 digits of [`id_number_for`]`(n)` (for [`TestApp::citizen`]).
pub fn first17_for(n: u32) -> String {
    format!("450221199001{:02}{:03}", n % 28 + 1, n % 1000)
}

/// An agent (受委托人) as the form names them; `n` makes the ID number.
pub fn agent(n: u32) -> Value {
    json!({
        "name": "李华",
        "id_number": id_number_for(n),
        "mobile": "13977212399",
        "relation": "配偶",
    })
}

/// A posted application as the 受理岗 registers it: the waybill it came
/// with, when it arrived, every material presented, the result to be sent
/// back by express.
pub fn express_form(id_number: &str, name: &str, number: &str, received_at: &str) -> Value {
    json!({
        "channel": "express",
        "applicant": { "name": name, "id_number": id_number, "mobile": "13977212345" },
        "card_number": number,
        "delivery": {
            "method": "express",
            "recipient": name,
            "mobile": "13977212345",
            "address": "广西柳州市柳江区柳堡路318号",
        },
        "inbound_waybill": "SF1234567890",
        "received_at": received_at,
        "materials": [
            { "code": "application_form", "status": "submitted" },
            { "code": "own_card", "status": "submitted" },
        ],
        "declaration": true,
    })
}

impl TestApp {
    /// A signed-in cardholder numbered `n` (ID number [`id_number_for`]`(n)`,
    /// card [`card_number`]`(n)` in `social_state`).
    pub async fn cardholder_numbered(&self, n: u32, social_state: &str) -> CitizenSignedIn {
        self.cardholder(&first17_for(n), "黄明", &card_number(n), social_state)
            .await
    }

    /// A person numbered `n` registered for a walk-in, with a card in
    /// `social_state`; gives the ID number and the card number.
    pub async fn walk_in_person(&self, n: u32, social_state: &str) -> (String, String) {
        let id = id_number_for(n);
        self.register_person(&id, "黄明", Some("13977212345")).await;
        let number = card_number(n);
        self.register_card(&id, &number, social_state).await;
        (id, number)
    }

    /// Submits `form` as `token`; asserts 201 and gives the case.
    pub async fn submit_as(&self, token: &str, form: &Value) -> Value {
        let (status, body) = self.post_as(token, "/api/v1/applications", form).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// The case as `token` sees it; asserts 200.
    pub async fn case_as(&self, token: &str, application_no: &str) -> Value {
        let (status, body) = self
            .get_as(token, &format!("/api/v1/applications/{application_no}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{application_no}: {body}");
        body
    }
}

/// Registers a person of 柳江区 (with `mobile` and an address on record) and
/// their card in `social_state` straight through the registry service, as
/// an import does — for tests whose server is another process, or that
/// register while the server is busy.
pub async fn register_person_with_card(
    services: &sscard::service::Services,
    id_number: &str,
    name: &str,
    mobile: &str,
    number: &str,
    social_state: &str,
) {
    let person = sscard::service::registry::PersonInput {
        id_number: id_number.to_owned(),
        name: name.to_owned(),
        mobile: Some(mobile.to_owned()),
        address: Some("广西柳州市柳江区柳堡路318号".to_owned()),
        employer_uscc: None,
        enrolment_region: "450206".to_owned(),
        enrolment_status: "contributing".to_owned(),
        enrolment_since: "2015-07-01".to_owned(),
    }
    .parse(sscard::clock::today_in_china())
    .expect("a valid person");
    services
        .register_person(&person, &sscard::service::Actor::system())
        .await
        .expect("register the person");
    let n: u32 = number.bytes().fold(7u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    let card = sscard::service::registry::CardInput {
        card_number: number.to_owned(),
        card_identification_code: format!("450200D156000005{n:08X}{:08X}", n.rotate_left(7)),
        issuing_area_code: "450200".to_owned(),
        spec_version: "3.00".to_owned(),
        issue_date: "20240315".to_owned(),
        expiry_date: "20340314".to_owned(),
        holder_id_number: id_number.to_owned(),
        bank_code: "ICBC".to_owned(),
        bank_account: None,
        social_state: Some(social_state.to_owned()),
        financial_state: None,
    }
    .parse()
    .expect("a valid card");
    services
        .register_card(&card, &sscard::service::Actor::system())
        .await
        .expect("register the card");
}
