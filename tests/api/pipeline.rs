//! The pipeline: every tenant starts with one; stages are added, changed,
//! reordered and deleted by writers, with exactly one default, positions
//! 0..n, never won and lost at once, and leads moved (not orphaned) when
//! their stage goes.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field, on_postgres};

const STAGES: &str = "{ leadStages { nodes { id name position color isDefault isWon isLost } } }";
const CREATE: &str = "mutation($input: CreateLeadStageInput!) { createLeadStage(input: $input) { id name position color isDefault isWon isLost } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateLeadStageInput!) { updateLeadStage(id: $id, input: $input) { id name position color isDefault isWon isLost } }";
const REORDER: &str =
    "mutation($ids: [ID!]!) { reorderLeadStages(ids: $ids) { id name position } }";
const DELETE: &str =
    "mutation($id: ID!, $to: ID) { deleteLeadStage(id: $id, moveLeadsTo: $to) { id name } }";

async fn stages(app: &TestApp, session: &Session) -> Vec<Value> {
    app.gql_as(&session.access_token, STAGES, json!({}))
        .await
        .data("leadStages")["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn names(stages: &[Value]) -> Vec<&str> {
    stages.iter().map(|s| s["name"].as_str().unwrap()).collect()
}

fn id_of<'a>(stages: &'a [Value], name: &str) -> &'a Value {
    &stages
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}"))["id"]
}

fn positions(stages: &[Value]) -> Vec<i64> {
    stages
        .iter()
        .map(|s| s["position"].as_i64().unwrap())
        .collect()
}

/// A uuid as an SQL literal: uuids are native on PostgreSQL and 16-byte
/// blobs on SQLite.
fn uuid_sql(id: &Value) -> String {
    let id = id.as_str().expect("an id");
    if on_postgres() {
        format!("'{id}'::uuid")
    } else {
        format!("X'{}'", id.replace('-', ""))
    }
}

/// Puts a lead in `stage` straight into the table (leads have no API yet).
async fn insert_lead(app: &TestApp, stage: &Value, deleted: bool) {
    let new_id = if on_postgres() {
        "gen_random_uuid()"
    } else {
        "randomblob(16)"
    };
    // Soft-deleted leads still hold their stage.
    let deleted_at = if deleted { "created_at" } else { "NULL" };
    app.sql(&format!(
        "INSERT INTO leads (tenant_id, id, stage_id, search_text, sort_name, deleted_at) \
         SELECT tenant_id, {new_id}, id, '', '', {deleted_at} FROM lead_stages WHERE id = {}",
        uuid_sql(stage)
    ))
    .await;
}

async fn leads_in(app: &TestApp, stage: &Value) -> i64 {
    app.count("leads", &format!("stage_id = {}", uuid_sql(stage)))
        .await
}

#[tokio::test]
async fn a_new_tenant_starts_with_the_default_pipeline() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let pipeline = stages(&app, &owner).await;

    assert_eq!(
        names(&pipeline),
        ["New", "Contacted", "Qualified", "Proposal", "Won", "Lost"]
    );
    assert_eq!(positions(&pipeline), [0, 1, 2, 3, 4, 5]);
    let flagged = |flag: &str| -> Vec<&str> {
        pipeline
            .iter()
            .filter(|s| s[flag] == true)
            .map(|s| s["name"].as_str().unwrap())
            .collect()
    };
    assert_eq!(flagged("isDefault"), ["New"]);
    assert_eq!(flagged("isWon"), ["Won"]);
    assert_eq!(flagged("isLost"), ["Lost"]);
    for stage in &pipeline {
        let color = stage["color"].as_str().unwrap();
        assert!(color.len() == 7 && color.starts_with('#'), "{color}");
    }
}

