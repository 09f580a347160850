//! Projects: created, read, changed, listed, paged and softly deleted by
//! writers; viewers only read; another tenant's projects do not exist.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};

const FIELDS: &str = "id name description targetAudience contentTopics brandVoice monthlyLeadGoal status createdAt updatedAt";

fn create_query() -> String {
    format!(
        "mutation($input: CreateProjectInput!) {{ createProject(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateProjectInput!) {{ updateProject(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deleteProject(id: $id) { id } }";
const GET: &str = "query($id: ID!) { project(id: $id) { id name } }";
const LIST: &str = "query($first: Int, $after: String, $status: ProjectStatus) { projects(first: $first, after: $after, status: $status) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name status } } } }";

async fn create(app: &TestApp, session: &Session, input: Value) -> Value {
    app.gql_as(
        &session.access_token,
        &create_query(),
        json!({ "input": input }),
    )
    .await
    .data("createProject")
    .clone()
}

fn field(response: &crate::helpers::Gql) -> String {
    response.expect_error("BAD_USER_INPUT")["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_member_creates_reads_and_lists_a_project() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;

    let project = create(
        &app,
        &member,
        json!({
            "name": "  Spring launch ", "description": "The new range",
            "targetAudience": "Small bakeries", "contentTopics": ["sourdough", " ovens "],
            "brandVoice": "Warm", "monthlyLeadGoal": 40,
        }),
    )
    .await;
    let read = app
        .gql_as(&owner.access_token, GET, json!({ "id": project["id"] }))
        .await;
    let listed = app.gql_as(&owner.access_token, LIST, json!({})).await;

    assert_eq!(project["name"], "Spring launch");
    assert_eq!(project["contentTopics"], json!(["sourdough", "ovens"]));
    assert_eq!(project["monthlyLeadGoal"], 40);
    assert_eq!(project["status"], "ACTIVE");
    assert_eq!(read.data("project")["name"], "Spring launch");
    assert_eq!(listed.data("projects")["totalCount"], 1);
    assert_eq!(
        listed.data("projects")["edges"][0]["node"]["id"],
        project["id"]
    );
    assert_eq!(
        app.count(
            "projects",
            "created_by IS NOT NULL AND name = 'Spring launch'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_update_changes_given_fields_clears_nulls_and_keeps_absent_ones() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let project = create(
        &app,
        &owner,
        json!({ "name": "P", "description": "d", "brandVoice": "bv", "monthlyLeadGoal": 5 }),
    )
    .await;

    let updated = app
        .gql_as(
            &owner.access_token,
            &update_query(),
            json!({ "id": project["id"], "input": {
                "name": "Renamed", "description": null, "status": "PAUSED", "contentTopics": ["a"],
            }}),
        )
        .await;

    let updated = updated.data("updateProject");
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["brandVoice"], "bv", "absent fields stay");
    assert_eq!(updated["monthlyLeadGoal"], 5);
    assert_eq!(updated["status"], "PAUSED");
    assert_eq!(updated["contentTopics"], json!(["a"]));
}

#[tokio::test]
async fn the_list_filters_by_status_and_pages_with_cursors() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for n in 0..5 {
        let status = if n < 3 { "ACTIVE" } else { "ARCHIVED" };
        create(
            &app,
            &owner,
            json!({ "name": format!("P{n}"), "status": status }),
        )
        .await;
    }

    let first = app
        .gql_as(&owner.access_token, LIST, json!({ "first": 2 }))
        .await;
    let cursor = first.data("projects")["pageInfo"]["endCursor"].clone();
    let second = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "first": 2, "after": cursor }),
        )
        .await;
    let third = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "first": 2, "after": second.data("projects")["pageInfo"]["endCursor"] }),
        )
        .await;
    let archived = app
        .gql_as(&owner.access_token, LIST, json!({ "status": "ARCHIVED" }))
        .await;

    let names = |r: &crate::helpers::Gql| -> Vec<String> {
        r.data("projects")["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(first.data("projects")["totalCount"], 5);
    assert_eq!(names(&first), ["P4", "P3"], "newest first");
    assert_eq!(first.data("projects")["pageInfo"]["hasNextPage"], true);
    assert_eq!(names(&second), ["P2", "P1"]);
    assert_eq!(names(&third), ["P0"]);
    assert_eq!(third.data("projects")["pageInfo"]["hasNextPage"], false);
    assert_eq!(archived.data("projects")["totalCount"], 2);
    assert_eq!(names(&archived), ["P4", "P3"]);
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let project = create(&app, &owner, json!({ "name": "P" })).await;
    let create_q = create_query();
    let update_q = update_query();

    let cases = [
        (
            create_q.as_str(),
            json!({ "input": { "name": " " } }),
            "input.name",
        ),
        (
            create_q.as_str(),
            json!({ "input": { "name": "x", "monthlyLeadGoal": -1 } }),
            "input.monthlyLeadGoal",
        ),
        (
            create_q.as_str(),
            json!({ "input": { "name": "x", "contentTopics": ["SEO", "seo"] } }),
            "input.contentTopics",
        ),
        (
            create_q.as_str(),
            json!({ "input": { "name": "x", "description": "d".repeat(5001) } }),
            "input.description",
        ),
        (
            update_q.as_str(),
            json!({ "id": project["id"], "input": { "name": "" } }),
            "input.name",
        ),
        (
            update_q.as_str(),
            json!({ "id": "not-a-uuid", "input": {} }),
            "id",
        ),
    ];

    for (query, variables, expected) in cases {
        let response = app.gql_as(&owner.access_token, query, variables).await;
        assert_eq!(field(&response), expected);
    }
    assert_eq!(app.count("projects", "1 = 1").await, 1);
}

#[tokio::test]
async fn viewers_and_read_only_keys_cannot_change_projects() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let read_key = app.api_key(&owner, &["READ"]).await;
    let project = create(&app, &owner, json!({ "name": "P" })).await;

    for token in [viewer.access_token.as_str(), read_key.as_str()] {
        app.gql_as(token, &create_query(), json!({ "input": { "name": "x" } }))
            .await
            .expect_error("FORBIDDEN");
        app.gql_as(
            token,
            &update_query(),
            json!({ "id": project["id"], "input": { "name": "x" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": project["id"] }))
            .await
            .expect_error("FORBIDDEN");
        let read = app.gql_as(token, GET, json!({ "id": project["id"] })).await;
        assert_eq!(read.data("project")["name"], "P", "viewers read");
    }

    assert_eq!(
        app.count("projects", "name = 'P' AND deleted_at IS NULL")
            .await,
        1
    );
    assert_eq!(app.count("projects", "1 = 1").await, 1);
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('createProject', 'updateProject', 'deleteProject') AND outcome = 'failure' AND error_code = 'FORBIDDEN'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn a_write_key_manages_projects_and_every_mutation_is_audited() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = app.api_key(&owner, &["WRITE"]).await;

    let created = app
        .gql_as(&key, &create_query(), json!({ "input": { "name": "P" } }))
        .await;
    let id = created.data("createProject")["id"].clone();
    app.gql_as(
        &key,
        &update_query(),
        json!({ "id": id, "input": { "name": "Q" } }),
    )
    .await
    .data("updateProject");
    app.gql_as(&key, DELETE, json!({ "id": id }))
        .await
        .data("deleteProject");

    for action in ["createProject", "updateProject", "deleteProject"] {
        assert_eq!(
            app.count(
                "audit_log",
                &format!(
                    "action = '{action}' AND outcome = 'success' AND entity_type = 'project' AND actor_type = 'api_key'"
                )
            )
            .await,
            1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn a_deleted_project_leaves_lists_and_its_id_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let kept = create(&app, &owner, json!({ "name": "Kept" })).await;
    let gone = create(&app, &owner, json!({ "name": "Gone" })).await;

    let deleted = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": gone["id"] }))
        .await;
    let listed = app.gql_as(&owner.access_token, LIST, json!({})).await;

    assert_eq!(deleted.data("deleteProject")["id"], gone["id"]);
    assert_eq!(listed.data("projects")["totalCount"], 1);
    assert_eq!(
        listed.data("projects")["edges"][0]["node"]["id"],
        kept["id"]
    );
    for query in [GET, DELETE] {
        app.gql_as(&owner.access_token, query, json!({ "id": gone["id"] }))
            .await
            .expect_error("NOT_FOUND");
    }
    app.gql_as(
        &owner.access_token,
        &update_query(),
        json!({ "id": gone["id"], "input": { "name": "back" } }),
    )
    .await
    .expect_error("NOT_FOUND");
    assert_eq!(
        app.count(
            "projects",
            "name = 'Gone' AND deleted_at IS NOT NULL AND deleted_by IS NOT NULL"
        )
        .await,
        1,
        "soft: the row stays"
    );
}

#[tokio::test]
async fn another_tenants_projects_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let theirs = create(&app, &beta, json!({ "name": "Beta plan" })).await;
    create(&app, &alpha, json!({ "name": "Alpha plan" })).await;

    let get = app
        .gql_as(&alpha.access_token, GET, json!({ "id": theirs["id"] }))
        .await;
    let update = app
        .gql_as(
            &alpha.access_token,
            &update_query(),
            json!({ "id": theirs["id"], "input": { "name": "pwned" } }),
        )
        .await;
    let delete = app
        .gql_as(&alpha.access_token, DELETE, json!({ "id": theirs["id"] }))
        .await;
    let listed = app.gql_as(&alpha.access_token, LIST, json!({})).await;

    get.expect_error("NOT_FOUND");
    update.expect_error("NOT_FOUND");
    delete.expect_error("NOT_FOUND");
    assert_eq!(listed.data("projects")["totalCount"], 1);
    assert_eq!(
        listed.data("projects")["edges"][0]["node"]["name"],
        "Alpha plan"
    );
    assert_eq!(
        app.count("projects", "name = 'Beta plan' AND deleted_at IS NULL")
            .await,
        1
    );
}
