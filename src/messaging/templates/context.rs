//! The render context: the only names a template may use, built from
//! database rows. The field lists below are the single source of truth for
//! both sides: `build_context` fills exactly these keys, and
//! `render::check` accepts exactly these paths when a template is saved.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use entity::{companies, leads};
use sea_orm::ActiveEnum;

use crate::crm::companies::attributes::COMPANY_ATTRIBUTES;
use crate::crm::leads::attributes::LEAD_ATTRIBUTES;

/// Fields of `lead` besides its templated attributes (`leads::attributes`,
/// marked `template`); `custom` holds any sub-path.
const LEAD_COMPUTED_FIELDS: &[&str] = &["fullName", "status", "score", "tags", "custom"];

/// Every field of `lead` a template may use.
pub(crate) fn lead_fields() -> impl Iterator<Item = &'static str> {
    template_fields(LEAD_ATTRIBUTES, LEAD_COMPUTED_FIELDS)
}

/// Fields of `company` besides its templated attributes
/// (`companies::attributes`); `custom` holds any sub-path.
const COMPANY_OWN_FIELDS: &[&str] = &[
    "name", "website", "domain", "industry", "size", "city", "country", "custom",
];

/// Every field of `company` a template may use.
pub(crate) fn company_fields() -> impl Iterator<Item = &'static str> {
    template_fields(COMPANY_ATTRIBUTES, COMPANY_OWN_FIELDS)
}

/// The templated attributes' names, then the entity's `own` fields.
fn template_fields<M>(
    attributes: &'static [crate::attributes::Attribute<M>],
    own: &'static [&'static str],
) -> impl Iterator<Item = &'static str> {
    attributes
        .iter()
        .filter(|attribute| attribute.template)
        .map(|attribute| attribute.name)
        .chain(own.iter().copied())
}

pub(crate) const SENDER_FIELDS: &[&str] = &["name", "email"];
pub(crate) const TENANT_FIELDS: &[&str] = &["name"];

/// Top-level names the context always owns; a declared variable may not take one.
pub(crate) const RESERVED_NAMES: &[&str] = &[
    "lead",
    "company",
    "sender",
    "tenant",
    "vars",
    "unsubscribeUrl",
];

/// A variable a template declares, filled at send time (stored on the
/// template as JSON `[{"name": .., "default": ..}]`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct DeclaredVariable {
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
}

/// Everything one message's context is built from.
pub(crate) struct ContextInput<'a> {
    pub lead: &'a leads::Model,
    pub lead_tags: &'a [String],
    pub company: Option<&'a companies::Model>,
    pub sender_name: Option<&'a str>,
    pub sender_email: Option<&'a str>,
    pub tenant_name: &'a str,
    /// The tenant's custom variables: (key, default value).
    pub custom_variables: &'a [(String, String)],
    pub declared: &'a [DeclaredVariable],
    /// Send-time values for declared variables, by name.
    pub provided: &'a Map<String, Value>,
    pub unsubscribe_url: &'a str,
}

/// The JSON context a template renders against. Absent values are left out
/// rather than set to null, so templates see them as undefined: they print
/// empty and `default(...)` applies.
pub(crate) fn build_context(input: &ContextInput) -> Value {
    let lead_custom = custom_fields(&input.lead.custom_fields);
    let company_custom = input
        .company
        .map(|company| custom_fields(&company.custom_fields))
        .unwrap_or_default();

    let mut context = Map::new();
    // Declared variables first, so the namespaces below win should a name
    // ever collide (`check` rejects that when the template is saved).
    for variable in input.declared {
        let value = match input.provided.get(&variable.name) {
            Some(value) if !value.is_null() => Some(without_nulls(value)),
            _ => variable.default.clone().map(Value::String),
        };
        if let Some(value) = value {
            context.insert(variable.name.clone(), value);
        }
    }
    context.insert("lead".into(), lead(input, lead_custom.clone()));
    if let Some(company) = input.company {
        // No company at all stays undefined, so `{% if company %}` reads naturally.
        context.insert(
            "company".into(),
            company_value(company, company_custom.clone()),
        );
    }
    context.insert(
        "sender".into(),
        object([
            ("name", input.sender_name.map(Value::from)),
            ("email", input.sender_email.map(Value::from)),
        ]),
    );
    context.insert("tenant".into(), json!({ "name": input.tenant_name }));
    context.insert(
        "vars".into(),
        Value::Object(custom_variables(
            input.custom_variables,
            &lead_custom,
            &company_custom,
        )),
    );
    context.insert("unsubscribeUrl".into(), input.unsubscribe_url.into());
    Value::Object(context)
}

