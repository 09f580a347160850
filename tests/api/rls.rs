//! Row-level security on PostgreSQL, proved in SQL as the `promohub_app`
//! role. (SQLite has no RLS; isolation there rests on the scoped queries,
//! which tenant_isolation.rs covers on both backends.)

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::helpers::{TestApp, on_postgres};

async fn as_app_role(txn: &sea_orm::DatabaseTransaction, tenant: Option<&str>) {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('role', 'promohub_app', true), set_config('app.tenant_id', $1, true)",
        [tenant.unwrap_or_default().into()],
    ))
    .await
    .unwrap();
}

async fn count(txn: &sea_orm::DatabaseTransaction, table: &str) -> i64 {
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

const TENANT_TABLES: &[&str] = &[
    "memberships",
    "api_keys",
    "invites",
    "refresh_tokens",
    "audit_log",
    "settings",
];

#[tokio::test]
async fn without_a_tenant_the_app_role_sees_no_tenant_rows() {
    if !on_postgres() {
        eprintln!("row-level security exists on PostgreSQL only; run with TEST_DATABASE_URL");
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    app.api_key(&a, &["READ"]).await;

    let txn = app.db.begin().await.unwrap();
    as_app_role(&txn, None).await;
    for table in TENANT_TABLES {
        assert_eq!(count(&txn, table).await, 0, "{table}");
    }
    txn.rollback().await.unwrap();
    assert!(
        app.count("memberships", "1 = 1").await > 0,
        "rows exist for the superuser"
    );
}

#[tokio::test]
async fn with_tenant_a_set_only_as_rows_are_visible() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    app.api_key(&a, &["READ"]).await;
    app.api_key(&b, &["READ"]).await;
    app.api_key(&b, &["WRITE"]).await;

    let txn = app.db.begin().await.unwrap();
    as_app_role(&txn, Some(&a.tenant_id)).await;
    let keys = count(&txn, "api_keys").await;
    let foreign = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM memberships WHERE tenant_id <> $1::uuid",
            [a.tenant_id.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    txn.rollback().await.unwrap();

    assert_eq!(keys, 1);
    assert_eq!(foreign, 0);
}

#[tokio::test]
async fn writing_another_tenants_rows_fails() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    app.api_key(&b, &["READ"]).await;

    // Insert a row for tenant B while bound to A: refused by WITH CHECK.
    let txn = app.db.begin().await.unwrap();
    as_app_role(&txn, Some(&a.tenant_id)).await;
    let insert = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO settings (tenant_id, id, key, value) VALUES ($1::uuid, gen_random_uuid(), 'k', '{}')",
            [b.tenant_id.clone().into()],
        ))
        .await;
    assert!(insert.is_err(), "insert into another tenant must fail");
    txn.rollback().await.unwrap();

    // Update B's rows while bound to A: they are invisible, nothing changes.
    let txn = app.db.begin().await.unwrap();
    as_app_role(&txn, Some(&a.tenant_id)).await;
    let updated = txn
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "UPDATE api_keys SET name = 'pwned'",
        ))
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    txn.commit().await.unwrap();

    // Moving one's own row into B: refused by WITH CHECK.
    app.api_key(&a, &["READ"]).await;
    let txn = app.db.begin().await.unwrap();
    as_app_role(&txn, Some(&a.tenant_id)).await;
    let moved = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE api_keys SET tenant_id = $1::uuid",
            [b.tenant_id.clone().into()],
        ))
        .await;
    assert!(moved.is_err(), "moving a row into another tenant must fail");
    txn.rollback().await.unwrap();

    assert_eq!(app.count("api_keys", "name = 'pwned'").await, 0);
}

#[tokio::test]
async fn the_app_role_is_not_privileged() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let row = app
        .sql("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'promohub_app'")
        .await;
    assert!(!row[0].try_get::<bool>("", "rolsuper").unwrap());
    assert!(!row[0].try_get::<bool>("", "rolbypassrls").unwrap());
    assert!(!row[0].try_get::<bool>("", "rolcanlogin").unwrap());
    let forced = app
        .sql("SELECT COUNT(*) AS n FROM pg_class WHERE relname IN ('memberships','api_keys','invites','refresh_tokens','audit_log','settings') AND relrowsecurity AND relforcerowsecurity")
        .await;
    assert_eq!(forced[0].try_get::<i64>("", "n").unwrap(), 6);
}

