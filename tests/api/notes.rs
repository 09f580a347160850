//! Versioned notes on leads and companies: written by members, edited only
//! by their author or an admin, never losing an earlier text, soft-deleted,
//! and invisible across tenants.
//!
//! There is no lead or company API to lean on here, so the fixtures insert
//! leads and companies with raw SQL (also used by `scoring.rs`).

use promohub::tenancy::{Actor, RequestCtx, Role};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Session, TestApp, on_postgres};

/// A uuid as an SQL literal of the backend under test (a 16-byte blob on
/// SQLite, `uuid` on PostgreSQL).
pub(crate) fn uuid_literal(id: Uuid) -> String {
    if on_postgres() {
        format!("'{id}'::uuid")
    } else {
        format!("X'{}'", id.simple())
    }
}

/// Inserts a live lead into tenant `slug` with extra `(column, SQL literal)`
/// pairs; returns its id.
pub(crate) async fn insert_lead(app: &TestApp, slug: &str, columns: &[(&str, &str)]) -> Uuid {
    let id = Uuid::now_v7();
    let names: String = columns
        .iter()
        .map(|(name, _)| format!(", {name}"))
        .collect();
    let values: String = columns
        .iter()
        .map(|(_, value)| format!(", {value}"))
        .collect();
    app.sql(&format!(
        "INSERT INTO leads (tenant_id, id, search_text, sort_name{names}) \
         VALUES ((SELECT id FROM tenants WHERE slug = '{slug}'), {}, '', ''{values})",
        uuid_literal(id)
    ))
    .await;
    id
}

/// Inserts a live company named `name` into tenant `slug`; returns its id.
pub(crate) async fn insert_company(app: &TestApp, slug: &str, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    app.sql(&format!(
        "INSERT INTO companies (tenant_id, id, name) \
         VALUES ((SELECT id FROM tenants WHERE slug = '{slug}'), {}, '{name}')",
        uuid_literal(id)
    ))
    .await;
    id
}

/// Soft-deletes a row of `table` with raw SQL.
pub(crate) async fn soft_delete(app: &TestApp, table: &str, id: Uuid) {
    app.sql(&format!(
        "UPDATE {table} SET deleted_at = '2020-01-01T00:00:00+00:00' WHERE id = {}",
        uuid_literal(id)
    ))
    .await;
}

/// The request context a service would get for `session` (for calling
/// library functions and loaders directly).
pub(crate) fn ctx_of(session: &Session) -> RequestCtx {
    RequestCtx {
        tenant_id: session.tenant_id.parse().unwrap(),
        role: Role::Owner,
        actor: Actor::User {
            user_id: session.user_id.parse().unwrap(),
        },
        expires_at: None,
        txn: Default::default(),
    }
}

const CREATE: &str = "mutation($input: CreateNoteInput!) { createNote(input: $input) { id body isInternal version author { email } createdAt updatedAt versions { totalCount nodes { version } } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateNoteInput!) { updateNote(id: $id, input: $input) { id body isInternal version versions { totalCount nodes { id version body isInternal editedBy createdAt } } } }";
const DELETE: &str = "mutation($id: ID!) { deleteNote(id: $id) }";
const LIST: &str = "query($lead: ID, $company: ID, $first: Int, $after: String) { notes(leadId: $lead, companyId: $company, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id body isInternal author { email } } } } }";
const GET: &str = "query($id: ID!) { note(id: $id) { id body version } }";

async fn create_note(app: &TestApp, token: &str, input: Value) -> String {
    let response = app.gql_as(token, CREATE, json!({ "input": input })).await;
    response.data("createNote")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn field_of(response: &crate::helpers::Gql) -> String {
    response.expect_error("BAD_USER_INPUT")["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_note_on_a_lead_is_listed_newest_first_with_its_author_and_a_timeline_entry() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = insert_lead(&app, "acme", &[]).await;

    let first = app
        .gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "leadId": lead.to_string(), "body": "  Called, wants a demo  " } }),
        )
        .await;
    let second = create_note(
        &app,
        &owner.access_token,
        json!({ "leadId": lead.to_string(), "body": "Demo booked", "isInternal": true }),
    )
    .await;
    let listed = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "lead": lead.to_string() }),
        )
        .await;

    let first = first.data("createNote");
    assert_eq!(first["body"], "Called, wants a demo");
    assert_eq!(first["isInternal"], false);
    assert_eq!(first["version"], 1);
    assert_eq!(first["author"]["email"], owner.email.as_str());
    assert_eq!(first["versions"], json!({ "totalCount": 0, "nodes": [] }));
    let notes = listed.data("notes");
    assert_eq!(notes["totalCount"], 2);
    let edges = notes["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"]["id"], second.as_str(), "newest first");
    assert_eq!(edges[0]["node"]["isInternal"], true);
    assert_eq!(edges[1]["node"]["id"], first["id"]);
    assert_eq!(edges[1]["node"]["author"]["email"], owner.email.as_str());
    let timeline = app
        .sql("SELECT detail FROM activities WHERE activity_type = 'note_added' ORDER BY id")
        .await;
    assert_eq!(timeline.len(), 2, "one timeline entry per note");
    let detail: Value = timeline[1].try_get("", "detail").unwrap();
    assert_eq!(detail["noteId"], second.as_str());
}

