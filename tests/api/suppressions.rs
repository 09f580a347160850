//! The suppression list: addresses lowercased and unique per tenant (adding
//! twice keeps the first entry), paged newest first with a search, looked up
//! and removed by address; writers add, admins remove; another tenant's
//! entries do not exist; `suppress` is idempotent inside a transaction.

use entity::sea_orm_active_enums::SuppressionReason;
use promohub::messaging::suppressions::{is_suppressed, suppress};
use promohub::tenancy::scoped::begin_for;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Gql, Session, TestApp, bad_field};

const FIELDS: &str = "id email reason messageId detail createdAt";

fn add_query() -> String {
    format!(
        "mutation($email: String!, $reason: SuppressionReason, $detail: String) {{ addSuppression(email: $email, reason: $reason, detail: $detail) {{ {FIELDS} }} }}"
    )
}

fn get_query() -> String {
    format!("query($email: String!) {{ suppression(email: $email) {{ {FIELDS} }} }}")
}

const REMOVE: &str = "mutation($email: String!) { removeSuppression(email: $email) }";
const LIST: &str = "query($first: Int, $after: String, $search: String) { suppressions(first: $first, after: $after, search: $search) { totalCount pageInfo { hasNextPage endCursor } edges { node { email reason } } } }";

async fn try_add(app: &TestApp, session: &Session, variables: Value) -> Gql {
    app.gql_as(&session.access_token, &add_query(), variables)
        .await
}

async fn add(app: &TestApp, session: &Session, email: &str) -> Value {
    try_add(app, session, json!({ "email": email }))
        .await
        .data("addSuppression")
        .clone()
}

fn emails(response: &Gql) -> Vec<String> {
    response.data("suppressions")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_member_adds_an_address_lowercased_and_adding_it_again_keeps_the_first() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;

    let first = try_add(
        &app,
        &member,
        json!({ "email": " Jane.Doe@Example.COM ", "reason": "COMPLAINT", "detail": "asked by phone" }),
    )
    .await;
    let again = try_add(
        &app,
        &member,
        json!({ "email": "jane.doe@example.com", "reason": "HARD_BOUNCE" }),
    )
    .await;
    let manual = add(&app, &member, "other@example.com").await;
    let found = app
        .gql_as(
            &member.access_token,
            &get_query(),
            json!({ "email": "JANE.doe@example.com" }),
        )
        .await;
    let missing = app
        .gql_as(
            &member.access_token,
            &get_query(),
            json!({ "email": "nobody@example.com" }),
        )
        .await;

    let first = first.data("addSuppression");
    assert_eq!(first["email"], "jane.doe@example.com");
    assert_eq!(first["reason"], "COMPLAINT");
    assert_eq!(first["detail"], "asked by phone");
    assert_eq!(first["messageId"], Value::Null);
    let again = again.data("addSuppression");
    assert_eq!(again["id"], first["id"], "the first entry is kept");
    assert_eq!(again["reason"], "COMPLAINT");
    assert_eq!(manual["reason"], "MANUAL", "the default reason");
    assert_eq!(found.data("suppression")["id"], first["id"]);
    missing.expect_error("NOT_FOUND");
    assert_eq!(app.count("suppressions", "1 = 1").await, 2);
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'addSuppression' AND outcome = 'success' AND entity_type = 'suppression'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn bad_addresses_name_the_argument() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let bad_add = try_add(&app, &owner, json!({ "email": "not-an-email" })).await;
    let long_detail = try_add(
        &app,
        &owner,
        json!({ "email": "a@example.com", "detail": "d".repeat(1001) }),
    )
    .await;
    let bad_get = app
        .gql_as(&owner.access_token, &get_query(), json!({ "email": "a@b" }))
        .await;
    let bad_remove = app
        .gql_as(&owner.access_token, REMOVE, json!({ "email": "@x.com" }))
        .await;
    let long_search = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "search": "s".repeat(255) }),
        )
        .await;

    assert_eq!(bad_field(&bad_add), "email");
    assert_eq!(bad_field(&long_detail), "detail");
    assert_eq!(bad_field(&bad_get), "email");
    assert_eq!(bad_field(&bad_remove), "email");
    assert_eq!(bad_field(&long_search), "search");
    assert_eq!(app.count("suppressions", "1 = 1").await, 0);
}

