//! The command line every serving binary gets from [`App::run`].

mod client;
mod logs;
mod rollout;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use http::Method;

use crate::app::App;
use crate::config::{ConfigError, Problem, ServeConfig, yaml};
use crate::error::Error;
use crate::registry;
use crate::remote::{CallSecret, CallTls};
use crate::render::Format;
use client::{AdminClient, server_error};

#[derive(Parser, Debug)]
#[command(
    about = "Serve this binary's model graphs over HTTP, write their config, and operate a running server",
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
    Serve(Box<ServeArgs>),
    /// Write the config of every graph, as the code sets it, to edit and serve with; or,
    /// with --target kubernetes, the manifests and Dockerfile that run it split
    Build {
        /// Write it to this file (a folder for --target kubernetes) instead of standard
        /// output
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// What to write
        #[arg(long, value_enum, default_value = "config")]
        target: BuildTarget,
        /// Start from this config instead of the code's settings (give several
        /// deployments one `address` to run them in one process)
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The container image the Kubernetes Deployments run [default: BIN:latest]
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
    },
    /// Apply a config to a running server, only what changed, and wait until it has
    /// rolled out; exits non-zero, naming what failed, when any of it was refused,
    /// failed or rolled back
    Deploy {
        /// The config file (as `build` writes it)
        file: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
        /// How long to wait for the new replicas to take over before giving up (the
        /// rollout goes on in the server)
        #[arg(long, value_name = "SECONDS", default_value = "600", value_parser = non_negative)]
        timeout: f64,
    },
    /// Print the state of a running server's graphs and deployments
    Status {
        #[command(flatten)]
        admin: AdminArgs,
        /// Output format
        #[arg(long, short, value_enum, default_value = "yaml")]
        format: StatusFormat,
    },
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
struct AdminArgs {
    /// The server's admin address
    #[arg(long, short, default_value = "http://127.0.0.1:8000")]
    address: String,
    /// The server's admin token, when it has one
    #[arg(long, env = "SERVE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BuildTarget {
    /// The serving config (YAML), with the processes it splits into
    Config,
    /// A Deployment and Service per process (and an autoscaler where the config
    /// autoscales), the config as a ConfigMap, and a Dockerfile
    Kubernetes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StatusFormat {
    Yaml,
    Json,
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Start with this config (as `build` writes it) on top of the code's settings
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: the config's http_options.host, else 127.0.0.1]
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on, 0 picks a free one [default: the config's http_options.port,
    /// else 8000]
    #[arg(long, short)]
    port: Option<u16>,
    /// Ask every admin request but /-/healthz for `Authorization: Bearer TOKEN`; needed
    /// when the admin routes are served on an address that is not loopback
    #[arg(long, env = "SERVE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Serve the admin routes (/-/healthz, /-/status, /-/config...) on 127.0.0.1 at this
    /// port instead of on the main listener (they move to a free loopback port anyway when
    /// --host is not loopback)
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
    /// Seconds to let requests in flight finish, then drain replicas, once the server
    /// stops accepting; what is still running then is cut off and the exit status says
    /// so [default: 30]
    #[arg(long, value_name = "SECONDS", value_parser = non_negative)]
    grace_period: Option<f64>,
    /// Seconds between SIGTERM and no longer accepting connections: meanwhile /-/healthz
    /// answers 503, so load balancers (Kubernetes endpoints) stop sending, and everything
    /// that still comes is served. Ctrl-C, or a second signal, skips what is left of it
    #[arg(long, value_name = "SECONDS", value_parser = non_negative, default_value = "5")]
    drain_delay: f64,
    /// Share the port with the process this one replaces (SO_REUSEPORT): start the new
    /// binary beside the old one, wait until it is ready, then SIGTERM the old one. On
    /// Linux every new connection goes to the newest process on the port
    #[arg(long)]
    reuse_port: bool,
    /// Serve over TLS with this certificate chain (PEM, the server's certificate first);
    /// HTTP/2 and HTTP/1.1 are offered by ALPN
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Run only these deployments (declared `remote = true`), for the graphs' process to
    /// call at the `address` the config gives each; this process then serves their calls
    /// instead of the graphs' routes
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    deployments: Option<Vec<String>>,
    /// Read the secret every process of a split graph shares from this file (its trailing
    /// line break dropped): this process proves its calls with it, and refuses calls
    /// without it (401). Needed to serve --deployments on an address that is not loopback
    #[arg(long, value_name = "FILE", env = "SERVE_CALL_SECRET_FILE")]
    call_secret_file: Option<PathBuf>,
    /// The call secret itself, when not in a file (the environment is the usual place:
    /// a command line is visible to every user of the machine)
    #[arg(
        long,
        env = "SERVE_CALL_SECRET",
        hide_env_values = true,
        conflicts_with = "call_secret_file"
    )]
    call_secret: Option<String>,
    /// Speak mutual TLS with the graph's other processes: this process's certificate
    /// chain (PEM), read again when it changes; addresses are then https://
    #[arg(long, value_name = "FILE", requires_all = ["call_tls_key", "call_tls_ca"])]
    call_tls_cert: Option<PathBuf>,
    /// The private key of --call-tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires_all = ["call_tls_cert", "call_tls_ca"])]
    call_tls_key: Option<PathBuf>,
    /// The CA certificates (PEM) that sign every process's certificate
    #[arg(long, value_name = "FILE", requires_all = ["call_tls_cert", "call_tls_key"])]
    call_tls_ca: Option<PathBuf>,
    /// Log one line per request: its id, route, status and latency
    #[arg(long)]
    access_log: bool,
    /// How log lines are written (RUST_LOG filters them; `serve_runtime=debug` adds a span
    /// per request and per node call)
    #[arg(long, value_enum, default_value = "text")]
    log_format: logs::LogFormat,
    /// Export the request and node spans to this OpenTelemetry collector (OTLP/HTTP, its
    /// base address, e.g. http://localhost:4318)
    #[cfg(feature = "otlp")]
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
}

