//! Partner API keys: shown once, stored hashed, scoped, revocable.

use serde_json::json;

use crate::helpers::TestApp;

const UPDATE_TENANT: &str = "mutation { updateTenant(input: { name: \"Renamed\" }) { name } }";

#[tokio::test]
async fn a_key_is_shown_once_and_stored_only_as_a_hash() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let created = app
        .gql_as(
            &owner.access_token,
            "mutation { createApiKey(name: \"CRM sync\", scopes: [READ, WRITE]) { key apiKey { id name prefix scopes revokedAt } } }",
            json!({}),
        )
        .await;
    let created = created.data("createApiKey");
    let key = created["key"].as_str().unwrap();
    let listed = app
        .gql_as(
            &owner.access_token,
            "{ apiKeys { totalCount edges { node { name prefix scopes } } } }",
            json!({}),
        )
        .await;

    assert!(key.starts_with("phk_"));
    assert_eq!(created["apiKey"]["scopes"], json!(["READ", "WRITE"]));
    let node = &listed.data("apiKeys")["edges"][0]["node"];
    assert_eq!(node["name"], "CRM sync");
    assert!(
        !listed.body.to_string().contains(key),
        "the key is never listed"
    );
    let stored = app.count("api_keys", &format!("key_hash = '{key}'")).await;
    assert_eq!(stored, 0, "the plain key is not stored");
    assert_eq!(app.count("api_keys", "length(key_hash) = 64").await, 1);
}

#[tokio::test]
async fn a_key_authenticates_with_the_role_its_scopes_allow() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let read = app.api_key(&owner, &["READ"]).await;
    let write = app.api_key(&owner, &["WRITE"]).await;
    let admin = app.api_key(&owner, &["ADMIN"]).await;

    let read_query = app.gql_as(&read, "{ tenant { slug } }", json!({})).await;
    let read_mutation = app.gql_as(&read, UPDATE_TENANT, json!({})).await;
    let write_admin_op = app.gql_as(&write, UPDATE_TENANT, json!({})).await;
    let admin_op = app.gql_as(&admin, UPDATE_TENANT, json!({})).await;

    assert_eq!(read_query.data("tenant")["slug"], "acme");
    read_mutation.expect_error("FORBIDDEN");
    write_admin_op.expect_error("FORBIDDEN");
    assert_eq!(admin_op.data("updateTenant")["name"], "Renamed");
}

#[tokio::test]
async fn a_revoked_or_expired_key_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let revoked = app.api_key(&owner, &["READ"]).await;
    let expired = app.api_key(&owner, &["READ"]).await;
    let keys = app
        .gql_as(
            &owner.access_token,
            "{ apiKeys { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let newest_id = keys.data("apiKeys")["edges"][1]["node"]["id"].clone();

    let revoke = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
            json!({ "id": newest_id }),
        )
        .await;
    app.sql(&format!(
        "UPDATE api_keys SET expires_at = '2020-01-01T00:00:00+00:00' WHERE key_hash = '{}'",
        promohub::identity::auth::tokens::hash(&expired)
    ))
    .await;

    assert!(!revoke.data("revokeApiKey")["revokedAt"].is_null());
    for key in [&revoked, &expired] {
        let response = app.gql_as(key, "{ tenant { slug } }", json!({})).await;
        assert_eq!(response.status, 401);
        response.expect_error("UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn keys_cannot_do_user_only_things() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let admin = app.api_key(&owner, &["ADMIN"]).await;

    app.gql_as(&admin, "mutation { logout }", json!({}))
        .await
        .expect_error("FORBIDDEN");
    app.gql_as(
        &admin,
        "mutation($id: ID!) { switchTenant(tenantId: $id) { role } }",
        json!({ "id": owner.tenant_id }),
    )
    .await
    .expect_error("FORBIDDEN");
}

#[tokio::test]
async fn creating_a_key_validates_its_input() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let create = "mutation($name: String!, $scopes: [Scope!]!, $at: DateTime) { createApiKey(name: $name, scopes: $scopes, expiresAt: $at) { key } }";

    let no_scopes = app
        .gql_as(
            &owner.access_token,
            create,
            json!({ "name": "x", "scopes": [] }),
        )
        .await;
    let blank = app
        .gql_as(
            &owner.access_token,
            create,
            json!({ "name": " ", "scopes": ["READ"] }),
        )
        .await;
    let past = app
        .gql_as(
            &owner.access_token,
            create,
            json!({ "name": "x", "scopes": ["READ"], "at": "2020-01-01T00:00:00Z" }),
        )
        .await;

    assert_eq!(
        no_scopes.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "scopes"
    );
    assert_eq!(
        blank.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "name"
    );
    assert_eq!(
        past.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "expiresAt"
    );
}

#[tokio::test]
async fn only_admins_manage_keys() {
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
    app.gql_as(
        &member.access_token,
        "{ apiKeys { totalCount } }",
        json!({}),
    )
    .await
    .expect_error("FORBIDDEN");
    assert_eq!(app.count("api_keys", "1 = 1").await, 0);
}