#[tokio::test]
async fn the_list_pages_newest_first_and_searches_part_of_the_address() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for email in [
        "a@one.example",
        "b@two.example",
        "c_d@one.example",
        "cxd@one.example",
    ] {
        add(&app, &owner, email).await;
    }

    let first = app
        .gql_as(&owner.access_token, LIST, json!({ "first": 3 }))
        .await;
    let rest = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "first": 3, "after": first.data("suppressions")["pageInfo"]["endCursor"] }),
        )
        .await;
    let one = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "search": "ONE.example" }),
        )
        .await;
    // `_` is a literal, not a LIKE wildcard.
    let underscore = app
        .gql_as(&owner.access_token, LIST, json!({ "search": "c_d" }))
        .await;

    assert_eq!(first.data("suppressions")["totalCount"], 4);
    assert_eq!(
        emails(&first),
        ["cxd@one.example", "c_d@one.example", "b@two.example"]
    );
    assert_eq!(first.data("suppressions")["pageInfo"]["hasNextPage"], true);
    assert_eq!(emails(&rest), ["a@one.example"]);
    assert_eq!(
        emails(&one),
        ["cxd@one.example", "c_d@one.example", "a@one.example"]
    );
    assert_eq!(one.data("suppressions")["totalCount"], 3);
    assert_eq!(emails(&underscore), ["c_d@one.example"]);
}

#[tokio::test]
async fn only_admins_remove_and_viewers_cannot_add() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    add(&app, &owner, "gone@example.com").await;

    let viewer_add = try_add(&app, &viewer, json!({ "email": "x@example.com" })).await;
    let member_remove = app
        .gql_as(
            &member.access_token,
            REMOVE,
            json!({ "email": "gone@example.com" }),
        )
        .await;
    let viewer_remove = app
        .gql_as(
            &viewer.access_token,
            REMOVE,
            json!({ "email": "gone@example.com" }),
        )
        .await;
    let viewer_list = app.gql_as(&viewer.access_token, LIST, json!({})).await;
    let removed = app
        .gql_as(
            &owner.access_token,
            REMOVE,
            json!({ "email": "Gone@Example.com" }),
        )
        .await;
    let removed_again = app
        .gql_as(
            &owner.access_token,
            REMOVE,
            json!({ "email": "gone@example.com" }),
        )
        .await;

    viewer_add.expect_error("FORBIDDEN");
    member_remove.expect_error("FORBIDDEN");
    viewer_remove.expect_error("FORBIDDEN");
    assert_eq!(emails(&viewer_list), ["gone@example.com"]);
    assert_eq!(removed.data("removeSuppression"), true);
    removed_again.expect_error("NOT_FOUND");
    assert_eq!(app.count("suppressions", "1 = 1").await, 0);
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('addSuppression', 'removeSuppression') AND error_code = 'FORBIDDEN'"
        )
        .await,
        3
    );
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'removeSuppression' AND outcome = 'success' AND entity_type = 'suppression' AND entity_id IS NOT NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn another_tenants_entries_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    add(&app, &beta, "shared@example.com").await;

    let looked_up = app
        .gql_as(
            &alpha.access_token,
            &get_query(),
            json!({ "email": "shared@example.com" }),
        )
        .await;
    let removed = app
        .gql_as(
            &alpha.access_token,
            REMOVE,
            json!({ "email": "shared@example.com" }),
        )
        .await;
    let listed = app.gql_as(&alpha.access_token, LIST, json!({})).await;
    // Unique per tenant: alpha may suppress the same address separately.
    let own = add(&app, &alpha, "shared@example.com").await;

    looked_up.expect_error("NOT_FOUND");
    removed.expect_error("NOT_FOUND");
    assert_eq!(listed.data("suppressions")["totalCount"], 0);
    assert_eq!(own["reason"], "MANUAL");
    assert_eq!(
        app.count("suppressions", "email = 'shared@example.com'")
            .await,
        2
    );
}

#[tokio::test]
async fn suppress_is_idempotent_inside_an_open_transaction() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let tenant = Uuid::parse_str(&owner.tenant_id).unwrap();
    let message = Uuid::now_v7();

    let txn = begin_for(&app.db, tenant, None).await.unwrap();
    let added = suppress(
        &txn,
        tenant,
        "Bounced@Example.com",
        SuppressionReason::HardBounce,
        Some(message),
        Some("550 5.1.1 no such user".into()),
    )
    .await
    .unwrap();
    let added_again = suppress(
        &txn,
        tenant,
        "bounced@example.com",
        SuppressionReason::Unsubscribed,
        None,
        None,
    )
    .await
    .unwrap();
    // The transaction is still usable after the conflict.
    let found = is_suppressed(&txn, tenant, " BOUNCED@example.com")
        .await
        .unwrap();
    let absent = is_suppressed(&txn, tenant, "fine@example.com")
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let via_api = app
        .gql_as(
            &owner.access_token,
            &get_query(),
            json!({ "email": "bounced@example.com" }),
        )
        .await;

    assert!(added);
    assert!(!added_again);
    let found = found.expect("suppressed");
    assert_eq!(found.reason, SuppressionReason::HardBounce);
    assert_eq!(found.message_id, Some(message));
    assert!(absent.is_none());
    let via_api = via_api.data("suppression");
    assert_eq!(via_api["reason"], "HARD_BOUNCE");
    assert_eq!(via_api["messageId"], message.to_string());
    assert_eq!(via_api["detail"], "550 5.1.1 no such user");
}
