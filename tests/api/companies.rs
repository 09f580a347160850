//! Companies: domains derived from websites and unique per tenant, ISO
//! countries, custom fields checked against their definitions, search,
//! paging, soft deletion, roles and tenant isolation.

use serde_json::{Value, json};

use crate::helpers::{Gql, Session, TestApp, bad_field, taken_field};

const FIELDS: &str = "id name website domain industry size phone description address { line1 line2 city region postalCode country } enrichment customFields createdAt updatedAt";

fn create_query() -> String {
    format!(
        "mutation($input: CreateCompanyInput!) {{ createCompany(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateCompanyInput!) {{ updateCompany(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deleteCompany(id: $id) { id } }";
const GET: &str = "query($id: ID!) { company(id: $id) { id name domain } }";
const LIST: &str = "query($first: Int, $after: String, $search: String) { companies(first: $first, after: $after, search: $search) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name domain } } } }";
const DEFINE: &str = "mutation($input: CreateCustomFieldDefinitionInput!) { createCustomFieldDefinition(input: $input) { id key } }";

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
        .data("createCompany")
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
    response.data("companies")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_company_is_created_with_a_normalised_domain_and_an_address() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let company = create(
        &app,
        &owner,
        json!({
            "name": "Globex", "website": "https://www.Globex.com:443/about?x=1",
            "industry": "Manufacturing", "size": "MEDIUM", "phone": "+49 30 1234",
            "address": { "line1": "Main St 1", "city": "Berlin", "postalCode": "10115", "country": "de" },
            "enrichment": { "rating": 4.5, "reviews": 120 },
        }),
    )
    .await;
    let read = app
        .gql_as(&owner.access_token, GET, json!({ "id": company["id"] }))
        .await;

    assert_eq!(company["website"], "https://www.Globex.com:443/about?x=1");
    assert_eq!(company["domain"], "globex.com");
    assert_eq!(company["size"], "MEDIUM");
    assert_eq!(
        company["address"],
        json!({ "line1": "Main St 1", "line2": null, "city": "Berlin", "region": null, "postalCode": "10115", "country": "DE" })
    );
    assert_eq!(
        company["enrichment"],
        json!({ "rating": 4.5, "reviews": 120 })
    );
    assert_eq!(company["customFields"], json!({}));
    assert_eq!(read.data("company")["domain"], "globex.com");
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'createCompany' AND outcome = 'success' AND entity_type = 'company'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_domain_another_live_company_has_is_refused_naming_that_company() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let globex = create(
        &app,
        &owner,
        json!({ "name": "Globex", "website": "globex.com" }),
    )
    .await;
    let other = create(
        &app,
        &owner,
        json!({ "name": "Other", "website": "other.com" }),
    )
    .await;

    let duplicate = try_create(
        &app,
        &owner,
        json!({ "name": "Globex again", "website": "HTTP://WWW.GLOBEX.COM/contact" }),
    )
    .await;
    let moved_onto = update(
        &app,
        &owner,
        &other["id"],
        json!({ "website": "globex.com" }),
    )
    .await;
    let same_company = update(
        &app,
        &owner,
        &globex["id"],
        json!({ "website": "https://globex.com/new" }),
    )
    .await;

    assert_eq!(taken_field(&duplicate), "input.website");
    let message = duplicate.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Globex"), "{message}");
    assert!(
        message.contains(globex["id"].as_str().unwrap()),
        "{message}"
    );
    assert_eq!(taken_field(&moved_onto), "input.website");
    assert_eq!(same_company.data("updateCompany")["domain"], "globex.com");
    assert_eq!(app.count("companies", "domain = 'globex.com'").await, 1);
}

#[tokio::test]
async fn deleting_a_company_frees_its_domain_and_hides_it() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let old = create(
        &app,
        &owner,
        json!({ "name": "Old Globex", "website": "globex.com" }),
    )
    .await;

    let deleted = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": old["id"] }))
        .await;
    let new = try_create(
        &app,
        &owner,
        json!({ "name": "New Globex", "website": "www.globex.com" }),
    )
    .await;
    let listed = app.gql_as(&owner.access_token, LIST, json!({})).await;

    assert_eq!(deleted.data("deleteCompany")["id"], old["id"]);
    assert_eq!(new.data("createCompany")["domain"], "globex.com");
    assert_eq!(names(&listed), ["New Globex"]);
    for query in [GET, DELETE] {
        app.gql_as(&owner.access_token, query, json!({ "id": old["id"] }))
            .await
            .expect_error("NOT_FOUND");
    }
    update(&app, &owner, &old["id"], json!({ "name": "x" }))
        .await
        .expect_error("NOT_FOUND");
    assert_eq!(
        app.count(
            "companies",
            "name = 'Old Globex' AND deleted_at IS NOT NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let company = create(&app, &owner, json!({ "name": "C" })).await;

    let create_cases = [
        (json!({ "name": "" }), "input.name"),
        (
            json!({ "name": "x", "website": "not a website" }),
            "input.website",
        ),
        (
            json!({ "name": "x", "website": "mailto:a@b.com" }),
            "input.website",
        ),
        (
            json!({ "name": "x", "address": { "country": "Germany" } }),
            "input.address.country",
        ),
        (
            json!({ "name": "x", "address": { "country": "XX" } }),
            "input.address.country",
        ),
        (
            json!({ "name": "x", "address": { "postalCode": "1".repeat(21) } }),
            "input.address.postalCode",
        ),
        (
            json!({ "name": "x", "enrichment": [1, 2] }),
            "input.enrichment",
        ),
        (
            json!({ "name": "x", "customFields": "text" }),
            "input.customFields",
        ),
        (
            json!({ "name": "x", "customFields": { "undefined": 1 } }),
            "input.customFields.undefined",
        ),
        (json!({ "name": "x", "phone": "call us" }), "input.phone"),
    ];
    for (input, expected) in create_cases {
        let response = try_create(&app, &owner, input.clone()).await;
        assert_eq!(bad_field(&response), expected, "{input}");
    }
    let update_cases = [
        (json!({ "name": " " }), "input.name"),
        (json!({ "website": "nope" }), "input.website"),
        (
            json!({ "address": { "country": "ZZ" } }),
            "input.address.country",
        ),
        (json!({ "enrichment": "x" }), "input.enrichment"),
    ];
    for (input, expected) in update_cases {
        let response = update(&app, &owner, &company["id"], input.clone()).await;
        assert_eq!(bad_field(&response), expected, "{input}");
    }
    let search = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "search": "x".repeat(201) }),
        )
        .await;
    assert_eq!(bad_field(&search), "search");
    assert_eq!(app.count("companies", "1 = 1").await, 1);
}

