//! Seed 001's qualification signals still missing on leads (LinkedIn
//! profile, decision maker, booking potential, digital maturity, follow-up
//! stage) and the digital-presence signals of companies (Google Maps
//! listing, rating, review count, price level, weekend hours), as typed,
//! filterable columns.
//!
//! Each filterable column gets a tenant-first index, as the others have.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean_null, double_null, integer_null, text_null};

use crate::helpers::{PgEnum, create_enum, drop_enum, enum_column_null, exec, index};

/// How likely the lead is to book (seed 001 `bookingPotential`).
pub const BOOKING_POTENTIAL: PgEnum = PgEnum {
    name: "booking_potential",
    variants: &["low", "medium", "high"],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, index it) in the order they are added.
const INDEXED: &[(&str, &str)] = &[
    ("leads", "is_decision_maker"),
    ("leads", "booking_potential"),
    ("leads", "digital_maturity_score"),
    ("companies", "has_google_maps_listing"),
    ("companies", "google_rating"),
    ("companies", "google_review_count"),
    ("companies", "price_level"),
    ("companies", "has_weekend_hours"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        create_enum(manager, BOOKING_POTENTIAL).await?;
        let columns: Vec<(&str, ColumnDef)> = vec![
            ("leads", text_null("linkedin_url")),
            ("leads", boolean_null("is_decision_maker")),
            (
                "leads",
                enum_column_null(db, "leads", "booking_potential", BOOKING_POTENTIAL),
            ),
            (
                "leads",
                integer_null("digital_maturity_score")
                    .check(Expr::cust("digital_maturity_score BETWEEN 0 AND 100"))
                    .to_owned(),
            ),
            ("leads", text_null("follow_up_stage")),
            ("companies", boolean_null("has_google_maps_listing")),
            (
                "companies",
                double_null("google_rating")
                    .check(Expr::cust("google_rating BETWEEN 0 AND 5"))
                    .to_owned(),
            ),
            (
                "companies",
                integer_null("google_review_count")
                    .check(Expr::cust("google_review_count >= 0"))
                    .to_owned(),
            ),
            (
                "companies",
                integer_null("price_level")
                    .check(Expr::cust("price_level BETWEEN 1 AND 4"))
                    .to_owned(),
            ),
            ("companies", boolean_null("has_weekend_hours")),
        ];
        // SQLite adds one column per statement.
        for (table, mut column) in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for (table, column) in INDEXED {
            manager
                .create_index(index(table, &["tenant_id", column, "id"]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in INDEXED {
            exec(
                manager,
                &format!("DROP INDEX IF EXISTS {table}_tenant_id_{column}_id_idx"),
            )
            .await?;
        }
        for (table, column) in [
            ("leads", "linkedin_url"),
            ("leads", "is_decision_maker"),
            ("leads", "booking_potential"),
            ("leads", "digital_maturity_score"),
            ("leads", "follow_up_stage"),
            ("companies", "has_google_maps_listing"),
            ("companies", "google_rating"),
            ("companies", "google_review_count"),
            ("companies", "price_level"),
            ("companies", "has_weekend_hours"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        drop_enum(manager, BOOKING_POTENTIAL).await
    }
}
