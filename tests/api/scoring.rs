//! Lead scoring rules: managed by writers, validated field by field, and
//! applied at once to the scores of the tenant's existing live leads.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Gql, TestApp, on_postgres};
use crate::notes::{ctx_of, insert_lead, soft_delete, uuid_literal};

const CREATE: &str = "mutation($input: CreateScoringRuleInput!) { createScoringRule(input: $input) { id name criteria condition value points isActive createdAt updatedAt } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateScoringRuleInput!) { updateScoringRule(id: $id, input: $input) { id name criteria condition value points isActive } }";
const DELETE: &str = "mutation($id: ID!) { deleteScoringRule(id: $id) }";
const LIST: &str = "query($first: Int, $after: String) { scoringRules(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name criteria condition value points isActive } } } }";
const GET: &str = "query($id: ID!) { scoringRule(id: $id) { id name points } }";

fn rule(name: &str, criteria: &str, condition: &str, value: Value, points: i32) -> Value {
    json!({ "input": {
        "name": name, "criteria": criteria, "condition": condition, "value": value, "points": points,
    }})
}

async fn create_rule(app: &TestApp, token: &str, variables: Value) -> String {
    let response = app.gql_as(token, CREATE, variables).await;
    response.data("createScoringRule")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn score_of(app: &TestApp, lead: Uuid) -> i32 {
    let rows = app
        .sql(&format!(
            "SELECT score FROM leads WHERE id = {}",
            uuid_literal(lead)
        ))
        .await;
    rows[0].try_get::<i32>("", "score").unwrap()
}

async fn tag(app: &TestApp, slug: &str, lead: Uuid, tag: &str) {
    app.sql(&format!(
        "INSERT INTO lead_tags (tenant_id, lead_id, tag) \
         VALUES ((SELECT id FROM tenants WHERE slug = '{slug}'), {}, '{tag}')",
        uuid_literal(lead)
    ))
    .await;
}

fn field_of(response: &Gql) -> String {
    response.expect_error("BAD_USER_INPUT")["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_new_rule_rescores_existing_leads_and_changes_follow_it() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();
    let german = insert_lead(&app, "acme", &[("country", "'DE'")]).await;
    let french = insert_lead(&app, "acme", &[("country", "'FR'")]).await;

    let id = create_rule(
        &app,
        token,
        rule("Germany", "country", "EQUALS", json!("de"), 30),
    )
    .await;
    let after_create = (score_of(&app, german).await, score_of(&app, french).await);
    app.gql_as(
        token,
        UPDATE,
        json!({ "id": id, "input": { "points": 45 } }),
    )
    .await;
    let after_points = score_of(&app, german).await;
    app.gql_as(
        token,
        UPDATE,
        json!({ "id": id, "input": { "condition": "IN", "value": ["fr", "es"] } }),
    )
    .await;
    let after_condition = (score_of(&app, german).await, score_of(&app, french).await);
    app.gql_as(
        token,
        UPDATE,
        json!({ "id": id, "input": { "isActive": false } }),
    )
    .await;
    let after_deactivate = score_of(&app, french).await;
    app.gql_as(
        token,
        UPDATE,
        json!({ "id": id, "input": { "isActive": true } }),
    )
    .await;
    let deleted = app.gql_as(token, DELETE, json!({ "id": id })).await;
    let after_delete = score_of(&app, french).await;

    assert_eq!(after_create, (30, 0));
    assert_eq!(after_points, 45);
    assert_eq!(after_condition, (0, 45));
    assert_eq!(after_deactivate, 0);
    assert_eq!(deleted.data("deleteScoringRule"), id.as_str());
    assert_eq!(after_delete, 0);
    assert_eq!(app.count("lead_scoring_rules", "1 = 1").await, 0);
}

#[tokio::test]
async fn scores_are_the_clamped_sum_of_matching_rules() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();
    let engaged = insert_lead(
        &app,
        "acme",
        &[("emails_opened", "7"), ("quality_score", "80")],
    )
    .await;
    let cold = insert_lead(&app, "acme", &[("emails_opened", "0")]).await;

    create_rule(
        &app,
        token,
        rule("Opens", "emailsOpened", "GT", json!(3), 70),
    )
    .await;
    create_rule(
        &app,
        token,
        rule("Quality", "qualityScore", "GT", json!(50), 60),
    )
    .await;
    let capped = score_of(&app, engaged).await;
    create_rule(
        &app,
        token,
        rule("Penalty", "emailsOpened", "LT", json!(1), -40),
    )
    .await;
    let floored = score_of(&app, cold).await;
    create_rule(
        &app,
        token,
        rule("Everyone", "emailsSent", "EXISTS", Value::Null, -100),
    )
    .await;
    let after_penalty = score_of(&app, engaged).await;

    assert_eq!(capped, 100, "70 + 60 is clamped to 100");
    assert_eq!(floored, 0, "a negative total is clamped to 0");
    assert_eq!(after_penalty, 30, "70 + 60 - 100");
}

#[tokio::test]
async fn tags_custom_fields_emails_and_statuses_can_be_scored() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();
    let lead = insert_lead(
        &app,
        "acme",
        &[
            ("email", "'ada@bigcorp.com'"),
            ("status", "'follow_up_1'"),
            (
                "custom_fields",
                "'{\"plan\": \"Enterprise\", \"seats\": 250}'",
            ),
        ],
    )
    .await;
    tag(&app, "acme", lead, "vip").await;
    let other = insert_lead(&app, "acme", &[("email", "'bob@gmail.com'")]).await;

    let mut scores = Vec::new();
    for (criteria, condition, value, points) in [
        ("tags", "CONTAINS", json!("VIP"), 10),
        ("email", "CONTAINS", json!("@bigcorp.com"), 5),
        ("custom.plan", "EQUALS", json!("enterprise"), 20),
        ("custom.seats", "GT", json!(100), 15),
        ("status", "EQUALS", json!("FOLLOW_UP_1"), 7),
    ] {
        create_rule(
            &app,
            token,
            rule(criteria, criteria, condition, value, points),
        )
        .await;
        scores.push(score_of(&app, lead).await);
    }

    assert_eq!(scores, vec![10, 15, 35, 50, 57]);
    assert_eq!(score_of(&app, other).await, 0);
    let stored = app.gql_as(token, LIST, json!({})).await;
    assert_eq!(
        stored.data("scoringRules")["edges"][4]["node"]["value"],
        "follow_up_1",
        "statuses are stored in their database spelling"
    );
}

