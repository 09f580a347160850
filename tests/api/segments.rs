//! Segments: static lists that take leads by id or by filter, dynamic ones
//! that are a saved `leads` filter, each with its exact count, its leads as
//! the `leads` connection, and `lead.segments`; never another tenant's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field};
use crate::leads::create_lead;

const CREATE: &str = "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id name kind filter filterVersion count } }";
const ADD: &str = "mutation($s: ID!, $ids: [ID!], $filter: LeadFilter) { addToSegment(segmentId: $s, leadIds: $ids, filter: $filter) { changed results { leadId outcome } segment { count } } }";
const REMOVE: &str = "mutation($s: ID!, $ids: [ID!], $filter: LeadFilter) { removeFromSegment(segmentId: $s, leadIds: $ids, filter: $filter) { changed results { leadId outcome } segment { count } } }";
const MEMBERS: &str = "query($id: ID!, $filter: LeadFilter) { segment(id: $id) { count leads(first: 50, filter: $filter, orderBy: { field: NAME, direction: ASC }) { totalCount nodes { email } } } }";

async fn segment(app: &TestApp, s: &Session, input: Value) -> Value {
    app.gql_as(&s.access_token, CREATE, json!({ "input": input }))
        .await
        .data("createSegment")
        .clone()
}

async fn lead(app: &TestApp, s: &Session, email: &str, tags: &[&str]) -> String {
    let name = email.split('@').next().unwrap();
    create_lead(
        app,
        s,
        json!({ "email": email, "firstName": name, "tags": tags }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn members(app: &TestApp, s: &Session, id: &Value, filter: Value) -> (Value, Vec<String>) {
    let read = app
        .gql_as(
            &s.access_token,
            MEMBERS,
            json!({ "id": id, "filter": filter }),
        )
        .await;
    let segment = read.data("segment").clone();
    let emails = segment["leads"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    (segment["count"].clone(), emails)
}

fn outcomes(change: &Value) -> Vec<&str> {
    change["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_static_segment_takes_leads_by_id_and_by_filter_and_gives_them_back() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let ada = lead(&app, &owner, "ada@example.org", &["vip"]).await;
    let bob = lead(&app, &owner, "bob@example.org", &[]).await;
    let cy = lead(&app, &owner, "cy@example.org", &["vip"]).await;
    lead(&app, &owner, "dee@example.org", &["vip"]).await;
    let theirs = lead(&app, &stranger, "eve@example.org", &["vip"]).await;
    let list = segment(
        &app,
        &owner,
        json!({ "name": "Fair contacts", "kind": "STATIC" }),
    )
    .await;
    assert_eq!(list["count"], 0);
    assert_eq!(list["filter"], Value::Null);

    let by_ids = app
        .gql_as(
            &owner.access_token,
            ADD,
            json!({ "s": list["id"], "ids": [ada, bob, "01a24dee-0000-7000-8000-000000000000", ada, theirs] }),
        )
        .await;
    let by_ids = by_ids.data("addToSegment");
    assert_eq!(
        outcomes(by_ids),
        ["ADDED", "ADDED", "NOT_FOUND", "ALREADY_MEMBER", "NOT_FOUND"]
    );
    assert_eq!(by_ids["changed"], 2);
    assert_eq!(by_ids["segment"]["count"], 2);

    // By filter: every vip not in it yet (ada is), one statement.
    let by_filter = app
        .gql_as(
            &owner.access_token,
            ADD,
            json!({ "s": list["id"], "filter": { "tags": { "contains": "vip" } } }),
        )
        .await;
    let by_filter = by_filter.data("addToSegment");
    assert_eq!(
        by_filter["changed"], 2,
        "cy and dee; eve is another tenant's"
    );
    assert_eq!(by_filter["results"], json!([]));
    let (count, emails) = members(&app, &owner, &list["id"], Value::Null).await;
    assert_eq!(count, 4);
    assert_eq!(
        emails,
        [
            "ada@example.org",
            "bob@example.org",
            "cy@example.org",
            "dee@example.org"
        ]
    );
    // The segment's leads take the filters of `leads`.
    let (_, vips) = members(
        &app,
        &owner,
        &list["id"],
        json!({ "tags": { "contains": "vip" } }),
    )
    .await;
    assert_eq!(vips.len(), 3);

    // A lead in the trash leaves the count and the list, and comes back.
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteLead(id: $id) { id } }",
        json!({ "id": cy }),
    )
    .await
    .data("deleteLead");
    assert_eq!(members(&app, &owner, &list["id"], Value::Null).await.0, 3);
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { restoreLead(id: $id) { id } }",
        json!({ "id": cy }),
    )
    .await
    .data("restoreLead");
    assert_eq!(members(&app, &owner, &list["id"], Value::Null).await.0, 4);

    let removed = app
        .gql_as(
            &owner.access_token,
            REMOVE,
            json!({ "s": list["id"], "ids": [bob, bob, theirs] }),
        )
        .await;
    let removed = removed.data("removeFromSegment");
    assert_eq!(outcomes(removed), ["REMOVED", "NOT_MEMBER", "NOT_FOUND"]);
    let removed = app
        .gql_as(
            &owner.access_token,
            REMOVE,
            json!({ "s": list["id"], "filter": { "email": { "startsWith": "d" } } }),
        )
        .await;
    assert_eq!(removed.data("removeFromSegment")["changed"], 1);
    let (count, emails) = members(&app, &owner, &list["id"], Value::Null).await;
    assert_eq!(count, 2);
    assert_eq!(emails, ["ada@example.org", "cy@example.org"]);

    // Ids and a filter together, or neither, are refused; so is an id list
    // over the limit.
    for variables in [
        json!({ "s": list["id"] }),
        json!({ "s": list["id"], "ids": [ada], "filter": {} }),
    ] {
        let refused = app.gql_as(&owner.access_token, ADD, variables).await;
        assert_eq!(bad_field(&refused), "leadIds");
    }
    let too_many: Vec<String> = (0..10_001).map(|_| ada.clone()).collect();
    let refused = app
        .gql_as(
            &owner.access_token,
            ADD,
            json!({ "s": list["id"], "ids": too_many }),
        )
        .await;
    assert_eq!(bad_field(&refused), "leadIds");
}

#[tokio::test]
async fn a_dynamic_segment_is_its_filter_and_follows_every_lead_change() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let ada = lead(&app, &owner, "ada@example.org", &["vip"]).await;
    let bob = lead(&app, &owner, "bob@example.org", &[]).await;
    lead(&app, &stranger, "eve@example.org", &["vip"]).await;
    let filter = json!({ "tags": { "contains": "vip" } });
    let vips = segment(
        &app,
        &owner,
        json!({ "name": "VIPs", "kind": "DYNAMIC", "filter": filter }),
    )
    .await;
    assert_eq!(vips["kind"], "DYNAMIC");
    assert_eq!(vips["filter"]["tags"]["contains"], "vip");
    assert_eq!(vips["filterVersion"], 1);
    assert_eq!(vips["count"], 1, "ada; eve is another tenant's");

    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { addTags(id: $id, tags: [\"vip\"]) { id } }",
        json!({ "id": bob }),
    )
    .await
    .data("addTags");
    let (count, emails) = members(&app, &owner, &vips["id"], Value::Null).await;
    assert_eq!(count, 2);
    assert_eq!(emails, ["ada@example.org", "bob@example.org"]);
    let lead_segments = |id: String| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            app.gql_as(
                &token,
                "query($id: ID!) { lead(id: $id) { segments { totalCount nodes { name } } } }",
                json!({ "id": id }),
            )
            .await
            .data("lead")["segments"]
                .clone()
        }
    };
    assert_eq!(
        lead_segments(bob.clone()).await,
        json!({ "totalCount": 1, "nodes": [{ "name": "VIPs" }] })
    );

    // A new filter takes effect at once.
    let updated = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!, $input: UpdateSegmentInput!) { updateSegment(id: $id, input: $input) { count } }",
            json!({ "id": vips["id"], "input": { "filter": { "email": { "startsWith": "ada" } } } }),
        )
        .await;
    assert_eq!(updated.data("updateSegment")["count"], 1);
    assert_eq!(lead_segments(bob).await["totalCount"], 0);
    assert_eq!(lead_segments(ada).await["totalCount"], 1);

    // A dynamic segment's members are its filter's.
    let refused = app
        .gql_as(
            &owner.access_token,
            ADD,
            json!({ "s": vips["id"], "filter": {} }),
        )
        .await;
    assert_eq!(bad_field(&refused), "segmentId");
}