#[tokio::test]
async fn a_member_adds_stages_last_or_at_a_position() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;

    let last = app
        .gql_as(
            &member.access_token,
            CREATE,
            json!({ "input": { "name": "Nurture", "color": "#ABCDEF" } }),
        )
        .await;
    let second = app
        .gql_as(
            &member.access_token,
            CREATE,
            json!({ "input": { "name": "Triage", "color": "#000000", "position": 1 } }),
        )
        .await;
    let pipeline = stages(&app, &owner).await;

    let last = last.data("createLeadStage");
    assert_eq!(last["position"], 6);
    assert_eq!(last["color"], "#abcdef", "stored lowercase");
    assert_eq!(last["isDefault"], false);
    assert_eq!(second.data("createLeadStage")["position"], 1);
    assert_eq!(
        names(&pipeline),
        [
            "New",
            "Triage",
            "Contacted",
            "Qualified",
            "Proposal",
            "Won",
            "Lost",
            "Nurture"
        ]
    );
    assert_eq!(positions(&pipeline), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'createLeadStage' AND outcome = 'success' AND entity_type = 'lead_stage'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn exactly_one_stage_is_the_default() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;

    let created_default = app
        .gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "name": "Inbox", "color": "#111111", "isDefault": true } }),
        )
        .await;
    let after_create = stages(&app, &owner).await;
    let made_default = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id_of(&pipeline, "Qualified"), "input": { "isDefault": true } }),
        )
        .await;
    let unset = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id_of(&pipeline, "Qualified"), "input": { "isDefault": false } }),
        )
        .await;
    let after_update = stages(&app, &owner).await;

    let defaults = |pipeline: &[Value]| -> Vec<String> {
        pipeline
            .iter()
            .filter(|s| s["isDefault"] == true)
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(created_default.data("createLeadStage")["isDefault"], true);
    assert_eq!(defaults(&after_create), ["Inbox"]);
    assert_eq!(made_default.data("updateLeadStage")["isDefault"], true);
    assert_eq!(bad_field(&unset), "input.isDefault");
    assert_eq!(defaults(&after_update), ["Qualified"]);
}

#[tokio::test]
async fn a_stage_is_renamed_recoloured_and_moved() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;

    let updated = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id_of(&pipeline, "Proposal"), "input": { "name": "Offer", "color": "#FF0000", "position": 0 } }),
        )
        .await;
    let after = stages(&app, &owner).await;

    let updated = updated.data("updateLeadStage");
    assert_eq!(updated["name"], "Offer");
    assert_eq!(updated["color"], "#ff0000");
    assert_eq!(updated["position"], 0);
    assert_eq!(
        names(&after),
        ["Offer", "New", "Contacted", "Qualified", "Won", "Lost"]
    );
    assert_eq!(positions(&after), [0, 1, 2, 3, 4, 5]);
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'updateLeadStage' AND outcome = 'success' AND entity_type = 'lead_stage'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_stage_input_names_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;
    let won = id_of(&pipeline, "Won");
    let create = |input: Value| {
        let app = &app;
        let token = owner.access_token.clone();
        async move { app.gql_as(&token, CREATE, json!({ "input": input })).await }
    };

    let cases = [
        (
            create(json!({ "name": "X", "color": "red" })).await,
            "input.color",
        ),
        (
            create(json!({ "name": "X", "color": "#12345" })).await,
            "input.color",
        ),
        (
            create(json!({ "name": " ", "color": "#123456" })).await,
            "input.name",
        ),
        (
            create(json!({ "name": "won", "color": "#123456" })).await,
            "input.name",
        ),
        (
            create(json!({ "name": "X", "color": "#123456", "position": -1 })).await,
            "input.position",
        ),
        (
            create(json!({ "name": "X", "color": "#123456", "isWon": true, "isLost": true })).await,
            "input.isLost",
        ),
        (
            app.gql_as(
                &owner.access_token,
                UPDATE,
                json!({ "id": won, "input": { "isLost": true } }),
            )
            .await,
            "input.isLost",
        ),
        (
            app.gql_as(
                &owner.access_token,
                UPDATE,
                json!({ "id": won, "input": { "name": "LOST" } }),
            )
            .await,
            "input.name",
        ),
        (
            app.gql_as(
                &owner.access_token,
                UPDATE,
                json!({ "id": won, "input": { "color": "#zzzzzz" } }),
            )
            .await,
            "input.color",
        ),
    ];

    for (response, expected) in &cases {
        // A name another stage has is taken (CONFLICT), not malformed.
        let taken = response.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already has this name"));
        let field = if taken {
            crate::helpers::taken_field(response)
        } else {
            bad_field(response)
        };
        assert_eq!(&field, expected);
    }
    let taken = cases
        .iter()
        .filter(|(response, _)| response.code() == Some("CONFLICT"))
        .count();
    assert_eq!(taken, 2, "\"won\" on create and \"LOST\" on rename");
    assert_eq!(stages(&app, &owner).await, pipeline, "nothing changed");
}

