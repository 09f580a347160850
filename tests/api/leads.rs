//! Leads: every operation, validation naming the field, the timeline,
//! scoring, merging, upserting and bulk changes.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};

pub const LEAD_FIELDS: &str = "id firstName lastName fullName email phone country status score tags customFields convertedAt deletedAt stage { id name isWon } company { id name } owner { id email } source { id name } project { id name }";

pub async fn create_lead(app: &TestApp, session: &Session, input: Value) -> Value {
    let response = app
        .gql_as(
            &session.access_token,
            &format!("mutation($input: CreateLeadInput!) {{ createLead(input: $input) {{ {LEAD_FIELDS} }} }}"),
            json!({ "input": input }),
        )
        .await;
    response.data("createLead").clone()
}

pub async fn create_company(app: &TestApp, session: &Session, name: &str) -> String {
    let response = app
        .gql_as(
            &session.access_token,
            "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }",
            json!({ "input": { "name": name, "website": format!("https://{}.example", name.to_lowercase()) } }),
        )
        .await;
    response.data("createCompany")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn stages(app: &TestApp, session: &Session) -> Vec<Value> {
    let response = app
        .gql_as(
            &session.access_token,
            "{ leadStages { nodes { id name isDefault isWon } } }",
            json!({}),
        )
        .await;
    response.data("leadStages")["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

async fn timeline(app: &TestApp, session: &Session, lead_id: &str) -> Vec<String> {
    let response = app
        .gql_as(
            &session.access_token,
            "query($id: ID!) { lead(id: $id) { activities(first: 50) { edges { node { kind } } } } }",
            json!({ "id": lead_id }),
        )
        .await;
    response.data("lead")["activities"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_lead_is_created_with_its_relations_default_stage_and_timeline() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let company = create_company(&app, &owner, "Globex").await;

    let lead = create_lead(
        &app,
        &owner,
        json!({
            "firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Example.com", "country": "gb",
            "companyId": company, "ownerId": owner.user_id, "tags": ["vip", " vip ", "b2b"],
            "budget": "5000", "authority": "CTO", "need": "analytics", "timeline": "Q3",
        }),
    )
    .await;

    assert_eq!(lead["fullName"], "Ada Lovelace");
    assert_eq!(lead["email"], "ada@example.com");
    assert_eq!(lead["country"], "GB");
    assert_eq!(lead["status"], "NEW");
    assert_eq!(lead["stage"]["name"], "New", "the pipeline's default stage");
    assert_eq!(lead["company"]["name"], "Globex");
    assert_eq!(lead["owner"]["email"], owner.email.as_str());
    assert_eq!(lead["tags"], json!(["b2b", "vip"]));
    assert_eq!(
        timeline(&app, &owner, lead["id"].as_str().unwrap()).await,
        vec!["LEAD_CREATED"]
    );
}

#[tokio::test]
async fn lead_validation_names_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let create = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";
    let cases = [
        (json!({ "email": "nope" }), "input.email"),
        (
            json!({ "firstName": "A", "country": "Germany" }),
            "input.country",
        ),
        (
            json!({ "firstName": "A", "qualityScore": 101 }),
            "input.qualityScore",
        ),
        (json!({ "firstName": "A", "budget": "-1" }), "input.budget"),
        (
            json!({ "firstName": "A", "budget": "10.505" }),
            "input.budget",
        ),
        (
            json!({ "firstName": "A", "currency": "JPY", "lifetimeValue": "1.5" }),
            "input.lifetimeValue",
        ),
        (
            json!({ "firstName": "A", "phone": "call me maybe" }),
            "input.phone",
        ),
        (
            json!({ "firstName": "A", "tags": ["ok", ""] }),
            "input.tags.1",
        ),
        (json!({ "jobTitle": "CEO" }), "input.email"),
        (
            json!({ "firstName": "A", "companyId": "not-an-id" }),
            "input.companyId",
        ),
    ];
    for (input, field) in cases {
        let response = app
            .gql_as(&owner.access_token, create, json!({ "input": input }))
            .await;
        assert_eq!(
            response.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field,
            "{input}"
        );
    }
    assert_eq!(app.count("leads", "1 = 1").await, 0);
}

#[tokio::test]
async fn emails_are_unique_per_tenant_ignoring_case() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    create_lead(&app, &owner, json!({ "email": "dup@example.com" })).await;

    let again = app
        .gql_as(
            &owner.access_token,
            "mutation { createLead(input: { email: \"DUP@example.com\" }) { id } }",
            json!({}),
        )
        .await;
    let elsewhere = create_lead(&app, &other, json!({ "email": "dup@example.com" })).await;

    assert_eq!(
        again.expect_error("CONFLICT")["extensions"]["field"],
        "input.email"
    );
    assert_eq!(
        elsewhere["email"], "dup@example.com",
        "another tenant may have the same email"
    );
}

#[tokio::test]
async fn update_keeps_absent_fields_clears_nulls_and_writes_the_timeline() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(
        &app,
        &owner,
        json!({ "firstName": "Ada", "lastName": "L", "city": "London", "phone": "+44 20 1234" }),
    )
    .await;
    let id = lead["id"].as_str().unwrap();
    let qualified = stages(&app, &owner)
        .await
        .into_iter()
        .find(|s| s["name"] == "Qualified")
        .unwrap();

    let updated = app
        .gql_as(
            &owner.access_token,
            &format!("mutation($id: ID!, $input: UpdateLeadInput!) {{ updateLead(id: $id, input: $input) {{ {LEAD_FIELDS} city phone }} }}"),
            json!({ "id": id, "input": { "lastName": "Lovelace", "phone": null, "stageId": qualified["id"], "status": "CONTACTED" } }),
        )
        .await;

    let updated = updated.data("updateLead");
    assert_eq!(updated["fullName"], "Ada Lovelace");
    assert_eq!(updated["city"], "London", "absent: kept");
    assert!(updated["phone"].is_null(), "null: cleared");
    assert_eq!(updated["stage"]["name"], "Qualified");
    let kinds = timeline(&app, &owner, id).await;
    for kind in [
        "STAGE_CHANGED",
        "STATUS_CHANGED",
        "LEAD_UPDATED",
        "LEAD_CREATED",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.last().unwrap(), "LEAD_CREATED", "newest first");
}

#[tokio::test]
async fn delete_moves_to_the_trash_and_restore_brings_back() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, json!({ "email": "t@example.com" })).await;
    let id = lead["id"].as_str().unwrap();
    let by_id = "query($id: ID!) { lead(id: $id) { id } }";

    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteLead(id: $id) { deletedAt } }",
        json!({ "id": id }),
    )
    .await
    .data("deleteLead");
    let gone = app
        .gql_as(&owner.access_token, by_id, json!({ "id": id }))
        .await;
    let listed = app
        .gql_as(
            &owner.access_token,
            "{ leads { totalCount } trash: leads(deleted: true) { totalCount } }",
            json!({}),
        )
        .await;
    // The email is free again while the lead is in the trash…
    let taker = create_lead(&app, &owner, json!({ "email": "t@example.com" })).await;
    let blocked = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { restoreLead(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteLead(id: $id) { id } }",
        json!({ "id": taker["id"] }),
    )
    .await
    .data("deleteLead");
    let restored = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { restoreLead(id: $id) { deletedAt } }",
            json!({ "id": id }),
        )
        .await;

    gone.expect_error("NOT_FOUND");
    assert_eq!(listed.data("leads")["totalCount"], 0);
    assert_eq!(listed.data("trash")["totalCount"], 1);
    assert!(
        blocked.expect_error("CONFLICT")["message"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    assert!(restored.data("restoreLead")["deletedAt"].is_null());
    assert!(
        timeline(&app, &owner, id)
            .await
            .starts_with(&["RESTORED".to_owned(), "DELETED".to_owned()])
    );
}

#[tokio::test]
async fn convert_marks_the_lead_won() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, json!({ "firstName": "Ada" })).await;
    let convert = format!("mutation($id: ID!) {{ convertLead(id: $id) {{ {LEAD_FIELDS} }} }}");

    let converted = app
        .gql_as(&owner.access_token, &convert, json!({ "id": lead["id"] }))
        .await;
    let again = app
        .gql_as(&owner.access_token, &convert, json!({ "id": lead["id"] }))
        .await;

    let converted = converted.data("convertLead");
    assert_eq!(converted["status"], "CONVERTED");
    assert!(converted["convertedAt"].is_string());
    assert_eq!(converted["stage"]["isWon"], true);
    again.expect_error("CONFLICT");
}

