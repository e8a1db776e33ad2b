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

/// A gateway shared by several nodes that counts what it was asked to send,
/// taking a little while per message (so concurrent senders overlap).
#[derive(Debug, Default)]
struct Counting {
    sent: Mutex<Vec<String>>,
}

impl SmsGateway for Counting {
    fn send<'a>(&'a self, _mobile: &'a MobileNumber, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.sent.lock().unwrap().push(text.to_owned());
            Ok(())
        })
    }
}

/// A case of `app` with a mobile number on its form, and its row id.
async fn case_with_mobile(app: &TestApp, n: u32) -> String {
    let clerk = app.staff(&format!("outbox.{n}"), &["acceptor"]).await;
    let id = id_number_for(n);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(n), "collected").await;
    let case = app
        .submit_as(&clerk.token, &window_form(&id, "黄明", &card_number(n)))
        .await;
    let db = database(app).await;
    let row = sqlx::query("SELECT id FROM cases WHERE application_no = $1")
        .bind(case["application_no"].as_str().unwrap().to_owned())
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    sqlx::Row::get(&row, "id")
}

async fn database(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(app.db().url())
        .await
        .unwrap()
}

/// Writes a notice of `case_id` the way an action's transaction does (or
/// a node left it), with the given sending state.
async fn put_notice(
    db: &sqlx::AnyPool,
    case_id: &str,
    text: &str,
    status: &str,
    attempts: i64,
    lease_until: Option<chrono::DateTime<chrono::Utc>>,
) {
    sqlx::query(
        "INSERT INTO case_notifications (id, case_id, step_seq, kind, mobile_masked, text, \
         status, attempts, created_at, lease_until) \
         VALUES ($1, $2, 1, 'notice', '139****2345', $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(case_id.to_owned())
    .bind(text.to_owned())
    .bind(status.to_owned())
    .bind(attempts)
    .bind(sscard::store::format_time(
        chrono::Utc::now() - chrono::Duration::hours(1),
    ))
    .bind(lease_until.map(sscard::store::format_time))
    .execute(db)
    .await
    .unwrap();
}

/// (status, attempts, lease_until) of the notice with `text`.
async fn notice_state(db: &sqlx::AnyPool, text: &str) -> (String, i64, Option<String>) {
    let row =
        sqlx::query("SELECT status, attempts, lease_until FROM case_notifications WHERE text = $1")
            .bind(text.to_owned())
            .fetch_one(db)
            .await
            .unwrap();
    (
        sqlx::Row::get(&row, "status"),
        sqlx::Row::get(&row, "attempts"),
        sqlx::Row::get(&row, "lease_until"),
    )
}

/// Several nodes (issue 10): two service instances on one database — on
/// PostgreSQL two nodes' pools, on SQLite two writers of one file — run
/// the resender at the same time over many unsent notices; every notice
/// reaches the gateway exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_resending_at_once_send_each_notice_once() {
    const NOTICES: usize = 60;
    let gateway = Arc::new(Counting::default());
    let db = TestDb::new().await;
    let node_a = db.services().await.with_sms_gateway(gateway.clone());
    let app = TestApp::spawn_serving(db, TestApp::test_config(), node_a.clone()).await;
    let node_b = app.db().services().await.with_sms_gateway(gateway.clone());
    let case_id = case_with_mobile(&app, 510).await;
    let pool = database(&app).await;
    let texts: Vec<String> = (0..NOTICES)
        .map(|i| format!("【测试】待补发 {i:03}"))
        .collect();
    for (i, text) in texts.iter().enumerate() {
        // Never tried, and tried and refused before.
        let (status, attempts) = if i % 3 == 0 {
            ("failed", 1)
        } else {
            ("pending", 0)
        };
        put_notice(&pool, &case_id, text, status, attempts, None).await;
    }

    let a = tokio::spawn({
        let node = node_a.clone();
        async move {
            node.resend_unsent_notifications(chrono::Duration::zero())
                .await
        }
    });
    let b = tokio::spawn({
        let node = node_b.clone();
        async move {
            node.resend_unsent_notifications(chrono::Duration::zero())
                .await
        }
    });
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());

    let mut sent: Vec<String> = gateway
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|text| text.starts_with("【测试】"))
        .cloned()
        .collect();
    sent.sort();
    assert_eq!(sent, texts, "each notice sent exactly once");
    assert_eq!(a + b, NOTICES, "node a sent {a}, node b {b}");
    assert!(a > 0 && b > 0, "both nodes took part: {a} and {b}");
    for (i, text) in texts.iter().enumerate() {
        let expected = if i % 3 == 0 { 2 } else { 1 };
        assert_eq!(
            notice_state(&pool, text).await,
            ("sent".to_owned(), expected, None),
            "{text}"
        );
    }
    // Nothing is left to send, on either node.
    assert_eq!(
        node_b
            .resend_unsent_notifications(chrono::Duration::zero())
            .await
            .unwrap(),
        0
    );
    assert_eq!(gateway.sent.lock().unwrap().len(), sent.len());
    pool.close().await;
    app.stop().await;
}

