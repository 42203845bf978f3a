//! A throwaway database per test, for this crate's tests and the app's black-box tests.
//!
//! Creates `webchat_test_<uuid>` on the server named by `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and drops it afterwards, also when
//! the test panics. Follows the project's skip rule: an unreachable server prints one
//! `skipped: ...` line, unless `WEBCHAT_REQUIRE_SERVICES=1`, then it fails the test.
//!
//! [`OwnPostgres`]: a server of the test's own, for tests that stop and restart it.

use std::time::Duration;

mod own;
pub use own::OwnPostgres;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::PgError;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A database that exists until [`TestDatabase::drop_database`] or drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a fresh, empty database (no migrations applied).
    pub async fn create() -> Result<Self, PgError> {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        let name = format!("webchat_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name)?;
        execute(&admin_url, &format!("CREATE DATABASE {name}")).await?;
        Ok(Self {
            name,
            url,
            admin_url,
            dropped: false,
        })
    }

    /// [`TestDatabase::create`] under the skip rule: `None` means "skip this test".
    pub async fn create_or_skip() -> Option<Self> {
        match Self::create().await {
            Ok(db) => Some(db),
            Err(e) => {
                webchat_ports::contract::skip_or_fail("PostgreSQL", e);
                None
            }
        }
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, disconnecting whoever still uses it. Best effort.
    pub async fn drop_database(mut self) {
        self.dropped = true;
        if let Err(e) = execute(&self.admin_url, &drop_statement(&self.name)).await {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Reached when a test panicked before dropping explicitly. Async work cannot
        // run inside Drop on the test's runtime, so a short-lived one does it.
        let (admin_url, statement) = (self.admin_url.clone(), drop_statement(&self.name));
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(execute(&admin_url, &statement));
            }
        })
        .join();
    }
}

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

async fn execute(url: &str, statement: &str) -> Result<(), PgError> {
    let work = async {
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .map_err(|e| PgError::Unavailable(e.to_string()))?;
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .map_err(|e| PgError::Unavailable(e.to_string()))?;
        Ok(())
    };
    tokio::time::timeout(ADMIN_TIMEOUT, work)
        .await
        .map_err(|_| PgError::Unavailable("timed out".into()))?
}

/// The same server and credentials as `url`, another database.
fn with_database(url: &str, database: &str) -> Result<String, PgError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        // The key=value form: a later key wins.
        return Ok(format!("{url} dbname={database}"));
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(PgError::InvalidUrl("no host in DATABASE_URL".into()));
    }
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn swaps_only_the_database() {
        let swap = |u| with_database(u, "x").unwrap();
        assert_eq!(
            swap("postgres://p@h:5432/postgres"),
            "postgres://p@h:5432/x"
        );
        assert_eq!(
            swap("postgres://p:s@h/db?sslmode=disable"),
            "postgres://p:s@h/x?sslmode=disable"
        );
        assert_eq!(swap("postgresql://h"), "postgresql://h/x");
        assert_eq!(swap("host=h user=u"), "host=h user=u dbname=x");
        assert!(with_database("postgres:///db", "x").is_err());
    }
}
