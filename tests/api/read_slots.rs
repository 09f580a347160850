//! Query requests on PostgreSQL read in one shared transaction each, under a
//! read slot (one fewer than the pool's connections), and queue for a slot
//! in arrival order. Many more concurrent queries than connections, each
//! also reading in transactions of its own (`me`, the owner's memberships),
//! must all complete, and each sees only its own tenant.

use serde_json::json;

use crate::helpers::TestApp;

const QUERY: &str = "{ me { user { email } tenant { slug } } \
     leads(first: 5) { totalCount edges { node { email company { name } owner { email } } } } }";

#[tokio::test]
async fn more_concurrent_queries_than_connections_all_complete_in_their_own_tenant() {
    // The test server's pool has 5 connections: 4 read slots.
    let app = TestApp::spawn().await;
    let tenants = [app.sign_up("alpha").await, app.sign_up("beta").await];
    for (n, session) in tenants.iter().enumerate() {
        let company = app
            .gql_as(
                &session.access_token,
                "mutation($name: String!) { createCompany(input: {name: $name}) { id } }",
                json!({ "name": format!("Company {n}") }),
            )
            .await
            .data("createCompany")["id"]
            .clone();
        for lead in 0..3 {
            app.gql_as(
                &session.access_token,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({ "input": {
                    "email": format!("lead{lead}@t{n}.example"),
                    "companyId": company, "ownerId": session.user_id,
                }}),
            )
            .await
            .data("createLead");
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
            assert_eq!(node["company"]["name"], format!("Company {n}"));
            assert_eq!(node["owner"]["email"], tenants[n].email);
        }
    }
}
