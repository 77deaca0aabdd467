//! Keyset pagination, shared by every list (DESIGN §7 "Lists are
//! paginated").
//!
//! A page is the rows strictly after a sort key, read as an index range
//! scan: no `OFFSET`, so reading page 1,000 costs what page 1 costs, and a
//! row inserted or deleted elsewhere never shifts what the next page
//! holds. The cursor handed to clients is that sort key, opaque to them:
//! base64url of a JSON array of the key's parts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Rows per page when the client names no limit.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The largest page a client may ask for.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// A request for one page: at most `limit` rows after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    after: Option<Cursor>,
}

/// Why a page request was refused; names the query parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {detail}")]
pub struct PageError {
    pub field: &'static str,
    pub detail: String,
}

impl PageError {
    pub(crate) fn cursor(detail: impl Into<String>) -> PageError {
        PageError {
            field: "after",
            detail: detail.into(),
        }
    }
}

impl Page {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Result<Page, PageError> {
        Page::new(Some(limit), None)
    }

    /// A page from a request's `limit` (default [`DEFAULT_PAGE_LIMIT`]) and
    /// `after` (a cursor from a previous page's `next`).
    pub fn new(limit: Option<u32>, after: Option<&str>) -> Result<Page, PageError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(PageError {
                field: "limit",
                detail: format!("{limit} is not between 1 and the maximum {MAX_PAGE_LIMIT}"),
            });
        }
        let after = after
            .filter(|cursor| !cursor.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        Ok(Page { limit, after })
    }

    /// Every row a caller may need, in pages of the maximum size.
    pub fn max() -> Page {
        Page {
            limit: MAX_PAGE_LIMIT,
            after: None,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn after(&self) -> Option<&Cursor> {
        self.after.as_ref()
    }

    /// The same page size after `cursor` (to walk a list).
    pub fn continue_after(&self, cursor: &str) -> Result<Page, PageError> {
        Page::new(Some(self.limit), Some(cursor))
    }

    /// The rows to fetch: one more than the page, to learn whether a next
    /// page exists without counting.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// How many rows match the whole query (all pages).
    pub count: i64,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

impl<T> PageOf<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row
    /// only says that another page follows, whose cursor is the key of the
    /// last row kept.
    pub(crate) fn from_fetched(
        mut rows: Vec<T>,
        page: &Page,
        count: i64,
        key: impl Fn(&T) -> Cursor,
    ) -> PageOf<T> {
        let limit = page.limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| key(last).encode())
        } else {
            None
        };
        PageOf {
            items: rows,
            count,
            next,
        }
    }

    /// A page of a list held in memory whole because configuration, not
    /// the fleet, bounds it (prebuild pools: one per preset). `key` must
    /// give each row a distinct text key; rows are sorted by it.
    pub fn of_small_list(
        mut all: Vec<T>,
        page: &Page,
        key: impl Fn(&T) -> Vec<String>,
    ) -> Result<PageOf<T>, PageError> {
        all.sort_by_key(|row| key(row));
        let after: Option<Vec<String>> = page
            .after()
            .map(|cursor| {
                cursor
                    .0
                    .iter()
                    .map(|part| match part {
                        KeyPart::Text(text) => Ok(text.clone()),
                        KeyPart::Int(_) => {
                            Err(PageError::cursor("the cursor belongs to another list"))
                        }
                    })
                    .collect()
            })
            .transpose()?;
        let count = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let rows: Vec<T> = all
            .into_iter()
            .filter(|row| after.as_ref().is_none_or(|after| key(row) > *after))
            .take(page.limit as usize + 1)
            .collect();
        Ok(PageOf::from_fetched(rows, page, count, |row| {
            Cursor(key(row).into_iter().map(KeyPart::Text).collect())
        }))
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            count: self.count,
            next: self.next,
        }
    }
}

/// One part of a sort key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum KeyPart {
    Int(i64),
    Text(String),
}

/// A decoded cursor: the sort key of the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub Vec<KeyPart>);

impl Cursor {
    pub fn encode(&self) -> String {
        // Serialising strings and integers cannot fail.
        let json = serde_json::to_vec(&self.0).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<Cursor, PageError> {
        let not_ours =
            || PageError::cursor(format!("{text:?} is not a cursor from a `next` field"));
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| not_ours())?;
        let parts: Vec<KeyPart> = serde_json::from_slice(&bytes).map_err(|_| not_ours())?;
        Ok(Cursor(parts))
    }

    /// The key parts as `(text, text, ...)` of one list's sort key;
    /// a cursor of another list is refused.
    pub(crate) fn texts<const N: usize>(&self) -> Result<[&str; N], PageError> {
        let texts: Option<Vec<&str>> = self
            .0
            .iter()
            .map(|part| match part {
                KeyPart::Text(text) => Some(text.as_str()),
                KeyPart::Int(_) => None,
            })
            .collect();
        texts
            .and_then(|texts| texts.try_into().ok())
            .ok_or_else(|| PageError::cursor("the cursor belongs to another list"))
    }

    /// The key of lists sorted by one integer.
    pub(crate) fn int(&self) -> Result<i64, PageError> {
        match self.0.as_slice() {
            [KeyPart::Int(value)] => Ok(*value),
            _ => Err(PageError::cursor("the cursor belongs to another list")),
        }
    }

    /// The key of lists sorted by `(integer, text)`.
    pub(crate) fn int_text(&self) -> Result<(i64, &str), PageError> {
        match self.0.as_slice() {
            [KeyPart::Int(value), KeyPart::Text(text)] => Ok((*value, text.as_str())),
            _ => Err(PageError::cursor("the cursor belongs to another list")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_the_maximum_are_refused_naming_limit() {
        assert_eq!(Page::new(None, None).unwrap().limit(), DEFAULT_PAGE_LIMIT);
        assert_eq!(Page::new(Some(1000), None).unwrap().limit(), 1000);
        for bad in [0, 1001] {
            let err = Page::new(Some(bad), None).unwrap_err();
            assert_eq!(err.field, "limit");
            assert!(err.detail.contains("1000"), "{err}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused_naming_after() {
        let cursor = Cursor(vec![KeyPart::Text("alice".into()), KeyPart::Int(-7)]);
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["!!", "bm90IGpzb24", "e30"] {
            assert_eq!(Cursor::decode(bad).unwrap_err().field, "after", "{bad}");
        }
        let texts = Cursor(vec![KeyPart::Text("a".into())]);
        assert!(texts.int().is_err());
        assert!(texts.texts::<2>().is_err());
        assert_eq!(texts.texts::<1>().unwrap(), ["a"]);
    }
}
