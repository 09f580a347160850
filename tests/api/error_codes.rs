//! The README's list of error codes is what the server sends: every code in
//! its "Errors" section is produced here by a request that earns it, and a
//! code added to the README without a case here fails the test.

use serde_json::json;

use crate::helpers::TestApp;

const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }";
const CREATE_LEAD: &str = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";

/// The codes the README's "Errors" section names, in its order.
fn documented_codes() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("### Errors")
        .expect("README has an Errors section");
    let section = &readme[start..];
    let end = section[3..].find("\n#").map_or(section.len(), |i| i + 3);
    section[..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| word.len() > 3 && word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

/// The code of the first error, and the HTTP status, the server answers to
/// the request that earns `code`.
async fn earn(app: &TestApp, code: &str) -> (String, u16) {
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();
    let post = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let from_http = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("none")
                .to_owned(),
            status,
        )
    };
    let response = match code {
        "UNAUTHENTICATED" => app.gql("{ leads { totalCount } }", json!({})).await,
        "FORBIDDEN" => {
            let viewer = app.add_member(&owner, "viewer@t.example", "VIEWER").await;
            app.gql_as(
                &viewer.access_token,
                CREATE_LEAD,
                json!({ "input": { "firstName": "A" } }),
            )
            .await
        }
        "NOT_FOUND" => {
            app.gql_as(
                token,
                "{ lead(id: \"01a24dee-0000-7000-8000-000000000000\") { id } }",
                json!({}),
            )
            .await
        }
        "BAD_USER_INPUT" => {
            app.gql_as(
                token,
                CREATE_LEAD,
                json!({ "input": { "email": "not-an-email" } }),
            )
            .await
        }
        "CONFLICT" => {
            let input = json!({ "input": { "email": "twice@t.example" } });
            app.gql_as(token, CREATE_LEAD, input.clone())
                .await
                .data("createLead");
            app.gql_as(token, CREATE_LEAD, input).await
        }
        "LIMIT_EXCEEDED" => {
            let deep = format!(
                "{{ {}__typename{} }}",
                "me { tenant { ".repeat(10),
                " } }".repeat(10)
            );
            app.gql_as(token, &deep, json!({})).await
        }
        "RATE_LIMITED" => {
            let input =
                json!({ "input": { "email": "ghost@t.example", "password": "whatever-pass" } });
            for _ in 0..5 {
                app.gql(LOGIN, input.clone()).await;
            }
            app.gql(LOGIN, input).await
        }
        "INTERNAL" => {
            // A table the server relies on is gone: nothing a client did.
            app.gql_as(token, CREATE_LEAD, json!({ "input": { "firstName": "A" } }))
                .await
                .data("createLead");
            app.sql("DROP TABLE lead_tags").await;
            app.gql_as(token, "{ leads { nodes { tags } } }", json!({}))
                .await
        }
        "GRAPHQL_PARSE_FAILED" => app.gql("{ leads(", json!({})).await,
        "GRAPHQL_VALIDATION_FAILED" => app.gql("{ noSuchField }", json!({})).await,
        "BAD_REQUEST" => return from_http(post("{}", "application/json").await.unwrap()).await,
        "UNSUPPORTED_MEDIA_TYPE" => {
            return from_http(post("{ __typename }", "text/plain").await.unwrap()).await;
        }
        "METHOD_NOT_ALLOWED" => {
            let response = app
                .http
                .get(app.url("/graphql?query=mutation%20%7B%20logout%20%7D"))
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            return from_http(response).await;
        }
        other => panic!("the README documents {other}, which this test has no case for"),
    };
    (
        response.code().unwrap_or("none").to_owned(),
        response.status,
    )
}

#[tokio::test]
async fn every_documented_error_code_is_what_the_server_sends() {
    let codes = documented_codes();
    assert!(codes.len() >= 14, "{codes:?}");

    for code in &codes {
        let app = TestApp::spawn().await;
        let (sent, status) = earn(&app, code).await;
        assert_eq!(
            &sent, code,
            "the request that earns {code} got {sent} ({status})"
        );
    }
}
