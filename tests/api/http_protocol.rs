//! GraphQL over HTTP: methods, content types, Accept negotiation, status codes.

use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = app.http.post(app.url("/graphql")).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_mutation_by_get_is_405_and_has_no_effect() {
    let app = TestApp::spawn().await;
    let mutation = "mutation { signUp(input: { email: \"g@get.example\", password: \"correct-horse-battery\", name: \"G\", tenantName: \"G\", tenantSlug: \"get\" }) { role } }";

    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", mutation)])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(app.count("tenants", "1 = 1").await, 0);
}

#[tokio::test]
async fn a_query_by_get_works() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query($s: Boolean!) { tenant @include(if: $s) { slug } }",
            ),
            ("variables", "{\"s\": true}"),
        ])
        .bearer_auth(&owner.access_token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["tenant"]["slug"], "acme");
}

#[tokio::test]
async fn other_content_types_are_415() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ __typename }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/graphql"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let response = post_raw(&app, content_type, None, body).await;
        assert_eq!(response.status(), 415, "for {content_type:?}");
    }
    let with_charset = post_raw(&app, Some("application/json; charset=utf-8"), None, body).await;
    assert_eq!(with_charset.status(), 200);
}

#[tokio::test]
async fn accept_selects_the_response_media_type() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ __typename }"}"#;

    let legacy = post_raw(
        &app,
        Some("application/json"),
        Some("application/json"),
        body,
    )
    .await;
    let modern = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        body,
    )
    .await;
    let any = post_raw(&app, Some("application/json"), Some("*/*"), body).await;
    let unacceptable = post_raw(&app, Some("application/json"), Some("text/html"), body).await;

    assert!(content_type(&legacy).starts_with("application/json"));
    assert!(content_type(&modern).starts_with("application/graphql-response+json"));
    // GraphQL over HTTP (graphql-http audit 47DE): */* gets application/json.
    assert!(content_type(&any).starts_with("application/json"));
    assert_eq!(unacceptable.status(), 406);
}

#[tokio::test]
async fn request_errors_are_400_only_with_the_graphql_media_type() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ this is not graphql"}"#;

    let modern = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        body,
    )
    .await;
    let legacy = post_raw(
        &app,
        Some("application/json"),
        Some("application/json"),
        body,
    )
    .await;
    let invalid_field = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        r#"{"query":"{ noSuchField }"}"#,
    )
    .await;

    assert_eq!(modern.status(), 400);
    assert_eq!(legacy.status(), 200);
    assert_eq!(invalid_field.status(), 400);
    let body: Value = legacy.json().await.unwrap();
    assert!(body["errors"][0]["message"].is_string());
    assert!(body.get("data").is_none() || body["data"].is_null());
}

#[tokio::test]
async fn field_errors_keep_status_200() {
    let app = TestApp::spawn().await;
    let response = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        r#"{"query":"{ me { role } }"}"#,
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn batching_and_malformed_bodies_are_400() {
    let app = TestApp::spawn().await;
    let batch = post_raw(
        &app,
        Some("application/json"),
        None,
        r#"[{"query":"{ __typename }"},{"query":"{ __typename }"}]"#,
    )
    .await;
    let broken = post_raw(&app, Some("application/json"), None, r#"{"query": "#).await;
    let no_query = post_raw(&app, Some("application/json"), None, r#"{"variables": {}}"#).await;
    let bad_variables = post_raw(
        &app,
        Some("application/json"),
        None,
        r#"{"query":"{ __typename }","variables":[1]}"#,
    )
    .await;

    assert_eq!(batch.status(), 400);
    let batch: Value = batch.json().await.unwrap();
    assert!(
        batch["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("batch")
    );
    assert_eq!(broken.status(), 400);
    assert_eq!(no_query.status(), 400);
    assert_eq!(bad_variables.status(), 400);
}

#[tokio::test]
async fn browsers_get_graphiql() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("PromoHub GraphiQL"));
    // The script it loads subscribes over /graphql/ws.
    let script = app
        .http
        .get(app.url("/graphql/assets/promohub-graphiql.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("/graphql/ws"));
}

#[tokio::test]
async fn a_bad_token_is_401_with_www_authenticate() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth("not-a-token")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

/// A browser's preflight and request from `origin`.
async fn from_origin(app: &TestApp, origin: &str) -> (reqwest::Response, reqwest::Response) {
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    let request = app
        .http
        .post(app.url("/graphql"))
        .header("origin", origin)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    (preflight, request)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn cors_allows_the_configured_origins_and_exposes_the_request_id() {
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = vec![reqwest::header::HeaderValue::from_static(
            "https://app.example.com",
        )]
    })
    .await;

    let (preflight, request) = from_origin(&app, "https://app.example.com").await;
    let (other_preflight, other_request) = from_origin(&app, "https://evil.example").await;

    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(&preflight, "access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    assert_eq!(
        header(&request, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&request, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert!(header(&request, "x-request-id").is_some());
    assert_eq!(
        header(&other_preflight, "access-control-allow-origin"),
        None
    );
    assert_eq!(header(&other_request, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_configured_origins_any_origin_may_call() {
    let app = TestApp::spawn().await;

    let (preflight, request) = from_origin(&app, "http://localhost:5173").await;

    assert_eq!(header(&preflight, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&request, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&request, "access-control-expose-headers"),
        Some("x-request-id")
    );
}

#[tokio::test]
async fn response_keys_follow_the_order_of_the_query() {
    // Fields resolve concurrently; the response must still read in query
    // order (spec §7.1), over HTTP and over WebSocket.
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let query = "{ z: tenant { slug } leads(first: 5) { totalCount nodes { id } pageInfo { hasNextPage } } a: me { role } companies(first: 1) { totalCount edges { cursor } } }";

    let body = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&owner.access_token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(serde_json::json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }))
        .await;
    let over_ws = ws.next_json().await["payload"].to_string();

    for text in [&body, &over_ws] {
        let at = |key: &str| text.find(key).unwrap_or_else(|| panic!("{key} in {text}"));
        assert!(at("\"z\"") < at("\"leads\""), "{text}");
        assert!(at("\"leads\"") < at("\"a\""), "{text}");
        assert!(at("\"a\"") < at("\"companies\""), "{text}");
        assert!(at("\"totalCount\"") < at("\"nodes\""), "{text}");
        assert!(at("\"nodes\"") < at("\"pageInfo\""), "{text}");
    }
}
