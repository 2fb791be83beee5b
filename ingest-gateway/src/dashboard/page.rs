//! The dashboard page: a static shell (controls, the headline numbers, the chart's box, the panels' box)
//! that the bundled script fills from the stats API. Nothing in it depends on the request, so it holds no
//! data and no value a visitor could have chosen.
//!
//! Its Content-Security-Policy names only the gateway: `script-src 'self'` for the bundle (no inline script
//! anywhere), `style-src 'self'` (uPlot and the tables size their elements through the CSSOM, which the
//! policy does not restrict), `connect-src 'self'` for the API.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

pub const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headline numbers: (id suffix, label). The script writes `#stat-{id}`.
const STATS: [(&str, &str); 7] = [
    ("visitors", "Unique visitors"),
    ("visits", "Visits"),
    ("pageviews", "Page views"),
    ("views_per_visit", "Views per visit"),
    ("bounce_rate", "Bounce rate"),
    ("visit_duration", "Visit duration"),
    ("current", "Current visitors"),
];

fn shell() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { "Pathlight analytics" }
                link rel="stylesheet" href="/dashboard/assets/dashboard.css";
                script src="/dashboard/assets/dashboard.js" defer {}
            }
            body data-state="loading" {
                header {
                    h1 { "Pathlight analytics" }
                    form id="controls" method="get" action="/dashboard" {
                        label { "Site" input id="site" name="site" type="text" placeholder="example.com" autocomplete="off"; }
                        label {
                            "Period"
                            select id="period" name="period" {
                                option value="realtime" { "Last 30 minutes" }
                                option value="day" { "Today" }
                                option value="7d" { "Last 7 days" }
                                option value="30d" { "Last 30 days" }
                                option value="custom" { "Custom range" }
                            }
                        }
                        label hidden { "From" input id="from" name="from" type="date"; }
                        label hidden { "To" input id="to" name="to" type="date"; }
                        button type="submit" { "Show" }
                    }
                    p id="range" {}
                }
                main {
                    noscript { p { "The dashboard needs JavaScript; the same numbers are at /api/v1/stats/." } }
                    p id="hint" hidden { "Enter a site (as its snippet names it) to see its stats." }
                    p id="error" role="alert" hidden {}
                    ul id="filters" aria-label="Filters" hidden {}
                    dl.stats {
                        @for (id, label) in STATS {
                            div.stat { dt { (label) } dd id=(format!("stat-{id}")) { "–" } }
                        }
                    }
                    section id="chart-box" {
                        h2 { "Visitors and page views" }
                        div id="chart" {}
                    }
                    div id="panels" {}
                }
            }
        }
    }
}

/// `GET /dashboard`. Never cached: it is only served to whoever authenticated.
pub async fn dashboard_page() -> Response {
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(DASHBOARD_CSP)),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        shell().into_string(),
    )
        .into_response()
}
