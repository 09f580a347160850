//! Website analysis over real HTTP: fixture sites (`tests/fixtures/websites`
//! and pages made here) served by a server each test starts, under made-up
//! names pinned to it (`outbound_resolve`). Loopback is allowed for that
//! server and every other private address stays refused
//! (`outbound_allow`), as production refuses them all. Also: robots.txt,
//! the size cap, the redirect limit, the timeout, the cache shared by
//! tenants, expiry, tenant isolation, the analysis of new companies, and the
//! lead filter, company filter, scoring rules and segments that read it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};
use crate::leads::create_lead;

const FIELDS: &str = "domain status error bookingKeywords bookingKeywordScore hasBookingKeywords \
    bookingTool hasOnlineBooking hasAppointmentForm hasCalendar hasPricing hasGallery hasReviews \
    hasContactForm hasPhoneOnly hasMultipleLocations servicesCount languages \
    pages { kind url status bytes error } analyzedAt expiresAt";

fn analyze_query() -> String {
    format!("mutation($d: String!) {{ analyzeWebsite(domain: $d) {{ {FIELDS} }} }}")
}

/// What the fixture server answers for one path.
#[derive(Clone)]
enum Reply {
    Html(String),
    Status(u16, String),
    Redirect(String),
    Slow(Duration, Box<Reply>),
    /// `bytes` of HTML, with a `Content-Length`, or (`chunked`) streamed
    /// without one.
    Huge {
        bytes: usize,
        chunked: bool,
    },
}

/// A page of a site under `tests/fixtures/websites`.
fn file(site: &str, name: &str) -> Reply {
    let path = format!(
        "{}/tests/fixtures/websites/{site}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Reply::Html(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

#[derive(Default)]
struct Routes {
    /// By (host, path).
    replies: HashMap<(String, String), Reply>,
    /// Every request, as `host/path`.
    hits: Vec<String>,
}

/// The fixture web server: every made-up host name is pinned to it.
struct Fixture {
    addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
}

impl Fixture {
    async fn start() -> Self {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(routes.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, routes }
    }

    fn route(&self, host: &str, path: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .replies
            .insert((host.to_owned(), path.to_owned()), reply);
    }

    /// Serves a fixture site at `host`: `index.html` at `/`, its other
    /// pages at `/<name without .html>` and `/<name>`; no robots.txt.
    fn site(&self, host: &str, site: &str) {
        let dir = format!(
            "{}/tests/fixtures/websites/{site}",
            env!("CARGO_MANIFEST_DIR")
        );
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let reply = file(site, &name);
            if name == "index.html" {
                self.route(host, "/", reply);
            } else {
                self.route(
                    host,
                    &format!("/{}", name.trim_end_matches(".html")),
                    reply.clone(),
                );
                self.route(host, &format!("/{name}"), reply);
            }
        }
    }

    /// How many requests reached `host` at `path`.
    fn hits(&self, host: &str, path: &str) -> usize {
        let wanted = format!("{host}{path}");
        self.routes
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|hit| **hit == wanted)
            .count()
    }

    fn all_hits(&self) -> Vec<String> {
        self.routes.lock().unwrap().hits.clone()
    }
}

async fn serve(State(routes): State<Arc<Mutex<Routes>>>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = uri.path().to_owned();
    let reply = {
        let mut routes = routes.lock().unwrap();
        routes.hits.push(format!("{host}{path}"));
        routes.replies.get(&(host, path)).cloned()
    };
    let mut reply = reply.unwrap_or(Reply::Status(404, "not found".into()));
    while let Reply::Slow(delay, then) = reply {
        tokio::time::sleep(delay).await;
        reply = *then;
    }
    let response = Response::builder();
    match reply {
        Reply::Html(html) => response
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from(html)),
        Reply::Status(status, text) => response
            .status(StatusCode::from_u16(status).unwrap())
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(text)),
        Reply::Redirect(location) => response
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location)
            .body(Body::empty()),
        Reply::Huge { bytes, chunked } => {
            let response = response.header(header::CONTENT_TYPE, "text/html");
            if chunked {
                let chunks = (0..bytes.div_ceil(64 * 1024)).map(|_| {
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 64 * 1024]))
                });
                response.body(Body::from_stream(futures::stream::iter(chunks)))
            } else {
                response.body(Body::from(vec![b'x'; bytes]))
            }
        }
        Reply::Slow(..) => unreachable!("unwrapped above"),
    }
    .unwrap()
}

