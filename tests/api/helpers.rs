//! Test harness: `TestApp` (server + database), a small GraphQL client, a
//! `graphql-transport-ws` client, and sign-up fixtures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use promohub::config::Config;
use promohub::state::AppState;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{OnceCell, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub const PASSWORD: &str = "correct-horse-battery";

/// A running server on its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The server's state, for tests that must reach inside (the event hub).
    pub state: AppState,
    /// Every SQL statement the server has run (N+1 checks compare slices).
    pub sql_log: Arc<std::sync::Mutex<Vec<String>>>,
    pub http: reqwest::Client,
    pub db: DatabaseConnection,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    _sqlite_dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The mailbox watchers log out and let their leases go.
        self.state.shared.mailbox_watchers.stop();
    }
}

/// PostgreSQL admin URL when the suite runs on PostgreSQL.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// PgBouncer (transaction pooling) in front of `TEST_DATABASE_URL`'s
/// server, when set: the server under test connects through it. Needs a
/// PgBouncer that tracks prepared statements (1.21+ with
/// `max_prepared_statements`): sqlx names every statement it prepares.
fn pgbouncer_url() -> Option<String> {
    std::env::var("TEST_PGBOUNCER_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

pub fn on_postgres() -> bool {
    postgres_admin_url().is_some()
}

fn with_database(admin_url: &str, database: &str) -> String {
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL with a path");
    format!("{base}/{database}")
}

/// Whether the test process that made database `name` (`ph_t_<pid>_…`,
/// `ph_tpl_<pid>_`) still runs.
fn owner_alive(name: &str) -> bool {
    let pid = name
        .trim_start_matches("ph_tpl_")
        .trim_start_matches("ph_t_")
        .split('_')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok());
    pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Migrates a template database once per test process; every test clones it
/// (`CREATE DATABASE … TEMPLATE`), which is much faster than migrating.
async fn postgres_template(admin_url: &str) -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let pid = std::process::id();
            let admin = Database::connect(admin_url)
                .await
                .expect("connect to PostgreSQL");
            // Databases left by earlier runs are dropped here: those of test
            // processes that are gone (another test process running now, say
            // a second checkout's, keeps its own).
            let leftovers = admin
                .query_all_raw(Statement::from_string(
                    admin.get_database_backend(),
                    "SELECT datname FROM pg_database WHERE datname LIKE 'ph\\_t%'",
                ))
                .await
                .expect("list databases");
            for row in leftovers {
                let name: String = row.try_get("", "datname").expect("datname");
                if !name.contains(&format!("_{pid}_")) && !owner_alive(&name) {
                    let _ = admin
                        .execute_raw(Statement::from_string(
                            admin.get_database_backend(),
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                        ))
                        .await;
                }
            }
            let template = format!("ph_tpl_{pid}_");
            admin
                .execute_raw(Statement::from_string(
                    admin.get_database_backend(),
                    format!("CREATE DATABASE \"{template}\""),
                ))
                .await
                .expect("create the template database");
            let db = Database::connect(with_database(admin_url, &template))
                .await
                .expect("connect to template");
            promohub::db::migrate(&db)
                .await
                .expect("migrate the template");
            db.close().await.expect("close template connection");
            admin.close().await.expect("close admin connection");
            template
        })
        .await
}

async fn fresh_postgres(admin_url: &str) -> String {
    let template = postgres_template(admin_url).await;
    let name = format!("ph_t_{}_{}", std::process::id(), Uuid::now_v7().simple());
    create_database(admin_url, &name, &format!("TEMPLATE \"{template}\"")).await;
    with_database(admin_url, &name)
}

