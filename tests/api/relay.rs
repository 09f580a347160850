//! Relay global object identification: `Node`, `node(id:)`, `nodes(ids:)`.

use serde_json::{Value, json};

use crate::first_run::seeded_demo;
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

/// One object of every kind the demo tenant holds, plus what it lacks.
const EVERY_KIND: &str = "query($note: ID!) {
  tenant { id }
  me { user { id } }
  leads(first: 1) { nodes { id activities(first: 1) { nodes { id } } } }
  companies(first: 1) { nodes { id } }
  projects(first: 1) { nodes { id } }
  leadSources(first: 1) { nodes { id } }
  leadStages(first: 1) { nodes { id } }
  customFieldDefinitions(first: 1) { nodes { id } }
  note(id: $note) { id versions(first: 1) { nodes { id } } }
  scoringRules(first: 1) { nodes { id } }
  messageTemplates(first: 1) { nodes { id } }
  messages(first: 1, filter: { status: [OPENED, CLICKED] }) { nodes { id events(first: 1) { nodes { id } } } }
  senderAccounts(first: 1) { nodes { id } }
  customVariables(first: 1) { nodes { id } }
  suppressions(first: 1) { nodes { id } }
  outboxEmails(first: 1) { nodes { id } }
  tenantMembers(first: 1) { nodes { id } }
  invites(first: 1) { nodes { id } }
  apiKeys(first: 1) { nodes { id } }
  auditLog(first: 1) { nodes { id } }
  settings(first: 1) { nodes { id } }
  segments(first: 1) { nodes { id } }
}";

#[tokio::test]
async fn every_node_type_is_refetched_by_id_within_its_tenant_and_role() {
    let app = TestApp::spawn().await;
    let demo = seeded_demo(&app).await;
    let leads = app
        .gql_as(
            &demo.access_token,
            "{ leads(first: 50) { nodes { notes(first: 1) { nodes { id } } } } }",
            json!({}),
        )
        .await;
    let note = leads.data("leads")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|lead| lead["notes"]["nodes"].get(0).map(|n| n["id"].clone()))
        .expect("a demo lead with a note");
    for mutation in [
        "mutation { createProject(input: { name: \"Spring\" }) { id } }",
        "mutation { createCustomVariable(input: { key: \"promo\", label: \"Promo\" }) { id } }",
        "mutation { addSuppression(email: \"gone@example.org\") { id } }",
        "mutation { inviteUser(email: \"new@example.org\", role: MEMBER) { invite { id } } }",
        "mutation { createApiKey(name: \"sync\", scopes: [READ]) { apiKey { id } } }",
        "mutation { setSetting(key: \"ui.layout\", value: {}) { id } }",
    ] {
        let done = app.gql_as(&demo.access_token, mutation, json!({})).await;
        assert!(done.body["errors"].is_null(), "{mutation}: {}", done.body);
    }
    app.gql_as(
        &demo.access_token,
        "mutation($id: ID!) { updateNote(id: $id, input: { body: \"edited\" }) { id } }",
        json!({ "id": note }),
    )
    .await
    .data("updateNote");

    let listed = app
        .gql_as(&demo.access_token, EVERY_KIND, json!({ "note": note }))
        .await
        .body["data"]
        .clone();
    let first = |path: &[&str]| -> String {
        let mut value = &listed;
        for step in path {
            value = match step.parse::<usize>() {
                Ok(index) => &value[index],
                Err(_) => &value[*step],
            };
        }
        value
            .as_str()
            .unwrap_or_else(|| panic!("{path:?} in {listed}"))
            .to_owned()
    };
    let expected: Vec<(&str, String)> = vec![
        ("Tenant", first(&["tenant", "id"])),
        ("User", first(&["me", "user", "id"])),
        ("Lead", first(&["leads", "nodes", "0", "id"])),
        (
            "Activity",
            first(&["leads", "nodes", "0", "activities", "nodes", "0", "id"]),
        ),
        ("Company", first(&["companies", "nodes", "0", "id"])),
        ("Project", first(&["projects", "nodes", "0", "id"])),
        ("LeadSource", first(&["leadSources", "nodes", "0", "id"])),
        ("LeadStage", first(&["leadStages", "nodes", "0", "id"])),
        (
            "CustomFieldDefinition",
            first(&["customFieldDefinitions", "nodes", "0", "id"]),
        ),
        ("Note", first(&["note", "id"])),
        (
            "NoteVersion",
            first(&["note", "versions", "nodes", "0", "id"]),
        ),
        ("ScoringRule", first(&["scoringRules", "nodes", "0", "id"])),
        (
            "MessageTemplate",
            first(&["messageTemplates", "nodes", "0", "id"]),
        ),
        ("Message", first(&["messages", "nodes", "0", "id"])),
        (
            "EngagementEvent",
            first(&["messages", "nodes", "0", "events", "nodes", "0", "id"]),
        ),
        (
            "SenderAccount",
            first(&["senderAccounts", "nodes", "0", "id"]),
        ),
        (
            "CustomVariable",
            first(&["customVariables", "nodes", "0", "id"]),
        ),
        ("Suppression", first(&["suppressions", "nodes", "0", "id"])),
        ("OutboxEmail", first(&["outboxEmails", "nodes", "0", "id"])),
        ("Member", first(&["tenantMembers", "nodes", "0", "id"])),
        ("Invite", first(&["invites", "nodes", "0", "id"])),
        ("ApiKey", first(&["apiKeys", "nodes", "0", "id"])),
        ("AuditEntry", first(&["auditLog", "nodes", "0", "id"])),
        ("Setting", first(&["settings", "nodes", "0", "id"])),
        ("Segment", first(&["segments", "nodes", "0", "id"])),
    ];

    // The test covers every type the schema says is a Node.
    let possible = app
        .gql_as(
            &demo.access_token,
            "{ __type(name: \"Node\") { possibleTypes { name } } }",
            json!({}),
        )
        .await;
    let mut possible: Vec<String> = possible.data("__type")["possibleTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    possible.sort();
    let mut covered: Vec<String> = expected.iter().map(|(t, _)| t.to_string()).collect();
    covered.sort();
    assert_eq!(covered, possible);

    // Each id comes back as its own type, in the order asked.
    let ids: Vec<&String> = expected.iter().map(|(_, id)| id).collect();
    let found = app
        .gql_as(
            &demo.access_token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            json!({ "ids": ids }),
        )
        .await;
    let found = found.data("nodes").as_array().unwrap().clone();
    for ((typename, id), node) in expected.iter().zip(&found) {
        assert_eq!(node, &json!({ "__typename": typename, "id": id }));
    }

    // Another tenant sees none of them.
    let stranger = app.sign_up("other").await;
    let theirs = app
        .gql_as(
            &stranger.access_token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(theirs.data("nodes"), &json!(vec![Value::Null; ids.len()]));

    // A member reads what members may list, and is refused what only
    // admins may (API keys, invites, the audit log), as those lists are.
    let member = app.add_member(&demo, "member@example.org", "MEMBER").await;
    for (typename, id) in &expected {
        let read = app
            .gql_as(&member.access_token, NODE, json!({ "id": id }))
            .await;
        if ["ApiKey", "Invite", "AuditEntry"].contains(typename) {
            assert_eq!(read.code(), Some("FORBIDDEN"), "{typename}: {}", read.body);
        } else {
            assert_eq!(read.data("node")["__typename"], *typename, "{}", read.body);
        }
    }
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
