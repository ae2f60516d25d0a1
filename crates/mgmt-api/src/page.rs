//! The web page served at `/`: one self-contained HTML file that holds no
//! data (it asks the API, with the token the user types).

use alloc::borrow::Cow;
use alloc::vec::Vec;

use crate::response::Response;

/// The page's HTML.
pub(crate) const PAGE: &str = include_str!("../page/index.html");

/// The page as a 200 response.
pub(crate) fn response() -> Response {
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
        body: Cow::Borrowed(PAGE.as_bytes()),
        close: false,
    }
}