#[tokio::test]
async fn deleted_leads_and_other_tenants_leads_keep_their_scores() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sign_up("other").await;
    let live = insert_lead(&app, "acme", &[("country", "'DE'")]).await;
    let deleted = insert_lead(&app, "acme", &[("country", "'DE'"), ("score", "5")]).await;
    soft_delete(&app, "leads", deleted).await;
    let foreign = insert_lead(&app, "other", &[("country", "'DE'"), ("score", "5")]).await;

    create_rule(
        &app,
        &owner.access_token,
        rule("Germany", "country", "EQUALS", json!("DE"), 40),
    )
    .await;

    assert_eq!(score_of(&app, live).await, 40);
    assert_eq!(score_of(&app, deleted).await, 5);
    assert_eq!(score_of(&app, foreign).await, 5);
}

#[tokio::test]
async fn recompute_walks_every_batch_and_counts_only_changes() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let many = 1_234;
    if on_postgres() {
        app.sql(&format!(
            "INSERT INTO leads (tenant_id, id, country, search_text, sort_name) \
             SELECT t.id, gen_random_uuid(), 'DE', '', '' \
             FROM tenants t, generate_series(1, {many}) WHERE t.slug = 'acme'"
        ))
        .await;
    } else {
        app.sql(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {many}) \
             INSERT INTO leads (tenant_id, id, country, search_text, sort_name) \
             SELECT (SELECT id FROM tenants WHERE slug = 'acme'), randomblob(16), 'DE', '', '' FROM n"
        ))
        .await;
    }
    create_rule(
        &app,
        &owner.access_token,
        rule("Germany", "country", "EQUALS", json!("DE"), 12),
    )
    .await;
    let ctx = ctx_of(&owner);

    let unchanged = promohub::crm::scoring::recompute_all(&app.db, &ctx)
        .await
        .unwrap();
    app.sql("UPDATE leads SET score = 0").await;
    let changed = promohub::crm::scoring::recompute_all(&app.db, &ctx)
        .await
        .unwrap();

    assert_eq!(app.count("leads", "score = 12").await, many);
    assert_eq!(unchanged.len(), 0, "scores already right are not rewritten");
    assert_eq!(changed.len(), many as usize);
    // The rescored leads, each once.
    let distinct: std::collections::HashSet<_> = changed.iter().collect();
    assert_eq!(distinct.len(), changed.len());
}

