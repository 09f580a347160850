//! Relay global object identification: `Node`, `node(id:)`, `nodes(ids:)`.

use serde_json::json;

use crate::helpers::TestApp;
use crate::messaging::create_lead;

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id ... on Lead { firstName } ... on Company { name } } }";

#[tokio::test]
async fn any_object_is_refetched_by_its_id_alone() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.com").await;
    let company = app
        .gql_as(
            &owner.access_token,
            "mutation { createCompany(input: { name: \"Acme\" }) { id } }",
            json!({}),
        )
        .await
        .data("createCompany")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let as_lead = app
        .gql_as(&owner.access_token, NODE, json!({ "id": lead }))
        .await;
    let as_company = app
        .gql_as(&owner.access_token, NODE, json!({ "id": company }))
        .await;
    let both = app
        .gql_as(
            &owner.access_token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            json!({ "ids": [company, "01a24dee-0000-7000-8000-000000000000", lead] }),
        )
        .await;

    assert_eq!(
        as_lead.data("node"),
        &json!({ "__typename": "Lead", "id": lead, "firstName": "Ada" })
    );
    assert_eq!(
        as_company.data("node"),
        &json!({ "__typename": "Company", "id": company, "name": "Acme" })
    );
    assert_eq!(
        both.data("nodes"),
        &json!([{ "__typename": "Company", "id": company }, null, { "__typename": "Lead", "id": lead }])
    );
}

#[tokio::test]
async fn another_tenants_object_or_one_in_the_trash_is_null() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.com").await;
    let trashed = create_lead(&app, &owner, "Bob", "bob@example.com").await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteLead(id: $id) { id } }",
        json!({ "id": trashed }),
    )
    .await
    .data("deleteLead");

    let theirs = app
        .gql_as(&stranger.access_token, NODE, json!({ "id": lead }))
        .await;
    let in_trash = app
        .gql_as(&owner.access_token, NODE, json!({ "id": trashed }))
        .await;
    let their_nodes = app
        .gql_as(
            &stranger.access_token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [lead] }),
        )
        .await;

    assert_eq!(theirs.body, json!({ "data": { "node": null } }));
    assert_eq!(in_trash.body, json!({ "data": { "node": null } }));
    assert_eq!(their_nodes.data("nodes"), &json!([null]));
}

#[tokio::test]
async fn nodes_takes_at_most_a_hundred_ids_and_names_a_bad_one() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let many: Vec<String> = (0..101)
        .map(|i| format!("01a24dee-0000-7000-8000-{i:012}"))
        .collect();

    let too_many = app
        .gql_as(
            &owner.access_token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": many }),
        )
        .await;
    let garbage = app
        .gql_as(
            &owner.access_token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": ["01a24dee-0000-7000-8000-000000000000", "nope"] }),
        )
        .await;

    assert_eq!(crate::helpers::bad_field(&too_many), "ids");
    assert_eq!(crate::helpers::bad_field(&garbage), "ids.1");
}

#[tokio::test]
async fn every_node_type_is_in_the_schema_as_a_node() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let node = app
        .gql_as(
            &owner.access_token,
            "{ __type(name: \"Node\") { kind fields { name } possibleTypes { name } } }",
            json!({}),
        )
        .await;

    let node = node.data("__type");
    assert_eq!(node["kind"], "INTERFACE");
    assert_eq!(node["fields"], json!([{ "name": "id" }]));
    let types: Vec<&str> = node["possibleTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "Lead",
        "Company",
        "Project",
        "Note",
        "Message",
        "MessageTemplate",
        "SenderAccount",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
}
