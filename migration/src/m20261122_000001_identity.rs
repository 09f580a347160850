//! Tenancy and identity (DOMAIN.md section 1): the global tables `plans`,
//! `tenants`, `users`, `user_logins`, and the tenant-owned `memberships`,
//! `api_keys`, `invites`, `refresh_tokens`, `settings`. Also inserts the
//! three plans with fixed ids.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, json_binary, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::sea_orm::prelude::Uuid;

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, index, tenant_owned_table, unique_key,
    updated_at,
};

pub const PLAN_TIER: PgEnum = PgEnum {
    name: "plan_tier",
    variants: &["basic", "pro", "enterprise"],
};
pub const MEMBER_ROLE: PgEnum = PgEnum {
    name: "member_role",
    variants: &["owner", "admin", "member", "viewer"],
};
pub const INVITE_STATUS: PgEnum = PgEnum {
    name: "invite_status",
    variants: &["pending", "accepted", "revoked", "expired"],
};

/// Children first, so that `down` never drops a referenced table.
const TABLES_DROP_ORDER: &[&str] = &[
    "settings",
    "refresh_tokens",
    "invites",
    "api_keys",
    "memberships",
    "user_logins",
    "users",
    "tenants",
    "plans",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for e in [PLAN_TIER, MEMBER_ROLE, INVITE_STATUS] {
            create_enum(manager, e).await?;
        }

        create_plans(manager).await?;
        seed_plans(manager).await?;
        create_tenants(manager).await?;
        create_users(manager).await?;
        create_user_logins(manager).await?;
        create_memberships(manager).await?;
        create_api_keys(manager).await?;
        create_invites(manager).await?;
        create_refresh_tokens(manager).await?;
        create_settings(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES_DROP_ORDER {
            manager
                .drop_table(Table::drop().table(*table).if_exists().to_owned())
                .await?;
        }
        for e in [INVITE_STATUS, MEMBER_ROLE, PLAN_TIER] {
            drop_enum(manager, e).await?;
        }
        Ok(())
    }
}

/// `CHECK` constraints can't share one expression: PostgreSQL has regular
/// expressions, SQLite only `GLOB`.
fn regex_check(db: DbBackend, name: &str, pg_regex_sql: &str, sqlite_sql: &str) -> Check {
    let sql = if db == DbBackend::Postgres {
        pg_regex_sql
    } else {
        sqlite_sql
    };
    Check::named(name.to_owned(), Expr::cust(sql.to_owned()))
}

async fn create_plans(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            Table::create()
                .table("plans")
                .col(uuid("id").primary_key())
                .col(enum_column(db, "plans", "tier", PLAN_TIER))
                .col(text("name"))
                .col(integer("max_leads"))
                .col(integer("max_emails_per_day"))
                .col(integer("max_users"))
                .col(big_integer("monthly_credits"))
                .col(big_integer("price_cents"))
                .col(text("currency"))
                .col(created_at(db))
                .col(updated_at(db))
                .index(&mut unique_key("plans", &["tier"]))
                .check(regex_check(
                    db,
                    "plans_currency_check",
                    "currency ~ '^[A-Z]{3}$'",
                    "currency GLOB '[A-Z][A-Z][A-Z]'",
                ))
                .to_owned(),
        )
        .await
}

/// One row of the plan catalogue.
struct PlanSeed {
    /// Last digit of the fixed id `00000000-0000-7000-8000-00000000000n`.
    n: u128,
    tier: &'static str,
    name: &'static str,
    max_leads: i32,
    max_emails_per_day: i32,
    max_users: i32,
    monthly_credits: i64,
    price_cents: i64,
}

const PLANS: [PlanSeed; 3] = [
    PlanSeed {
        n: 1,
        tier: "basic",
        name: "Basic",
        max_leads: 1_000,
        max_emails_per_day: 500,
        max_users: 3,
        monthly_credits: 1_000,
        price_cents: 4_900,
    },
    PlanSeed {
        n: 2,
        tier: "pro",
        name: "Pro",
        max_leads: 10_000,
        max_emails_per_day: 5_000,
        max_users: 10,
        monthly_credits: 10_000,
        price_cents: 19_900,
    },
    PlanSeed {
        n: 3,
        tier: "enterprise",
        name: "Enterprise",
        max_leads: 1_000_000,
        max_emails_per_day: 100_000,
        max_users: 100,
        monthly_credits: 100_000,
        price_cents: 99_900,
    },
];