#[tokio::test]
async fn leads_are_assigned_to_members_only_and_freed_when_they_leave() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let rep = app.add_member(&owner, "rep@acme.example", "MEMBER").await;
    let lead = create_lead(&app, &owner, json!({ "firstName": "Ada" })).await;
    let assign = "mutation($id: ID!, $owner: ID) { assignLead(id: $id, ownerId: $owner) { owner { email } } }";

    let to_rep = app
        .gql_as(
            &owner.access_token,
            assign,
            json!({ "id": lead["id"], "owner": rep.user_id }),
        )
        .await;
    let to_stranger = app
        .gql_as(
            &owner.access_token,
            assign,
            json!({ "id": lead["id"], "owner": stranger.user_id }),
        )
        .await;
    let rep_member = app.member_id(&owner, &rep.email).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { removeMember(memberId: $id) { id } }",
        json!({ "id": rep_member }),
    )
    .await
    .data("removeMember");
    let after = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { lead(id: $id) { owner { email } } }",
            json!({ "id": lead["id"] }),
        )
        .await;

    assert_eq!(
        to_rep.data("assignLead")["owner"]["email"],
        "rep@acme.example"
    );
    to_stranger.expect_error("NOT_FOUND");
    assert!(after.data("lead")["owner"].is_null());
}

