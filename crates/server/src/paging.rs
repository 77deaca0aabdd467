//! The `?limit=&after=` of every paginated list (DESIGN §7), read into the
//! store's [`Page`], with 400s naming the parameter.

use dayshift_store::{Page, PageError, MAX_PAGE_LIMIT};
use serde::Deserialize;

use crate::error::{ApiErr, ApiResult};

/// The paging parameters. `limit` is read as text so that a value that is
/// not a number, or too large for one, gets the same message as one out of
/// range.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> ApiResult<Page> {
        let limit = self
            .limit
            .as_deref()
            .map(|text| {
                text.trim().parse::<u32>().map_err(|_| {
                    ApiErr::invalid(
                        "limit",
                        format!("{text:?} is not a whole number between 1 and the maximum {MAX_PAGE_LIMIT}"),
                    )
                })
            })
            .transpose()?;
        Ok(Page::new(limit, self.after.as_deref())?)
    }
}

impl From<PageError> for ApiErr {
    fn from(e: PageError) -> Self {
        ApiErr::invalid(e.field, e.detail)
    }
}
