//! Attributes: the plain value columns of an entity (a lead's name, phone,
//! digital maturity…), each declared once with [`attributes!`] and a kind.
//!
//! The declaration gives the field of the GraphQL type, its create and
//! update inputs (validated, the failing field named), its filter (for the
//! ones marked filterable), its template variable and scoring criterion (for
//! the ones so marked), and how a merge fills it. The kind ([`AttributeKind`])
//! says how each of those works for a type of value; a field whose kind
//! lacks a piece does not compile. Relations, computed and counted columns
//! are written by hand beside the declaration.

use std::marker::PhantomData;

use async_graphql::{EnumType, InputType, MaybeUndefined, OutputType};
use sea_orm::ActiveEnum;
use sea_orm::sea_query::{Condition, Expr};

use crate::domain::{EmailAddress, optional_text};
use crate::error::{AppError, AppResult};
use crate::graphql::filters::{
    BooleanFilter, ColumnFilter, EnumFilter, FloatFilter, IntFilter, StringFilter,
};

/// An attribute's value as templates and scoring rules see it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AttributeValue {
    Missing,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl AttributeValue {
    /// The template variable: absent values are left out.
    pub(crate) fn to_json(&self) -> Option<serde_json::Value> {
        match self {
            Self::Missing => None,
            Self::Text(text) => Some(text.clone().into()),
            Self::Int(n) => Some((*n).into()),
            Self::Float(x) => serde_json::Number::from_f64(*x).map(Into::into),
            Self::Bool(b) => Some((*b).into()),
        }
    }
}

/// The kind of value a scoring rule compares an attribute with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ScoreKind {
    Text,
    Number,
    Bool,
    /// One of these lowercase spellings.
    Choice(fn() -> Vec<String>),
}

/// How one type of attribute value is shown, taken in, filtered, templated,
/// scored and merged.
pub(crate) trait AttributeKind {
    /// The entity model's field.
    type Stored: Send + Sync;
    /// The GraphQL field.
    type Output: OutputType;
    /// The field of the create input (absent: the column's default).
    type Create: InputType + Clone + Default;
    /// The field of the update input (absent: unchanged).
    type Update: InputType + Clone + Default;
    /// The filter input of filterable attributes.
    type Filter: InputType + Clone + Default;
    /// What a scoring rule compares it as.
    const SCORE: ScoreKind;

    fn output(stored: &Self::Stored) -> Self::Output;
    fn create(input: Self::Create, field: &str) -> AppResult<Self::Stored>;
    /// `Some(value)` when the input sets it (to a value or to none).
    fn update(input: Self::Update, field: &str) -> AppResult<Option<Self::Stored>>;
    /// A create input's value as an update (upserts: absent stays absent).
    fn create_as_update(input: Self::Create) -> Self::Update;
    fn condition(filter: &Self::Filter, column: Expr, field: &str) -> AppResult<Condition>;
    fn value(stored: &Self::Stored) -> AttributeValue;
    /// A merge keeps `into`'s value and fills it from `from` when empty.
    fn fill_empty(into: &mut Self::Stored, from: &Self::Stored);
}

/// Fills an optional column from another when it has none.
fn fill<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if into.is_none() {
        into.clone_from(from);
    }
}

/// An optional value set, cleared (`null`) or left alone (absent).
fn updated<T, S>(
    input: MaybeUndefined<T>,
    parse: impl FnOnce(T) -> AppResult<Option<S>>,
) -> AppResult<Option<Option<S>>> {
    Ok(match input {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(parse(value)?),
    })
}

fn as_update<T>(input: Option<T>) -> MaybeUndefined<T> {
    input.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value)
}

/// What an optional attribute holds and how its input is checked (and
/// normalised); [`Optional`] makes the kind of it.
pub(crate) trait Rule {
    /// The value, in the API and in the column alike.
    type Value: InputType + OutputType + Clone + Send + Sync;
    type Filter: ColumnFilter + InputType + Clone + Default;
    const SCORE: ScoreKind;

    /// The value as stored; `None` for input that means none (blank text).
    fn check(value: Self::Value, field: &str) -> AppResult<Option<Self::Value>>;
    fn value(value: &Self::Value) -> AttributeValue;
}

