//! Table-building blocks shared by every migration, so that each rule of
//! DOMAIN.md ("Rules that hold for every table") is written once:
//! tenant-owned tables keyed by `(tenant_id, id)` with a cascading foreign key
//! to `tenants`, enum columns checked by the database on both backends, and
//! `created_at` / `updated_at` defaults.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::sea_query::extension::postgres::Type;

/// A closed set of values, stored as a PostgreSQL enum type (so that
/// `sea-orm-cli generate entity` emits an `ActiveEnum`) and as text with a
/// `CHECK (col IN (...))` constraint on SQLite, which has no enum types.
#[derive(Debug, Clone, Copy)]
pub struct PgEnum {
    /// Type name on PostgreSQL, e.g. `member_role`.
    pub name: &'static str,
    /// The allowed values, in their stored (snake_case) spelling.
    pub variants: &'static [&'static str],
}

/// Creates the enum type on PostgreSQL; a no-op on SQLite.
pub async fn create_enum(manager: &SchemaManager<'_>, e: PgEnum) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .create_type(
            Type::create()
                .as_enum(e.name)
                .values(e.variants.iter().copied())
                .to_owned(),
        )
        .await
}

/// Drops the enum type on PostgreSQL (after the tables that use it); a no-op
/// on SQLite.
pub async fn drop_enum(manager: &SchemaManager<'_>, e: PgEnum) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .drop_type(Type::drop().if_exists().name(e.name).to_owned())
        .await
}

/// A `NOT NULL` column of enum type `e`. On SQLite the column carries a named
/// check constraint `<table>_<col>_check` listing the allowed values.
pub fn enum_column(backend: DbBackend, table: &str, col: impl IntoIden, e: PgEnum) -> ColumnDef {
    let mut def = enum_column_null(backend, table, col, e);
    def.not_null();
    def
}

/// A nullable column of enum type `e` (see [`enum_column`]).
pub fn enum_column_null(
    backend: DbBackend,
    table: &str,
    col: impl IntoIden,
    e: PgEnum,
) -> ColumnDef {
    let col = col.into_iden();
    let mut def = ColumnDef::new(col.clone());
    def.enumeration(e.name, e.variants.iter().copied()).null();
    if backend != DbBackend::Postgres {
        // NULL IN (...) is NULL, which a CHECK accepts: nullability is left to
        // the NOT NULL clause.
        def.check(Check::named(
            format!("{table}_{col}_check"),
            Expr::col(col).is_in(e.variants.iter().copied()),
        ));
    }
    def
}

/// The server-side "now" for timestamp defaults.
///
/// On SQLite a timestamp is text, compared as text. sqlx writes
/// `DateTime` values as RFC 3339 (`2026-01-02T03:04:05.678+00:00`) while
/// SQLite's `CURRENT_TIMESTAMP` is `2026-01-02 03:04:05`; mixing the two
/// would sort every defaulted row before every written one of the same day
/// (`' ' < 'T'`) and break range filters and keyset pagination. So on SQLite
/// the default produces the same RFC 3339 UTC shape.
pub fn now_default(backend: DbBackend) -> Expr {
    if backend == DbBackend::Sqlite {
        Expr::cust("(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '+00:00')")
    } else {
        Expr::current_timestamp()
    }
}

/// `created_at timestamptz NOT NULL DEFAULT now`.
pub fn created_at(backend: DbBackend) -> ColumnDef {
    timestamp_with_time_zone("created_at")
        .default(now_default(backend))
        .take()
}

/// `updated_at timestamptz NOT NULL DEFAULT now`; the application sets it on
/// every update.
pub fn updated_at(backend: DbBackend) -> ColumnDef {
    timestamp_with_time_zone("updated_at")
        .default(now_default(backend))
        .take()
}

/// The foreign key every tenant-owned table has:
/// `tenant_id -> tenants(id) ON DELETE CASCADE`, named `<table>_tenant_id_fkey`.
pub fn tenant_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_tenant_id_fkey"))
        .from_col("tenant_id")
        .to_tbl("tenants")
        .to_col("id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// Starts a tenant-owned table: `tenant_id uuid NOT NULL`, `id uuid NOT NULL`,
/// `PRIMARY KEY (tenant_id, id)` and [`tenant_fk`]. Add the other columns,
/// constraints and `created_at` to the returned statement; enable row-level
/// security afterwards with [`crate::enable_tenant_rls`].
///
/// Every other unique key and index on such a table must start with
/// `tenant_id` (DOMAIN.md), and a foreign key to another tenant-owned table
/// must be composite, `(tenant_id, x_id) -> xs (tenant_id, id)`.
pub fn tenant_owned_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(table.to_owned())
        .col(uuid("tenant_id"))
        .col(uuid("id"))
        .primary_key(
            Index::create()
                .name(format!("{table}_pkey"))
                .col("tenant_id")
                .col("id"),
        )
        .foreign_key(&mut tenant_fk(table))
        .to_owned()
}

/// A unique constraint named `<table>_<cols>_key` (PostgreSQL's own naming),
/// so the application can map a violation to a field.
pub fn unique_key(table: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("{table}_{}_key", cols.join("_"))).unique();
    for col in cols {
        idx.col(*col);
    }
    idx
}

/// A plain index named `<table>_<cols>_idx`.
pub fn index(table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("{table}_{}_idx", cols.join("_")))
        .table(table);
    for col in cols {
        idx.col(*col);
    }
    idx
}

/// `(tenant_id, <col>) -> <table> (tenant_id, id)`: the database refuses a
/// reference into another tenant.
pub fn tenant_ref(from: &str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{from}_tenant_id_{col}_fkey"))
        .from_col("tenant_id")
        .from_col(col)
        .to_tbl(to)
        .to_col("tenant_id")
        .to_col("id")
        .to_owned()
}

/// Runs one raw statement (partial indexes, extensions).
pub async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

/// `created_at`, `updated_at`, `created_by`, `updated_by`, `deleted_at`,
/// `deleted_by`: the audit and soft-deletion columns of user-facing records
/// (DOMAIN.md).
pub fn with_audit_columns(table: &mut TableCreateStatement, db: DbBackend) {
    table
        .col(created_at(db))
        .col(updated_at(db))
        .col(uuid_null("created_by"))
        .col(uuid_null("updated_by"))
        .col(timestamp_with_time_zone_null("deleted_at"))
        .col(uuid_null("deleted_by"));
}

/// SQLite: replaces `from` with `to` in the stored definition of `table`
/// (its enum column's `CHECK (… IN (…))`), inside the migration's
/// transaction.
pub async fn rewrite_check(
    db: &SchemaManagerConnection<'_>,
    table: &str,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    let sql_of = |table: &str| {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            [table.into()],
        )
    };
    let current: String = db
        .query_one_raw(sql_of(table))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("no table {table}")))?
        .try_get("", "sql")?;
    if current.matches(from).count() != 1 {
        return Err(DbErr::Migration(format!(
            "the CHECK constraint of {table} is not the expected one: {current}"
        )));
    }
    let version: i64 = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA schema_version",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no schema_version".into()))?
        .try_get_by_index(0)?;
    db.execute_unprepared("PRAGMA writable_schema = ON").await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
        [current.replacen(from, to, 1).into(), table.into()],
    ))
    .await?;
    db.execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
        .await?;
    db.execute_unprepared("PRAGMA writable_schema = OFF")
        .await?;
    Ok(())
}