#[tokio::test]
async fn a_segment_is_checked_when_saved_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app.add_member(&owner, "viewer@example.org", "VIEWER").await;
    segment(
        &app,
        &owner,
        json!({ "name": "Trial users", "kind": "STATIC" }),
    )
    .await;
    let cases = [
        (
            json!({ "name": "TRIAL USERS", "kind": "STATIC" }),
            "input.name",
        ),
        (json!({ "name": " ", "kind": "STATIC" }), "input.name"),
        (
            json!({ "name": "No filter", "kind": "DYNAMIC" }),
            "input.filter",
        ),
        (
            json!({ "name": "Filtered", "kind": "STATIC", "filter": {} }),
            "input.filter",
        ),
        (
            json!({ "name": "Bad key", "kind": "DYNAMIC", "filter": { "customFields": [{ "key": "not a key!", "eq": 1 }] } }),
            "input.filter.customFields.0.key",
        ),
        (
            json!({ "name": "Bad project", "kind": "STATIC", "projectId": "01a24dee-0000-7000-8000-000000000000" }),
            "input.projectId",
        ),
    ];
    for (input, field) in cases {
        let refused = app
            .gql_as(&owner.access_token, CREATE, json!({ "input": input }))
            .await;
        let code = refused.code().unwrap_or_default().to_owned();
        let named = refused.body["errors"][0]["extensions"]["field"].clone();
        assert_eq!(named, field, "{input}: {}", refused.body);
        assert!(code == "BAD_USER_INPUT" || code == "CONFLICT", "{code}");
    }
    let by_viewer = app
        .gql_as(
            &viewer.access_token,
            CREATE,
            json!({ "input": { "name": "Mine", "kind": "STATIC" } }),
        )
        .await;
    assert_eq!(by_viewer.code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn another_tenants_segments_and_leads_are_out_of_reach() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let ada = lead(&app, &owner, "ada@example.org", &["vip"]).await;
    let list = segment(&app, &owner, json!({ "name": "Ours", "kind": "STATIC" })).await;
    app.gql_as(
        &owner.access_token,
        ADD,
        json!({ "s": list["id"], "ids": [ada] }),
    )
    .await
    .data("addToSegment");

    let token = &stranger.access_token;
    let read = app
        .gql_as(token, MEMBERS, json!({ "id": list["id"] }))
        .await;
    assert_eq!(read.code(), Some("NOT_FOUND"));
    let listed = app
        .gql_as(token, "{ segments { totalCount nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        listed.data("segments"),
        &json!({ "totalCount": 0, "nodes": [] })
    );
    for mutation in [ADD, REMOVE] {
        let refused = app
            .gql_as(token, mutation, json!({ "s": list["id"], "ids": [ada] }))
            .await;
        assert_eq!(refused.code(), Some("NOT_FOUND"), "{}", refused.body);
    }
    for mutation in [
        "mutation($id: ID!) { updateSegment(id: $id, input: { name: \"x\" }) { id } }",
        "mutation($id: ID!) { deleteSegment(id: $id) { id } }",
    ] {
        let refused = app
            .gql_as(token, mutation, json!({ "id": list["id"] }))
            .await;
        assert_eq!(refused.code(), Some("NOT_FOUND"));
    }
    let node = app
        .gql_as(
            token,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": list["id"] }),
        )
        .await;
    assert_eq!(node.body["data"]["node"], Value::Null, "{}", node.body);
    // Their own segment over the same filter sees only their own leads.
    let theirs = segment(
        &app,
        &stranger,
        json!({ "name": "VIPs", "kind": "DYNAMIC", "filter": { "tags": { "contains": "vip" } } }),
    )
    .await;
    assert_eq!(theirs["count"], 0);
    // Nothing of theirs changed ours.
    assert_eq!(members(&app, &owner, &list["id"], Value::Null).await.0, 1);
}