#[tokio::test]
async fn entering_as_a_member_binds_the_app_role_and_only_the_server_may_enter() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let b = app.sign_up("beta").await;
    app.api_key(&b, &["READ"]).await;
    let enter = |tenant: &str, user: &str, session: &str| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT app_enter_as_member($1::uuid, $2::uuid, $3::uuid) AS role",
            [tenant.into(), user.into(), session.into()],
        )
    };

    // A member gets their role, and the rest of the transaction runs as the
    // app role bound to that tenant: another tenant's rows are out of sight.
    let txn = app.db.begin().await.unwrap();
    let row = txn
        .query_one_raw(enter(&a.tenant_id, &a.user_id, &a.session_id()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "role").unwrap(), "owner");
    let who = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text AS who, current_setting('app.tenant_id') AS tenant",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.try_get::<String>("", "who").unwrap(), "promohub_app");
    assert_eq!(who.try_get::<String>("", "tenant").unwrap(), a.tenant_id);
    assert_eq!(count(&txn, "api_keys").await, 0, "beta's key is visible");
    // Once in, the request cannot move to another tenant with it.
    let moved = txn
        .query_one_raw(enter(&b.tenant_id, &b.user_id, &b.session_id()))
        .await;
    assert!(
        moved.is_err(),
        "the app role may not call app_enter_as_member"
    );
    txn.rollback().await.unwrap();

    // Not a member of beta: no role.
    let txn = app.db.begin().await.unwrap();
    let stranger = txn
        .query_one_raw(enter(&b.tenant_id, &a.user_id, &a.session_id()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stranger.try_get::<Option<String>>("", "role").unwrap(),
        None
    );
    txn.rollback().await.unwrap();
}

#[tokio::test]
async fn policies_read_the_bound_tenant_once_per_statement_not_per_row() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;

    // Every tenant-owned table, also those of later migrations.
    let txn = app.db.begin().await.unwrap();
    let policies = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tablename::text AS t, qual, with_check FROM pg_policies \
             WHERE schemaname = current_schema() \
               AND policyname IN ('tenant_isolation', 'own_memberships')",
        ))
        .await
        .unwrap();
    assert!(policies.len() > 20, "only {} policies", policies.len());
    for policy in &policies {
        let table: String = policy.try_get("", "t").unwrap();
        let qual: String = policy.try_get("", "qual").unwrap();
        let check: Option<String> = policy.try_get("", "with_check").unwrap();
        for expression in std::iter::once(qual).chain(check) {
            assert!(
                expression.contains("( SELECT app_current_"),
                "{table}: {expression}"
            );
        }
    }

    // As a request runs it: the tenant is an init plan, and no per-row
    // filter or per-probe index condition parses the setting again.
    as_app_role(&txn, Some(&a.tenant_id)).await;
    let plan: Vec<String> = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN SELECT l.id, c.name, s.name FROM leads l \
             LEFT JOIN companies c ON c.tenant_id = l.tenant_id AND c.id = l.company_id \
             LEFT JOIN lead_stages s ON s.tenant_id = l.tenant_id AND s.id = l.stage_id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("InitPlan"), "{plan}");
    assert!(!plan.contains("current_setting"), "{plan}");
    txn.rollback().await.unwrap();
}

/// `SELECT COUNT(*)` of `table`, or the database's refusal.
async fn try_count(txn: &sea_orm::DatabaseTransaction, table: &str) -> Result<i64, String> {
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .map_err(|e| e.to_string())?
        .expect("a count");
    Ok(row.try_get("", "n").unwrap())
}

