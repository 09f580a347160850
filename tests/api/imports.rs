//! CSV imports: files streamed in by `POST /imports` or the GraphQL
//! multipart request, their encoding, delimiter and headers detected, a
//! preview that keeps nothing, and the import itself as a durable job
//! whose bad lines never cost a good one, with every duplicate policy,
//! cancellation, the plan's lead limit, progress in order, the failed rows
//! as CSV, and a crash mid-import resumed without a line done twice;
//! never another tenant's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field, on_postgres};

const IMPORT: &str = "query($id: ID!) { import(id: $id) { id fileName status byteSize startedAt finishedAt encoding delimiter headers rowsTotal rowsDone created updated duplicatesSkipped failed error cancelRequested failedRowsUrl suggestedMapping { column field } mapping { column field } duplicatePolicy } }";
const START: &str = "mutation($id: ID!, $mapping: [ImportColumnInput!]!, $options: ImportOptionsInput) { startImport(id: $id, mapping: $mapping, options: $options) { id status } }";
const PREVIEW: &str = "mutation($id: ID!, $mapping: [ImportColumnInput!]!, $options: ImportOptionsInput) { previewImport(id: $id, mapping: $mapping, options: $options) { rowNumber outcome leadId column message } }";

/// `POST /imports` with the file as the raw body.
async fn upload(app: &TestApp, s: &Session, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/imports?name={name}")))
        .bearer_auth(&s.access_token)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn uploaded(app: &TestApp, s: &Session, name: &str, bytes: Vec<u8>) -> String {
    let (status, body) = upload(app, s, name, bytes).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn import(app: &TestApp, s: &Session, id: &str) -> Value {
    app.gql_as(&s.access_token, IMPORT, json!({ "id": id }))
        .await
        .data("import")
        .clone()
}

/// Waits for the import to come to an end.
async fn finished(app: &TestApp, s: &Session, id: &str) -> Value {
    for _ in 0..3000 {
        let now = import(app, s, id).await;
        if ["COMPLETED", "CANCELLED", "FAILED"].contains(&now["status"].as_str().unwrap()) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import never ended: {}", import(app, s, id).await);
}

fn mapping(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(column, field)| json!({ "column": column, "field": field }))
            .collect(),
    )
}

async fn start(app: &TestApp, s: &Session, id: &str, map: Value, options: Value) -> Value {
    app.gql_as(
        &s.access_token,
        START,
        json!({ "id": id, "mapping": map, "options": options }),
    )
    .await
    .data("startImport")
    .clone()
}

async fn emails(app: &TestApp, s: &Session) -> Vec<String> {
    let leads = app
        .gql_as(
            &s.access_token,
            "{ leads(first: 100, orderBy: { field: NAME, direction: ASC }) { nodes { email } } }",
            json!({}),
        )
        .await;
    let mut found: Vec<String> = leads.data("leads")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap_or_default().to_owned())
        .collect();
    found.sort();
    found
}

async fn lead_by_email(app: &TestApp, s: &Session, email: &str) -> Value {
    app.gql_as(
        &s.access_token,
        "query($e: String!) { leads(first: 1, filter: { email: { eq: $e } }) { nodes { id email firstName lastName city tags company { name website } } } }",
        json!({ "e": email }),
    )
    .await
    .data("leads")["nodes"][0]
        .clone()
}

