//! Raw SQL that PostgreSQL prepares once per connection.
//!
//! diesel's `sql_query` never caches its statement (its text could be anything), so
//! each call costs a prepare, an execute and a close: three round trips for what is
//! one. [`Prepared`] is raw SQL with `$n` placeholders and typed binds that diesel
//! does cache (keyed by the SQL text), so a repeated statement costs one round trip.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text, Timestamptz, Untyped, Uuid as SqlUuid};
use diesel::QueryResult;

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    Uuid(uuid::Uuid),
    Text(&'a str),
    OptText(Option<&'a str>),
    SmallInt(i16),
    BigInt(i64),
    Timestamptz(DateTime<Utc>),
    OptTimestamptz(Option<DateTime<Utc>>),
}

/// `sql` with `$1`..`$n` standing for `binds[0]`..`binds[n-1]`, each usable any
/// number of times, in any order.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    sql: &'a str,
    binds: Vec<Bind<'a>>,
}

impl<'a> Prepared<'a> {
    pub fn new(sql: &'a str, binds: Vec<Bind<'a>>) -> Self {
        Self { sql, binds }
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // diesel numbers placeholders in the order they are pushed: the first use of
        // each `$k` pushes its value, later uses repeat the number it was given.
        let mut given: Vec<Option<usize>> = vec![None; self.binds.len()];
        let mut pushed = 0;
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len() - at - 1, |n| n);
            let Some(k) = rest[at + 1..at + 1 + digits]
                .parse::<usize>()
                .ok()
                .filter(|k| (1..=self.binds.len()).contains(k))
            else {
                return Err(diesel::result::Error::QueryBuilderError(
                    format!("placeholder out of range in {:?}", self.sql).into(),
                ));
            };
            match given[k - 1] {
                Some(n) => out.push_sql(&format!("${n}")),
                None => {
                    pushed += 1;
                    given[k - 1] = Some(pushed);
                    push(&mut out, &self.binds[k - 1])?;
                }
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

fn push<'b>(out: &mut AstPass<'_, 'b, Pg>, bind: &'b Bind<'_>) -> QueryResult<()> {
    match bind {
        Bind::Uuid(v) => out.push_bind_param::<SqlUuid, _>(v),
        Bind::Text(v) => out.push_bind_param::<Text, _>(v),
        Bind::OptText(v) => out.push_bind_param::<Nullable<Text>, _>(v),
        Bind::SmallInt(v) => out.push_bind_param::<SmallInt, _>(v),
        Bind::BigInt(v) => out.push_bind_param::<BigInt, _>(v),
        Bind::Timestamptz(v) => out.push_bind_param::<Timestamptz, _>(v),
        Bind::OptTimestamptz(v) => out.push_bind_param::<Nullable<Timestamptz>, _>(v),
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Cached by its SQL text rather than by type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use diesel::debug_query;

    use super::*;

    #[test]
    fn placeholders_are_renumbered_in_first_use_order_and_repeated() {
        let id = uuid::Uuid::nil();
        let q = Prepared::new(
            "SELECT $2, $1, $2::text, $10",
            vec![
                Bind::Uuid(id),
                Bind::Text("x"),
                Bind::BigInt(3),
                Bind::BigInt(4),
                Bind::BigInt(5),
                Bind::BigInt(6),
                Bind::BigInt(7),
                Bind::BigInt(8),
                Bind::BigInt(9),
                Bind::BigInt(10),
            ],
        );
        let sql = debug_query::<Pg, _>(&q).to_string();
        assert!(sql.starts_with("SELECT $1, $2, $1::text, $3 --"), "{sql}");
        assert!(
            sql.contains(r#"["x", 00000000-0000-0000-0000-000000000000, 10]"#),
            "{sql}"
        );
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error() {
        let q = Prepared::new("SELECT $2", vec![Bind::BigInt(1)]);
        let mut builder = diesel::pg::PgQueryBuilder::default();
        assert!(q.to_sql(&mut builder, &Pg).is_err());
    }

    #[test]
    fn it_is_safe_to_cache() {
        let q = Prepared::new("SELECT $1", vec![Bind::BigInt(1)]);
        assert!(q.is_safe_to_cache_prepared(&Pg).unwrap());
    }
}