#[tokio::test]
async fn the_tenant_role_reads_no_shared_table_and_the_system_role_keeps_them() {
    if !on_postgres() {
        eprintln!("roles exist on PostgreSQL only; run with TEST_DATABASE_URL");
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    // A wrong password writes a login attempt through the login path.
    let refused = app
        .gql(
            "mutation { login(input: { email: \"owner@alpha.example\", password: \"not the password\" }) { accessToken } }",
            serde_json::json!({}),
        )
        .await;
    refused.expect_error("UNAUTHENTICATED");
    // Rows in the other shared tables, one per table.
    let tenant = format!("'{}'", a.tenant_id);
    for sql in [
        format!("INSERT INTO jobs (id, tenant_id, kind) VALUES (gen_random_uuid(), {tenant}, 'probe')"),
        format!(
            "INSERT INTO message_directory (lookup_key, tenant_id, message_id) \
             VALUES ('probe', {tenant}, gen_random_uuid())"
        ),
        "INSERT INTO webhook_receipts (provider, event_id, received_at) VALUES ('probe', 'e1', now())"
            .to_owned(),
        format!(
            "INSERT INTO public_ids (public_id, kind, tenant_id, target_id) \
             VALUES ('probe', 'form', {tenant}, gen_random_uuid())"
        ),
        format!(
            "INSERT INTO mailbox_watches (tenant_id, sender_id) \
             VALUES ({tenant}, gen_random_uuid())"
        ),
    ] {
        app.sql(&sql).await;
    }

    for table in migration::SHARED_TABLES {
        let rows = app.count(table, "1 = 1").await;
        assert!(rows > 0, "{table} has rows for the superuser");

        // As a request runs: the tenant role, bound to the tenant.
        let txn = app.db.begin().await.unwrap();
        as_app_role(&txn, Some(&a.tenant_id)).await;
        let refusal = try_count(&txn, table).await.expect_err(table);
        assert!(refusal.contains("permission denied"), "{table}: {refusal}");
        txn.rollback().await.unwrap();

        // As the workers, trackers and sign-in run: the system role.
        let txn = app.db.begin().await.unwrap();
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT set_config('role', 'promohub_system', true)",
        ))
        .await
        .unwrap();
        assert_eq!(try_count(&txn, table).await, Ok(rows), "{table}");
        txn.rollback().await.unwrap();
    }
}

/// Under row-level security PostgreSQL may use a query's condition as an
/// index condition only if its functions are leakproof; `lower(email)` is
/// not, so the email lookup every lead write makes (the duplicate check)
/// once scanned all the tenant's leads; emails are stored lowercase and
/// looked up as they are. The statement the server really
/// sends is planned here as the application role, generically (as a
/// prepared statement is), with sequential scans priced out so that only an
/// unusable index would show one.
#[tokio::test]
async fn a_lead_writes_email_lookup_uses_the_unique_index_as_the_app_role() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let a = app.sign_up("alpha").await;
    let (created, statements) = app
        .gql_counting(
            &a.access_token,
            "mutation { createLead(input: { email: \"Ada@Example.com\" }) { id email } }",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(created.data("createLead")["email"], "ada@example.com");
    let lookup = statements
        .iter()
        .find(|sql| sql.starts_with("SELECT") && sql.contains("\"leads\".\"email\" IN ("))
        .unwrap_or_else(|| panic!("no email lookup among {statements:#?}"))
        .clone();
    let parameters = (1..=lookup.matches('$').count())
        .map(|_| "NULL")
        .collect::<Vec<_>>()
        .join(", ");

    let txn = app.db.begin().await.unwrap();
    as_app_role(&txn, Some(&a.tenant_id)).await;
    for setup in [
        "SET LOCAL plan_cache_mode = force_generic_plan",
        "SET LOCAL enable_seqscan = off",
    ] {
        txn.execute_unprepared(setup).await.unwrap();
    }
    txn.execute_unprepared(&format!("PREPARE email_lookup AS {lookup}"))
        .await
        .unwrap();
    let plan: Vec<String> = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN EXECUTE email_lookup({parameters})"),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("leads_tenant_id_live_email_key"), "{plan}");
    assert!(
        plan.lines()
            .any(|line| line.contains("Index Cond") && line.contains("(email = ")),
        "{plan}"
    );
    txn.rollback().await.unwrap();
}