/// `CREATE DATABASE name options` on the server at `admin_url`.
async fn create_database(admin_url: &str, name: &str, options: &str) {
    let admin = Database::connect(admin_url)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_raw(Statement::from_string(
            admin.get_database_backend(),
            format!("CREATE DATABASE \"{name}\" {options}"),
        ))
        .await
        .expect("create a database");
    admin.close().await.expect("close admin connection");
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server whose configuration `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let (url, dir) = match postgres_admin_url() {
            Some(admin) => (fresh_postgres(&admin).await, None),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                (url, Some(dir))
            }
        };
        Self::start(url, dir, adjust).await
    }

    /// Starts a server on a new, empty database of the PostgreSQL server
    /// at `admin_url` (not `TEST_DATABASE_URL`'s: one a test may restart),
    /// migrated by the server as it starts.
    pub async fn spawn_on_postgres(admin_url: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let name = format!("ph_r_{}", Uuid::now_v7().simple());
        create_database(admin_url, &name, "").await;
        Self::start(with_database(admin_url, &name), None, adjust).await
    }

    /// A second server process on this app's database (as a second
    /// `promohub serve` would be): its own state, workers and port.
    pub async fn another_process(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let url = self
            .config
            .database_listen_url
            .clone()
            .unwrap_or_else(|| self.config.database_url.clone());
        Self::start(url, None, adjust).await
    }

    async fn start(
        url: String,
        dir: Option<tempfile::TempDir>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_database(url.clone());
        config.db_pool_size = Some(5);
        // Templates render in `promohub render-worker` processes; the test
        // binary is not that program.
        config.limits.template_render_worker = Some(env!("CARGO_BIN_EXE_promohub").into());
        if let Some(pooler) = pgbouncer_url().filter(|_| dir.is_none()) {
            // The server's pool goes through PgBouncer in transaction
            // pooling mode, as behind Supabase's pooler; LISTEN, a session
            // feature, connects directly.
            let (_, database) = url.rsplit_once('/').expect("a database URL with a path");
            config.database_url = with_database(&pooler, database);
            config.database_listen_url = Some(url);
        }
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.settle_public_url(addr);
        let mut db = promohub::db::connect(&config).await.expect("connect");
        let sql_log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = sql_log.clone();
        db.set_metric_callback(move |info| {
            if is_job_queue_poll(info.statement) {
                return;
            }
            log.lock()
                .expect("sql log")
                .push(info.statement.sql.clone());
        });
        promohub::db::migrate(&db).await.expect("migrate");
        let state = AppState::new(db.clone(), config.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
            promohub::server::serve(listener, server_state, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Self {
            addr,
            state,
            sql_log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            db,
            config,
            shutdown: Some(tx),
            _sqlite_dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// POSTs a GraphQL operation, optionally with a bearer token.
    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json body");
        Gql { status, body }
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Gql {
        self.gql_with(None, query, variables).await
    }

    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Gql {
        self.gql_with(Some(token), query, variables).await
    }

    /// Signs up a new user with a new tenant `slug`.
    pub async fn sign_up(&self, slug: &str) -> Session {
        let email = format!("owner@{slug}.example");
        let response = self
            .gql(
                SIGN_UP,
                json!({ "input": {
                    "email": email, "password": PASSWORD, "name": format!("Owner of {slug}"),
                    "tenantName": format!("Tenant {slug}"), "tenantSlug": slug,
                }}),
            )
            .await;
        Session::from_payload(response.data("signUp"), &email)
    }

    /// Invites `email` into `owner`'s tenant with `role` and accepts it.
    pub async fn add_member(&self, owner: &Session, email: &str, role: &str) -> Session {
        let invite = self
            .gql_as(
                &owner.access_token,
                "mutation($email: String!, $role: Role!) { inviteUser(email: $email, role: $role) { token invite { id } } }",
                json!({ "email": email, "role": role }),
            )
            .await;
        let token = invite.data("inviteUser")["token"]
            .as_str()
            .expect("invite token")
            .to_owned();
        let accepted = self
            .gql(
                "mutation($token: String!) { acceptInvite(token: $token, name: \"Invited Person\", password: \"correct-horse-battery\") { ...Payload } }"
                    .replace("{ ...Payload }", PAYLOAD_FIELDS)
                    .as_str(),
                json!({ "token": token }),
            )
            .await;
        Session::from_payload(accepted.data("acceptInvite"), email)
    }

    /// The membership id of `session`'s user in `admin`'s tenant.
    pub async fn member_id(&self, admin: &Session, email: &str) -> String {
        let members = self
            .gql_as(
                &admin.access_token,
                "{ tenantMembers(first: 100) { edges { node { id user { email } } } } }",
                json!({}),
            )
            .await;
        members.data("tenantMembers")["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|edge| edge["node"]["user"]["email"] == email)
            .map(|edge| edge["node"]["id"].as_str().expect("id").to_owned())
            .expect("member present")
    }

    /// Creates an API key with `scopes` in `admin`'s tenant; returns the key.
    pub async fn api_key(&self, admin: &Session, scopes: &[&str]) -> String {
        let response = self
            .gql_as(
                &admin.access_token,
                "mutation($scopes: [Scope!]!) { createApiKey(name: \"partner\", scopes: $scopes) { key } }",
                json!({ "scopes": scopes }),
            )
            .await;
        response.data("createApiKey")["key"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    /// Runs raw SQL against the test database.
    /// The Prometheus text `/metrics` serves.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub async fn sql(&self, sql: &str) -> Vec<sea_orm::QueryResult> {
        self.db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("sql")
    }

    /// Counts rows of `table` matching `condition` (raw SQL, bypassing the API).
    pub async fn count(&self, table: &str, condition: &str) -> i64 {
        let rows = self
            .sql(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE {condition}"
            ))
            .await;
        rows[0].try_get::<i64>("", "n").expect("count")
    }

    /// Runs `query` and returns the response with the SQL statements it cost.
    pub async fn gql_counting(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (Gql, Vec<String>) {
        let before = self.sql_log.lock().expect("sql log").len();
        let response = self.gql_as(token, query, variables).await;
        let statements = self.sql_log.lock().expect("sql log")[before..].to_vec();
        (response, statements)
    }

    pub async fn ws(&self, path: &str) -> Ws {
        Ws::connect(&self.ws_url(path), Some("graphql-transport-ws")).await
    }
}

/// The job runner polls the queue in the background (a transaction bound to
/// no tenant and no user, then a claim on `jobs`); a poll that lands while a
/// test counts a request's statements is not the request's (no counted
/// request touches the queue itself).
fn is_job_queue_poll(statement: &sea_orm::Statement) -> bool {
    // A binding to a role with no tenant and no user (the role comes first).
    let unbound = statement
        .sql
        .starts_with("SELECT set_config('role', $1, true), ")
        && statement.values.as_ref().is_some_and(|values| {
            values
                .0
                .iter()
                .skip(1)
                .all(|v| matches!(v, sea_orm::Value::String(Some(s)) if s.is_empty()))
        });
    // The mailbox watchers' rescan, on the same footing as the job poll.
    unbound || statement.sql.contains("\"jobs\"") || statement.sql.contains("\"mailbox_watches\"")
}

pub const PAYLOAD_FIELDS: &str =
    "{ accessToken refreshToken expiresAt role user { id email name } tenant { id name slug } }";

pub const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken expiresAt role user { id email name } tenant { id name slug } } }";

pub const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresAt role user { id email name } tenant { id name slug } } }";

/// A signed-in user, as the tests use it.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
}

impl Session {
    pub fn from_payload(payload: &Value, email: &str) -> Self {
        let text = |v: &Value| {
            v.as_str()
                .unwrap_or_else(|| panic!("missing field in {payload}"))
                .to_owned()
        };
        Self {
            access_token: text(&payload["accessToken"]),
            refresh_token: text(&payload["refreshToken"]),
            tenant_id: text(&payload["tenant"]["id"]),
            user_id: text(&payload["user"]["id"]),
            email: email.to_owned(),
            role: text(&payload["role"]),
        }
    }

    /// The session the access token belongs to (its `sid` claim).
    pub fn session_id(&self) -> String {
        use base64::Engine;
        let payload = self.access_token.split('.').nth(1).expect("a JWT");
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64url"),
        )
        .expect("JSON claims");
        claims["sid"].as_str().expect("a sid claim").to_owned()
    }
}

/// A GraphQL response.
#[derive(Debug)]
pub struct Gql {
    pub status: u16,
    pub body: Value,
}

impl Gql {
    /// `data.<field>`, panicking with the errors if there is none.
    pub fn data(&self, field: &str) -> &Value {
        let value = &self.body["data"][field];
        assert!(
            !value.is_null(),
            "expected data.{field}, got {}",
            serde_json::to_string_pretty(&self.body).unwrap_or_default()
        );
        value
    }

    /// The first error's `extensions.code`.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// Asserts the operation failed with `code` and returns the error.
    pub fn expect_error(&self, code: &str) -> &Value {
        assert_eq!(
            self.code(),
            Some(code),
            "expected error {code}, got {}",
            serde_json::to_string_pretty(&self.body).unwrap_or_default()
        );
        &self.body["errors"][0]
    }

    pub fn is_ok(&self) -> bool {
        self.body["errors"].is_null()
    }
}

/// The input path a `BAD_USER_INPUT` error names (panics on any other outcome).
pub fn bad_field(response: &Gql) -> String {
    response.expect_error("BAD_USER_INPUT")["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The input path a `CONFLICT` error names: a value already taken (panics
/// on any other outcome).
pub fn taken_field(response: &Gql) -> String {
    response.expect_error("CONFLICT")["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The input path a refusal names, with its code: `BAD_USER_INPUT` for a
/// bad value, `CONFLICT` for a taken one.
pub fn refusal(response: &Gql) -> (String, String) {
    let code = response.code().unwrap_or_default().to_owned();
    let field = response.body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (code, field)
}

/// A `graphql-transport-ws` client over a real socket.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(url: &str, protocol: Option<&str>) -> Self {
        let mut request = url.into_client_request().expect("ws request");
        if let Some(protocol) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connect");
        Self { stream }
    }

    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("ws send");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("ws send");
    }

    /// The next JSON message, or a panic after `timeout`.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a message within 10 s")
                .expect("stream open")
                .expect("valid frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("json message");
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Waits for the server's close frame and returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a close within 10 s");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => {
                    return (u16::from(CloseCode::Status), String::new());
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("socket error before close: {error}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    }

    /// `connection_init` with `token`, expecting `connection_ack`.
    pub async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "token": token } }))
            .await;
        let ack = self.next_json().await;
        assert_eq!(ack["type"], "connection_ack", "got {ack}");
    }
}
