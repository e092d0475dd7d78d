//! Where `serve` writes its logs: standard error, filtered by `RUST_LOG` (default `info`),
//! as text or JSON lines; and, with the `otlp` feature and an endpoint, the request and
//! node spans to an OpenTelemetry collector.

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum LogFormat {
    /// Human-readable lines
    Text,
    /// One JSON object per line, with the spans a line happened in
    Json,
}

/// What keeps exporting until the server stops.
pub(super) struct Logs {
    #[cfg(feature = "otlp")]
    otlp: Option<crate::observe::otlp::OtlpGuard>,
}

impl Logs {
    /// Sends the spans still batched, if any are exported.
    pub(super) async fn finish(self) {
        #[cfg(feature = "otlp")]
        if let Some(guard) = self.otlp {
            let sent = tokio::task::spawn_blocking(move || guard.shutdown()).await;
            if let Ok(Err(e)) = sent {
                eprintln!("{e}");
            }
        }
    }
}

/// Installs the logs (a subscriber the binary set itself is kept).
pub(super) fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<Logs, Error> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => lines
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => lines
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    };
    let logs = tracing_subscriber::registry().with(lines.with_filter(filter));
    #[cfg(feature = "otlp")]
    if let Some(endpoint) = otlp_endpoint {
        let (spans, guard) = crate::observe::otlp::otlp_layer(endpoint, &super::bin_name())?;
        let _ = logs.with(spans).try_init();
        return Ok(Logs { otlp: Some(guard) });
    }
    #[cfg(not(feature = "otlp"))]
    let _ = otlp_endpoint;
    let _ = logs.try_init();
    Ok(Logs {
        #[cfg(feature = "otlp")]
        otlp: None,
    })
}
