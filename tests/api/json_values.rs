//! A user's JSON comes back exactly as it was sent, whatever its keys, also
//! keys serde_json gives a meaning to (its raw-value token: see
//! `graphql::json`).
//!
//! Responses are read here as GraphQL values: reading them into a
//! `serde_json::Value` would itself replace the token (serde_json's
//! `raw_value` feature is on in this test binary too).

use async_graphql::Value as Graph;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::leads::create_company;

/// `data` of the response, read without serde_json's `Value`.
async fn data(app: &TestApp, token: &str, query: &str, variables: Value) -> Graph {
    let text = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let response: Graph = serde_json::from_str(&text).expect("a JSON response");
    let Graph::Object(mut response) = response else {
        panic!("not an object: {text}");
    };
    assert!(!response.contains_key("errors"), "{text}");
    response.shift_remove("data").expect("data")
}

/// `value` at `path` (object keys and list indexes).
fn at<'v>(value: &'v Graph, path: &[&str]) -> &'v Graph {
    path.iter().fold(value, |value, step| match value {
        Graph::Object(fields) => &fields[*step],
        Graph::List(items) => &items[step.parse::<usize>().expect("an index")],
        other => panic!("no {step} in {other}"),
    })
}

fn expected(value: Value) -> Graph {
    Graph::from_json(value).expect("a GraphQL value")
}

/// serde_json's private raw-value key, and values that look like its use.
fn tricky() -> Value {
    json!({
        "x": { "$serde_json::private::RawValue": "[1,2]" },
        "y": [{ "$serde_json::private::RawValue": "{}" }, "\u{2028}", null],
        "z": { "": 1.5, "nested": { "$serde_json::private::Number": "12" } }
    })
}

#[tokio::test]
async fn json_with_serde_s_private_keys_round_trips_unchanged() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.clone();
    let company = create_company(&app, &owner, "Initech").await;

    let updated = data(
        &app,
        &token,
        "mutation($id: ID!, $v: JSON!) { updateCompany(id: $id, input: { enrichment: $v }) { enrichment } }",
        json!({ "id": company, "v": tricky() }),
    )
    .await;
    assert_eq!(
        at(&updated, &["updateCompany", "enrichment"]),
        &expected(tricky())
    );

    // Custom field values are typed; a text value holding the token's JSON
    // is a string and stays one.
    data(
        &app,
        &token,
        "mutation { createCustomFieldDefinition(input: { entity: LEAD, key: \"raw\", label: \"Raw\", type: TEXT }) { id } }",
        json!({}),
    )
    .await;
    let text = tricky()["x"].to_string();
    let lead = data(
        &app,
        &token,
        "mutation($v: JSON!, $c: ID!, $f: JSON!) { createLead(input: { email: \"a@x.example\", companyId: $c, enrichment: $v, customFields: $f }) { id enrichment customFields } }",
        json!({ "v": tricky(), "c": company, "f": { "raw": text } }),
    )
    .await;
    assert_eq!(
        at(&lead, &["createLead", "enrichment"]),
        &expected(tricky())
    );
    assert_eq!(
        at(&lead, &["createLead", "customFields", "raw"]),
        &expected(json!(text))
    );

    // A setting whose whole value is the token's object.
    let setting = data(
        &app,
        &token,
        "mutation($v: JSON!) { setSetting(key: \"ui.layout\", value: $v) { value } }",
        json!({ "v": tricky()["x"] }),
    )
    .await;
    assert_eq!(
        at(&setting, &["setSetting", "value"]),
        &expected(tricky()["x"].clone())
    );

    // Read back from the database: lists, nested relations, single objects.
    let read = data(
        &app,
        &token,
        "{ leads(first: 5) { nodes { enrichment customFields company { enrichment } } } \
           companies(first: 5) { edges { node { enrichment } } } \
           settings { nodes { key value } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        at(&read, &["leads", "nodes", "0", "enrichment"]),
        &expected(tricky())
    );
    assert_eq!(
        at(&read, &["leads", "nodes", "0", "company", "enrichment"]),
        &expected(tricky())
    );
    assert_eq!(
        at(&read, &["leads", "nodes", "0", "customFields", "raw"]),
        &expected(json!(text))
    );
    assert_eq!(
        at(&read, &["companies", "edges", "0", "node", "enrichment"]),
        &expected(tricky())
    );
    let Graph::List(settings) = at(&read, &["settings", "nodes"]) else {
        panic!("settings is a list");
    };
    let value_of = |key: &str| {
        settings
            .iter()
            .find(|s| at(s, &["key"]) == &Graph::String(key.to_owned()))
            .map(|s| at(s, &["value"]).clone())
            .expect("the setting")
    };
    assert_eq!(value_of("ui.layout"), expected(tricky()["x"].clone()));
}