#[tokio::test]
async fn rules_are_listed_oldest_first_and_read_by_id() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let token = owner.access_token.as_str();
    let first = create_rule(&app, token, rule("One", "city", "EXISTS", Value::Null, 1)).await;
    for (name, points) in [("Two", 2), ("Three", 3)] {
        create_rule(
            &app,
            token,
            rule(name, "city", "EXISTS", Value::Null, points),
        )
        .await;
    }

    let page1 = app
        .gql_as(&viewer.access_token, LIST, json!({ "first": 2 }))
        .await;
    let cursor = page1.data("scoringRules")["pageInfo"]["endCursor"].clone();
    let page2 = app
        .gql_as(
            &viewer.access_token,
            LIST,
            json!({ "first": 2, "after": cursor }),
        )
        .await;
    let one = app
        .gql_as(&viewer.access_token, GET, json!({ "id": first }))
        .await;
    let missing = app
        .gql_as(token, GET, json!({ "id": Uuid::now_v7().to_string() }))
        .await;

    let names = |page: &Gql| -> Vec<String> {
        page.data("scoringRules")["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&page1), ["One", "Two"]);
    assert_eq!(page1.data("scoringRules")["totalCount"], 3);
    assert_eq!(names(&page2), ["Three"]);
    let node = &page1.data("scoringRules")["edges"][0]["node"];
    assert_eq!(node["condition"], "EXISTS");
    assert!(node["value"].is_null());
    assert_eq!(node["isActive"], true);
    assert_eq!(one.data("scoringRule")["name"], "One");
    missing.expect_error("NOT_FOUND");
}

#[tokio::test]
async fn rule_input_is_validated_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let token = owner.access_token.as_str();
    let id = create_rule(
        &app,
        token,
        rule("Ok", "country", "EQUALS", json!("DE"), 10),
    )
    .await;

    let cases = [
        (
            rule("x", "shoeSize", "EQUALS", json!(42), 1),
            "input.criteria",
        ),
        (
            rule("x", "custom.", "EXISTS", Value::Null, 1),
            "input.criteria",
        ),
        (rule("x", "country", "GT", json!(1), 1), "input.condition"),
        (
            rule("x", "status", "CONTAINS", json!("new"), 1),
            "input.condition",
        ),
        (
            rule("x", "emailsOpened", "GT", json!("3"), 1),
            "input.value",
        ),
        (rule("x", "country", "IN", json!("DE"), 1), "input.value"),
        (
            rule("x", "country", "EXISTS", json!("DE"), 1),
            "input.value",
        ),
        (
            rule("x", "country", "EQUALS", Value::Null, 1),
            "input.value",
        ),
        (
            rule("x", "status", "EQUALS", json!("hot"), 1),
            "input.value",
        ),
        (
            rule("x", "stageId", "EQUALS", json!("stage-1"), 1),
            "input.value",
        ),
        (
            rule("x", "country", "EQUALS", json!("DE"), 101),
            "input.points",
        ),
        (
            rule("x", "country", "EQUALS", json!("DE"), -101),
            "input.points",
        ),
        (rule(" ", "country", "EQUALS", json!("DE"), 1), "input.name"),
    ];
    for (variables, field) in cases {
        let response = app.gql_as(token, CREATE, variables.clone()).await;
        assert_eq!(field_of(&response), field, "{variables}");
    }
    let to_exists = app
        .gql_as(
            token,
            UPDATE,
            json!({ "id": id, "input": { "condition": "EXISTS" } }),
        )
        .await;
    let to_exists_cleared = app
        .gql_as(
            token,
            UPDATE,
            json!({ "id": id, "input": { "condition": "EXISTS", "value": null } }),
        )
        .await;
    let bad_points = app
        .gql_as(
            token,
            UPDATE,
            json!({ "id": id, "input": { "points": 500 } }),
        )
        .await;

    assert_eq!(
        field_of(&to_exists),
        "input.value",
        "the old value does not fit EXISTS"
    );
    let updated = to_exists_cleared.data("updateScoringRule");
    assert_eq!(updated["condition"], "EXISTS");
    assert!(updated["value"].is_null());
    assert_eq!(field_of(&bad_points), "input.points");
    assert_eq!(app.count("lead_scoring_rules", "1 = 1").await, 1);
}

