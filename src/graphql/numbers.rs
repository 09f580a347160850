//! Integers past GraphQL's 32-bit `Int`. async-graphql maps Rust's `i64` and
//! `u64` to `Int` unchecked, so a 64-bit value could leave as an `Int` that
//! JavaScript rounds past 2^53 and that other clients refuse past 2^31.
//! Counters are [`Count`]: an `Int` that refuses to answer rather than send
//! a number past 2^31 - 1. Quantities that can pass it (credit balances)
//! are [`BigInt`], a string.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, InputValueError, InputValueResult, OutputType, Positioned, Scalar,
    ScalarType, ServerError, ServerResult, Value,
};

/// A count shown as GraphQL's `Int`: it refuses, with an error naming the
/// field, a value past 2^31 - 1 rather than send one clients would
/// misread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(pub i64);

impl From<i64> for Count {
    fn from(n: i64) -> Self {
        Self(n)
    }
}

impl From<u64> for Count {
    fn from(n: u64) -> Self {
        Self(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl OutputType for Count {
    fn type_name() -> Cow<'static, str> {
        <i32 as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <i32 as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match i32::try_from(self.0) {
            Ok(n) => Ok(Value::from(n)),
            Err(_) => Err(ServerError::new(
                format!(
                    "{} is {}, past GraphQL's 32-bit Int; narrow the query",
                    field.node.name.node, self.0
                ),
                Some(field.pos),
            )),
        }
    }
}

/// A signed 64-bit integer, written as a decimal string (`"9007199254740993"`)
/// so no client rounds it. Input also takes a JSON integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct BigInt(pub i64);

#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => {
                text.trim().parse().map(Self).map_err(|_| {
                    InputValueError::custom(format!("{text:?} is not a 64-bit integer"))
                })
            }
            Value::Number(n) => n
                .as_i64()
                .map(Self)
                .ok_or_else(|| InputValueError::custom(format!("{n} is not a 64-bit integer"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integers_travel_as_strings_both_ways() {
        assert_eq!(
            BigInt(9_007_199_254_740_993).to_value(),
            Value::String("9007199254740993".into())
        );
        assert_eq!(
            BigInt::parse(Value::String("9007199254740993".into())).unwrap(),
            BigInt(9_007_199_254_740_993)
        );
        assert!(BigInt::parse(Value::String("1e3".into())).is_err());
    }
}