#[tokio::test]
async fn notes_on_a_company_are_separate_from_notes_on_leads_and_page_with_cursors() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let company = insert_company(&app, "acme", "Acme GmbH").await;
    let lead = insert_lead(&app, "acme", &[]).await;
    for n in 1..=3 {
        create_note(
            &app,
            &owner.access_token,
            json!({ "companyId": company.to_string(), "body": format!("company note {n}") }),
        )
        .await;
    }
    create_note(
        &app,
        &owner.access_token,
        json!({ "leadId": lead.to_string(), "body": "lead note" }),
    )
    .await;

    let page1 = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "company": company.to_string(), "first": 2 }),
        )
        .await;
    let cursor = page1.data("notes")["pageInfo"]["endCursor"].clone();
    let page2 = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "company": company.to_string(), "first": 2, "after": cursor }),
        )
        .await;

    let bodies = |page: &crate::helpers::Gql| -> Vec<String> {
        page.data("notes")["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(bodies(&page1), ["company note 3", "company note 2"]);
    assert_eq!(page1.data("notes")["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1.data("notes")["totalCount"], 3);
    assert_eq!(bodies(&page2), ["company note 1"]);
    assert_eq!(page2.data("notes")["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        app.count("activities", "activity_type = 'note_added'")
            .await,
        1,
        "only the lead's note goes on a timeline"
    );
}

#[tokio::test]
async fn editing_a_note_keeps_every_earlier_version() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let admin = app.add_member(&owner, "admin@acme.example", "ADMIN").await;
    let lead = insert_lead(&app, "acme", &[]).await;
    let id = create_note(
        &app,
        &owner.access_token,
        json!({ "leadId": lead.to_string(), "body": "v1" }),
    )
    .await;

    let second = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id, "input": { "body": "v2" } }),
        )
        .await;
    let third = app
        .gql_as(
            &admin.access_token,
            UPDATE,
            json!({ "id": id, "input": { "isInternal": true } }),
        )
        .await;
    let unchanged = app
        .gql_as(
            &owner.access_token,
            UPDATE,
            json!({ "id": id, "input": { "body": "v2", "isInternal": true } }),
        )
        .await;
    let read = app
        .gql_as(&owner.access_token, GET, json!({ "id": id }))
        .await;

    assert_eq!(second.data("updateNote")["version"], 2);
    let third = third.data("updateNote");
    assert_eq!(third["version"], 3);
    assert_eq!(third["body"], "v2");
    assert_eq!(third["isInternal"], true);
    let versions = third["versions"]["nodes"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "newest first, the current text excluded");
    assert_eq!(third["versions"]["totalCount"], 2);
    assert_eq!(versions[1]["version"], 1);
    assert_eq!(versions[1]["body"], "v1");
    assert_eq!(versions[1]["isInternal"], false);
    assert_eq!(versions[1]["editedBy"], owner.user_id.as_str());
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["body"], "v2");
    assert_eq!(versions[0]["editedBy"], owner.user_id.as_str());
    assert_eq!(
        unchanged.data("updateNote")["version"],
        3,
        "an edit that changes nothing makes no version"
    );
    assert_eq!(read.data("note")["version"], 3);
    assert_eq!(app.count("note_versions", "1 = 1").await, 2);
    assert_eq!(
        app.count(
            "notes",
            &format!(
                "updated_by = {}",
                uuid_literal(admin.user_id.parse().unwrap())
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn only_the_author_or_an_admin_may_edit_or_delete_a_note() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.sql("UPDATE tenants SET max_users = 10").await;
    let author = app
        .add_member(&owner, "author@acme.example", "MEMBER")
        .await;
    let colleague = app.add_member(&owner, "other@acme.example", "MEMBER").await;
    let admin = app.add_member(&owner, "admin@acme.example", "ADMIN").await;
    let lead = insert_lead(&app, "acme", &[]).await;
    let first = create_note(
        &app,
        &author.access_token,
        json!({ "leadId": lead.to_string(), "body": "mine" }),
    )
    .await;
    let second = create_note(
        &app,
        &author.access_token,
        json!({ "leadId": lead.to_string(), "body": "also mine" }),
    )
    .await;

    let colleague_edit = app
        .gql_as(
            &colleague.access_token,
            UPDATE,
            json!({ "id": first, "input": { "body": "hijacked" } }),
        )
        .await;
    let colleague_delete = app
        .gql_as(&colleague.access_token, DELETE, json!({ "id": first }))
        .await;
    let author_edit = app
        .gql_as(
            &author.access_token,
            UPDATE,
            json!({ "id": first, "input": { "body": "mine, edited" } }),
        )
        .await;
    let admin_edit = app
        .gql_as(
            &admin.access_token,
            UPDATE,
            json!({ "id": first, "input": { "body": "tidied by admin" } }),
        )
        .await;
    let owner_delete = app
        .gql_as(&owner.access_token, DELETE, json!({ "id": first }))
        .await;
    let author_delete = app
        .gql_as(&author.access_token, DELETE, json!({ "id": second }))
        .await;

    colleague_edit.expect_error("FORBIDDEN");
    colleague_delete.expect_error("FORBIDDEN");
    assert_eq!(author_edit.data("updateNote")["body"], "mine, edited");
    assert_eq!(admin_edit.data("updateNote")["body"], "tidied by admin");
    assert_eq!(owner_delete.data("deleteNote"), first.as_str());
    assert_eq!(author_delete.data("deleteNote"), second.as_str());
    assert_eq!(app.count("notes", "deleted_at IS NULL").await, 0);
    assert_eq!(app.count("notes", "body = 'hijacked'").await, 0);
}

#[tokio::test]
async fn viewers_and_read_only_keys_read_notes_but_never_write_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let read_key = app.api_key(&owner, &["READ"]).await;
    let write_key = app.api_key(&owner, &["WRITE"]).await;
    let lead = insert_lead(&app, "acme", &[]).await;
    let id = create_note(
        &app,
        &owner.access_token,
        json!({ "leadId": lead.to_string(), "body": "owner's" }),
    )
    .await;
    let create = json!({ "input": { "leadId": lead.to_string(), "body": "x" } });

    for token in [viewer.access_token.as_str(), read_key.as_str()] {
        app.gql_as(token, CREATE, create.clone())
            .await
            .expect_error("FORBIDDEN");
        app.gql_as(token, UPDATE, json!({ "id": id, "input": { "body": "y" } }))
            .await
            .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": id }))
            .await
            .expect_error("FORBIDDEN");
        let listed = app
            .gql_as(token, LIST, json!({ "lead": lead.to_string() }))
            .await;
        assert_eq!(listed.data("notes")["totalCount"], 1);
    }
    let by_key = app.gql_as(&write_key, CREATE, create.clone()).await;

    assert!(
        by_key.data("createNote")["author"].is_null(),
        "a key is no person"
    );
    assert_eq!(app.count("notes", "1 = 1").await, 2);
    assert_eq!(app.count("notes", "body = 'y'").await, 0);
}

#[tokio::test]
async fn note_input_is_validated_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = insert_lead(&app, "acme", &[]).await;
    let company = insert_company(&app, "acme", "Acme").await;
    let token = owner.access_token.as_str();
    let id = create_note(
        &app,
        token,
        json!({ "leadId": lead.to_string(), "body": "ok" }),
    )
    .await;
    let create = |input: Value| app.gql_as(token, CREATE, json!({ "input": input }));

    let both = create(
        json!({ "leadId": lead.to_string(), "companyId": company.to_string(), "body": "x" }),
    )
    .await;
    let neither = create(json!({ "body": "x" })).await;
    let blank = create(json!({ "leadId": lead.to_string(), "body": "   " })).await;
    let too_long = create(json!({ "leadId": lead.to_string(), "body": "x".repeat(10_001) })).await;
    let longest = create(json!({ "leadId": lead.to_string(), "body": "x".repeat(10_000) })).await;
    let bad_id = create(json!({ "leadId": "not-an-id", "body": "x" })).await;
    let blank_edit = app
        .gql_as(token, UPDATE, json!({ "id": id, "input": { "body": "" } }))
        .await;
    let list_neither = app.gql_as(token, LIST, json!({})).await;
    let list_both = app
        .gql_as(
            token,
            LIST,
            json!({ "lead": lead.to_string(), "company": company.to_string() }),
        )
        .await;

    assert_eq!(field_of(&both), "input.companyId");
    assert_eq!(field_of(&neither), "input.leadId");
    assert_eq!(field_of(&blank), "input.body");
    assert_eq!(field_of(&too_long), "input.body");
    assert!(longest.is_ok(), "{:?}", longest.body);
    assert_eq!(field_of(&bad_id), "input.leadId");
    assert_eq!(field_of(&blank_edit), "input.body");
    assert_eq!(field_of(&list_neither), "leadId");
    assert_eq!(field_of(&list_both), "companyId");
    assert_eq!(app.count("notes", "1 = 1").await, 2);
}

