//! Query templates: SQL with `{{marker}}`s the model fills. A marker of [`crate::fragments`] is replaced when
//! the template is parsed; `{{event_filters}}` and `{{visit_filters}}` become one `AND <condition>` per
//! filter when a question is rendered, each condition naming its column from the registry and taking its
//! value as a bound `?`. The values come back in [`Rendered::values`] in the order of their `?`s, so that
//! the caller binds them where the marker stood, after the template's own `?`s before it.

use crate::{fragments, Dimension, Filters};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    EventFilters,
    VisitFilters,
}

/// A template rendered for a question: its SQL and the filter values, in the order they are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub sql: String,
    /// The values of the filter markers' `?`s, in order.
    pub values: Vec<String>,
    /// How many `?`s of the template come before the first filter marker (bind those first).
    pub binds_before_filters: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown marker {{{{{0}}}}}")]
    UnknownMarker(String),
    #[error("a marker is not closed with }}}}")]
    Unclosed,
    #[error("a template may hold one filter marker, at most")]
    TwoFilterMarkers,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let fragments = fragments();
        let mut parts = Vec::new();
        let mut text_part = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            text_part.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
            let name = after[..end].trim();
            match name {
                "event_filters" | "visit_filters" => {
                    if parts.iter().any(|p| !matches!(p, Part::Text(_))) {
                        return Err(TemplateError::TwoFilterMarkers);
                    }
                    parts.push(Part::Text(std::mem::take(&mut text_part)));
                    parts.push(if name == "event_filters" { Part::EventFilters } else { Part::VisitFilters });
                }
                _ => {
                    let (_, sql) = fragments
                        .iter()
                        .find(|(marker, _)| marker == name)
                        .ok_or_else(|| TemplateError::UnknownMarker(name.to_owned()))?;
                    text_part.push_str(sql);
                }
            }
            rest = &after[end + 2..];
        }
        text_part.push_str(rest);
        parts.push(Part::Text(text_part));
        Ok(Self { parts })
    }

    /// The SQL for `filters`: each filter a condition `AND ...` at the template's filter marker. A filter
    /// that cannot select rows of the marker's kind is left out only where [`Filters::selecting_visits_by_any_pageview`]
    /// told the caller to choose a template that can (the visit rollup and a page filter).
    pub fn render(&self, filters: &Filters) -> Rendered {
        let mut sql = String::new();
        let mut values = Vec::new();
        let mut binds_before_filters = 0;
        let mut seen_filters = false;
        for part in &self.parts {
            let condition: fn(&Dimension) -> Option<String> = match part {
                Part::Text(text) => {
                    if !seen_filters {
                        binds_before_filters += text.matches('?').count();
                    }
                    sql.push_str(text);
                    continue;
                }
                Part::EventFilters => Dimension::event_filter,
                Part::VisitFilters => Dimension::visit_filter,
            };
            seen_filters = true;
            let mut first = true;
            for (dimension, value) in filters.given() {
                if let Some(condition) = condition(dimension) {
                    sql.push_str(if first { "AND " } else { "\n      AND " });
                    sql.push_str(&condition);
                    values.push(value.to_owned());
                    first = false;
                }
            }
            if first {
                sql.push_str("AND 1");
            }
        }
        Rendered { sql, values, binds_before_filters }
    }

    /// The SQL without filters (the filter markers become `AND 1`).
    pub fn sql(&self) -> String {
        self.render(&Filters::default()).sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_written_from_the_registry_with_their_values_bound_in_order() {
        let template =
            Template::parse("SELECT ? FROM t WHERE site = ?\n      {{event_filters}}\nLIMIT ?").expect("valid");
        let mut filters = Filters::default();
        filters.set("screen_class", "mobile").expect("known");
        filters.set("page", "/a'b").expect("known");
        let rendered = template.render(&filters);
        assert_eq!(
            rendered.sql,
            "SELECT ? FROM t WHERE site = ?\n      AND pathname = ?\n      AND screen_class = ?\nLIMIT ?"
        );
        assert_eq!(rendered.values, ["/a'b", "mobile"]);
        assert_eq!(rendered.binds_before_filters, 2);
        assert_eq!(template.sql(), "SELECT ? FROM t WHERE site = ?\n      AND 1\nLIMIT ?");
    }

    #[test]
    fn visit_filters_select_visits_by_their_first_event_or_any_page_view() {
        let template = Template::parse("{{visit_filters}}").expect("valid");
        let mut filters = Filters::default();
        filters.set("page", "/p").expect("known");
        filters.set("country", "DE").expect("known");
        assert_eq!(template.render(&filters).sql, "AND has(visit_pathname_values, ?)\n      AND visit_country = ?");
    }

    #[test]
    fn unknown_and_unclosed_markers_are_refused() {
        assert_eq!(Template::parse("{{nope}}"), Err(TemplateError::UnknownMarker("nope".into())));
        assert_eq!(Template::parse("{{event_filters"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("{{event_filters}} {{visit_filters}}"), Err(TemplateError::TwoFilterMarkers));
        let fixed = Template::parse("SELECT {{metric.visitors.raw}}").expect("valid");
        assert_eq!(fixed.sql(), "SELECT uniqExactIf(visitor_id, kind = 'pageview')");
    }
}
