//! Segment upkeep: a dynamic segment's members move as leads change (every
//! kind of lead write, engagement, the clock), with the history of who
//! entered and left, when and why, which `segment.explain` shows beside the
//! clauses a lead meets now; never across tenants.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field};
use crate::leads::create_lead;

const CREATE: &str =
    "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }";
const EXPLAIN: &str = "query($s: ID!, $l: ID!) { segment(id: $s) { explain(leadId: $l) { member since clauses { field condition matched } periods { enteredAt enteredWhy leftAt leftWhy } } } }";

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.segment_sweep_secs = 1;
        c.messaging.worker_poll_ms = 50;
        c.messaging.machine_window_ms = 0;
    })
    .await
}

async fn segment(app: &TestApp, s: &Session, name: &str, filter: Value) -> String {
    let input = if filter.is_null() {
        json!({ "name": name, "kind": "STATIC" })
    } else {
        json!({ "name": name, "kind": "DYNAMIC", "filter": filter })
    };
    app.gql_as(&s.access_token, CREATE, json!({ "input": input }))
        .await
        .data("createSegment")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn lead(app: &TestApp, s: &Session, email: &str, status: &str, tags: &[&str]) -> String {
    create_lead(
        app,
        s,
        json!({ "email": email, "firstName": "Lead", "status": status, "tags": tags }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn explain(app: &TestApp, s: &Session, segment: &str, lead: &str) -> Value {
    app.gql_as(&s.access_token, EXPLAIN, json!({ "s": segment, "l": lead }))
        .await
        .data("segment")["explain"]
        .clone()
}

/// Upkeep runs in the background: waits until the lead's latest period
/// says what `done` wants, and returns the explanation.
async fn settled(
    app: &TestApp,
    s: &Session,
    segment: &str,
    lead: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let explained = explain(app, s, segment, lead).await;
        if done(&explained["periods"][0]) {
            return explained;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "upkeep never settled: {}",
        explain(app, s, segment, lead).await
    );
}

/// Waits until segment upkeep has read every domain event of the tenant
/// `slug` written so far: a segment saved before has had its first check,
/// so a lead written after enters for its own write (`lead.created`), not
/// for the segment's check (`segment.filter`), however fast the write.
pub async fn caught_up(app: &TestApp, slug: &str) {
    let sql = format!(
        "SELECT (SELECT last_seq FROM domain_event_sequences WHERE tenant_id = t.id) AS last, \
                (SELECT domain_seq FROM segment_upkeep WHERE tenant_id = t.id) AS done \
         FROM tenants t WHERE t.slug = '{slug}'"
    );
    for _ in 0..400 {
        let rows = app.sql(&sql).await;
        let last: Option<i64> = rows[0].try_get("", "last").unwrap();
        let done: Option<i64> = rows[0].try_get("", "done").unwrap();
        if done.is_some() && done >= last {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("segment upkeep never caught up with {slug}");
}

/// The lead's current period began for `why`.
pub async fn entered(app: &TestApp, s: &Session, segment: &str, lead: &str, why: &str) -> Value {
    let explained = settled(app, s, segment, lead, |p| {
        p["enteredWhy"] == why && p["leftAt"].is_null()
    })
    .await;
    assert_eq!(explained["member"], true, "{explained}");
    assert_eq!(explained["since"], explained["periods"][0]["enteredAt"]);
    explained
}

/// The lead is in the segment, for whatever reason: a lead written just
/// before its segment was saved may be seen by upkeep with the segment or
/// on its own (`segment.filter` or `lead.created`).
async fn inside(app: &TestApp, s: &Session, segment: &str, lead: &str) -> Value {
    let explained = settled(app, s, segment, lead, |p| {
        p["enteredAt"].is_string() && p["leftAt"].is_null()
    })
    .await;
    assert_eq!(explained["member"], true, "{explained}");
    explained
}

/// The lead's last period ended for `why`.
pub async fn left(app: &TestApp, s: &Session, segment: &str, lead: &str, why: &str) -> Value {
    let explained = settled(app, s, segment, lead, |p| p["leftWhy"] == why).await;
    assert_eq!(explained["member"], false, "{explained}");
    assert_eq!(explained["since"], Value::Null);
    explained
}

fn clauses(explained: &Value) -> Vec<(String, bool)> {
    explained["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_owned(),
                c["matched"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn dynamic_members_move_with_every_kind_of_lead_write_and_explain_says_why() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let token = &owner.access_token;
    let bob = lead(&app, &owner, "bob@example.org", "INTERESTED", &["vip"]).await;
    let hot = segment(
        &app,
        &owner,
        "Interested VIPs",
        json!({ "tags": { "contains": "vip" }, "status": { "eq": "INTERESTED" } }),
    )
    .await;
    // There before the segment: in from the start, because of the filter.
    let explained = inside(&app, &owner, &hot, &bob).await;
    assert_eq!(
        clauses(&explained),
        [("status".to_owned(), true), ("tags".to_owned(), true)]
    );
    assert_eq!(
        explained["clauses"][1]["condition"],
        json!({ "contains": "vip" })
    );

    // Created after it, not matching: out, and the clause that fails says so.
    let ada = lead(&app, &owner, "ada@example.org", "NEW", &["vip"]).await;
    let created = lead(&app, &owner, "cy@example.org", "INTERESTED", &["vip"]).await;
    entered(&app, &owner, &hot, &created, "lead.created").await;
    let outside = explain(&app, &owner, &hot, &ada).await;
    assert_eq!(outside["member"], false);
    assert_eq!(
        clauses(&outside),
        [("status".to_owned(), false), ("tags".to_owned(), true)]
    );
    assert_eq!(outside["periods"], json!([]));

    // A bulk update moves it in, a single update out again.
    let bulk =
        "mutation($ids: [ID!], $patch: LeadPatch!) { bulkUpdateLeads(ids: $ids, patch: $patch) }";
    app.gql_as(
        token,
        bulk,
        json!({ "ids": [ada], "patch": { "status": "INTERESTED" } }),
    )
    .await
    .data("bulkUpdateLeads");
    entered(&app, &owner, &hot, &ada, "lead.changed").await;
    app.gql_as(
        token,
        "mutation($id: ID!) { updateLead(id: $id, input: { status: NEW }) { id } }",
        json!({ "id": ada }),
    )
    .await
    .data("updateLead");
    let explained = left(&app, &owner, &hot, &ada, "lead.changed").await;
    assert_eq!(explained["periods"].as_array().unwrap().len(), 1);

    // Into the trash and back.
    app.gql_as(
        token,
        "mutation($id: ID!) { deleteLead(id: $id) { id } }",
        json!({ "id": bob }),
    )
    .await
    .data("deleteLead");
    left(&app, &owner, &hot, &bob, "lead.deleted").await;
    app.gql_as(
        token,
        "mutation($id: ID!) { restoreLead(id: $id) { id } }",
        json!({ "id": bob }),
    )
    .await
    .data("restoreLead");
    let explained = entered(&app, &owner, &hot, &bob, "lead.restored").await;
    let periods = explained["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2, "{explained}");
    assert_eq!(periods[1]["leftWhy"], "lead.deleted");

    // Merged away: the duplicate leaves; the survivor is checked too.
    app.gql_as(
        token,
        "mutation($p: ID!, $d: [ID!]!) { mergeLeads(primaryId: $p, duplicateIds: $d) { id } }",
        json!({ "p": ada, "d": [created] }),
    )
    .await
    .data("mergeLeads");
    left(&app, &owner, &hot, &created, "lead.merged").await;
    let survivor = explain(&app, &owner, &hot, &ada).await;
    let all_hold = clauses(&survivor).iter().all(|(_, matched)| *matched);
    assert_eq!(survivor["member"], all_hold, "{survivor}");

    // The filter changes: everyone is re-checked, for that reason.
    app.gql_as(
        token,
        "mutation($id: ID!, $input: UpdateSegmentInput!) { updateSegment(id: $id, input: $input) { id } }",
        json!({ "id": hot, "input": { "filter": { "tags": { "contains": "vip" } } } }),
    )
    .await
    .data("updateSegment");
    let explained = entered(&app, &owner, &hot, &ada, "segment.filter").await;
    assert_eq!(clauses(&explained), [("tags".to_owned(), true)]);
}

#[tokio::test]
async fn static_members_have_periods_and_segments_naming_them_follow() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let token = &owner.access_token;
    let ada = lead(&app, &owner, "ada@example.org", "NEW", &["fair"]).await;
    let list = segment(&app, &owner, "Fair contacts", Value::Null).await;
    let named = segment(
        &app,
        &owner,
        "Fair contacts, interested",
        json!({ "inSegments": [list] }),
    )
    .await;
    let add = "mutation($s: ID!, $ids: [ID!], $filter: LeadFilter) { addToSegment(segmentId: $s, leadIds: $ids, filter: $filter) { changed } }";
    let remove = "mutation($s: ID!, $ids: [ID!], $filter: LeadFilter) { removeFromSegment(segmentId: $s, leadIds: $ids, filter: $filter) { changed } }";

    app.gql_as(token, add, json!({ "s": list, "ids": [ada] }))
        .await
        .data("addToSegment");
    // A static segment's period opens with the change itself.
    let explained = explain(&app, &owner, &list, &ada).await;
    assert_eq!(explained["member"], true);
    assert_eq!(explained["clauses"], json!([]));
    assert_eq!(explained["periods"][0]["enteredWhy"], "added");
    assert!(explained["since"].is_string(), "{explained}");
    // Why depends on whether upkeep saw the new segment and the addition
    // in one pass (its filter) or two (the segment it names changed).
    let explained = inside(&app, &owner, &named, &ada).await;
    assert!(
        ["segment.filter", "segment.named"]
            .contains(&explained["periods"][0]["enteredWhy"].as_str().unwrap()),
        "{explained}"
    );

    app.gql_as(
        token,
        remove,
        json!({ "s": list, "filter": { "tags": { "contains": "fair" } } }),
    )
    .await
    .data("removeFromSegment");
    let explained = explain(&app, &owner, &list, &ada).await;
    assert_eq!(explained["member"], false);
    assert_eq!(explained["periods"][0]["leftWhy"], "removed");
    left(&app, &owner, &named, &ada, "segment.named").await;

    app.gql_as(
        token,
        add,
        json!({ "s": list, "filter": { "tags": { "contains": "fair" } } }),
    )
    .await
    .data("addToSegment");
    let explained = explain(&app, &owner, &list, &ada).await;
    let periods = explained["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2, "{explained}");
    assert_eq!(periods[0]["enteredWhy"], "added");
    assert!(periods[0]["leftAt"].is_null());
    assert_eq!(explained["since"], periods[0]["enteredAt"]);
    entered(&app, &owner, &named, &ada, "segment.named").await;

    // Deleting the named segment empties the one naming it.
    app.gql_as(
        token,
        "mutation($id: ID!) { deleteSegment(id: $id) { id } }",
        json!({ "id": list }),
    )
    .await
    .data("deleteSegment");
    let explained = left(&app, &owner, &named, &ada, "segment.named").await;
    assert_eq!(explained["periods"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn engagement_and_the_clock_move_members_with_no_lead_write() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = crate::smtp_server::TestSmtpServer::start();
    crate::messaging::create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let template = crate::messaging::create_template(&app, &owner).await;
    let ada = lead(&app, &owner, "ada@example.org", "NEW", &[]).await;
    let never = segment(
        &app,
        &owner,
        "Never contacted",
        json!({ "contacted": false }),
    )
    .await;
    let openers = segment(
        &app,
        &owner,
        "Opened lately",
        json!({ "engaged": { "kinds": ["OPENED"], "inLastDays": 30 } }),
    )
    .await;
    let recent = segment(
        &app,
        &owner,
        "New this month",
        json!({ "createdAt": { "inLastDays": 30 } }),
    )
    .await;
    inside(&app, &owner, &never, &ada).await;
    inside(&app, &owner, &recent, &ada).await;
    let outside = explain(&app, &owner, &openers, &ada).await;
    assert_eq!(clauses(&outside), [("engaged".to_owned(), false)]);

    let queued = crate::messaging::send(&app, &owner, &ada, &template).await;
    let message =
        crate::messaging::wait_for_status(&app, &owner, queued["id"].as_str().unwrap(), "SENT")
            .await;
    left(&app, &owner, &never, &ada, "engagement").await;
    crate::messaging::open_pixel(&app, &message).await;
    let explained = entered(&app, &owner, &openers, &ada, "engagement").await;
    assert_eq!(clauses(&explained), [("engaged".to_owned(), true)]);

    // Forty days pass for the lead (no event says so): the sweep notices.
    let forty_days_ago = (chrono::Utc::now() - chrono::Duration::days(40))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    app.sql(&format!(
        "UPDATE leads SET created_at = '{forty_days_ago}' WHERE email = 'ada@example.org'"
    ))
    .await;
    left(&app, &owner, &recent, &ada, "time").await;
}

#[tokio::test]
async fn explain_and_upkeep_never_cross_tenants() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let rival = app.sign_up("rival").await;
    let mine = lead(&app, &owner, "ada@example.org", "NEW", &["vip"]).await;
    let theirs = lead(&app, &rival, "eve@example.org", "NEW", &["vip"]).await;
    let vips = segment(
        &app,
        &owner,
        "VIPs",
        json!({ "tags": { "contains": "vip" } }),
    )
    .await;
    let their_vips = segment(
        &app,
        &rival,
        "VIPs",
        json!({ "tags": { "contains": "vip" } }),
    )
    .await;
    inside(&app, &owner, &vips, &mine).await;
    inside(&app, &rival, &their_vips, &theirs).await;

    // Another tenant's lead is as unknown as an id never used.
    let refused = app
        .gql_as(
            &owner.access_token,
            EXPLAIN,
            json!({ "s": vips, "l": theirs }),
        )
        .await;
    assert_eq!(bad_field(&refused), "leadId");
    // Another tenant's segment is not there at all.
    let hidden = app
        .gql_as(
            &owner.access_token,
            EXPLAIN,
            json!({ "s": their_vips, "l": mine }),
        )
        .await;
    assert_eq!(hidden.code(), Some("NOT_FOUND"), "{:?}", hidden.body);

    // Each segment's periods are its own tenant's leads only (the join on
    // the lead's id alone would show a lead of another tenant).
    let rows = app
        .sql(
            "SELECT l.email, CASE WHEN l.tenant_id = s.tenant_id THEN 1 ELSE 0 END \
             FROM segment_memberships m \
             JOIN segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id \
             JOIN leads l ON l.id = m.lead_id ORDER BY l.email",
        )
        .await;
    let periods: Vec<(String, i32)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get_by_index(0).unwrap(),
                row.try_get_by_index(1).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        periods,
        [
            ("ada@example.org".to_owned(), 1),
            ("eve@example.org".to_owned(), 1)
        ]
    );
}