#[tokio::test]
async fn a_note_needs_a_live_lead_or_company_of_the_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let deleted_lead = insert_lead(&app, "acme", &[]).await;
    soft_delete(&app, "leads", deleted_lead).await;
    let deleted_company = insert_company(&app, "acme", "Gone Ltd").await;
    soft_delete(&app, "companies", deleted_company).await;
    let token = owner.access_token.as_str();

    for input in [
        json!({ "leadId": deleted_lead.to_string(), "body": "x" }),
        json!({ "companyId": deleted_company.to_string(), "body": "x" }),
        json!({ "leadId": Uuid::now_v7().to_string(), "body": "x" }),
        json!({ "companyId": Uuid::now_v7().to_string(), "body": "x" }),
    ] {
        app.gql_as(token, CREATE, json!({ "input": input }))
            .await
            .expect_error("NOT_FOUND");
    }
    app.gql_as(token, LIST, json!({ "lead": Uuid::now_v7().to_string() }))
        .await
        .expect_error("NOT_FOUND");

    assert_eq!(app.count("notes", "1 = 1").await, 0);
    assert_eq!(app.count("activities", "1 = 1").await, 0);
}

#[tokio::test]
async fn a_deleted_note_leaves_lists_and_reads_but_its_row_is_kept() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = insert_lead(&app, "acme", &[]).await;
    let token = owner.access_token.as_str();
    let kept = create_note(
        &app,
        token,
        json!({ "leadId": lead.to_string(), "body": "kept" }),
    )
    .await;
    let gone = create_note(
        &app,
        token,
        json!({ "leadId": lead.to_string(), "body": "gone" }),
    )
    .await;

    let deleted = app.gql_as(token, DELETE, json!({ "id": gone })).await;
    let listed = app
        .gql_as(token, LIST, json!({ "lead": lead.to_string() }))
        .await;
    let read = app.gql_as(token, GET, json!({ "id": gone })).await;
    let edit = app
        .gql_as(
            token,
            UPDATE,
            json!({ "id": gone, "input": { "body": "back" } }),
        )
        .await;
    let again = app.gql_as(token, DELETE, json!({ "id": gone })).await;

    assert_eq!(deleted.data("deleteNote"), gone.as_str());
    assert_eq!(listed.data("notes")["totalCount"], 1);
    assert_eq!(
        listed.data("notes")["edges"][0]["node"]["id"],
        kept.as_str()
    );
    read.expect_error("NOT_FOUND");
    edit.expect_error("NOT_FOUND");
    again.expect_error("NOT_FOUND");
    assert_eq!(app.count("notes", "deleted_at IS NOT NULL").await, 1);
}

