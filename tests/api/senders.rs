//! Sender accounts: admins manage them, the password goes in sealed and
//! never comes out, lists follow the failover order with recent usage, and
//! the delivery worker's `candidates` honours order, preference and limits.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use promohub::messaging::senders::{candidates, record_use};
use promohub::secrets::SecretBox;
use promohub::tenancy::scoped::begin_for;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Gql, Session, TestApp, bad_field, taken_field};

const FIELDS: &str = "id name provider host port tlsMode username hasPassword fromEmail fromName \
     replyTo hourlyLimit dailyLimit priority isActive totalSent sentLastHour sentToday \
     lastUsedAt lastError lastErrorAt createdAt updatedAt";

fn create_query() -> String {
    format!(
        "mutation($input: CreateSenderAccountInput!) {{ createSenderAccount(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateSenderAccountInput!) {{ updateSenderAccount(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

fn get_query() -> String {
    format!("query($id: ID!) {{ senderAccount(id: $id) {{ {FIELDS} }} }}")
}

const DELETE: &str = "mutation($id: ID!) { deleteSenderAccount(id: $id) { id name } }";
const LIST: &str = "query($first: Int, $after: String, $last: Int, $before: String) { senderAccounts(first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { node { id name priority sentLastHour sentToday } } } }";

fn minimal(name: &str) -> Value {
    json!({ "name": name, "host": "smtp.example.com", "port": 587, "fromEmail": "news@acme.example" })
}

fn at_host(name: &str, host: &str) -> Value {
    let mut input = minimal(name);
    input["host"] = host.into();
    input
}

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
        .data("createSenderAccount")
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
    response.data("senderAccounts")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn uuid(value: &Value) -> Uuid {
    Uuid::parse_str(value.as_str().expect("an id")).expect("a uuid")
}

/// The stored (sealed) password of the account named `name`.
async fn stored_password(app: &TestApp, name: &str) -> Option<String> {
    let rows = app
        .sql(&format!(
            "SELECT password_encrypted FROM sender_accounts WHERE name = '{name}'"
        ))
        .await;
    rows[0]
        .try_get::<Option<String>>("", "password_encrypted")
        .unwrap()
}

/// Records a message sent through `sender` at `sent_at`, as the delivery
/// worker would.
async fn sent(app: &TestApp, tenant: &str, lead: Uuid, sender: Uuid, at: DateTime<FixedOffset>) {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO messages (tenant_id, id, lead_id, sender_id, recipient, message_id_header, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        }
        _ => {
            "INSERT INTO messages (tenant_id, id, lead_id, sender_id, recipient, message_id_header, sent_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"
        }
    };
    let id = Uuid::now_v7();
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                Uuid::parse_str(tenant).unwrap().into(),
                id.into(),
                lead.into(),
                sender.into(),
                "lead@example.com".into(),
                format!("<{id}@promohub.test>").into(),
                at.into(),
            ],
        ))
        .await
        .expect("insert a sent message");
}

async fn lead(app: &TestApp, session: &Session) -> Uuid {
    let created = app
        .gql_as(
            &session.access_token,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            json!({ "input": { "email": "lead@example.com", "firstName": "Lea" } }),
        )
        .await;
    uuid(&created.data("createLead")["id"])
}