#[tokio::test]
async fn a_file_with_bad_rows_in_the_middle_keeps_every_good_row() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    // UTF-8 with a byte order mark, semicolons, a quoted field holding the
    // delimiter and a line break, two bad lines in the middle.
    let file = "\u{feff}E-Mail;Vorname;Nachname;Stadt;Firma;Website;Tags\n\
                ada@example.org;Ada;Lovelace;London;Analytical Engines;https://engines.example;vip, fair\n\
                not-an-email;Bob;Broken;Berlin;;;\n\
                cy@example.org;Cy;\"Smith; Jr.\nthe second\";Köln;Analytical Engines;;\n\
                ;;;;;;\n\
                ;;;Nowhere;;;\n\
                dee@example.org;Dee;Doe;Paris;Doe & Co;doe.example;\n";
    let id = uploaded(&app, &owner, "contacts.csv", file.as_bytes().to_vec()).await;
    let batch = import(&app, &owner, &id).await;
    assert_eq!(batch["status"], "UPLOADED");
    assert_eq!(batch["byteSize"].as_f64(), Some(file.len() as f64));
    assert_eq!(
        (&batch["startedAt"], &batch["finishedAt"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(batch["fileName"], "contacts.csv");
    assert_eq!(batch["encoding"], "utf-8");
    assert_eq!(batch["delimiter"], ";");
    assert_eq!(
        batch["headers"],
        json!([
            "E-Mail", "Vorname", "Nachname", "Stadt", "Firma", "Website", "Tags"
        ])
    );
    assert_eq!(batch["rowsTotal"], 6);
    assert_eq!(
        batch["suggestedMapping"],
        json!([
            { "column": "E-Mail", "field": "email" },
            { "column": "Vorname", "field": "firstName" },
            { "column": "Nachname", "field": "lastName" },
            { "column": "Stadt", "field": "city" },
            { "column": "Firma", "field": "companyName" },
            { "column": "Website", "field": "companyWebsite" },
            { "column": "Tags", "field": "tags" }
        ])
    );
    let map = batch["suggestedMapping"].clone();

    // The preview says what each line would do and keeps nothing.
    let preview = app
        .gql_as(
            &owner.access_token,
            PREVIEW,
            json!({ "id": id, "mapping": map }),
        )
        .await;
    let lines = preview.data("previewImport").as_array().unwrap().clone();
    let outcomes: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["rowNumber"].as_i64().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (2, "CREATE"),
            (3, "FAIL"),
            (4, "CREATE"),
            (5, "BLANK"),
            (6, "FAIL"),
            (7, "CREATE")
        ]
    );
    assert_eq!(lines[1]["column"], "E-Mail");
    // A line with no contact at all: the email column is where to add one.
    assert_eq!(lines[4]["column"], "E-Mail", "{}", lines[4]);
    assert!(
        lines[4]["message"]
            .as_str()
            .unwrap()
            .contains("name, an email or a phone"),
        "{}",
        lines[4]
    );
    assert_eq!(emails(&app, &owner).await, Vec::<String>::new());

    let fresh = app
        .gql_as(
            &owner.access_token,
            "mutation { createSegment(input: { name: \"Imported\", kind: DYNAMIC, filter: { tags: { contains: \"imported\" } } }) { id } }",
            json!({}),
        )
        .await
        .data("createSegment")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::segment_upkeep::caught_up(&app, "acme").await;
    start(&app, &owner, &id, map, json!({ "tags": ["imported"] })).await;
    let done = finished(&app, &owner, &id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let started: chrono::DateTime<chrono::Utc> =
        done["startedAt"].as_str().unwrap().parse().unwrap();
    let ended: chrono::DateTime<chrono::Utc> =
        done["finishedAt"].as_str().unwrap().parse().unwrap();
    assert!(started <= ended, "{done}");
    assert_eq!(
        (&done["rowsDone"], &done["created"], &done["failed"]),
        (&json!(6), &json!(3), &json!(2))
    );
    assert_eq!(
        emails(&app, &owner).await,
        ["ada@example.org", "cy@example.org", "dee@example.org"]
    );
    let cy = lead_by_email(&app, &owner, "cy@example.org").await;
    assert_eq!(cy["lastName"], "Smith; Jr.\nthe second");
    assert_eq!(cy["city"], "Köln");
    // One company for both lines that name it; the other by its domain.
    let ada = lead_by_email(&app, &owner, "ada@example.org").await;
    assert_eq!(ada["company"]["name"], "Analytical Engines");
    assert_eq!(cy["company"]["name"], "Analytical Engines");
    assert_eq!(ada["tags"], json!(["fair", "imported", "vip"]));
    // Imported leads enter the dynamic segments they match, as any new lead.
    let ada_id = ada["id"].as_str().unwrap();
    crate::segment_upkeep::entered(&app, &owner, &fresh, ada_id, "lead.created").await;
    let dee = lead_by_email(&app, &owner, "dee@example.org").await;
    assert_eq!(dee["company"]["website"], "doe.example");

    // The rejected lines, as they were, with why.
    let failed = app
        .http
        .get(app.url(done["failedRowsUrl"].as_str().unwrap()))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 200);
    assert!(
        failed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = failed.text().await.unwrap();
    let mut reader = csv_rows(&text);
    assert_eq!(
        reader.remove(0),
        [
            "E-Mail", "Vorname", "Nachname", "Stadt", "Firma", "Website", "Tags", "error"
        ]
    );
    assert_eq!(reader.len(), 2, "{text}");
    assert_eq!(reader[0][0], "not-an-email");
    assert!(
        reader[0][7].starts_with("row 3, E-Mail: "),
        "{}",
        reader[0][7]
    );
    assert_eq!(reader[1][3], "Nowhere");
    assert!(
        reader[1][7].starts_with("row 6, E-Mail: "),
        "{}",
        reader[1][7]
    );
}

/// Splits CSV text (quoted fields may hold commas and line breaks).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn windows_1252_tabs_and_the_graphql_multipart_upload() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    // "Müller" and "Zürich" with ü as the single byte 0xFC.
    let file = b"email\tlast name\tcity\nm@example.org\tM\xFCller\tZ\xFCrich\n".to_vec();
    let boundary = "promohub-test-boundary";
    let operations = json!({
        "query": "mutation($file: Upload!) { createImport(file: $file) { id encoding delimiter headers rowsTotal suggestedMapping { column field } } }",
        "variables": { "file": null }
    });
    let mut body = Vec::new();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", json!({ "0": ["variables.file"] }).to_string()),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"export.csv\"\r\nContent-Type: text/csv\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(&file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&owner.access_token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let created = &body["data"]["createImport"];
    assert_eq!(created["encoding"], "windows-1252", "{body}");
    assert_eq!(created["delimiter"], "\t");
    assert_eq!(created["headers"], json!(["email", "last name", "city"]));
    assert_eq!(created["rowsTotal"], 1);
    let id = created["id"].as_str().unwrap();
    start(
        &app,
        &owner,
        id,
        created["suggestedMapping"].clone(),
        Value::Null,
    )
    .await;
    assert_eq!(finished(&app, &owner, id).await["created"], 1);
    let lead = lead_by_email(&app, &owner, "m@example.org").await;
    assert_eq!(lead["lastName"], "Müller");
    assert_eq!(lead["city"], "Zürich");

    // Without a multipart body a mutation still needs JSON.
    let refused = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&owner.access_token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
}

