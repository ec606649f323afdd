//! The real PostgreSQL server the tests use: a fresh, randomly named database per test.
//!
//! The server is reached through an admin URL (`SURGE_TEST_DATABASE_ADMIN_URL`, default
//! `postgres://surge:surge@127.0.0.1:5432/postgres`) whose role may create databases.
//! Each [`TestDatabase`] is dropped (connections terminated) when the value is dropped,
//! unless `SURGE_TEST_KEEP_DATABASES=1` keeps it for a post-mortem.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

/// Admin URL of the test server.
pub fn admin_url() -> String {
    std::env::var("SURGE_TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://surge:surge@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a unique name. Fails the test, saying how to start
    /// PostgreSQL, when the server does not answer.
    pub async fn create() -> Self {
        let admin = admin_url();
        let mut conn = admin_connection(&admin).await;
        let name = crate::unique_name("surge_test").replace('-', "_");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        Self { name, url }
    }

    /// URL of this database, for `SURGE__DATABASE__URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same URL with host and port replaced, e.g. to go through a
    /// [`crate::proxy::TcpProxy`].
    pub fn url_via(&self, host_port: &str) -> String {
        with_host_port(&self.url, host_port)
    }

    /// `host:port` of the server, e.g. as a proxy's upstream.
    pub fn server_address(&self) -> String {
        let options = PgConnectOptions::from_str(&self.url).expect("valid database URL");
        let host = match options.get_host() {
            "localhost" => "127.0.0.1",
            other => other,
        };
        format!("{host}:{}", options.get_port())
    }

    /// A login role of its own with a password only this call knows, allowed to read and
    /// write the tables that exist now (run the migrations first); returns its URL for this
    /// database and the password, e.g. to prove the password never shows.
    pub async fn url_with_new_role(&self) -> (String, String) {
        let role = crate::unique_name("surge_role").replace('-', "_");
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_connection(&self.url).await;
        for statement in [
            format!(r#"CREATE ROLE "{role}" LOGIN PASSWORD '{password}'"#),
            format!(r#"GRANT USAGE ON SCHEMA public TO "{role}""#),
            format!(
                r#"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}""#
            ),
        ] {
            sqlx::query(&statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("cannot set up role {role}: {e}"));
        }
        let _ = conn.close().await;
        let mut url = parse(&self.url);
        url.set_username(&role).expect("a URL with a host");
        url.set_password(Some(&password))
            .expect("a URL with a host");
        (url.into(), password)
    }

    /// A small pool for the test's own queries.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var("SURGE_TEST_KEEP_DATABASES").as_deref() == Ok("1") {
            eprintln!("keeping test database {}", self.name);
            return;
        }
        let name = self.name.clone();
        // Drop may run inside a runtime; a thread with its own runtime avoids blocking it
        // from within. Best effort: a leftover database only costs disk.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let options = PgConnectOptions::from_str(&admin_url()).ok()?;
                let mut conn = options.connect().await.ok()?;
                sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                let _ = conn.close().await;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

async fn admin_connection(admin: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(admin)
        .unwrap_or_else(|e| panic!("SURGE_TEST_DATABASE_ADMIN_URL is not a valid URL: {e}"));
    match tokio::time::timeout(Duration::from_secs(10), options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => panic!(
            "PostgreSQL does not answer at {} ({error}). Start the local infrastructure with \
             `scripts/infra.sh up` (or set SURGE_TEST_DATABASE_ADMIN_URL).",
            redact(admin)
        ),
        Err(_) => panic!(
            "PostgreSQL at {} did not answer within 10 s. Start the local infrastructure with \
             `scripts/infra.sh up` (or set SURGE_TEST_DATABASE_ADMIN_URL).",
            redact(admin)
        ),
    }
}

/// `url` with its database (path) replaced by `database`, query string kept.
pub fn with_database(url: &str, database: &str) -> String {
    let mut url = parse(url);
    url.set_path(&format!("/{database}"));
    url.into()
}

/// `url` with `host:port` replaced, credentials, database and query string kept.
pub fn with_host_port(url: &str, host_port: &str) -> String {
    let mut url = parse(url);
    let (host, port) = host_port
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .unwrap_or_else(|| panic!("{host_port:?} is not host:port"));
    url.set_host(Some(host))
        .unwrap_or_else(|e| panic!("{host:?} is not a host: {e}"));
    url.set_port(Some(port))
        .unwrap_or_else(|()| panic!("{url} cannot carry a port"));
    url.into()
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

fn parse(url: &str) -> url::Url {
    url::Url::parse(url).unwrap_or_else(|e| panic!("{} is not a valid URL: {e}", redact(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_new_database_or_address_and_keep_the_rest() {
        let admin = "postgres://surge:surge@127.0.0.1:5432/postgres?sslmode=disable";
        assert_eq!(
            with_database(admin, "t1"),
            "postgres://surge:surge@127.0.0.1:5432/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "t2"),
            "postgres://u@h:1/t2"
        );
        assert_eq!(
            with_host_port(admin, "127.0.0.1:40000"),
            "postgres://surge:surge@127.0.0.1:40000/postgres?sslmode=disable"
        );
        assert_eq!(
            with_host_port("postgres://h:1/db", "x:2"),
            "postgres://x:2/db"
        );
        assert_eq!(
            redact("postgres://surge:secret@h:1/db"),
            "postgres://surge:***@h:1/db"
        );
    }
}
