//! Custom field definitions: admins define typed fields on leads and
//! companies; keys, options and rules are checked; members and viewers
//! only read them; another tenant's definitions do not exist.

use serde_json::{Value, json};

use crate::helpers::{Gql, Session, TestApp, bad_field};

const FIELDS: &str = "id entity key label type required options validation { min max minLength maxLength regex } position";

fn create_query() -> String {
    format!(
        "mutation($input: CreateCustomFieldDefinitionInput!) {{ createCustomFieldDefinition(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateCustomFieldDefinitionInput!) {{ updateCustomFieldDefinition(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deleteCustomFieldDefinition(id: $id) { id key } }";
const LIST: &str = "query($entity: CustomFieldEntity) { customFieldDefinitions(entity: $entity) { nodes { id entity key position } } }";

async fn try_create(app: &TestApp, session: &Session, input: Value) -> Gql {
    app.gql_as(
        &session.access_token,
        &create_query(),
        json!({ "input": input }),
    )
    .await
}

async fn create(app: &TestApp, session: &Session, input: Value) -> Value {
    try_create(app, session, input)
        .await
        .data("createCustomFieldDefinition")
        .clone()
}

async fn list(app: &TestApp, session: &Session, entity: Option<&str>) -> Vec<Value> {
    app.gql_as(&session.access_token, LIST, json!({ "entity": entity }))
        .await
        .data("customFieldDefinitions")["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn keys(definitions: &[Value]) -> Vec<&str> {
    definitions
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_admin_defines_fields_listed_per_entity_in_order() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let tier = create(
        &app,
        &owner,
        json!({
            "entity": "COMPANY", "key": "tier", "label": "Tier", "type": "SELECT",
            "options": [" gold ", "silver"], "required": true,
        }),
    )
    .await;
    let code = create(
        &app,
        &owner,
        json!({
            "entity": "COMPANY", "key": "vatId", "label": "VAT id", "type": "TEXT",
            "validation": { "minLength": 4, "maxLength": 14, "regex": "^[A-Z]{2}[0-9A-Z]+$" },
        }),
    )
    .await;
    create(
        &app,
        &owner,
        json!({ "entity": "COMPANY", "key": "first", "label": "First", "type": "BOOLEAN", "position": 0 }),
    )
    .await;
    // The same key on another entity is a different field.
    let lead_tier = create(
        &app,
        &owner,
        json!({ "entity": "LEAD", "key": "tier", "label": "Tier", "type": "NUMBER", "validation": { "min": 0, "max": 5 } }),
    )
    .await;

    assert_eq!(tier["type"], "SELECT");
    assert_eq!(tier["options"], json!(["gold", "silver"]));
    assert_eq!(tier["required"], true);
    assert_eq!(tier["position"], 0);
    assert_eq!(
        tier["validation"],
        json!({ "min": null, "max": null, "minLength": null, "maxLength": null, "regex": null })
    );
    assert_eq!(code["position"], 1, "after the last field by default");
    assert_eq!(code["validation"]["maxLength"], 14);
    assert_eq!(code["validation"]["regex"], "^[A-Z]{2}[0-9A-Z]+$");
    assert_eq!(lead_tier["validation"]["max"], 5.0);
    let company_fields = list(&app, &owner, Some("COMPANY")).await;
    assert_eq!(keys(&company_fields), ["first", "tier", "vatId"]);
    let positions: Vec<&Value> = company_fields.iter().map(|d| &d["position"]).collect();
    assert_eq!(positions, [0, 1, 2], "inserting shifts the others");
    assert_eq!(keys(&list(&app, &owner, Some("LEAD")).await), ["tier"]);
    assert_eq!(list(&app, &owner, None).await.len(), 4);
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'createCustomFieldDefinition' AND outcome = 'success' AND entity_type = 'custom_field_definition'"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn bad_definitions_name_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    create(
        &app,
        &owner,
        json!({ "entity": "LEAD", "key": "budget", "label": "Budget", "type": "NUMBER" }),
    )
    .await;
    let base = |extra: Value| {
        let mut input = json!({ "entity": "LEAD", "key": "k", "label": "L", "type": "TEXT" });
        for (key, value) in extra.as_object().unwrap() {
            input[key] = value.clone();
        }
        input
    };

    let cases = [
        (base(json!({ "key": "Budget" })), "input.key"),
        (base(json!({ "key": "9lives" })), "input.key"),
        (base(json!({ "key": "has-dash" })), "input.key"),
        (
            base(json!({ "key": format!("a{}", "b".repeat(63)) })),
            "input.key",
        ),
        (base(json!({ "key": "budget" })), "input.key"),
        (base(json!({ "label": " " })), "input.label"),
        (base(json!({ "type": "SELECT" })), "input.options"),
        (
            base(json!({ "type": "MULTISELECT", "options": [] })),
            "input.options",
        ),
        (
            base(json!({ "type": "SELECT", "options": ["a", "a"] })),
            "input.options",
        ),
        (base(json!({ "options": ["a"] })), "input.options"),
        (
            base(json!({ "validation": { "regex": "([a-z" } })),
            "input.validation.regex",
        ),
        (
            base(json!({ "validation": { "min": 1 } })),
            "input.validation.min",
        ),
        (
            base(json!({ "validation": { "minLength": 5, "maxLength": 2 } })),
            "input.validation.maxLength",
        ),
        (
            base(json!({ "type": "NUMBER", "validation": { "min": 10, "max": 1 } })),
            "input.validation.max",
        ),
        (
            base(json!({ "type": "NUMBER", "validation": { "regex": "x" } })),
            "input.validation.regex",
        ),
        (base(json!({ "position": -1 })), "input.position"),
    ];

    for (input, expected) in cases {
        let response = try_create(&app, &owner, input.clone()).await;
        assert_eq!(bad_field(&response), expected, "{input}");
    }
    assert_eq!(app.count("custom_field_definitions", "1 = 1").await, 1);
}

#[tokio::test]
async fn an_update_changes_label_rules_and_options_but_not_the_key() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let tier = create(
        &app,
        &owner,
        json!({ "entity": "COMPANY", "key": "tier", "label": "Tier", "type": "SELECT", "options": ["a"] }),
    )
    .await;
    let note = create(
        &app,
        &owner,
        json!({ "entity": "COMPANY", "key": "note", "label": "Note", "type": "TEXT", "validation": { "maxLength": 5 } }),
    )
    .await;

    let updated = app
        .gql_as(
            &owner.access_token,
            &update_query(),
            json!({ "id": tier["id"], "input": { "label": "Level", "options": ["a", "b"], "required": true, "position": 9 } }),
        )
        .await;
    let cleared = app
        .gql_as(
            &owner.access_token,
            &update_query(),
            json!({ "id": note["id"], "input": { "validation": null } }),
        )
        .await;
    let no_options = app
        .gql_as(
            &owner.access_token,
            &update_query(),
            json!({ "id": tier["id"], "input": { "options": [] } }),
        )
        .await;
    let bad_rule = app
        .gql_as(
            &owner.access_token,
            &update_query(),
            json!({ "id": note["id"], "input": { "validation": { "regex": "(" } } }),
        )
        .await;
    let key_change = app
        .gql_as(
            &owner.access_token,
            &update_query(),
            json!({ "id": note["id"], "input": { "key": "other" } }),
        )
        .await;

    let updated = updated.data("updateCustomFieldDefinition");
    assert_eq!(updated["label"], "Level");
    assert_eq!(updated["options"], json!(["a", "b"]));
    assert_eq!(updated["required"], true);
    assert_eq!(updated["position"], 1, "moved past the end: last");
    assert_eq!(
        keys(&list(&app, &owner, Some("COMPANY")).await),
        ["note", "tier"]
    );
    assert_eq!(updated["key"], "tier");
    assert_eq!(
        cleared.data("updateCustomFieldDefinition")["validation"]["maxLength"],
        Value::Null
    );
    assert_eq!(bad_field(&no_options), "input.options");
    assert_eq!(bad_field(&bad_rule), "input.validation.regex");
    assert!(!key_change.is_ok(), "the key cannot change");
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'updateCustomFieldDefinition' AND outcome = 'success' AND entity_type = 'custom_field_definition'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_deleted_definition_is_gone_and_its_stored_values_are_dropped_on_the_next_write() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let size = create(
        &app,
        &owner,
        json!({ "entity": "COMPANY", "key": "seats", "label": "Seats", "type": "NUMBER" }),
    )
    .await;
    create(
        &app,
        &owner,
        json!({ "entity": "COMPANY", "key": "tier", "label": "Tier", "type": "TEXT" }),
    )
    .await;
    let company = app
        .gql_as(
            &owner.access_token,
            "mutation { createCompany(input: { name: \"C\", customFields: { seats: 3, tier: \"a\" } }) { id customFields } }",
            json!({}),
        )
        .await;
    let company = company.data("createCompany").clone();

    let deleted = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": size["id"] }))
        .await;
    let again = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": size["id"] }))
        .await;
    let rewritten = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { updateCompany(id: $id, input: { customFields: { tier: \"b\" } }) { customFields } }",
            json!({ "id": company["id"] }),
        )
        .await;
    let undefined_now = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { updateCompany(id: $id, input: { customFields: { seats: 4 } }) { customFields } }",
            json!({ "id": company["id"] }),
        )
        .await;

    assert_eq!(company["customFields"], json!({ "seats": 3, "tier": "a" }));
    assert_eq!(deleted.data("deleteCustomFieldDefinition")["key"], "seats");
    again.expect_error("NOT_FOUND");
    let remaining = list(&app, &owner, Some("COMPANY")).await;
    assert_eq!(keys(&remaining), ["tier"]);
    assert_eq!(remaining[0]["position"], 0, "the others close up");
    assert_eq!(
        rewritten.data("updateCompany")["customFields"],
        json!({ "tier": "b" })
    );
    assert_eq!(bad_field(&undefined_now), "input.customFields.seats");
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'deleteCustomFieldDefinition' AND outcome = 'success' AND entity_type = 'custom_field_definition'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn only_admins_change_definitions_while_everyone_reads_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let write_key = app.api_key(&owner, &["WRITE"]).await;
    let admin_key = app.api_key(&owner, &["ADMIN"]).await;
    let field = create(
        &app,
        &owner,
        json!({ "entity": "LEAD", "key": "x", "label": "X", "type": "TEXT" }),
    )
    .await;

    for token in [
        member.access_token.as_str(),
        viewer.access_token.as_str(),
        write_key.as_str(),
    ] {
        app.gql_as(
            token,
            &create_query(),
            json!({ "input": { "entity": "LEAD", "key": "y", "label": "Y", "type": "TEXT" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(
            token,
            &update_query(),
            json!({ "id": field["id"], "input": { "label": "changed" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": field["id"] }))
            .await
            .expect_error("FORBIDDEN");
        let read = app.gql_as(token, LIST, json!({})).await;
        assert_eq!(read.data("customFieldDefinitions")["nodes"][0]["key"], "x");
    }
    let by_admin_key = app
        .gql_as(
            &admin_key,
            &create_query(),
            json!({ "input": { "entity": "LEAD", "key": "z", "label": "Z", "type": "DATE" } }),
        )
        .await;

    assert_eq!(by_admin_key.data("createCustomFieldDefinition")["key"], "z");
    assert_eq!(
        app.count("custom_field_definitions", "label = 'X'").await,
        1
    );
    assert_eq!(app.count("custom_field_definitions", "1 = 1").await, 2);
    assert_eq!(
        app.count(
            "audit_log",
            "action LIKE '%CustomFieldDefinition' AND error_code = 'FORBIDDEN'"
        )
        .await,
        9
    );
}

#[tokio::test]
async fn another_tenants_definitions_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let theirs = create(
        &app,
        &beta,
        json!({ "entity": "COMPANY", "key": "secret", "label": "Secret", "type": "TEXT", "required": true }),
    )
    .await;

    let update = app
        .gql_as(
            &alpha.access_token,
            &update_query(),
            json!({ "id": theirs["id"], "input": { "label": "pwned" } }),
        )
        .await;
    let delete = app
        .gql_as(&alpha.access_token, DELETE, json!({ "id": theirs["id"] }))
        .await;
    // Their required field does not apply to our companies.
    let our_company = app
        .gql_as(
            &alpha.access_token,
            "mutation { createCompany(input: { name: \"Ours\" }) { customFields } }",
            json!({}),
        )
        .await;
    let our_list = list(&app, &alpha, None).await;

    update.expect_error("NOT_FOUND");
    delete.expect_error("NOT_FOUND");
    assert_eq!(our_company.data("createCompany")["customFields"], json!({}));
    assert!(our_list.is_empty());
    assert_eq!(keys(&list(&app, &beta, None).await), ["secret"]);
    assert_eq!(
        app.count("custom_field_definitions", "label = 'Secret'")
            .await,
        1
    );
}
