//! Abuse of the GraphQL layer, after graphql-armor's protections: nesting,
//! tokens, aliases, directives, fragment expansion, depth and cost. Each is
//! refused with `LIMIT_EXCEEDED` (or the code the README documents) over
//! every transport that takes documents, quickly, and the server carries on.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, bad_field};

async fn assert_alive(app: &TestApp) {
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ok = app.gql("{ __typename }", json!({})).await;
    assert_eq!(ok.body["data"]["__typename"], "QueryRoot");
}

/// `{ __typename @skip(if: [[[…true…]]]) }`: a 4 KB document that used to
/// overflow the parser's stack and end the process.
fn nested_list(levels: usize) -> String {
    format!(
        "{{ __typename @skip(if: {}true{}) }}",
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

/// Each fragment spreads the one before twice: 2^levels `__typename`s.
fn fragment_bomb(levels: usize) -> String {
    let mut doc = format!("query {{ ...F{levels} }} fragment F0 on QueryRoot {{ __typename }}");
    for level in 1..=levels {
        doc.push_str(&format!(
            " fragment F{level} on QueryRoot {{ ...F{p} ...F{p} }}",
            p = level - 1
        ));
    }
    doc
}

async fn get(app: &TestApp, query: &str) -> Gql {
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", query)])
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    Gql {
        status,
        body: response.json().await.unwrap(),
    }
}

#[tokio::test]
async fn deeply_nested_literals_are_refused_by_post_get_and_websocket() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("nest").await;
    let list = nested_list(2000);
    let object = format!(
        "{{ leads(search: {}\"x\"{}) {{ totalCount }} }}",
        "{a:".repeat(2000),
        "}".repeat(2000)
    );

    for document in [&list, &object] {
        let posted = app.gql(document, json!({})).await;
        posted.expect_error("LIMIT_EXCEEDED");
        assert_eq!(posted.status, 400);
        get(&app, document).await.expect_error("LIMIT_EXCEEDED");
    }
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "id": "deep", "type": "subscribe", "payload": { "query": list } }))
        .await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "LIMIT_EXCEEDED"
    );

    assert_alive(&app).await;
}

