//! ClickHouse's HTTP interface: statements, RowBinary inserts and queries
//! with external data, as carbon-clickhouse and graphite-clickhouse use it.
//!
//! Everything is a POST (ClickHouse answers GETs read-only). 18.16 sends no
//! exception-code header: an error is an HTTP status, and the body is the
//! server's message, which is passed on as it is.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use super::config::ClickHouseSettings;

/// Largest answer read from one query; past it the query fails instead of
/// filling the memory of the node that asked.
pub const MAX_ANSWER_BYTES: u64 = 1 << 30;

/// Why a request to ClickHouse failed.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// The server could not be reached (refused, reset, timed out).
    #[error("ClickHouse at {url} is unreachable: {message}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// The server answered with an error.
    #[error("ClickHouse answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's own message (first line kept whole).
        message: String,
    },
    /// The answer could not be read or decoded.
    #[error("ClickHouse answer unreadable: {0}")]
    Answer(String),
}

/// A client of one server.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    url: String,
    database: String,
    user: Option<String>,
    password: Option<String>,
    compress: bool,
}

/// A string as a ClickHouse SQL literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl Client {
    /// A client for the server and database of `settings`.
    pub fn new(settings: &ClickHouseSettings) -> Client {
        Self::with_url(settings, &settings.url)
    }

    /// A client for another server with the same settings (one shard of a
    /// cluster).
    pub fn with_url(settings: &ClickHouseSettings, url: &str) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(settings.connect_timeout)
            .timeout(settings.timeout)
            .build();
        Client {
            agent,
            url: url.trim_end_matches('/').to_string(),
            database: settings.database.clone(),
            user: settings.user.clone(),
            password: settings.password.clone(),
            compress: settings.compress,
        }
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn request(&self, sql: &str) -> ureq::Request {
        let mut req = self
            .agent
            .post(&format!("{}/", self.url))
            .query("database", &self.database)
            .query("query", sql);
        if let Some(user) = &self.user {
            req = req.query("user", user);
        }
        if let Some(password) = &self.password {
            req = req.query("password", password);
        }
        req
    }

    fn answer(
        &self,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<Vec<u8>, ClickHouseError> {
        match result {
            Ok(response) => {
                let mut body = Vec::new();
                response
                    .into_reader()
                    .take(MAX_ANSWER_BYTES + 1)
                    .read_to_end(&mut body)
                    .map_err(|e| ClickHouseError::Answer(e.to_string()))?;
                if body.len() as u64 > MAX_ANSWER_BYTES {
                    return Err(ClickHouseError::Answer(format!(
                        "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
                Ok(body)
            }
            Err(ureq::Error::Status(status, response)) => {
                let message = response
                    .into_string()
                    .unwrap_or_else(|e| format!("(unreadable error body: {e})"));
                Err(ClickHouseError::Server {
                    status,
                    message: message.trim().to_string(),
                })
            }
            Err(ureq::Error::Transport(t)) => Err(ClickHouseError::Unreachable {
                url: self.url.clone(),
                message: t.to_string(),
            }),
        }
    }

    /// Runs a statement or query; the answer's bytes.
    pub fn execute(&self, sql: &str) -> Result<Vec<u8>, ClickHouseError> {
        self.answer(self.request(sql).send_bytes(&[]))
    }

    /// Runs a query; the answer as text.
    pub fn query_text(&self, sql: &str) -> Result<String, ClickHouseError> {
        let body = self.execute(sql)?;
        String::from_utf8(body).map_err(|e| ClickHouseError::Answer(e.to_string()))
    }

    /// `INSERT INTO table (columns) FORMAT RowBinary` with `rows` as the
    /// body, gzip-compressed when configured.
    pub fn insert(&self, table: &str, columns: &str, rows: &[u8]) -> Result<(), ClickHouseError> {
        let sql = format!("INSERT INTO {table} ({columns}) FORMAT RowBinary");
        let req = self.request(&sql);
        let result = if self.compress {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(rows.len() / 4),
                flate2::Compression::fast(),
            );
            let body = gz
                .write_all(rows)
                .and_then(|()| gz.finish())
                .map_err(|e| ClickHouseError::Answer(format!("gzip: {e}")))?;
            req.set("Content-Encoding", "gzip").send_bytes(&body)
        } else {
            req.send_bytes(rows)
        };
        self.answer(result).map(drop)
    }

    /// A query reading one external table `name` (one `String` column
    /// `Path`, TSV) sent along as multipart form data, as graphite-clickhouse
    /// sends the metric list of a render.
    pub fn query_with_paths(
        &self,
        sql: &str,
        name: &str,
        paths: &[String],
    ) -> Result<Vec<u8>, ClickHouseError> {
        const BOUNDARY: &str = "ferrograph-external-data-7d1f3a";
        let mut body = Vec::with_capacity(paths.iter().map(|p| p.len() + 1).sum::<usize>() + 256);
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        for path in paths {
            tsv_escape_into(path, &mut body);
            body.push(b'\n');
        }
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let req = self
            .request(sql)
            .query(&format!("{name}_structure"), "Path String")
            .query(&format!("{name}_format"), "TSV")
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={BOUNDARY}"),
            );
        self.answer(req.send_bytes(&body))
    }

    /// True when `GET /ping` answers `Ok.` within `timeout`.
    pub fn ping(&self, timeout: Duration) -> bool {
        self.agent
            .get(&format!("{}/ping", self.url))
            .timeout(timeout)
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .is_some_and(|s| s.trim() == "Ok.")
    }
}

fn tsv_escape_into(text: &str, out: &mut Vec<u8>) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_tsv_are_escaped() {
        assert_eq!(quote(r"a'b\c"), r"'a\'b\\c'");
        let mut out = Vec::new();
        tsv_escape_into("a\tb\\c", &mut out);
        assert_eq!(out, b"a\\tb\\\\c");
    }
}