#[tokio::test]
async fn every_duplicate_policy() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let existing = app
        .gql_as(
            &owner.access_token,
            "mutation { createLead(input: { email: \"ada@example.org\", firstName: \"Ada\", city: \"London\", tags: [\"old\"] }) { id } }",
            json!({}),
        )
        .await
        .data("createLead")["id"]
        .clone();
    let file = "email,first name,last name,city,tags\n\
                ADA@example.org,Augusta,King,Paris,new\n\
                bob@example.org,Bob,,,\n\
                bob@example.org,Robert,Builder,,\n";
    let map = mapping(&[
        ("email", "email"),
        ("first name", "firstName"),
        ("last name", "lastName"),
        ("city", "city"),
        ("tags", "tags"),
    ]);
    let mut results = Vec::new();
    for policy in ["SKIP", "MERGE", "UPDATE"] {
        let id = uploaded(&app, &owner, "dupes.csv", file.as_bytes().to_vec()).await;
        start(
            &app,
            &owner,
            &id,
            map.clone(),
            json!({ "duplicatePolicy": policy }),
        )
        .await;
        let done = finished(&app, &owner, &id).await;
        assert_eq!(done["duplicatePolicy"], policy);
        results.push((
            done["created"].clone(),
            done["updated"].clone(),
            done["duplicatesSkipped"].clone(),
            lead_by_email(&app, &owner, "ada@example.org").await,
            lead_by_email(&app, &owner, "bob@example.org").await,
        ));
    }
    // SKIP: bob is created once (his second line is a duplicate of the
    // first), Ada stays as she was.
    let (created, updated, skipped, ada, bob) = &results[0];
    assert_eq!(
        (created, updated, skipped),
        (&json!(1), &json!(0), &json!(2))
    );
    assert_eq!(ada["id"], existing);
    assert_eq!(
        (&ada["firstName"], &ada["city"]),
        (&json!("Ada"), &json!("London"))
    );
    assert_eq!(bob["firstName"], "Bob");
    // MERGE: only what was empty is filled; tags are added.
    let (created, updated, skipped, ada, bob) = &results[1];
    assert_eq!(
        (created, updated, skipped),
        (&json!(0), &json!(3), &json!(0))
    );
    assert_eq!(
        (&ada["firstName"], &ada["lastName"], &ada["city"]),
        (&json!("Ada"), &json!("King"), &json!("London"))
    );
    assert_eq!(ada["tags"], json!(["new", "old"]));
    assert_eq!(
        (&bob["firstName"], &bob["lastName"]),
        (&json!("Bob"), &json!("Builder"))
    );
    // UPDATE: the line's values win.
    let (created, updated, skipped, ada, bob) = &results[2];
    assert_eq!(
        (created, updated, skipped),
        (&json!(0), &json!(3), &json!(0))
    );
    assert_eq!(
        (&ada["firstName"], &ada["city"]),
        (&json!("Augusta"), &json!("Paris"))
    );
    assert_eq!(bob["firstName"], "Robert");
    assert_eq!(ada["id"], existing, "never a second Ada");
    assert_eq!(
        emails(&app, &owner).await,
        ["ada@example.org", "bob@example.org"]
    );
}