fn lead(input: &ContextInput, custom: Map<String, Value>) -> Value {
    let lead = input.lead;
    let mut fields = templated(LEAD_ATTRIBUTES, lead);
    let full_name = [present(&lead.first_name), present(&lead.last_name)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !full_name.is_empty() {
        fields.insert("fullName".into(), full_name.into());
    }
    // The database spelling (`follow_up_1`), not the Rust variant name.
    fields.insert("status".into(), lead.status.to_value().value.into());
    fields.insert("score".into(), lead.score.into());
    fields.insert("tags".into(), input.lead_tags.into());
    fields.insert("custom".into(), Value::Object(custom));
    Value::Object(fields)
}

fn company_value(company: &companies::Model, custom: Map<String, Value>) -> Value {
    let mut fields = templated(COMPANY_ATTRIBUTES, company);
    let own = object([
        ("name", Some(company.name.clone().into())),
        ("website", text(&company.website)),
        ("domain", text(&company.domain)),
        ("industry", text(&company.industry)),
        (
            "size",
            company.size.map(|size| size.to_value().value.into()),
        ),
        ("city", text(&company.city)),
        ("country", text(&company.country)),
        ("custom", Some(Value::Object(custom))),
    ]);
    if let Value::Object(own) = own {
        fields.extend(own);
    }
    Value::Object(fields)
}

/// The templated attributes of `model` that have a value.
fn templated<M: 'static>(
    attributes: &[crate::attributes::Attribute<M>],
    model: &M,
) -> Map<String, Value> {
    attributes
        .iter()
        .filter(|attribute| attribute.template)
        .filter_map(|attribute| {
            let value = (attribute.value)(model).to_json()?;
            Some((attribute.name.to_owned(), value))
        })
        .collect()
}

/// Each tenant variable takes the most specific value there is: the lead's
/// custom field of that key, then the company's, then the variable's default.
fn custom_variables(
    variables: &[(String, String)],
    lead_custom: &Map<String, Value>,
    company_custom: &Map<String, Value>,
) -> Map<String, Value> {
    variables
        .iter()
        .map(|(key, default)| {
            let value = lead_custom
                .get(key)
                .or_else(|| company_custom.get(key))
                .cloned()
                .unwrap_or_else(|| default.clone().into());
            (key.clone(), value)
        })
        .collect()
}

