//! What the server tells about itself: call and request figures counted where they
//! happen, Prometheus metrics made from them, request ids and spans, and the dashboard.

pub(crate) mod http;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod request_id;
pub(crate) mod stats;