#[tokio::test]
async fn an_update_distinguishes_absent_from_null_down_to_address_parts() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let company = create(
        &app,
        &owner,
        json!({
            "name": "C", "website": "c.com", "industry": "Retail", "size": "SMALL",
            "address": { "line1": "1 Road", "city": "Paris", "country": "FR" },
        }),
    )
    .await;

    let first = update(
        &app,
        &owner,
        &company["id"],
        json!({ "industry": null, "address": { "city": "Lyon", "line1": null } }),
    )
    .await;
    let first = first.data("updateCompany").clone();
    let second = update(
        &app,
        &owner,
        &company["id"],
        json!({ "website": null, "size": null, "address": null }),
    )
    .await;
    let second = second.data("updateCompany").clone();

    assert_eq!(first["industry"], Value::Null);
    assert_eq!(first["size"], "SMALL", "absent stays");
    assert_eq!(first["domain"], "c.com");
    assert_eq!(first["address"]["city"], "Lyon");
    assert_eq!(first["address"]["line1"], Value::Null);
    assert_eq!(first["address"]["country"], "FR", "absent part stays");
    assert_eq!(second["website"], Value::Null);
    assert_eq!(
        second["domain"],
        Value::Null,
        "the domain follows the website"
    );
    assert_eq!(second["size"], Value::Null);
    assert_eq!(
        second["address"],
        json!({ "line1": null, "line2": null, "city": null, "region": null, "postalCode": null, "country": null })
    );
    assert_eq!(second["name"], "C");
}