#[tokio::test]
async fn every_note_mutation_writes_an_audit_row() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let viewer = app
        .add_member(&owner, "viewer@acme.example", "VIEWER")
        .await;
    let lead = insert_lead(&app, "acme", &[]).await;
    let token = owner.access_token.as_str();
    let id = create_note(
        &app,
        token,
        json!({ "leadId": lead.to_string(), "body": "a" }),
    )
    .await;
    app.gql_as(token, UPDATE, json!({ "id": id, "input": { "body": "b" } }))
        .await;
    app.gql_as(&viewer.access_token, DELETE, json!({ "id": id }))
        .await
        .expect_error("FORBIDDEN");
    app.gql_as(token, DELETE, json!({ "id": id })).await;

    let id_literal = uuid_literal(id.parse().unwrap());
    for (action, outcome, n) in [
        ("createNote", "success", 1),
        ("updateNote", "success", 1),
        ("deleteNote", "success", 1),
        ("deleteNote", "failure", 1),
    ] {
        let found = app
            .count(
                "audit_log",
                &format!(
                    "action = '{action}' AND outcome = '{outcome}' AND entity_id = {id_literal}"
                ),
            )
            .await;
        assert_eq!(found, n, "{action} {outcome}");
    }
    assert_eq!(
        app.count("audit_log", "entity_type = 'note'").await,
        3,
        "the successful ones name the note"
    );
}