#[tokio::test]
async fn counts_and_lead_segments_cost_the_same_statements_for_any_page() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let tags: &[&str] = if i % 2 == 0 { &["vip"] } else { &[] };
        ids.push(lead(&app, &owner, &format!("l{i}@example.org"), tags).await);
    }
    for i in 0..6 {
        let input = if i % 2 == 0 {
            json!({ "name": format!("s{i}"), "kind": "DYNAMIC", "filter": { "tags": { "contains": "vip" } } })
        } else {
            json!({ "name": format!("s{i}"), "kind": "STATIC" })
        };
        let created = segment(&app, &owner, input).await;
        if i % 2 == 1 {
            app.gql_as(
                &owner.access_token,
                ADD,
                json!({ "s": created["id"], "ids": ids[..i].to_vec() }),
            )
            .await
            .data("addToSegment");
        }
    }
    let query = "query($n: Int!) {
        segments(first: $n) { nodes { name count } }
        leads(first: $n) { nodes { email segments { totalCount nodes { name } } } } }";
    let (two, two_statements) = app
        .gql_counting(&owner.access_token, query, json!({ "n": 2 }))
        .await;
    let (all, all_statements) = app
        .gql_counting(&owner.access_token, query, json!({ "n": 12 }))
        .await;
    assert_eq!(two.data("segments")["nodes"].as_array().unwrap().len(), 2);
    let counts: Vec<(String, i64)> = all.data("segments")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("s5", 5),
            ("s4", 6),
            ("s3", 3),
            ("s2", 6),
            ("s1", 1),
            ("s0", 6)
        ]
        .map(|(n, c)| (n.to_owned(), c))
    );
    // l0 (a vip, the first lead): every dynamic segment and every static one.
    let first = all.data("leads")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["email"] == "l0@example.org")
        .unwrap()
        .clone();
    assert_eq!(first["segments"]["totalCount"], 6, "{first}");
    assert_eq!(
        two_statements.len(),
        all_statements.len(),
        "statements must not grow with the page:\n{two_statements:#?}\n{all_statements:#?}"
    );
}