#[tokio::test]
async fn tags_are_added_removed_and_filterable() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let a = create_lead(&app, &owner, json!({ "firstName": "A", "tags": ["x"] })).await;
    create_lead(&app, &owner, json!({ "firstName": "B" })).await;

    let added = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { addTags(id: $id, tags: [\"vip\", \"x\"]) { tags } }",
            json!({ "id": a["id"] }),
        )
        .await;
    let removed = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { removeTags(id: $id, tags: [\"x\"]) { tags } }",
            json!({ "id": a["id"] }),
        )
        .await;
    let vip = app
        .gql_as(&owner.access_token, "{ leads(filter: { tags: { contains: \"vip\" } }) { totalCount } untagged: leads(filter: { tags: { isNull: true } }) { totalCount } }", json!({}))
        .await;

    assert_eq!(added.data("addTags")["tags"], json!(["vip", "x"]));
    assert_eq!(removed.data("removeTags")["tags"], json!(["vip"]));
    assert_eq!(vip.data("leads")["totalCount"], 1);
    assert_eq!(vip.data("untagged")["totalCount"], 1);
}

#[tokio::test]
async fn merge_folds_duplicates_into_the_primary() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let primary = create_lead(&app, &owner, json!({ "firstName": "Ada", "tags": ["a"] })).await;
    let dup = create_lead(&app, &owner, json!({ "email": "ada@example.com", "city": "London", "tags": ["b"], "lastName": "Ignored" })).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { createNote(input: { leadId: $id, body: \"met at the fair\" }) { id } }",
        json!({ "id": dup["id"] }),
    )
    .await
    .data("createNote");

    let merged = app
        .gql_as(
            &owner.access_token,
            &format!("mutation($p: ID!, $d: [ID!]!) {{ mergeLeads(primaryId: $p, duplicateIds: $d) {{ {LEAD_FIELDS} city notes {{ nodes {{ body }} }} }} }}"),
            json!({ "p": primary["id"], "d": [dup["id"]] }),
        )
        .await;

    let merged = merged.data("mergeLeads");
    assert_eq!(merged["email"], "ada@example.com", "empty fields filled");
    assert_eq!(merged["lastName"], "Ignored");
    assert_eq!(merged["firstName"], "Ada", "the primary's own values win");
    assert_eq!(merged["city"], "London");
    assert_eq!(merged["tags"], json!(["a", "b"]));
    assert_eq!(merged["notes"]["nodes"][0]["body"], "met at the fair");
    let kinds = timeline(&app, &owner, primary["id"].as_str().unwrap()).await;
    assert_eq!(kinds[0], "MERGED");
    assert!(
        kinds.iter().filter(|k| *k == "LEAD_CREATED").count() == 2,
        "the duplicate's timeline moved: {kinds:?}"
    );
    let dup_now = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { lead(id: $id) { id } }",
            json!({ "id": dup["id"] }),
        )
        .await;
    dup_now.expect_error("NOT_FOUND");
}

#[tokio::test]
async fn upsert_keeps_good_items_and_reports_bad_ones() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let existing = create_lead(
        &app,
        &owner,
        json!({ "email": "known@example.com", "firstName": "Old", "city": "Paris" }),
    )
    .await;

    let response = app
        .gql_as(
            &owner.access_token,
            "mutation($inputs: [CreateLeadInput!]!) { upsertLeads(inputs: $inputs) { index created errors { field code } lead { id email firstName city tags } } }",
            json!({ "inputs": [
                { "email": "new@example.com", "firstName": "New" },
                { "email": "KNOWN@example.com", "firstName": "Updated", "tags": ["imported"] },
                { "email": "not-an-email" },
                { "firstName": "No email" },
                { "email": "also-new@example.com", "country": "Narnia" },
                { "email": "third@example.com" },
            ]}),
        )
        .await;

    let results = response.data("upsertLeads").as_array().unwrap().clone();
    assert_eq!(results[0]["created"], true);
    assert_eq!(results[1]["created"], false);
    assert_eq!(results[1]["lead"]["id"], existing["id"]);
    assert_eq!(results[1]["lead"]["firstName"], "Updated");
    assert_eq!(
        results[1]["lead"]["city"], "Paris",
        "absent fields are kept"
    );
    assert_eq!(results[1]["lead"]["tags"], json!(["imported"]));
    assert_eq!(results[2]["errors"][0]["field"], "inputs.2.email");
    assert_eq!(results[3]["errors"][0]["field"], "inputs.3.email");
    assert_eq!(results[4]["errors"][0]["field"], "inputs.4.country");
    assert_eq!(results[5]["created"], true);
    assert_eq!(
        app.count("leads", "1 = 1").await,
        3,
        "existing + 2 new; the bad ones left nothing behind"
    );
}

#[tokio::test]
async fn upsert_refuses_more_than_500_items() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let inputs: Vec<Value> = (0..501)
        .map(|i| json!({ "email": format!("l{i}@example.com") }))
        .collect();
    let response = app
        .gql_as(
            &owner.access_token,
            "mutation($inputs: [CreateLeadInput!]!) { upsertLeads(inputs: $inputs) { index } }",
            json!({ "inputs": inputs }),
        )
        .await;
    assert_eq!(
        response.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "inputs"
    );
}

#[tokio::test]
async fn bulk_update_changes_matching_leads_in_one_go() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ids = Vec::new();
    for (i, country) in ["DE", "DE", "FR"].iter().enumerate() {
        ids.push(
            create_lead(
                &app,
                &owner,
                json!({ "firstName": format!("L{i}"), "country": country }),
            )
            .await["id"]
                .clone(),
        );
    }
    let qualified = stages(&app, &owner)
        .await
        .into_iter()
        .find(|s| s["name"] == "Qualified")
        .unwrap();
    let bulk = "mutation($ids: [ID!], $filter: LeadFilter, $patch: LeadPatch!) { bulkUpdateLeads(ids: $ids, filter: $filter, patch: $patch) }";

    let by_filter = app
        .gql_as(&owner.access_token, bulk, json!({ "filter": { "country": { "eq": "de" } }, "patch": { "stageId": qualified["id"], "addTags": ["germany"] } }))
        .await;
    let by_ids = app
        .gql_as(&owner.access_token, bulk, json!({ "ids": [ids[2]], "patch": { "status": "INTERESTED", "ownerId": owner.user_id } }))
        .await;
    let neither = app
        .gql_as(
            &owner.access_token,
            bulk,
            json!({ "patch": { "status": "NEW" } }),
        )
        .await;

    assert_eq!(by_filter.data("bulkUpdateLeads"), 2);
    assert_eq!(by_ids.data("bulkUpdateLeads"), 1);
    neither.expect_error("BAD_USER_INPUT");
    let check = app
        .gql_as(&owner.access_token, "{ q: leads(filter: { stageId: { eq: \"STAGE\" }, tags: { contains: \"germany\" } }) { totalCount } i: leads(filter: { status: { eq: INTERESTED } }) { totalCount edges { node { owner { id } } } } }".replace("STAGE", qualified["id"].as_str().unwrap()).as_str(), json!({}))
        .await;
    assert_eq!(check.data("q")["totalCount"], 2);
    assert_eq!(
        check.data("i")["edges"][0]["node"]["owner"]["id"],
        owner.user_id.as_str()
    );
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'bulkUpdateLeads' AND outcome = 'success'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn viewers_cannot_change_leads() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let lead = create_lead(&app, &owner, json!({ "firstName": "Ada" })).await;
    let id = lead["id"].clone();
    let attempts = [
        (
            "mutation { createLead(input: { firstName: \"X\" }) { id } }",
            json!({}),
        ),
        (
            "mutation($id: ID!) { updateLead(id: $id, input: { firstName: \"X\" }) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { deleteLead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { convertLead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { addTags(id: $id, tags: [\"x\"]) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { assignLead(id: $id, ownerId: null) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($ids: [ID!]) { bulkUpdateLeads(ids: $ids, patch: { status: NEW }) }",
            json!({ "ids": [id] }),
        ),
        (
            "mutation { upsertLeads(inputs: [{ email: \"x@example.com\" }]) { index } }",
            json!({}),
        ),
        (
            "mutation($id: ID!) { logActivity(input: { leadId: $id, kind: CALL, summary: \"x\" }) { id } }",
            json!({ "id": id }),
        ),
    ];
    for (mutation, variables) in attempts {
        app.gql_as(&viewer.access_token, mutation, variables)
            .await
            .expect_error("FORBIDDEN");
    }
    let read = app
        .gql_as(&viewer.access_token, "{ leads { totalCount } }", json!({}))
        .await;
    assert_eq!(read.data("leads")["totalCount"], 1);
    assert_eq!(
        app.count(
            "audit_log",
            "outcome = 'failure' AND error_code = 'FORBIDDEN'"
        )
        .await,
        9
    );
}

