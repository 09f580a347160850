//! Public forms: defined through GraphQL (fields checked against the lead's
//! fields and custom fields), drawn and submitted on the public routes with
//! no sign-in, each submission upserting its lead by email; bots dropped
//! silently; never another tenant's data.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field};

const CREATE: &str = "mutation($input: CreateFormInput!) { createForm(input: $input) { id publicId status publishedAt roundRobinOwnerIds urls { json embed submit } fields { key type mapsTo required placeholder helpText } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateFormInput!) { updateForm(id: $id, input: $input) { id status } }";
const SUBMISSIONS: &str = "query($f: FormSubmissionFilter) { formSubmissions(first: 20, filter: $f) { totalCount nodes { outcome data utm { source campaign } optIn lead { email firstName jobTitle tags } form { name } } } }";
const STATS: &str =
    "query($id: ID!) { form(id: $id) { stats { views submissions spamDropped conversionRate } } }";

fn fields() -> Value {
    json!([
        { "key": "email", "type": "EMAIL", "label": "Email", "required": true, "mapsTo": "email" },
        { "key": "first_name", "type": "TEXT", "label": "First name", "mapsTo": "firstName",
          "validation": { "maxLength": 40 } },
        { "key": "role", "type": "TEXT", "label": "Job title", "mapsTo": "jobTitle" },
        { "key": "topic", "type": "SELECT", "label": "Topic",
          "options": [{ "value": "demo", "label": "A demo" }, { "value": "pricing", "label": "Pricing" }] },
        { "key": "terms", "type": "CONSENT", "label": "I agree to be contacted", "required": true }
    ])
}

async fn form(app: &TestApp, s: &Session, extra: Value) -> Value {
    let mut input = json!({
        "name": "Contact us",
        "status": "PUBLISHED",
        "fields": fields(),
        "minFillSeconds": 0,
        "tags": ["web"],
    });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let created = app
        .gql_as(&s.access_token, CREATE, json!({ "input": input }))
        .await;
    created.data("createForm").clone()
}

