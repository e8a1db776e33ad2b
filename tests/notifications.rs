//! 短信通知 and 送达: the applicant gets an SMS through the one gateway at
//! acceptance, with a one-time notice (listing what is missing), when the
//! result is ready and when it is posted (carrier and waybill); each text is
//! stored on the case and shown in its timeline with the number masked; a
//! failing gateway never undoes an action (the outbox retries it). The
//! 反馈岗 records what happened to a posted result (签收 / 退回 / 重新寄出),
//! which joins the timeline and the progress query — on SQLite and, with
//! `SSCARD_TEST_POSTGRES_URL`, on PostgreSQL.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::cases::{card_number, express_form, id_number_for, online_form, window_form};
use common::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::service::sms::{SmsError, SmsFuture, SmsGateway};
use sscard_domain::identifiers::MobileNumber;

/// The notices of a case's step named `action` (the last such step).
fn notices_of(case: &Value, action: &str) -> Vec<Value> {
    case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s["action"] == action)
        .map(|s| s["notifications"].as_array().unwrap().clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_applicant_is_told_at_acceptance_notice_completion_and_dispatch() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("sms.clerk", &["acceptor", "processor", "feedback"])
        .await;

    // A walk-in: accepted, then approved.
    let id = id_number_for(501);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(501), "collected").await;
    let case = app
        .submit_as(&clerk.token, &window_form(&id, "黄明", &card_number(501)))
        .await;
    let no = case["application_no"].as_str().unwrap().to_owned();
    let accepted = app
        .act(&clerk.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    let notices = notices_of(&accepted, "accept");
    assert_eq!(notices.len(), 1, "{accepted}");
    assert_eq!(notices[0]["kind"], "accepted");
    assert_eq!(notices[0]["mobile_masked"], "139****2345");
    assert_eq!(notices[0]["status"], "sent");
    let text = notices[0]["text"].as_str().unwrap();
    assert!(text.contains(&no) && text.contains("已受理"), "{text}");
    let deadline = accepted["deadline"].as_str().unwrap();
    assert!(text.contains(&format!("承诺办结日期 {deadline}")), "{text}");
    let approved = app
        .act(&clerk.token, &no, "approve", &Value::Null, StatusCode::OK)
        .await;
    let completed = notices_of(&approved, "approve");
    assert_eq!(completed[0]["kind"], "completed");
    assert!(
        completed[0]["text"]
            .as_str()
            .unwrap()
            .contains("已办理完成：社会保障卡社保功能已启用"),
        "{completed:?}"
    );
    // Window pickup: no SMS at delivery, and none for the submission.
    let delivered = app
        .act(
            &clerk.token,
            &no,
            "deliver",
            &json!({ "delivery": { "collected_by": "holder" } }),
            StatusCode::OK,
        )
        .await;
    assert!(notices_of(&delivered, "deliver").is_empty());
    assert!(notices_of(&delivered, "submit").is_empty());
    assert!(
        !delivered.to_string().contains("13977212345"),
        "masked only"
    );

    // A one-time notice lists every missing material.
    let id = id_number_for(502);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(502), "collected").await;
    let mut form = window_form(&id, "黄明", &card_number(502));
    form["materials"] = json!([{ "code": "application_form", "status": "submitted" }]);
    let case = app.submit_as(&clerk.token, &form).await;
    let noticed_no = case["application_no"].as_str().unwrap().to_owned();
    let noticed = app
        .act(
            &clerk.token,
            &noticed_no,
            "notify-missing",
            &json!({ "materials": [
                { "code": "application_form", "status": "defective", "reason": "未签名" },
                { "code": "own_card", "status": "missing" },
            ]}),
            StatusCode::OK,
        )
        .await;
    let text = notices_of(&noticed, "notify_missing")[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    for item in noticed["notice"]["items"].as_array().unwrap() {
        assert!(text.contains(item["name"].as_str().unwrap()), "{text}");
    }
    assert!(
        text.contains("《社会保障卡服务申请表》、本人社会保障卡"),
        "{text}"
    );

    // A posted application, its result posted back by express.
    let id = id_number_for(503);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(503), "collected").await;
    let received = chrono::Utc::now().to_rfc3339();
    let case = app
        .submit_as(
            &clerk.token,
            &express_form(&id, "黄明", &card_number(503), &received),
        )
        .await;
    let posted_no = case["application_no"].as_str().unwrap().to_owned();
    for action in ["accept", "approve"] {
        app.act(
            &clerk.token,
            &posted_no,
            action,
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    }
    let posted = app
        .act(
            &clerk.token,
            &posted_no,
            "deliver",
            &json!({ "delivery": { "carrier": "中国邮政EMS", "waybill_no": "em123456789cn" } }),
            StatusCode::OK,
        )
        .await;
    let dispatched = notices_of(&posted, "deliver");
    assert_eq!(dispatched[0]["kind"], "dispatched");
    let text = dispatched[0]["text"].as_str().unwrap();
    assert!(
        text.contains("中国邮政EMS") && text.contains("EM123456789CN"),
        "{text}"
    );
    assert!(text.contains("邮费由政府支付"), "{text}");

    // Every text went through the one gateway (here the simulated outbox).
    let outbox = app.sms_outbox().await;
    for expected in [
        notices[0]["text"].as_str().unwrap(),
        completed[0]["text"].as_str().unwrap(),
        text,
    ] {
        assert!(
            outbox
                .iter()
                .any(|(mobile, sent)| sent == expected && mobile == "139****2345"),
            "{expected} in {outbox:?}"
        );
    }
    // The staff's case page shows them in the timeline, number masked.
    let page = app
        .client
        .get(app.url(&format!("/cases/{posted_no}")))
        .header("cookie", format!("sscard_session={}", clerk.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("短信·寄出通知（139****2345，已发送）"),
        "{page}"
    );
    assert!(!page.contains("13977212345"));
    app.stop().await;
}

/// A gateway that fails until switched on, and remembers what it sent.
#[derive(Debug, Default)]
struct Switchable {
    working: AtomicBool,
    sent: Mutex<Vec<String>>,
}

impl SmsGateway for Switchable {
    fn send<'a>(&'a self, _mobile: &'a MobileNumber, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            if self.working.load(Ordering::SeqCst) {
                self.sent.lock().unwrap().push(text.to_owned());
                Ok(())
            } else {
                Err(SmsError::Refused { status: 503 })
            }
        })
    }
}