#[tokio::test]
async fn log_activity_puts_calls_on_the_timeline() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, json!({ "firstName": "Ada" })).await;
    let log = "mutation($input: LogActivityInput!) { logActivity(input: $input) { kind summary detail actorId occurredAt } }";

    let call = app
        .gql_as(&owner.access_token, log, json!({ "input": { "leadId": lead["id"], "kind": "CALL", "summary": "Intro call", "detail": "Wants a demo", "occurredAt": "2026-11-30T09:15:00Z" } }))
        .await;
    let system_kind = app
        .gql_as(
            &owner.access_token,
            log,
            json!({ "input": { "leadId": lead["id"], "kind": "CONVERTED", "summary": "x" } }),
        )
        .await;

    assert_eq!(call.data("logActivity")["kind"], "CALL");
    assert_eq!(call.data("logActivity")["detail"]["text"], "Wants a demo");
    assert!(
        call.data("logActivity")["occurredAt"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-30T09:15:00"),
        "the time given is kept"
    );
    assert_eq!(
        system_kind.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "input.kind"
    );
    assert_eq!(
        timeline(&app, &owner, lead["id"].as_str().unwrap()).await[0],
        "CALL"
    );
}

#[tokio::test]
async fn scoring_rules_drive_the_score_and_its_breakdown() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let rule =
        "mutation($input: CreateScoringRuleInput!) { createScoringRule(input: $input) { id } }";
    app.gql_as(&owner.access_token, rule, json!({ "input": { "name": "Germany", "criteria": "country", "condition": "EQUALS", "value": "DE", "points": 30 } }))
        .await
        .data("createScoringRule");
    app.gql_as(&owner.access_token, rule, json!({ "input": { "name": "VIP", "criteria": "tags", "condition": "CONTAINS", "value": "vip", "points": 90 } }))
        .await
        .data("createScoringRule");

    let lead = create_lead(&app, &owner, json!({ "firstName": "Ada", "country": "DE" })).await;
    let tagged = app
        .gql_as(&owner.access_token, "mutation($id: ID!) { addTags(id: $id, tags: [\"vip\"]) { score scoreBreakdown { ruleName points } } }", json!({ "id": lead["id"] }))
        .await;

    assert_eq!(lead["score"], 30);
    let tagged = tagged.data("addTags");
    assert_eq!(tagged["score"], 100, "clamped to 100");
    let mut names: Vec<&str> = tagged["scoreBreakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ruleName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Germany", "VIP"]);
}