#[tokio::test]
async fn custom_fields_are_checked_against_the_definitions_and_merged() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for input in [
        json!({ "entity": "COMPANY", "key": "tier", "label": "Tier", "type": "SELECT", "options": ["gold", "silver"], "required": true }),
        json!({ "entity": "COMPANY", "key": "employees", "label": "Employees", "type": "NUMBER", "validation": { "min": 1 } }),
        json!({ "entity": "COMPANY", "key": "founded", "label": "Founded", "type": "DATE" }),
        json!({ "entity": "LEAD", "key": "leadOnly", "label": "Lead only", "type": "TEXT" }),
    ] {
        app.gql_as(&owner.access_token, DEFINE, json!({ "input": input }))
            .await
            .data("createCustomFieldDefinition");
    }

    let missing_required = try_create(&app, &owner, json!({ "name": "A" })).await;
    let wrong_option = try_create(
        &app,
        &owner,
        json!({ "name": "A", "customFields": { "tier": "bronze" } }),
    )
    .await;
    let below_min = try_create(
        &app,
        &owner,
        json!({ "name": "A", "customFields": { "tier": "gold", "employees": 0 } }),
    )
    .await;
    let other_entity = try_create(
        &app,
        &owner,
        json!({ "name": "A", "customFields": { "tier": "gold", "leadOnly": "x" } }),
    )
    .await;
    let created = create(
        &app,
        &owner,
        json!({ "name": "A", "customFields": { "tier": "gold", "employees": 12, "founded": "2001-09-09" } }),
    )
    .await;
    let merged = update(
        &app,
        &owner,
        &created["id"],
        json!({ "customFields": { "employees": null, "tier": "silver" } }),
    )
    .await;
    let bad_date = update(
        &app,
        &owner,
        &created["id"],
        json!({ "customFields": { "founded": "2023-02-29" } }),
    )
    .await;
    let required_removed = update(
        &app,
        &owner,
        &created["id"],
        json!({ "customFields": { "tier": null } }),
    )
    .await;

    assert_eq!(bad_field(&missing_required), "input.customFields.tier");
    assert_eq!(bad_field(&wrong_option), "input.customFields.tier");
    assert_eq!(bad_field(&below_min), "input.customFields.employees");
    assert_eq!(bad_field(&other_entity), "input.customFields.leadOnly");
    assert_eq!(
        merged.data("updateCompany")["customFields"],
        json!({ "tier": "silver", "founded": "2001-09-09" })
    );
    assert_eq!(bad_field(&bad_date), "input.customFields.founded");
    assert_eq!(bad_field(&required_removed), "input.customFields.tier");
    assert_eq!(app.count("companies", "1 = 1").await, 1);
}

