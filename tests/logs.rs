//! What the server writes to its log during complete cases — in the JSON
//! and in the text format, with debug output of sscard itself switched on —
//! holds no personal data: no ID number (nor its digits run together), no
//! mobile number, no name, no address. Every answer's request id is in the
//! log, so an operator can find a request a person quotes.

mod common;

use common::cases::{PNG_SCAN, register_person_with_card};
use common::node::{Node, NodeOptions, act, staff};
use common::{TestDb, otp_in, valid_id_number};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::service::Actor;

const APPLICANT_NAME: &str = "韦𠈌";
const WALK_IN_NAME: &str = "覃丽华";
const AGENT_NAME: &str = "蓝海燕";
const APPLICANT_MOBILE: &str = "13877212345";
const WALK_IN_MOBILE: &str = "13977215678";
const AGENT_MOBILE: &str = "13607726789";
/// The address `register_person_with_card` records.
const ADDRESS: &str = "广西柳州市柳江区柳堡路318号";

struct Person {
    id_number: String,
    name: &'static str,
    mobile: &'static str,
    card: String,
}

async fn register(
    services: &sscard::service::Services,
    first17: &str,
    name: &'static str,
    mobile: &'static str,
    card: &str,
) -> Person {
    let id_number = valid_id_number(first17);
    register_person_with_card(services, &id_number, name, mobile, card, "collected").await;
    Person {
        id_number,
        name,
        mobile,
        card: card.to_owned(),
    }
}