#[tokio::test]
async fn nesting_within_the_limit_still_works() {
    let app = TestApp::spawn().await;
    let response = app.gql(&nested_list(40), json!({})).await;
    assert!(response.is_ok(), "{:?}", response.body);
    assert_eq!(response.body["data"]["__typename"], "QueryRoot");
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_before_it_is_expanded() {
    let app = TestApp::spawn().await;
    let started = Instant::now();

    // 25 levels once took 24 s and 6.3 GB; `__typename` adds no complexity.
    let bomb = app.gql(&fragment_bomb(25), json!({})).await;
    let by_get = get(&app, &fragment_bomb(28)).await;

    let error = bomb.expect_error("LIMIT_EXCEEDED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("fragments are expanded"),
        "{error}"
    );
    by_get.expect_error("LIMIT_EXCEEDED");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A modest use of fragments is fine.
    let fine = app.gql(&fragment_bomb(6), json!({})).await;
    assert!(fine.is_ok(), "{:?}", fine.body);
    assert_alive(&app).await;
}

#[tokio::test]
async fn a_fragment_cycle_is_refused_without_walking_it() {
    let app = TestApp::spawn().await;
    let cycle = "query { ...A } fragment A on QueryRoot { __typename ...B ...B } \
                 fragment B on QueryRoot { ...A ...A }";
    let response = app.gql(cycle, json!({})).await;
    response.expect_error("GRAPHQL_VALIDATION_FAILED");
    assert_alive(&app).await;
}

#[tokio::test]
async fn tokens_aliases_and_directives_are_limited() {
    let app = TestApp::spawn_with(|c| {
        c.limits.tokens = 60;
        c.limits.aliases = 3;
        c.limits.directives = 2;
    })
    .await;

    let tokens = format!("{{ {} }}", "__typename ".repeat(70));
    let aliases = "{ a: __typename b: __typename c: __typename d: __typename }";
    let directives = "{ a: __typename @skip(if: false) b: __typename @include(if: true) \
                      c: __typename @skip(if: false) }";

    for (document, what) in [
        (tokens.as_str(), "tokens"),
        (aliases, "aliases"),
        (directives, "directives"),
    ] {
        let response = app.gql(document, json!({})).await;
        let error = response.expect_error("LIMIT_EXCEEDED");
        assert!(error["message"].as_str().unwrap().contains(what), "{error}");
    }
    assert!(
        app.gql(
            "{ a: __typename @skip(if: false) b: __typename }",
            json!({})
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn depth_complexity_and_validation_errors_carry_codes() {
    let app = TestApp::spawn_with(|c| {
        c.limits.depth = 3;
        c.limits.complexity = 200;
    })
    .await;
    let owner = app.sign_up("codes").await;
    let token = owner.access_token.as_str();

    let deep = app
        .gql_as(
            token,
            "{ me { memberships { tenant { plan { tier } } } } }",
            json!({}),
        )
        .await;
    let costly = app
        .gql_as(
            token,
            "{ tenantMembers(first: 100) { edges { node { id role isPrimary joinedAt } } } }",
            json!({}),
        )
        .await;
    let unknown = app.gql_as(token, "{ nope }", json!({})).await;
    let unparsable = app.gql_as(token, "{ me { ", json!({})).await;

    let deep_error = deep.expect_error("LIMIT_EXCEEDED");
    assert!(deep_error["message"].as_str().unwrap().contains("deep"));
    costly.expect_error("LIMIT_EXCEEDED");
    unknown.expect_error("GRAPHQL_VALIDATION_FAILED");
    unparsable.expect_error("GRAPHQL_PARSE_FAILED");
}

#[tokio::test]
async fn an_oversized_page_is_a_bad_first_not_too_complex() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("pages").await;
    let query = "{ leads(first: 1000000) { totalCount edges { node { id email firstName \
                 lastName score createdAt company { name } } } } }";

    let response = app.gql_as(&owner.access_token, query, json!({})).await;
    let by_variable = app
        .gql_as(
            &owner.access_token,
            "query($n: Int) { tenantMembers(first: $n) { edges { node { id role } } } }",
            json!({ "n": 1_000_000 }),
        )
        .await;

    assert_eq!(bad_field(&response), "first");
    assert_eq!(bad_field(&by_variable), "first");
    // At the largest page the cost is counted as before.
    let at_max = app
        .gql_as(
            &owner.access_token,
            "{ leads(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(at_max.is_ok(), "{:?}", at_max.body);
}

#[tokio::test]
async fn metrics_label_only_operations_the_schema_knows() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("labels").await;
    app.gql("{ zzqUnknownFieldFromAnAttacker }", json!({}))
        .await
        .expect_error("GRAPHQL_VALIDATION_FAILED");
    app.gql_as(&owner.access_token, "{ me { role } }", json!({}))
        .await
        .data("me");

    let text = app.metrics().await;

    assert!(!text.contains("zzqUnknownFieldFromAnAttacker"));
    assert!(text.contains(r#"operation="invalid""#), "{text}");
    assert!(text.contains(r#"operation="query:me""#));
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let app = TestApp::spawn_with(|c| c.metrics_token = Some("scrape-secret".into())).await;
    let metrics = |token: Option<&'static str>| {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(metrics(None).await, 401);
    assert_eq!(metrics(Some("wrong")).await, 401);
    assert_eq!(metrics(Some("scrape-secret")).await, 200);
}

async fn audited_ip(app: &TestApp, token: &str, forwarded: &str) -> Value {
    let response: Value = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "query": "mutation { createApiKey(name: \"k\", scopes: [READ]) { apiKey { id } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response["errors"].is_null(), "{response}");
    let log = app
        .gql_as(
            token,
            "{ auditLog(first: 1) { edges { node { action ip } } } }",
            json!({}),
        )
        .await;
    log.data("auditLog")["edges"][0]["node"]["ip"].clone()
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let direct = TestApp::spawn().await;
    let owner = direct.sign_up("direct").await;
    let behind = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let proxied = behind.sign_up("proxied").await;

    let spoofed = audited_ip(&direct, &owner.access_token, "6.6.6.6").await;
    let forwarded = audited_ip(&behind, &proxied.access_token, "6.6.6.6, 198.51.100.7").await;

    assert_eq!(spoofed, "127.0.0.1");
    assert_eq!(forwarded, "198.51.100.7");
}