/// The three plans, with fixed ids so that seeds, tests and other migrations
/// can refer to them. Prices in EUR cents.
async fn seed_plans(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let mut insert = Query::insert();
    insert.into_table("plans").columns([
        "id",
        "tier",
        "name",
        "max_leads",
        "max_emails_per_day",
        "max_users",
        "monthly_credits",
        "price_cents",
        "currency",
    ]);
    for p in PLANS {
        // A valid v7-shaped UUID: version 7, variant 8.
        let id = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000 | p.n);
        insert.values_panic([
            // A bound Uuid is stored the way sea-orm reads it back on each
            // backend (native uuid on PostgreSQL, a 16-byte blob on SQLite).
            Expr::val(id),
            // CAST to the enum type on PostgreSQL, a plain string on SQLite.
            Expr::val(p.tier).as_enum(PLAN_TIER.name),
            Expr::val(p.name),
            Expr::val(p.max_leads),
            Expr::val(p.max_emails_per_day),
            Expr::val(p.max_users),
            Expr::val(p.monthly_credits),
            Expr::val(p.price_cents),
            Expr::val("EUR"),
        ]);
    }
    manager.execute(insert).await
}

async fn create_tenants(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            Table::create()
                .table("tenants")
                .col(uuid("id").primary_key())
                .col(text("name"))
                .col(text("slug"))
                .col(uuid("plan_id"))
                .col(integer("max_leads"))
                .col(integer("max_emails_per_day"))
                .col(integer("max_users"))
                .col(json_binary("branding").default("{}"))
                .col(text_null("industry"))
                .col(text_null("business_type"))
                .col(json_binary("settings").default("{}"))
                .col(json_binary("features").default("[]"))
                .col(big_integer("credit_balance").default(0))
                .col(boolean("is_active").default(true))
                .col(created_at(db))
                .col(updated_at(db))
                .col(timestamp_with_time_zone_null("deleted_at"))
                .index(&mut unique_key("tenants", &["slug"]))
                .foreign_key(
                    ForeignKey::create()
                        .name("tenants_plan_id_fkey")
                        .from_col("plan_id")
                        .to_tbl("plans")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::Restrict),
                )
                // A DNS label: the slug is the white-label subdomain.
                .check(regex_check(
                    db,
                    "tenants_slug_check",
                    "slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'",
                    "length(slug) BETWEEN 1 AND 63 AND slug NOT GLOB '*[^a-z0-9-]*' \
                     AND slug NOT GLOB '-*' AND slug NOT GLOB '*-'",
                ))
                // The balance never goes below zero (DOMAIN.md, billing).
                .check(Check::named(
                    "tenants_credit_balance_check",
                    Expr::col("credit_balance").gte(0),
                ))
                .to_owned(),
        )
        .await
}

async fn create_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            Table::create()
                .table("users")
                .col(uuid("id").primary_key())
                .col(text("email"))
                .col(text("password_hash"))
                .col(text("name"))
                .col(text("locale").default("en"))
                .col(boolean("is_active").default(true))
                .col(timestamp_with_time_zone_null("last_login_at"))
                .col(created_at(db))
                .col(updated_at(db))
                .to_owned(),
        )
        .await?;
    // Case-insensitive uniqueness. sea-query can't build an expression index
    // for SQLite, but this statement is valid on both backends. Look users up
    // with `lower(email) = $1` so the index is used.
    manager
        .get_connection()
        .execute_unprepared("CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))")
        .await?;
    Ok(())
}