/// Runs an online case (SMS sign-in, a scan, a one-time notice, the
/// supplement, 受理, 经办, 反馈) and a walk-in by an agent, plus the public
/// progress query and a few refusals, on a node writing `format` logs;
/// gives the log and the personal data that went into the requests.
async fn full_cases_logged(format: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let db = TestDb::new().await;
    let key_file = db.key_file();
    let mut options = NodeOptions::new(db.url(), &key_file);
    options.log_format = format;
    // Production filters, and sscard's own debug output on top.
    options.log_level = "info,sqlx=warn,tower_http=debug,sscard=debug";
    let node = Node::start(&options);
    let services = db.services().await;

    let applicant = register(
        &services,
        "45022119900101123",
        APPLICANT_NAME,
        APPLICANT_MOBILE,
        "L00000001",
    )
    .await;
    let walk_in = register(
        &services,
        "45022119751212002",
        WALK_IN_NAME,
        WALK_IN_MOBILE,
        "L00000002",
    )
    .await;
    let agent_id = valid_id_number("45022119820606004");
    let clerk = staff(
        &services,
        "window1",
        &["acceptor", "processor", "feedback"],
        &node,
        &node,
    )
    .await;

    // Online: the code by SMS, a scan, the application.
    let (status, body) = node
        .post(
            None,
            "/api/v1/citizen/otp",
            &json!({ "id_number": applicant.id_number, "name": applicant.name }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let outbox = services.sms_outbox(&Actor::system()).await.unwrap();
    let code = otp_in(&outbox[0].text).unwrap();
    let (status, body) = node
        .post(
            None,
            "/api/v1/citizen/session",
            &json!({ "id_number": applicant.id_number, "name": applicant.name, "code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let citizen = body["token"].as_str().unwrap().to_owned();
    let form = json!({
        "applicant": {
            "name": applicant.name, "id_number": applicant.id_number,
            "mobile": applicant.mobile, "address": ADDRESS,
        },
        "card_number": applicant.card,
        "delivery": { "method": "online" },
        "declaration": true,
    });
    let (status, body) = node
        .post(Some(&citizen), "/api/v1/applications/precheck", &form)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = node
        .post(Some(&citizen), "/api/v1/applications", &form)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let online = body["application_no"].as_str().unwrap().to_owned();
    act(
        &node,
        &clerk,
        &online,
        "notify-missing",
        &json!({ "materials": [
            { "code": "application_form", "status": "defective", "reason": "通讯地址不完整" }
        ]}),
    )
    .await;
    let upload = {
        let part = reqwest::multipart::Part::bytes(PNG_SCAN.to_vec())
            .file_name(format!("{}的申请表.png", applicant.name));
        let response = node
            .client
            .post(node.url("/api/v1/uploads"))
            .bearer_auth(&citizen)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["upload_id"].as_str().unwrap().to_owned()
    };
    act(
        &node,
        &citizen,
        &online,
        "supplement",
        &json!({ "materials": [{ "code": "application_form", "upload_id": upload }] }),
    )
    .await;
    for action in ["accept", "approve"] {
        act(&node, &clerk, &online, action, &Value::Null).await;
    }
    let done = act(&node, &clerk, &online, "deliver", &Value::Null).await;
    assert_eq!(done["status"], "completed");

    // A walk-in by an agent (受委托人), who also collects the card.
    let (status, body) = node
        .post(
            Some(&clerk),
            "/api/v1/applications",
            &json!({
                "channel": "window",
                "applicant": { "name": walk_in.name, "id_number": walk_in.id_number, "mobile": walk_in.mobile },
                "agent": { "name": AGENT_NAME, "id_number": agent_id, "mobile": AGENT_MOBILE, "relation": "配偶" },
                "card_number": walk_in.card,
                "delivery": { "method": "window" },
                "materials": [
                    { "code": "application_form", "status": "submitted" },
                    { "code": "own_card", "status": "submitted" },
                    { "code": "agent_id_card", "status": "submitted" },
                    { "code": "agent_commitment", "status": "submitted" },
                ],
                "declaration": true,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let walk_in_no = body["application_no"].as_str().unwrap().to_owned();
    for action in ["accept", "approve"] {
        act(&node, &clerk, &walk_in_no, action, &Value::Null).await;
    }
    // The agent collects the card at the window, named and identified.
    let done = act(
        &node,
        &clerk,
        &walk_in_no,
        "deliver",
        &json!({ "delivery": {
            "collected_by": "agent", "collector_name": AGENT_NAME, "collector_id_number": agent_id,
        }}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");

    // The public progress query, right and wrong; a wrong name at sign-in;
    // a malformed ID number; the staff look-up by ID number.
    let (status, body) = node
        .post(None, "/api/v1/progress", &json!({ "application_no": online, "id_number": applicant.id_number, "name": applicant.name }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = node
        .post(None, "/api/v1/progress", &json!({ "application_no": online, "id_number": walk_in.id_number, "name": walk_in.name }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = node
        .post(
            None,
            "/api/v1/citizen/otp",
            &json!({ "id_number": walk_in.id_number, "name": applicant.name }),
        )
        .await;
    assert!(status.is_success() || status.is_client_error());
    let mut broken = walk_in.id_number.clone();
    broken.pop();
    broken.push(if walk_in.id_number.ends_with('1') {
        '2'
    } else {
        '1'
    });
    let (status, _) = node
        .post(
            None,
            "/api/v1/identifiers/check",
            &json!({ "id_number": broken, "mobile": "1387721234" }),
        )
        .await;
    assert!(status.is_success() || status.is_client_error());
    let (status, body) = node
        .post(
            Some(&clerk),
            "/api/v1/persons/lookup",
            &json!({ "id_number": walk_in.id_number }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (exit, lines) = node.stop();
    assert!(exit.success(), "{exit}");
    let id_numbers = vec![
        applicant.id_number.clone(),
        walk_in.id_number.clone(),
        agent_id,
        broken,
    ];
    let others = vec![
        applicant.mobile.to_owned(),
        walk_in.mobile.to_owned(),
        AGENT_MOBILE.to_owned(),
        applicant.name.to_owned(),
        walk_in.name.to_owned(),
        AGENT_NAME.to_owned(),
        ADDRESS.to_owned(),
    ];
    (lines, id_numbers, others)
}

/// Every way an ID number could show: whole, in upper and lower case, and
/// its digits without the check character or broken by separators.
fn forms_of_id_number(id_number: &str) -> Vec<String> {
    let digits: String = id_number.chars().filter(char::is_ascii_digit).collect();
    vec![
        id_number.to_owned(),
        id_number.to_ascii_lowercase(),
        id_number[..17].to_owned(),
        // Region and birth date together (a masked form shows at most the
        // first six and the last four).
        digits[..14].to_owned(),
        format!(
            "{} {} {}",
            &id_number[..6],
            &id_number[6..14],
            &id_number[14..]
        ),
    ]
}

fn assert_no_personal_data(
    format: &str,
    lines: &[String],
    id_numbers: &[String],
    others: &[String],
) {
    assert!(lines.len() > 20, "the node wrote a log: {lines:?}");
    for line in lines {
        for id_number in id_numbers {
            for form in forms_of_id_number(id_number) {
                assert!(
                    !line.contains(&form),
                    "an ID number ({form}) in the {format} log: {line}"
                );
            }
        }
        for value in others {
            assert!(
                !line.contains(value.as_str()),
                "`{value}` in the {format} log: {line}"
            );
        }
        // The first seven digits of a mobile number are what its mask hides.
        for mobile in [APPLICANT_MOBILE, WALK_IN_MOBILE, AGENT_MOBILE] {
            assert!(
                !line.contains(&mobile[..7]),
                "a mobile number in the {format} log: {line}"
            );
        }
    }
}

#[tokio::test]
async fn json_logs_of_complete_cases_hold_no_personal_data() {
    let (lines, id_numbers, others) = full_cases_logged("json").await;
    for line in &lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    // The access lines carry the request id and the route, never a query.
    let access: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["fields"]["status"].is_number())
        .collect();
    assert!(access.len() > 20, "{access:?}");
    for line in &access {
        assert!(
            line["span"]["request_id"]
                .as_str()
                .is_some_and(|id| id.len() > 8),
            "{line}"
        );
    }
    assert_no_personal_data("JSON", &lines, &id_numbers, &others);
}

#[tokio::test]
async fn text_logs_of_complete_cases_hold_no_personal_data() {
    let (lines, id_numbers, others) = full_cases_logged("text").await;
    assert!(
        lines.iter().any(|line| line.contains("request_id=")),
        "{lines:#?}"
    );
    assert_no_personal_data("text", &lines, &id_numbers, &others);
}