/// New leads of a chunk are written together at its end; a later line of
/// the same chunk with the same email must find the lead all the same
/// (written first, then updated), and another tenant's lead with that email
/// is no duplicate.
#[tokio::test]
async fn a_line_updates_the_lead_an_earlier_line_of_its_chunk_created() {
    let app = TestApp::spawn().await;
    let other = app.sign_up("other").await;
    app.gql_as(
        &other.access_token,
        "mutation { createLead(input: { email: \"carol@example.org\", firstName: \"Theirs\" }) { id } }",
        json!({}),
    )
    .await
    .data("createLead");
    let owner = app.sign_up("acme").await;
    let file = "email,first name,last name,tags\n\
                carol@example.org,Carol,,first\n\
                dan@example.org,Dan,,\n\
                CAROL@example.org,Caroline,Shaw,second\n";
    let map = mapping(&[
        ("email", "email"),
        ("first name", "firstName"),
        ("last name", "lastName"),
        ("tags", "tags"),
    ]);
    for (policy, first_name) in [("UPDATE", "Caroline"), ("MERGE", "Carol")] {
        let tenant = app.sign_up(&format!("t-{}", policy.to_lowercase())).await;
        let id = uploaded(&app, &tenant, "same.csv", file.as_bytes().to_vec()).await;
        start(
            &app,
            &tenant,
            &id,
            map.clone(),
            json!({ "duplicatePolicy": policy }),
        )
        .await;
        let done = finished(&app, &tenant, &id).await;
        assert_eq!(
            (&done["created"], &done["updated"], &done["failed"]),
            (&json!(2), &json!(1), &json!(0)),
            "{policy}: {done}"
        );
        let carol = lead_by_email(&app, &tenant, "carol@example.org").await;
        assert_eq!(carol["firstName"], first_name, "{policy}");
        assert_eq!(carol["lastName"], "Shaw", "{policy}");
        assert_eq!(carol["tags"], json!(["first", "second"]), "{policy}");
        assert_eq!(
            emails(&app, &tenant).await,
            ["carol@example.org", "dan@example.org"],
            "{policy}"
        );
    }
    // SKIP in a tenant where the other tenant's Carol does not count.
    let id = uploaded(&app, &owner, "same.csv", file.as_bytes().to_vec()).await;
    start(&app, &owner, &id, map, json!({ "duplicatePolicy": "SKIP" })).await;
    let done = finished(&app, &owner, &id).await;
    assert_eq!(
        (&done["created"], &done["duplicatesSkipped"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(
        lead_by_email(&app, &owner, "carol@example.org").await["firstName"],
        "Carol"
    );
    assert_eq!(
        lead_by_email(&app, &other, "carol@example.org").await["firstName"],
        "Theirs"
    );
}

fn many_rows(count: usize, prefix: &str) -> Vec<u8> {
    let mut file = String::from("email,first name\n");
    for i in 0..count {
        file.push_str(&format!("{prefix}{i}@example.org,Lead {i}\n"));
    }
    file.into_bytes()
}

#[tokio::test]
async fn progress_comes_in_order_the_plan_limit_holds_and_cancel_stops_between_chunks() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let map = mapping(&[("email", "email"), ("first name", "firstName")]);

    // The plan allows 600 leads: the rows past it fail, naming the limit.
    app.sql("UPDATE tenants SET max_leads = 600").await;
    let id = uploaded(&app, &owner, "big.csv", many_rows(700, "p")).await;
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { importProgress(id: $id) { status rowsTotal rowsDone created failed rowsPerSecond secondsLeft } }",
        "variables": { "id": id }
    }}))
    .await;
    let first = ws.next_json().await;
    assert_eq!(
        first["payload"]["data"]["importProgress"]["status"], "UPLOADED",
        "{first}"
    );
    start(&app, &owner, &id, map.clone(), Value::Null).await;
    let mut seen = Vec::new();
    loop {
        let message = ws.next_json().await;
        if message["type"] == "complete" {
            break;
        }
        let progress = message["payload"]["data"]["importProgress"].clone();
        assert!(!progress.is_null(), "{message}");
        seen.push(progress);
    }
    let done: Vec<i64> = seen
        .iter()
        .map(|p| p["rowsDone"].as_i64().unwrap())
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "in order: {done:?}");
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(
        (&last["created"], &last["failed"]),
        (&json!(600), &json!(100))
    );
    let errors = app
        .sql(
            "SELECT message FROM lead_batch_errors e JOIN lead_batches b ON b.id = e.batch_id \
             WHERE b.file_name = 'big.csv' ORDER BY row_number LIMIT 1",
        )
        .await;
    let message: String = errors[0].try_get_by_index(0).unwrap();
    assert!(message.contains("the plan allows 600 leads"), "{message}");

    // Cancelled: it stops between chunks, never within one (what each
    // committed chunk did is all there).
    app.sql("UPDATE tenants SET max_leads = 100000").await;
    let id = uploaded(&app, &owner, "cancel.csv", many_rows(3000, "c")).await;
    start(&app, &owner, &id, map, Value::Null).await;
    let cancelled = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { cancelImport(id: $id) { cancelRequested } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(cancelled.data("cancelImport")["cancelRequested"], true);
    let done = finished(&app, &owner, &id).await;
    assert_eq!(done["status"], "CANCELLED");
    let rows = done["rowsDone"].as_i64().unwrap();
    assert!(rows < 3000, "stopped at {rows}");
    assert_eq!(done["created"].as_i64().unwrap(), rows);
    assert_eq!(app.count("leads", "email LIKE 'c%'").await, rows);
    let again = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { cancelImport(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    again.expect_error("CONFLICT");
}

#[tokio::test]
async fn bad_input_is_named_and_other_tenants_imports_are_out_of_reach() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let rival = app.sign_up("rival").await;
    let (status, body) = upload(&app, &owner, "empty.csv", Vec::new()).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "body");
    let unauthenticated = app
        .http
        .post(app.url("/imports"))
        .body("email\na@x.org\n")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let id = uploaded(
        &app,
        &owner,
        "mine.csv",
        b"email,score\na@example.org,1\n".to_vec(),
    )
    .await;
    let wrong_column = app
        .gql_as(
            &owner.access_token,
            START,
            json!({ "id": id, "mapping": mapping(&[("mail", "email")]) }),
        )
        .await;
    assert_eq!(bad_field(&wrong_column), "mapping.0.column");
    let wrong_field = app
        .gql_as(
            &owner.access_token,
            START,
            json!({ "id": id, "mapping": mapping(&[("score", "customFields.missing")]) }),
        )
        .await;
    assert_eq!(bad_field(&wrong_field), "mapping.0.field");

    // The rival sees nothing of it, can do nothing with it, and cannot
    // name its own segment... nor ours.
    let their_view = app
        .gql_as(&rival.access_token, IMPORT, json!({ "id": id }))
        .await;
    their_view.expect_error("NOT_FOUND");
    for mutation in [START, PREVIEW] {
        let refused = app
            .gql_as(
                &rival.access_token,
                mutation,
                json!({ "id": id, "mapping": mapping(&[("email", "email")]) }),
            )
            .await;
        refused.expect_error("NOT_FOUND");
    }
    let cancel = app
        .gql_as(
            &rival.access_token,
            "mutation($id: ID!) { cancelImport(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    cancel.expect_error("NOT_FOUND");
    let listed = app
        .gql_as(
            &rival.access_token,
            "{ imports(first: 10) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.data("imports")["totalCount"], 0);
    let failed = app
        .http
        .get(app.url(&format!("/imports/{id}/failed.csv")))
        .bearer_auth(&rival.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 404);
    let our_segment = app
        .gql_as(
            &owner.access_token,
            "mutation { createSegment(input: { name: \"Imported\", kind: STATIC }) { id } }",
            json!({}),
        )
        .await
        .data("createSegment")["id"]
        .clone();
    let their_file = uploaded(
        &app,
        &rival,
        "theirs.csv",
        b"email\nz@example.org\n".to_vec(),
    )
    .await;
    let foreign_segment = app
        .gql_as(
            &rival.access_token,
            START,
            json!({ "id": their_file, "mapping": mapping(&[("email", "email")]), "options": { "segmentId": our_segment } }),
        )
        .await;
    assert_eq!(bad_field(&foreign_segment), "options.segmentId");

    // Ours lists with its uploader, and the segment option fills our segment.
    let listed = app
        .gql_as(
            &owner.access_token,
            "{ imports(first: 10) { totalCount nodes { fileName uploadedById status } } }",
            json!({}),
        )
        .await;
    // The refused upload stays on record, newest first.
    assert_eq!(listed.data("imports")["totalCount"], 2);
    let nodes = &listed.data("imports")["nodes"];
    assert_eq!(nodes[0]["fileName"], "mine.csv");
    assert_eq!(nodes[0]["uploadedById"], owner.user_id);
    assert_eq!(nodes[1]["status"], "FAILED");
    start(
        &app,
        &owner,
        &id,
        mapping(&[("email", "email")]),
        json!({ "segmentId": our_segment }),
    )
    .await;
    finished(&app, &owner, &id).await;
    let count = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { segment(id: $id) { count } }",
            json!({ "id": our_segment }),
        )
        .await;
    assert_eq!(count.data("segment")["count"], 1);
}

/// A real crash: the server process running the import is killed (SIGKILL)
/// after its first chunks; another process takes the job over once its
/// lease runs out and finishes it. Every line is imported exactly once.
#[tokio::test]
async fn a_crash_mid_import_resumes_without_a_line_twice() {
    // This process's own worker never looks for jobs: the child does the work.
    let app = TestApp::spawn_with(|c| c.messaging.worker_poll_ms = 3_600_000).await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_leads = 100000").await;
    let rows = 3000;
    let id = uploaded(&app, &owner, "crash.csv", many_rows(rows, "x")).await;
    let map = mapping(&[("email", "email"), ("first name", "firstName")]);

    let spawn_server = |port: u16| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_promohub"))
            .args(["serve", "--no-migrate", "--no-demo"])
            .env("DATABASE_URL", &app.config.database_url)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .env("PROMOHUB_JOB_LEASE_SECS", "5")
            .env("PROMOHUB_WORKER_POLL_MS", "100")
            .kill_on_drop(true)
            .spawn()
            .expect("start a server process")
    };
    let free_port = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let port = free_port();
    let mut first = spawn_server(port);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if app.http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = app
        .http
        .post(format!("{base}/graphql"))
        .bearer_auth(&owner.access_token)
        .json(&json!({ "query": START, "variables": { "id": id, "mapping": map } }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        started["data"]["startImport"]["status"], "RUNNING",
        "{started}"
    );
    // Killed once at least one chunk is in, well before the end.
    let mut at = 0;
    for _ in 0..2400 {
        at = import(&app, &owner, &id).await["rowsDone"]
            .as_i64()
            .unwrap();
        if at >= 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    first.kill().await.unwrap();
    assert!((300..rows as i64).contains(&at), "killed at {at}");

    let mut second = spawn_server(free_port());
    let done = finished(&app, &owner, &id).await;
    second.kill().await.ok();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["rowsDone"], rows);
    assert_eq!(done["created"], rows, "{done}");
    assert_eq!(done["failed"], 0);
    let twice = app
        .sql("SELECT lower(email) FROM leads GROUP BY lower(email) HAVING count(*) > 1")
        .await;
    assert!(twice.is_empty(), "{} emails twice", twice.len());
    assert_eq!(app.count("leads", "email LIKE 'x%'").await, rows as i64);
}

/// A plan PostgreSQL made while the leads table was nearly empty stays with
/// its connection until the table's statistics change, and it becomes a
/// scan of the tenant's leads per lookup as the import fills the table; the
/// import refreshes the statistics itself each time the table has doubled.
#[tokio::test]
async fn an_import_that_grows_the_leads_table_refreshes_its_statistics() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_leads = 100000").await;
    let before = leads_analyzed(&app).await;
    let id = uploaded(&app, &owner, "grow.csv", many_rows(1500, "grow")).await;
    start(
        &app,
        &owner,
        &id,
        mapping(&[("email", "email"), ("first name", "firstName")]),
        json!({}),
    )
    .await;
    assert_eq!(finished(&app, &owner, &id).await["created"], 1500);
    // Never analyzed: at 500 rows; then the table holds ~500, so at 1000
    // more.
    assert!(leads_analyzed(&app).await >= before + 2);
    assert!(
        app.metrics()
            .await
            .contains("promohub_statistics_refreshes_total")
    );
}

