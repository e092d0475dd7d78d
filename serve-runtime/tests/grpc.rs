//! A graph served as a gRPC method: called with a tonic client, its errors as gRPC
//! statuses, the `grpc.health.v1` health service and server reflection beside it.

mod common;

use std::time::Duration;

use common::Bounded;
use prost::Message;
use serve_runtime::{App, Server, deployment, graph};
use tonic::Code;
use tonic::transport::Channel;

#[derive(Clone, PartialEq, Message)]
pub struct ClassifyRequest {
    #[prost(string, tag = "1")]
    pub text: String,
    /// How long the classifier takes.
    #[prost(uint32, tag = "2")]
    pub delay_ms: u32,
    #[prost(bool, tag = "3")]
    pub fail: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct ClassifyReply {
    #[prost(string, tag = "1")]
    pub label: String,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

#[deployment(max_ongoing_requests = 1, max_queued_requests = 0)]
#[derive(Default)]
struct Classifier;

#[deployment]
impl Classifier {
    async fn classify(&self, request: ClassifyRequest) -> Result<ClassifyReply, String> {
        tokio::time::sleep(Duration::from_millis(request.delay_ms.into())).await;
        if request.fail {
            return Err("the model refused the input".into());
        }
        Ok(ClassifyReply {
            label: request.text.to_uppercase(),
            length: request.text.len() as u32,
        })
    }
}

#[graph(grpc = "test.v1.Classifier/Classify", request_timeout_ms = 2000)]
async fn classify(request: ClassifyRequest) -> ClassifyReply {
    let c = Classifier::bind();
    c.classify(request)
}

/// The method's descriptor, as `protox` or `protoc` would write it for
/// `package test.v1; service Classifier { rpc Classify(ClassifyRequest) returns (ClassifyReply); }`.
fn descriptor_set(method: &str) -> Vec<u8> {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
        MethodDescriptorProto, ServiceDescriptorProto,
    };
    let field = |name: &str, number: i32, ty: Type| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        json_name: Some(name.into()),
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("test/v1/classifier.proto".into()),
        package: Some("test.v1".into()),
        syntax: Some("proto3".into()),
        message_type: vec![
            DescriptorProto {
                name: Some("ClassifyRequest".into()),
                field: vec![
                    field("text", 1, Type::String),
                    field("delay_ms", 2, Type::Uint32),
                    field("fail", 3, Type::Bool),
                ],
                ..Default::default()
            },
            DescriptorProto {
                name: Some("ClassifyReply".into()),
                field: vec![
                    field("label", 1, Type::String),
                    field("length", 2, Type::Uint32),
                ],
                ..Default::default()
            },
        ],
        service: vec![ServiceDescriptorProto {
            name: Some("Classifier".into()),
            method: vec![MethodDescriptorProto {
                name: Some(method.into()),
                input_type: Some(".test.v1.ClassifyRequest".into()),
                output_type: Some(".test.v1.ClassifyReply".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }.encode_to_vec()
}

async fn serve() -> Server {
    let descriptors: &'static [u8] = descriptor_set("Classify").leak();
    App::new()
        .grpc(classify)
        .file_descriptor_set(descriptors)
        .bind("127.0.0.1:0")
        .bounded()
        .await
        .unwrap()
}

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .bounded()
        .await
        .unwrap()
}

/// One call of `path` with `request`, decoded as `Reply`.
async fn call<Request: Message + 'static, Reply: Message + Default + 'static>(
    channel: &Channel,
    path: &'static str,
    request: tonic::Request<Request>,
) -> Result<tonic::Response<Reply>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(path),
        tonic_prost::ProstCodec::default(),
    )
    .await
}

async fn classify_call(
    channel: &Channel,
    request: ClassifyRequest,
) -> Result<ClassifyReply, tonic::Status> {
    call(
        channel,
        "/test.v1.Classifier/Classify",
        tonic::Request::new(request),
    )
    .bounded()
    .await
    .map(tonic::Response::into_inner)
}

fn text(text: &str) -> ClassifyRequest {
    ClassifyRequest {
        text: text.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_graph_answers_as_a_grpc_method() {
    let server = serve().await;
    let channel = channel(&server).await;
    let reply = classify_call(&channel, text("tabby cat")).await.unwrap();
    assert_eq!(
        reply,
        ClassifyReply {
            label: "TABBY CAT".into(),
            length: 9
        }
    );
    // Many calls on one HTTP/2 connection, one after another.
    for word in ["a", "bb", "ccc"] {
        let reply = classify_call(&channel, text(word)).await.unwrap();
        assert_eq!(reply.length as usize, word.len());
    }
    // The route table shows the method's path.
    assert!(
        server
            .routes()
            .iter()
            .any(|(path, graph)| path == "/test.v1.Classifier/Classify" && graph == "classify"),
        "{:?}",
        server.routes()
    );
    server.shutdown().bounded().await.unwrap();
}

#[tokio::test]
async fn errors_are_grpc_statuses() {
    let server = serve().await;
    let channel = channel(&server).await;

    // Bytes that are not a `ClassifyRequest` (field 1 a string that is not UTF-8).
    let garbage = call::<Garbage, ClassifyReply>(
        &channel,
        "/test.v1.Classifier/Classify",
        tonic::Request::new(Garbage {
            bytes: vec![0xff, 0xfe],
        }),
    )
    .bounded()
    .await
    .unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    assert!(
        garbage
            .message()
            .contains("not a valid `ClassifyRequest` message"),
        "{garbage:?}"
    );

    // The node failed: INTERNAL, with the deployment named.
    let failed = classify_call(
        &channel,
        ClassifyRequest {
            fail: true,
            ..text("x")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(failed.code(), Code::Internal, "{failed:?}");
    assert!(failed.message().contains("`Classifier`"), "{failed:?}");
    assert!(failed.message().contains("the model refused"), "{failed:?}");
    assert_eq!(
        failed.metadata().get("serve-deployment").unwrap(),
        "Classifier"
    );

    // The client's deadline is kept when it is sooner than the graph's. (tonic's client
    // would time the call out itself, so the call is made by hand.)
    let slow = ClassifyRequest {
        delay_ms: 1_000,
        ..text("x")
    };
    let (code, message) = by_hand(&server, "100m", &slow).bounded().await;
    assert_eq!(code, Code::DeadlineExceeded as i32, "{message}");
    assert!(message.contains("within 100 ms"), "{message}");

    // One replica, one slot, no queue: a second call while one runs is refused.
    let busy = {
        let channel = channel.clone();
        tokio::spawn(async move {
            classify_call(
                &channel,
                ClassifyRequest {
                    delay_ms: 500,
                    ..text("first")
                },
            )
            .await
        })
    };
    common::eventually("the first call holds the replica", || {
        server.status()[0].deployments[0].replicas[0].ongoing == 1
    })
    .await;
    let refused = classify_call(&channel, text("second")).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("overloaded"), "{refused:?}");
    assert_eq!(busy.await.unwrap().unwrap().label, "FIRST");

    // The graph's own timeout, when the client gives none.
    let timed_out = classify_call(
        &channel,
        ClassifyRequest {
            delay_ms: 5_000,
            ..text("x")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(timed_out.code(), Code::DeadlineExceeded, "{timed_out:?}");
    assert!(
        timed_out.message().contains("within 2000 ms"),
        "{timed_out:?}"
    );

    // A method the server does not have.
    let unknown = call::<_, ClassifyReply>(
        &channel,
        "/test.v1.Classifier/Nope",
        tonic::Request::new(text("x")),
    )
    .bounded()
    .await
    .unwrap_err();
    assert_ne!(unknown.code(), Code::Ok);
    server.shutdown().bounded().await.unwrap();
}

/// One unary call over a bare HTTP/2 connection with a `grpc-timeout` header: the
/// `grpc-status` and `grpc-message` the server answers with.
async fn by_hand(server: &Server, timeout: &str, message: &ClassifyRequest) -> (i32, String) {
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let io = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let encoded = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    framed.extend_from_slice(&encoded);
    let request = http::Request::post(format!("{}/test.v1.Classifier/Classify", server.url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(framed)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let trailers = body.collect().await.unwrap().trailers().cloned();
    // An error before any message is "trailers-only": the status is in the headers.
    let fields = trailers.unwrap_or(parts.headers);
    let code = fields["grpc-status"].to_str().unwrap().parse().unwrap();
    let message = fields
        .get("grpc-message")
        .map(|m| percent_decoded(m.to_str().unwrap()))
        .unwrap_or_default();
    (code, message)
}

/// `grpc-message` is percent-encoded.
fn percent_decoded(text: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: String = bytes.by_ref().take(2).map(char::from).collect();
            out.push(u8::from_str_radix(&hex, 16).unwrap());
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).unwrap()
}

/// A message whose field 1 holds bytes, to send what a `string` field cannot hold.
#[derive(Clone, PartialEq, Message)]
pub struct Garbage {
    #[prost(bytes = "vec", tag = "1")]
    pub bytes: Vec<u8>,
}

#[tokio::test]
async fn health_follows_the_server() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = serve().await;
    let mut health = HealthClient::new(channel(&server).await);
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    for service in ["", "test.v1.Classifier"] {
        let mut status = ServingStatus::Unknown;
        common::bounded(async {
            while status != ServingStatus::Serving {
                if let Ok(reply) = health.check(check(service)).await {
                    status = reply.into_inner().status();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    let unknown = health.check(check("other.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // Watching sees the server stop serving once it starts to drain.
    let mut watch = health
        .watch(check("test.v1.Classifier"))
        .bounded()
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().bounded().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    server.drain();
    // The last word of the watch is NOT_SERVING, then it ends, letting the drain finish.
    let next = watch.message().bounded().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    assert!(watch.message().bounded().await.unwrap().is_none());
    // Draining, the server still answers: new work is told to go elsewhere.
    let reply = health.check(check("")).bounded().await.unwrap();
    assert_eq!(reply.into_inner().status(), ServingStatus::NotServing);
    server.shutdown().bounded().await.unwrap();
}

#[tokio::test]
async fn reflection_describes_the_method() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = serve().await;
    let mut client = ServerReflectionClient::new(channel(&server).await);
    let ask = |request: MessageRequest| {
        tokio_stream_once(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        })
    };
    let mut replies = client
        .server_reflection_info(ask(MessageRequest::ListServices(String::new())))
        .bounded()
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list of services");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "test.v1.Classifier"
        ]
    );
    let mut replies = client
        .server_reflection_info(ask(MessageRequest::FileContainingSymbol(
            "test.v1.ClassifyRequest".into(),
        )))
        .bounded()
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a file descriptor");
    };
    let file =
        prost_types::FileDescriptorProto::decode(&files.file_descriptor_proto[0][..]).unwrap();
    assert_eq!(file.name(), "test/v1/classifier.proto");
    server.shutdown().bounded().await.unwrap();
}

/// Why an app did not start.
trait Refused {
    async fn refused(self) -> serve_runtime::Error;
}

impl Refused for App {
    async fn refused(self) -> serve_runtime::Error {
        match self.bind("127.0.0.1:0").bounded().await {
            Ok(_) => panic!("the app started"),
            Err(e) => e,
        }
    }
}

/// One message as a request stream.
fn tokio_stream_once<T: Send + 'static>(item: T) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::once(async move { item })
}

#[tokio::test]
async fn descriptors_that_miss_the_method_stop_the_start() {
    let descriptors: &'static [u8] = descriptor_set("Other").leak();
    let error = App::new()
        .grpc(classify)
        .file_descriptor_set(descriptors)
        .refused()
        .await;
    let message = error.to_string();
    assert!(
        message.contains("do not describe `test.v1.Classifier/Classify` (graph `classify`)")
            && message.contains("they describe `test.v1.Classifier/Other`"),
        "{message}"
    );
    let error = App::new()
        .grpc(classify)
        .file_descriptor_set(b"\xff\xff")
        .refused()
        .await;
    assert!(
        error
            .to_string()
            .contains("is not an encoded `FileDescriptorSet`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_grpc_graph_is_not_an_http_route_and_back() {
    // Served with `App::graph`, a gRPC graph would read protobuf from JSON routes.
    #[derive(Clone, PartialEq, Message, serde::Serialize)]
    pub struct Json {
        #[prost(string, tag = "1")]
        pub text: String,
    }
    #[graph(grpc = "test.v1.Echo/Echo")]
    async fn echo(request: ClassifyRequest) -> Json {
        echoer(request)
    }
    #[deployment]
    async fn echoer(request: ClassifyRequest) -> Json {
        Json { text: request.text }
    }
    let error = App::new().graph(echo).refused().await;
    assert!(
        error.to_string().contains("serve it with `App::grpc`"),
        "{error}"
    );
}