/// A server that reaches `hosts` at the fixture server, loopback allowed,
/// every other private address refused.
async fn spawn(
    fixture: &Fixture,
    hosts: &[&str],
    adjust: impl FnOnce(&mut promohub::config::Config),
) -> TestApp {
    let pins: Vec<promohub::config::HostPin> = hosts
        .iter()
        .map(|host| promohub::config::HostPin {
            name: (*host).to_owned(),
            addr: fixture.addr,
        })
        .collect();
    TestApp::spawn_with(move |c| {
        c.allow_private_hosts = Some(false);
        c.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()];
        c.outbound_resolve = pins;
        c.website_analysis_timeout_ms = 10_000;
        c.messaging.worker_poll_ms = 50;
        adjust(c);
    })
    .await
}

async fn analyze(app: &TestApp, session: &Session, domain: &str) -> Value {
    app.gql_as(
        &session.access_token,
        &analyze_query(),
        json!({ "d": domain }),
    )
    .await
    .data("analyzeWebsite")
    .clone()
}

async fn create_company(app: &TestApp, session: &Session, name: &str, website: &str) -> String {
    app.gql_as(
        &session.access_token,
        "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }",
        json!({ "input": { "name": name, "website": website } }),
    )
    .await
    .data("createCompany")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

const COMPANY_ANALYSIS: &str = "query($id: ID!) { company(id: $id) { id domain websiteAnalysis { domain status bookingTool } } }";

/// Polls `query` until `done` holds for its data (10 s at most).
async fn eventually(
    app: &TestApp,
    session: &Session,
    query: &str,
    variables: Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let response = app
            .gql_as(&session.access_token, query, variables.clone())
            .await;
        if done(&response.body["data"]) {
            return response.body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "never came true: {}",
        app.gql_as(&session.access_token, query, variables)
            .await
            .body
    );
}

fn kinds(analysis: &Value) -> Vec<&str> {
    analysis["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|page| page["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_website_is_analysed_from_its_home_page_and_the_booking_page_it_links_to() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    let app = spawn(&fixture, &["bella-salon.test"], |_| {}).await;
    let owner = app.sign_up("salon-owner").await;

    let analysis = analyze(&app, &owner, "https://www.Bella-Salon.test/about").await;

    assert_eq!(analysis["domain"], "bella-salon.test");
    assert_eq!(analysis["status"], "COMPLETE", "{analysis}");
    assert_eq!(analysis["error"], Value::Null);
    assert_eq!(analysis["bookingTool"], "CALENDLY");
    assert_eq!(analysis["hasOnlineBooking"], true);
    assert_eq!(analysis["hasBookingKeywords"], true);
    assert!(
        analysis["bookingKeywordScore"].as_i64().unwrap() >= 5,
        "{analysis}"
    );
    assert!(
        analysis["bookingKeywords"]
            .as_array()
            .unwrap()
            .contains(&json!("book now"))
    );
    // The booking page has the form and the calendar; the home page the rest.
    assert_eq!(analysis["hasAppointmentForm"], true);
    assert_eq!(analysis["hasCalendar"], true);
    assert_eq!(analysis["hasPricing"], true);
    assert_eq!(analysis["hasGallery"], true);
    assert_eq!(analysis["hasReviews"], true);
    assert_eq!(analysis["hasMultipleLocations"], true);
    assert_eq!(analysis["hasPhoneOnly"], false);
    assert_eq!(analysis["servicesCount"], 5);
    assert_eq!(analysis["languages"], json!(["de", "en"]));
    assert_eq!(kinds(&analysis), vec!["HOME", "BOOKING"]);
    assert_eq!(
        analysis["pages"][1]["url"],
        "http://bella-salon.test/book-appointment"
    );
    assert_eq!(analysis["pages"][0]["status"], 200);
    let analyzed: chrono::DateTime<chrono::Utc> =
        analysis["analyzedAt"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        analysis["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!((expires - analyzed).num_days(), 30);
    assert_eq!(fixture.hits("bella-salon.test", "/robots.txt"), 1);
    assert_eq!(fixture.hits("bella-salon.test", "/"), 1);
}

#[tokio::test]
async fn a_site_with_nothing_but_a_phone_number_is_phone_only() {
    let fixture = Fixture::start().await;
    fixture.site("plumber.test", "plumber");
    let app = spawn(&fixture, &["plumber.test"], |_| {}).await;
    let owner = app.sign_up("plumber-owner").await;

    let analysis = analyze(&app, &owner, "plumber.test").await;

    assert_eq!(analysis["status"], "COMPLETE", "{analysis}");
    assert_eq!(analysis["hasPhoneOnly"], true);
    assert_eq!(analysis["hasOnlineBooking"], false);
    assert_eq!(analysis["bookingTool"], Value::Null);
    assert_eq!(analysis["bookingKeywordScore"], 0);
    assert_eq!(analysis["hasContactForm"], false);
    assert_eq!(kinds(&analysis), vec!["HOME", "CONTACT"]);
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused_while_the_loopback_test_server_is_reached() {
    let fixture = Fixture::start().await;
    fixture.route(
        "metadata-hop.test",
        "/",
        Reply::Redirect("http://169.254.169.254/latest/meta-data/".into()),
    );
    fixture.route(
        "intranet-hop.test",
        "/",
        Reply::Redirect("http://intranet.test/admin".into()),
    );
    let app = spawn(&fixture, &["metadata-hop.test", "intranet-hop.test"], |c| {
        // A name that resolves to a private address.
        c.outbound_resolve.push(promohub::config::HostPin {
            name: "intranet.test".into(),
            addr: "10.0.0.1:80".parse().unwrap(),
        });
    })
    .await;
    let owner = app.sign_up("ssrf").await;

    let metadata = analyze(&app, &owner, "metadata-hop.test").await;
    let intranet = analyze(&app, &owner, "intranet-hop.test").await;

    assert_eq!(metadata["status"], "FAILED");
    let error = metadata["error"].as_str().unwrap();
    assert!(
        error.contains("169.254.169.254 is not a public address (link-local)"),
        "{error}"
    );
    assert_eq!(intranet["status"], "FAILED");
    let error = intranet["error"].as_str().unwrap();
    assert!(
        error.contains("intranet.test resolves to 10.0.0.1 is not a public address (private)"),
        "{error}"
    );
    // The fixture server itself (loopback) was reached for both.
    assert_eq!(fixture.hits("metadata-hop.test", "/"), 1);
    assert_eq!(fixture.hits("intranet-hop.test", "/"), 1);
}

#[tokio::test]
async fn robots_txt_is_obeyed_for_the_crawlers_own_group() {
    let fixture = Fixture::start().await;
    fixture.site("closed.test", "salon");
    fixture.route(
        "closed.test",
        "/robots.txt",
        Reply::Html("User-agent: *\nDisallow: /\n".into()),
    );
    fixture.site("picky.test", "salon");
    fixture.route(
        "picky.test",
        "/robots.txt",
        Reply::Html(
            "User-agent: PromoHubBot\nDisallow: /book-appointment\n\nUser-agent: *\nDisallow: /\n"
                .into(),
        ),
    );
    let app = spawn(&fixture, &["closed.test", "picky.test"], |_| {}).await;
    let owner = app.sign_up("robots").await;

    let closed = analyze(&app, &owner, "closed.test").await;
    let picky = analyze(&app, &owner, "picky.test").await;

    assert_eq!(closed["status"], "BLOCKED", "{closed}");
    assert!(closed["error"].as_str().unwrap().contains("robots.txt"));
    assert_eq!(closed["bookingTool"], Value::Null);
    assert_eq!(fixture.hits("closed.test", "/"), 0);
    assert_eq!(picky["status"], "COMPLETE", "{picky}");
    assert_eq!(picky["bookingTool"], "CALENDLY");
    assert_eq!(kinds(&picky), vec!["HOME", "BOOKING"]);
    assert!(
        picky["pages"][1]["error"]
            .as_str()
            .unwrap()
            .contains("does not allow /book-appointment")
    );
    assert_eq!(
        picky["hasAppointmentForm"], false,
        "the booking page was not read"
    );
    assert_eq!(fixture.hits("picky.test", "/book-appointment"), 0);
}

#[tokio::test]
async fn a_page_larger_than_2_mb_is_refused_whether_or_not_it_says_its_length() {
    let fixture = Fixture::start().await;
    let three_mb = 3 * 1024 * 1024;
    fixture.route(
        "big.test",
        "/",
        Reply::Huge {
            bytes: three_mb,
            chunked: false,
        },
    );
    fixture.route(
        "streamed.test",
        "/",
        Reply::Huge {
            bytes: three_mb,
            chunked: true,
        },
    );
    fixture.route(
        "fits.test",
        "/",
        Reply::Huge {
            bytes: 2 * 1024 * 1024 - 1024,
            chunked: true,
        },
    );
    let app = spawn(
        &fixture,
        &["big.test", "streamed.test", "fits.test"],
        |_| {},
    )
    .await;
    let owner = app.sign_up("sizes").await;

    for domain in ["big.test", "streamed.test"] {
        let analysis = analyze(&app, &owner, domain).await;
        assert_eq!(analysis["status"], "FAILED", "{analysis}");
        assert!(
            analysis["error"]
                .as_str()
                .unwrap()
                .contains("larger than 2 MB"),
            "{analysis}"
        );
    }
    let fits = analyze(&app, &owner, "fits.test").await;
    assert_eq!(fits["status"], "COMPLETE", "{fits}");
}

#[tokio::test]
async fn five_redirects_are_followed_and_a_sixth_is_refused() {
    let fixture = Fixture::start().await;
    for (host, hops) in [("five.test", 5), ("six.test", 6)] {
        for hop in 0..hops {
            let from = if hop == 0 {
                "/".to_owned()
            } else {
                format!("/r/{hop}")
            };
            fixture.route(host, &from, Reply::Redirect(format!("/r/{}", hop + 1)));
        }
        fixture.route(host, &format!("/r/{hops}"), file("plumber", "index.html"));
    }
    let app = spawn(&fixture, &["five.test", "six.test"], |_| {}).await;
    let owner = app.sign_up("redirects").await;

    let five = analyze(&app, &owner, "five.test").await;
    let six = analyze(&app, &owner, "six.test").await;

    assert_eq!(five["status"], "COMPLETE", "{five}");
    assert_eq!(five["pages"][0]["url"], "http://five.test/r/5");
    assert_eq!(six["status"], "FAILED");
    assert!(
        six["error"]
            .as_str()
            .unwrap()
            .contains("redirects more than 5 times"),
        "{six}"
    );
    assert_eq!(fixture.hits("six.test", "/r/6"), 0);
}

#[tokio::test]
async fn a_site_that_answers_too_slowly_times_out() {
    let fixture = Fixture::start().await;
    fixture.route(
        "slow.test",
        "/",
        Reply::Slow(
            Duration::from_secs(5),
            Box::new(file("salon", "index.html")),
        ),
    );
    let app = spawn(&fixture, &["slow.test"], |c| {
        c.website_analysis_timeout_ms = 1_000;
    })
    .await;
    let owner = app.sign_up("slow").await;

    let started = std::time::Instant::now();
    let analysis = analyze(&app, &owner, "slow.test").await;

    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(analysis["status"], "FAILED", "{analysis}");
    let error = analysis["error"].as_str().unwrap();
    assert!(
        error.contains("timed out") || error.contains("took longer than 1000 ms"),
        "{error}"
    );
    let analyzed: chrono::DateTime<chrono::Utc> =
        analysis["analyzedAt"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        analysis["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (expires - analyzed).num_hours(),
        24,
        "a failure is tried again sooner"
    );
}

#[tokio::test]
async fn every_tenant_gets_the_one_cached_analysis_even_when_they_ask_at_once() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    fixture.route(
        "busy-salon.test",
        "/",
        Reply::Slow(
            Duration::from_millis(500),
            Box::new(file("salon", "index.html")),
        ),
    );
    let app = spawn(&fixture, &["bella-salon.test", "busy-salon.test"], |_| {}).await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let gamma = app.sign_up("gamma").await;

    let first = analyze(&app, &alpha, "bella-salon.test").await;
    let second = analyze(&app, &beta, "https://bella-salon.test/").await;
    let (a, b, c) = tokio::join!(
        analyze(&app, &alpha, "busy-salon.test"),
        analyze(&app, &beta, "busy-salon.test"),
        analyze(&app, &gamma, "www.busy-salon.test"),
    );

    assert_eq!(second, first, "the second tenant gets the stored analysis");
    assert_eq!(fixture.hits("bella-salon.test", "/"), 1);
    assert_eq!(fixture.hits("bella-salon.test", "/robots.txt"), 1);
    assert_eq!(a["status"], "COMPLETE");
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(
        fixture.hits("busy-salon.test", "/"),
        1,
        "{:?}",
        fixture.all_hits()
    );
    assert_eq!(app.count("website_analyses", "1 = 1").await, 2);
}

#[tokio::test]
async fn an_expired_analysis_is_read_again() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    let app = spawn(&fixture, &["bella-salon.test"], |_| {}).await;
    let owner = app.sign_up("expiry").await;
    let first = analyze(&app, &owner, "bella-salon.test").await;

    // 30 days on: the row's expiry has passed.
    app.db
        .execute_raw(Statement::from_string(
            app.db.get_database_backend(),
            "UPDATE website_analyses SET expires_at = '2000-01-01T00:00:00+00:00'".to_owned(),
        ))
        .await
        .unwrap();
    let again = analyze(&app, &owner, "bella-salon.test").await;

    assert_eq!(fixture.hits("bella-salon.test", "/"), 2);
    assert_eq!(again["status"], "COMPLETE");
    assert_ne!(again["analyzedAt"], first["analyzedAt"]);
    assert_eq!(again["bookingTool"], first["bookingTool"]);
}

#[tokio::test]
async fn analysing_needs_a_signed_in_member_and_a_domain() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    let app = spawn(&fixture, &["bella-salon.test"], |_| {}).await;
    let owner = app.sign_up("roles").await;
    let viewer = app
        .add_member(&owner, "viewer@roles.example", "VIEWER")
        .await;
    let member = app
        .add_member(&owner, "member@roles.example", "MEMBER")
        .await;

    let anonymous = app
        .gql(&analyze_query(), json!({ "d": "bella-salon.test" }))
        .await;
    let viewed = app
        .gql_as(
            &viewer.access_token,
            &analyze_query(),
            json!({ "d": "bella-salon.test" }),
        )
        .await;
    let not_a_domain = app
        .gql_as(
            &member.access_token,
            &analyze_query(),
            json!({ "d": "10.0.0.1" }),
        )
        .await;

    anonymous.expect_error("UNAUTHENTICATED");
    viewed.expect_error("FORBIDDEN");
    assert_eq!(crate::helpers::bad_field(&not_a_domain), "domain");
    assert!(fixture.all_hits().is_empty(), "{:?}", fixture.all_hits());
    let analysis = analyze(&app, &member, "bella-salon.test").await;
    assert_eq!(analysis["status"], "COMPLETE");
}

#[tokio::test]
async fn a_companys_analysis_shows_only_through_its_own_tenants_company() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    fixture.site("plumber.test", "plumber");
    let app = spawn(&fixture, &["bella-salon.test", "plumber.test"], |_| {}).await;
    let alpha = app.sign_up("alpha").await;
    let beta = app.sign_up("beta").await;
    let salon = create_company(&app, &alpha, "Bella", "https://bella-salon.test").await;
    let plumber = create_company(&app, &beta, "Joe", "plumber.test").await;
    analyze(&app, &alpha, "bella-salon.test").await;
    analyze(&app, &beta, "plumber.test").await;

    let own = app
        .gql_as(
            &alpha.access_token,
            COMPANY_ANALYSIS,
            json!({ "id": salon }),
        )
        .await;
    let foreign = app
        .gql_as(&beta.access_token, COMPANY_ANALYSIS, json!({ "id": salon }))
        .await;
    let listed = app
        .gql_as(
            &beta.access_token,
            "{ companies(first: 10) { edges { node { id websiteAnalysis { domain } } } } }",
            json!({}),
        )
        .await;

    assert_eq!(
        own.data("company")["websiteAnalysis"]["bookingTool"],
        "CALENDLY"
    );
    foreign.expect_error("NOT_FOUND");
    let edges = listed.data("companies")["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["id"], plumber.as_str());
    assert_eq!(
        edges[0]["node"]["websiteAnalysis"]["domain"],
        "plumber.test"
    );
    // Beta's lead filter on the analysis sees none of alpha's leads.
    create_lead(
        &app,
        &alpha,
        json!({ "email": "ann@bella-salon.test", "companyId": salon }),
    )
    .await;
    let leads = app
        .gql_as(
            &beta.access_token,
            "{ leads(first: 10, filter: { websiteAnalysis: { bookingTool: { eq: CALENDLY } } }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(leads.data("leads")["totalCount"], 0);
}

#[tokio::test]
async fn a_new_company_is_analysed_in_the_background_when_its_tenant_asks_for_it() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    fixture.site("plumber.test", "plumber");
    let app = spawn(&fixture, &["bella-salon.test", "plumber.test"], |_| {}).await;
    let enabled = app.sign_up("enabled").await;
    let disabled = app.sign_up("disabled").await;
    app.gql_as(
        &enabled.access_token,
        "mutation { setSetting(key: \"website_analysis.on_company_create\", value: true) { key } }",
        json!({}),
    )
    .await
    .data("setSetting");

    let analysed = create_company(&app, &enabled, "Bella", "https://www.bella-salon.test/").await;
    let left_alone = create_company(&app, &disabled, "Joe", "http://plumber.test").await;

    let data = eventually(
        &app,
        &enabled,
        COMPANY_ANALYSIS,
        json!({ "id": analysed }),
        |d| d["company"]["websiteAnalysis"]["status"] == "COMPLETE",
    )
    .await;
    assert_eq!(
        data["company"]["websiteAnalysis"]["bookingTool"],
        "CALENDLY"
    );
    assert_eq!(fixture.hits("bella-salon.test", "/"), 1);
    assert_eq!(app.count("jobs", "kind = 'analyze_website'").await, 1);
    // The other tenant's company waits for someone to ask.
    let untouched = app
        .gql_as(
            &disabled.access_token,
            COMPANY_ANALYSIS,
            json!({ "id": left_alone }),
        )
        .await;
    assert_eq!(untouched.data("company")["websiteAnalysis"], Value::Null);
    assert_eq!(fixture.hits("plumber.test", "/"), 0);
}

#[tokio::test]
async fn lead_filters_scoring_rules_and_segments_read_the_company_analysis() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    fixture.site("plumber.test", "plumber");
    let app = spawn(&fixture, &["bella-salon.test", "plumber.test"], |c| {
        c.segment_sweep_secs = 1;
    })
    .await;
    let owner = app.sign_up("scored").await;
    let salon = create_company(&app, &owner, "Bella", "bella-salon.test").await;
    let plumber = create_company(&app, &owner, "Joe", "plumber.test").await;
    app.gql_as(
        &owner.access_token,
        "mutation($input: CreateScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({ "input": {
            "name": "Books online with Calendly", "criteria": "websiteAnalysis.bookingTool",
            "condition": "EQUALS", "value": "CALENDLY", "points": 30,
        }}),
    )
    .await
    .data("createScoringRule");
    let segment = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": {
                "name": "Book online", "kind": "DYNAMIC",
                "filter": { "websiteAnalysis": { "hasOnlineBooking": { "eq": true } } },
            }}),
        )
        .await
        .data("createSegment")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::segment_upkeep::caught_up(&app, "scored").await;
    let early = create_lead(
        &app,
        &owner,
        json!({ "email": "ann@bella-salon.test", "companyId": salon }),
    )
    .await;
    let other = create_lead(
        &app,
        &owner,
        json!({ "email": "joe@plumber.test", "companyId": plumber }),
    )
    .await;
    assert_eq!(early["score"], 0, "no analysis yet");

    analyze(&app, &owner, "bella-salon.test").await;
    analyze(&app, &owner, "plumber.test").await;

    // The analysis reaches the leads that were there before it.
    let lead_query =
        "query($id: ID!) { lead(id: $id) { score scoreBreakdown { ruleName points } } }";
    let scored = eventually(
        &app,
        &owner,
        lead_query,
        json!({ "id": early["id"] }),
        |d| d["lead"]["score"] == 30,
    )
    .await;
    assert_eq!(
        scored["lead"]["scoreBreakdown"],
        json!([{ "ruleName": "Books online with Calendly", "points": 30 }])
    );
    crate::segment_upkeep::entered(
        &app,
        &owner,
        &segment,
        early["id"].as_str().unwrap(),
        "lead.changed",
    )
    .await;
    // A lead written after it is scored on it at once.
    let later = create_lead(
        &app,
        &owner,
        json!({ "email": "bob@bella-salon.test", "companyId": salon }),
    )
    .await;
    assert_eq!(later["score"], 30);
    let filtered = app
        .gql_as(
            &owner.access_token,
            "{ leads(first: 10, filter: { websiteAnalysis: { bookingTool: { in: [CALENDLY, ACUITY] }, bookingKeywordScore: { gte: 5 } } }) { edges { node { email } } } }",
            json!({}),
        )
        .await;
    let mut emails: Vec<&str> = filtered.data("leads")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, vec!["ann@bella-salon.test", "bob@bella-salon.test"]);
    let phone_only = app
        .gql_as(
            &owner.access_token,
            "{ leads(first: 10, filter: { websiteAnalysis: { hasPhoneOnly: { eq: true } } }) { edges { node { id } } } companies(first: 10, filter: { websiteAnalysis: { status: { eq: COMPLETE }, hasPhoneOnly: { eq: true } } }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        phone_only.data("leads")["edges"],
        json!([{ "node": { "id": other["id"] } }])
    );
    assert_eq!(
        phone_only.data("companies")["edges"],
        json!([{ "node": { "id": plumber } }])
    );
    let refused = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateScoringRuleInput!) { createScoringRule(input: $input) { id } }",
            json!({ "input": {
                "name": "x", "criteria": "websiteAnalysis.bookingTool",
                "condition": "EQUALS", "value": "wix", "points": 5,
            }}),
        )
        .await;
    assert_eq!(crate::helpers::bad_field(&refused), "input.value");
}