#[tokio::test]
async fn another_tenants_notes_are_not_found_for_every_operation_and_stay_unchanged() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    let a_lead = insert_lead(&app, "alpha", &[]).await;
    let b_lead = insert_lead(&app, "beta", &[]).await;
    let b_company = insert_company(&app, "beta", "Beta Corp").await;
    let b_note = create_note(
        &app,
        &b.access_token,
        json!({ "leadId": b_lead.to_string(), "body": "beta's secret" }),
    )
    .await;
    create_note(
        &app,
        &a.access_token,
        json!({ "leadId": a_lead.to_string(), "body": "alpha's" }),
    )
    .await;
    let token = a.access_token.as_str();

    let cases = [
        (
            "note",
            app.gql_as(token, GET, json!({ "id": b_note })).await,
        ),
        (
            "notes of lead",
            app.gql_as(token, LIST, json!({ "lead": b_lead.to_string() }))
                .await,
        ),
        (
            "notes of company",
            app.gql_as(token, LIST, json!({ "company": b_company.to_string() }))
                .await,
        ),
        (
            "createNote on lead",
            app.gql_as(
                token,
                CREATE,
                json!({ "input": { "leadId": b_lead.to_string(), "body": "x" } }),
            )
            .await,
        ),
        (
            "createNote on company",
            app.gql_as(
                token,
                CREATE,
                json!({ "input": { "companyId": b_company.to_string(), "body": "x" } }),
            )
            .await,
        ),
        (
            "updateNote",
            app.gql_as(
                token,
                UPDATE,
                json!({ "id": b_note, "input": { "body": "overwritten" } }),
            )
            .await,
        ),
        (
            "deleteNote",
            app.gql_as(token, DELETE, json!({ "id": b_note })).await,
        ),
    ];
    let own = app
        .gql_as(token, LIST, json!({ "lead": a_lead.to_string() }))
        .await;

    for (name, response) in cases {
        assert_eq!(
            response.code(),
            Some("NOT_FOUND"),
            "{name}: {:?}",
            response.body
        );
    }
    assert_eq!(own.data("notes")["totalCount"], 1);
    assert_eq!(own.data("notes")["edges"][0]["node"]["body"], "alpha's");
    let b_read = app
        .gql_as(&b.access_token, GET, json!({ "id": b_note }))
        .await;
    assert_eq!(b_read.data("note")["body"], "beta's secret");
    assert_eq!(b_read.data("note")["version"], 1);
    assert_eq!(app.count("notes", "1 = 1").await, 2);
    assert_eq!(app.count("notes", "deleted_at IS NOT NULL").await, 0);
    assert_eq!(app.count("note_versions", "1 = 1").await, 0);
}