const COUNT: &str = "subscription($s: ID!) { segmentCount(segmentId: $s) }";

async fn next_count(ws: &mut crate::helpers::Ws) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(10), ws.next_json())
        .await
        .expect("a count within 10 s");
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["segmentCount"].clone()
}

#[tokio::test]
async fn the_count_subscription_pushes_each_new_count_of_its_own_segment_only() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let ada = lead(&app, &owner, "ada@example.org", &[]).await;
    let vips = segment(
        &app,
        &owner,
        json!({ "name": "VIPs", "kind": "DYNAMIC", "filter": { "tags": { "contains": "vip" } } }),
    )
    .await;
    let list = segment(&app, &owner, json!({ "name": "List", "kind": "STATIC" })).await;

    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": COUNT, "variables": { "s": vips["id"] } } }))
        .await;
    assert_eq!(next_count(&mut ws).await, 0);
    let mut listed = app.ws("/graphql/ws").await;
    listed.init(&owner.access_token).await;
    listed
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": COUNT, "variables": { "s": list["id"] } } }))
        .await;
    assert_eq!(next_count(&mut listed).await, 0);

    // A lead entering the dynamic segment moves its count.
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { addTags(id: $id, tags: [\"vip\"]) { id } }",
        json!({ "id": ada }),
    )
    .await
    .data("addTags");
    assert_eq!(next_count(&mut ws).await, 1);
    // Adding to the static one moves its count, not the other's.
    app.gql_as(
        &owner.access_token,
        ADD,
        json!({ "s": list["id"], "ids": [ada] }),
    )
    .await
    .data("addToSegment");
    assert_eq!(next_count(&mut listed).await, 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(1_500), ws.next_json())
            .await
            .is_err(),
        "an unchanged count is not sent again"
    );

    // Another tenant cannot watch it.
    let mut theirs = app.ws("/graphql/ws").await;
    theirs.init(&stranger.access_token).await;
    theirs
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": COUNT, "variables": { "s": vips["id"] } } }))
        .await;
    let refused = tokio::time::timeout(Duration::from_secs(10), theirs.next_json())
        .await
        .unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn relative_dates_count_back_from_the_moment_the_filter_runs() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    lead(&app, &owner, "new@example.org", &[]).await;
    lead(&app, &owner, "old@example.org", &[]).await;
    let forty_days_ago = (chrono::Utc::now() - chrono::Duration::days(40))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    app.sql(&format!(
        "UPDATE leads SET created_at = '{forty_days_ago}' WHERE email = 'old@example.org'"
    ))
    .await;
    let recent = segment(
        &app,
        &owner,
        json!({ "name": "Recent", "kind": "DYNAMIC", "filter": { "createdAt": { "inLastDays": 30 } } }),
    )
    .await;
    let dormant = segment(
        &app,
        &owner,
        json!({ "name": "Dormant", "kind": "DYNAMIC", "filter": { "createdAt": { "beforeLastDays": 30 } } }),
    )
    .await;
    assert_eq!(
        members(&app, &owner, &recent["id"], Value::Null).await.1,
        ["new@example.org"]
    );
    assert_eq!(
        members(&app, &owner, &dormant["id"], Value::Null).await.1,
        ["old@example.org"]
    );
    let refused = app
        .gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "name": "Never", "kind": "DYNAMIC", "filter": { "createdAt": { "inLastDays": 0 } } } }),
        )
        .await;
    assert_eq!(bad_field(&refused), "input.filter.createdAt.inLastDays");
}