#[tokio::test]
async fn an_admin_creates_an_account_and_changes_it_absent_and_null_differ() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let admin = app.add_member(&owner, "a@acme.example", "ADMIN").await;

    let created = create(
        &app,
        &admin,
        json!({
            "name": "Primary", "provider": "sendgrid", "host": " SMTP.SendGrid.net ", "port": 465,
            "tlsMode": "TLS", "username": "apikey", "password": "sg-secret",
            "fromEmail": "News@Acme.Example", "fromName": "Acme News", "replyTo": "help@acme.example",
            "hourlyLimit": 100, "dailyLimit": 1000, "priority": 10, "isActive": true,
        }),
    )
    .await;
    let updated = update(
        &app,
        &admin,
        &created["id"],
        json!({ "username": null, "replyTo": null, "hourlyLimit": null, "port": 587, "tlsMode": "STARTTLS" }),
    )
    .await;
    let read = app
        .gql_as(
            &owner.access_token,
            &get_query(),
            json!({ "id": created["id"] }),
        )
        .await;
    let defaults = create(&app, &admin, minimal("Backup")).await;

    assert_eq!(created["host"], "smtp.sendgrid.net");
    assert_eq!(created["tlsMode"], "TLS");
    assert_eq!(created["fromEmail"], "news@acme.example");
    assert_eq!(created["hasPassword"], true);
    assert_eq!(created["totalSent"], 0);
    assert_eq!(created["sentLastHour"], 0);
    assert_eq!(created["sentToday"], 0);
    assert_eq!(created["lastUsedAt"], Value::Null);
    let updated = updated.data("updateSenderAccount");
    assert_eq!(updated["username"], Value::Null, "null clears");
    assert_eq!(updated["replyTo"], Value::Null);
    assert_eq!(updated["hourlyLimit"], Value::Null, "null: unlimited");
    assert_eq!(updated["dailyLimit"], 1000, "absent stays");
    assert_eq!(updated["fromName"], "Acme News");
    assert_eq!(updated["hasPassword"], true, "absent keeps the password");
    assert_eq!(updated["port"], 587);
    assert_eq!(updated["tlsMode"], "STARTTLS");
    assert_eq!(read.data("senderAccount")["port"], 587);
    assert_eq!(defaults["provider"], "custom");
    assert_eq!(defaults["tlsMode"], "STARTTLS");
    assert_eq!(defaults["priority"], 0);
    assert_eq!(defaults["isActive"], true);
    assert_eq!(defaults["hasPassword"], false);
    assert_eq!(defaults["hourlyLimit"], Value::Null);
    for action in ["createSenderAccount", "updateSenderAccount"] {
        assert!(
            app.count(
                "audit_log",
                &format!(
                    "action = '{action}' AND outcome = 'success' AND entity_type = 'sender_account'"
                )
            )
            .await
                >= 1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn the_password_is_write_only_and_stored_sealed_to_its_account() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let secrets = SecretBox::new(&app.config.messaging.secrets_key).unwrap();
    let mut input = minimal("Main");
    input["password"] = json!("hunter2-smtp");

    let created = create(&app, &owner, input).await;
    let asked = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { senderAccount(id: $id) { password } }",
            json!({ "id": created["id"] }),
        )
        .await;
    let sealed = stored_password(&app, "Main")
        .await
        .expect("a sealed password");
    let id = uuid(&created["id"]);
    let changed = update(
        &app,
        &owner,
        &created["id"],
        json!({ "password": "next-secret" }),
    )
    .await;
    let resealed = stored_password(&app, "Main")
        .await
        .expect("a sealed password");
    let removed = update(&app, &owner, &created["id"], json!({ "password": null })).await;
    let audit = app.sql("SELECT changes FROM audit_log").await;

    assert!(!asked.is_ok(), "there is no password field to read");
    assert!(!asked.body.to_string().contains("hunter2-smtp"));
    assert!(!created.to_string().contains("hunter2-smtp"));
    assert_ne!(sealed, "hunter2-smtp");
    assert!(!sealed.contains("hunter2"));
    assert_eq!(
        secrets.open(&sealed, id.as_bytes()).unwrap(),
        "hunter2-smtp"
    );
    assert!(
        secrets.open(&sealed, Uuid::now_v7().as_bytes()).is_err(),
        "bound to its account"
    );
    assert_eq!(changed.data("updateSenderAccount")["hasPassword"], true);
    assert_eq!(
        secrets.open(&resealed, id.as_bytes()).unwrap(),
        "next-secret"
    );
    assert_eq!(removed.data("updateSenderAccount")["hasPassword"], false);
    assert_eq!(stored_password(&app, "Main").await, None);
    let logged: String = audit
        .iter()
        .map(|row| {
            row.try_get::<Value>("", "changes")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(!logged.contains("hunter2-smtp") && !logged.contains("next-secret"));
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let account = create(&app, &owner, minimal("S")).await;
    let with = |field: &str, value: Value| {
        let mut input = minimal("x");
        input[field] = value;
        input
    };

    let cases = [
        (with("port", json!(0)), "input.port"),
        (with("port", json!(65_536)), "input.port"),
        (with("fromEmail", json!("not-an-email")), "input.fromEmail"),
        (with("replyTo", json!("a@b")), "input.replyTo"),
        (with("host", json!("smtp://mail.example.com")), "input.host"),
        (with("hourlyLimit", json!(-1)), "input.hourlyLimit"),
        (with("dailyLimit", json!(-5)), "input.dailyLimit"),
        (with("name", json!("  ")), "input.name"),
        (with("password", json!("")), "input.password"),
        (
            with("fromName", json!("Evil\r\nBcc: x@y.z")),
            "input.fromName",
        ),
    ];
    let mut refused = Vec::new();
    for (input, field) in &cases {
        refused.push((
            bad_field(&try_create(&app, &owner, input.clone()).await),
            *field,
        ));
    }
    let bad_port = update(&app, &owner, &account["id"], json!({ "port": 70_000 })).await;
    let bad_email = update(&app, &owner, &account["id"], json!({ "fromEmail": "nope" })).await;
    let bad_id = app
        .gql_as(&owner.access_token, &get_query(), json!({ "id": "nope" }))
        .await;

    for (got, want) in refused {
        assert_eq!(got, want);
    }
    assert_eq!(bad_field(&bad_port), "input.port");
    assert_eq!(bad_field(&bad_email), "input.fromEmail");
    assert_eq!(bad_field(&bad_id), "id");
    assert_eq!(app.count("sender_accounts", "1 = 1").await, 1);
    assert_eq!(app.count("sender_accounts", "port = 587").await, 1);
}

#[tokio::test]
async fn names_are_unique_among_live_accounts_ignoring_case() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let main = create(&app, &owner, minimal("Main")).await;
    let other = create(&app, &owner, minimal("Other")).await;

    let duplicate = try_create(&app, &owner, minimal("main")).await;
    let renamed_onto = update(&app, &owner, &other["id"], json!({ "name": "MAIN " })).await;
    let same_name = update(&app, &owner, &main["id"], json!({ "name": "Main" })).await;
    app.gql_as(&owner.access_token, DELETE, json!({ "id": main["id"] }))
        .await
        .data("deleteSenderAccount");
    let after_delete = try_create(&app, &owner, minimal("Main")).await;

    assert_eq!(taken_field(&duplicate), "input.name");
    assert_eq!(taken_field(&renamed_onto), "input.name");
    assert_eq!(same_name.data("updateSenderAccount")["name"], "Main");
    assert_eq!(after_delete.data("createSenderAccount")["name"], "Main");
}

#[tokio::test]
async fn accounts_page_in_failover_order_with_usage_from_one_grouped_query() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = lead(&app, &owner).await;
    let mut ids = Vec::new();
    for (name, priority) in [
        ("low", 0),
        ("high-a", 10),
        ("mid", 5),
        ("high-b", 10),
        ("gone", 99),
    ] {
        let mut input = minimal(name);
        input["priority"] = json!(priority);
        ids.push(create(&app, &owner, input).await["id"].clone());
    }
    app.gql_as(&owner.access_token, DELETE, json!({ "id": ids[4] }))
        .await
        .data("deleteSenderAccount");
    let now = Utc::now().fixed_offset();
    for _ in 0..2 {
        sent(&app, &owner.tenant_id, lead, uuid(&ids[1]), now).await;
    }
    sent(&app, &owner.tenant_id, lead, uuid(&ids[2]), now).await;
    // Older than an hour and (at any time of day) before today.
    sent(
        &app,
        &owner.tenant_id,
        lead,
        uuid(&ids[2]),
        now - Duration::days(2),
    )
    .await;

    let (first, statements) = app
        .gql_counting(&owner.access_token, LIST, json!({ "first": 3 }))
        .await;
    let rest = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "first": 3, "after": first.data("senderAccounts")["pageInfo"]["endCursor"] }),
        )
        .await;
    let back = app
        .gql_as(
            &owner.access_token,
            LIST,
            json!({ "last": 2, "before": rest.data("senderAccounts")["pageInfo"]["startCursor"] }),
        )
        .await;
    let single = app
        .gql_as(&owner.access_token, &get_query(), json!({ "id": ids[2] }))
        .await;

    let page = first.data("senderAccounts");
    assert_eq!(names(&first), ["high-a", "high-b", "mid"]);
    assert_eq!(page["totalCount"], 4);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["edges"][0]["node"]["sentLastHour"], 2);
    assert_eq!(page["edges"][0]["node"]["sentToday"], 2);
    assert_eq!(page["edges"][1]["node"]["sentLastHour"], 0);
    assert_eq!(page["edges"][2]["node"]["sentLastHour"], 1);
    assert_eq!(page["edges"][2]["node"]["sentToday"], 1);
    let usage_queries = statements
        .iter()
        .filter(|sql| sql.contains("\"messages\""))
        .count();
    assert_eq!(
        usage_queries, 1,
        "one grouped usage query per page: {statements:#?}"
    );
    assert_eq!(names(&rest), ["low"]);
    assert_eq!(
        rest.data("senderAccounts")["pageInfo"]["hasNextPage"],
        false
    );
    assert_eq!(names(&back), ["high-b", "mid"]);
    assert_eq!(
        back.data("senderAccounts")["pageInfo"]["hasPreviousPage"],
        true
    );
    assert_eq!(single.data("senderAccount")["sentLastHour"], 1);
    assert_eq!(single.data("senderAccount")["sentToday"], 1);
    for query in [get_query().as_str(), DELETE] {
        app.gql_as(&owner.access_token, query, json!({ "id": ids[4] }))
            .await
            .expect_error("NOT_FOUND");
    }
    assert_eq!(
        app.count(
            "sender_accounts",
            "name = 'gone' AND deleted_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count(
            "audit_log",
            "action = 'deleteSenderAccount' AND outcome = 'success' AND entity_type = 'sender_account'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn viewers_and_members_cannot_manage_accounts_but_can_read_them() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let viewer = app.add_member(&owner, "v@acme.example", "VIEWER").await;
    let write_key = app.api_key(&owner, &["WRITE"]).await;
    let account = create(&app, &owner, minimal("S")).await;

    for token in [
        member.access_token.as_str(),
        viewer.access_token.as_str(),
        write_key.as_str(),
    ] {
        app.gql_as(token, &create_query(), json!({ "input": minimal("x") }))
            .await
            .expect_error("FORBIDDEN");
        app.gql_as(
            token,
            &update_query(),
            json!({ "id": account["id"], "input": { "password": "mine now" } }),
        )
        .await
        .expect_error("FORBIDDEN");
        app.gql_as(token, DELETE, json!({ "id": account["id"] }))
            .await
            .expect_error("FORBIDDEN");
        let listed = app.gql_as(token, LIST, json!({})).await;
        assert_eq!(names(&listed), ["S"]);
    }

    assert_eq!(
        app.count(
            "sender_accounts",
            "name = 'S' AND deleted_at IS NULL AND password_encrypted IS NULL"
        )
        .await,
        1
    );
    assert_eq!(app.count("sender_accounts", "1 = 1").await, 1);
    assert_eq!(
        app.count(
            "audit_log",
            "action IN ('createSenderAccount', 'updateSenderAccount', 'deleteSenderAccount') AND error_code = 'FORBIDDEN'"
        )
        .await,
        9
    );
}

#[tokio::test]
async fn another_tenants_accounts_are_not_found_and_unchanged() {
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let theirs = create(&app, &beta, minimal("Beta SMTP")).await;
    // Names are unique per tenant, not globally.
    create(&app, &alpha, minimal("Beta SMTP")).await;

    app.gql_as(
        &alpha.access_token,
        &get_query(),
        json!({ "id": theirs["id"] }),
    )
    .await
    .expect_error("NOT_FOUND");
    update(
        &app,
        &alpha,
        &theirs["id"],
        json!({ "host": "evil.example" }),
    )
    .await
    .expect_error("NOT_FOUND");
    app.gql_as(&alpha.access_token, DELETE, json!({ "id": theirs["id"] }))
        .await
        .expect_error("NOT_FOUND");
    let listed = app.gql_as(&alpha.access_token, LIST, json!({})).await;

    assert_eq!(listed.data("senderAccounts")["totalCount"], 1);
    assert_ne!(
        listed.data("senderAccounts")["edges"][0]["node"]["id"],
        theirs["id"]
    );
    assert_eq!(
        app.count(
            "sender_accounts",
            "host = 'smtp.example.com' AND deleted_at IS NULL"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn candidates_follow_failover_order_and_preference_and_leave_limits_to_the_limiter() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let beta = app.sign_up("beta").await;
    let lead = lead(&app, &owner).await;
    let mut id = std::collections::HashMap::new();
    for (name, extra) in [
        (
            "hourly-ok",
            json!({ "priority": 10, "hourlyLimit": 1, "password": "pw-hourly" }),
        ),
        ("hourly-full", json!({ "priority": 20, "hourlyLimit": 1 })),
        ("daily-full", json!({ "priority": 30, "dailyLimit": 1 })),
        ("paused", json!({ "priority": 40, "hourlyLimit": 0 })),
        ("mid-old", json!({ "priority": 5 })),
        ("mid-new", json!({ "priority": 5 })),
        ("inactive", json!({ "priority": 50, "isActive": false })),
        ("deleted", json!({ "priority": 60 })),
        ("low", json!({ "priority": -1 })),
    ] {
        let mut input = minimal(name);
        for (key, value) in extra.as_object().unwrap() {
            input[key] = value.clone();
        }
        id.insert(name, uuid(&create(&app, &owner, input).await["id"]));
    }
    create(&app, &beta, minimal("beta-only")).await;
    app.gql_as(
        &owner.access_token,
        DELETE,
        json!({ "id": id["deleted"].to_string() }),
    )
    .await
    .data("deleteSenderAccount");
    let now = Utc::now().fixed_offset();
    // Two hours ago: outside the hourly window whatever the time of day.
    sent(
        &app,
        &owner.tenant_id,
        lead,
        id["hourly-ok"],
        now - Duration::hours(2),
    )
    .await;
    sent(&app, &owner.tenant_id, lead, id["hourly-full"], now).await;
    sent(&app, &owner.tenant_id, lead, id["daily-full"], now).await;
    for _ in 0..3 {
        sent(&app, &owner.tenant_id, lead, id["mid-old"], now).await;
    }
    let tenant = Uuid::parse_str(&owner.tenant_id).unwrap();
    let names_of = |list: &[promohub::messaging::senders::SenderCandidate]| {
        list.iter()
            .map(|c| c.account.name.clone())
            .collect::<Vec<_>>()
    };

    let txn = begin_for(&app.db, tenant, None).await.unwrap();
    let plain = candidates(&txn, tenant, None).await.unwrap();
    let preferred = candidates(&txn, tenant, Some(id["mid-new"])).await.unwrap();
    let preferred_inactive = candidates(&txn, tenant, Some(id["inactive"]))
        .await
        .unwrap();
    let preferred_full = candidates(&txn, tenant, Some(id["hourly-full"]))
        .await
        .unwrap();
    record_use(&txn, tenant, id["low"], Ok(())).await.unwrap();
    record_use(&txn, tenant, id["low"], Ok(())).await.unwrap();
    record_use(
        &txn,
        tenant,
        id["mid-new"],
        Err("550 mailbox unavailable".into()),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let beta_tenant = Uuid::parse_str(&beta.tenant_id).unwrap();
    let txn = begin_for(&app.db, beta_tenant, None).await.unwrap();
    let beta_list = candidates(&txn, beta_tenant, Some(id["low"]))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let low = app
        .gql_as(
            &owner.access_token,
            &get_query(),
            json!({ "id": id["low"].to_string() }),
        )
        .await;
    let failed = app
        .gql_as(
            &owner.access_token,
            &get_query(),
            json!({ "id": id["mid-new"].to_string() }),
        )
        .await;

    // Full accounts stay candidates: whether one may send now is the
    // limiter's answer, taken under the account's lock (limits.rs).
    assert_eq!(
        names_of(&plain),
        [
            "paused",
            "daily-full",
            "hourly-full",
            "hourly-ok",
            "mid-old",
            "mid-new",
            "low"
        ]
    );
    assert_eq!(
        names_of(&preferred),
        [
            "mid-new",
            "paused",
            "daily-full",
            "hourly-full",
            "hourly-ok",
            "mid-old",
            "low"
        ]
    );
    assert_eq!(names_of(&preferred_inactive), names_of(&plain));
    assert_eq!(names_of(&preferred_full)[0], "hourly-full");
    assert_eq!(plain[3].account.hourly_limit, Some(1));
    let secrets = SecretBox::new(&app.config.messaging.secrets_key).unwrap();
    assert_eq!(
        plain[3].password(&secrets).unwrap().as_deref(),
        Some("pw-hourly")
    );
    assert_eq!(plain[4].password(&secrets).unwrap(), None);
    assert_eq!(names_of(&beta_list), ["beta-only"]);
    let low = low.data("senderAccount");
    assert_eq!(low["totalSent"], 2);
    assert!(low["lastUsedAt"].is_string());
    assert_eq!(low["lastError"], Value::Null);
    let failed = failed.data("senderAccount");
    assert_eq!(failed["lastError"], "550 mailbox unavailable");
    assert!(failed["lastErrorAt"].is_string());
    assert_eq!(failed["totalSent"], 0);
}

#[tokio::test]
async fn with_private_hosts_refused_a_loopback_private_or_link_local_host_is_refused_naming_the_field()
 {
    let app = TestApp::spawn_with(|c| c.allow_private_hosts = Some(false)).await;
    let owner = app.sign_up("acme").await;

    for host in [
        "127.0.0.1",
        "[::1]",
        "::ffff:127.0.0.1",
        "localhost",
        "0x7f000001",
        "10.0.0.25",
        "172.16.5.4",
        "192.168.1.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "fd00::25",
        "fe80::1",
    ] {
        let refused = try_create(&app, &owner, at_host("local", host)).await;
        assert_eq!(bad_field(&refused), "input.host", "{host}");
    }
    assert_eq!(app.count("sender_accounts", "true").await, 0);

    // A public address is fine, and cannot be changed to a private one.
    let account = create(&app, &owner, at_host("public", "203.0.113.7")).await;
    let moved = update(&app, &owner, &account["id"], json!({ "host": "127.0.0.1" })).await;
    assert_eq!(bad_field(&moved), "input.host");
    let kept = app
        .gql_as(
            &owner.access_token,
            &get_query(),
            json!({ "id": account["id"] }),
        )
        .await;
    assert_eq!(kept.data("senderAccount")["host"], "203.0.113.7");
}