#[tokio::test]
async fn the_latest_notes_loader_batches_parents_and_skips_deleted_notes() {
    use async_graphql::dataloader::Loader;
    use promohub::crm::notes::{NotesOfCompany, NotesOfLead};
    use promohub::graphql::loaders::{ChildCountLoader, LatestChildrenLoader};
    use promohub::tenancy::scoped::ReadScope;

    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let other = app.sign_up("other").await;
    let busy = insert_lead(&app, "acme", &[]).await;
    let quiet = insert_lead(&app, "acme", &[]).await;
    let company = insert_company(&app, "acme", "Acme").await;
    let foreign = insert_lead(&app, "other", &[]).await;
    let token = owner.access_token.as_str();
    let mut busy_notes = Vec::new();
    for n in 1..=4 {
        busy_notes.push(
            create_note(
                &app,
                token,
                json!({ "leadId": busy.to_string(), "body": format!("n{n}") }),
            )
            .await,
        );
    }
    create_note(
        &app,
        token,
        json!({ "companyId": company.to_string(), "body": "c" }),
    )
    .await;
    create_note(
        &app,
        &other.access_token,
        json!({ "leadId": foreign.to_string(), "body": "foreign" }),
    )
    .await;
    app.gql_as(token, DELETE, json!({ "id": busy_notes[3] }))
        .await;
    let ctx = ctx_of(&owner);

    let scope = ReadScope::new(app.db.clone(), ctx);
    let by_lead = LatestChildrenLoader::<NotesOfLead>::new(scope.clone())
        .load(&[(busy, 2), (quiet, 2), (foreign, 2), (busy, 10)])
        .await
        .unwrap();
    let by_company = LatestChildrenLoader::<NotesOfCompany>::new(scope.clone())
        .load(&[(company, 5)])
        .await
        .unwrap();
    let counts = ChildCountLoader::<NotesOfLead>::new(scope)
        .load(&[busy, quiet, foreign])
        .await
        .unwrap();

    let bodies = |key: (Uuid, u64)| -> Vec<String> {
        by_lead[&key].iter().map(|note| note.body.clone()).collect()
    };
    assert_eq!(bodies((busy, 2)), ["n3", "n2"], "newest live notes first");
    assert_eq!(bodies((busy, 10)), ["n3", "n2", "n1"]);
    assert!(bodies((quiet, 2)).is_empty());
    assert!(
        bodies((foreign, 2)).is_empty(),
        "another tenant's lead has none"
    );
    assert_eq!(by_company[&(company, 5)].len(), 1);
    assert_eq!(counts[&busy], 3, "live notes only");
    assert_eq!(counts[&quiet], 0);
    assert_eq!(counts[&foreign], 0, "another tenant's lead has none");
}

#[tokio::test]
async fn moving_notes_to_another_lead_takes_them_all() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let from = insert_lead(&app, "acme", &[]).await;
    let to = insert_lead(&app, "acme", &[]).await;
    let token = owner.access_token.as_str();
    for body in ["one", "two"] {
        create_note(
            &app,
            token,
            json!({ "leadId": from.to_string(), "body": body }),
        )
        .await;
    }
    create_note(
        &app,
        token,
        json!({ "leadId": to.to_string(), "body": "three" }),
    )
    .await;

    let moved = promohub::crm::notes::move_to_lead(&app.db, &ctx_of(&owner), from, to)
        .await
        .unwrap();
    let listed = app
        .gql_as(token, LIST, json!({ "lead": to.to_string() }))
        .await;

    assert_eq!(moved, 2);
    assert_eq!(listed.data("notes")["totalCount"], 3);
    assert_eq!(
        app.count("notes", &format!("lead_id = {}", uuid_literal(from)))
            .await,
        0
    );
}

#[tokio::test]
async fn a_leads_notes_page_like_any_connection() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let lead = insert_lead(&app, "acme", &[("first_name", "'Ada'")]).await;
    for body in ["one", "two", "three"] {
        app.gql_as(
            &owner.access_token,
            CREATE,
            json!({ "input": { "leadId": lead.to_string(), "body": body } }),
        )
        .await
        .data("createNote");
    }
    let page = "query($id: ID!, $after: String) { lead(id: $id) { notes(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { body } } } }";

    let first = app
        .gql_as(&owner.access_token, page, json!({ "id": lead.to_string() }))
        .await;
    let notes = &first.data("lead")["notes"];
    let cursor = notes["pageInfo"]["endCursor"].clone();
    let rest = app
        .gql_as(
            &owner.access_token,
            page,
            json!({ "id": lead.to_string(), "after": cursor }),
        )
        .await;
    let theirs = app
        .gql_as(
            &stranger.access_token,
            page,
            json!({ "id": lead.to_string() }),
        )
        .await;

    assert_eq!(notes["totalCount"], 3);
    assert_eq!(
        notes["nodes"],
        json!([{ "body": "three" }, { "body": "two" }])
    );
    assert_eq!(notes["pageInfo"]["hasNextPage"], true);
    let rest = &rest.data("lead")["notes"];
    assert_eq!(rest["nodes"], json!([{ "body": "one" }]));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    theirs.expect_error("NOT_FOUND");
}
