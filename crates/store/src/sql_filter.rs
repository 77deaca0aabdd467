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
    pub(crate) fn push_workspace_query(&mut self, query: &WorkspaceQuery) {
        self.push("w.deleted = 0", vec![]);
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
            self.push(
                if outdated {
                    "w.outdated = 1"
                } else {
                    "w.outdated = 0"
                },
                vec![],
            );
        }
        if let Some(dormant) = query.dormant {
            self.push(
                if dormant {
                    "w.dormant_at IS NOT NULL"
                } else {
                    "w.dormant_at IS NULL"
                },
                vec![],
            );
        }
        for part in &query.name_contains {
            self.push("w.name LIKE ? ESCAPE '\\'", vec![like_substring(part)]);
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
