//! The tool's scenario logic against a server in this process (SQLite, or
//! PostgreSQL with `SSCARD_TEST_POSTGRES_URL`): the workloads complete real
//! cases and queries with zero errors, and a wrong answer is counted as an
//! error. Nothing here is timed.

use std::sync::Arc;
use std::time::Duration;

use sscard_bench::baseline::{self, BaselineWork};
use sscard_bench::db::BenchDb;
use sscard_bench::http::Api;
use sscard_bench::load;
use sscard_bench::scenarios::lifecycle::LifecycleWork;
use sscard_bench::scenarios::query::QueryWork;
use sscard_bench::seed;
use tokio::sync::oneshot;

const POSTGRES_ENV: &str = "SSCARD_TEST_POSTGRES_URL";

async fn fresh_db(label: &str) -> BenchDb {
    let postgres = std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty());
    BenchDb::fresh(postgres.as_deref(), None, label)
        .await
        .expect("a fresh database")
}

/// Serves `services` on a free port until the sender is dropped.
async fn serve(services: sscard::service::Services) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = sscard::http::HttpConfig {
        rate_limits: sscard::http::RateLimits::relaxed(),
        ..sscard::http::HttpConfig::default()
    };
    tokio::spawn(async move {
        sscard::server::serve(listener, services, config, async {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });
    (format!("http://{address}"), stop)
}

/// Runs `work` with `workers` until it is exhausted (the duration is only a
/// safety net, not an expectation).
async fn until_exhausted<W: load::Workload>(work: Arc<W>, workers: usize) -> load::Measured {
    load::drive(work, workers, Duration::ZERO, Duration::from_secs(600)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_complete_through_the_api_and_the_baseline_writes_the_same() {
    let db = fresh_db("test_lifecycle").await;
    let services = db.services().await.unwrap();
    let holders = seed::holders(&services, 6).await.unwrap();
    let clerks = seed::clerks(&services, 2).await.unwrap();
    let (base, stop) = serve(services.clone()).await;
    let api = Api::new(&base, 4);
    let mut tokens = Vec::new();
    for (username, password) in &clerks {
        tokens.push(seed::sign_in(&api, username, password).await.unwrap());
    }
    let work = Arc::new(LifecycleWork::new(
        api.clone(),
        tokens.clone(),
        holders.clone(),
    ));
    let measured = until_exhausted(Arc::clone(&work), 3).await;
    assert_eq!(measured.errors, 0, "{:?}", measured.first_errors);
    assert!(measured.exhausted);
    assert_eq!(
        measured.operations.len(),
        6,
        "every prepared case completed"
    );
    assert_eq!(measured.requests.len(), 24, "four requests a case");
    for holder in &holders {
        let card = api
            .get(
                &format!("/api/v1/cards/{}", holder.card_number),
                Some(&tokens[0]),
            )
            .await
            .unwrap();
        assert_eq!(
            card.body
                .pointer("/social_state/code")
                .and_then(|c| c.as_str()),
            Some("normal"),
            "{}",
            card.body
        );
    }
    assert!(services.verify_audit().await.unwrap().is_intact());
    // Stopping the server closes its pool.
    drop(stop);

    // The baseline on a second database with the same cardholders.
    let other = fresh_db("test_baseline").await;
    let other_services = other.services().await.unwrap();
    let holders = seed::holders(&other_services, 6).await.unwrap();
    let work = baseline::shared(BaselineWork::new(&other_services, holders).await.unwrap());
    let measured = until_exhausted(work, 3).await;
    assert_eq!(measured.errors, 0, "{:?}", measured.first_errors);
    assert_eq!(measured.operations.len(), 6);
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE state = 'completed'")
        .fetch_one(other_services.store().pool())
        .await
        .unwrap();
    assert_eq!(cases, 6);
    let normal: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM cards WHERE social_state = 'normal'")
            .fetch_one(other_services.store().pool())
            .await
            .unwrap();
    assert_eq!(normal, 6);
    assert!(other_services.verify_audit().await.unwrap().is_intact());
    other_services.store().close().await;
    db.remove().await;
    other.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_queries_match_the_history_and_a_wrong_answer_counts_as_an_error() {
    let db = fresh_db("test_query").await;
    let services = db.services().await.unwrap();
    seed::historic_cases(&services, 40).await.unwrap();
    let end = seed::history_end();
    let (base, stop) = serve(services.clone()).await;
    let api = Api::new(&base, 4);

    let work = Arc::new(QueryWork::new(api.clone(), 40, end, Some(200)));
    let measured = until_exhausted(work, 4).await;
    assert_eq!(measured.errors, 0, "{:?}", measured.first_errors);
    assert_eq!(measured.operations.len(), 200);

    // Case 0 answered with another state than the history says: each
    // matching query of it is an error, however fast it was.
    let plan = seed::planned_case(&sscard::demo::Generator::new(seed::SEED), end, 0);
    let other = if plan.status == "refused" {
        "submitted"
    } else {
        "refused"
    };
    sqlx::query("UPDATE cases SET state = $1, outcome = NULL WHERE application_no = $2")
        .bind(other)
        .bind(plan.application_no.clone())
        .execute(services.store().pool())
        .await
        .unwrap();
    let work = Arc::new(QueryWork::new(api, 1, end, Some(50)));
    let measured = until_exhausted(work, 2).await;
    assert!(measured.errors > 0, "a wrong state must count as an error");
    assert!(
        measured.first_errors[0].contains("expected status"),
        "{:?}",
        measured.first_errors
    );
    drop(stop);
    services.store().close().await;
    db.remove().await;
}
