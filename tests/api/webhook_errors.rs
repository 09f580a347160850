//! A refused provider webhook is answered with a plain English reason in
//! `{"error": {"code", "message"}}`, never Rust's debug text.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::messaging::{WEBHOOK_SECRET, spawn, standard_webhook};

async fn post(
    app: &TestApp,
    provider: &str,
    headers: Vec<(&str, String)>,
    body: &str,
) -> (u16, String) {
    let mut request = app
        .http
        .post(app.url(&format!("/webhooks/email/{provider}")))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The error's code and message, after checking that the body reads as
/// English rather than a Rust value.
fn error_of(body: &str) -> (String, String) {
    for debug_text in [
        "Error(",
        "Some(",
        "None",
        "Unauthorized(",
        "BadRequest(",
        "{ ",
    ] {
        assert!(!body.contains(debug_text), "debug text in {body}");
    }
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let error = &body["error"];
    (
        error["code"].as_str().unwrap().to_owned(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn refused_webhooks_say_why_in_plain_english() {
    let app = spawn().await;
    let now = chrono::Utc::now().timestamp();
    let event = json!({ "type": "email.delivered", "timestamp": chrono::Utc::now().to_rfc3339(),
        "data": { "message_id": "<x@y>", "email": "ada@example.org" } })
    .to_string();

    let unsigned = post(&app, "standard", vec![], &event).await;
    let malformed = post(
        &app,
        "standard",
        standard_webhook("evt_1", now, "not json", WEBHOOK_SECRET),
        "not json",
    )
    .await;
    let unknown = post(&app, "carrier-pigeon", vec![], &event).await;
    let unconfigured = post(&app, "sendgrid", vec![], &event).await;

    assert_eq!(unsigned.0, 401);
    assert_eq!(
        error_of(&unsigned.1),
        (
            "UNAUTHENTICATED".into(),
            "unauthorized webhook: missing webhook-id".into()
        )
    );
    assert_eq!(malformed.0, 400);
    let (code, message) = error_of(&malformed.1);
    assert_eq!(code, "BAD_REQUEST");
    assert!(message.starts_with("malformed webhook: "), "{message}");
    assert_eq!(unknown.0, 404);
    let (code, message) = error_of(&unknown.1);
    assert_eq!(code, "NOT_FOUND");
    assert!(message.contains("standard"), "{message}");
    assert_eq!(unconfigured.0, 401);
    assert_eq!(
        error_of(&unconfigured.1).1,
        "unauthorized webhook: sendgrid webhooks are not configured"
    );
}
