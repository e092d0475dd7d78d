//! Server reflection (`grpc.reflection.v1` and `v1alpha`, which `grpcurl` and Postman ask
//! for), from the encoded `FileDescriptorSet`s the app was given, checked against the
//! methods its gRPC graphs serve.

use prost::Message;
use prost_types::FileDescriptorSet;

use crate::error::Error;

/// The descriptor sets an app serves reflection from.
#[derive(Clone, Default)]
pub(crate) struct Descriptors {
    sets: Vec<&'static [u8]>,
}

impl Descriptors {
    pub(crate) fn add(&mut self, set: &'static [u8]) {
        self.sets.push(set);
    }

    /// Refuses a set that does not decode, and, when there are sets, a method of a graph
    /// (`/pkg.Service/Method`) they do not describe.
    pub(crate) fn check(&self, methods: &[(String, String)]) -> Result<(), Error> {
        let mut described: Vec<String> = Vec::new();
        for (i, set) in self.sets.iter().enumerate() {
            let set = FileDescriptorSet::decode(*set).map_err(|e| {
                Error::Config(format!(
                    "file descriptor set {} given to `App::file_descriptor_set` is not an encoded `FileDescriptorSet`: {e}",
                    i + 1
                ))
            })?;
            for file in &set.file {
                let package = file.package.as_deref().unwrap_or("");
                for service in &file.service {
                    let name = service.name.as_deref().unwrap_or("");
                    let service_name = if package.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{package}.{name}")
                    };
                    for method in &service.method {
                        described.push(format!(
                            "/{service_name}/{}",
                            method.name.as_deref().unwrap_or("")
                        ));
                    }
                }
            }
        }
        if self.sets.is_empty() {
            return Ok(());
        }
        let missing: Vec<String> = methods
            .iter()
            .filter(|(_, path)| !described.contains(path))
            .map(|(graph, path)| format!("`{}` (graph `{graph}`)", path.trim_start_matches('/')))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "the file descriptor sets given to `App::file_descriptor_set` do not describe {}; they describe {}",
            missing.join(", "),
            if described.is_empty() {
                "no method".to_owned()
            } else {
                described
                    .iter()
                    .map(|m| format!("`{}`", m.trim_start_matches('/')))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )))
    }

    /// The reflection services' routes, and the health service's, to serve beside the
    /// graphs.
    pub(crate) fn routes(&self, health: axum::Router) -> Result<axum::Router, Error> {
        let configure = || {
            let builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            self.sets.iter().fold(builder, |b, set| {
                b.register_encoded_file_descriptor_set(set)
            })
        };
        let broken = |e: tonic_reflection::server::Error| {
            Error::Config(format!(
                "server reflection cannot describe the file descriptor sets: {e}"
            ))
        };
        let v1 = configure().build_v1().map_err(broken)?;
        let v1alpha = configure().build_v1alpha().map_err(broken)?;
        Ok(health
            .route_service("/grpc.reflection.v1.ServerReflection/{*method}", v1)
            .route_service(
                "/grpc.reflection.v1alpha.ServerReflection/{*method}",
                v1alpha,
            ))
    }
}
