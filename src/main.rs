//! The `promohub` binary: serve | worker | migrate | export-schema | seed-demo,
//! and render-worker, which the server starts itself.

// The schema's merged root types nest deeper than the default 128 when the
// optimiser lays out their futures (release builds only); as in lib.rs.
#![recursion_limit = "256"]

use std::path::PathBuf;

/// mimalloc: a page of leads allocates thousands of small strings and JSON
/// values, on which the system allocator spent much of the server's CPU
/// (bench/README.md, "Costs behind the code").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

use promohub::config::Config;
use promohub::state::AppState;
use promohub::{db, demo, graphql, server, telemetry};

#[derive(Parser)]
#[command(
    name = "promohub",
    version,
    about = "PromoHub: multi-tenant marketing platform API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default command).
    Serve,
    /// Run the background job workers alone (no HTTP server).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write the GraphQL schema (SDL) to a file.
    ExportSchema {
        /// Where to write it.
        #[arg(long, default_value = "schema.graphql")]
        path: PathBuf,
        /// Fail instead of writing when the file differs from the code.
        #[arg(long)]
        check: bool,
    },
    /// Create the demo tenant and owner.
    SeedDemo,
    /// Render templates for a server over stdin and stdout (the server
    /// starts these itself; see `messaging::templates::worker`).
    #[command(hide = true)]
    RenderWorker {
        /// The memory this worker may use, in bytes.
        #[arg(long)]
        memory_bytes: u64,
    },
}

/// `serve` settings; global so `promohub --port 9000` and
/// `promohub serve --port 9000` both work.
#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    host: String,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080, global = true)]
    port: u16,
    /// Do not apply migrations on start.
    #[arg(long, env = "PROMOHUB_NO_MIGRATE", global = true)]
    no_migrate: bool,
    /// Do not seed the demo tenant on an empty development database.
    #[arg(long, env = "PROMOHUB_NO_DEMO", global = true)]
    no_demo: bool,
}

/// Stack of each runtime thread.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::RenderWorker { memory_bytes }) = cli.command {
        // No runtime and no logging: a worker is one thread, and its stdout
        // is its answers alone.
        return promohub::run_render_worker(memory_bytes);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The schema's merged roots nest each resolver's future inside the
        // next root's: executing an operation needs more than the default
        // 2 MiB of a worker thread's stack (the same 8 MiB the tests run
        // with, `.cargo/config.toml`).
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    telemetry::init_logging(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, cli.serve).await,
        Command::Worker => {
            config.check_production_safety()?;
            if config.messaging.public_url.is_none() {
                tracing::warn!(
                    "PROMOHUB_PUBLIC_URL is not set: List-Unsubscribe links this worker sends \
                     point at {}",
                    config.public_url()
                );
            }
            let db = db::connect(&config).await?;
            let state = AppState::new(db, config);
            promohub::jobs::runner::start(state.shared.clone());
            tracing::info!("PromoHub workers running");
            shutdown_signal().await;
            state
                .shared
                .mailbox_watchers
                .stop_and_wait(std::time::Duration::from_secs(5))
                .await;
            Ok(())
        }
        Command::Migrate => {
            let db = db::connect(&config).await?;
            db::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::ExportSchema { path, check } => export_schema(&path, check),
        Command::SeedDemo => {
            let db = db::connect(&config).await?;
            db::migrate(&db).await?;
            let state = AppState::new(db, config);
            demo::seed(&state).await.map_err(|e| match e {
                promohub::error::AppError::Internal(inner) => inner,
                other => anyhow::anyhow!(other.public_message()),
            })?;
            println!(
                "{}",
                demo::credentials_banner(state.shared.config.public_url())
            );
            Ok(())
        }
        Command::RenderWorker { .. } => unreachable!("handled before the runtime starts"),
    }
}

async fn serve(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    config.check_production_safety()?;
    // A geo database that cannot be read stops the start, not every view.
    promohub::capture_check(&config)?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    config.settle_public_url(listener.local_addr()?);
    let db = db::connect(&config).await?;
    if !args.no_migrate {
        db::migrate(&db).await?;
    }
    let state = AppState::new(db, config);
    if !args.no_demo && !state.shared.config.is_production() {
        match demo::seed_if_empty(&state).await {
            Ok(_) if demo::is_present(&state).await => {
                let public_url = state.shared.config.public_url();
                tracing::info!("{}", demo::credentials_banner(public_url));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(?error, "could not seed the demo tenant"),
        }
    }
    tracing::info!(
        "PromoHub listening on http://{}  (GraphiQL at /graphql)",
        listener.local_addr()?
    );
    server::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

fn export_schema(path: &PathBuf, check: bool) -> anyhow::Result<()> {
    let sdl = graphql::sdl();
    if check {
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current != sdl {
            anyhow::bail!(
                "{} is out of date: run `cargo run -- export-schema` and commit it",
                path.display()
            );
        }
        println!("{} matches the code", path.display());
        return Ok(());
    }
    std::fs::write(path, sdl)?;
    println!("wrote {}", path.display());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
