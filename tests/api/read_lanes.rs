//! Query requests on PostgreSQL read on a read lane (a connection apart from
//! the pool, its session bound to the request's tenant and user by the round
//! trip that checks the credential), and queue for a lane in arrival order.
//! A lane goes from one request to the next, each binding it again before
//! its first read.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

use promohub::tenancy::lanes::{APPLICATION_NAME, ReadLanes};

use crate::helpers::{TestApp, on_postgres};
use crate::leads::{create_company, create_lead};

const QUERY: &str = "{ me { user { email } tenant { slug } } \
     leads(first: 5) { totalCount edges { node { email company { name } owner { email } } } } }";

#[tokio::test]
async fn more_concurrent_queries_than_connections_all_complete_in_their_own_tenant() {
    // The test server's pool has 5 connections, and 4 read lanes: many
    // more concurrent queries than either, each also reading in
    // transactions of its own on the pool (`me`, the owner's memberships,
    // the total), must all complete, each in its own tenant.
    let app = TestApp::spawn().await;
    let tenants = [app.sign_up("alpha").await, app.sign_up("beta").await];
    for (n, session) in tenants.iter().enumerate() {
        let company = create_company(&app, session, &format!("Company{n}")).await;
        for lead in 0..3 {
            create_lead(
                &app,
                session,
                json!({
                    "email": format!("lead{lead}@t{n}.example"),
                    "companyId": company, "ownerId": session.user_id,
                }),
            )
            .await;
        }
    }

    let requests = (0..40).map(|i| {
        let session = &tenants[i % 2];
        let app = &app;
        async move {
            (
                i % 2,
                app.gql_as(&session.access_token, QUERY, json!({})).await,
            )
        }
    });
    let responses = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures::future::join_all(requests),
    )
    .await
    .expect("queries waiting on each other for connections never finished");

    for (n, response) in responses {
        assert_eq!(response.status, 200, "{}", response.body);
        let me = response.data("me");
        assert_eq!(me["tenant"]["slug"], ["alpha", "beta"][n]);
        assert_eq!(me["user"]["email"], tenants[n].email);
        let leads = response.data("leads");
        assert_eq!(leads["totalCount"], 3);
        for edge in leads["edges"].as_array().unwrap() {
            let node = &edge["node"];
            assert!(
                node["email"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("@t{n}.example")),
                "{node}"
            );
            assert_eq!(node["company"]["name"], format!("Company{n}"));
            assert_eq!(node["owner"]["email"], tenants[n].email);
        }
    }
}

const WHO: &str = "{ me { tenant { slug } } leads(first: 10) { edges { node { email } } } }";

