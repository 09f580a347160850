//! Attributes declared once (`leads::attributes`, `companies::attributes`):
//! seed 001's qualification and digital-presence signals go through create,
//! update, filter, templates and scoring from their one declaration, inside
//! the caller's tenant only.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field};

const LEAD_FIELDS: &str =
    "id linkedinUrl isDecisionMaker bookingPotential digitalMaturityScore followUpStage score";
const COMPANY_FIELDS: &str =
    "id name hasGoogleMapsListing googleRating googleReviewCount priceLevel hasWeekendHours";

async fn create_lead(app: &TestApp, session: &Session, input: Value) -> Value {
    app.gql_as(
        &session.access_token,
        &format!("mutation($i: CreateLeadInput!) {{ createLead(input: $i) {{ {LEAD_FIELDS} }} }}"),
        json!({ "i": input }),
    )
    .await
    .data("createLead")
    .clone()
}

async fn lead_emails(app: &TestApp, session: &Session, filter: Value) -> Vec<String> {
    let page = app
        .gql_as(
            &session.access_token,
            "query($f: LeadFilter) { leads(first: 50, filter: $f) { nodes { email } } }",
            json!({ "f": filter }),
        )
        .await;
    let mut emails: Vec<String> = page.data("leads")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn new_lead_signals_are_created_updated_cleared_and_checked() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let lead = create_lead(
        &app,
        &owner,
        json!({ "email": "ada@x.example", "linkedinUrl": "https://www.linkedin.com/in/ada",
                "isDecisionMaker": true, "bookingPotential": "HIGH",
                "digitalMaturityScore": 72, "followUpStage": " second call " }),
    )
    .await;
    assert_eq!(lead["linkedinUrl"], "https://www.linkedin.com/in/ada");
    assert_eq!(lead["isDecisionMaker"], true);
    assert_eq!(lead["bookingPotential"], "HIGH");
    assert_eq!(lead["digitalMaturityScore"], 72);
    assert_eq!(lead["followUpStage"], "second call");

    let update = format!(
        "mutation($id: ID!, $i: UpdateLeadInput!) {{ updateLead(id: $id, input: $i) {{ {LEAD_FIELDS} }} }}"
    );
    let updated = app
        .gql_as(
            &owner.access_token,
            &update,
            json!({ "id": lead["id"], "i": { "bookingPotential": "LOW", "isDecisionMaker": null } }),
        )
        .await;
    let updated = updated.data("updateLead");
    assert_eq!(updated["bookingPotential"], "LOW");
    assert_eq!(updated["isDecisionMaker"], Value::Null);
    // Absent fields stay as they were.
    assert_eq!(updated["digitalMaturityScore"], 72);
    assert_eq!(updated["linkedinUrl"], "https://www.linkedin.com/in/ada");

    for (input, field) in [
        (
            json!({ "email": "b@x.example", "linkedinUrl": "ftp://files.example/ada" }),
            "input.linkedinUrl",
        ),
        (
            json!({ "email": "b@x.example", "linkedinUrl": "not a url" }),
            "input.linkedinUrl",
        ),
        (
            json!({ "email": "b@x.example", "digitalMaturityScore": 101 }),
            "input.digitalMaturityScore",
        ),
        (
            json!({ "email": "b@x.example", "digitalMaturityScore": -1 }),
            "input.digitalMaturityScore",
        ),
        (
            json!({ "email": "b@x.example", "followUpStage": "x".repeat(201) }),
            "input.followUpStage",
        ),
    ] {
        let refused = app
            .gql_as(
                &owner.access_token,
                "mutation($i: CreateLeadInput!) { createLead(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        assert_eq!(bad_field(&refused), field, "{input}");
    }
    let refused = app
        .gql_as(
            &owner.access_token,
            &update,
            json!({ "id": lead["id"], "i": { "digitalMaturityScore": 150 } }),
        )
        .await;
    assert_eq!(bad_field(&refused), "input.digitalMaturityScore");
    assert_eq!(app.count("leads", "email = 'b@x.example'").await, 0);
}

#[tokio::test]
async fn leads_filter_on_the_new_signals_within_the_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    for (session, domain) in [(&owner, "acme"), (&other, "globex")] {
        create_lead(
            &app,
            session,
            json!({ "email": format!("hot@{domain}.example"), "bookingPotential": "HIGH",
                    "digitalMaturityScore": 80, "isDecisionMaker": true,
                    "linkedinUrl": "https://linkedin.example/in/hot", "followUpStage": "demo booked" }),
        )
        .await;
        create_lead(
            &app,
            session,
            json!({ "email": format!("cold@{domain}.example"), "bookingPotential": "LOW",
                    "digitalMaturityScore": 20, "isDecisionMaker": false }),
        )
        .await;
        create_lead(
            &app,
            session,
            json!({ "email": format!("unknown@{domain}.example") }),
        )
        .await;
    }

    let cases = [
        (
            json!({ "bookingPotential": { "eq": "HIGH" } }),
            vec!["hot@acme.example"],
        ),
        (
            json!({ "bookingPotential": { "in": ["HIGH", "LOW"] } }),
            vec!["cold@acme.example", "hot@acme.example"],
        ),
        (
            json!({ "bookingPotential": { "ne": "HIGH" } }),
            vec!["cold@acme.example", "unknown@acme.example"],
        ),
        (
            json!({ "digitalMaturityScore": { "gte": 50 } }),
            vec!["hot@acme.example"],
        ),
        (
            json!({ "isDecisionMaker": { "eq": false } }),
            vec!["cold@acme.example"],
        ),
        (
            json!({ "isDecisionMaker": { "isNull": true } }),
            vec!["unknown@acme.example"],
        ),
        (
            json!({ "linkedinUrl": { "contains": "LINKEDIN" } }),
            vec!["hot@acme.example"],
        ),
        (
            json!({ "followUpStage": { "startsWith": "demo" } }),
            vec!["hot@acme.example"],
        ),
        (
            json!({ "or": [{ "digitalMaturityScore": { "lt": 30 } }, { "bookingPotential": { "eq": "HIGH" } }] }),
            vec!["cold@acme.example", "hot@acme.example"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            lead_emails(&app, &owner, filter.clone()).await,
            expected,
            "{filter}"
        );
    }
    // The other tenant sees its own leads under the same filter, never these.
    assert_eq!(
        lead_emails(
            &app,
            &other,
            json!({ "bookingPotential": { "eq": "HIGH" } })
        )
        .await,
        vec!["hot@globex.example"]
    );
}

#[tokio::test]
async fn templates_and_scoring_rules_use_the_new_signals() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for (criteria, value, points) in [
        ("isDecisionMaker", json!(true), 30),
        ("bookingPotential", json!("HIGH"), 20),
        ("digitalMaturityScore", json!(50), 5),
    ] {
        let condition = if criteria == "digitalMaturityScore" {
            "GT"
        } else {
            "EQUALS"
        };
        app.gql_as(
            &owner.access_token,
            "mutation($i: CreateScoringRuleInput!) { createScoringRule(input: $i) { id value } }",
            json!({ "i": { "name": criteria, "criteria": criteria, "condition": condition,
                           "value": value, "points": points } }),
        )
        .await
        .data("createScoringRule");
    }
    let refused = app
        .gql_as(
            &owner.access_token,
            "mutation($i: CreateScoringRuleInput!) { createScoringRule(input: $i) { id } }",
            json!({ "i": { "name": "x", "criteria": "bookingPotential", "condition": "EQUALS",
                           "value": "enormous", "points": 1 } }),
        )
        .await;
    assert_eq!(bad_field(&refused), "input.value");

    let lead = create_lead(
        &app,
        &owner,
        json!({ "email": "ada@x.example", "firstName": "Ada", "isDecisionMaker": true,
                "bookingPotential": "HIGH", "digitalMaturityScore": 60,
                "followUpStage": "second call" }),
    )
    .await;
    assert_eq!(lead["score"], 55);
    let cold = create_lead(
        &app,
        &owner,
        json!({ "email": "bob@x.example", "isDecisionMaker": false, "bookingPotential": "LOW" }),
    )
    .await;
    assert_eq!(cold["score"], 0);

    let template = app
        .gql_as(
            &owner.access_token,
            "mutation($i: CreateMessageTemplateInput!) { createMessageTemplate(input: $i) { id } }",
            json!({ "i": { "name": "Signals", "subject": "For {{ lead.firstName }}",
                           "textBody": "{{ lead.bookingPotential }}/{{ lead.digitalMaturityScore }}/{% if lead.isDecisionMaker %}decides{% endif %}/{{ lead.followUpStage }}/{{ lead.linkedinUrl | default('none') }}" } }),
        )
        .await;
    let template = template.data("createMessageTemplate")["id"].clone();
    let preview = app
        .gql_as(
            &owner.access_token,
            "query($t: ID!, $l: ID!) { previewTemplate(templateId: $t, leadId: $l) { textBody } }",
            json!({ "t": template, "l": lead["id"] }),
        )
        .await;
    assert_eq!(
        preview.data("previewTemplate")["textBody"],
        "high/60/decides/second call/none"
    );
}