/// The form's JSON, as a page that draws its own fetches it.
async fn drawn(app: &TestApp, public_id: &str) -> Value {
    let response = app
        .http
        .get(app.url(&format!("/f/{public_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn post_json(app: &TestApp, public_id: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/f/{public_id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A human's submission: the drawn token and an empty honeypot.
async fn submit(app: &TestApp, public_id: &str, values: Value) -> (u16, Value) {
    let hidden = drawn(app, public_id).await["hidden"].clone();
    let mut body = values;
    for (k, v) in hidden.as_object().unwrap() {
        body[k] = v.clone();
    }
    post_json(app, public_id, body).await
}

async fn submissions(app: &TestApp, s: &Session, filter: Value) -> Value {
    app.gql_as(&s.access_token, SUBMISSIONS, json!({ "f": filter }))
        .await
        .data("formSubmissions")
        .clone()
}

#[tokio::test]
async fn a_submission_creates_its_lead_then_updates_it_by_email_never_twice() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = form(&app, &owner, json!({})).await;
    let public_id = created["publicId"].as_str().unwrap();
    assert!(public_id.len() >= 22, "an unguessable id: {public_id}");
    assert!(created["publishedAt"].is_string());
    assert_eq!(created["roundRobinOwnerIds"], json!([]));
    assert_eq!(created["fields"][0]["placeholder"], Value::Null);
    assert_eq!(created["fields"][0]["helpText"], Value::Null);

    let (status, body) = submit(
        &app,
        public_id,
        json!({ "email": "Ada@Example.com", "first_name": "Ada", "topic": "demo", "terms": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);

    // Fill blanks (the default policy): the name stays, the job title is new.
    let (status, _) = submit(
        &app,
        public_id,
        json!({ "email": "ada@example.com", "first_name": "Other", "role": "CTO", "terms": "on" }),
    )
    .await;
    assert_eq!(status, 200);

    let listed = submissions(&app, &owner, json!({})).await;
    assert_eq!(listed["totalCount"], 2);
    let nodes = listed["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["outcome"], "UPDATED");
    assert_eq!(nodes[1]["outcome"], "CREATED");
    assert_eq!(nodes[0]["lead"]["email"], "ada@example.com");
    assert_eq!(nodes[0]["lead"]["firstName"], "Ada");
    assert_eq!(nodes[0]["lead"]["jobTitle"], "CTO");
    assert_eq!(nodes[0]["lead"]["tags"], json!(["web"]));
    assert_eq!(nodes[1]["data"]["topic"], "demo");
    assert_eq!(app.count("leads", "deleted_at IS NULL").await, 1);
    assert_eq!(
        app.count("activities", "activity_type = 'form_submitted'")
            .await,
        2
    );
    assert_eq!(
        app.count("domain_events", "kind = 'form.submitted'").await,
        2
    );

    // Overwrite replaces what the lead has.
    app.gql_as(
        &owner.access_token,
        UPDATE,
        json!({ "id": created["id"], "input": { "updatePolicy": "OVERWRITE" } }),
    )
    .await
    .data("updateForm");
    submit(
        &app,
        public_id,
        json!({ "email": "ada@example.com", "first_name": "Augusta", "terms": true }),
    )
    .await;
    let latest = submissions(&app, &owner, json!({})).await;
    assert_eq!(latest["nodes"][0]["lead"]["firstName"], "Augusta");
}

#[tokio::test]
async fn every_invalid_field_is_reported_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = form(&app, &owner, json!({})).await;
    let public_id = created["publicId"].as_str().unwrap();

    let (status, body) = submit(
        &app,
        public_id,
        json!({ "email": "not-an-address", "first_name": "x".repeat(41), "topic": "gold" }),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "first_name", "terms", "topic"]);
    assert!(body["errors"][0]["message"].as_str().is_some());
    assert_eq!(app.count("leads", "true").await, 0);
    assert_eq!(app.count("form_submissions", "true").await, 0);

    // Wrong content type, broken JSON.
    let response = app
        .http
        .post(app.url(&format!("/f/{public_id}")))
        .header("content-type", "text/plain")
        .body("email=a@b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = app
        .http
        .post(app.url(&format!("/f/{public_id}")))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    // Too large a body.
    let response = app
        .http
        .post(app.url(&format!("/f/{public_id}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email=a%40b.c&role={}", "x".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn bots_see_success_but_nothing_is_stored_and_the_spam_counter_grows() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = form(&app, &owner, json!({ "minFillSeconds": 30 })).await;
    let public_id = created["publicId"].as_str().unwrap();
    let good = json!({ "email": "bot@example.com", "terms": true });

    // Filled the honeypot.
    let mut with_honeypot = good.clone();
    with_honeypot["_website"] = json!("http://spam.example");
    let (status, body) = post_json(&app, public_id, with_honeypot).await;
    assert_eq!((status, body["ok"].clone()), (200, json!(true)));
    // No drawn token at all, and one drawn a moment ago (faster than 30 s).
    let (status, _) = post_json(&app, public_id, good.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = submit(&app, public_id, good.clone()).await;
    assert_eq!(status, 200);
    // A forged token.
    let mut forged = good;
    forged["_drawn"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    post_json(&app, public_id, forged).await;

    assert_eq!(app.count("leads", "true").await, 0);
    assert_eq!(app.count("form_submissions", "true").await, 0);
    let stats = app
        .gql_as(&owner.access_token, STATS, json!({ "id": created["id"] }))
        .await
        .data("form")["stats"]
        .clone();
    assert_eq!(stats["spamDropped"], 4);
    assert_eq!(stats["submissions"], 0);
    // Two drawings of the form: the `submit` above and none other.
    assert_eq!(stats["views"], 1);
}

#[tokio::test]
async fn the_html_form_works_without_javascript_and_escapes_what_was_typed() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = form(
        &app,
        &owner,
        json!({ "title": "<script>alert(1)</script>", "successMessage": "Thanks <b>you</b>" }),
    )
    .await;
    let embed = app
        .http
        .get(created["urls"]["embed"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!embed.contains("<script>alert(1)</script>"));
    assert!(embed.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(embed.contains("<label for=\"f-email\">"));
    let drawn_token = embed
        .split("name=\"_drawn\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    // An error: the form again, with the message and the value kept (escaped).
    let action = created["urls"]["submit"].as_str().unwrap();
    let response = app
        .http
        .post(action)
        .form(&[
            ("email", "nope"),
            ("first_name", "<img src=x onerror=alert(1)>"),
            ("_drawn", &drawn_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("role=\"alert\""));
    assert!(page.contains("aria-invalid=\"true\""));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.contains("<img src=x"));

    // Fixed: stored as typed, answered with the success message (escaped).
    let response = app
        .http
        .post(action)
        .form(&[
            ("email", "grace@example.com"),
            ("first_name", "<img src=x onerror=alert(1)>"),
            ("terms", "on"),
            ("_drawn", &drawn_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Thanks &lt;b&gt;you&lt;/b&gt;")
    );
    let listed = submissions(&app, &owner, json!({})).await;
    assert_eq!(
        listed["nodes"][0]["lead"]["firstName"],
        "<img src=x onerror=alert(1)>"
    );

    // Multipart works too.
    let multipart = reqwest::multipart::Form::new()
        .text("email", "alan@example.com")
        .text("terms", "on")
        .text("_drawn", drawn_token.clone());
    let response = app
        .http
        .post(action)
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("leads", "deleted_at IS NULL").await, 2);
}

/// `createForm` with these fields (and a fresh name): the response.
async fn create_with(app: &TestApp, s: &Session, fields: Value) -> crate::helpers::Gql {
    let input = json!({ "name": uuid::Uuid::now_v7().to_string(), "fields": fields });
    app.gql_as(&s.access_token, CREATE, json!({ "input": input }))
        .await
}

#[tokio::test]
async fn a_form_is_checked_against_the_lead_fields_when_saved() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let mut no_email = fields();
    no_email.as_array_mut().unwrap().remove(0);
    assert_eq!(
        bad_field(&create_with(&app, &owner, no_email).await),
        "input.fields"
    );

    let mut unknown = fields();
    unknown[1]["mapsTo"] = json!("favouriteColour");
    assert_eq!(
        bad_field(&create_with(&app, &owner, unknown).await),
        "input.fields.1.mapsTo"
    );

    let mut custom = fields();
    custom[3]["mapsTo"] = json!("customFields.interest");
    assert_eq!(
        bad_field(&create_with(&app, &owner, custom.clone()).await),
        "input.fields.3.mapsTo"
    );
    // Once the custom field exists, a select's options must be its options.
    app.gql_as(
        &owner.access_token,
        "mutation { createCustomFieldDefinition(input: { entity: LEAD, key: \"interest\", label: \"Interest\", type: SELECT, options: [\"demo\"] }) { id } }",
        json!({}),
    )
    .await
    .data("createCustomFieldDefinition");
    assert_eq!(
        bad_field(&create_with(&app, &owner, custom.clone()).await),
        "input.fields.3.mapsTo"
    );
    custom[3]["options"] = json!([{ "value": "demo", "label": "A demo" }]);
    let r = create_with(&app, &owner, custom).await;
    assert!(r.is_ok(), "{:?}", r.body);

    let mut twice = fields();
    twice[2]["key"] = json!("first_name");
    assert_eq!(
        bad_field(&create_with(&app, &owner, twice).await),
        "input.fields.2.key"
    );

    for (extra, field) in [
        (
            json!({ "redirectUrl": "javascript:alert(1)" }),
            "input.redirectUrl",
        ),
        (
            json!({ "doubleOptIn": true }),
            "input.confirmationTemplateId",
        ),
    ] {
        let mut input = json!({ "name": uuid::Uuid::now_v7().to_string(), "fields": fields() });
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        let r = app
            .gql_as(&owner.access_token, CREATE, json!({ "input": input }))
            .await;
        assert_eq!(bad_field(&r), field);
    }
}

#[tokio::test]
async fn unpublished_deleted_and_unknown_forms_are_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let draft = form(&app, &owner, json!({ "status": "DRAFT" })).await;
    let public_id = draft["publicId"].as_str().unwrap();
    for path in [
        format!("/f/{public_id}"),
        format!("/f/{public_id}/embed"),
        "/f/nope".into(),
    ] {
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let (status, _) = post_json(&app, public_id, json!({ "email": "a@b.co" })).await;
    assert_eq!(status, 404);

    app.gql_as(
        &owner.access_token,
        UPDATE,
        json!({ "id": draft["id"], "input": { "status": "PUBLISHED" } }),
    )
    .await
    .data("updateForm");
    drawn(&app, public_id).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteForm(id: $id) { id } }",
        json!({ "id": draft["id"] }),
    )
    .await
    .data("deleteForm");
    let response = app
        .http
        .get(app.url(&format!("/f/{public_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn cors_follows_the_forms_allowed_origins() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = form(
        &app,
        &owner,
        json!({ "allowedOrigins": ["https://shop.example.com"] }),
    )
    .await;
    let url = app.url(&format!("/f/{}", created["publicId"].as_str().unwrap()));

    let allowed = app
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let refused = app
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let posted = app
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .json(&json!({ "email": "a@b.co", "terms": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 403);
    assert_eq!(app.count("form_submissions", "true").await, 0);
}

#[tokio::test]
async fn too_many_submissions_from_one_address_get_429_with_retry_after() {
    let app = TestApp::spawn_with(|config| config.limits.form_submissions_per_ip = 2).await;
    let owner = app.sign_up("acme").await;
    let created = form(&app, &owner, json!({})).await;
    let public_id = created["publicId"].as_str().unwrap();
    for i in 0..2 {
        let (status, _) = submit(
            &app,
            public_id,
            json!({ "email": format!("p{i}@example.com"), "terms": true }),
        )
        .await;
        assert_eq!(status, 200);
    }
    let response = app
        .http
        .post(app.url(&format!("/f/{public_id}")))
        .json(&json!({ "email": "p3@example.com", "terms": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
}

#[tokio::test]
async fn utm_parameters_of_the_page_are_kept_and_name_the_lead_source() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = form(&app, &owner, json!({})).await;
    let public_id = created["publicId"].as_str().unwrap();
    let (status, _) = submit(
        &app,
        public_id,
        json!({ "email": "u@example.com", "terms": true,
                "_page": "https://acme.example/landing?utm_source=newsletter&utm_campaign=spring%20sale" }),
    )
    .await;
    assert_eq!(status, 200);
    let listed = submissions(&app, &owner, json!({})).await;
    assert_eq!(listed["nodes"][0]["utm"]["source"], "newsletter");
    assert_eq!(listed["nodes"][0]["utm"]["campaign"], "spring sale");
    let one = app
        .gql_as(
            &owner.access_token,
            "query { formSubmissions(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await
        .data("formSubmissions")["nodes"][0]["id"]
        .clone();
    let detail = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { formSubmission(id: $id) { pageUrl referrer } }",
            json!({ "id": one }),
        )
        .await
        .data("formSubmission")
        .clone();
    assert!(
        detail["pageUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://acme.example/landing")
    );
    assert_eq!(detail["referrer"], Value::Null);
    // Another tenant cannot read it.
    let globex = app.sign_up("globex").await;
    app.gql_as(
        &globex.access_token,
        "query($id: ID!) { formSubmission(id: $id) { id } }",
        json!({ "id": one }),
    )
    .await
    .expect_error("NOT_FOUND");
    assert_eq!(
        app.count(
            "lead_sources",
            "name = 'newsletter' AND utm_source = 'newsletter'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count(
            "leads",
            "source_id = (SELECT id FROM lead_sources WHERE name = 'newsletter')"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_form_never_reads_or_writes_another_tenants_data() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme").await;
    let globex = app.sign_up("globex").await;
    let theirs = form(&app, &globex, json!({})).await;
    // Globex already has a lead with this email.
    crate::leads::create_lead(
        &app,
        &globex,
        json!({ "email": "shared@example.com", "firstName": "Globex" }),
    )
    .await;
    let ours = form(&app, &acme, json!({})).await;

    // Acme cannot see, change or delete Globex's form, nor list its
    // submissions.
    for (query, vars) in [
        (
            "query($id: ID!) { form(id: $id) { id } }",
            json!({ "id": theirs["id"] }),
        ),
        (
            UPDATE,
            json!({ "id": theirs["id"], "input": { "name": "Mine" } }),
        ),
        (
            "mutation($id: ID!) { deleteForm(id: $id) { id } }",
            json!({ "id": theirs["id"] }),
        ),
    ] {
        let r = app.gql_as(&acme.access_token, query, vars).await;
        r.expect_error("NOT_FOUND");
    }

    // A submission to Acme's form makes an Acme lead, even with an email
    // Globex's lead has; Globex's lead is untouched.
    let (status, _) = submit(
        &app,
        ours["publicId"].as_str().unwrap(),
        json!({ "email": "shared@example.com", "first_name": "Acme", "terms": true }),
    )
    .await;
    assert_eq!(status, 200);
    let acme_view = submissions(&app, &acme, json!({})).await;
    assert_eq!(acme_view["totalCount"], 1);
    assert_eq!(acme_view["nodes"][0]["outcome"], "CREATED");
    let globex_view = submissions(&app, &globex, json!({})).await;
    assert_eq!(globex_view["totalCount"], 0);
    assert_eq!(
        app.count(
            "leads",
            "first_name = 'Globex' AND email = 'shared@example.com'"
        )
        .await,
        1
    );
    // Filtering by the other tenant's form finds nothing.
    let filtered = submissions(&app, &acme, json!({ "formId": theirs["id"] })).await;
    assert_eq!(filtered["totalCount"], 0);
}

#[tokio::test]
async fn double_opt_in_keeps_the_lead_pending_until_the_emailed_link_is_followed() {
    let app = crate::messaging::spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = crate::smtp_server::TestSmtpServer::start();
    crate::messaging::create_sender(&app, &owner, "Main", smtp.port(), 1).await;
    let template = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateMessageTemplateInput!) { createMessageTemplate(input: $input) { id } }",
            json!({ "input": {
                "name": "Confirm", "category": "WELCOME",
                "subject": "Please confirm",
                "textBody": "Confirm here: {{ confirmationUrl }}",
                "variables": [{ "name": "confirmationUrl" }]
            }}),
        )
        .await
        .data("createMessageTemplate")["id"]
        .clone();
    let created = form(
        &app,
        &owner,
        json!({ "doubleOptIn": true, "confirmationTemplateId": template }),
    )
    .await;
    let public_id = created["publicId"].as_str().unwrap();

    let (status, _) = submit(
        &app,
        public_id,
        json!({ "email": "dora@example.com", "terms": true }),
    )
    .await;
    assert_eq!(status, 200);
    let lead_state = "query { leads(first: 1) { nodes { id optInStatus optInConfirmedAt } } }";
    let lead = app
        .gql_as(&owner.access_token, lead_state, json!({}))
        .await
        .data("leads")["nodes"][0]
        .clone();
    assert_eq!(lead["optInStatus"], "PENDING");
    // Outreach waits for the confirmation.
    let refused = app
        .gql_as(
            &owner.access_token,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }",
            json!({ "input": { "leadId": lead["id"], "subject": "Hi", "textBody": "Offer" } }),
        )
        .await;
    assert_eq!(bad_field(&refused), "input.leadId");

    let mail = smtp.wait_for(1, std::time::Duration::from_secs(10)).await;
    let text = mail[0].text_body().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/f/confirm/"))
        .unwrap()
        .to_owned();
    // A tampered link is refused.
    let tampered = format!("{}x", link);
    assert_eq!(app.http.get(&tampered).send().await.unwrap().status(), 404);
    let confirmed = app.http.get(&link).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    // Following it again changes nothing.
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), 200);

    let lead = app
        .gql_as(&owner.access_token, lead_state, json!({}))
        .await
        .data("leads")["nodes"][0]
        .clone();
    assert_eq!(lead["optInStatus"], "CONFIRMED");
    assert!(lead["optInConfirmedAt"].is_string());
    let proof = submissions(&app, &owner, json!({ "optIn": "CONFIRMED" })).await;
    assert_eq!(proof["totalCount"], 1);
    let detail = app
        .gql_as(
            &owner.access_token,
            "query { formSubmissions(first: 1) { nodes { confirmedAt confirmedIp consent confirmationMessageId } } }",
            json!({}),
        )
        .await
        .data("formSubmissions")["nodes"][0]
        .clone();
    assert!(detail["confirmedAt"].is_string());
    assert!(detail["confirmationMessageId"].is_string());
    assert_eq!(
        detail["consent"]["fields"][0]["text"],
        "I agree to be contacted"
    );
    assert_eq!(detail["consent"]["fields"][0]["agreed"], true);
    assert_eq!(
        app.count("activities", "activity_type = 'opt_in_confirmed'")
            .await,
        1
    );
}

#[tokio::test]
async fn form_submissions_stream_live_to_the_forms_tenant_only() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme").await;
    let globex = app.sign_up("globex").await;
    let ours = form(&app, &acme, json!({})).await;
    let theirs = form(&app, &globex, json!({})).await;
    let subscription =
        "subscription($f: ID!) { formSubmissions(formId: $f) { outcome lead { email } } }";

    // Another tenant's form: NOT_FOUND.
    let mut foreign = app.ws("/graphql/ws").await;
    foreign.init(&acme.access_token).await;
    foreign
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription, "variables": { "f": theirs["id"] } } }))
        .await;
    let refused = foreign.next_json().await;
    assert_eq!(refused["type"], "error", "{refused}");

    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&acme.access_token).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription, "variables": { "f": ours["id"] } } }))
        .await;
    // Give the subscription a moment to be live.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    submit(
        &app,
        theirs["publicId"].as_str().unwrap(),
        json!({ "email": "g@example.com", "terms": true }),
    )
    .await;
    submit(
        &app,
        ours["publicId"].as_str().unwrap(),
        json!({ "email": "a@example.com", "terms": true }),
    )
    .await;
    let next = ws.next_json().await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["formSubmissions"]["lead"]["email"],
        "a@example.com"
    );
    assert_eq!(
        next["payload"]["data"]["formSubmissions"]["outcome"],
        "CREATED"
    );
}

#[tokio::test]
async fn lists_of_forms_and_submissions_load_their_relations_in_batches() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for i in 0..6 {
        let created = form(&app, &owner, json!({ "name": format!("Form {i}") })).await;
        submit(
            &app,
            created["publicId"].as_str().unwrap(),
            json!({ "email": format!("p{i}@example.com"), "terms": true }),
        )
        .await;
    }
    let nested = "query($n: Int!) { forms(first: $n) { nodes { name fields { key } submissions(first: 2) { totalCount } } } formSubmissions(first: $n) { nodes { form { name } lead { email tags } } } }";
    let (two, two_statements) = app
        .gql_counting(&owner.access_token, nested, json!({ "n": 2 }))
        .await;
    let (six, six_statements) = app
        .gql_counting(&owner.access_token, nested, json!({ "n": 6 }))
        .await;
    assert_eq!(two.data("forms")["nodes"].as_array().unwrap().len(), 2);
    let submitted = six.data("formSubmissions")["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(submitted.len(), 6);
    assert!(
        submitted
            .iter()
            .all(|n| n["lead"]["email"].is_string() && n["form"]["name"].is_string())
    );
    // `form.submissions` is a connection per form (a statement each, as
    // every nested connection with its own page is); fields, forms and
    // leads come in one statement each however many there are.
    let per_form = |statements: &[String]| {
        statements
            .iter()
            .filter(|sql| !sql.contains("set_config") && !sql.contains("form_submissions"))
            .count()
    };
    assert_eq!(
        per_form(&two_statements),
        per_form(&six_statements),
        "2 forms: {two_statements:#?}\n6 forms: {six_statements:#?}"
    );
}

#[tokio::test]
async fn chosen_members_are_emailed_about_each_submission() {
    let app = crate::messaging::spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = crate::smtp_server::TestSmtpServer::start();
    crate::messaging::create_sender(&app, &owner, "Main", smtp.port(), 1).await;
    let created = form(
        &app,
        &owner,
        json!({ "notifyUserIds": [owner.user_id], "name": "Demo request" }),
    )
    .await;
    let (status, _) = submit(
        &app,
        created["publicId"].as_str().unwrap(),
        json!({ "email": "nina@example.com", "first_name": "Nina", "topic": "pricing", "terms": true }),
    )
    .await;
    assert_eq!(status, 200);
    let mail = smtp.wait_for(1, std::time::Duration::from_secs(10)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].header("To").unwrap(), owner.email);
    assert_eq!(
        mail[0].header("Subject").unwrap(),
        "New submission: Demo request"
    );
    let text = mail[0].text_body().unwrap();
    assert!(text.contains("first_name: Nina"), "{text}");
    assert!(text.contains("topic: pricing"), "{text}");
    // Once only.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1);

    // Another tenant's member cannot be chosen.
    let globex = app.sign_up("globex").await;
    let refused = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": created["id"], "input": { "notifyUserIds": [globex.user_id] } }),
        )
        .await;
    assert_eq!(bad_field(&refused), "input.notifyUserIds.0");
}
