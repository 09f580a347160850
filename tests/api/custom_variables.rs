//! Custom variables: keys are identifiers unique per tenant, listed by key,
//! changed (the key stays) and deleted for good; viewers only read; another
//! tenant's variables do not exist; rendering reads the active ones.

use promohub::messaging::custom_variables::{active_values, keys};
use promohub::tenancy::scoped::begin_for;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Gql, Session, TestApp, bad_field, refusal};

const FIELDS: &str =
    "id key label category description defaultValue isActive usageCount createdAt updatedAt";

fn create_query() -> String {
    format!(
        "mutation($input: CreateCustomVariableInput!) {{ createCustomVariable(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateCustomVariableInput!) {{ updateCustomVariable(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deleteCustomVariable(id: $id) { id key } }";
const LIST: &str = "query($category: CustomVariableCategory) { customVariables(category: $category) { nodes { id key label category isActive defaultValue } } }";

async fn try_create(app: &TestApp, session: &Session, input: Value) -> Gql {
    app.gql_as(
        &session.access_token,
        &create_query(),
        json!({ "input": input }),
    )
    .await
}

async fn create(app: &TestApp, session: &Session, key: &str) -> Value {
    try_create(
        app,
        session,
        json!({ "key": key, "label": format!("Label {key}") }),
    )
    .await
    .data("createCustomVariable")
    .clone()
}

async fn update(app: &TestApp, session: &Session, id: &Value, input: Value) -> Gql {
    app.gql_as(
        &session.access_token,
        &update_query(),
        json!({ "id": id, "input": input }),
    )
    .await
}

async fn listed_keys(app: &TestApp, session: &Session, category: Option<&str>) -> Vec<String> {
    let response = app
        .gql_as(&session.access_token, LIST, json!({ "category": category }))
        .await;
    response.data("customVariables")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_member_creates_a_variable_and_changes_it_but_not_its_key() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;

    let created = try_create(
        &app,
        &member,
        json!({
            "key": "companyRevenue", "label": "Company revenue", "category": "COMPANY",
            "description": "Annual revenue", "defaultValue": " about $1M ",
        }),
    )
    .await;
    let created = created.data("createCustomVariable").clone();
    let updated = update(
        &app,
        &member,
        &created["id"],
        json!({ "description": null, "category": "LEAD", "isActive": false }),
    )
    .await;
    let rekeyed = update(&app, &member, &created["id"], json!({ "key": "other" })).await;
    let defaults = create(&app, &member, "plain").await;

    assert_eq!(created["key"], "companyRevenue");
    assert_eq!(created["category"], "COMPANY");
    assert_eq!(created["defaultValue"], " about $1M ", "kept as given");
    assert_eq!(created["isActive"], true);
    assert_eq!(created["usageCount"], 0);
    let updated = updated.data("updateCustomVariable");
    assert_eq!(updated["description"], Value::Null, "null clears");
    assert_eq!(updated["label"], "Company revenue", "absent stays");
    assert_eq!(updated["category"], "LEAD");
    assert_eq!(updated["isActive"], false);
    assert!(!rekeyed.is_ok(), "the key is not an update field");
    assert_eq!(defaults["category"], "CUSTOM");
    assert_eq!(defaults["defaultValue"], "");
    for action in ["createCustomVariable", "updateCustomVariable"] {
        assert!(
            app.count(
                "audit_log",
                &format!(
                    "action = '{action}' AND outcome = 'success' AND entity_type = 'custom_variable'"
                )
            )
            .await
                >= 1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn keys_are_identifiers_unique_per_tenant_ignoring_case() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    let variable = create(&app, &owner, "firstLink").await;

    let mut refused = Vec::new();
    for (input, code, field) in [
        (
            json!({ "key": "2nd", "label": "x" }),
            "BAD_USER_INPUT",
            "input.key",
        ),
        (
            json!({ "key": "has-dash", "label": "x" }),
            "BAD_USER_INPUT",
            "input.key",
        ),
        (
            json!({ "key": "k".repeat(65), "label": "x" }),
            "BAD_USER_INPUT",
            "input.key",
        ),
        (
            json!({ "key": "FIRSTLINK", "label": "x" }),
            "CONFLICT",
            "input.key",
        ),
        (
            json!({ "key": "ok", "label": " " }),
            "BAD_USER_INPUT",
            "input.label",
        ),
        (
            json!({ "key": "ok", "label": "x", "defaultValue": "v".repeat(501) }),
            "BAD_USER_INPUT",
            "input.defaultValue",
        ),
    ] {
        let got = refusal(&try_create(&app, &owner, input).await);
        refused.push((got, (code.to_owned(), field.to_owned())));
    }
    let blank_label = update(&app, &owner, &variable["id"], json!({ "label": "" })).await;
    let same_key_elsewhere =
        try_create(&app, &other, json!({ "key": "firstLink", "label": "x" })).await;

    for (got, want) in refused {
        assert_eq!(got, want);
    }
    assert_eq!(bad_field(&blank_label), "input.label");
    assert_eq!(
        same_key_elsewhere.data("createCustomVariable")["key"],
        "firstLink"
    );
    assert_eq!(app.count("custom_variables", "1 = 1").await, 2);
}

#[tokio::test]
async fn variables_list_by_key_and_deleting_removes_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ids = Vec::new();
    for key in ["zeta", "Alpha", "beta", "_private"] {
        ids.push(create(&app, &owner, key).await["id"].clone());
    }
    try_create(
        &app,
        &owner,
        json!({ "key": "linkUrl", "label": "Link", "category": "LINK" }),
    )
    .await
    .data("createCustomVariable");

    let deleted = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": ids[0] }))
        .await;
    let all = listed_keys(&app, &owner, None).await;
    let links = listed_keys(&app, &owner, Some("LINK")).await;
    let again = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": ids[0] }))
        .await;

    assert_eq!(deleted.data("deleteCustomVariable")["key"], "zeta");
    assert_eq!(all, ["_private", "Alpha", "beta", "linkUrl"]);
    assert_eq!(links, ["linkUrl"]);
    again.expect_error("NOT_FOUND");
    assert_eq!(app.count("custom_variables", "key = 'zeta'").await, 0);
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'deleteCustomVariable' AND outcome = 'success' AND entity_type = 'custom_variable'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn viewers_cannot_change_variables() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let read_key = app.api_key(&owner, &["READ"]).await;
    let variable = create(&app, &owner, "v").await;

    for token in [viewer.access_token.as_str(), read_key.as_str()] {
        app.gql_as(
            token,
            &create_query(),
            json!({ "input": { "key": "x", "label": "x" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(
            token,
            &update_query(),
            json!({ "id": variable["id"], "input": { "label": "x" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": variable["id"] }))
            .await
            .expect_error("FORBIDDEN");
        let listed = app.gql_as(token, LIST, json!({})).await;
        assert_eq!(listed.data("customVariables")["nodes"][0]["key"], "v");
    }

    assert_eq!(
        app.count("custom_variables", "key = 'v' AND label = 'Label v'")
            .await,
        1
    );
    assert_eq!(app.count("custom_variables", "1 = 1").await, 1);
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('createCustomVariable', 'updateCustomVariable', 'deleteCustomVariable') AND error_code = 'FORBIDDEN'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn another_tenants_variables_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let theirs = create(&app, &beta, "betaVar").await;

    update(&app, &alpha, &theirs["id"], json!({ "label": "pwned" }))
        .await
        .expect_error("NOT_FOUND");
    app.gql_as(&alpha.access_token, DELETE, json!({ "id": theirs["id"] }))
        .await
        .expect_error("NOT_FOUND");
    let listed = listed_keys(&app, &alpha, None).await;

    assert!(listed.is_empty());
    assert_eq!(
        app.count(
            "custom_variables",
            "key = 'betaVar' AND label = 'Label betaVar'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn rendering_reads_the_active_variables_of_one_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let beta = app.sign_up("beta").await;
    for (key, value, active) in [
        ("city", "Berlin", true),
        ("aCode", "A1", true),
        ("old", "x", false),
    ] {
        try_create(
            &app,
            &owner,
            json!({ "key": key, "label": key, "defaultValue": value, "isActive": active }),
        )
        .await
        .data("createCustomVariable");
    }
    create(&app, &beta, "betaOnly").await;
    let tenant = Uuid::parse_str(&owner.tenant_id).unwrap();

    let txn = begin_for(&app.db, tenant, None).await.unwrap();
    let values = active_values(&txn, tenant).await.unwrap();
    let names = keys(&txn, tenant).await.unwrap();
    txn.commit().await.unwrap();

    assert_eq!(
        values,
        [
            ("aCode".to_owned(), "A1".to_owned()),
            ("city".to_owned(), "Berlin".to_owned())
        ]
    );
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["aCode", "city"]);
}
