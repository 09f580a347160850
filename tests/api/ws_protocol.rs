//! `graphql-transport-ws`: the subscription end to end, and every close code.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, Ws};

const TENANT_EVENTS: &str = "subscription { tenantEvents { kind subjectId actorId } }";

#[tokio::test]
async fn a_subscriber_receives_its_tenants_events_only() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let mut mine = app.ws("/graphql/ws").await;
    let mut theirs = app.ws("/graphql").await; // upgrade on /graphql works too
    mine.init(&owner.access_token).await;
    theirs.init(&stranger.access_token).await;
    mine.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    theirs
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.gql_as(
        &owner.access_token,
        "mutation { createApiKey(name: \"k\", scopes: [READ]) { apiKey { id } } }",
        json!({}),
    )
    .await
    .data("createApiKey");
    app.gql_as(
        &stranger.access_token,
        "mutation { updateTenant(input: { industry: \"Retail\" }) { industry } }",
        json!({}),
    )
    .await
    .data("updateTenant");

    let event = mine.next_json().await;
    assert_eq!(event["type"], "next");
    assert_eq!(event["id"], "1");
    assert_eq!(
        event["payload"]["data"]["tenantEvents"]["kind"],
        "API_KEY_CREATED"
    );
    assert_eq!(
        event["payload"]["data"]["tenantEvents"]["actorId"],
        owner.user_id.as_str()
    );
    let other = theirs.next_json().await;
    assert_eq!(
        other["payload"]["data"]["tenantEvents"]["kind"], "TENANT_UPDATED",
        "not acme's key event"
    );
}

#[tokio::test]
async fn complete_stops_a_subscription_and_queries_run_over_the_socket() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;

    ws.send(json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ me { role } }" } }))
        .await;
    let next = ws.next_json().await;
    let complete = ws.next_json().await;
    ws.send(json!({ "id": "s", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    ws.send(json!({ "id": "s", "type": "complete" })).await;
    // The id is free again after complete: no 4409.
    ws.send(json!({ "id": "s", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    ws.send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    let pong = ws.next_json().await;

    assert_eq!(next["payload"]["data"]["me"]["role"], "OWNER");
    assert_eq!(complete, json!({ "type": "complete", "id": "q" }));
    assert_eq!(pong, json!({ "type": "pong", "payload": { "n": 1 } }));
}

#[tokio::test]
async fn validation_errors_come_back_as_an_error_message() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;

    ws.send(json!({ "id": "bad", "type": "subscribe", "payload": { "query": "subscription { nope }" } })).await;
    let error = ws.next_json().await;

    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "bad");
    assert!(error["payload"][0]["message"].is_string());
}

#[tokio::test]
async fn no_init_in_time_closes_4408() {
    let app = TestApp::spawn_with(|c| c.limits.ws_init_timeout_ms = 300).await;
    let mut ws = app.ws("/graphql/ws").await;
    assert_eq!(ws.closed().await.0, 4408);
}

#[tokio::test]
async fn subscribe_before_ack_closes_4401() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    assert_eq!(ws.closed().await.0, 4401);
}

#[tokio::test]
async fn a_rejected_or_missing_token_closes_4403() {
    let app = TestApp::spawn().await;
    let mut bad = app.ws("/graphql/ws").await;
    bad.send(json!({ "type": "connection_init", "payload": { "token": "forged" } }))
        .await;
    let mut missing = app.ws("/graphql/ws").await;
    missing.send(json!({ "type": "connection_init" })).await;

    assert_eq!(bad.closed().await.0, 4403);
    assert_eq!(missing.closed().await.0, 4403);
}

#[tokio::test]
async fn a_second_init_closes_4429() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "type": "connection_init", "payload": { "token": owner.access_token } }))
        .await;
    assert_eq!(ws.closed().await.0, 4429);
}

#[tokio::test]
async fn a_duplicate_subscription_id_closes_4409() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "id": "same", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    ws.send(json!({ "id": "same", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4409);
    assert!(reason.contains("same"));
}

#[tokio::test]
async fn malformed_messages_close_4400() {
    let app = TestApp::spawn().await;
    for bad in [
        "not json",
        r#"{"type":"no_such_type"}"#,
        r#"{"id":"1"}"#,
        r#"{"type":"subscribe","id":"1"}"#,
    ] {
        let mut ws = app.ws("/graphql/ws").await;
        ws.send_raw(bad).await;
        assert_eq!(ws.closed().await.0, 4400, "for {bad}");
    }
}

#[tokio::test]
async fn a_missing_subprotocol_closes_4406() {
    let app = TestApp::spawn().await;
    let mut ws = Ws::connect(&app.ws_url("/graphql/ws"), None).await;
    assert_eq!(ws.closed().await.0, 4406);
}

#[tokio::test]
async fn an_oversized_message_closes_1009_and_the_server_stays_up() {
    let app = TestApp::spawn_with(|c| c.limits.ws_message_bytes = 1024).await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;

    let query = format!("{{ me {{ role }} }} # {}", "x".repeat(4096));
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }))
        .await;

    assert_eq!(ws.closed().await.0, 1009);
    let mut again = app.ws("/graphql/ws").await;
    again.init(&owner.access_token).await;
}

#[tokio::test]
async fn the_connection_closes_when_the_token_expires() {
    let app = TestApp::spawn_with(|c| c.access_token_ttl_secs = 2).await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": TENANT_EVENTS } }))
        .await;

    let (code, reason) = ws.closed().await;

    assert_eq!(code, 4403);
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn a_client_that_closes_gets_the_closing_handshake_answered() {
    // RFC 6455 §5.5.1: the server answers a close frame with its own; a
    // dropped connection reads as 1006 (abnormal) in browsers and graphql-ws.
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;

    ws.stream
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .expect("close sent");

    let (code, _) = ws.closed().await;
    assert_eq!(code, 1000);
}
