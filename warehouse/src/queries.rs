//! The named queries of `sql/queries/`, embedded so the binary answers them whatever its working directory.
//!
//! Values are bound with `?` (the clickhouse crate escapes them client-side); ClickHouse 18.16 has no
//! server-side query parameters. The query files contain no other `?`, not even in comments. They are
//! templates of the analytics model (`analytics-model`), which writes their metrics and visit subquery.

use std::sync::LazyLock;

use analytics_model::Template;
use clickhouse::Client;

use super::{CountryVisits, WarehouseError};

static VISITS_BY_COUNTRY: LazyLock<Template> = LazyLock::new(|| {
    Template::parse(include_str!("../../sql/queries/visits_by_country.sql"))
        .expect("sql/queries/visits_by_country.sql is a valid template")
});

/// Visits, page views and visitors per country for `site` over `[from_unix, to_unix)`, most visits first.
pub async fn visits_by_country(
    client: &Client,
    site: &str,
    from_unix: u32,
    to_unix: u32,
) -> Result<Vec<CountryVisits>, WarehouseError> {
    Ok(client
        .query(&VISITS_BY_COUNTRY.sql())
        .bind(site)
        .bind(from_unix)
        .bind(to_unix)
        .bind(site)
        .bind(from_unix)
        .bind(site)
        .bind(from_unix)
        .bind(u64::from(from_unix) * 1_000)
        .bind(u64::from(to_unix) * 1_000)
        .fetch_all::<CountryVisits>()
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_named_query_is_a_valid_template() {
        assert!(!super::VISITS_BY_COUNTRY.sql().contains("{{"));
    }
}