#[tokio::test]
async fn custom_fields_are_validated_on_every_write() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.gql_as(
        &owner.access_token,
        "mutation { createCustomFieldDefinition(input: { entity: LEAD, key: \"employees\", label: \"Employees\", type: NUMBER, validation: { min: 1, max: 100000 } }) { id } }",
        json!({}),
    )
    .await
    .data("createCustomFieldDefinition");

    let ok = create_lead(
        &app,
        &owner,
        json!({ "firstName": "A", "customFields": { "employees": 250 } }),
    )
    .await;
    let bad_value = app
        .gql_as(&owner.access_token, "mutation { createLead(input: { firstName: \"B\", customFields: { employees: 0 } }) { id } }", json!({}))
        .await;
    let unknown = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { updateLead(id: $id, input: { customFields: { shoeSize: 42 } }) { id } }",
            json!({ "id": ok["id"] }),
        )
        .await;
    let filtered = app
        .gql_as(
            &owner.access_token,
            "{ leads(filter: { customFields: [{ key: \"employees\", gt: 100 }] }) { totalCount } }",
            json!({}),
        )
        .await;

    assert_eq!(ok["customFields"]["employees"], 250);
    assert_eq!(
        bad_value.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "input.customFields.employees"
    );
    assert_eq!(
        unknown.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "input.customFields.shoeSize"
    );
    assert_eq!(filtered.data("leads")["totalCount"], 1);
}

