//! `graphql-transport-ws` hardening (issue 20): a socket's credential is
//! checked again for every operation and while subscriptions run, and one
//! socket runs a bounded number of operations.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, Ws};

const TENANT_EVENTS: &str = "subscription { tenantEvents { kind } }";
const CREATE_ADMIN_KEY: &str =
    "mutation { createApiKey(name: \"backdoor\", scopes: [ADMIN]) { key } }";

/// The `extensions.code` of an operation's first error, whether it came as
/// an `error` message or as a `next` with errors.
fn error_code(message: &Value) -> Option<&str> {
    let errors = match message["type"].as_str() {
        Some("error") => &message["payload"],
        _ => &message["payload"]["errors"],
    };
    errors[0]["extensions"]["code"].as_str()
}

async fn subscribe(ws: &mut Ws, id: &str, query: &str) {
    ws.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
        .await;
}

/// The owner makes the member `email` a viewer, over HTTP.
async fn demote_to_viewer(app: &TestApp, owner: &Session, email: &str) {
    let member_id = app.member_id(owner, email).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!, $role: Role!) { updateMemberRole(memberId: $id, role: $role) { id } }",
        json!({ "id": member_id, "role": "VIEWER" }),
    )
    .await
    .data("updateMemberRole");
}

#[tokio::test]
async fn a_removed_admin_cannot_create_an_api_key_over_an_old_socket() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let admin = app.add_member(&owner, "b@acme.example", "ADMIN").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&admin.access_token).await;
    let member_id = app.member_id(&owner, "b@acme.example").await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { removeMember(memberId: $id) { id } }",
        json!({ "id": member_id }),
    )
    .await
    .data("removeMember");

    subscribe(&mut ws, "1", CREATE_ADMIN_KEY).await;
    let (code, reason) = ws.closed().await;

    assert_eq!(code, 4403);
    assert!(reason.starts_with("Forbidden: "), "{reason}");
    assert_eq!(app.count("api_keys", "name = 'backdoor'").await, 0);
}

#[tokio::test]
async fn a_revoked_api_keys_subscription_ends_within_the_recheck_interval() {
    let app = TestApp::spawn_with(|c| c.limits.ws_reauth_secs = 1).await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["READ"]).await;
    let keys = app
        .gql_as(
            &owner.access_token,
            "{ apiKeys { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let key_id = keys.data("apiKeys")["edges"][0]["node"]["id"].clone();
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&key).await;
    subscribe(&mut ws, "events", TENANT_EVENTS).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({ "id": key_id }),
    )
    .await
    .data("revokeApiKey");
    let revoked_at = Instant::now();
    let (code, reason) = ws.closed().await;

    assert_eq!(code, 4403);
    assert!(reason.contains("revoked"), "{reason}");
    assert!(
        revoked_at.elapsed() < Duration::from_secs(4),
        "closed after {:?}",
        revoked_at.elapsed()
    );
}

#[tokio::test]
async fn a_logged_out_sessions_socket_closes_within_the_recheck_interval() {
    let app = TestApp::spawn_with(|c| c.limits.ws_reauth_secs = 1).await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    subscribe(&mut ws, "events", TENANT_EVENTS).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.gql_as(
        &owner.access_token,
        "mutation($t: String) { logout(refreshToken: $t) }",
        json!({ "t": owner.refresh_token }),
    )
    .await
    .data("logout");
    let (code, _) = ws.closed().await;

    assert_eq!(code, 4403);
}

#[tokio::test]
async fn a_downgraded_role_applies_to_the_next_operation_on_the_same_socket() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let admin = app.add_member(&owner, "b@acme.example", "ADMIN").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&admin.access_token).await;
    subscribe(&mut ws, "before", "{ me { role } }").await;
    let before = ws.next_json().await;
    ws.next_json().await; // complete
    demote_to_viewer(&app, &owner, "b@acme.example").await;

    subscribe(&mut ws, "after", "{ me { role } }").await;
    let after = ws.next_json().await;
    ws.next_json().await; // complete
    subscribe(&mut ws, "key", CREATE_ADMIN_KEY).await;
    let refused = ws.next_json().await;

    assert_eq!(before["payload"]["data"]["me"]["role"], "ADMIN");
    assert_eq!(after["payload"]["data"]["me"]["role"], "VIEWER");
    assert_eq!(refused["id"], "key");
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    assert_eq!(app.count("api_keys", "name = 'backdoor'").await, 0);
}

#[tokio::test]
async fn a_changed_role_ends_the_subscriptions_started_with_the_old_one() {
    let app = TestApp::spawn_with(|c| c.limits.ws_reauth_secs = 1).await;
    let owner = app.sign_up("acme").await;
    let admin = app.add_member(&owner, "b@acme.example", "ADMIN").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&admin.access_token).await;
    subscribe(&mut ws, "events", TENANT_EVENTS).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    demote_to_viewer(&app, &owner, "b@acme.example").await;
    let (code, reason) = ws.closed().await;

    assert_eq!(code, 4403);
    assert!(reason.contains("role changed"), "{reason}");
}

#[tokio::test]
async fn a_database_failure_while_rechecking_refuses_the_operation_not_the_socket() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["READ"]).await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&key).await;
    app.sql("ALTER TABLE api_keys RENAME TO api_keys_away")
        .await;

    subscribe(&mut ws, "1", "{ tenant { slug } }").await;
    let refused = ws.next_json().await;
    app.sql("ALTER TABLE api_keys_away RENAME TO api_keys")
        .await;
    subscribe(&mut ws, "2", "{ tenant { slug } }").await;
    let answered = ws.next_json().await;

    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "1");
    assert_eq!(error_code(&refused), Some("INTERNAL"), "{refused}");
    assert_eq!(answered["id"], "2");
    assert_eq!(answered["payload"]["data"]["tenant"]["slug"], "acme");
}

#[tokio::test]
async fn a_subscribe_beyond_the_operation_limit_is_refused_until_one_completes() {
    let app = TestApp::spawn_with(|c| c.limits.ws_max_operations = 3).await;
    let owner = app.sign_up("acme").await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    for id in ["1", "2", "3"] {
        subscribe(&mut ws, id, TENANT_EVENTS).await;
    }

    subscribe(&mut ws, "4", TENANT_EVENTS).await;
    let refused = ws.next_json().await;
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    subscribe(&mut ws, "5", TENANT_EVENTS).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.gql_as(
        &owner.access_token,
        "mutation { updateTenant(input: { industry: \"Retail\" }) { industry } }",
        json!({}),
    )
    .await
    .data("updateTenant");
    let mut delivered = Vec::new();
    for _ in 0..3 {
        let event = ws.next_json().await;
        assert_eq!(event["type"], "next", "{event}");
        delivered.push(event["id"].as_str().expect("id").to_owned());
    }
    delivered.sort();

    assert_eq!(refused["type"], "error");
    assert_eq!(refused["id"], "4");
    assert_eq!(error_code(&refused), Some("LIMIT_EXCEEDED"));
    let message = refused["payload"][0]["message"].as_str().expect("message");
    assert!(message.contains('3'), "{message}");
    assert_eq!(delivered, ["2", "3", "5"]);
}