impl ServeArgs {
    #[cfg(feature = "otlp")]
    fn otlp_endpoint(&self) -> Option<&str> {
        self.otlp_endpoint.as_deref()
    }

    #[cfg(not(feature = "otlp"))]
    fn otlp_endpoint(&self) -> Option<&str> {
        None
    }
}

// No flags of the app's own: what `App::run` parses beside the server's. (A doc comment
// here would become every binary's `--help` description: clap takes an `Args` struct's
// doc comment as the command's `about`.)
#[derive(Args, Debug)]
struct NoFlags {}

fn failure(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
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
        self.run_with(|_: NoFlags, app| Ok(app)).await
    }

    /// [`run`](Self::run), with flags of your own beside the server's: `A` is a
    /// `#[derive(clap::Args)]` struct, accepted with or without the `serve` command and
    /// shown in `--help`. Before serving, `configure` gets them and the app, and returns
    /// the app to serve (an error stops the start, printed like the server's own). The
    /// other commands (`build`, `graph`...) accept the flags but do not call it.
    ///
    /// ```no_run
    /// # use serve_runtime::{App, deployment, graph};
    /// # #[deployment] async fn echo(s: String) -> String { s }
    /// # #[graph] async fn echoing(s: String) -> String { echo(s) }
    /// #[derive(clap::Args)]
    /// struct Flags {
    ///     /// Where the models' weights are
    ///     #[arg(long, default_value = "weights")]
    ///     weights: std::path::PathBuf,
    /// }
    ///
    /// # async fn serve() -> std::process::ExitCode {
    /// App::new()
    ///     .graph(echoing)
    ///     .run_with(|flags: Flags, app| {
    ///         println!("weights from {}", flags.weights.display());
    ///         Ok(app)
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn run_with<A, F>(self, configure: F) -> ExitCode
    where
        A: Args + FromArgMatches,
        F: FnOnce(A, App) -> Result<App, Error>,
    {
        // A binary's own flags join the server's; the doc comment of their struct may
        // describe the binary, never the `serve` command.
        let command =
            A::augment_args(Cli::command().name(bin_name())).mut_subcommand("serve", |serve| {
                let about = serve.get_about().cloned();
                let serve = A::augment_args(serve);
                match about {
                    Some(about) => serve.about(about),
                    None => serve,
                }
            });
        let matches = command.get_matches();
        let cli = match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        // The flags sit on the command line itself, or on `serve`.
        let own = match matches.subcommand() {
            Some(("serve", serve)) => A::from_arg_matches(serve),
            _ => A::from_arg_matches(&matches),
        };
        let flags = match own {
            Ok(flags) => flags,
            Err(e) => e.exit(),
        };
        let serving = matches!(cli.command, None | Some(Command::Serve(_)));
        let app = if serving {
            match configure(flags, self) {
                Ok(app) => app,
                Err(e) => return failure(&e),
            }
        } else {
            self
        };
        match app.dispatch(cli).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failure(&e),
        }
    }

    async fn dispatch(self, cli: Cli) -> Result<(), Error> {
        match cli.command {
            None => self.serve_until_signal(cli.serve).await,
            Some(Command::Serve(args)) => self.serve_until_signal(*args).await,
            Some(Command::Build {
                output,
                target,
                config,
                image,
            }) => {
                let app = match &config {
                    Some(path) => self.config(ServeConfig::load(path)?),
                    None => self,
                };
                match target {
                    BuildTarget::Config => {
                        let text = app
                            .build_config()
                            .map_err(|e| Error::Config(e.to_string()))?;
                        match output {
                            None => print!("{text}"),
                            Some(path) => write_file(&path, &text)?,
                        }
                    }
                    BuildTarget::Kubernetes => {
                        let Some(dir) = output else {
                            return Err(Error::Config(
                                "--target kubernetes writes several files: give a folder with -o DIR".into(),
                            ));
                        };
                        let cluster = app.build_kubernetes(image)?;
                        let files = crate::kubernetes::render(&cluster);
                        std::fs::create_dir_all(&dir).map_err(|e| {
                            Error::Config(format!("could not create `{}`: {e}", dir.display()))
                        })?;
                        for (name, text) in &files {
                            write_file(&dir.join(name), text)?;
                        }
                        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
                        let secret = crate::kubernetes::create_secret(&cluster)
                            .map(|c| format!(", create the call secret once (`{c}`)"))
                            .unwrap_or_default();
                        println!(
                            "wrote {} to {}; build the image with the Dockerfile there{secret}, then `kubectl apply -f {}`",
                            names.join(", "),
                            dir.display(),
                            dir.display()
                        );
                    }
                }
                Ok(())
            }
            Some(Command::Deploy {
                file,
                admin,
                timeout,
            }) => deploy(&file, &admin, std::time::Duration::from_secs_f64(timeout)).await,
            Some(Command::Status { admin, format }) => {
                let client = AdminClient::new(&admin.address, admin.admin_token)?;
                let apps = client.get_json("/-/applications").await?;
                match format {
                    StatusFormat::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&apps).expect("JSON values serialise")
                    ),
                    StatusFormat::Yaml => print!("{}", crate::yaml::to_yaml(&apps)),
                }
                Ok(())
            }
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
        let logs = logs::init(args.log_format, args.otlp_endpoint())?;
        registry::check_unique_names()?;
        let mut app = match args.admin_port {
            Some(port) => self.admin_addr((std::net::Ipv4Addr::LOCALHOST, port).into()),
            None => self,
        };
        if let Some(path) = &args.config {
            app = app.config(ServeConfig::load(path)?);
        }
        if let Some(token) = args.admin_token.filter(|t| !t.is_empty()) {
            app = app.admin_token(token);
        }
        if args.access_log {
            app = app.access_log(true);
        }
        if args.reuse_port {
            app = app.reuse_port(true);
        }
        if let Some(path) = &args.call_secret_file {
            app = app.call_secret(CallSecret::from_file(path)?);
        } else if let Some(secret) = args.call_secret.filter(|s| !s.is_empty()) {
            app = app.call_secret(CallSecret::new(secret)?);
        }
        if let (Some(cert), Some(key), Some(ca)) =
            (&args.call_tls_cert, &args.call_tls_key, &args.call_tls_ca)
        {
            app = app.call_tls(CallTls::new(cert, key, ca));
        }
        let serving = args.deployments.filter(|n| !n.is_empty());
        if let Some(names) = &serving {
            app = app.deployments(names.clone());
        }
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            app = app.tls(cert, key);
        }
        // The command line wins over the config, which wins over the defaults.
        let http = app
            .settings()
            .map_err(|e| Error::Config(e.to_string()))?
            .http;
        let host = args
            .host
            .or(http.host)
            .unwrap_or_else(|| yaml::DEFAULT_HOST.to_owned());
        let port = args.port.or(http.port).unwrap_or(yaml::DEFAULT_PORT);
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
        let server = app.bind((host.as_str(), port)).await?;
        let routes: Vec<String> = server
            .routes()
            .iter()
            .map(|(prefix, graph)| format!("POST {prefix} -> {graph}"))
            .collect();
        let admin = format!("  dashboard: {}/-/dashboard", server.admin_url());
        match &serving {
            None => tracing::info!(
                "ready on {}  routes: {}{admin}",
                server.url(),
                routes.join(", ")
            ),
            Some(names) => tracing::info!(
                "ready on {}  running {} for other processes (POST /-/call/...){admin}",
                server.url(),
                names.join(", ")
            ),
        }
        let mut signals = Signals::new()?;
        if signals.next().await == Signal::Terminate && args.drain_delay > 0.0 {
            server.drain();
            tracing::info!(
                "draining: /-/healthz answers 503; accepting and serving for {} s more (a second signal ends that)",
                args.drain_delay
            );
            let delay = std::time::Duration::from_secs_f64(args.drain_delay);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = signals.next() => {}
            }
        }
        tracing::info!("shutting down: accepting no more, finishing in-flight requests");
        let stopped = server.shutdown().await;
        logs.finish().await;
        stopped
    }
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text)
        .map_err(|e| Error::Config(format!("could not write `{}`: {e}", path.display())))
}

