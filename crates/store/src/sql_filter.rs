//! A `WHERE` clause assembled from optional filters, with its values bound
//! in order (`$1`, `$2`, ...), so the SQL text never holds a user value.

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryScalar};
use sqlx::Any;

use crate::WorkspaceQuery;

#[derive(Debug, Clone, Default)]
pub(crate) struct SqlFilter {
    conditions: Vec<String>,
    values: Vec<String>,
}

impl SqlFilter {
    /// Adds a condition; each `?` in it becomes the next placeholder,
    /// bound to the next of `values`.
    pub(crate) fn push(&mut self, condition: &str, values: Vec<String>) {
        let mut sql = String::with_capacity(condition.len() + 8);
        let mut values = values.into_iter();
        for part in condition.split('?').enumerate() {
            let (i, text) = part;
            if i > 0 {
                if let Some(value) = values.next() {
                    self.values.push(value);
                    sql.push_str(&format!("${}", self.values.len()));
                }
            }
            sql.push_str(text);
        }
        self.conditions.push(sql);
    }

    /// Rows after a sort key: `(a, b, c) > (?, ?, ?)`, a row-value
    /// comparison both databases answer with an index range scan.
    pub(crate) fn push_after(&mut self, key: &str, values: Vec<String>) {
        let placeholders = vec!["?"; values.len()].join(", ");
        self.push(&format!("{key} > ({placeholders})"), values);
    }

    /// The filters of a workspace search on `workspaces w`.
    pub(crate) fn workspace_search(query: &WorkspaceQuery) -> SqlFilter {
        let mut filter = SqlFilter::default();
        filter.push("w.deleted = 0", vec![]);
        filter.push_group_terms(query, |dormant| {
            if dormant {
                "w.dormant_at IS NOT NULL"
            } else {
                "w.dormant_at IS NULL"
            }
        });
        for part in &query.name_contains {
            filter.push("w.name LIKE ? ESCAPE '\\'", vec![like_substring(part)]);
        }
        filter
    }

    /// The same search on the count groups, as two `WHERE` clauses over
    /// `workspace_counts w` and `workspace_count_deltas w` for one
    /// statement (one snapshot), with the values of both bound in order;
    /// `None` when it has terms the groups do not record (name
    /// substrings).
    pub(crate) fn count_groups(query: &WorkspaceQuery) -> Option<(SqlFilter, String, String)> {
        if !query.name_contains.is_empty() {
            return None;
        }
        let dormant = |dormant| {
            if dormant {
                "w.dormant = 1"
            } else {
                "w.dormant = 0"
            }
        };
        let mut filter = SqlFilter::default();
        filter.push_group_terms(query, dormant);
        let totals = filter.conditions();
        let first = filter.conditions.len();
        filter.push_group_terms(query, dormant);
        let deltas = SqlFilter {
            conditions: filter.conditions.split_off(first),
            values: Vec::new(),
        }
        .conditions();
        Some((filter, totals, deltas))
    }

    /// The terms both a search and a count group answer.
    fn push_group_terms(&mut self, query: &WorkspaceQuery, dormant: fn(bool) -> &'static str) {
        for owner in [&query.owner, &query.visible_to].into_iter().flatten() {
            self.push("w.owner_name = ?", vec![owner.clone()]);
        }
        if let Some(template) = &query.template {
            // An unknown name gives NULL, which matches nothing.
            self.push(
                "w.template_id = (SELECT t2.id FROM templates t2 WHERE t2.name = ?)",
                vec![template.clone()],
            );
        }
        if let Some(status) = query.status {
            self.push("w.status = ?", vec![status.as_str().to_string()]);
        }
        if let Some(outdated) = query.outdated {
            let condition = if outdated {
                "w.outdated = 1"
            } else {
                "w.outdated = 0"
            };
            self.push(condition, vec![]);
        }
        if let Some(wanted) = query.dormant {
            self.push(dormant(wanted), vec![]);
        }
    }

    pub(crate) fn conditions(&self) -> String {
        if self.conditions.is_empty() {
            "1 = 1".to_string()
        } else {
            self.conditions.join(" AND ")
        }
    }

    pub(crate) fn bind<'q>(
        &'q self,
        mut query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for value in &self.values {
            query = query.bind(value.as_str());
        }
        query
    }

    pub(crate) fn bind_scalar<'q, O>(
        &'q self,
        mut query: QueryScalar<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryScalar<'q, Any, O, AnyArguments<'q>> {
        for value in &self.values {
            query = query.bind(value.as_str());
        }
        query
    }
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and the escape
/// character taken literally.
fn like_substring(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
