//! OpenTelemetry export (the `otlp` feature): the runtime's `request` and `node` spans sent
//! to a collector over OTLP/HTTP as JSON, batched on a thread of the exporter's own.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::error::Error;

/// Keeps the exporter running; [`shutdown`](Self::shutdown) (or dropping it) sends what is
/// still batched.
#[must_use = "spans are exported only while the guard lives"]
pub struct OtlpGuard {
    provider: Option<SdkTracerProvider>,
}

impl OtlpGuard {
    /// Sends the spans still batched and stops the exporter. It blocks while it sends:
    /// call it off the async workers (`spawn_blocking`) or once the runtime has stopped.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        match self.provider.take() {
            Some(provider) => provider
                .shutdown()
                .map_err(|e| Error::Config(format!("exporting the last spans failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A `tracing` layer that exports the runtime's `request` and `node` spans (its `DEBUG`
/// ones, whatever `RUST_LOG` says for the logs) to the OTLP/HTTP collector at `endpoint`
/// (its base address, as `http://localhost:4318`: the spans go to `/v1/traces`), as
/// `service_name`.
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
///
/// let (otlp, guard) = serve_runtime::otlp_layer("http://localhost:4318", "my-service")?;
/// tracing_subscriber::registry().with(otlp).init();
/// // ... serve; then, off the async workers:
/// guard.shutdown()?;
/// # Ok::<(), serve_runtime::Error>(())
/// ```
pub fn otlp_layer<S>(
    endpoint: &str,
    service_name: &str,
) -> Result<(impl Layer<S> + Send + Sync + 'static, OtlpGuard), Error>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(traces)
        .build()
        .map_err(|e| Error::Config(format!("cannot export spans to `{endpoint}`: {e}")))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build();
    let tracer = provider.tracer("serve_runtime");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(EnvFilter::new("serve_runtime=debug"));
    Ok((
        layer,
        OtlpGuard {
            provider: Some(provider),
        },
    ))
}
