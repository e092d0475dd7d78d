//! The content-understanding example end to end: real HTTP requests over loopback to the
//! graph served in this process and to the example binary, and the graph called
//! in-process. The binary's command line and its behaviour under hostile input are in
//! `example_binary.rs`.

#[path = "../content_understanding/pipeline/mod.rs"]
mod pipeline;

mod common;

use common::{Example, ImageServer, assert_error, classify, file_url, image_path, ok, response};
use http::StatusCode;
use pipeline::download::{MAX_DOWNLOAD_BYTES, Quoted};
use pipeline::report::Report;
use serde_json::json;
use serve_runtime::{App, Server};
use std::net::SocketAddr;
use tokio::net::TcpListener;

async fn serve() -> Server {
    App::new()
        .graph(pipeline::content_understanding)
        .bind("127.0.0.1:0")
        .await
        .expect("the example graph starts")
}

/// The example binary, allowed to fetch from this machine so tests can serve it images.
async fn binary_allowing_private_hosts() -> Example {
    Example::start(&[("CONTENT_ALLOW_PRIVATE_HOSTS", "1".to_owned())]).await
}

async fn report(addr: SocketAddr, url: &str, category: &str) -> Report {
    let (status, body) = classify(addr, url, category).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("the body is a report")
}

// ---- served in this process -------------------------------------------------------------

