//! The activation case over the API, exhaustively: every action against
//! every case state with every kind of caller, races between clerks, the
//! working-day deadlines, guide versions, agents, uploads and express
//! delivery — on SQLite and, when `SSCARD_TEST_POSTGRES_URL` is set, on
//! PostgreSQL.

mod common;

use std::collections::BTreeSet;

use common::cases::{
    PDF_SCAN, PNG_SCAN, agent, card_number, express_form, id_number_for, online_form, window_form,
};
use common::{CitizenSignedIn, SignedIn, TestApp, has_chinese};
use reqwest::StatusCode;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The state × action table
// ---------------------------------------------------------------------------

/// Who takes an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Acceptor,
    Processor,
    Feedback,
    /// The cardholder who applied online.
    Owner,
}

const CLERKS: [Who; 3] = [Who::Acceptor, Who::Processor, Who::Feedback];

/// Every action, as in the URL.
const ACTIONS: [&str; 8] = [
    "accept",
    "notify-missing",
    "supplement",
    "refuse",
    "approve",
    "deny",
    "confirm-already-active",
    "deliver",
];

/// The staff role of an action's step.
fn step_role(action: &str) -> Who {
    match action {
        "accept" | "notify-missing" | "supplement" | "refuse" => Who::Acceptor,
        "approve" | "deny" | "confirm-already-active" => Who::Processor,
        "deliver" => Who::Feedback,
        other => panic!("no such action {other}"),
    }
}

/// A body that makes `action` succeed when the state allows it.
fn body_of(action: &str, who: Who, upload_id: &str) -> Value {
    match (action, who) {
        ("notify-missing", _) => json!({ "materials": [
            { "code": "application_form", "status": "defective", "reason": "申请表未签名" }
        ]}),
        ("supplement", Who::Owner) => {
            json!({ "materials": [{ "code": "application_form", "upload_id": upload_id }] })
        }
        ("supplement", _) => json!({ "materials": [{ "code": "application_form" }] }),
        ("refuse", _) => json!({ "code": "APPLICATION_WITHDRAWN", "reason": "申请人撤回申请。" }),
        ("deny", _) => json!({
            "code": "IDENTITY_NOT_CONFIRMED",
            "reason": "申请人身份核验未通过，请本人持身份证原件到窗口办理。"
        }),
        _ => Value::Null,
    }
}

/// An action that succeeds in a state, and where it leads.
struct Allowed {
    action: &'static str,
    who: Who,
    /// The card's social-security state the case needs for it.
    card: &'static str,
    to: (&'static str, Option<&'static str>),
}

/// A case state: how to reach it and what may be done there.
struct StateRow {
    status: &'static str,
    outcome: Option<&'static str>,
    /// The actions (each by its step's role) that lead here from 待受理.
    path: &'static [&'static str],
    /// The card state for reaching it when nothing is allowed here.
    card: &'static str,
    /// Everything allowed here; every other (action, caller) is refused.
    allowed: &'static [Allowed],
}

const fn ok(
    action: &'static str,
    who: Who,
    card: &'static str,
    to: (&'static str, Option<&'static str>),
) -> Allowed {
    Allowed {
        action,
        who,
        card,
        to,
    }
}

const SUBMITTED: (&str, Option<&str>) = ("submitted", None);
const AWAITING_SUPPLEMENT: (&str, Option<&str>) = ("awaiting_supplement", None);
const AWAITING_PROCESSING: (&str, Option<&str>) = ("awaiting_processing", None);
const REFUSED: (&str, Option<&str>) = ("refused", None);
const fn feedback(outcome: &'static str) -> (&'static str, Option<&'static str>) {
    ("awaiting_feedback", Some(outcome))
}
const fn completed(outcome: &'static str) -> (&'static str, Option<&'static str>) {
    ("completed", Some(outcome))
}

/// The case's life as the guide and issue 5 describe it.
const STATES: &[StateRow] = &[
    StateRow {
        status: "submitted",
        outcome: None,
        path: &[],
        card: "collected",
        allowed: &[
            ok("accept", Who::Acceptor, "collected", AWAITING_PROCESSING),
            ok(
                "notify-missing",
                Who::Acceptor,
                "collected",
                AWAITING_SUPPLEMENT,
            ),
            ok("refuse", Who::Acceptor, "collected", REFUSED),
        ],
    },
    StateRow {
        status: "awaiting_supplement",
        outcome: None,
        path: &["notify-missing"],
        card: "collected",
        allowed: &[
            ok("supplement", Who::Acceptor, "collected", SUBMITTED),
            ok("supplement", Who::Owner, "collected", SUBMITTED),
        ],
    },
    StateRow {
        status: "awaiting_processing",
        outcome: None,
        path: &["accept"],
        card: "collected",
        allowed: &[
            ok("approve", Who::Processor, "collected", feedback("approved")),
            ok("deny", Who::Processor, "collected", feedback("denied")),
            ok(
                "confirm-already-active",
                Who::Processor,
                "normal",
                feedback("already_active"),
            ),
        ],
    },
    StateRow {
        status: "awaiting_feedback",
        outcome: Some("approved"),
        path: &["accept", "approve"],
        card: "collected",
        allowed: &[ok(
            "deliver",
            Who::Feedback,
            "collected",
            completed("approved"),
        )],
    },
    StateRow {
        status: "awaiting_feedback",
        outcome: Some("denied"),
        path: &["accept", "deny"],
        card: "collected",
        allowed: &[ok(
            "deliver",
            Who::Feedback,
            "collected",
            completed("denied"),
        )],
    },
    StateRow {
        status: "awaiting_feedback",
        outcome: Some("already_active"),
        // Approving a card that is already 正常 ends with that outcome.
        path: &["accept", "approve"],
        card: "normal",
        allowed: &[ok(
            "deliver",
            Who::Feedback,
            "normal",
            completed("already_active"),
        )],
    },
    StateRow {
        status: "completed",
        outcome: Some("approved"),
        path: &["accept", "approve", "deliver"],
        card: "collected",
        allowed: &[],
    },
    StateRow {
        status: "completed",
        outcome: Some("denied"),
        path: &["accept", "deny", "deliver"],
        card: "collected",
        allowed: &[],
    },
    StateRow {
        status: "completed",
        outcome: Some("already_active"),
        path: &["accept", "confirm-already-active", "deliver"],
        card: "normal",
        allowed: &[],
    },
    StateRow {
        status: "refused",
        outcome: None,
        path: &["refuse"],
        card: "collected",
        allowed: &[],
    },
];

