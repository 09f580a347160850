#!/usr/bin/env bash
# Regenerates the sea-orm entities (entity/src) from the migrations.
#
# The entities are generated, never edited: this script migrates a scratch
# PostgreSQL database with the `migration` crate, runs `sea-orm-cli generate
# entity` on it and formats the result the way `cargo fmt` would.
# scripts/check-entities.sh fails CI when entity/src differs from this output.
#
# Usage: scripts/generate-entities.sh [OUT_DIR]     (default: entity/src)
# Env:   ENTITY_DATABASE_ADMIN_URL  a database to connect to for CREATE/DROP
#        DATABASE (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail

SEA_ORM_CLI_VERSION=2.0.4

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${1:-$root/entity/src}"
admin_url="${ENTITY_DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

log() { echo "generate-entities: $*" >&2; }

# PostgreSQL: start the local cluster if it is not up (development machines
# and CI run it locally; nothing here starts a remote one).
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 && break
        sleep 1
    done
fi

# The generator's output depends on its version, so pin it exactly.
if ! command -v sea-orm-cli >/dev/null \
    || [ "$(sea-orm-cli --version)" != "sea-orm-cli $SEA_ORM_CLI_VERSION" ]; then
    log "installing sea-orm-cli $SEA_ORM_CLI_VERSION (takes a few minutes)"
    cargo install sea-orm-cli --version "$SEA_ORM_CLI_VERSION" --locked
fi

# Scratch database: <admin url with its database name replaced>.
db_name="promohub_entities_$$"
admin_base="${admin_url%%\?*}"
query=""
if [ "$admin_base" != "$admin_url" ]; then query="?${admin_url#*\?}"; fi
db_url="${admin_base%/*}/${db_name}${query}"

work_dir="$(mktemp -d)"
cleanup() {
    psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$db_name\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work_dir"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE \"$db_name\"" >/dev/null

log "migrating scratch database $db_name"
(cd "$root" && cargo run -q -p migration -- up -u "$db_url") >"$work_dir/migrate.log" 2>&1 \
    || { cat "$work_dir/migrate.log" >&2; exit 1; }

log "generating entities"
# No --database-schema: with one, every entity gets `schema_name = "public"`
# and its queries name `"public"."table"`, which SQLite rejects. Without it
# PostgreSQL's search_path (public) applies. Unset DATABASE_SCHEMA, which
# sea-orm-cli would read as that option.
env -u DATABASE_SCHEMA sea-orm-cli generate entity \
    --database-url "$db_url" \
    --ignore-tables seaql_migrations \
    --output-dir "$work_dir/src" \
    --lib \
    --with-serde both \
    --with-copy-enums \
    --date-time-crate chrono \
    >"$work_dir/generate.log" 2>&1 \
    || { cat "$work_dir/generate.log" >&2; exit 1; }

# Format as `cargo fmt` does for this workspace: its edition, and its
# rustfmt.toml if it has one (rustfmt would not find it from the scratch dir).
edition="$(sed -n 's/^edition *= *"\([0-9]*\)".*/\1/p' "$root/Cargo.toml" | head -n1)"
fmt_args=(--edition "${edition:-2024}")
for cfg in rustfmt.toml .rustfmt.toml; do
    if [ -f "$root/$cfg" ]; then fmt_args+=(--config-path "$root/$cfg"); break; fi
done
rustfmt "${fmt_args[@]}" "$work_dir"/src/*.rs

# sea-orm-codegen takes any table with exactly two relations and a two-column
# primary key for a many-to-many junction table, and then routes `Related`
# through it, dropping the direct impl. Every tenant-owned table has a
# two-column key (tenant_id, id), so it guessed wrong: e.g.
# `Related<tenants> for memberships` went via refresh_tokens and
# `Related<tenants> for users` via api_keys. Our real junction tables (if
# any) have three-column keys and are never detected, so drop every `via`
# impl and restore the direct one when exactly one relation leads there.
python3 - "$work_dir/src" <<'PY'
import pathlib, re, sys

impl_re = re.compile(
    r"^impl Related<super::(\w+)::Entity> for Entity \{\n.*?^\}\n\n?", re.M | re.S
)
variant_re = re.compile(
    r'#\[sea_orm\(\s*(?:belongs_to|has_many|has_one)\s*=\s*"super::(\w+)::Entity".*?\)\]\s*(\w+),',
    re.S,
)
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.rs")):
    src = path.read_text()
    dropped = [m for m in impl_re.finditer(src) if "fn via()" in m.group(0)]
    if not dropped:
        continue
    enum = re.search(r"^pub enum Relation \{\n.*?^\}\n", src, re.M | re.S).group(0)
    variants = {}
    for target, variant in variant_re.findall(enum):
        variants.setdefault(target, []).append(variant)
    restored = ""
    for m in dropped:
        target = m.group(1)
        if len(variants.get(target, [])) == 1:
            restored += (
                f"impl Related<super::{target}::Entity> for Entity {{\n"
                f"    fn to() -> RelationDef {{\n"
                f"        Relation::{variants[target][0]}.def()\n"
                f"    }}\n"
                f"}}\n\n"
            )
    for m in reversed(dropped):
        src = src[: m.start()] + src[m.end() :]
    marker = "impl ActiveModelBehavior for ActiveModel {}"
    src = src.replace(marker, restored + marker)
    path.write_text(src)
PY
rustfmt "${fmt_args[@]}" "$work_dir"/src/*.rs

# Replace the generated files (and drop ones for tables that no longer exist).
mkdir -p "$out_dir"
find "$out_dir" -maxdepth 1 -type f -name '*.rs' -delete
cp "$work_dir"/src/*.rs "$out_dir"/
log "wrote $(ls "$work_dir"/src/*.rs | wc -l) files to $out_dir"