#[tokio::test]
async fn filters_name_segments_and_a_segment_never_contains_itself() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let ada = lead(&app, &owner, "ada@example.org", &["vip"]).await;
    let bob = lead(&app, &owner, "bob@example.org", &[]).await;
    let cy = lead(&app, &owner, "cy@example.org", &["vip"]).await;
    let list = segment(&app, &owner, json!({ "name": "List", "kind": "STATIC" })).await;
    app.gql_as(
        &owner.access_token,
        ADD,
        json!({ "s": list["id"], "ids": [bob] }),
    )
    .await
    .data("addToSegment");
    let vips = segment(
        &app,
        &owner,
        json!({ "name": "VIPs", "kind": "DYNAMIC", "filter": { "tags": { "contains": "vip" } } }),
    )
    .await;
    let leads = |filter: Value| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            let read = app
                .gql_as(
                    &token,
                    "query($f: LeadFilter) { leads(filter: $f, orderBy: { field: NAME, direction: ASC }) { nodes { email } } }",
                    json!({ "f": filter }),
                )
                .await;
            if read.body["errors"].is_array() {
                return Err(read.body["errors"][0]["extensions"]["field"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned());
            }
            Ok(read.data("leads")["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    n["email"]
                        .as_str()
                        .unwrap()
                        .split('@')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>())
        }
    };
    assert_eq!(
        leads(json!({ "inSegments": [list["id"], vips["id"]] }))
            .await
            .unwrap(),
        ["ada", "bob", "cy"]
    );
    assert_eq!(
        leads(json!({ "notInSegments": [vips["id"]] }))
            .await
            .unwrap(),
        ["bob"]
    );
    assert_eq!(
        leads(json!({ "or": [{ "email": { "eq": "cy@example.org" } }, { "inSegments": [list["id"]] }] }))
            .await
            .unwrap(),
        ["bob", "cy"]
    );
    // A segment of another tenant, or none, is named as the wrong field.
    let theirs = segment(
        &app,
        &stranger,
        json!({ "name": "Theirs", "kind": "STATIC" }),
    )
    .await;
    assert_eq!(
        leads(json!({ "inSegments": [theirs["id"]] }))
            .await
            .unwrap_err(),
        "filter.inSegments.0"
    );
    assert_eq!(
        leads(json!({ "not": { "inSegments": [] } }))
            .await
            .unwrap_err(),
        "filter.not.inSegments"
    );

    // A dynamic segment built on others follows them.
    let unlisted = segment(
        &app,
        &owner,
        json!({ "name": "VIPs not listed", "kind": "DYNAMIC",
                "filter": { "inSegments": [vips["id"]], "notInSegments": [list["id"]] } }),
    )
    .await;
    assert_eq!(unlisted["count"], 2);
    app.gql_as(
        &owner.access_token,
        ADD,
        json!({ "s": list["id"], "ids": [cy] }),
    )
    .await
    .data("addToSegment");
    let (count, emails) = members(&app, &owner, &unlisted["id"], Value::Null).await;
    assert_eq!(
        (count, emails),
        (json!(1), vec!["ada@example.org".to_owned()])
    );
    let lead_segments = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { lead(id: $id) { segments { nodes { name } } } }",
            json!({ "id": ada }),
        )
        .await;
    assert_eq!(
        lead_segments.data("lead")["segments"]["nodes"],
        json!([{ "name": "VIPs not listed" }, { "name": "VIPs" }])
    );

    // No segment may reach itself, directly or through another.
    let update = "mutation($id: ID!, $input: UpdateSegmentInput!) { updateSegment(id: $id, input: $input) { id } }";
    for (id, filter, field) in [
        (
            &vips["id"],
            json!({ "inSegments": [vips["id"]] }),
            "input.filter.inSegments.0",
        ),
        (
            &vips["id"],
            json!({ "and": [{ "notInSegments": [unlisted["id"]] }] }),
            "input.filter.and.0.notInSegments.0",
        ),
    ] {
        let refused = app
            .gql_as(
                &owner.access_token,
                update,
                json!({ "id": id, "input": { "filter": filter } }),
            )
            .await;
        assert_eq!(bad_field(&refused), field, "{}", refused.body);
    }

    // A segment deleted later has no members for the filters that name it.
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteSegment(id: $id) { id } }",
        json!({ "id": list["id"] }),
    )
    .await
    .data("deleteSegment");
    assert_eq!(
        members(&app, &owner, &unlisted["id"], Value::Null).await.0,
        2
    );
}
