//! `cargo run -p migration -- up -u <database url>`: the sea-orm-migration
//! CLI (`up`, `down`, `fresh`, `refresh`, `reset`, `status`) for PromoHub.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migration::Migrator).await;
}