#[tokio::test]
async fn writers_manage_rules_and_viewers_only_read_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_users = 10").await;
    let member = app
        .add_member(&owner, "member@acme.example", "MEMBER")
        .await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let read_key = app.api_key(&owner, &["READ"]).await;
    let write_key = app.api_key(&owner, &["WRITE"]).await;
    let lead = insert_lead(&app, "acme", &[("country", "'DE'")]).await;
    let id = create_rule(
        &app,
        &member.access_token,
        rule("By member", "country", "EQUALS", json!("DE"), 10),
    )
    .await;

    for token in [viewer.access_token.as_str(), read_key.as_str()] {
        app.gql_as(token, CREATE, rule("x", "city", "EXISTS", Value::Null, 50))
            .await
            .expect_error("FORBIDDEN");
        app.gql_as(
            token,
            UPDATE,
            json!({ "id": id, "input": { "points": 90 } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": id }))
            .await
            .expect_error("FORBIDDEN");
        let listed = app.gql_as(token, LIST, json!({})).await;
        assert_eq!(listed.data("scoringRules")["totalCount"], 1);
    }
    let by_key = app
        .gql_as(
            &write_key,
            UPDATE,
            json!({ "id": id, "input": { "points": 20 } }),
        )
        .await;

    assert_eq!(by_key.data("updateScoringRule")["points"], 20);
    assert_eq!(score_of(&app, lead).await, 20);
    assert_eq!(app.count("lead_scoring_rules", "1 = 1").await, 1);
}

#[tokio::test]
async fn every_rule_mutation_writes_an_audit_row() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let token = owner.access_token.as_str();
    let id = create_rule(&app, token, rule("A", "city", "EXISTS", Value::Null, 5)).await;
    app.gql_as(token, UPDATE, json!({ "id": id, "input": { "name": "B" } }))
        .await;
    app.gql_as(&viewer.access_token, DELETE, json!({ "id": id }))
        .await
        .expect_error("FORBIDDEN");
    app.gql_as(token, DELETE, json!({ "id": id })).await;

    let id_literal = uuid_literal(id.parse().unwrap());
    for (action, outcome) in [
        ("createScoringRule", "success"),
        ("updateScoringRule", "success"),
        ("deleteScoringRule", "failure"),
        ("deleteScoringRule", "success"),
    ] {
        let found = app
            .count(
                "audit_log",
                &format!(
                    "action = '{action}' AND outcome = '{outcome}' AND entity_id = {id_literal}"
                ),
            )
            .await;
        assert_eq!(found, 1, "{action} {outcome}");
    }
    assert_eq!(
        app.count("audit_log", "entity_type = 'scoring_rule'").await,
        3
    );
}

#[tokio::test]
async fn another_tenants_rules_are_not_found_and_its_leads_are_never_rescored() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    let b_lead = insert_lead(&app, "beta", &[("country", "'DE'")]).await;
    let b_rule = create_rule(
        &app,
        &b.access_token,
        rule("Beta's", "country", "EQUALS", json!("DE"), 25),
    )
    .await;
    let token = a.access_token.as_str();

    let cases = [
        (
            "scoringRule",
            app.gql_as(token, GET, json!({ "id": b_rule })).await,
        ),
        (
            "updateScoringRule",
            app.gql_as(
                token,
                UPDATE,
                json!({ "id": b_rule, "input": { "points": -100 } }),
            )
            .await,
        ),
        (
            "deleteScoringRule",
            app.gql_as(token, DELETE, json!({ "id": b_rule })).await,
        ),
    ];
    create_rule(
        &app,
        token,
        rule("Alpha's", "country", "EXISTS", Value::Null, 90),
    )
    .await;
    let listed = app.gql_as(token, LIST, json!({})).await;

    for (name, response) in cases {
        assert_eq!(
            response.code(),
            Some("NOT_FOUND"),
            "{name}: {:?}",
            response.body
        );
    }
    assert_eq!(listed.data("scoringRules")["totalCount"], 1);
    assert_eq!(
        listed.data("scoringRules")["edges"][0]["node"]["name"],
        "Alpha's"
    );
    let b_read = app
        .gql_as(&b.access_token, GET, json!({ "id": b_rule }))
        .await;
    assert_eq!(b_read.data("scoringRule")["points"], 25);
    assert_eq!(
        score_of(&app, b_lead).await,
        25,
        "alpha's rule never reaches beta's leads"
    );
}

#[tokio::test]
async fn the_request_rules_loader_answers_only_the_callers_tenant() {
    use async_graphql::dataloader::Loader;
    use promohub::crm::scoring::ActiveRulesLoader;

    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    create_rule(
        &app,
        &owner.access_token,
        rule("On", "city", "EXISTS", Value::Null, 5),
    )
    .await;
    let off = create_rule(
        &app,
        &owner.access_token,
        rule("Off", "city", "EXISTS", Value::Null, 5),
    )
    .await;
    app.gql_as(
        &owner.access_token,
        UPDATE,
        json!({ "id": off, "input": { "isActive": false } }),
    )
    .await;
    create_rule(
        &app,
        &other.access_token,
        rule("Theirs", "city", "EXISTS", Value::Null, 5),
    )
    .await;
    let ctx = ctx_of(&owner);
    let other_tenant: Uuid = other.tenant_id.parse().unwrap();

    let loaded = ActiveRulesLoader::new(app.db.clone(), ctx.clone())
        .load(&[ctx.tenant_id, other_tenant])
        .await
        .unwrap();

    let rules = &loaded[&ctx.tenant_id];
    assert_eq!(
        rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["On"]
    );
    assert!(!loaded.contains_key(&other_tenant));
}