/// A node killed mid-send leaves its notice `sending` under a lease: no
/// other node touches it while the lease holds, and once it has run out
/// the notice is claimed and sent by another node; a cut-off last try is
/// given up as failed.
#[tokio::test]
async fn an_expired_send_lease_is_taken_over() {
    let gateway = Arc::new(Counting::default());
    let db = TestDb::new().await;
    let services = db.services().await.with_sms_gateway(gateway.clone());
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services.clone()).await;
    let case_id = case_with_mobile(&app, 511).await;
    let pool = database(&app).await;
    let now = chrono::Utc::now();
    put_notice(
        &pool,
        &case_id,
        "【测试】节点中断",
        "sending",
        1,
        Some(now - chrono::Duration::seconds(1)),
    )
    .await;
    put_notice(
        &pool,
        &case_id,
        "【测试】发送中",
        "sending",
        1,
        Some(now + chrono::Duration::minutes(1)),
    )
    .await;
    put_notice(
        &pool,
        &case_id,
        "【测试】最后一次",
        "sending",
        5,
        Some(now - chrono::Duration::seconds(1)),
    )
    .await;

    assert_eq!(
        services
            .resend_unsent_notifications(chrono::Duration::zero())
            .await
            .unwrap(),
        1
    );
    let sent: Vec<String> = gateway
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|text| text.starts_with("【测试】"))
        .cloned()
        .collect();
    assert_eq!(sent, ["【测试】节点中断"]);
    assert_eq!(
        notice_state(&pool, "【测试】节点中断").await,
        ("sent".to_owned(), 2, None)
    );
    let (status, attempts, lease) = notice_state(&pool, "【测试】发送中").await;
    assert_eq!(
        (status.as_str(), attempts),
        ("sending", 1),
        "the live lease is respected"
    );
    assert!(lease.is_some());
    let (status, attempts, lease) = notice_state(&pool, "【测试】最后一次").await;
    assert_eq!((status.as_str(), attempts, lease), ("failed", 5, None));
    pool.close().await;
    app.stop().await;
}

/// A gateway that, while "sending", has another connection take SQLite's
/// write lock and keep it a while — as another process (`sscard import`)
/// would.
#[derive(Debug)]
struct LockingGateway {
    url: String,
    sent: Mutex<Vec<String>>,
}

impl SmsGateway for LockingGateway {
    fn send<'a>(&'a self, _mobile: &'a MobileNumber, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            let mut other = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut other)
                .await
                .unwrap();
            sqlx::query("UPDATE settings SET value = value")
                .execute(&mut other)
                .await
                .unwrap();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                sqlx::query("COMMIT").execute(&mut other).await.unwrap();
            });
            self.sent.lock().unwrap().push(text.to_owned());
            Ok(())
        })
    }
}

/// SQLite: the send outcome is a single statement outside `Store::begin`
/// (on a reading connection); while another connection holds the write
/// lock it waits for it (busy timeout) and is then written — not lost.
#[tokio::test]
async fn on_sqlite_an_outcome_written_outside_a_transaction_waits_for_the_write_lock() {
    let db = TestDb::new().await;
    if db.is_postgres() {
        return;
    }
    let gateway = Arc::new(LockingGateway {
        url: db.url().to_owned(),
        sent: Mutex::default(),
    });
    let services = db.services().await.with_sms_gateway(gateway.clone());
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services.clone()).await;
    let case_id = case_with_mobile(&app, 512).await;
    let pool = database(&app).await;
    put_notice(&pool, &case_id, "【测试】写锁", "pending", 0, None).await;
    let started = std::time::Instant::now();
    assert_eq!(
        services
            .resend_unsent_notifications(chrono::Duration::zero())
            .await
            .unwrap(),
        1
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "the outcome waited for the other writer"
    );
    assert_eq!(
        notice_state(&pool, "【测试】写锁").await,
        ("sent".to_owned(), 1, None)
    );
    pool.close().await;
    app.stop().await;
}
