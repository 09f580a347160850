//! Lead sources: created with their type and UTM tags, names unique among
//! live sources, paged, softly deleted; viewers only read; another tenant's
//! sources do not exist.

use serde_json::{Value, json};

use crate::helpers::{Gql, Session, TestApp, bad_field, taken_field};

const FIELDS: &str =
    "id name type utmSource utmMedium utmCampaign utmTerm utmContent isActive createdAt";

fn create_query() -> String {
    format!(
        "mutation($input: CreateLeadSourceInput!) {{ createLeadSource(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateLeadSourceInput!) {{ updateLeadSource(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deleteLeadSource(id: $id) { id } }";
const GET: &str = "query($id: ID!) { leadSource(id: $id) { id name type } }";
const LIST: &str = "query($first: Int, $after: String) { leadSources(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name } } } }";

async fn try_create(app: &TestApp, session: &Session, input: Value) -> Gql {
    app.gql_as(
        &session.access_token,
        &create_query(),
        json!({ "input": input }),
    )
    .await
}

async fn create(app: &TestApp, session: &Session, name: &str) -> Value {
    try_create(app, session, json!({ "name": name, "type": "FORM" }))
        .await
        .data("createLeadSource")
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

fn names(response: &Gql) -> Vec<String> {
    response.data("leadSources")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_member_creates_a_source_with_its_utm_tags_and_changes_it() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;

    let created = try_create(
        &app,
        &member,
        json!({
            "name": "LinkedIn spring", "type": "PAID_ADS", "utmSource": "linkedin",
            "utmMedium": "cpc", "utmCampaign": "spring-26", "utmTerm": " ", "utmContent": "carousel",
        }),
    )
    .await;
    let created = created.data("createLeadSource").clone();
    let updated = update(
        &app,
        &member,
        &created["id"],
        json!({ "type": "LINKEDIN", "utmMedium": null, "isActive": false }),
    )
    .await;
    let read = app
        .gql_as(&owner.access_token, GET, json!({ "id": created["id"] }))
        .await;

    assert_eq!(created["type"], "PAID_ADS");
    assert_eq!(created["utmSource"], "linkedin");
    assert_eq!(created["utmTerm"], Value::Null, "blank means none");
    assert_eq!(created["isActive"], true);
    let updated = updated.data("updateLeadSource");
    assert_eq!(updated["type"], "LINKEDIN");
    assert_eq!(updated["utmMedium"], Value::Null, "null clears");
    assert_eq!(updated["utmCampaign"], "spring-26", "absent stays");
    assert_eq!(updated["isActive"], false);
    assert_eq!(read.data("leadSource")["type"], "LINKEDIN");
    for action in ["createLeadSource", "updateLeadSource"] {
        assert_eq!(
            app.count(
                "audit_log",
                &format!(
                    "action = '{action}' AND outcome = 'success' AND entity_type = 'lead_source'"
                )
            )
            .await,
            1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn names_are_unique_among_live_sources_ignoring_case() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let website = create(&app, &owner, "Website").await;
    let other = create(&app, &owner, "Other").await;

    let duplicate = try_create(
        &app,
        &owner,
        json!({ "name": "website", "type": "WEBSITE" }),
    )
    .await;
    let renamed_onto = update(&app, &owner, &other["id"], json!({ "name": "WEBSITE " })).await;
    let same_name = update(&app, &owner, &website["id"], json!({ "name": "Website" })).await;
    app.gql_as(&owner.access_token, DELETE, json!({ "id": website["id"] }))
        .await
        .data("deleteLeadSource");
    let after_delete = try_create(
        &app,
        &owner,
        json!({ "name": "Website", "type": "WEBSITE" }),
    )
    .await;

    assert_eq!(taken_field(&duplicate), "input.name");
    assert_eq!(taken_field(&renamed_onto), "input.name");
    assert_eq!(same_name.data("updateLeadSource")["name"], "Website");
    assert_eq!(after_delete.data("createLeadSource")["name"], "Website");
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let source = create(&app, &owner, "S").await;

    let blank = try_create(&app, &owner, json!({ "name": "  ", "type": "FORM" })).await;
    let long_utm = try_create(
        &app,
        &owner,
        json!({ "name": "x", "type": "FORM", "utmCampaign": "c".repeat(201) }),
    )
    .await;
    let blank_update = update(&app, &owner, &source["id"], json!({ "name": "" })).await;
    let long_update = update(
        &app,
        &owner,
        &source["id"],
        json!({ "utmSource": "s".repeat(201) }),
    )
    .await;
    let bad_id = app
        .gql_as(&owner.access_token, GET, json!({ "id": "nope" }))
        .await;

    assert_eq!(bad_field(&blank), "input.name");
    assert_eq!(bad_field(&long_utm), "input.utmCampaign");
    assert_eq!(bad_field(&blank_update), "input.name");
    assert_eq!(bad_field(&long_update), "input.utmSource");
    assert_eq!(bad_field(&bad_id), "id");
    assert_eq!(app.count("lead_sources", "1 = 1").await, 1);
}

#[tokio::test]
async fn sources_page_newest_first_and_deleted_ones_disappear() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(create(&app, &owner, &format!("S{n}")).await["id"].clone());
    }
    app.gql_as(&owner.access_token, DELETE, json!({ "id": ids[3] }))
        .await
        .data("deleteLeadSource");

    let first = app
        .gql_as(&owner.access_token, LIST, json!({ "first": 2 }))
        .await;
    let rest = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "first": 2, "after": first.data("leadSources")["pageInfo"]["endCursor"] }),
        )
        .await;

    assert_eq!(first.data("leadSources")["totalCount"], 3);
    assert_eq!(names(&first), ["S2", "S1"]);
    assert_eq!(first.data("leadSources")["pageInfo"]["hasNextPage"], true);
    assert_eq!(names(&rest), ["S0"]);
    assert_eq!(rest.data("leadSources")["pageInfo"]["hasNextPage"], false);
    for query in [GET, DELETE] {
        app.gql_as(&owner.access_token, query, json!({ "id": ids[3] }))
            .await
            .expect_error("NOT_FOUND");
    }
    update(&app, &owner, &ids[3], json!({ "name": "back" }))
        .await
        .expect_error("NOT_FOUND");
    assert_eq!(
        app.count(
            "lead_sources",
            "name = 'S3' AND deleted_at IS NOT NULL AND deleted_by IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'deleteLeadSource' AND outcome = 'success' AND entity_type = 'lead_source'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn viewers_and_read_only_keys_cannot_change_sources() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let read_key = app.api_key(&owner, &["READ"]).await;
    let source = create(&app, &owner, "S").await;

    for token in [viewer.access_token.as_str(), read_key.as_str()] {
        app.gql_as(
            token,
            &create_query(),
            json!({ "input": { "name": "x", "type": "FORM" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(
            token,
            &update_query(),
            json!({ "id": source["id"], "input": { "name": "x" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": source["id"] }))
            .await
            .expect_error("FORBIDDEN");
        let listed = app.gql_as(token, LIST, json!({})).await;
        assert_eq!(names(&listed), ["S"]);
    }

    assert_eq!(
        app.count("lead_sources", "name = 'S' AND deleted_at IS NULL")
            .await,
        1
    );
    assert_eq!(app.count("lead_sources", "1 = 1").await, 1);
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('createLeadSource', 'updateLeadSource', 'deleteLeadSource') AND error_code = 'FORBIDDEN'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn another_tenants_sources_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let theirs = create(&app, &beta, "Beta source").await;
    // Names are unique per tenant, not globally.
    create(&app, &alpha, "Beta source").await;

    app.gql_as(&alpha.access_token, GET, json!({ "id": theirs["id"] }))
        .await
        .expect_error("NOT_FOUND");
    update(&app, &alpha, &theirs["id"], json!({ "name": "pwned" }))
        .await
        .expect_error("NOT_FOUND");
    app.gql_as(&alpha.access_token, DELETE, json!({ "id": theirs["id"] }))
        .await
        .expect_error("NOT_FOUND");
    let listed = app.gql_as(&alpha.access_token, LIST, json!({})).await;

    assert_eq!(listed.data("leadSources")["totalCount"], 1);
    assert_ne!(
        listed.data("leadSources")["edges"][0]["node"]["id"],
        theirs["id"]
    );
    assert_eq!(
        app.count(
            "lead_sources",
            "name = 'Beta source' AND deleted_at IS NULL"
        )
        .await,
        2
    );
}
