//! Text handling of the `sql/` files, kept pure so it is tested without a server.
//!
//! Placeholders: ClickHouse cannot bind values in DDL (and 18.16 has no query parameters at all), so the
//! Kafka settings are spliced into the text. Only a strict charset is accepted, which cannot close a quoted
//! string or end a statement; that, not escaping, is what makes the splice safe.
//!
//! Splitting: ClickHouse's HTTP interface runs one statement per request, so a file is cut at each `;`
//! that is outside quotes and comments.

use super::SqlVars;

/// Why a placeholder could not be filled.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("unknown placeholder ${{{0}}} (known: KAFKA_BROKERS, PAGE_VISITS_TOPIC, CONSUMER_GROUP)")]
    Unknown(String),
    #[error("the value of {name} ({value:?}) must be non-empty and contain only A-Z a-z 0-9 . _ : , -")]
    Unsafe { name: &'static str, value: String },
    #[error("a `${{` placeholder is not closed with `}}`")]
    Unterminated,
}

impl SqlVars {
    fn lookup(&self, name: &str) -> Option<(&'static str, &str)> {
        match name {
            "KAFKA_BROKERS" => Some(("KAFKA_BROKERS", &self.kafka_brokers)),
            "PAGE_VISITS_TOPIC" => Some(("PAGE_VISITS_TOPIC", &self.page_visits_topic)),
            "CONSUMER_GROUP" => Some(("CONSUMER_GROUP", &self.consumer_group)),
            _ => None,
        }
    }
}

fn is_safe_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:,-".contains(&b))
}

/// Replaces every `${NAME}` with its value from `vars`.
pub fn substitute(sql: &str, vars: &SqlVars) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(PlaceholderError::Unterminated)?;
        let name = &after[..end];
        let (name, value) = vars.lookup(name).ok_or_else(|| PlaceholderError::Unknown(name.to_owned()))?;
        if !is_safe_value(value) {
            return Err(PlaceholderError::Unsafe { name, value: value.to_owned() });
        }
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Cuts `sql` into statements at each `;` outside quotes and comments. Comments are dropped, and so are
/// statements left empty.
pub fn split_statements(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        if rest.starts_with("--") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(comment) = rest.strip_prefix("/*") {
            i += comment.find("*/").map_or(rest.len(), |end| end + 4);
            current.push(' ');
        } else {
            match bytes[i] {
                quote @ (b'\'' | b'"' | b'`') => {
                    let end = end_of_quoted(bytes, i, quote);
                    current.push_str(&sql[i..end]);
                    i = end;
                }
                b';' => {
                    finish_statement(&mut statements, &mut current);
                    i += 1;
                }
                _ => {
                    // Copy up to the next byte that may start something special; all of them are ASCII,
                    // so this never cuts a UTF-8 character.
                    let first = rest.chars().next().map_or(1, char::len_utf8);
                    let len = rest[first..].find(['-', '/', '\'', '"', '`', ';']).map_or(rest.len(), |n| n + first);
                    current.push_str(&rest[..len]);
                    i += len;
                }
            }
        }
    }
    finish_statement(&mut statements, &mut current);
    statements
}

/// Index just past the quote that closes the one at `start` (backslash escapes one byte; a doubled quote
/// is read as two adjacent quoted parts, which splits the same way), or the end of the text.
fn end_of_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut j = start + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b if b == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

fn finish_statement(statements: &mut Vec<String>, current: &mut String) {
    let statement = current.trim();
    if !statement.is_empty() {
        statements.push(statement.to_owned());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> SqlVars {
        SqlVars {
            kafka_brokers: "127.0.0.1:19092,broker-2.internal:9092".into(),
            page_visits_topic: "page_visits".into(),
            consumer_group: "clickhouse-page-visits".into(),
        }
    }

    #[test]
    fn it_fills_every_known_placeholder() {
        let sql = "SETTINGS b = '${KAFKA_BROKERS}', t = '${PAGE_VISITS_TOPIC}', g = '${CONSUMER_GROUP}'";
        assert_eq!(
            substitute(sql, &vars()).expect("substitutes"),
            "SETTINGS b = '127.0.0.1:19092,broker-2.internal:9092', t = 'page_visits', g = 'clickhouse-page-visits'"
        );
    }

    #[test]
    fn it_leaves_text_without_placeholders_alone() {
        let sql = "SELECT '$', '{x}' -- costs $5\n";
        assert_eq!(substitute(sql, &vars()).expect("substitutes"), sql);
    }

    #[test]
    fn it_rejects_an_unknown_placeholder() {
        assert_eq!(substitute("x = '${DATABASE}'", &vars()), Err(PlaceholderError::Unknown("DATABASE".into())));
        assert_eq!(substitute("x = '${KAFKA_BROKERS'", &vars()), Err(PlaceholderError::Unterminated));
    }

    #[test]
    fn it_rejects_values_that_could_escape_the_quotes() {
        for bad in ["", "topic'; DROP TABLE page_visits; --", "a b", "grp\\", "tópico"] {
            let vars = SqlVars { page_visits_topic: bad.into(), ..vars() };
            assert_eq!(
                substitute("t = '${PAGE_VISITS_TOPIC}'", &vars),
                Err(PlaceholderError::Unsafe { name: "PAGE_VISITS_TOPIC", value: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn it_splits_at_semicolons_that_end_statements() {
        let sql = "CREATE TABLE a (x String) ENGINE = Log;\n\nCREATE TABLE b (x String) ENGINE = Log;\n";
        assert_eq!(
            split_statements(sql),
            ["CREATE TABLE a (x String) ENGINE = Log", "CREATE TABLE b (x String) ENGINE = Log"]
        );
    }

    #[test]
    fn it_keeps_semicolons_inside_quotes_and_ignores_them_in_comments() {
        let sql = "-- a comment; with a semicolon and a quote '\n\
                   SELECT 'a;b', 'it''s;', 'back\\';slash', \"c;d\", `e;f` /* g; 'h */ FROM t;\n\
                   /* only a comment; */ -- and another\n";
        assert_eq!(split_statements(sql), ["SELECT 'a;b', 'it''s;', 'back\\';slash', \"c;d\", `e;f`   FROM t"]);
    }

    #[test]
    fn it_keeps_a_last_statement_without_a_semicolon_and_non_ascii_text() {
        assert_eq!(split_statements("SELECT 1;\nSELECT 'é–ü' AS ünï, 2-ü"), ["SELECT 1", "SELECT 'é–ü' AS ünï, 2-ü"]);
    }

    #[test]
    fn it_does_not_read_past_an_unterminated_quote_or_comment() {
        assert_eq!(split_statements("SELECT 'abc\\"), ["SELECT 'abc\\"]);
        assert_eq!(split_statements("SELECT 1 /* never closed"), ["SELECT 1"]);
    }
}
