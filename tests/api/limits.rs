//! Request limits: each violation is answered with an error and the server
//! stays healthy.

use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn assert_still_healthy(app: &TestApp) {
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ok = app.gql("{ __typename }", json!({})).await;
    assert_eq!(ok.body["data"]["__typename"], "QueryRoot");
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = TestApp::spawn_with(|c| c.limits.body_bytes = 4096).await;
    let padding = "x".repeat(8192);
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query":"{{ __typename }}","variables":{{"pad":"{padding}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn an_oversized_document_is_refused_before_parsing() {
    let app = TestApp::spawn_with(|c| c.limits.document_bytes = 200).await;
    let query = format!("{{ __typename {} }}", "__typename ".repeat(50));
    let response = app.gql(&query, json!({})).await;
    response.expect_error("LIMIT_EXCEEDED");
    assert_eq!(response.status, 400);
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn too_deep_a_query_is_refused() {
    let app = TestApp::spawn_with(|c| c.limits.depth = 3).await;
    let owner = app.sign_up("acme").await;
    let deep = "{ me { memberships { tenant { plan { tier } } } } }";
    let response = app.gql_as(&owner.access_token, deep, json!({})).await;
    assert!(response.body["data"].is_null());
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("deep")
    );
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn list_cost_counts_toward_complexity() {
    let app = TestApp::spawn_with(|c| c.limits.complexity = 200).await;
    let owner = app.sign_up("acme").await;
    let cheap = "{ tenantMembers(first: 10) { edges { node { id role } } } }";
    let costly = "{ tenantMembers(first: 100) { edges { node { id role isPrimary joinedAt user { id email name } } } } }";

    let ok = app.gql_as(&owner.access_token, cheap, json!({})).await;
    let refused = app.gql_as(&owner.access_token, costly, json!({})).await;

    assert!(ok.is_ok(), "{:?}", ok.body);
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex")
    );
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn too_many_aliases_are_refused() {
    let app = TestApp::spawn_with(|c| c.limits.aliases = 5).await;
    let aliases: String = (0..10).map(|i| format!("a{i}: __typename ")).collect();
    let response = app.gql(&format!("{{ {aliases} }}"), json!({})).await;
    response.expect_error("LIMIT_EXCEEDED");
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn a_page_larger_than_the_maximum_is_bad_input() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let response = app
        .gql_as(
            &owner.access_token,
            "{ tenantMembers(first: 101) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        response.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "first"
    );
}

#[tokio::test]
async fn production_hides_introspection_and_suggestions_except_from_admins() {
    let app = TestApp::spawn_with(|c| {
        c.environment = promohub::config::Environment::Production;
        c.jwt_secret = "a-production-grade-secret-of-sufficient-length".into();
    })
    .await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let introspect = "{ __schema { queryType { name } } }";

    let anonymous = app.gql(introspect, json!({})).await;
    let as_viewer = app
        .gql_as(&viewer.access_token, introspect, json!({}))
        .await;
    let as_owner = app.gql_as(&owner.access_token, introspect, json!({})).await;
    let typo_viewer = app
        .gql_as(&viewer.access_token, "{ tenat { slug } }", json!({}))
        .await;
    let typo_owner = app
        .gql_as(&owner.access_token, "{ tenat { slug } }", json!({}))
        .await;

    for refused in [&anonymous, &as_viewer] {
        assert!(
            refused.body["data"].is_null() || refused.body["data"]["__schema"].is_null(),
            "{:?}",
            refused.body
        );
    }
    assert_eq!(as_owner.data("__schema")["queryType"]["name"], "QueryRoot");
    let message = |r: &crate::helpers::Gql| {
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        !message(&typo_viewer).contains("Did you mean"),
        "{}",
        message(&typo_viewer)
    );
    assert!(
        message(&typo_owner).contains("Did you mean"),
        "{}",
        message(&typo_owner)
    );
}

#[tokio::test]
async fn development_allows_introspection() {
    let app = TestApp::spawn().await;
    let response = app
        .gql("{ __schema { queryType { name } } }", json!({}))
        .await;
    let data: &Value = response.data("__schema");
    assert_eq!(data["queryType"]["name"], "QueryRoot");
}

#[tokio::test]
async fn the_standard_introspection_query_works_at_the_default_limits() {
    // GraphiQL's Docs pane, graphql-codegen and graphql-inspector send it;
    // it is 15 deep, past the default depth limit of 12, which counts the
    // schema's own fields only.
    let app = TestApp::spawn().await;
    let query = include_str!("../fixtures/introspection.graphql");

    let response = app.gql(query, json!({})).await;

    let schema: &Value = response.data("__schema");
    assert_eq!(schema["queryType"]["name"], "QueryRoot");
    let lead = schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Lead")
        .expect("the Lead type");
    assert!(lead["fields"].as_array().unwrap().len() > 10);
}