async fn leads_analyzed(app: &TestApp) -> i64 {
    let rows = app
        .sql("SELECT analyze_count::bigint AS n FROM pg_stat_user_tables WHERE relname = 'leads'")
        .await;
    rows[0].try_get::<i64>("", "n").unwrap()
}

/// Imported lines move dynamic segments like any other lead write: a new
/// lead enters with `lead.created`, an updated one enters or leaves with
/// `lead.changed`.
#[tokio::test]
async fn imported_lines_move_dynamic_segment_members() {
    let app = TestApp::spawn_with(|c| {
        c.segment_sweep_secs = 1;
        c.messaging.worker_poll_ms = 50;
    })
    .await;
    let owner = app.sign_up("acme").await;
    let parisians = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": "Paris", "kind": "DYNAMIC", "filter": { "city": { "eq": "Paris" } } } }),
        )
        .await
        .data("createSegment")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = app
        .gql_as(
            &owner.access_token,
            "mutation { createLead(input: { email: \"bob@example.org\", city: \"London\" }) { id } }",
            json!({}),
        )
        .await
        .data("createLead")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let map = mapping(&[("email", "email"), ("city", "city")]);
    let import = |file: &'static str| {
        let (app, owner, map) = (&app, &owner, map.clone());
        async move {
            crate::segment_upkeep::caught_up(app, "acme").await;
            let id = uploaded(app, owner, "cities.csv", file.as_bytes().to_vec()).await;
            start(app, owner, &id, map, json!({ "duplicatePolicy": "UPDATE" })).await;
            finished(app, owner, &id).await
        }
    };
    import("email,city\nann@example.org,Paris\nbob@example.org,Paris\n").await;
    let ann = lead_by_email(&app, &owner, "ann@example.org").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::segment_upkeep::entered(&app, &owner, &parisians, &ann, "lead.created").await;
    crate::segment_upkeep::entered(&app, &owner, &parisians, &bob, "lead.changed").await;
    import("email,city\nbob@example.org,Berlin\n").await;
    crate::segment_upkeep::left(&app, &owner, &parisians, &bob, "lead.changed").await;
    crate::segment_upkeep::entered(&app, &owner, &parisians, &ann, "lead.created").await;
}