#[tokio::test]
async fn a_file_url_is_classified_by_the_categorys_classifier() {
    let server = serve().await;
    let leaf = report(server.local_addr(), &file_url("leaf.png"), "plant").await;
    assert_eq!(leaf.label.classifier, "plant");
    assert_eq!(leaf.label.name, "leaf");
    assert!(leaf.label.confidence > 0.5, "{leaf:?}");
    assert_eq!((leaf.width, leaf.height), (96, 96));
    assert!(leaf.foreground > 0.3 && leaf.foreground < 1.0, "{leaf:?}");
    assert!(leaf.sharpness > 0.1 && leaf.sharpness <= 1.0, "{leaf:?}");
    assert!(leaf.warnings.is_empty(), "{:?}", leaf.warnings);
    assert_eq!(leaf.models.segmentation, "weights/seg.bin");
    assert_eq!(leaf.models.integrity, "weights/int.bin");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_dispatcher_picks_the_classifier_by_category() {
    let server = serve().await;
    let car = file_url("car.png");
    for (category, classifier) in [
        ("car", "car"),
        ("fruit", "fruit"),
        (" Plant ", "plant"),
        ("animal", "general"),
        ("", "general"),
    ] {
        let answer = report(server.local_addr(), &car, category).await;
        assert_eq!(answer.label.classifier, classifier, "category `{category}`");
        assert_eq!((answer.width, answer.height), (128, 96));
    }
    let answer = report(server.local_addr(), &car, "car").await;
    assert_eq!(answer.label.name, "silver car");
}

#[tokio::test]
async fn a_missing_file_fails_in_the_downloader_naming_the_path() {
    let server = serve().await;
    let missing = image_path("no-such-image.png");
    let answer = classify(server.local_addr(), &format!("file://{missing}"), "plant").await;
    assert_eq!(answer.1["code"], "node_failed");
    assert_error(
        answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("Downloader"),
        &[
            &format!("cannot read `{}`", Quoted::new(&missing)),
            "No such file",
        ],
    );
}

#[tokio::test]
async fn files_outside_the_root_are_refused_alike_whether_they_exist_or_not() {
    let server = serve().await;
    let outside = format!("{}/../tests/content_understanding.rs", image_path(""));
    for path in [outside.as_str(), "/etc/passwd", "/no/such/file.png"] {
        let answer = classify(server.local_addr(), &format!("file://{path}"), "plant").await;
        assert_error(
            answer,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &[&format!(
                "`{}` is outside the folder this server reads files from",
                Quoted::new(path)
            )],
        );
    }
}

#[tokio::test]
async fn a_request_of_the_wrong_shape_is_a_400_naming_the_field() {
    let server = serve().await;
    let addr = server.local_addr();
    let answer = common::post(addr, json!({ "image_url": 3, "category": "plant" })).await;
    assert_eq!(answer.1["code"], "bad_request");
    assert_error(
        answer,
        StatusCode::BAD_REQUEST,
        None,
        &["field `image_url`", "expected a string"],
    );
    let answer = common::post(addr, json!({ "image_url": file_url("leaf.png") })).await;
    assert_error(
        answer,
        StatusCode::BAD_REQUEST,
        None,
        &["missing field `category`"],
    );
}

#[tokio::test]
async fn a_bad_image_url_is_a_400_quoting_at_most_its_start() {
    let server = serve().await;
    let long = format!("http://example.com/{}.png", "a".repeat(5000));
    let cases = [
        (long.as_str(), "5023 bytes long, over the limit of 2048"),
        (
            "gopher://example.com/leaf.png",
            "only http://, https:// and file:// URLs are supported",
        ),
        ("file://leaf.png", "has no absolute path"),
        ("http://exa mple/leaf.png", "invalid URL"),
    ];
    for (url, reason) in cases {
        let answer = classify(server.local_addr(), url, "plant").await;
        assert_eq!(answer.1["code"], "bad_request");
        let message = answer.1["error"].as_str().unwrap().to_owned();
        assert_error(answer, StatusCode::BAD_REQUEST, None, &[reason]);
        assert!(message.len() < 250, "{message}");
    }
}

#[tokio::test]
async fn an_in_process_call_gives_the_same_report_as_http() -> Result<(), serve_runtime::Error> {
    let url = file_url("car.png");
    let graph = serve_runtime::start(pipeline::content_understanding).await?;
    let in_process = graph.call((url.clone(), "car".to_owned())).await?;
    let server = serve().await;
    assert_eq!(in_process, report(server.local_addr(), &url, "car").await);
    Ok(())
}

// ---- http:// URLs, through the binary with CONTENT_ALLOW_PRIVATE_HOSTS=1 ------------------
//
// The graph reads the switch from the environment when it starts; the binary gets it from
// its own, so these tests need not change this process's.

#[tokio::test]
async fn an_http_url_gives_the_same_report_as_the_file() {
    let apple = std::fs::read(image_path("apple.jpg")).unwrap();
    let images = ImageServer::start(vec![("/apple.jpg", ok(&apple))]).await;
    let example = binary_allowing_private_hosts().await;
    let url = format!("http://{}/apple.jpg", images.addr);
    let over_http = report(example.addr, &url, "fruit").await;
    let from_file = report(example.addr, &file_url("apple.jpg"), "fruit").await;
    assert_eq!(over_http, from_file);
    assert_eq!(over_http.label.name, "apple");
    let bbox = over_http.bbox.expect("the apple stands out from the white");
    assert!(bbox.x > 0 && bbox.x + bbox.width < 96, "{bbox:?}");
}

#[tokio::test]
async fn undecodable_bytes_fail_in_the_preprocessor() {
    let images = ImageServer::start(vec![("/notes.txt", ok(b"this is not an image"))]).await;
    let example = binary_allowing_private_hosts().await;
    let url = format!("http://{}/notes.txt", images.addr);
    assert_error(
        classify(example.addr, &url, "plant").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("Preprocessor"),
        &["cannot decode the 20 downloaded bytes as a PNG or JPEG image"],
    );
}

#[tokio::test]
async fn http_failures_name_the_url_and_the_cause() {
    let images = ImageServer::start(vec![]).await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let example = binary_allowing_private_hosts().await;
    let cases = [
        (
            format!("http://{}/gone.png", images.addr),
            "answered 404 Not Found; expected a 2xx status",
        ),
        (format!("http://{closed}/leaf.png"), "Connection refused"),
    ];
    for (url, cause) in cases {
        assert_error(
            classify(example.addr, &url, "plant").await,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &[&format!("`{url}`"), cause],
        );
    }
}

#[tokio::test]
async fn downloads_over_the_limit_are_refused() {
    let over = MAX_DOWNLOAD_BYTES + 1;
    let images = ImageServer::start(vec![
        ("/declared", response("200 OK", Some(over), b"")),
        (
            "/streamed",
            response("200 OK", None, &vec![0; over as usize]),
        ),
    ])
    .await;
    let example = binary_allowing_private_hosts().await;
    for path in ["/declared", "/streamed"] {
        let url = format!("http://{}{path}", images.addr);
        assert_error(
            classify(example.addr, &url, "car").await,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &[&format!(
                "larger than the download limit of {MAX_DOWNLOAD_BYTES} bytes"
            )],
        );
    }
}

/// The general classifier is EfficientNet-Lite0 on ImageNet: the two photos get the
/// classes the network gives them (recorded from it), with the probabilities it gives.
#[tokio::test]
async fn the_general_classifier_names_what_the_photos_show() {
    let server = serve().await;
    let cases = [
        (
            "chelsea.png",
            "Egyptian cat",
            &["tiger cat", "tabby", "lynx"][..],
        ),
        ("coffee.png", "espresso", &["cup", "coffee mug"][..]),
    ];
    for (image, top1, also) in cases {
        let r = report(server.local_addr(), &file_url(image), "photo").await;
        let label = &r.label;
        assert_eq!(
            (label.classifier.as_str(), label.name.as_str()),
            ("general", top1),
            "{label:?}"
        );
        assert!(label.confidence > 0.5, "{label:?}");
        assert_eq!(label.top.len(), 5, "{label:?}");
        assert_eq!(label.top[0].score, label.confidence);
        assert!(
            label.top.windows(2).all(|w| w[0].score >= w[1].score),
            "best first: {label:?}"
        );
        let names: Vec<&str> = label.top.iter().map(|s| s.name.as_str()).collect();
        for name in also {
            assert!(names.contains(name), "{image}: {name} not in {names:?}");
        }
    }
    // The specialists are stand-ins and list no classes.
    let fruit = report(server.local_addr(), &file_url("apple.jpg"), "fruit").await;
    assert!(fruit.label.top.is_empty(), "{fruit:?}");
    server.shutdown().await.unwrap();
}
