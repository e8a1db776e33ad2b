//! Demo data: `sscard demo seed` and `sscard serve --demo` on a fresh
//! database (SQLite, or PostgreSQL with SSCARD_TEST_POSTGRES_URL).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{TestApp, TestDb};
use sscard::demo::{DEFAULT_SEED, DEMO_PERSONS, Generator, employers};
use sscard_domain::identifiers::IdNumber;
use sscard_domain::registry::{FinancialState, SocialSecurityState};

fn sscard(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The printed accounts: username → (initial password, TOTP secret).
fn printed_accounts(text: &str) -> HashMap<String, (String, Option<String>)> {
    let mut accounts = HashMap::new();
    let mut last = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [username, "初始密码", password, ..] = words.as_slice() {
            accounts.insert((*username).to_owned(), ((*password).to_owned(), None));
            (*username).clone_into(&mut last);
        } else if let ["动态口令密钥", secret, ..] = words.as_slice() {
            let secret: String = secret
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if let Some(entry) = accounts.get_mut(&last) {
                entry.1 = Some(secret);
            }
        }
    }
    accounts
}

async fn strings(db: &TestDb, sql: &'static str) -> Vec<String> {
    let services = db.services().await;
    let rows: Vec<(String,)> = sqlx::query_as(sql)
        .fetch_all(services.store().pool())
        .await
        .unwrap();
    services.store().close().await;
    rows.into_iter().map(|(s,)| s).collect()
}

async fn count(db: &TestDb, table: &str) -> i64 {
    let services = db.services().await;
    let row: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(services.store().pool())
        .await
        .unwrap();
    services.store().close().await;
    row.0
}

