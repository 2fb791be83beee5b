//! The named queries of `sql/queries/`, embedded so the binary answers them whatever its working directory.
//!
//! Values are bound with `?` (the clickhouse crate escapes them client-side); ClickHouse 18.16 has no
//! server-side query parameters. The query files contain no other `?`, not even in comments.

use clickhouse::Client;

use super::{CountryVisits, WarehouseError};

const VISITS_BY_COUNTRY: &str = include_str!("../../../sql/queries/visits_by_country.sql");

/// Page views and distinct visitors per country for `site` over `[from_unix, to_unix)`, most visits first.
pub async fn visits_by_country(
    client: &Client,
    site: &str,
    from_unix: u32,
    to_unix: u32,
) -> Result<Vec<CountryVisits>, WarehouseError> {
    Ok(client.query(VISITS_BY_COUNTRY).bind(site).bind(from_unix).bind(to_unix).fetch_all::<CountryVisits>().await?)
}