#[tokio::test]
async fn a_companys_leads_follow_its_website_when_it_changes() {
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    fixture.site("plumber.test", "plumber");
    let app = spawn(&fixture, &["bella-salon.test", "plumber.test"], |_| {}).await;
    let owner = app.sign_up("moving").await;
    analyze(&app, &owner, "bella-salon.test").await;
    analyze(&app, &owner, "plumber.test").await;
    let company = create_company(&app, &owner, "Bella", "bella-salon.test").await;
    app.gql_as(
        &owner.access_token,
        "mutation($input: CreateScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({ "input": {
            "name": "Online booking", "criteria": "websiteAnalysis.hasOnlineBooking",
            "condition": "EQUALS", "value": true, "points": 40,
        }}),
    )
    .await
    .data("createScoringRule");
    let lead = create_lead(
        &app,
        &owner,
        json!({ "email": "ann@bella-salon.test", "companyId": company }),
    )
    .await;
    assert_eq!(lead["score"], 40);

    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { updateCompany(id: $id, input: { website: \"plumber.test\" }) { id } }",
        json!({ "id": company }),
    )
    .await
    .data("updateCompany");

    eventually(
        &app,
        &owner,
        "query($id: ID!) { lead(id: $id) { score } }",
        json!({ "id": lead["id"] }),
        |d| d["lead"]["score"] == 0,
    )
    .await;
}

#[tokio::test]
async fn requests_only_read_analyses_and_the_system_role_sees_only_which_tenant_has_which_domain() {
    if !crate::helpers::on_postgres() {
        eprintln!("roles exist on PostgreSQL only; run with TEST_DATABASE_URL");
        return;
    }
    use sea_orm::TransactionTrait;
    let fixture = Fixture::start().await;
    fixture.site("bella-salon.test", "salon");
    let app = spawn(&fixture, &["bella-salon.test"], |_| {}).await;
    let owner = app.sign_up("roles-pg").await;
    create_company(&app, &owner, "Bella", "bella-salon.test").await;
    analyze(&app, &owner, "bella-salon.test").await;
    let run = |role: &'static str, sql: &'static str| {
        let db = app.db.clone();
        async move {
            let txn = db.begin().await.unwrap();
            txn.execute_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT set_config('role', '{role}', true)"),
            ))
            .await
            .unwrap();
            let result = txn
                .query_all_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
                .await
                .map(|rows| rows.len())
                .map_err(|e| e.to_string());
            txn.rollback().await.unwrap();
            result
        }
    };

    let read = run("promohub_app", "SELECT domain FROM website_analyses").await;
    let written = run(
        "promohub_app",
        "UPDATE website_analyses SET booking_keyword_score = 10 RETURNING domain",
    )
    .await;
    let domains = run(
        "promohub_system",
        "SELECT DISTINCT tenant_id FROM companies WHERE domain = 'bella-salon.test' AND deleted_at IS NULL",
    )
    .await;
    let names = run("promohub_system", "SELECT name FROM companies").await;

    assert_eq!(read, Ok(1));
    assert!(written.unwrap_err().contains("permission denied"));
    assert_eq!(domains, Ok(1));
    assert!(names.unwrap_err().contains("permission denied"));
}