#[tokio::test]
async fn search_matches_name_or_domain_ignoring_case_and_pages() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for (name, website) in [
        ("Globex Corp", Some("globex.com")),
        ("Initech", Some("initech.io")),
        ("Umbrella", Some("umbrella-globex.net")),
        ("100% Organic", None),
        ("Hooli", None),
    ] {
        create(&app, &owner, json!({ "name": name, "website": website })).await;
    }

    let by_name_or_domain = app
        .gql_as(&owner.access_token, LIST, json!({ "search": "GLOBEX" }))
        .await;
    let by_domain = app
        .gql_as(&owner.access_token, LIST, json!({ "search": ".io" }))
        .await;
    let literal_percent = app
        .gql_as(&owner.access_token, LIST, json!({ "search": "0%" }))
        .await;
    let page_one = app
        .gql_as(&owner.access_token, LIST, json!({ "first": 3 }))
        .await;
    let page_two = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "first": 3, "after": page_one.data("companies")["pageInfo"]["endCursor"] }),
        )
        .await;

    assert_eq!(names(&by_name_or_domain), ["Umbrella", "Globex Corp"]);
    assert_eq!(by_name_or_domain.data("companies")["totalCount"], 2);
    assert_eq!(names(&by_domain), ["Initech"]);
    assert_eq!(names(&literal_percent), ["100% Organic"]);
    assert_eq!(page_one.data("companies")["totalCount"], 5);
    assert_eq!(names(&page_one), ["Hooli", "100% Organic", "Umbrella"]);
    assert_eq!(page_one.data("companies")["pageInfo"]["hasNextPage"], true);
    assert_eq!(names(&page_two), ["Initech", "Globex Corp"]);
    assert_eq!(page_two.data("companies")["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn viewers_cannot_change_companies_and_every_attempt_is_audited() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let company = create(&app, &owner, json!({ "name": "C" })).await;

    try_create(&app, &viewer, json!({ "name": "x" }))
        .await
        .expect_error("FORBIDDEN");
    update(&app, &viewer, &company["id"], json!({ "name": "x" }))
        .await
        .expect_error("FORBIDDEN");
    app.gql_as(&viewer.access_token, DELETE, json!({ "id": company["id"] }))
        .await
        .expect_error("FORBIDDEN");
    let read = app
        .gql_as(&viewer.access_token, GET, json!({ "id": company["id"] }))
        .await;

    assert_eq!(read.data("company")["name"], "C");
    assert_eq!(
        app.count("companies", "name = 'C' AND deleted_at IS NULL")
            .await,
        1
    );
    assert_eq!(app.count("companies", "1 = 1").await, 1);
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('createCompany', 'updateCompany', 'deleteCompany') AND error_code = 'FORBIDDEN'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn updates_and_deletes_are_audited_with_the_company() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let company = create(&app, &owner, json!({ "name": "C" })).await;

    update(&app, &owner, &company["id"], json!({ "name": "D" }))
        .await
        .data("updateCompany");
    app.gql_as(&owner.access_token, DELETE, json!({ "id": company["id"] }))
        .await
        .data("deleteCompany");

    for action in ["createCompany", "updateCompany", "deleteCompany"] {
        assert_eq!(
            app.count(
                "audit_log",
                &format!("action = '{action}' AND outcome = 'success' AND entity_type = 'company'")
            )
            .await,
            1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn another_tenants_companies_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let theirs = create(
        &app,
        &beta,
        json!({ "name": "Beta Co", "website": "shared.com" }),
    )
    .await;

    let get = app
        .gql_as(&alpha.access_token, GET, json!({ "id": theirs["id"] }))
        .await;
    let updated = update(&app, &alpha, &theirs["id"], json!({ "name": "pwned" })).await;
    let deleted = app
        .gql_as(&alpha.access_token, DELETE, json!({ "id": theirs["id"] }))
        .await;
    // Domains are unique per tenant, not globally.
    let ours = create(
        &app,
        &alpha,
        json!({ "name": "Alpha Co", "website": "https://shared.com" }),
    )
    .await;
    let listed = app
        .gql_as(&alpha.access_token, LIST, json!({ "search": "co" }))
        .await;

    get.expect_error("NOT_FOUND");
    updated.expect_error("NOT_FOUND");
    deleted.expect_error("NOT_FOUND");
    assert_eq!(ours["domain"], "shared.com");
    assert_eq!(names(&listed), ["Alpha Co"]);
    assert_eq!(
        app.count("companies", "name = 'Beta Co' AND deleted_at IS NULL")
            .await,
        1
    );
}