/// The staff of the matrix, one account per step and a supervisor.
struct Staff {
    acceptor: SignedIn,
    processor: SignedIn,
    feedback: SignedIn,
    supervisor: SignedIn,
}

impl Staff {
    fn token<'a>(&'a self, who: Who, owner: &'a CitizenSignedIn) -> &'a str {
        match who {
            Who::Acceptor => &self.acceptor.token,
            Who::Processor => &self.processor.token,
            Who::Feedback => &self.feedback.token,
            Who::Owner => &owner.token,
        }
    }
}

/// The problem answer of a refused request: status, code, a Chinese detail.
fn assert_refused(status: StatusCode, body: &Value, expected: StatusCode, code: &str, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(has_chinese),
        "{what}: a Chinese detail in {body}"
    );
}

fn timeline_len(case: &Value) -> usize {
    case["timeline"].as_array().expect("a timeline").len()
}

/// The action code of the timeline (`notify_missing`) for a URL segment.
fn step_code(action: &str) -> String {
    action.replace('-', "_")
}

#[tokio::test]
async fn every_action_against_every_state_with_every_caller() {
    let app = TestApp::spawn().await;
    let staff = Staff {
        acceptor: app.staff("m.shouli", &["acceptor"]).await,
        processor: app.staff("m.jingban", &["processor"]).await,
        feedback: app.staff("m.fankui", &["feedback"]).await,
        supervisor: app.staff("m.jiandu", &["supervisor"]).await,
    };
    let stranger = app.cardholder_numbered(900, "collected").await;
    let mut n = 100;
    let mut tried = 0;

    for row in STATES {
        let label = format!("{}/{}", row.status, row.outcome.unwrap_or("-"));
        for case_index in 0..row.allowed.len().max(1) {
            let allowed = row.allowed.get(case_index);
            let card_state = allowed.map_or(row.card, |a| a.card);
            if case_index == 0 {
                assert_eq!(card_state, row.card, "{label}: the first case serves both");
            }
            n += 1;
            let owner = app.cardholder_numbered(n, card_state).await;
            let scan = app.upload_as(&owner.token, "申请表.png", PNG_SCAN).await;
            let no = app.apply_online(&owner, &card_number(n)).await;
            for action in row.path {
                let who = step_role(action);
                app.act(
                    staff.token(who, &owner),
                    &no,
                    action,
                    &body_of(action, who, &scan),
                    StatusCode::OK,
                )
                .await;
            }
            let reference = app.case_as(&staff.acceptor.token, &no).await;
            assert_eq!(reference["status"], row.status, "{label}: {reference}");
            assert_eq!(
                reference["outcome"].as_str(),
                row.outcome,
                "{label}: {reference}"
            );

            if case_index == 0 {
                check_refusals(&app, &staff, row, &owner, &stranger, &no, &scan, &reference).await;
                tried += 1;
            }

            if let Some(allowed) = allowed {
                let token = staff.token(allowed.who, &owner);
                let done = app
                    .act(
                        token,
                        &no,
                        allowed.action,
                        &body_of(allowed.action, allowed.who, &scan),
                        StatusCode::OK,
                    )
                    .await;
                let what = format!("{} by {:?} in {label}", allowed.action, allowed.who);
                assert_eq!(done["status"], allowed.to.0, "{what}: {done}");
                assert_eq!(done["outcome"].as_str(), allowed.to.1, "{what}: {done}");
                assert_eq!(timeline_len(&done), timeline_len(&reference) + 1, "{what}");
                let last = done["timeline"].as_array().unwrap().last().unwrap().clone();
                assert_eq!(last["action"], step_code(allowed.action), "{what}: {last}");
                assert_eq!(last["from_state"], row.status, "{what}: {last}");
                assert_eq!(last["to_state"], allowed.to.0, "{what}: {last}");
                tried += 1;
            }
        }
    }
    assert_eq!(
        tried,
        10 + 11,
        "every state probed, every allowed action taken"
    );
    app.stop().await;
}