#[tokio::test]
async fn company_presence_signals_are_typed_filterable_and_tenant_scoped() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let create = format!(
        "mutation($i: CreateCompanyInput!) {{ createCompany(input: $i) {{ {COMPANY_FIELDS} }} }}"
    );
    let listed = app
        .gql_as(
            &owner.access_token,
            &create,
            json!({ "i": { "name": "Salon Uno", "hasGoogleMapsListing": true, "googleRating": 4.567,
                           "googleReviewCount": 212, "priceLevel": 2, "hasWeekendHours": true } }),
        )
        .await;
    let listed = listed.data("createCompany").clone();
    assert_eq!(listed["googleRating"], 4.57);
    assert_eq!(listed["priceLevel"], 2);
    app.gql_as(
        &owner.access_token,
        &create,
        json!({ "i": { "name": "Quiet Ltd", "hasGoogleMapsListing": false, "priceLevel": 4 } }),
    )
    .await
    .data("createCompany");
    app.gql_as(
        &other.access_token,
        &create,
        json!({ "i": { "name": "Salon Due", "hasGoogleMapsListing": true, "googleRating": 4.9 } }),
    )
    .await
    .data("createCompany");

    for (input, field) in [
        (json!({ "name": "x", "priceLevel": 5 }), "input.priceLevel"),
        (
            json!({ "name": "x", "googleRating": 5.5 }),
            "input.googleRating",
        ),
        (
            json!({ "name": "x", "googleReviewCount": -3 }),
            "input.googleReviewCount",
        ),
    ] {
        let refused = app
            .gql_as(&owner.access_token, &create, json!({ "i": input }))
            .await;
        assert_eq!(bad_field(&refused), field);
    }

    let names = |session: &Session, filter: Value| {
        let (app, token) = (&app, session.access_token.clone());
        async move {
            let page = app
                .gql_as(
                    &token,
                    "query($f: CompanyFilter) { companies(first: 20, filter: $f) { edges { node { name } } } }",
                    json!({ "f": filter }),
                )
                .await;
            let mut names: Vec<String> = page.data("companies")["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        names(&owner, json!({ "googleRating": { "gte": 4.5 } })).await,
        vec!["Salon Uno"]
    );
    assert_eq!(
        names(&owner, json!({ "hasGoogleMapsListing": { "eq": true } })).await,
        vec!["Salon Uno"]
    );
    assert_eq!(
        names(&owner, json!({ "priceLevel": { "in": [2, 4] } })).await,
        vec!["Quiet Ltd", "Salon Uno"]
    );
    assert_eq!(
        names(&owner, json!({ "not": { "priceLevel": { "eq": 4 } } })).await,
        vec!["Salon Uno"]
    );
    assert_eq!(
        names(&other, json!({ "hasGoogleMapsListing": { "eq": true } })).await,
        vec!["Salon Due"]
    );

    // Another tenant cannot change them.
    let foreign = app
        .gql_as(
            &other.access_token,
            "mutation($id: ID!) { updateCompany(id: $id, input: { priceLevel: 1 }) { id } }",
            json!({ "id": listed["id"] }),
        )
        .await;
    foreign.expect_error("NOT_FOUND");
    let updated = app
        .gql_as(
            &owner.access_token,
            &format!("mutation($id: ID!) {{ updateCompany(id: $id, input: {{ priceLevel: null, hasWeekendHours: false }}) {{ {COMPANY_FIELDS} }} }}"),
            json!({ "id": listed["id"] }),
        )
        .await;
    let updated = updated.data("updateCompany");
    assert_eq!(updated["priceLevel"], Value::Null);
    assert_eq!(updated["hasWeekendHours"], false);
    assert_eq!(updated["googleReviewCount"], 212);
}

#[tokio::test]
async fn leads_filter_by_project_source_and_upper_bounds_only_within_the_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let id_of = |response: &crate::helpers::Gql, field: &str| response.data(field)["id"].clone();
    let project = app
        .gql_as(
            &owner.access_token,
            "mutation { createProject(input: { name: \"Spring\" }) { id } }",
            json!({}),
        )
        .await;
    let project = id_of(&project, "createProject");
    let source = app
        .gql_as(
            &owner.access_token,
            "mutation { createLeadSource(input: { name: \"Site\", type: WEBSITE }) { id } }",
            json!({}),
        )
        .await;
    let source = id_of(&source, "createLeadSource");
    let placed = create_lead(
        &app,
        &owner,
        json!({ "email": "placed@acme.example", "projectId": project, "sourceId": source,
                "digitalMaturityScore": 30 }),
    )
    .await;
    create_lead(
        &app,
        &owner,
        json!({ "email": "loose@acme.example", "digitalMaturityScore": 80 }),
    )
    .await;

    for filter in [
        json!({ "projectId": { "eq": project } }),
        json!({ "sourceId": { "in": [source] } }),
        json!({ "digitalMaturityScore": { "lte": 30 } }),
    ] {
        assert_eq!(
            lead_emails(&app, &owner, filter.clone()).await,
            vec!["placed@acme.example"],
            "{filter}"
        );
    }
    assert_eq!(
        lead_emails(&app, &owner, json!({ "projectId": { "isNull": true } })).await,
        vec!["loose@acme.example"]
    );

    // Another tenant can neither point its leads at them nor find by them.
    for (input, field) in [
        (
            json!({ "email": "x@globex.example", "projectId": project }),
            "projectId",
        ),
        (
            json!({ "email": "x@globex.example", "sourceId": source }),
            "sourceId",
        ),
    ] {
        let refused = app
            .gql_as(
                &other.access_token,
                "mutation($i: CreateLeadInput!) { createLead(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        refused.expect_error("NOT_FOUND");
        assert_eq!(
            lead_emails(&app, &other, json!({ field: { "eq": input[field] } })).await,
            Vec::<String>::new()
        );
    }

    // `null` takes the lead out of its project and source again.
    let cleared = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { updateLead(id: $id, input: { projectId: null, sourceId: null }) { project { id } source { id } } }",
            json!({ "id": placed["id"] }),
        )
        .await;
    assert_eq!(cleared.data("updateLead")["project"], Value::Null);
    assert_eq!(cleared.data("updateLead")["source"], Value::Null);

    // Ratings have an upper bound too.
    for (name, rating) in [("Low", 3.9), ("High", 4.8)] {
        app.gql_as(
            &owner.access_token,
            "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id } }",
            json!({ "i": { "name": name, "googleRating": rating } }),
        )
        .await
        .data("createCompany");
    }
    let low = app
        .gql_as(
            &owner.access_token,
            "{ companies(first: 10, filter: { googleRating: { lte: 4.0 } }) { edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        low.data("companies")["edges"],
        json!([{ "node": { "name": "Low" } }])
    );
}
