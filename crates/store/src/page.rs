use coffre_domain::audit::AuditAction;
use coffre_domain::ids::UserId;

/// How many items one page may hold: 1 to 100, 20 unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u8);

impl PageLimit {
    pub const MAX: u8 = 100;
    pub const DEFAULT: PageLimit = PageLimit(20);

    pub fn new(limit: u64) -> Option<Self> {
        u8::try_from(limit)
            .ok()
            .filter(|limit| (1..=Self::MAX).contains(limit))
            .map(Self)
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    /// Rows a backend fetches for one page: one more than the page holds, which tells whether
    /// more follow without counting them.
    pub fn rows_to_fetch(self) -> i64 {
        i64::from(self.0).saturating_add(1)
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One page of a newest-first list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The page out of at most [`PageLimit::rows_to_fetch`] rows, in list order.
    pub fn from_fetched(mut rows: Vec<T>, limit: PageLimit) -> Self {
        let page_len = usize::from(limit.get());
        let has_more = rows.len() > page_len;
        rows.truncate(page_len);
        Self {
            data: rows,
            has_more,
        }
    }
}

/// Filters of `GET /v1/audit-events`; every one set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<UserId>,
    /// As the client wrote it, not a `ResourceType`: a name no event has matches nothing,
    /// like any other filter value.
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<AuditAction>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stay_within_one_to_a_hundred() {
        assert_eq!(PageLimit::new(0), None);
        assert_eq!(PageLimit::new(101), None);
        assert_eq!(PageLimit::new(u64::MAX), None);
        assert_eq!(PageLimit::new(100).map(PageLimit::get), Some(100));
        assert_eq!(PageLimit::default().get(), 20);
    }

    #[test]
    fn the_row_past_the_limit_only_says_more_follow() {
        let limit = PageLimit::new(2).unwrap();
        assert_eq!(limit.rows_to_fetch(), 3);
        let page = Page::from_fetched(vec![5, 4, 3], limit);
        assert_eq!((page.data, page.has_more), (vec![5, 4], true));
        let page = Page::from_fetched(vec![2, 1], limit);
        assert_eq!((page.data, page.has_more), (vec![2, 1], false));
    }
}
