//! Placeholder substitution in the `sql/` files, kept pure so it is tested without a server.
//!
//! ClickHouse cannot bind values in DDL (and 18.16 has no query parameters at all), so the Kafka settings
//! are spliced into the text. Only a strict charset is accepted, which cannot close a quoted string or end
//! a statement; that, not escaping, is what makes the splice safe.
//!
//! Nothing here parses SQL: each migration file is one statement and is sent whole (see `migrate`).

use super::SqlVars;

/// Why a placeholder could not be filled.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("unknown placeholder ${{{0}}} (known: KAFKA_BROKERS, PAGE_VISITS_TOPIC, SESSION_RECORDINGS_TOPIC, CONSUMER_GROUP)")]
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
            "SESSION_RECORDINGS_TOPIC" => Some(("SESSION_RECORDINGS_TOPIC", &self.session_recordings_topic)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> SqlVars {
        SqlVars {
            kafka_brokers: "127.0.0.1:19092,broker-2.internal:9092".into(),
            page_visits_topic: "page_visits".into(),
            session_recordings_topic: "session_recordings".into(),
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
        let recordings = "t = '${SESSION_RECORDINGS_TOPIC}', g = '${CONSUMER_GROUP}_recordings'";
        assert_eq!(
            substitute(recordings, &vars()).expect("substitutes"),
            "t = 'session_recordings', g = 'clickhouse-page-visits_recordings'"
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
}