/// Every refused (action, caller) in one state: nothing changes.
#[allow(clippy::too_many_arguments)]
async fn check_refusals(
    app: &TestApp,
    staff: &Staff,
    row: &StateRow,
    owner: &CitizenSignedIn,
    stranger: &CitizenSignedIn,
    no: &str,
    scan: &str,
    reference: &Value,
) {
    let label = format!("{}/{}", row.status, row.outcome.unwrap_or("-"));
    let status_label = reference["status_label"].as_str().unwrap().to_owned();
    let path = |action: &str| format!("/api/v1/applications/{no}/{action}");
    let unchanged = |what: String| {
        let expected_len = timeline_len(reference);
        async move {
            let now = app.case_as(&staff.acceptor.token, no).await;
            assert_eq!(
                now["status"], reference["status"],
                "{what} changed the status"
            );
            assert_eq!(
                now["outcome"], reference["outcome"],
                "{what} changed the outcome"
            );
            assert_eq!(timeline_len(&now), expected_len, "{what} added a step");
        }
    };

    // What the case page offers each caller matches the table.
    let mut offered = BTreeSet::new();
    for who in CLERKS {
        let view = app.case_as(staff.token(who, owner), no).await;
        for action in view["allowed_actions"].as_array().unwrap() {
            let action = action.as_str().unwrap().to_owned();
            assert_eq!(step_role(&action), who, "{label}: {who:?} offered {action}");
            offered.insert(action);
        }
    }
    let staff_allowed: BTreeSet<String> = row
        .allowed
        .iter()
        .filter(|a| a.who != Who::Owner)
        .map(|a| a.action.to_owned())
        .collect();
    assert_eq!(
        offered, staff_allowed,
        "{label}: the actions offered to staff"
    );
    let owner_view = app.case_as(&owner.token, no).await;
    let owner_allowed: Vec<&str> = row
        .allowed
        .iter()
        .filter(|a| a.who == Who::Owner)
        .map(|a| a.action)
        .collect();
    assert_eq!(
        owner_view["allowed_actions"],
        json!(owner_allowed),
        "{label}: the actions offered to the applicant"
    );

    for action in ACTIONS {
        let role = step_role(action);
        // The step's own role: refused unless the table allows it here.
        if !row
            .allowed
            .iter()
            .any(|a| a.action == action && a.who == role)
        {
            let (status, body) = app
                .post_as(
                    staff.token(role, owner),
                    &path(action),
                    &body_of(action, role, scan),
                )
                .await;
            let what = format!("{action} by {role:?} in {label}");
            assert_refused(
                status,
                &body,
                StatusCode::CONFLICT,
                "CASE_STATE_CONFLICT",
                &what,
            );
            assert!(
                body["detail"].as_str().unwrap().contains(&status_label),
                "{what}: the detail names the state {status_label}: {body}"
            );
            unchanged(what).await;
        }
        // Every other clerk: not their step, whatever the state.
        for who in CLERKS.into_iter().filter(|w| *w != role) {
            let (status, body) = app
                .post_as(
                    staff.token(who, owner),
                    &path(action),
                    &body_of(action, who, scan),
                )
                .await;
            let what = format!("{action} by {who:?} in {label}");
            assert_refused(
                status,
                &body,
                StatusCode::FORBIDDEN,
                "ROLE_NOT_PERMITTED_FOR_STEP",
                &what,
            );
            unchanged(what).await;
        }
        // The applicant: only to supplement, and only while 补正中.
        let owner_allowed = row
            .allowed
            .iter()
            .any(|a| a.action == action && a.who == Who::Owner);
        if !owner_allowed {
            let (status, body) = app
                .post_as(
                    &owner.token,
                    &path(action),
                    &body_of(action, Who::Owner, scan),
                )
                .await;
            let what = format!("{action} by the applicant in {label}");
            if action == "supplement" {
                assert_refused(
                    status,
                    &body,
                    StatusCode::CONFLICT,
                    "CASE_STATE_CONFLICT",
                    &what,
                );
            } else {
                assert_refused(
                    status,
                    &body,
                    StatusCode::FORBIDDEN,
                    "ROLE_NOT_PERMITTED_FOR_STEP",
                    &what,
                );
            }
            unchanged(what).await;
        }
        // Another cardholder does not learn the case exists.
        let (status, body) = app
            .post_as(
                &stranger.token,
                &path(action),
                &body_of(action, Who::Owner, scan),
            )
            .await;
        let what = format!("{action} by another cardholder in {label}");
        assert_refused(
            status,
            &body,
            StatusCode::NOT_FOUND,
            "APPLICATION_NOT_FOUND",
            &what,
        );
        unchanged(what).await;
        // A supervisor holds no step role: the route itself refuses.
        let (status, body) = app
            .post_as(
                &staff.supervisor.token,
                &path(action),
                &body_of(action, role, scan),
            )
            .await;
        let what = format!("{action} by a supervisor in {label}");
        assert_refused(
            status,
            &body,
            StatusCode::FORBIDDEN,
            "ROLE_NOT_PERMITTED",
            &what,
        );
        unchanged(what).await;
    }
    let (status, body) = app
        .get_as(&stranger.token, &format!("/api/v1/applications/{no}"))
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "APPLICATION_NOT_FOUND",
        &format!("another cardholder reading a case in {label}"),
    );
    let (_, mine) = app.get_as(&stranger.token, "/api/v1/applications").await;
    assert!(
        !mine.to_string().contains(no),
        "{label}: another cardholder's list"
    );
    let (_, theirs) = app.get_as(&owner.token, "/api/v1/applications").await;
    assert!(
        theirs.to_string().contains(no),
        "{label}: the applicant's list"
    );
    // The case is in its queue.
    let (status, queue) = app
        .get_as(
            &staff.supervisor.token,
            &format!("/api/v1/applications?queue={}", row.status),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["application_no"] == no),
        "{label}: {no} in its queue"
    );
    // Nothing refused changed anything at all.
    assert_eq!(
        &app.case_as(&staff.acceptor.token, no).await,
        reference,
        "{label}: the refused actions left the case as it was"
    );
}

