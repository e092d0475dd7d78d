//! The one error type of the runtime: start-up, calls through handles, and serving.

use http::StatusCode;

/// A boxed error from user code: what deployment constructors and methods may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when a graph starts, is called, or is served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A deployment method returned an error.
    #[error("deployment `{deployment}` failed in `{method}`: {}", chain(&**source))]
    Node {
        /// The deployment (node) that failed.
        deployment: String,
        /// The method that was called.
        method: &'static str,
        /// What the method returned.
        #[source]
        source: BoxError,
    },
    /// A deployment method panicked. The replica keeps serving.
    #[error("deployment `{deployment}` panicked in `{method}`: {message}")]
    Panic {
        /// The deployment (node) that panicked.
        deployment: String,
        /// The method that was called.
        method: &'static str,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// Every replica was at `max_ongoing_requests` and the queue was full.
    #[error("deployment `{deployment}` is overloaded: every replica is busy and its queue is full")]
    Overloaded {
        /// The deployment that refused the call.
        deployment: String,
    },
    /// A deployment that runs in another process could not be reached, or refused the
    /// call before running it (another version of its interface, a process that does not
    /// serve it).
    #[error("deployment `{deployment}` is unavailable: {reason}")]
    Unavailable {
        /// The deployment that could not be called.
        deployment: String,
        /// Why.
        reason: String,
    },
    /// A replica could not be constructed when the graph started.
    #[error("deployment `{deployment}` failed to start (replica {replica}): {}", chain(&**source))]
    Start {
        /// The deployment whose constructor failed.
        deployment: String,
        /// Which replica, counting from 0.
        replica: u32,
        /// What the constructor returned, or its panic.
        #[source]
        source: BoxError,
    },
    /// The application was put together wrongly (duplicate route prefix, unknown graph...).
    #[error("{0}")]
    Config(String),
    /// Shutting down took longer than the grace period; what was still running was cut
    /// off or abandoned.
    #[error("{0}")]
    Shutdown(String),
    /// Binding or serving the HTTP listener failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The HTTP status the ingress answers with for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            // A node that failed because a handle it called was overloaded is overloaded too.
            Error::Node { source, .. } => match source.downcast_ref::<Error>() {
                Some(inner) => inner.status(),
                None => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Error::Overloaded { .. } | Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Node { source, .. } if self.status() == StatusCode::SERVICE_UNAVAILABLE => {
                match source.downcast_ref::<Error>() {
                    Some(inner) => inner.code(),
                    None => "overloaded",
                }
            }
            Error::Node { .. } => "node_failed",
            Error::Panic { .. } => "node_panicked",
            Error::Overloaded { .. } => "overloaded",
            Error::Unavailable { .. } => "unavailable",
            Error::Start { .. } => "start_failed",
            Error::Config(_) => "config",
            Error::Shutdown(_) => "shutdown",
            Error::Io(_) => "io",
        }
    }

    /// The deployment this error is about, if any: for a node that failed because a
    /// deployment it called is unavailable, that one, which is what an operator must fix.
    pub fn deployment(&self) -> Option<&str> {
        if let Error::Node { source, .. } = self
            && let Some(inner) = source.downcast_ref::<Error>()
            && inner.code() == "unavailable"
        {
            return inner.deployment();
        }
        match self {
            Error::Node { deployment, .. }
            | Error::Panic { deployment, .. }
            | Error::Overloaded { deployment }
            | Error::Unavailable { deployment, .. }
            | Error::Start { deployment, .. } => Some(deployment),
            _ => None,
        }
    }
}

/// An error and its causes, `top: cause: root cause`: library errors (hyper, io) often say
/// the useful part only in a source. Causes already spelled out by their parent are skipped.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// The longest error message a client is sent, in bytes: messages can quote input, and
/// an error must not echo back a whole large request.
pub const MAX_ERROR_MESSAGE: usize = 300;

/// `text` cut to at most `max` bytes (on a character boundary), with `…` where it was cut.
pub(crate) fn excerpt(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Turns a panic payload into the text it carried.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_overload_is_unavailable() {
        let inner = Error::Overloaded {
            deployment: "Fruit".into(),
        };
        let outer = Error::Node {
            deployment: "Dispatcher".into(),
            method: "run",
            source: Box::new(inner),
        };
        assert_eq!(outer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(outer.code(), "overloaded");
        assert_eq!(outer.deployment(), Some("Dispatcher"));
        assert!(outer.to_string().contains("`Fruit` is overloaded"));
    }

    #[test]
    fn a_node_failing_on_an_unavailable_deployment_names_that_one() {
        let outer = Error::Node {
            deployment: "Dispatcher".into(),
            method: "run",
            source: Box::new(Error::Unavailable {
                deployment: "General".into(),
                reason: "cannot reach it".into(),
            }),
        };
        assert_eq!(outer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(outer.code(), "unavailable");
        assert_eq!(outer.deployment(), Some("General"));
    }

    #[test]
    fn causes_are_spelled_out_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Client(#[source] std::io::Error);
        let inner = Error::Node {
            deployment: "Fruit".into(),
            method: "classify",
            source: Box::new(Client(io)),
        };
        assert_eq!(
            inner.to_string(),
            "deployment `Fruit` failed in `classify`: client error (Connect): connection refused"
        );
        let outer = Error::Node {
            deployment: "Dispatcher".into(),
            method: "run",
            source: Box::new(inner),
        };
        assert_eq!(
            outer.to_string(),
            "deployment `Dispatcher` failed in `run`: deployment `Fruit` failed in `classify`: client error (Connect): connection refused"
        );
    }

    #[test]
    fn plain_node_failure_is_internal() {
        let e = Error::Node {
            deployment: "Seg".into(),
            method: "forward",
            source: "bad weights".into(),
        };
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            e.to_string(),
            "deployment `Seg` failed in `forward`: bad weights"
        );
    }
}
