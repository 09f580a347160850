//! Health, readiness, metrics and request ids.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone_but_health_does_not() {
    let app = TestApp::spawn().await;
    app.db.clone().close().await.unwrap();

    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    let health = app.http.get(app.url("/health")).send().await.unwrap();

    assert_eq!(ready.status(), 503);
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_given_one() {
    let app = TestApp::spawn().await;
    let fresh = app.http.get(app.url("/health")).send().await.unwrap();
    let given = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a generated uuid: {id}");
    assert_eq!(given.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn metrics_count_operations_by_outcome_and_show_the_pool() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("metrics").await;
    app.gql_as(&owner.access_token, "{ me { role } }", json!({}))
        .await
        .data("me");
    app.gql("{ me { role } }", json!({}))
        .await
        .expect_error("UNAUTHENTICATED");

    let text = app.metrics().await;

    let line = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        line(r#"promohub_graphql_operations_total{operation="query:me",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        line(r#"promohub_graphql_operations_total{operation="query:me",outcome="error"}"#),
        "{text}"
    );
    assert!(
        line("promohub_graphql_operation_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        line(r#"promohub_db_pool_connections{state="in_use"}"#),
        "{text}"
    );
    assert!(line("promohub_http_requests_total"), "{text}");
}

#[tokio::test]
async fn a_database_failure_during_authentication_is_503_not_401() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.db.clone().close().await.unwrap();

    let response = app
        .gql_as(&owner.access_token, "{ me { role } }", json!({}))
        .await;

    assert_eq!(
        response.status, 503,
        "a valid token must not look rejected: {:?}",
        response.body
    );
    assert_eq!(response.code(), Some("INTERNAL"));
}