// ---------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clerks_racing_on_one_case_get_one_success_and_one_conflict() {
    let app = TestApp::spawn().await;
    let acceptor = app.staff("r.shouli", &["acceptor"]).await;
    let acceptor2 = app.staff("r.shouli2", &["acceptor"]).await;
    let processor = app.staff("r.jingban", &["processor"]).await;
    let processor2 = app.staff("r.jingban2", &["processor"]).await;

    for round in 0..5u32 {
        // Two processors approve the same case.
        let (id, number) = app.walk_in_person(200 + round, "collected").await;
        let case = app
            .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
            .await;
        let no = case["application_no"].as_str().unwrap().to_owned();
        app.act(&acceptor.token, &no, "accept", &Value::Null, StatusCode::OK)
            .await;
        let path = format!("/api/v1/applications/{no}/approve");
        let (a, b) = tokio::join!(
            app.post_as(&processor.token, &path, &Value::Null),
            app.post_as(&processor2.token, &path, &Value::Null),
        );
        let mut answers = [a, b];
        answers.sort_by_key(|(status, _)| *status);
        assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
        assert_eq!(answers[0].1["outcome"], "approved");
        assert_refused(
            answers[1].0,
            &answers[1].1,
            StatusCode::CONFLICT,
            "CASE_STATE_CONFLICT",
            "the second approval",
        );
        let view = app.case_as(&processor.token, &no).await;
        assert_eq!(timeline_len(&view), 3, "submit, accept, one approval");
        assert_eq!(activations(&app, &processor.token, &number).await, 1);

        // Two acceptors: one accepts while the other refuses.
        let (id, number) = app.walk_in_person(300 + round, "collected").await;
        let case = app
            .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
            .await;
        let no = case["application_no"].as_str().unwrap().to_owned();
        let refusal = json!({ "code": "APPLICATION_WITHDRAWN", "reason": "申请人撤回申请。" });
        let accept = format!("/api/v1/applications/{no}/accept");
        let refuse = format!("/api/v1/applications/{no}/refuse");
        let (a, b) = tokio::join!(
            app.post_as(&acceptor.token, &accept, &Value::Null),
            app.post_as(&acceptor2.token, &refuse, &refusal),
        );
        let winners = [&a, &b]
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(winners, 1, "{a:?} {b:?}");
        let loser = if a.0 == StatusCode::OK { &b } else { &a };
        assert_refused(
            loser.0,
            &loser.1,
            StatusCode::CONFLICT,
            "CASE_STATE_CONFLICT",
            "the losing acceptor",
        );
        let view = app.case_as(&acceptor.token, &no).await;
        assert_eq!(timeline_len(&view), 2, "submit and one decision");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clerks_checking_materials_in_another_order_do_not_deadlock() {
    let app = TestApp::spawn().await;
    let acceptor = app.staff("o.shouli", &["acceptor"]).await;
    let acceptor2 = app.staff("o.shouli2", &["acceptor"]).await;
    let form_defective =
        json!({ "code": "application_form", "status": "defective", "reason": "未签名" });
    let card_missing = json!({ "code": "own_card", "status": "missing" });
    for round in 0..10u32 {
        let (id, number) = app.walk_in_person(250 + round, "collected").await;
        let case = app
            .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
            .await;
        let no = case["application_no"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/applications/{no}/notify-missing");
        let one = json!({ "materials": [form_defective, card_missing] });
        let other = json!({ "materials": [card_missing, form_defective] });
        let (a, b) = tokio::join!(
            app.post_as(&acceptor.token, &path, &one),
            app.post_as(&acceptor2.token, &path, &other),
        );
        let mut answers = [a, b];
        answers.sort_by_key(|(status, _)| *status);
        assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
        assert_refused(
            answers[1].0,
            &answers[1].1,
            StatusCode::CONFLICT,
            "CASE_STATE_CONFLICT",
            "the second notice",
        );
        let view = app.case_as(&acceptor.token, &no).await;
        assert_eq!(timeline_len(&view), 2, "submit and one notice");
        assert_eq!(view["notice"]["items"].as_array().unwrap().len(), 2);
    }
    app.stop().await;
}

/// How many times the card's social-security application was activated.
async fn activations(app: &TestApp, token: &str, number: &str) -> usize {
    let (status, card) = app.get_as(token, &format!("/api/v1/cards/{number}")).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    card["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "activate")
        .count()
}

/// Sends every request at once; gives each answer's status, whether it was
/// an idempotent replay, and its JSON body, in the order of the requests.
async fn all_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<(StatusCode, bool, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, request) in requests.into_iter().enumerate() {
        tasks.spawn(async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let text = response.text().await.expect("body");
            (
                i,
                status,
                replayed,
                serde_json::from_str(&text).unwrap_or(Value::Null),
            )
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.expect("a request task"));
    }
    answers.sort_by_key(|(i, ..)| *i);
    answers
        .into_iter()
        .map(|(_, status, replayed, body)| (status, replayed, body))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_approvals_of_one_card_activate_it_once() {
    const CASES: usize = 100;
    let app = TestApp::spawn().await;
    let acceptor = app.staff("c.shouli", &["acceptor"]).await;
    let mut processors = Vec::new();
    for i in 0..4 {
        processors.push(app.staff(&format!("c.jingban{i}"), &["processor"]).await);
    }
    let (id, number) = app.walk_in_person(400, "collected").await;
    let mut numbers = Vec::new();
    for _ in 0..CASES {
        let case = app
            .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
            .await;
        let no = case["application_no"].as_str().unwrap().to_owned();
        app.act(&acceptor.token, &no, "accept", &Value::Null, StatusCode::OK)
            .await;
        numbers.push(no);
    }
    let requests = numbers
        .iter()
        .enumerate()
        .map(|(i, no)| {
            app.client
                .post(app.url(&format!("/api/v1/applications/{no}/approve")))
                .bearer_auth(&processors[i % processors.len()].token)
        })
        .collect();
    let answers: Vec<(StatusCode, Value)> = all_at_once(requests)
        .await
        .into_iter()
        .map(|(status, _, body)| (status, body))
        .collect();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        *outcomes
            .entry(body["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    assert_eq!(outcomes.get("approved"), Some(&1), "{outcomes:?}");
    assert_eq!(
        outcomes.get("already_active"),
        Some(&(CASES - 1)),
        "{outcomes:?}"
    );
    assert_eq!(activations(&app, &acceptor.token, &number).await, 1);
    let (_, card) = app
        .get_as(&acceptor.token, &format!("/api/v1/cards/{number}"))
        .await;
    assert_eq!(card["social_state"]["code"], "normal");
    // What the answers said is what is stored.
    let mut approved = 0;
    for no in &numbers {
        let case = app.case_as(&acceptor.token, no).await;
        assert_eq!(case["status"], "awaiting_feedback");
        approved += usize::from(case["outcome"] == "approved");
    }
    assert_eq!(approved, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_submissions_with_one_key_make_one_case() {
    const REQUESTS: usize = 100;
    let app = TestApp::spawn().await;
    let acceptor = app.staff("i.shouli", &["acceptor"]).await;
    let (id, number) = app.walk_in_person(500, "collected").await;
    let form = window_form(&id, "黄明", &number);
    let requests = (0..REQUESTS)
        .map(|_| {
            app.client
                .post(app.url("/api/v1/applications"))
                .bearer_auth(&acceptor.token)
                .header("Idempotency-Key", "4b7c2a4e-1f7e-4c55-9a55-0d3f9c1e0001")
                .json(&form)
        })
        .collect();
    let answers = all_at_once(requests).await;
    let mut numbers = BTreeSet::new();
    let mut replays = 0;
    for (status, replayed, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        numbers.insert(body["application_no"].as_str().unwrap().to_owned());
        replays += usize::from(*replayed);
    }
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    assert_eq!(replays, REQUESTS - 1);
    let (_, queue) = app
        .get_as(&acceptor.token, "/api/v1/applications?queue=submitted")
        .await;
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    let (_, counts) = app
        .get_as(&acceptor.token, "/api/v1/applications/queues")
        .await;
    let submitted = counts
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "submitted")
        .unwrap();
    assert_eq!(submitted["count"], 1, "{counts}");
    app.stop().await;
}

/// Supplements with scans queue for the write lock while the one holding it
/// checks the scan; that check must not need a second connection from the
/// pool the queue has taken (it did: 503 after ten seconds on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_supplements_with_scans_all_go_through() {
    const CASES: usize = 40;
    let app = TestApp::spawn().await;
    let acceptor = app.staff("s.shouli", &["acceptor"]).await;
    let citizen = app.cardholder_numbered(450, "collected").await;
    let mut cases = Vec::new();
    for _ in 0..CASES {
        let no = app.apply_online(&citizen, &card_number(450)).await;
        app.act(
            &acceptor.token,
            &no,
            "notify-missing",
            &body_of("notify-missing", Who::Acceptor, ""),
            StatusCode::OK,
        )
        .await;
        let scan = app.upload_as(&citizen.token, "申请表.png", PNG_SCAN).await;
        cases.push((no, scan));
    }
    let requests = cases
        .iter()
        .map(|(no, scan)| {
            app.client
                .post(app.url(&format!("/api/v1/applications/{no}/supplement")))
                .bearer_auth(&citizen.token)
                .json(&body_of("supplement", Who::Owner, scan))
        })
        .collect();
    for (status, _, body) in all_at_once(requests).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "submitted");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------

/// The due dates of a case's schedule, by role.
fn schedule(case: &Value) -> Vec<(String, String)> {
    case["schedule"]
        .as_array()
        .expect("a schedule")
        .iter()
        .map(|s| {
            (
                s["role"].as_str().unwrap().to_owned(),
                s["due"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The deadline of `working_days` from today, as the calendar API says.
async fn due_from_today(app: &TestApp, working_days: u32) -> Value {
    let today = sscard::clock::today_in_china();
    let (status, deadline) = app
        .get_json(&format!(
            "/api/v1/calendar/deadline?start={today}&working_days={working_days}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{deadline}");
    deadline["deadline"].clone()
}

#[tokio::test]
async fn posted_applications_count_from_the_window_and_not_while_in_supplement() {
    let app = TestApp::spawn().await;
    let acceptor = app.staff("d.shouli", &["acceptor"]).await;

    // Received on 30 September at 10:00, within the window's hours.
    let (id, number) = app.walk_in_person(600, "collected").await;
    let case = app
        .submit_as(
            &acceptor.token,
            &express_form(&id, "黄明", &number, "2026-09-30T10:00:00+08:00"),
        )
        .await;
    assert_eq!(case["channel"], "express");
    assert_eq!(case["inbound_waybill"], "SF1234567890");
    assert_eq!(case["received_at"], "2026-09-30T02:00:00Z");
    assert_eq!(
        schedule(&case),
        pairs(&[
            ("acceptor", "2026-09-30"),
            ("processor", "2026-10-08"),
            ("feedback", "2026-10-08"),
        ])
    );
    assert_eq!(case["deadline"], "2026-10-08");
    assert_eq!(case["step_due"], "2026-09-30");
    assert_eq!(case["current_step"], "acceptor");
    assert_eq!(case["overdue"], true, "{case}");
    let on_time_no = case["application_no"].as_str().unwrap().to_owned();

    // Received at 17:30, after the window closed: it counts from the next
    // opening, the first working day after the National Day holiday.
    let (id, number) = app.walk_in_person(601, "collected").await;
    let late = app
        .submit_as(
            &acceptor.token,
            &express_form(&id, "黄明", &number, "2026-09-30T17:30:00+08:00"),
        )
        .await;
    assert_eq!(
        schedule(&late),
        pairs(&[
            ("acceptor", "2026-10-08"),
            ("processor", "2026-10-09"),
            ("feedback", "2026-10-09"),
        ])
    );
    assert_eq!(late["step_due"], "2026-10-08");
    assert_eq!(late["deadline"], "2026-10-09");
    let late_no = late["application_no"].as_str().unwrap().to_owned();

    // Both are past due and listed for supervisors.
    let (_, overdue) = app
        .get_as(&acceptor.token, "/api/v1/applications?queue=overdue")
        .await;
    let listed: Vec<&str> = overdue
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["application_no"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&on_time_no.as_str()) && listed.contains(&late_no.as_str()));

    // A posted application without its waybill is refused.
    let mut no_waybill = express_form(&id, "黄明", &number, "2026-09-30T10:00:00+08:00");
    no_waybill["inbound_waybill"] = Value::Null;
    let (status, problem) = app
        .post_as(&acceptor.token, "/api/v1/applications", &no_waybill)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem.to_string().contains("WAYBILL_INVALID"), "{problem}");

    // 补正: no clock runs against the bureau.
    let noticed = app
        .act(
            &acceptor.token,
            &on_time_no,
            "notify-missing",
            &json!({ "materials": [
                { "code": "own_card", "status": "missing" }
            ]}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(noticed["status"], "awaiting_supplement");
    assert!(noticed["step_due"].is_null(), "{noticed}");
    assert!(noticed["current_step"].is_null(), "{noticed}");
    assert_eq!(noticed["overdue"], false);
    let (_, overdue) = app
        .get_as(&acceptor.token, "/api/v1/applications?queue=overdue")
        .await;
    assert!(!overdue.to_string().contains(&on_time_no), "{overdue}");

    // The supplement restarts the acceptance step from its own arrival.
    let supplemented = app
        .act(
            &acceptor.token,
            &on_time_no,
            "supplement",
            &json!({ "materials": [{ "code": "own_card" }] }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(supplemented["status"], "submitted");
    let step = supplemented["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(step["action"], "supplement");
    let at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(step["occurred_at"].clone()).unwrap();
    let services = app.db().services().await;
    let guide = services.current_guide().await.unwrap().guide;
    let calendar = sscard_domain::calendar::WorkingCalendar::new(vec![
        services.calendar_year(2026).await.unwrap(),
    ]);
    let expected = sscard_domain::case::due_from_receipt(
        sscard::clock::to_china(at).naive_local(),
        0,
        &calendar,
        &guide.windows[0],
    )
    .unwrap()
    .deadline;
    assert_eq!(
        supplemented["step_due"],
        json!(expected.to_string()),
        "{supplemented}"
    );
    assert_eq!(step["next_due"], supplemented["step_due"]);
    assert!(expected >= sscard::clock::today_in_china());
    assert_eq!(supplemented["overdue"], false);
    // The original receipt is unchanged.
    assert_eq!(supplemented["received_at"], "2026-09-30T02:00:00Z");

    // Processing counts from the day of acceptance.
    let accepted = app
        .act(
            &acceptor.token,
            &on_time_no,
            "accept",
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    assert_eq!(accepted["current_step"], "processor");
    assert_eq!(accepted["step_due"], due_from_today(&app, 1).await);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Guide versions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_case_keeps_the_guide_version_it_was_submitted_under() {
    let app = TestApp::spawn().await;
    let acceptor = app.staff("g.shouli", &["acceptor"]).await;
    let (id, number) = app.walk_in_person(700, "collected").await;
    let before = app
        .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
        .await;
    assert_eq!(before["guide_version"], 44);

    let v44 = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/guide/v44.toml"))
        .expect("the shipped guide");
    assert_eq!(v44.matches("\nversion = 44\n").count(), 1);
    assert_eq!(v44.matches("time_limit_working_days = 1\n").count(), 1);
    let v45 = v44
        .replacen("\nversion = 44\n", "\nversion = 45\n", 1)
        .replacen(
            "time_limit_working_days = 1\n",
            "time_limit_working_days = 2\n",
            1,
        );
    app.db()
        .services()
        .await
        .publish_guide(&v45, &sscard::service::Actor::system())
        .await
        .expect("publish v45");
    let (_, guide) = app.get_json("/api/v1/guide").await;
    assert_eq!(guide["version"], 45);

    let (id, number) = app.walk_in_person(701, "collected").await;
    let after = app
        .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
        .await;
    assert_eq!(after["guide_version"], 45);

    let limits = |case: &Value| -> Vec<u64> {
        case["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["time_limit_working_days"].as_u64().unwrap())
            .collect()
    };
    let old_no = before["application_no"].as_str().unwrap();
    let new_no = after["application_no"].as_str().unwrap();
    let old = app.case_as(&acceptor.token, old_no).await;
    assert_eq!(old["guide_version"], 44, "unchanged by the new version");
    assert_eq!(limits(&old), [0, 1, 0]);
    assert_eq!(limits(&after), [0, 2, 0]);

    let old = app
        .act(
            &acceptor.token,
            old_no,
            "accept",
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    let new = app
        .act(
            &acceptor.token,
            new_no,
            "accept",
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    assert_eq!(old["guide_version"], 44);
    assert_eq!(old["step_due"], due_from_today(&app, 1).await, "v44: 1 day");
    assert_eq!(new["guide_version"], 45);
    assert_eq!(
        new["step_due"],
        due_from_today(&app, 2).await,
        "v45: 2 days"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or_default().to_owned(),
                        e["code"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_agent_needs_an_id_card_and_a_commitment_letter() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("a.chuangkou", &["acceptor", "processor", "feedback"])
        .await;

    // Without the agent's materials: no acceptance, a notice listing both.
    let (id, number) = app.walk_in_person(800, "collected").await;
    let mut form = window_form(&id, "黄明", &number);
    form["agent"] = agent(801);
    let case = app.submit_as(&clerk.token, &form).await;
    let no = case["application_no"].as_str().unwrap().to_owned();
    assert_eq!(case["agent_name"], "李华");
    assert_eq!(case["agent_relation"], "配偶");
    assert!(!case.to_string().contains(&id_number_for(801)), "masked");
    let required: Vec<&str> = case["materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "application_form",
            "own_card",
            "agent_id_card",
            "agent_commitment"
        ]
    );
    let (status, problem) = app
        .post_as(
            &clerk.token,
            &format!("/api/v1/applications/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_refused(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "MATERIALS_INCOMPLETE",
        "accepting without the agent's materials",
    );
    assert_eq!(
        field_codes(&problem),
        pairs(&[
            ("materials.agent_id_card", "MATERIAL_MISSING"),
            ("materials.agent_commitment", "MATERIAL_MISSING"),
        ])
    );
    assert_eq!(app.case_as(&clerk.token, &no).await["status"], "submitted");
    let noticed = app
        .act(
            &clerk.token,
            &no,
            "notify-missing",
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    let items: Vec<&str> = noticed["notice"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["agent_id_card", "agent_commitment"]);
    // The agent brings both: accepted.
    app.act(
        &clerk.token,
        &no,
        "supplement",
        &json!({ "materials": [{ "code": "agent_id_card" }, { "code": "agent_commitment" }] }),
        StatusCode::OK,
    )
    .await;
    app.act(&clerk.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    app.act(&clerk.token, &no, "approve", &Value::Null, StatusCode::OK)
        .await;

    // The agent collects the result: their name and a valid ID number.
    let deliver = format!("/api/v1/applications/{no}/deliver");
    let (status, problem) = app
        .post_as(
            &clerk.token,
            &deliver,
            &json!({ "delivery": { "collected_by": "agent" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<String> = field_codes(&problem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["delivery.collector_name", "delivery.collector_id_number"]
    );
    let (status, problem) = app.post_as(&clerk.token, &deliver, &Value::Null).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        field_codes(&problem),
        pairs(&[("delivery.collected_by", "COLLECTOR_REQUIRED")])
    );
    let valid = id_number_for(801);
    let wrong_check = format!(
        "{}{}",
        &valid[..17],
        if valid.ends_with('1') { '2' } else { '1' }
    );
    let (status, problem) = app
        .post_as(
            &clerk.token,
            &deliver,
            &json!({ "delivery": {
                "collected_by": "agent", "collector_name": "李华", "collector_id_number": wrong_check
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<String> = field_codes(&problem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["delivery.collector_id_number"]);
    assert_eq!(
        app.case_as(&clerk.token, &no).await["status"],
        "awaiting_feedback"
    );
    let done = app
        .act(
            &clerk.token,
            &no,
            "deliver",
            &json!({ "delivery": {
                "collected_by": "agent", "collector_name": "李华", "collector_id_number": valid
            }}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["delivery"]["collected_by"], "agent");
    let collector = done["delivery"]["collector"].as_str().unwrap();
    assert!(
        collector.contains("李华") && !collector.contains(&valid),
        "{collector}"
    );

    // With both materials at once: accepted straight away.
    let (id, number) = app.walk_in_person(802, "collected").await;
    let mut form = window_form(&id, "黄明", &number);
    form["agent"] = agent(803);
    form["materials"] = json!([
        { "code": "application_form" },
        { "code": "own_card" },
        { "code": "agent_id_card" },
        { "code": "agent_commitment" },
    ]);
    let case = app.submit_as(&clerk.token, &form).await;
    let no = case["application_no"].as_str().unwrap();
    let accepted = app
        .act(&clerk.token, no, "accept", &Value::Null, StatusCode::OK)
        .await;
    assert_eq!(accepted["status"], "awaiting_processing");

    // Online, nobody applies through an agent.
    let citizen = app.cardholder_numbered(804, "collected").await;
    let mut form = online_form(&citizen, &card_number(804));
    form["agent"] = agent(805);
    for path in ["/api/v1/applications/precheck", "/api/v1/applications"] {
        let (status, answer) = app.post_as(&citizen.token, path, &form).await;
        let codes = if path.ends_with("precheck") {
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["ok"], false);
            answer
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            answer
        };
        assert_eq!(
            field_codes(&codes),
            pairs(&[("agent", "AGENT_NOT_ONLINE")]),
            "{path}"
        );
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------

async fn upload_raw(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn scans_are_checked_by_content_sealed_on_disk_and_shown_to_the_right_people() {
    let app = TestApp::spawn().await;
    let acceptor = app.staff("u.shouli", &["acceptor"]).await;
    let citizen = app.cardholder_numbered(900, "collected").await;
    let other = app.cardholder_numbered(901, "collected").await;

    // HTML named scan.pdf.
    let (status, problem) = upload_raw(
        &app,
        &citizen.token,
        "scan.pdf",
        b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_refused(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_TYPE_NOT_ALLOWED",
        "HTML named scan.pdf",
    );
    // Over 10 MB: just over (the service's check) and well over (the body limit).
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(10 * 1024 * 1024 + 1, b'0');
    let (status, problem) = upload_raw(&app, &citizen.token, "big.pdf", big).await;
    assert_refused(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_TOO_LARGE",
        "10 MB and a byte",
    );
    let mut huge = b"%PDF-1.4\n".to_vec();
    huge.resize(10 * 1024 * 1024 + 128 * 1024, b'0');
    let (status, problem) = upload_raw(&app, &citizen.token, "huge.pdf", huge).await;
    assert_refused(
        status,
        &problem,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "past the body limit",
    );

    // A PDF, attached to the citizen's application.
    let upload_id = app.upload_as(&citizen.token, "申请表.pdf", PDF_SCAN).await;
    let download = |token: &str| {
        app.client
            .get(app.url(&format!("/api/v1/uploads/{upload_id}")))
            .bearer_auth(token.to_owned())
            .send()
    };
    // Not yet attached: the uploader only.
    assert_eq!(
        download(&citizen.token).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        download(&acceptor.token).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let mut form = online_form(&citizen, &card_number(900));
    form["materials"] = json!([{ "code": "application_form", "upload_id": upload_id }]);
    let case = app.submit_as(&citizen.token, &form).await;
    let material = case["materials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "application_form")
        .unwrap()
        .clone();
    assert_eq!(material["upload"]["upload_id"], upload_id.as_str());
    assert_eq!(material["upload"]["content_type"], "application/pdf");

    // Staff open the scan of a case, with its type.
    let response = download(&acceptor.token).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), PDF_SCAN);
    // Another cardholder does not.
    let response = download(&other.token).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "UPLOAD_NOT_FOUND");
    let (status, _) = app.get_as(&other.token, "/api/v1/uploads/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Someone else's upload cannot be put on one's own application either.
    let theirs = app.upload_as(&citizen.token, "身份证.png", PNG_SCAN).await;
    let mut form = online_form(&other, &card_number(901));
    form["materials"] = json!([{ "code": "application_form", "upload_id": theirs }]);
    let (status, problem) = app
        .post_as(&other.token, "/api/v1/applications", &form)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem.to_string().contains("UPLOAD_NOT_FOUND"),
        "{problem}"
    );

    // On disk, the blob is sealed: not the plain bytes.
    let database_url = sscard::store::DatabaseUrl::parse(app.db().url()).unwrap();
    let blob_dir = sscard::server::default_blob_dir(&database_url, &app.db().key_file());
    let blob = blob_dir.join(&upload_id[..2]).join(&upload_id);
    let stored = std::fs::read(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
    assert!(!stored.is_empty());
    assert!(
        !stored.windows(8).any(|w| w == &PDF_SCAN[..8]),
        "the blob holds the plain PDF"
    );
    assert!(
        !stored
            .windows(12)
            .any(|w| PDF_SCAN.windows(12).any(|p| p == w)),
        "the blob holds part of the plain PDF"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Express delivery
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_express_result_is_posted_at_government_cost_with_its_waybill() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("e.chuangkou", &["acceptor", "processor", "feedback"])
        .await;
    let (id, number) = app.walk_in_person(950, "collected").await;
    let received = chrono::Utc::now().to_rfc3339();
    let case = app
        .submit_as(&clerk.token, &express_form(&id, "黄明", &number, &received))
        .await;
    assert_eq!(case["delivery_method"], "express");
    assert!(case["delivery_address_masked"].is_string(), "{case}");
    assert!(
        !case.to_string().contains("柳堡路318号"),
        "the address is masked"
    );
    let no = case["application_no"].as_str().unwrap().to_owned();
    for action in ["accept", "approve"] {
        app.act(&clerk.token, &no, action, &Value::Null, StatusCode::OK)
            .await;
    }
    let path = format!("/api/v1/applications/{no}/deliver");
    let (status, problem) = app.post_as(&clerk.token, &path, &Value::Null).await;
    assert_refused(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
        "posting without carrier and waybill",
    );
    assert_eq!(
        field_codes(&problem),
        pairs(&[
            ("delivery.carrier", "CARRIER_REQUIRED"),
            ("delivery.waybill_no", "WAYBILL_INVALID"),
        ])
    );
    let (status, problem) = app
        .post_as(
            &clerk.token,
            &path,
            &json!({ "delivery": { "carrier": "中国邮政EMS", "waybill_no": "12" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        field_codes(&problem),
        pairs(&[("delivery.waybill_no", "WAYBILL_INVALID")])
    );
    let waiting = app.case_as(&clerk.token, &no).await;
    assert_eq!(waiting["status"], "awaiting_feedback");
    assert!(waiting["delivery"].is_null());

    let done = app
        .act(
            &clerk.token,
            &no,
            "deliver",
            &json!({ "delivery": { "carrier": "中国邮政EMS", "waybill_no": "ems1234567890cn" } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"], "approved");
    let delivery = &done["delivery"];
    assert_eq!(delivery["method"], "express");
    assert_eq!(delivery["carrier"], "中国邮政EMS");
    assert_eq!(delivery["waybill_no"], "EMS1234567890CN");
    assert_eq!(delivery["paid_by"], "government");
    let step = done["timeline"].as_array().unwrap().last().unwrap();
    assert_eq!(step["action"], "deliver");
    assert_eq!(step["delivery"]["paid_by"], "government");
    assert_eq!(step["delivery"]["waybill_no"], "EMS1234567890CN");
    app.stop().await;
}