#[tokio::test]
async fn analytics_count_by_status_stage_source_and_owner() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for (i, status) in ["NEW", "NEW", "CONTACTED"].iter().enumerate() {
        create_lead(
            &app,
            &owner,
            json!({ "firstName": format!("L{i}"), "status": status, "ownerId": owner.user_id }),
        )
        .await;
    }
    let converted = create_lead(&app, &owner, json!({ "firstName": "Won" })).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { convertLead(id: $id) { id } }",
        json!({ "id": converted["id"] }),
    )
    .await
    .data("convertLead");

    let analytics = app
        .gql_as(
            &owner.access_token,
            "{ leadAnalytics { total averageScore createdInPeriod conversions conversionRate byStatus { status count } byStage { count stage { name } } byOwner { count owner { email } } bySource { count source { name } } } }",
            json!({}),
        )
        .await;

    let a = analytics.data("leadAnalytics");
    assert_eq!(a["total"], 4);
    assert_eq!(a["byStatus"][0], json!({ "status": "NEW", "count": 2 }));
    assert_eq!(a["conversions"], 1);
    assert_eq!(a["createdInPeriod"], 4);
    assert_eq!(a["conversionRate"], 0.25);
    let owned = a["byOwner"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["owner"]["email"] == owner.email.as_str())
        .unwrap();
    assert_eq!(owned["count"], 3);
    assert_eq!(a["bySource"][0], json!({ "count": 4, "source": null }));
}

#[tokio::test]
async fn concurrent_changes_all_succeed() {
    // On SQLite a deferred transaction that reads then writes fails at once
    // when another writer got in first; writes must queue, not fail.
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let create = |i: usize| {
        let app = &app;
        let owner = &owner;
        async move {
            app.gql_as(
                &owner.access_token,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({ "input": { "email": format!("c{i}@example.com"), "tags": ["t"] } }),
            )
            .await
        }
    };

    let results = futures::future::join_all((0..24).map(create)).await;

    for result in &results {
        assert!(result.is_ok(), "{:?}", result.body);
    }
    assert_eq!(app.count("leads", "1 = 1").await, 24);
}
