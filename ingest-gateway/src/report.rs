//! The command-line side of the reports: reading the time range a person types and printing rows as an
//! aligned table. The queries themselves live in [`crate::warehouse`].

use chrono::DateTime;

use crate::warehouse::CountryVisits;

/// Reads an instant given as unix seconds (`1767225600`) or RFC 3339 (`2026-01-01T00:00:00Z`, any offset).
pub fn parse_instant(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let seconds = match text.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => DateTime::parse_from_rfc3339(text)
            .map_err(|error| format!("{text:?} is neither unix seconds nor RFC 3339 ({error})"))?
            .timestamp(),
    };
    u32::try_from(seconds)
        .map_err(|_| format!("{text:?} is outside 1970-01-01..2106-02-07, the range of a ClickHouse DateTime"))
}

/// The "visits by country" report as an aligned table, columns named as the analytics model names them.
pub fn render_visits_by_country(rows: &[CountryVisits]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.country.clone(), r.visits.to_string(), r.pageviews.to_string(), r.visitors.to_string()])
        .collect();
    crate::stats::cli::render(&["country", "visits", "pageviews", "visitors"], &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_unix_seconds_and_rfc3339_with_offsets() {
        assert_eq!(parse_instant("1767225600"), Ok(1_767_225_600));
        assert_eq!(parse_instant("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert_eq!(parse_instant("2026-01-01T02:00:00+02:00"), Ok(1_767_225_600));
    }

    #[test]
    fn it_refuses_what_a_datetime_cannot_hold() {
        assert!(parse_instant("-1").is_err());
        assert!(parse_instant("1960-01-01T00:00:00Z").is_err());
        assert!(parse_instant("yesterday").expect_err("refused").contains("RFC 3339"));
    }

    #[test]
    fn the_table_aligns_text_left_and_numbers_right() {
        let rows = [
            CountryVisits { country: "DE".to_owned(), visits: 40, pageviews: 1200, visitors: 31 },
            CountryVisits { country: "XX".to_owned(), visits: 7, pageviews: 7, visitors: 7 },
        ];
        assert_eq!(
            render_visits_by_country(&rows),
            "country  visits  pageviews  visitors\n\
             DE           40       1200        31\n\
             XX            7          7         7\n"
        );
    }
}