/// An attribute that may be empty: absent on create is none, `null` on
/// update clears it, a merge fills it from a duplicate when empty.
pub(crate) struct Optional<R>(PhantomData<R>);

impl<R: Rule> AttributeKind for Optional<R> {
    type Stored = Option<R::Value>;
    type Output = Option<R::Value>;
    type Create = Option<R::Value>;
    type Update = MaybeUndefined<R::Value>;
    type Filter = R::Filter;
    const SCORE: ScoreKind = R::SCORE;

    fn output(stored: &Self::Stored) -> Self::Output {
        stored.clone()
    }
    fn create(input: Self::Create, field: &str) -> AppResult<Self::Stored> {
        input.map_or(Ok(None), |value| R::check(value, field))
    }
    fn update(input: Self::Update, field: &str) -> AppResult<Option<Self::Stored>> {
        updated(input, |value| R::check(value, field))
    }
    fn create_as_update(input: Self::Create) -> Self::Update {
        as_update(input)
    }
    fn condition(filter: &Self::Filter, column: Expr, field: &str) -> AppResult<Condition> {
        filter.condition(column, field)
    }
    fn value(stored: &Self::Stored) -> AttributeValue {
        stored.as_ref().map_or(AttributeValue::Missing, R::value)
    }
    fn fill_empty(into: &mut Self::Stored, from: &Self::Stored) {
        fill(into, from);
    }
}

/// How a text attribute's input is checked and normalised.
pub(crate) trait TextCheck {
    /// The text as stored; `None` for blank input.
    fn check(value: String, field: &str) -> AppResult<Option<String>>;
}

/// Text that `C` checks: filtered ignoring case, compared as text by
/// scoring rules, blank counting as none.
pub(crate) struct Textual<C>(PhantomData<C>);

impl<C: TextCheck> Rule for Textual<C> {
    type Value = String;
    type Filter = StringFilter;
    const SCORE: ScoreKind = ScoreKind::Text;
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        C::check(value, field)
    }
    fn value(value: &String) -> AttributeValue {
        match value.trim() {
            "" => AttributeValue::Missing,
            text => AttributeValue::Text(text.to_owned()),
        }
    }
}

/// Longest free text (names, job titles, cities, BANT answers).
pub(crate) const MAX_TEXT: usize = 200;

/// Free text of at most [`MAX_TEXT`] characters.
pub(crate) struct Plain;
impl TextCheck for Plain {
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        optional_text(Some(value), field, MAX_TEXT)
    }
}

/// An email address, stored lowercase.
pub(crate) struct EmailRule;
impl TextCheck for EmailRule {
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        match optional_text(Some(value), field, 254)? {
            Some(raw) => Ok(Some(EmailAddress::parse(&raw, field)?.into_inner())),
            None => Ok(None),
        }
    }
}

/// A phone number: digits and `+-(). `, at least four digits.
pub(crate) struct PhoneRule;
impl TextCheck for PhoneRule {
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        let phone = optional_text(Some(value), field, 40)?;
        if let Some(p) = &phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            let allowed = p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
            if !allowed || digits < 4 {
                return Err(AppError::invalid(field, "is not a phone number"));
            }
        }
        Ok(phone)
    }
}

/// ISO 3166 alpha-2, stored uppercase.
pub(crate) struct CountryRule;
impl TextCheck for CountryRule {
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        match optional_text(Some(value), field, 10)? {
            Some(code) => Ok(Some(
                crate::crm::companies::CountryCode::parse(&code, field)?.into_inner(),
            )),
            None => Ok(None),
        }
    }
}

/// An IANA time zone (`Europe/Berlin`), stored as the database of zones
/// spells it.
pub(crate) struct TimeZoneRule;
impl TextCheck for TimeZoneRule {
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        let Some(name) = optional_text(Some(value), field, 64)? else {
            return Ok(None);
        };
        match name.parse::<chrono_tz::Tz>() {
            Ok(zone) => Ok(Some(zone.name().to_owned())),
            Err(_) => Err(AppError::invalid(
                field,
                format!("{name:?} is not an IANA time zone (e.g. Europe/Berlin)"),
            )),
        }
    }
}