async fn create_user_logins(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            Table::create()
                .table("user_logins")
                .col(uuid("id").primary_key())
                .col(uuid_null("user_id"))
                .col(uuid_null("tenant_id"))
                .col(text("email"))
                .col(text_null("ip"))
                .col(text_null("user_agent"))
                .col(boolean("success"))
                .col(text_null("failure_reason"))
                .col(created_at(db))
                .foreign_key(
                    ForeignKey::create()
                        .name("user_logins_user_id_fkey")
                        .from_col("user_id")
                        .to_tbl("users")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("user_logins_tenant_id_fkey")
                        .from_col("tenant_id")
                        .to_tbl("tenants")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    // Rate limiting counts recent attempts per email.
    manager
        .create_index(index("user_logins", &["email", "created_at"]))
        .await
}

async fn create_memberships(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("memberships")
                .col(uuid("user_id"))
                .col(enum_column(db, "memberships", "role", MEMBER_ROLE))
                .col(boolean("is_primary").default(false))
                .col(json_binary("permissions").default("[]"))
                .col(created_at(db))
                .col(updated_at(db))
                .col(uuid_null("created_by"))
                .col(uuid_null("updated_by"))
                // Also the target of refresh_tokens' composite foreign key.
                .index(&mut unique_key("memberships", &["tenant_id", "user_id"]))
                .foreign_key(
                    ForeignKey::create()
                        .name("memberships_user_id_fkey")
                        .from_col("user_id")
                        .to_tbl("users")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    // The one index not led by tenant_id: signing in lists a user's
    // memberships across tenants (and deleting a user cascades by user_id).
    manager
        .create_index(index("memberships", &["user_id", "tenant_id"]))
        .await
}

async fn create_api_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("api_keys")
                .col(text("name"))
                // The first characters of the key, shown in the UI; the key
                // itself is never stored.
                .col(text("prefix"))
                .col(text("key_hash"))
                .col(json_binary("scopes").default("[]"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(uuid_null("created_by"))
                .col(created_at(db))
                .index(&mut unique_key("api_keys", &["tenant_id", "key_hash"]))
                .foreign_key(
                    ForeignKey::create()
                        .name("api_keys_created_by_fkey")
                        .from_col("created_by")
                        .to_tbl("users")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await
}

async fn create_invites(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("invites")
                .col(text("email"))
                .col(enum_column(db, "invites", "role", MEMBER_ROLE))
                .col(text("token_hash"))
                .col(uuid_null("invited_by"))
                .col(enum_column(db, "invites", "status", INVITE_STATUS).default("pending"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("accepted_at"))
                .col(uuid_null("accepted_by"))
                .col(created_at(db))
                .col(updated_at(db))
                .index(&mut unique_key("invites", &["tenant_id", "token_hash"]))
                .foreign_key(
                    ForeignKey::create()
                        .name("invites_invited_by_fkey")
                        .from_col("invited_by")
                        .to_tbl("users")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("invites_accepted_by_fkey")
                        .from_col("accepted_by")
                        .to_tbl("users")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index("invites", &["tenant_id", "email"]))
        .await
}

async fn create_refresh_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("refresh_tokens")
                .col(uuid("user_id"))
                // All tokens rotated from one sign-in share a family; reuse of
                // a rotated token revokes the whole family.
                .col(uuid("family_id"))
                .col(text("token_hash"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(uuid_null("replaced_by"))
                .col(text_null("ip"))
                .col(text_null("user_agent"))
                .col(created_at(db))
                .index(&mut unique_key(
                    "refresh_tokens",
                    &["tenant_id", "token_hash"],
                ))
                // Composite, to the membership: removing a member (or the
                // user) deletes their sessions in that tenant.
                .foreign_key(
                    ForeignKey::create()
                        .name("refresh_tokens_tenant_id_user_id_fkey")
                        .from_col("tenant_id")
                        .from_col("user_id")
                        .to_tbl("memberships")
                        .to_col("tenant_id")
                        .to_col("user_id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index("refresh_tokens", &["tenant_id", "family_id"]))
        .await?;
    // Serves the cascade from memberships and "sign out everywhere".
    manager
        .create_index(index("refresh_tokens", &["tenant_id", "user_id"]))
        .await
}

async fn create_settings(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("settings")
                .col(text("key"))
                .col(json_binary("value"))
                .col(created_at(db))
                .col(updated_at(db))
                .col(uuid_null("updated_by"))
                .index(&mut unique_key("settings", &["tenant_id", "key"]))
                .to_owned(),
        )
        .await
}