/// A row's custom fields without nulls; anything but an object counts as empty.
fn custom_fields(json: &Value) -> Map<String, Value> {
    match without_nulls(json) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Drops null members of objects at any depth (a null in a list stays, as
/// removing it would shift positions; the renderer treats it as undefined).
fn without_nulls(json: &Value) -> Value {
    match json {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key.clone(), without_nulls(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A text column as a context value: empty text counts as missing, so that
/// `default(...)` applies to it too.
fn text(column: &Option<String>) -> Option<Value> {
    present(column).map(Value::from)
}

fn present(column: &Option<String>) -> Option<&str> {
    column
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_owned(), value?)))
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use entity::sea_orm_active_enums::{
        BookingPotential, CompanySize, LeadStatus, VerificationStatus,
    };
    use uuid::Uuid;

    /// A lead with every templated field set.
    pub(crate) fn lead() -> leads::Model {
        let now = chrono::Utc::now().fixed_offset();
        leads::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: Some("ada@example.com".into()),
            phone: Some("+44 20 0000".into()),
            job_title: Some("Analyst".into()),
            country: Some("GB".into()),
            city: Some("London".into()),
            project_id: None,
            company_id: None,
            stage_id: None,
            source_id: None,
            owner_id: None,
            status: LeadStatus::FollowUp1,
            score: 42,
            quality_score: None,
            verification_status: VerificationStatus::Unverified,
            budget_cents: None,
            authority: None,
            need: None,
            timeline: None,
            linkedin_url: Some("https://www.linkedin.com/in/ada".into()),
            is_decision_maker: Some(true),
            booking_potential: Some(BookingPotential::High),
            digital_maturity_score: Some(80),
            follow_up_stage: Some("second call".into()),
            lifetime_value_cents: 0,
            currency: "EUR".into(),
            emails_sent: 0,
            emails_opened: 0,
            emails_clicked: 0,
            last_contacted_at: None,
            last_responded_at: None,
            custom_fields: json!({ "plan": "pro", "nickname": null }),
            enrichment: json!({}),
            search_text: String::new(),
            sort_name: String::new(),
            converted_at: None,
            opt_in_status: entity::sea_orm_active_enums::OptInStatus::None,
            opt_in_confirmed_at: None,
            time_zone: Some("Europe/Berlin".into()),
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
            deleted_at: None,
            deleted_by: None,
        }
    }

    /// A company with every templated field set.
    pub(crate) fn company() -> companies::Model {
        let now = chrono::Utc::now().fixed_offset();
        companies::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            name: "Analytical Engines".into(),
            website: Some("https://engines.example".into()),
            domain: Some("engines.example".into()),
            industry: Some("Computing".into()),
            size: Some(CompanySize::Small),
            phone: None,
            description: None,
            address_line1: None,
            address_line2: None,
            city: Some("London".into()),
            region: None,
            postal_code: None,
            country: Some("GB".into()),
            enrichment: json!({}),
            custom_fields: json!({ "segment": "b2b" }),
            has_google_maps_listing: Some(true),
            google_rating: Some(4.6),
            google_review_count: Some(128),
            price_level: Some(2),
            has_weekend_hours: Some(false),
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
            deleted_at: None,
            deleted_by: None,
        }
    }

    /// Builds a context with no variables and no send-time values.
    pub(crate) fn context_for(lead: &leads::Model, company: Option<&companies::Model>) -> Value {
        build_context(&ContextInput {
            lead,
            lead_tags: &["vip".into(), "beta".into()],
            company,
            sender_name: Some("Grace"),
            sender_email: Some("grace@promohub.example"),
            tenant_name: "Acme",
            custom_variables: &[],
            declared: &[],
            provided: &Map::new(),
            unsubscribe_url: "https://t.example/u/abc",
        })
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn sorted(fields: &[&'static str]) -> Vec<&'static str> {
        let mut fields = fields.to_vec();
        fields.sort_unstable();
        fields
    }

    #[test]
    fn a_full_row_fills_exactly_the_fields_templates_may_use() {
        let (lead, company) = (lead(), company());
        let context = context_for(&lead, Some(&company));

        let lead_fields: Vec<&str> = lead_fields().collect();
        assert_eq!(keys(&context["lead"]), sorted(&lead_fields));
        let company_fields: Vec<&str> = company_fields().collect();
        assert_eq!(keys(&context["company"]), sorted(&company_fields));
        assert_eq!(keys(&context["sender"]), sorted(SENDER_FIELDS));
        assert_eq!(keys(&context["tenant"]), sorted(TENANT_FIELDS));
    }

    #[test]
    fn enums_use_their_database_spelling_and_names_join() {
        let (lead, company) = (lead(), company());
        let context = context_for(&lead, Some(&company));

        assert_eq!(context["lead"]["status"], "follow_up_1");
        assert_eq!(context["company"]["size"], "small");
        assert_eq!(context["lead"]["fullName"], "Ada Lovelace");
    }

    #[test]
    fn missing_values_are_left_out_not_null() {
        let mut lead = lead();
        lead.first_name = None;
        lead.last_name = None;
        lead.email = None;

        let context = context_for(&lead, None);

        let fields = context["lead"].as_object().unwrap();
        assert!(!fields.contains_key("fullName"));
        assert!(!fields.contains_key("email"));
        assert!(
            !fields["custom"]
                .as_object()
                .unwrap()
                .contains_key("nickname")
        );
        assert!(context.get("company").is_none());
    }

    #[test]
    fn a_single_name_makes_the_full_name() {
        let mut lead = lead();
        lead.first_name = None;

        let context = context_for(&lead, None);

        assert_eq!(context["lead"]["fullName"], "Lovelace");
    }

    #[test]
    fn custom_variables_prefer_lead_then_company_then_default() {
        let (mut lead, mut company) = (lead(), company());
        lead.custom_fields = json!({ "a": "lead", "c": null });
        company.custom_fields = json!({ "a": "company", "b": "company" });
        let variables = [
            ("a".to_owned(), "default".to_owned()),
            ("b".to_owned(), "default".to_owned()),
            ("c".to_owned(), "default".to_owned()),
        ];

        let context = build_context(&ContextInput {
            lead: &lead,
            lead_tags: &[],
            company: Some(&company),
            sender_name: None,
            sender_email: None,
            tenant_name: "Acme",
            custom_variables: &variables,
            declared: &[],
            provided: &Map::new(),
            unsubscribe_url: "",
        });

        assert_eq!(
            context["vars"],
            json!({ "a": "lead", "b": "company", "c": "default" })
        );
    }

    #[test]
    fn declared_variables_take_the_provided_value_else_their_default() {
        let lead = lead();
        let declared = [
            DeclaredVariable {
                name: "offer".into(),
                default: Some("10%".into()),
            },
            DeclaredVariable {
                name: "deadline".into(),
                default: Some("Friday".into()),
            },
            DeclaredVariable {
                name: "coupon".into(),
                default: None,
            },
        ];
        let provided = json!({ "offer": "25%", "deadline": null });

        let context = build_context(&ContextInput {
            lead: &lead,
            lead_tags: &[],
            company: None,
            sender_name: None,
            sender_email: None,
            tenant_name: "Acme",
            custom_variables: &[],
            declared: &declared,
            provided: provided.as_object().unwrap(),
            unsubscribe_url: "",
        });

        assert_eq!(context["offer"], "25%");
        assert_eq!(context["deadline"], "Friday");
        assert!(context.get("coupon").is_none());
    }
}