#[tokio::test]
async fn a_failing_gateway_never_undoes_an_action_and_the_notice_is_retried() {
    let gateway = Arc::new(Switchable::default());
    let db = TestDb::new().await;
    let services = db.services().await.with_sms_gateway(gateway.clone());
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services.clone()).await;
    let clerk = app.staff("sms.down", &["acceptor", "processor"]).await;
    let id = id_number_for(504);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(504), "collected").await;
    let case = app
        .submit_as(&clerk.token, &window_form(&id, "黄明", &card_number(504)))
        .await;
    let no = case["application_no"].as_str().unwrap().to_owned();

    let accepted = app
        .act(&clerk.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    assert_eq!(
        accepted["status"], "awaiting_processing",
        "the action stands"
    );
    let notice = &notices_of(&accepted, "accept")[0];
    assert_eq!(notice["status"], "failed");
    assert_eq!(notice["status_label"], "发送失败");
    // The case moves on; the audit trail has the acceptance.
    app.act(&clerk.token, &no, "approve", &Value::Null, StatusCode::OK)
        .await;
    assert!(gateway.sent.lock().unwrap().is_empty());

    // The gateway is back: the outbox sends what failed, once each.
    gateway.working.store(true, Ordering::SeqCst);
    services
        .resend_unsent_notifications(chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(gateway.sent.lock().unwrap().len(), 2);
    assert_eq!(
        services
            .resend_unsent_notifications(chrono::Duration::zero())
            .await
            .unwrap(),
        0,
        "nothing is sent twice"
    );
    let texts = gateway.sent.lock().unwrap().clone();
    assert!(
        texts[0].contains("已受理") && texts[1].contains("已办理完成"),
        "{texts:?}"
    );
    let case = app.case_as(&clerk.token, &no).await;
    assert_eq!(notices_of(&case, "accept")[0]["status"], "sent");
    assert_eq!(notices_of(&case, "approve")[0]["status"], "sent");
    app.stop().await;
}

#[tokio::test]
async fn the_delivery_status_of_a_posted_result_joins_the_timeline_and_the_progress_query() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("post.clerk", &["acceptor", "processor", "feedback"])
        .await;
    let processor = app.staff("post.processor", &["processor"]).await;
    let citizen = app.cardholder_numbered(505, "collected").await;
    let mut form = online_form(&citizen, &card_number(505));
    form["delivery"] = json!({
        "method": "express",
        "recipient": citizen.name,
        "mobile": "13877212345",
        "address": "广西柳州市柳江区柳堡路318号",
    });
    let case = app.submit_as(&citizen.token, &form).await;
    let no = case["application_no"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/applications/{no}/delivery-status");

    // Not before it was posted.
    let (status, problem) = app
        .post_as(&clerk.token, &path, &json!({ "change": "signed" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "DELIVERY_NOT_EXPRESS");
    for action in ["accept", "approve"] {
        app.act(&clerk.token, &no, action, &Value::Null, StatusCode::OK)
            .await;
    }
    let posted = app
        .act(
            &clerk.token,
            &no,
            "deliver",
            &json!({ "delivery": { "carrier": "中国邮政EMS", "waybill_no": "EM123456789CN" } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(posted["delivery"]["delivery_status"], "posted");
    assert_eq!(posted["delivery"]["paid_by_label"], "政府支付");
    assert!(posted["delivery"]["posted_at"].is_string());

    // Only the 反馈岗 records it; a return needs its reason.
    let (status, _) = app
        .post_as(&processor.token, &path, &json!({ "change": "signed" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = app
        .post_as(&clerk.token, &path, &json!({ "change": "returned" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "RETURN_REASON_REQUIRED");
    let (status, returned) = app
        .post_as(
            &clerk.token,
            &path,
            &json!({ "change": "returned", "note": "地址不详，快递退回" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{returned}");
    assert_eq!(returned["delivery"]["delivery_status"], "returned");
    let (status, problem) = app
        .post_as(&clerk.token, &path, &json!({ "change": "signed" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "DELIVERY_STATUS_CONFLICT");
    let (status, problem) = app
        .post_as(&clerk.token, &path, &json!({ "change": "resent" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    let (status, resent) = app
        .post_as(
            &clerk.token,
            &path,
            &json!({ "change": "resent", "carrier": "顺丰速运", "waybill_no": "sf1234567890" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(resent["delivery"]["waybill_no"], "SF1234567890");
    let sms = &notices_of(&resent, "delivery_status")[0];
    assert_eq!(sms["kind"], "dispatched");
    assert!(
        sms["text"].as_str().unwrap().contains("SF1234567890"),
        "{sms}"
    );
    let (status, signed) = app
        .post_as(
            &clerk.token,
            &path,
            &json!({ "change": "signed", "note": "本人签收" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");

    // The timeline, as staff and as the holder see it.
    let labels = |case: &Value| -> Vec<String> {
        case["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "delivery_status")
            .map(|s| s["action_label"].as_str().unwrap().to_owned())
            .collect()
    };
    let expected = ["寄送状态：退回", "寄送状态：重新寄出", "寄送状态：已签收"];
    assert_eq!(labels(&signed), expected);
    let mine = app.case_as(&citizen.token, &no).await;
    assert_eq!(labels(&mine), expected);
    let last = mine["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["actor_name"], "反馈岗",
        "the post, not the clerk's name"
    );
    assert_eq!(last["opinion"], "本人签收");
    assert_eq!(mine["delivery"]["delivery_status_label"], "已签收");
    let page = app
        .client
        .get(app.url(&format!("/my/cases/{no}")))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("寄送状态：已签收"), "{page}");
    assert!(page.contains("SF1234567890"), "{page}");
    assert!(
        page.contains("138****2345"),
        "the SMS with the number masked"
    );

    // The public progress query says where the result is.
    let (status, progress) = app
        .post_json(
            "/api/v1/progress",
            &json!({ "application_no": no, "id_number": citizen.id_number, "name": citizen.name }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{progress}");
    let delivery = progress["delivery_status"].as_str().unwrap();
    assert!(
        delivery.starts_with("已签收") && delivery.contains("SF1234567890"),
        "{delivery}"
    );
    assert!(
        !progress.to_string().contains("短信"),
        "no SMS in the public answer"
    );
    // Signed is final.
    let (status, _) = app
        .post_as(
            &clerk.token,
            &path,
            &json!({ "change": "returned", "note": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The staff page's form, for the 反馈岗, while it is on its way.
    let other = app.cardholder_numbered(506, "collected").await;
    let mut form = online_form(&other, &card_number(506));
    form["delivery"] = json!({
        "method": "express", "recipient": other.name, "mobile": "13877212345",
        "address": "广西柳州市柳江区柳堡路318号",
    });
    let case = app.submit_as(&other.token, &form).await;
    let on_its_way = case["application_no"].as_str().unwrap().to_owned();
    for action in ["accept", "approve"] {
        app.act(
            &clerk.token,
            &on_its_way,
            action,
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    }
    app.act(
        &clerk.token,
        &on_its_way,
        "deliver",
        &json!({ "delivery": { "carrier": "中国邮政EMS", "waybill_no": "EM000000001CN" } }),
        StatusCode::OK,
    )
    .await;
    let cookie = format!("sscard_session={}", clerk.token);
    let page = app
        .client
        .get(app.url(&format!("/cases/{on_its_way}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!(r#"action="/cases/{on_its_way}/delivery-status""#)));
    let refused = app
        .client
        .post(app.url(&format!("/cases/{on_its_way}/delivery-status")))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("change", "returned")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("请写明退回原因"));
    let done = app
        .client
        .post(app.url(&format!("/cases/{on_its_way}/delivery-status")))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("change", "signed"), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn an_online_result_stays_in_the_holders_account() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("online.clerk", &["acceptor", "processor", "feedback"])
        .await;
    let citizen = app.cardholder_numbered(507, "collected").await;
    let no = app.apply_online(&citizen, &card_number(507)).await;
    for action in ["accept", "approve", "deliver"] {
        app.act(&clerk.token, &no, action, &Value::Null, StatusCode::OK)
            .await;
    }
    let (status, problem) = app
        .post_as(
            &clerk.token,
            &format!("/api/v1/applications/{no}/delivery-status"),
            &json!({ "change": "signed" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not posted: {problem}");
    assert_eq!(problem["code"], "DELIVERY_NOT_EXPRESS");
    // Days later, the holder signs in again: the result is still there.
    let page = app
        .client
        .get(app.url(&format!("/my/cases/{no}")))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="result""#), "{page}");
    assert!(
        page.contains("办理结果已发布到申请人的网上办事账户"),
        "{page}"
    );
    assert!(page.contains("社保功能已启用"), "{page}");
    let list = app
        .client
        .get(app.url("/my"))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&no), "{list}");
    app.stop().await;
}