/// An http(s) URL of at most 500 characters (a profile page).
pub(crate) struct UrlRule;
impl TextCheck for UrlRule {
    fn check(value: String, field: &str) -> AppResult<Option<String>> {
        let Some(url) = optional_text(Some(value), field, 500)? else {
            return Ok(None);
        };
        let web = reqwest::Url::parse(&url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !web {
            return Err(AppError::invalid(field, "must be an http or https URL"));
        }
        Ok(Some(url))
    }
}

/// A whole number in `MIN..=MAX`.
pub(crate) struct IntIn<const MIN: i32, const MAX: i32>;
impl<const MIN: i32, const MAX: i32> Rule for IntIn<MIN, MAX> {
    type Value = i32;
    type Filter = IntFilter;
    const SCORE: ScoreKind = ScoreKind::Number;
    fn check(value: i32, field: &str) -> AppResult<Option<i32>> {
        if (MIN..=MAX).contains(&value) {
            Ok(Some(value))
        } else if MAX == i32::MAX {
            Err(AppError::invalid(field, format!("must be at least {MIN}")))
        } else {
            Err(AppError::invalid(
                field,
                format!("must be between {MIN} and {MAX}"),
            ))
        }
    }
    fn value(value: &i32) -> AttributeValue {
        AttributeValue::Int((*value).into())
    }
}

/// Yes or no.
pub(crate) struct YesNo;
impl Rule for YesNo {
    type Value = bool;
    type Filter = BooleanFilter;
    const SCORE: ScoreKind = ScoreKind::Bool;
    fn check(value: bool, _field: &str) -> AppResult<Option<bool>> {
        Ok(Some(value))
    }
    fn value(value: &bool) -> AttributeValue {
        AttributeValue::Bool(*value)
    }
}

/// A star rating from 0 to 5, kept to two decimals.
pub(crate) struct Stars;
impl Rule for Stars {
    type Value = f64;
    type Filter = FloatFilter;
    const SCORE: ScoreKind = ScoreKind::Number;
    fn check(value: f64, field: &str) -> AppResult<Option<f64>> {
        if !(0.0..=5.0).contains(&value) {
            return Err(AppError::invalid(field, "must be between 0 and 5"));
        }
        Ok(Some((value * 100.0).round() / 100.0))
    }
    fn value(value: &f64) -> AttributeValue {
        AttributeValue::Float(*value)
    }
}

pub(crate) type Text = Optional<Textual<Plain>>;
pub(crate) type Email = Optional<Textual<EmailRule>>;
pub(crate) type Phone = Optional<Textual<PhoneRule>>;
pub(crate) type Country = Optional<Textual<CountryRule>>;
pub(crate) type Url = Optional<Textual<UrlRule>>;
pub(crate) type TimeZone = Optional<Textual<TimeZoneRule>>;
/// A whole number in `MIN..=MAX`, or none.
pub(crate) type Between<const MIN: i32, const MAX: i32> = Optional<IntIn<MIN, MAX>>;
pub(crate) type Percent = Between<0, 100>;
pub(crate) type Count = Between<0, { i32::MAX }>;
/// Yes, no, or not known.
pub(crate) type Flag = Optional<YesNo>;
pub(crate) type Rating = Optional<Stars>;

/// The lowercase spellings of a GraphQL enum's values, which are also the
/// database's (`FOLLOW_UP_1` is stored `follow_up_1`).
pub(crate) fn spellings<G: EnumType>() -> Vec<String> {
    G::items()
        .iter()
        .map(|item| item.name.to_lowercase())
        .collect()
}

/// An optional choice: the API's enum `G` over the column's enum `M`.
pub(crate) struct Choice<G, M>(PhantomData<(G, M)>);

impl<G, M> AttributeKind for Choice<G, M>
where
    G: EnumType + InputType + OutputType + Copy + PartialEq + From<M> + Into<M> + Send + Sync,
    M: ActiveEnum + Copy + Send + Sync + Into<sea_orm::Value>,
    EnumFilter<G>: InputType,
{
    type Stored = Option<M>;
    type Output = Option<G>;
    type Create = Option<G>;
    type Update = MaybeUndefined<G>;
    type Filter = EnumFilter<G>;
    const SCORE: ScoreKind = ScoreKind::Choice(spellings::<G>);

    fn output(stored: &Self::Stored) -> Self::Output {
        stored.map(G::from)
    }
    fn create(input: Self::Create, _field: &str) -> AppResult<Self::Stored> {
        Ok(input.map(Into::into))
    }
    fn update(input: Self::Update, _field: &str) -> AppResult<Option<Self::Stored>> {
        updated(input, |value| Ok(Some(value.into())))
    }
    fn create_as_update(input: Self::Create) -> Self::Update {
        as_update(input)
    }
    fn condition(filter: &Self::Filter, column: Expr, field: &str) -> AppResult<Condition> {
        filter.condition(column, field, |v: G| -> M { v.into() })
    }
    fn value(stored: &Self::Stored) -> AttributeValue {
        stored.map_or(AttributeValue::Missing, |m| spelled(G::from(m)))
    }
    fn fill_empty(into: &mut Self::Stored, from: &Self::Stored) {
        fill(into, from);
    }
}

/// A choice every row has: absent on create means `G::default()`, and it
/// cannot be cleared.
pub(crate) struct RequiredChoice<G, M>(PhantomData<(G, M)>);

impl<G, M> AttributeKind for RequiredChoice<G, M>
where
    G: EnumType
        + InputType
        + OutputType
        + Copy
        + PartialEq
        + Default
        + From<M>
        + Into<M>
        + Send
        + Sync,
    M: ActiveEnum + Copy + Send + Sync + Into<sea_orm::Value>,
    EnumFilter<G>: InputType,
{
    type Stored = M;
    type Output = G;
    type Create = Option<G>;
    type Update = Option<G>;
    type Filter = EnumFilter<G>;
    const SCORE: ScoreKind = ScoreKind::Choice(spellings::<G>);

    fn output(stored: &Self::Stored) -> Self::Output {
        G::from(*stored)
    }
    fn create(input: Self::Create, _field: &str) -> AppResult<Self::Stored> {
        Ok(input.unwrap_or_default().into())
    }
    fn update(input: Self::Update, _field: &str) -> AppResult<Option<Self::Stored>> {
        Ok(input.map(Into::into))
    }
    fn create_as_update(input: Self::Create) -> Self::Update {
        input
    }
    fn condition(filter: &Self::Filter, column: Expr, field: &str) -> AppResult<Condition> {
        filter.condition(column, field, |v: G| -> M { v.into() })
    }
    fn value(stored: &Self::Stored) -> AttributeValue {
        spelled(G::from(*stored))
    }
    fn fill_empty(_into: &mut Self::Stored, _from: &Self::Stored) {}
}

/// The spelling of an enum value, which is the database's too
/// (`follow_up_1`, not `FollowUp1`): see [`spellings`].
pub(crate) fn spelling<G: EnumType + PartialEq>(value: G) -> String {
    G::items()
        .iter()
        .find(|item| item.value == value)
        .map(|item| item.name.to_lowercase())
        .unwrap_or_default()
}

fn spelled<G: EnumType + PartialEq>(value: G) -> AttributeValue {
    AttributeValue::Text(spelling(value))
}

/// One declared attribute, for the code that looks attributes up by name
/// (template variables, scoring criteria).
pub(crate) struct Attribute<M: 'static> {
    /// The GraphQL field name, which templates and scoring rules use too.
    pub name: &'static str,
    pub value: fn(&M) -> AttributeValue,
    /// A template variable (`{{ lead.<name> }}`).
    pub template: bool,
    /// A scoring criterion, compared as this kind.
    pub score: Option<ScoreKind>,
    /// What kind of value it is (text, number, flag, choice), for the code
    /// that reads it from text (CSV imports).
    pub kind: ScoreKind,
}