#[tokio::test]
async fn reordering_names_every_stage_exactly_once() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    let pipeline = stages(&app, &owner).await;
    let foreign = stages(&app, &other).await;
    let ids: Vec<Value> = pipeline.iter().map(|s| s["id"].clone()).collect();

    let missing = app
        .gql_as(&owner.access_token, REORDER, json!({ "ids": ids[1..] }))
        .await;
    let mut twice = ids.clone();
    twice[5] = ids[0].clone();
    let duplicated = app
        .gql_as(&owner.access_token, REORDER, json!({ "ids": twice }))
        .await;
    let mut with_foreign = ids.clone();
    with_foreign[5] = foreign[0]["id"].clone();
    let crossed = app
        .gql_as(&owner.access_token, REORDER, json!({ "ids": with_foreign }))
        .await;
    let unchanged = stages(&app, &owner).await;
    let reversed: Vec<Value> = ids.iter().rev().cloned().collect();
    let reordered = app
        .gql_as(&owner.access_token, REORDER, json!({ "ids": reversed }))
        .await;
    let after = stages(&app, &owner).await;

    assert_eq!(bad_field(&missing), "ids");
    assert_eq!(bad_field(&duplicated), "ids.5");
    crossed.expect_error("NOT_FOUND");
    assert_eq!(unchanged, pipeline);
    let returned = reordered.data("reorderLeadStages").as_array().unwrap();
    assert_eq!(
        names(returned),
        ["Lost", "Won", "Proposal", "Qualified", "Contacted", "New"]
    );
    assert_eq!(positions(&after), [0, 1, 2, 3, 4, 5]);
    assert_eq!(names(&after), names(returned));
    assert_eq!(stages(&app, &other).await, foreign, "theirs untouched");
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'reorderLeadStages' AND outcome = 'success'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_stage_without_leads_is_deleted_and_the_rest_close_up() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;

    let deleted = app
        .gql_as(
            &owner.access_token,
            DELETE,
            json!({ "id": id_of(&pipeline, "Qualified") }),
        )
        .await;
    let after = stages(&app, &owner).await;

    assert_eq!(deleted.data("deleteLeadStage")["name"], "Qualified");
    assert_eq!(
        names(&after),
        ["New", "Contacted", "Proposal", "Won", "Lost"]
    );
    assert_eq!(positions(&after), [0, 1, 2, 3, 4]);
    app.gql_as(
        &owner.access_token,
        DELETE,
        json!({ "id": id_of(&pipeline, "Qualified") }),
    )
    .await
    .expect_error("NOT_FOUND");
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'deleteLeadStage' AND outcome = 'success' AND entity_type = 'lead_stage'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_stage_leads_use_goes_only_by_moving_its_leads() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;
    let contacted = id_of(&pipeline, "Contacted");
    let qualified = id_of(&pipeline, "Qualified");
    insert_lead(&app, contacted, false).await;
    insert_lead(&app, contacted, true).await;
    insert_lead(&app, qualified, false).await;

    let refused = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": contacted }))
        .await;
    let onto_itself = app
        .gql_as(
            &owner.access_token,
            DELETE,
            json!({ "id": contacted, "to": contacted }),
        )
        .await;
    let still_there = (
        leads_in(&app, contacted).await,
        stages(&app, &owner).await.len(),
    );
    let moved = app
        .gql_as(
            &owner.access_token,
            DELETE,
            json!({ "id": contacted, "to": qualified }),
        )
        .await;

    assert_eq!(bad_field(&refused), "moveLeadsTo");
    assert_eq!(bad_field(&onto_itself), "moveLeadsTo");
    assert_eq!(still_there, (2, 6));
    assert_eq!(moved.data("deleteLeadStage")["name"], "Contacted");
    assert_eq!(leads_in(&app, contacted).await, 0);
    assert_eq!(leads_in(&app, qualified).await, 3, "deleted leads move too");
    assert_eq!(
        names(&stages(&app, &owner).await),
        ["New", "Qualified", "Proposal", "Won", "Lost"]
    );
}