/// The emails of a `leads` page's nodes.
fn emails(response: &crate::helpers::Gql) -> Vec<String> {
    response.data("leads")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn one_lane_taken_in_turn_by_two_tenants_reads_only_the_current_ones_rows() {
    // One lane: every query request below reads on the same connection,
    // each binding it over the previous request's binding.
    let app = TestApp::spawn_with(|config| config.db_read_connections = Some(1)).await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    create_lead(&app, &alpha, json!({ "email": "a@alpha.example" })).await;
    create_lead(&app, &beta, json!({ "email": "b@beta.example" })).await;
    // An API key binds the lane without a user.
    let beta_key = app.api_key(&beta, &["READ"]).await;

    let callers = [
        (&alpha.access_token, "alpha"),
        (&beta.access_token, "beta"),
        (&beta_key, "beta"),
        (&alpha.access_token, "alpha"),
        (&beta_key, "beta"),
        (&alpha.access_token, "alpha"),
    ];
    for (token, slug) in callers {
        let response = app
            .gql_as(
                token,
                "{ leads(first: 10) { edges { node { email } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            emails(&response),
            [format!("{}@{slug}.example", &slug[..1])]
        );
        if token.starts_with("ey") {
            let response = app.gql_as(token, WHO, json!({})).await;
            assert_eq!(response.data("me")["tenant"]["slug"], slug);
        }
    }
    // A credential refused on the lane (beta's key with another secret)
    // leaves nothing bound for the next request.
    let last = beta_key.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &beta_key[..beta_key.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let refused = app.gql_as(&forged, WHO, json!({})).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let after = app.gql_as(&alpha.access_token, WHO, json!({})).await;
    assert_eq!(emails(&after), ["a@alpha.example"]);
}

/// The backends of this test's server that are read lanes, by state.
async fn lane_states(app: &TestApp) -> Vec<String> {
    app.sql(&format!(
        "SELECT state FROM pg_stat_activity \
          WHERE datname = current_database() AND application_name = '{APPLICATION_NAME}'"
    ))
    .await
    .iter()
    .map(|row| row.try_get::<String>("", "state").unwrap())
    .collect()
}

#[tokio::test]
async fn a_lane_holds_no_transaction_between_requests() {
    if !on_postgres() {
        return; // SQLite has no lanes.
    }
    let app = TestApp::spawn_with(|config| config.db_read_connections = Some(1)).await;
    let alpha = app.sign_up("alpha").await;
    let response = app.gql_as(&alpha.access_token, WHO, json!({})).await;
    assert_eq!(response.status, 200, "{}", response.body);
    // Right after the request, nothing is left open on the lane (no locks
    // held, nothing for a migration or VACUUM to wait for).
    assert_eq!(lane_states(&app).await, ["idle"]);
}

#[tokio::test]
async fn a_lane_whose_connection_was_killed_reconnects_for_the_next_request() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn_with(|config| config.db_read_connections = Some(1)).await;
    let alpha = app.sign_up("alpha").await;
    create_lead(&app, &alpha, json!({ "email": "a@alpha.example" })).await;
    let first = app.gql_as(&alpha.access_token, WHO, json!({})).await;
    assert_eq!(emails(&first), ["a@alpha.example"]);
    let killed = app
        .sql(&format!(
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
              WHERE datname = current_database() AND application_name = '{APPLICATION_NAME}'"
        ))
        .await;
    assert_eq!(killed.len(), 1, "one lane was open");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = app.gql_as(&alpha.access_token, WHO, json!({})).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(emails(&again), ["a@alpha.example"]);
    assert_eq!(again.data("me")["tenant"]["slug"], "alpha");
}

const BOUND: &str = "SELECT current_setting('app.tenant_id') AS tenant, current_user::text AS role";

/// The tenant a bound lane reads as, and its role.
async fn bound_to(lane: &mut promohub::tenancy::lanes::LaneGuard) -> (String, String) {
    let row = lane
        .conn()
        .query_one_raw(Statement::from_string(DbBackend::Postgres, BOUND))
        .await
        .expect("a bound lane reads")
        .expect("a row");
    (
        row.try_get("", "tenant").unwrap(),
        row.try_get("", "role").unwrap(),
    )
}

#[tokio::test]
async fn a_lane_is_read_on_only_once_bound_and_each_bind_replaces_the_last() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let tenant = |session: &crate::helpers::Session| Uuid::parse_str(&session.tenant_id).unwrap();
    let user = |session: &crate::helpers::Session| Uuid::parse_str(&session.user_id).unwrap();
    let lanes = ReadLanes::new(&app.db, 1, Arc::new(|_| {})).expect("lanes on PostgreSQL");
    let sql = |text: &str| Statement::from_string(DbBackend::Postgres, text);

    // Not bound yet: refused.
    let mut lane = lanes.take().await.unwrap();
    assert!(lane.conn().query_one_raw(sql("SELECT 1")).await.is_err());
    // Bound to alpha; a statement that fails leaves the lane usable.
    lane.bind_tenant(tenant(&alpha)).await.unwrap();
    assert!(
        lane.conn()
            .query_one_raw(sql("SELECT 1 / 0"))
            .await
            .is_err()
    );
    assert_eq!(
        bound_to(&mut lane).await,
        (alpha.tenant_id.clone(), "promohub_app".to_owned())
    );
    drop(lane);

    // The next holder starts unbound, whatever the last one bound.
    let mut lane = lanes.take().await.unwrap();
    assert!(lane.conn().query_one_raw(sql(BOUND)).await.is_err());
    let role = lane
        .bind_as_member(tenant(&beta), user(&beta))
        .await
        .unwrap();
    assert!(role.is_some(), "beta's owner is a member of beta");
    assert_eq!(bound_to(&mut lane).await.0, beta.tenant_id);
    drop(lane);

    // Not a member: no role, and the lane stays refused for reads.
    let mut lane = lanes.take().await.unwrap();
    assert_eq!(
        lane.bind_as_member(tenant(&beta), user(&alpha))
            .await
            .unwrap(),
        None
    );
    assert!(lane.conn().query_one_raw(sql(BOUND)).await.is_err());
}