/// Whether the running binary is a Cargo example (`target/<profile>/examples/NAME`),
/// which a Dockerfile builds with `--example` rather than `--bin`.
pub(crate) fn is_example() -> bool {
    std::env::current_exe().is_ok_and(|exe| {
        exe.parent()
            .and_then(|dir| dir.file_name())
            .is_some_and(|dir| dir == "examples")
    })
}

/// The running binary's name, as the commands it prints should name it.
pub(crate) fn bin_name() -> String {
    std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "serve".to_owned())
}

/// Checks a config here (so a typo needs no server), sends it, prints what changed, and
/// waits for the rollout; the server's own refusals come back with their lines and are
/// shown against the file.
async fn deploy(
    file: &std::path::Path,
    admin: &AdminArgs,
    timeout: std::time::Duration,
) -> Result<(), Error> {
    let config = ServeConfig::load(file)?;
    let client = AdminClient::new(&admin.address, admin.admin_token.clone())?;
    let (status, body) = client
        .call(Method::PUT, "/-/config", Some(config.text().to_owned()))
        .await?;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status.is_success() {
        if let Some(message) = json.get("message").and_then(|m| m.as_str()) {
            println!("{message}");
        }
        for change in json["changes"].as_array().into_iter().flatten() {
            println!("  {}", change.as_str().unwrap_or_default());
        }
        let lines = |key: &str| -> Vec<String> {
            let values = json[key].as_array().into_iter().flatten();
            values
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let failed = lines("failed");
        if !failed.is_empty() {
            return Err(Error::Config(format!(
                "part of the config failed:\n  {}",
                failed.join("\n  ")
            )));
        }
        return rollout::watch(&client, &lines("updated"), timeout).await;
    }
    let problems: Option<Vec<Problem>> = json.get("problems").and_then(|p| {
        p.as_array()?
            .iter()
            .map(|p| {
                Some(Problem {
                    line: u32::try_from(p.get("line")?.as_u64()?).ok()?,
                    column: u32::try_from(p.get("column")?.as_u64()?).ok()?,
                    message: p.get("message")?.as_str()?.to_owned(),
                    help: p.get("help").and_then(|h| h.as_str()).map(str::to_owned),
                })
            })
            .collect()
    });
    match problems {
        Some(problems) if !problems.is_empty() => Err(Error::Config(format!(
            "{}\nnothing was applied: the server runs what it ran before",
            ConfigError::new(&file.display().to_string(), config.text(), problems)
        ))),
        _ => Err(Error::Config(server_error(status, &json))),
    }
}

/// The signals that stop a server: SIGTERM (an orchestrator's stop, which drains first)
/// and Ctrl-C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Terminate,
    Interrupt,
}

struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Listens from now on: a signal that comes while the server runs is not lost.
    fn new() -> Result<Self, Error> {
        Ok(Self {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| Error::Config(format!("could not listen for SIGTERM: {e}")))?,
        })
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        let terminate = self.terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Signal::Interrupt,
            _ = terminate => Signal::Terminate,
        }
    }
}
