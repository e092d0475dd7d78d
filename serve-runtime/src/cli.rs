//! The command line every serving binary gets from [`App::run`].

use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::app::App;
use crate::error::Error;
use crate::registry;
use crate::render::Format;

#[derive(Parser, Debug)]
#[command(
    about = "Serve this binary's model graphs over HTTP, or print their topology",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve every graph over HTTP (what runs when no command is given)
    Serve(ServeArgs),
    /// Print a graph's static topology
    Graph {
        /// The graph to print; defaults to the first one
        name: Option<String>,
        /// Output format
        #[arg(long, short, value_enum, default_value = "mermaid")]
        format: Format,
    },
    /// List every deployment compiled into this binary
    Deployments,
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, short, default_value_t = 8000)]
    port: u16,
    /// Serve /-/healthz, /-/routes and /-/status on 127.0.0.1 at this port instead of on
    /// the main listener (they move to a free loopback port anyway when --host is not
    /// loopback)
    #[arg(long)]
    admin_port: Option<u16>,
    /// CPUs replicas may reserve [default: what the OS allows this process, cgroup quotas
    /// and CPU affinity included]
    #[arg(long, value_parser = non_negative)]
    num_cpus: Option<f64>,
    /// GPUs replicas may reserve [default: as CUDA_VISIBLE_DEVICES lists them, or as the
    /// NVIDIA driver reports them]
    #[arg(long)]
    num_gpus: Option<u32>,
    /// Seconds to let requests in flight finish, then drain replicas, after Ctrl-C or
    /// SIGTERM; what is still running then is cut off and the exit status says so
    /// [default: 30]
    #[arg(long, value_name = "SECONDS", value_parser = non_negative)]
    grace_period: Option<f64>,
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!(
            "expected a number of CPUs, 0 or more (such as 4 or 1.5), not `{text}`"
        )),
    }
}

impl App {
    /// Parses the command line and does what it says: serve (the default), print a graph
    /// (`graph --format json|mermaid|dot`), or list deployments. Serving stops on Ctrl-C or
    /// SIGTERM, letting in-flight requests finish.
    pub async fn run(self) -> ExitCode {
        let bin = std::env::args()
            .next()
            .and_then(|p| {
                std::path::Path::new(&p)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "serve".to_owned());
        let matches = Cli::command().name(bin).get_matches();
        let cli = match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        match self.dispatch(cli).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn dispatch(self, cli: Cli) -> Result<(), Error> {
        match cli.command {
            None => self.serve_until_signal(cli.serve).await,
            Some(Command::Serve(args)) => self.serve_until_signal(args).await,
            Some(Command::Graph { name, format }) => {
                let specs = self.specs();
                let spec = match &name {
                    None => specs.first(),
                    Some(name) => specs.iter().find(|s| &s.name == name),
                };
                let Some(spec) = spec else {
                    let known: Vec<_> = specs.iter().map(|s| format!("`{}`", s.name)).collect();
                    return Err(Error::Config(format!(
                        "no graph named `{}`; this binary serves {}",
                        name.unwrap_or_default(),
                        known.join(", ")
                    )));
                };
                print!("{}", spec.render(format));
                if format == Format::Json {
                    println!();
                }
                Ok(())
            }
            Some(Command::Deployments) => {
                for d in registry::deployments() {
                    let o = &d.options;
                    println!(
                        "{:<16} {:<8} {:<7} replicas={} max_ongoing_requests={} num_cpus={} num_gpus={} methods=[{}]  ({})",
                        d.name,
                        format!("{:?}", d.kind).to_lowercase(),
                        format!("{:?}", o.executor).to_lowercase(),
                        o.num_replicas,
                        o.max_ongoing_requests,
                        o.num_cpus,
                        o.num_gpus,
                        d.methods.join(", "),
                        d.module
                    );
                }
                Ok(())
            }
        }
    }

    async fn serve_until_signal(self, args: ServeArgs) -> Result<(), Error> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
        registry::check_unique_names()?;
        let mut app = match args.admin_port {
            Some(port) => self.admin_addr((std::net::Ipv4Addr::LOCALHOST, port).into()),
            None => self,
        };
        if let Some(cpus) = args.num_cpus {
            app.start.resources = app.start.resources.with_num_cpus(cpus);
        }
        if let Some(seconds) = args.grace_period {
            app = app.grace_period(std::time::Duration::from_secs_f64(seconds));
        }
        if let Some(gpus) = args.num_gpus {
            app.start.resources = app.start.resources.with_num_gpus(gpus);
        }
        let resources = &app.start.resources;
        tracing::info!(
            "placing replicas on {} CPUs and {} GPUs",
            resources.num_cpus(),
            resources.num_gpus()
        );
        let server = app.bind((args.host.as_str(), args.port)).await?;
        let routes: Vec<String> = server
            .routes()
            .iter()
            .map(|(prefix, graph)| format!("POST {prefix} -> {graph}"))
            .collect();
        let admin = match server.admin_addr() {
            addr if addr == server.local_addr() => String::new(),
            addr => format!("  admin: http://{addr}/-/healthz"),
        };
        tracing::info!(
            "ready on http://{}  routes: {}{admin}",
            server.local_addr(),
            routes.join(", ")
        );
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        server.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