/// Declares an entity's attributes; see the module documentation. Each
/// field is `name: Column = "graphqlName", Kind, [filter template score]`
/// with its doc comment, the three flags `true` or `false`. `entity` is the
/// entity's module (in scope where the macro is used).
///
/// Generates, for the names given: the GraphQL object of the attributes
/// (merged into the entity's type), the create and update inputs (flattened
/// into the entity's), the filter input of the filterable ones (flattened
/// into the entity's filter), the lookup table, and `fill_empty`.
#[macro_export]
macro_rules! attributes {
    (
        model: $model:ty,
        entity: $entity:ident,
        object: $object:ident,
        create: $create:ident,
        update: $update:ident,
        filter: $filter:ident,
        table: $table:ident,
        fields {
            $(
                $(#[$meta:meta])*
                $field:ident: $col:ident = $gql:literal, $kind:ty,
                    [$filterable:tt $template:tt $score:tt];
            )*
        }
    ) => {
        /// The entity's declared attributes (merged into its GraphQL type).
        pub(crate) struct $object(pub std::sync::Arc<$model>);

        #[async_graphql::Object]
        impl $object {
            $(
                $(#[$meta])*
                async fn $field(&self) -> <$kind as $crate::attributes::AttributeKind>::Output {
                    <$kind as $crate::attributes::AttributeKind>::output(&self.0.$field)
                }
            )*
        }

        /// The declared attributes of a new row (absent: the column's default).
        #[derive(async_graphql::InputObject, Clone, Default)]
        pub(crate) struct $create {
            $(
                $(#[$meta])*
                pub $field: <$kind as $crate::attributes::AttributeKind>::Create,
            )*
        }

        /// Changes to the declared attributes: absent fields stay, `null`
        /// clears where the attribute may be empty.
        #[derive(async_graphql::InputObject, Clone, Default)]
        pub(crate) struct $update {
            $(
                $(#[$meta])*
                pub $field: <$kind as $crate::attributes::AttributeKind>::Update,
            )*
        }

        impl $create {
            /// Sets every attribute of a new row from the input; `prefix`
            /// names the input in errors.
            pub(crate) fn apply(
                self,
                row: &mut $entity::ActiveModel,
                prefix: &str,
            ) -> $crate::error::AppResult<()> {
                $(
                    row.$field = sea_orm::ActiveValue::Set(
                        <$kind as $crate::attributes::AttributeKind>::create(
                            self.$field,
                            &format!("{prefix}.{}", $gql),
                        )?,
                    );
                )*
                Ok(())
            }

            /// The same values as an update: given ones set, absent ones kept.
            // Generated for every entity; not every entity uses every piece.
            #[allow(dead_code)]
            pub(crate) fn into_update(self) -> $update {
                $update {
                    $(
                        $field: <$kind as $crate::attributes::AttributeKind>::create_as_update(
                            self.$field,
                        ),
                    )*
                }
            }
        }

        impl $update {
            /// Applies the given attributes to `model`; pushes the GraphQL
            /// name of each given one onto `changed`.
            #[allow(dead_code)]
            pub(crate) fn apply(
                self,
                model: &mut $model,
                prefix: &str,
                changed: &mut Vec<&'static str>,
            ) -> $crate::error::AppResult<()> {
                $(
                    if let Some(value) = <$kind as $crate::attributes::AttributeKind>::update(
                        self.$field,
                        &format!("{prefix}.{}", $gql),
                    )? {
                        model.$field = value;
                        changed.push($gql);
                    }
                )*
                Ok(())
            }

            /// Applies the given attributes to a row being updated.
            #[allow(dead_code)]
            pub(crate) fn apply_to_row(
                self,
                row: &mut $entity::ActiveModel,
                prefix: &str,
            ) -> $crate::error::AppResult<()> {
                $(
                    if let Some(value) = <$kind as $crate::attributes::AttributeKind>::update(
                        self.$field,
                        &format!("{prefix}.{}", $gql),
                    )? {
                        row.$field = sea_orm::ActiveValue::Set(value);
                    }
                )*
                Ok(())
            }
        }

        /// Every declared attribute, by its GraphQL name.
        pub(crate) static $table: &[$crate::attributes::Attribute<$model>] = &[
            $(
                $crate::attributes::Attribute {
                    name: $gql,
                    value: |model| {
                        <$kind as $crate::attributes::AttributeKind>::value(&model.$field)
                    },
                    template: $template,
                    score: if $score {
                        Some(<$kind as $crate::attributes::AttributeKind>::SCORE)
                    } else {
                        None
                    },
                    kind: <$kind as $crate::attributes::AttributeKind>::SCORE,
                },
            )*
        ];

        /// Fills `into`'s empty attributes from `from` (merging duplicates).
        #[allow(dead_code)]
        pub(crate) fn fill_empty(into: &mut $model, from: &$model) {
            $(
                <$kind as $crate::attributes::AttributeKind>::fill_empty(
                    &mut into.$field,
                    &from.$field,
                );
            )*
        }

        $crate::attribute_filter!($filter, [];
            $( ($field [$kind] $filterable) )*
        );

        impl $filter {
            /// All given conditions; `path` names the filter in errors.
            pub(crate) fn condition(
                &self,
                path: &str,
            ) -> $crate::error::AppResult<sea_orm::sea_query::Condition> {
                let mut all = sea_orm::sea_query::Condition::all();
                $(
                    $crate::attribute_condition!(
                        $filterable; self, all, path; $entity, $field, $col, $gql, $kind
                    );
                )*
                Ok(all)
            }
        }
    };
}

/// The filter input of an entity's filterable attributes and the condition
/// it compiles to (a helper of [`attributes!`]: it walks the fields and
/// keeps those marked filterable).
#[macro_export]
macro_rules! attribute_filter {
    ($filter:ident, [$($fields:tt)*];) => {
        /// Conditions on the filterable attributes (flattened into the
        /// entity's filter input).
        #[derive(async_graphql::InputObject, Clone, Default)]
        pub(crate) struct $filter {
            $($fields)*
        }
    };
    ($filter:ident, [$($fields:tt)*]; ($field:ident [$kind:ty] true) $($rest:tt)*) => {
        $crate::attribute_filter!(
            $filter,
            [$($fields)* pub $field: Option<<$kind as $crate::attributes::AttributeKind>::Filter>,];
            $($rest)*
        );
    };
    ($filter:ident, [$($fields:tt)*]; ($field:ident [$kind:ty] false) $($rest:tt)*) => {
        $crate::attribute_filter!($filter, [$($fields)*]; $($rest)*);
    };
}

/// One filterable attribute's condition (a helper of [`attributes!`]).
#[macro_export]
macro_rules! attribute_condition {
    (false; $($ignored:tt)*) => {};
    (true; $this:ident, $all:ident, $path:ident; $entity:ident, $field:ident, $col:ident, $gql:literal, $kind:ty) => {
        if let Some(f) = &$this.$field {
            $all = $all.add(<$kind as $crate::attributes::AttributeKind>::condition(
                f,
                sea_orm::sea_query::Expr::col(($entity::Entity, $entity::Column::$col)),
                &format!("{}.{}", $path, $gql),
            )?);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_codes_and_phones_need_digits() {
        assert_eq!(
            Country::create(Some(" de ".into()), "c").unwrap(),
            Some("DE".into())
        );
        assert!(Country::create(Some("Germany".into()), "c").is_err());
        assert!(Phone::create(Some("+49 (30) 123-456".into()), "p").is_ok());
        assert!(Phone::create(Some("call me".into()), "p").is_err());
    }

    #[test]
    fn updates_tell_absent_from_null_and_blank_text_is_none() {
        assert_eq!(
            Percent::update(MaybeUndefined::Undefined, "p").unwrap(),
            None
        );
        assert_eq!(
            Percent::update(MaybeUndefined::Null, "p").unwrap(),
            Some(None)
        );
        assert_eq!(
            Percent::update(MaybeUndefined::Value(7), "p").unwrap(),
            Some(Some(7))
        );
        assert!(Percent::update(MaybeUndefined::Value(101), "p").is_err());
        assert_eq!(
            Text::update(MaybeUndefined::Value("  ".into()), "t").unwrap(),
            Some(None)
        );
    }

    #[test]
    fn merges_fill_only_what_is_empty() {
        let mut into = None;
        Flag::fill_empty(&mut into, &Some(true));
        assert_eq!(into, Some(true));
        Flag::fill_empty(&mut into, &Some(false));
        assert_eq!(into, Some(true));
    }

    #[test]
    fn ratings_keep_two_decimals_and_stay_in_range() {
        assert_eq!(Rating::create(Some(4.567), "r").unwrap(), Some(4.57));
        assert!(Rating::create(Some(5.01), "r").is_err());
        assert_eq!(
            Between::<1, 4>::create(Some(5), "p")
                .unwrap_err()
                .public_message(),
            "p: must be between 1 and 4"
        );
    }
}
