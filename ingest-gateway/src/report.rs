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

pub fn render_visits_by_country(rows: &[CountryVisits]) -> String {
    let header = ["country", "visits", "visitors"];
    let cells: Vec<[String; 3]> =
        rows.iter().map(|r| [r.country.clone(), r.visits.to_string(), r.visitors.to_string()]).collect();
    let width =
        |column: usize| cells.iter().map(|row| row[column].len()).chain([header[column].len()]).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = format!("{:<w0$}  {:>w1$}  {:>w2$}\n", header[0], header[1], header[2]);
    for [country, visits, visitors] in &cells {
        out.push_str(&format!("{country:<w0$}  {visits:>w1$}  {visitors:>w2$}\n"));
    }
    out
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
            CountryVisits { country: "DE".to_owned(), visits: 1200, visitors: 31 },
            CountryVisits { country: "XX".to_owned(), visits: 7, visitors: 7 },
        ];
        assert_eq!(
            render_visits_by_country(&rows),
            "country  visits  visitors\n\
             DE         1200        31\n\
             XX            7         7\n"
        );
    }
}