#[tokio::test]
async fn deleting_the_default_stage_passes_the_default_on() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;

    app.gql_as(
        &owner.access_token,
        DELETE,
        json!({ "id": id_of(&pipeline, "New") }),
    )
    .await
    .data("deleteLeadStage");
    let first_inherits = stages(&app, &owner).await;
    app.gql_as(
        &owner.access_token,
        DELETE,
        json!({ "id": id_of(&pipeline, "Contacted"), "to": id_of(&pipeline, "Proposal") }),
    )
    .await
    .data("deleteLeadStage");
    let target_inherits = stages(&app, &owner).await;

    let default = |pipeline: &[Value]| -> Vec<String> {
        pipeline
            .iter()
            .filter(|s| s["isDefault"] == true)
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(default(&first_inherits), ["Contacted"]);
    assert_eq!(default(&target_inherits), ["Proposal"]);
}

#[tokio::test]
async fn the_last_stage_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let pipeline = stages(&app, &owner).await;
    for stage in &pipeline[1..] {
        app.gql_as(&owner.access_token, DELETE, json!({ "id": stage["id"] }))
            .await
            .data("deleteLeadStage");
    }

    let last = app
        .gql_as(
            &owner.access_token,
            DELETE,
            json!({ "id": pipeline[0]["id"] }),
        )
        .await;

    last.expect_error("CONFLICT");
    let remaining = stages(&app, &owner).await;
    assert_eq!(names(&remaining), ["New"]);
    assert_eq!(remaining[0]["isDefault"], true);
}

#[tokio::test]
async fn viewers_cannot_change_the_pipeline() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let pipeline = stages(&app, &owner).await;
    let new = id_of(&pipeline, "New");
    let ids: Vec<Value> = pipeline.iter().rev().map(|s| s["id"].clone()).collect();

    let attempts = [
        (
            CREATE,
            json!({ "input": { "name": "X", "color": "#000000" } }),
        ),
        (UPDATE, json!({ "id": new, "input": { "name": "Y" } })),
        (REORDER, json!({ "ids": ids })),
        (DELETE, json!({ "id": new })),
    ];
    for (query, variables) in attempts {
        app.gql_as(&viewer.access_token, query, variables)
            .await
            .expect_error("FORBIDDEN");
    }

    assert_eq!(stages(&app, &viewer).await, pipeline, "viewers read it");
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('createLeadStage', 'updateLeadStage', 'reorderLeadStages', 'deleteLeadStage') AND error_code = 'FORBIDDEN'"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn another_tenants_stages_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let ours = stages(&app, &alpha).await;
    let theirs = stages(&app, &beta).await;
    insert_lead(&app, id_of(&ours, "Contacted"), false).await;

    let update = app
        .gql_as(
            &alpha.access_token,
            UPDATE,
            json!({ "id": theirs[0]["id"], "input": { "name": "pwned" } }),
        )
        .await;
    let delete = app
        .gql_as(
            &alpha.access_token,
            DELETE,
            json!({ "id": theirs[1]["id"] }),
        )
        .await;
    let move_into_theirs = app
        .gql_as(
            &alpha.access_token,
            DELETE,
            json!({ "id": id_of(&ours, "Contacted"), "to": theirs[2]["id"] }),
        )
        .await;

    update.expect_error("NOT_FOUND");
    delete.expect_error("NOT_FOUND");
    move_into_theirs.expect_error("NOT_FOUND");
    assert_eq!(stages(&app, &beta).await, theirs);
    assert_eq!(stages(&app, &alpha).await, ours, "lists only our stages");
    assert_eq!(leads_in(&app, id_of(&ours, "Contacted")).await, 1);
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
    leadStages(first: $first, after: $after, last: $last, before: $before) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { name position } } }";

