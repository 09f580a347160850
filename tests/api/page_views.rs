//! Page-view tracking: the first-party script, views stored with what the
//! request says (UTM, device, crawler, funnel page, place, truncated
//! address), visitors who become leads by a form (their earlier views
//! attached), the lists and aggregates, and tenant isolation.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const VIEWS: &str = "query($f: PageViewFilter) { pageViews(first: 50, filter: $f) { totalCount nodes { visitorId leadId url path title referrer os screenHeight viewedAt utm { source medium campaign term } country city deviceType browser isBot isDemoPage isPricingPage isContactPage ip screenWidth } } }";

async fn site(app: &TestApp, s: &Session) -> Value {
    app.gql_as(
        &s.access_token,
        "mutation($input: TrackingSiteInput!) { createTrackingSite(input: $input) { id siteKey snippet } }",
        json!({ "input": {
            "name": "Main site",
            "demoPatterns": ["*/demo*"],
            "pricingPatterns": ["/pricing"],
            "contactPatterns": ["*/contact"]
        }}),
    )
    .await
    .data("createTrackingSite")
    .clone()
}

/// A view as the script sends it (`text/plain` JSON, like `sendBeacon`).
async fn view(app: &TestApp, body: Value, agent: &str, forwarded: Option<&str>) -> u16 {
    let mut request = app
        .http
        .post(app.url("/t/pv"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", agent)
        .body(body.to_string());
    if let Some(ip) = forwarded {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn views(app: &TestApp, s: &Session, filter: Value) -> Value {
    app.gql_as(&s.access_token, VIEWS, json!({ "f": filter }))
        .await
        .data("pageViews")
        .clone()
}

#[tokio::test]
async fn the_script_is_first_party_and_cacheable() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/t/p.js")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let script = response.text().await.unwrap();
    assert!(script.contains("/t/pv"));
    // First party: the visitor id lives on the site's own domain, and no
    // other host is contacted.
    assert!(script.contains("ph_vid"));
    assert!(!script.contains("googletagmanager") && !script.contains("google-analytics"));
    let again = app
        .http
        .get(app.url("/t/p.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[tokio::test]
async fn a_view_is_stored_with_utm_device_funnel_and_a_truncated_address() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.capture.geo_country_header = Some("CF-IPCountry".into());
        c.capture.geo_city_header = Some("CF-IPCity".into());
    })
    .await;
    let owner = app.sign_up("acme").await;
    let site = site(&app, &owner).await;
    let key = site["siteKey"].as_str().unwrap();
    assert!(site["snippet"].as_str().unwrap().contains(key));

    let status = app
        .http
        .post(app.url("/t/pv"))
        .header("content-type", "text/plain")
        .header("user-agent", IPHONE)
        .header("x-forwarded-for", "198.51.100.77")
        .header("cf-ipcountry", "de")
        .header("cf-ipcity", "Berlin")
        .body(
            json!({ "k": key, "v": "v1", "u": "https://acme.example/pricing?utm_source=google&utm_medium=cpc&utm_campaign=spring", "t": "Pricing", "w": 390, "h": 844 })
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert_eq!(
        view(
            &app,
            json!({ "k": key, "v": "v1", "u": "https://acme.example/demo/book" }),
            CHROME,
            None
        )
        .await,
        204
    );
    // A crawler: stored apart.
    assert_eq!(
        view(
            &app,
            json!({ "k": key, "v": "bot", "u": "https://acme.example/contact" }),
            GOOGLEBOT,
            None
        )
        .await,
        204
    );
    // An unknown key and a malformed body.
    assert_eq!(
        view(
            &app,
            json!({ "k": "nope", "u": "https://x.example/" }),
            CHROME,
            None
        )
        .await,
        404
    );
    let bad = app
        .http
        .post(app.url("/t/pv"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let listed = views(&app, &owner, json!({})).await;
    assert_eq!(listed["totalCount"], 2);
    let pricing = &listed["nodes"][1];
    assert_eq!(pricing["path"], "/pricing");
    assert_eq!(pricing["title"], "Pricing");
    assert_eq!(
        pricing["utm"],
        json!({ "source": "google", "medium": "cpc", "campaign": "spring", "term": null })
    );
    assert_eq!(pricing["screenHeight"], 844);
    assert!(pricing["os"].is_string());
    assert!(pricing["viewedAt"].is_string());
    assert_eq!(pricing["referrer"], Value::Null);
    // The funnel filters.
    assert_eq!(
        views(&app, &owner, json!({ "pricingPage": true })).await["totalCount"],
        1
    );
    assert_eq!(
        views(&app, &owner, json!({ "demoPage": true })).await["totalCount"],
        1
    );
    assert_eq!(
        views(&app, &owner, json!({ "contactPage": true })).await["totalCount"],
        0
    );
    assert_eq!(pricing["deviceType"], "MOBILE");
    assert_eq!(pricing["isPricingPage"], true);
    assert_eq!(pricing["isDemoPage"], false);
    assert_eq!(pricing["country"], "DE");
    assert_eq!(pricing["city"], "Berlin");
    assert_eq!(pricing["ip"], "198.51.100.0");
    assert_eq!(pricing["screenWidth"], 390);
    let demo = &listed["nodes"][0];
    assert_eq!(demo["isDemoPage"], true);
    assert_eq!(demo["deviceType"], "DESKTOP");
    assert_eq!(demo["browser"], "Chrome");

    let bots = views(&app, &owner, json!({ "bots": true })).await;
    assert_eq!(bots["totalCount"], 1);
    assert_eq!(bots["nodes"][0]["isContactPage"], true);

    let stats = app
        .gql_as(
            &owner.access_token,
            "query { pageViewStats { views visitors bots topPages { value views } utmSources { value views } utmCampaigns { value views } devices { value views } countries { value views } } }",
            json!({}),
        )
        .await
        .data("pageViewStats")
        .clone();
    assert_eq!(stats["views"], 2);
    assert_eq!(stats["visitors"], 1);
    assert_eq!(stats["bots"], 1);
    assert_eq!(
        stats["utmSources"],
        json!([{ "value": "google", "views": 1 }])
    );
    assert_eq!(stats["countries"], json!([{ "value": "DE", "views": 1 }]));
    assert_eq!(stats["topPages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_geo_header_from_an_untrusted_client_means_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.capture.geo_country_header = Some("CF-IPCountry".into());
    })
    .await;
    let owner = app.sign_up("acme").await;
    let key = site(&app, &owner).await["siteKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = app
        .http
        .post(app.url("/t/pv"))
        .header("content-type", "text/plain")
        .header("user-agent", CHROME)
        .header("cf-ipcountry", "FR")
        .body(json!({ "k": key, "v": "v1", "u": "https://acme.example/" }).to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let listed = views(&app, &owner, json!({})).await;
    assert_eq!(listed["nodes"][0]["country"], Value::Null);
}

#[tokio::test]
async fn the_place_comes_from_the_mmdb_file_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.mmdb");
    std::fs::write(&path, mmdb::city_database([203, 0, 113], "NZ", "Auckland")).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.capture.geo_mmdb = Some(path.clone());
    })
    .await;
    let owner = app.sign_up("acme").await;
    let key = site(&app, &owner).await["siteKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for (visitor, ip) in [("in-nz", "203.0.113.9"), ("elsewhere", "192.0.2.1")] {
        assert_eq!(
            view(
                &app,
                json!({ "k": key, "v": visitor, "u": "https://acme.example/" }),
                CHROME,
                Some(ip)
            )
            .await,
            204
        );
    }
    let listed = views(&app, &owner, json!({ "visitorId": "in-nz" })).await;
    assert_eq!(listed["nodes"][0]["country"], "NZ");
    assert_eq!(listed["nodes"][0]["city"], "Auckland");
    let elsewhere = views(&app, &owner, json!({ "visitorId": "elsewhere" })).await;
    assert_eq!(elsewhere["nodes"][0]["country"], Value::Null);
}

#[tokio::test]
async fn a_visitor_who_submits_a_form_becomes_the_lead_with_the_views_before() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let key = site(&app, &owner).await["siteKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/", "/pricing"] {
        view(
            &app,
            json!({ "k": key, "v": "visitor-7", "u": format!("https://acme.example{path}") }),
            CHROME,
            None,
        )
        .await;
    }
    view(
        &app,
        json!({ "k": key, "v": "someone-else", "u": "https://acme.example/" }),
        CHROME,
        None,
    )
    .await;

    let form = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateFormInput!) { createForm(input: $input) { publicId } }",
            json!({ "input": { "name": "Contact", "status": "PUBLISHED", "minFillSeconds": 0,
                "fields": [{ "key": "email", "type": "EMAIL", "label": "Email", "required": true, "mapsTo": "email" }] } }),
        )
        .await
        .data("createForm")["publicId"]
        .as_str()
        .unwrap()
        .to_owned();
    // The embedded form learns the visitor from the tracker.
    let embed = app
        .http
        .get(app.url(&format!(
            "/f/{form}/embed?visitor=visitor-7&page=https%3A%2F%2Facme.example%2Fcontact"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(embed.contains("name=\"_visitor\" value=\"visitor-7\""));
    let drawn = embed
        .split("name=\"_drawn\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let response = app
        .http
        .post(app.url(&format!("/f/{form}")))
        .form(&[
            ("email", "vera@example.com"),
            ("_drawn", &drawn),
            ("_visitor", "visitor-7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A view after the submission is the lead's too.
    view(
        &app,
        json!({ "k": key, "v": "visitor-7", "u": "https://acme.example/demo" }),
        CHROME,
        None,
    )
    .await;

    let lead = app
        .gql_as(
            &owner.access_token,
            "query { leads(first: 1) { nodes { email pageViews(first: 10) { totalCount nodes { path } } } } }",
            json!({}),
        )
        .await
        .data("leads")["nodes"][0]
        .clone();
    assert_eq!(lead["email"], "vera@example.com");
    let paths: Vec<&str> = lead["pageViews"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/demo", "/pricing", "/"]);
    let stranger = views(&app, &owner, json!({ "visitorId": "someone-else" })).await;
    assert_eq!(stranger["nodes"][0]["leadId"], Value::Null);
}

#[tokio::test]
async fn a_site_key_only_ever_reaches_its_own_tenant() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme").await;
    let globex = app.sign_up("globex").await;
    let acme_site = site(&app, &acme).await;
    let globex_site = site(&app, &globex).await;
    view(
        &app,
        json!({ "k": acme_site["siteKey"], "v": "a", "u": "https://acme.example/" }),
        CHROME,
        None,
    )
    .await;
    view(
        &app,
        json!({ "k": globex_site["siteKey"], "v": "g", "u": "https://globex.example/" }),
        CHROME,
        None,
    )
    .await;

    assert_eq!(views(&app, &acme, json!({})).await["totalCount"], 1);
    let listed = app
        .gql_as(
            &acme.access_token,
            "query { trackingSites(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await
        .data("trackingSites")["nodes"]
        .clone();
    assert_eq!(listed, json!([{ "id": acme_site["id"] }]));
    assert_eq!(
        views(&app, &globex, json!({})).await["nodes"][0]["visitorId"],
        "g"
    );
    // Filtering by the other tenant's site finds nothing.
    assert_eq!(
        views(&app, &acme, json!({ "siteId": globex_site["id"] })).await["totalCount"],
        0
    );
    for (query, vars) in [
        (
            "query($id: ID!) { trackingSite(id: $id) { id } }",
            json!({ "id": globex_site["id"] }),
        ),
        (
            "mutation($id: ID!) { updateTrackingSite(id: $id, input: { name: \"Mine\" }) { id } }",
            json!({ "id": globex_site["id"] }),
        ),
        (
            "mutation($id: ID!) { deleteTrackingSite(id: $id) { id } }",
            json!({ "id": globex_site["id"] }),
        ),
    ] {
        app.gql_as(&acme.access_token, query, vars)
            .await
            .expect_error("NOT_FOUND");
    }
    // A deleted site's key is refused.
    app.gql_as(
        &acme.access_token,
        "mutation($id: ID!) { deleteTrackingSite(id: $id) { id } }",
        json!({ "id": acme_site["id"] }),
    )
    .await
    .data("deleteTrackingSite");
    assert_eq!(
        view(
            &app,
            json!({ "k": acme_site["siteKey"], "v": "a", "u": "https://acme.example/" }),
            CHROME,
            None
        )
        .await,
        404
    );
}

/// A MaxMind DB file with one IPv4 /24 (MaxMind DB format 2.0: a binary
/// search tree of 24-bit records, a data section, the metadata map).
mod mmdb {
    fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
        assert!(size < 29);
        if kind <= 7 {
            out.push((kind << 5) | size as u8);
        } else {
            out.push(size as u8);
            out.push(kind - 7);
        }
    }

    fn string(value: &str, out: &mut Vec<u8>) {
        control(2, value.len(), out);
        out.extend_from_slice(value.as_bytes());
    }

    fn unsigned(kind: u8, value: u64, out: &mut Vec<u8>) {
        let bytes: Vec<u8> = value
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        control(kind, bytes.len(), out);
        out.extend(bytes);
    }

    fn map(pairs: usize, out: &mut Vec<u8>) {
        control(7, pairs, out);
    }

    pub fn city_database(prefix: [u8; 3], country: &str, city: &str) -> Vec<u8> {
        let mut data = Vec::new();
        map(2, &mut data);
        string("country", &mut data);
        map(1, &mut data);
        string("iso_code", &mut data);
        string(country, &mut data);
        string("city", &mut data);
        map(1, &mut data);
        string("names", &mut data);
        map(1, &mut data);
        string("en", &mut data);
        string(city, &mut data);

        let node_count: u32 = 24;
        let empty = node_count;
        let to_data = node_count + 16;
        let mut tree = Vec::new();
        for depth in 0..24u32 {
            let bit = (prefix[(depth / 8) as usize] >> (7 - depth % 8)) & 1;
            let next = if depth == 23 { to_data } else { depth + 1 };
            let (left, right) = if bit == 0 {
                (next, empty)
            } else {
                (empty, next)
            };
            for record in [left, right] {
                tree.extend_from_slice(&record.to_be_bytes()[1..]);
            }
        }
        let mut file = tree;
        file.extend_from_slice(&[0; 16]);
        file.extend(data);
        file.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let mut meta = Vec::new();
        map(9, &mut meta);
        string("node_count", &mut meta);
        unsigned(6, node_count.into(), &mut meta);
        string("record_size", &mut meta);
        unsigned(5, 24, &mut meta);
        string("ip_version", &mut meta);
        unsigned(5, 4, &mut meta);
        string("database_type", &mut meta);
        string("GeoIP2-City", &mut meta);
        string("languages", &mut meta);
        control(11, 1, &mut meta);
        string("en", &mut meta);
        string("binary_format_major_version", &mut meta);
        unsigned(5, 2, &mut meta);
        string("binary_format_minor_version", &mut meta);
        unsigned(5, 0, &mut meta);
        string("build_epoch", &mut meta);
        unsigned(9, 1_700_000_000, &mut meta);
        string("description", &mut meta);
        map(1, &mut meta);
        string("en", &mut meta);
        string("PromoHub test", &mut meta);
        file.extend(meta);
        file
    }
}

#[tokio::test]
async fn a_tracked_email_link_to_a_tracked_site_tells_its_page_who_the_visitor_is() {
    let app = crate::messaging::spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = crate::smtp_server::TestSmtpServer::start();
    crate::messaging::create_sender(&app, &owner, "Main", smtp.port(), 1).await;
    let key = app
        .gql_as(
            &owner.access_token,
            "mutation { createTrackingSite(input: { name: \"Main\", domains: [\"acme.example\"] }) { siteKey domains } }",
            json!({}),
        )
        .await
        .data("createTrackingSite")["siteKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let lead = crate::messaging::create_lead(&app, &owner, "Lena", "lena@example.com").await;
    let sent = app
        .gql_as(
            &owner.access_token,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { htmlBody } }",
            json!({ "input": { "leadId": lead, "subject": "Hi",
                "htmlBody": "<p><a href=\"https://www.acme.example/offer?x=1#top\">Offer</a> <a href=\"https://other.example/page\">Other</a></p>" } }),
        )
        .await
        .data("sendMessage")["htmlBody"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = crate::messaging::no_redirects();
    let clicks: Vec<String> = sent
        .split("/t/c/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect();
    assert_eq!(clicks.len(), 2);
    let ours = http
        .get(app.url(&format!("/t/c/{}", clicks[0])))
        .send()
        .await
        .unwrap();
    let location = ours.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://www.acme.example/offer?x=1&ph_lid="),
        "{location}"
    );
    assert!(location.ends_with("#top"));
    // A link elsewhere is left exactly as written.
    let other = http
        .get(app.url(&format!("/t/c/{}", clicks[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(other.headers()["location"], "https://other.example/page");

    let token = location
        .split("ph_lid=")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap();
    assert_eq!(
        view(&app, json!({ "k": key, "v": "reader-1", "u": "https://www.acme.example/offer?x=1", "l": token }), CHROME, None).await,
        204
    );
    view(
        &app,
        json!({ "k": key, "v": "reader-1", "u": "https://www.acme.example/pricing" }),
        CHROME,
        None,
    )
    .await;
    // A forged token names nobody.
    view(&app, json!({ "k": key, "v": "forger", "u": "https://www.acme.example/", "l": format!("{token}x") }), CHROME, None).await;

    let identified = views(&app, &owner, json!({ "leadId": lead })).await;
    assert_eq!(identified["totalCount"], 2);
    assert_eq!(
        app.count(
            "visitor_leads",
            "visitor_id = 'reader-1' AND identified_by = 'email_click'"
        )
        .await,
        1
    );
    assert_eq!(app.count("visitor_leads", "visitor_id = 'forger'").await, 0);
}
