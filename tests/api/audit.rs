//! Every mutation, successful or refused, leaves one audit row.

use serde_json::json;

use crate::helpers::TestApp;

const AUDIT: &str = "query($filter: AuditFilter) { auditLog(first: 50, filter: $filter) { totalCount edges { node { actorType actorId action entityType entityId changes requestId ip outcome errorCode } } } }";

#[tokio::test]
async fn successful_and_refused_mutations_are_both_recorded() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;

    let created = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&owner.access_token)
        .json(&json!({ "query": "mutation { createApiKey(name: \"k\", scopes: [READ]) { apiKey { id } } }" }))
        .send()
        .await
        .unwrap();
    let request_id = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let key_id =
        created.json::<serde_json::Value>().await.unwrap()["data"]["createApiKey"]["apiKey"]["id"]
            .clone();
    app.gql_as(
        &viewer.access_token,
        "mutation { updateTenant(input: { name: \"x\" }) { name } }",
        json!({}),
    )
    .await
    .expect_error("FORBIDDEN");

    let log = app.gql_as(&owner.access_token, AUDIT, json!({})).await;
    let entries = log.data("auditLog")["edges"].as_array().unwrap().clone();
    let find = |action: &str| {
        entries
            .iter()
            .map(|edge| &edge["node"])
            .find(|node| node["action"] == action)
            .unwrap_or_else(|| panic!("no {action} entry in {entries:?}"))
            .clone()
    };
    let key_entry = find("createApiKey");
    assert_eq!(key_entry["outcome"], "SUCCESS");
    assert_eq!(key_entry["actorType"], "USER");
    assert_eq!(key_entry["actorId"], owner.user_id.as_str());
    assert_eq!(key_entry["entityType"], "api_key");
    assert_eq!(key_entry["entityId"], key_id);
    assert_eq!(key_entry["requestId"], request_id.as_str());
    assert_eq!(key_entry["ip"], "127.0.0.1");
    assert_eq!(key_entry["changes"]["scopes"], json!(["READ"]));
    let refused = find("updateTenant");
    assert_eq!(refused["outcome"], "FAILURE");
    assert_eq!(refused["errorCode"], "FORBIDDEN");
    assert_eq!(refused["actorId"], viewer.user_id.as_str());
    // signUp, two inviteUser/acceptInvite, createApiKey, updateTenant.
    assert_eq!(log.data("auditLog")["totalCount"], 5);
}

#[tokio::test]
async fn secrets_never_reach_the_audit_log() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.add_member(&owner, "v@acme.example", "VIEWER").await;

    let rows = app.sql("SELECT changes FROM audit_log").await;

    let all: String = rows
        .iter()
        .map(|row| {
            row.try_get::<serde_json::Value>("", "changes")
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(all.contains("[redacted]"));
    assert!(!all.contains(crate::helpers::PASSWORD));
    assert!(!all.contains("phi_"), "invite tokens are redacted");
}

#[tokio::test]
async fn api_key_actions_are_attributed_to_the_key() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["ADMIN"]).await;

    app.gql_as(
        &key,
        "mutation { updateTenant(input: { industry: \"Retail\" }) { industry } }",
        json!({}),
    )
    .await
    .data("updateTenant");
    let log = app
        .gql_as(
            &owner.access_token,
            AUDIT,
            json!({ "filter": { "action": "updateTenant" } }),
        )
        .await;

    let node = &log.data("auditLog")["edges"][0]["node"];
    assert_eq!(node["actorType"], "API_KEY");
    assert_eq!(node["entityType"], "tenant");
}

#[tokio::test]
async fn the_audit_log_filters_and_is_admin_only() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    app.gql_as(
        &member.access_token,
        "mutation { createApiKey(name: \"x\", scopes: [READ]) { key } }",
        json!({}),
    )
    .await
    .expect_error("FORBIDDEN");

    let failures = app
        .gql_as(
            &owner.access_token,
            AUDIT,
            json!({ "filter": { "outcome": "FAILURE" } }),
        )
        .await;
    let denied = app.gql_as(&member.access_token, AUDIT, json!({})).await;

    assert_eq!(failures.data("auditLog")["totalCount"], 1);
    assert_eq!(
        failures.data("auditLog")["edges"][0]["node"]["action"],
        "createApiKey"
    );
    denied.expect_error("FORBIDDEN");
}