#[tokio::test]
async fn stages_page_in_pipeline_order_both_ways_and_a_page_survives_a_reorder() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let all = names(&stages(&app, &owner).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let page = |variables: Value| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            app.gql_as(&token, PAGE, variables)
                .await
                .data("leadStages")
                .clone()
        }
    };
    let page_names = |page: &Value| -> Vec<String> {
        page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let first = page(json!({ "first": 2 })).await;
    assert_eq!(page_names(&first), all[0..2]);
    assert_eq!(first["totalCount"], all.len());
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    let second = page(json!({ "first": 2, "after": first["pageInfo"]["endCursor"] })).await;
    assert_eq!(page_names(&second), all[2..4]);
    let back = page(json!({ "last": 2, "before": second["pageInfo"]["startCursor"] })).await;
    assert_eq!(page_names(&back), all[0..2]);
    assert_eq!(back["pageInfo"]["hasPreviousPage"], false);
    let tail = page(json!({ "last": 2 })).await;
    assert_eq!(page_names(&tail), all[all.len() - 2..]);

    // Moving the stage a cursor points at does not lose or repeat the rest:
    // the cursor holds its place in the order, not the row.
    let current = stages(&app, &owner).await;
    let mut reordered: Vec<Value> = current.iter().map(|s| s["id"].clone()).collect();
    reordered.swap(0, 1);
    app.gql_as(&owner.access_token, REORDER, json!({ "ids": reordered }))
        .await
        .data("reorderLeadStages");
    let rest = page(json!({ "first": 10, "after": first["pageInfo"]["endCursor"] })).await;
    assert_eq!(page_names(&rest), all[2..]);

    // A cursor of another list, or garbage, names the argument.
    let settings_cursor = {
        app.gql_as(
            &owner.access_token,
            "mutation { setSetting(key: \"a.b\", value: 1) { key } }",
            json!({}),
        )
        .await
        .data("setSetting");
        app.gql_as(
            &owner.access_token,
            "{ settings { edges { cursor } } }",
            json!({}),
        )
        .await
        .data("settings")["edges"][0]["cursor"]
            .clone()
    };
    for cursor in [settings_cursor, json!("garbage")] {
        let refused = app
            .gql_as(
                &owner.access_token,
                PAGE,
                json!({ "first": 2, "after": cursor }),
            )
            .await;
        assert_eq!(bad_field(&refused), "after");
    }
}

#[tokio::test]
async fn another_tenants_stages_are_not_in_the_page() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    app.gql_as(
        &owner.access_token,
        CREATE,
        json!({ "input": { "name": "Ours only", "color": "#112233" } }),
    )
    .await
    .data("createLeadStage");
    let theirs = app
        .gql_as(&stranger.access_token, PAGE, json!({ "first": 50 }))
        .await;
    let theirs = theirs.data("leadStages");
    assert!(
        theirs["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "Ours only")
    );
    assert_eq!(theirs["totalCount"], stages(&app, &stranger).await.len());
}