#[tokio::test]
async fn demo_seed_twice_on_one_database_is_idempotent_and_the_printed_accounts_sign_in() {
    let db = TestDb::new().await;
    let first = sscard(&db, &["demo", "seed"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = stdout(&first);
    assert!(
        text.contains(&format!("已写入演示数据（种子 {DEFAULT_SEED}）")),
        "{text}"
    );
    assert!(text.contains("只显示这一次"), "{text}");
    let accounts = printed_accounts(&text);
    let usernames: BTreeSet<&str> = accounts.keys().map(String::as_str).collect();
    assert_eq!(
        usernames,
        BTreeSet::from([
            "acceptor",
            "admin",
            "employer.demo",
            "feedback",
            "processor",
            "supervisor",
            "teller.icbc"
        ])
    );
    assert!(
        accounts["admin"].1.is_some() && accounts["supervisor"].1.is_some(),
        "TOTP secrets printed"
    );
    assert!(accounts["acceptor"].1.is_none());
    let employer = &employers(DEFAULT_SEED)[0];
    assert!(
        text.contains(&employer.uscc),
        "the employer account names its employer: {text}"
    );
    assert!(text.contains("ICBC"), "{text}");

    let persons = count(&db, "persons").await;
    let cards = count(&db, "cards").await;
    let audit = count(&db, "audit_log").await;
    assert_eq!(persons, i64::try_from(DEMO_PERSONS).unwrap());
    let expected_cards: usize = Generator::new(DEFAULT_SEED)
        .persons(DEMO_PERSONS)
        .map(|p| p.cards.len())
        .sum();
    assert_eq!(cards, i64::try_from(expected_cards).unwrap());

    let second = sscard(&db, &["demo", "seed"]);
    assert!(second.status.success());
    let text = stdout(&second);
    assert!(text.contains("未写入演示数据"), "{text}");
    assert!(
        !text.contains("初始密码"),
        "passwords are printed once: {text}"
    );
    assert_eq!(count(&db, "persons").await, persons);
    assert_eq!(count(&db, "cards").await, cards);
    assert_eq!(count(&db, "accounts").await, 7);
    assert_eq!(
        count(&db, "audit_log").await,
        audit,
        "nothing written the second time"
    );

    // The printed credentials are real.
    let app = TestApp::spawn_on(db).await;
    let (password, _) = &accounts["acceptor"];
    app.sign_in("acceptor", password, None)
        .await
        .expect("acceptor signs in");
    let (password, totp) = &accounts["admin"];
    app.sign_in("admin", password, totp.as_deref())
        .await
        .expect("admin signs in with TOTP");
    let (password, _) = &accounts["teller.icbc"];
    app.sign_in("teller.icbc", password, None)
        .await
        .expect("the teller signs in");
    assert!(
        app.sign_in("acceptor", "wrong-password-1", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_seeded_data_is_deterministic_and_has_every_state_of_both_applications() {
    let db = TestDb::new().await;
    assert!(sscard(&db, &["demo", "seed"]).status.success());

    let social: BTreeSet<String> = strings(&db, "SELECT DISTINCT social_state FROM cards")
        .await
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = SocialSecurityState::ALL
        .iter()
        .map(|s| s.code().to_owned())
        .collect();
    assert_eq!(social, expected);
    let financial: BTreeSet<String> = strings(&db, "SELECT DISTINCT financial_state FROM cards")
        .await
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = FinancialState::ALL
        .iter()
        .map(|s| s.code().to_owned())
        .collect();
    assert_eq!(financial, expected);
    let statuses = strings(&db, "SELECT DISTINCT enrolment_status FROM persons").await;
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    let regions = strings(&db, "SELECT enrolment_region FROM persons").await;
    assert!(
        regions.iter().any(|r| !r.starts_with("4502")),
        "some persons are not enrolled in Liuzhou"
    );
    let banks: BTreeSet<String> = strings(&db, "SELECT DISTINCT bank_code FROM cards")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        banks,
        BTreeSet::from(["ABC", "BOC", "CCB", "ICBC"].map(str::to_owned))
    );
    let employer = &employers(DEFAULT_SEED)[0];
    let employees = strings(
        &db,
        "SELECT employer_uscc FROM persons WHERE employer_uscc IS NOT NULL",
    )
    .await;
    assert!(
        employees.iter().filter(|u| *u == &employer.uscc).count() >= 5,
        "the demo employer has employees"
    );

    // Exactly the generated persons, rare names included.
    let services = db.services().await;
    for person in Generator::new(DEFAULT_SEED)
        .persons(DEMO_PERSONS)
        .step_by(7)
    {
        let view = services
            .person_by_id_number(&IdNumber::parse(&person.id_number).unwrap())
            .await
            .unwrap();
        assert_eq!(view.name, person.name);
        assert_eq!(view.cards.len(), person.cards.len());
    }
    let first = services
        .person_by_id_number(
            &IdNumber::parse(&Generator::new(DEFAULT_SEED).person(0).id_number).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(first.name, "王𠈌");
    services.store().close().await;

    // The same seed on another database gives the same cards; another seed others.
    let cards = strings(&db, "SELECT card_number FROM cards ORDER BY card_number").await;
    let same = TestDb::new().await;
    assert!(
        sscard(
            &same,
            &["demo", "seed", "--seed", &DEFAULT_SEED.to_string()]
        )
        .status
        .success()
    );
    assert_eq!(
        strings(&same, "SELECT card_number FROM cards ORDER BY card_number").await,
        cards
    );
    let other = TestDb::new().await;
    assert!(
        sscard(&other, &["demo", "seed", "--seed", "7"])
            .status
            .success()
    );
    let other_cards = strings(&other, "SELECT card_number FROM cards ORDER BY card_number").await;
    assert_ne!(other_cards, cards);
}

/// Starts `sscard serve --demo`, collects what it prints until `done` says
/// enough (or 60 s pass), then stops it with SIGTERM.
fn serve_demo(db: &TestDb, done: impl Fn(&str) -> bool) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sscard serve --demo");
    let (lines, received) = mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out_lines = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = out_lines.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = lines.send(format!("[stderr] {line}"));
        }
    });
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done(&text) && std::time::Instant::now() < deadline {
        if let Ok(line) = received.recv_timeout(Duration::from_millis(200)) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    // Stop it only once it answers: the signal handler is installed then.
    let address = text
        .split("open http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned);
    if let Some(address) = address {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !healthy(&address) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "a clean exit after SIGTERM: {exit:?}\n{text}"
    );
    text
}

/// A plain HTTP GET of /healthz answered with 200.
fn healthy(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn serve_demo_prints_the_accounts_once_and_then_says_the_database_is_not_empty() {
    let db = TestDb::new().await;
    let text = serve_demo(&db, |text| {
        text.contains("sscard is serving") && printed_accounts(text).len() == 7
    });
    assert_eq!(printed_accounts(&text).len(), 7, "{text}");
    assert!(text.contains("已写入演示数据"), "{text}");
    assert!(
        text.contains("sscard is serving"),
        "it serves after seeding: {text}"
    );

    // stdout and stderr arrive through two pipes in any order: wait for both.
    let again = serve_demo(&db, |text| {
        text.contains("sscard is serving") && text.contains("未写入演示数据")
    });
    assert!(again.contains("未写入演示数据"), "{again}");
    assert!(printed_accounts(&again).is_empty(), "{again}");
    assert_eq!(count(&db, "accounts").await, 7);
}

/// The staff page shows a demo card's two states and its history, masked.
#[tokio::test]
async fn a_clerk_sees_a_demo_cards_two_states_and_history_masked() {
    let app = TestApp::spawn().await;
    app.db()
        .services()
        .await
        .seed_demo(DEFAULT_SEED, &sscard::service::Actor::system())
        .await
        .expect("seed the demo data");
    // A demo card in use: both applications past their first state.
    let card_numbers = strings(
        app.db(),
        "SELECT c.card_number FROM cards c JOIN card_events e ON e.card_id = c.id \
         WHERE c.financial_state = 'active' \
         GROUP BY c.card_number HAVING COUNT(*) >= 1 ORDER BY c.card_number",
    )
    .await;
    let card_number = card_numbers
        .first()
        .expect("a demo card with history")
        .clone();
    let clerk = app
        .staff("window.demo", &["acceptor", "processor", "feedback"])
        .await;
    let response = app
        .client
        .post(app.url("/staff/cards"))
        .header("cookie", format!("sscard_session={}", clerk.token))
        .form(&[("query", card_number.to_lowercase())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("社保应用状态") && html.contains("金融应用状态"),
        "{html}"
    );
    let masked = format!("{}****", &card_number[..5]);
    assert!(html.contains(&masked), "the card number is shown masked");
    assert!(!html.contains(&card_number), "never the full card number");
    let history_rows = html
        .split("<tbody>")
        .last()
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap()
        .matches("<tr>")
        .count();
    assert!(
        history_rows >= 1,
        "the history is listed: {history_rows} rows"
    );
    assert!(
        html.contains(">已激活</span>"),
        "the financial state with its label"
    );
    // No full ID number (17 digits and a check character) anywhere on the page.
    let chars: Vec<char> = html.chars().collect();
    let full_id = chars.windows(18).any(|w| {
        w[..17].iter().all(char::is_ascii_digit) && (w[17].is_ascii_digit() || w[17] == 'X')
    });
    assert!(!full_id, "the page shows no full ID number");
}
