//! One mistake, one error: every compile-fail case holds one `error` headline, except the
//! cases listed here, each with the reason it has more.

use std::path::Path;

/// Cases with several headlines, and why.
const SEVERAL: &[(&str, &str)] = &[
    (
        "graph/fail/grpc_not_a_message.stderr",
        "a type that is not a protobuf message lacks both `prost::Message` and the `Default` its derive gives; rustc reports each, both on the parameter with the same words",
    ),
    (
        "graph/fail/handles_in_wrong_order.stderr",
        "two handles swapped: each argument is of the wrong type, and each says which it should be",
    ),
    (
        "graph/fail/grpc_options.stderr",
        "three gRPC graphs, each wrong in its own way",
    ),
    (
        "deployment/fail/batch_options.stderr",
        "three `#[batch]` options, each wrong in its own way",
    ),
    (
        "deployment/fail/batch_signatures.stderr",
        "four `#[batch]` methods, each with its own wrong signature",
    ),
    (
        "deployment/fail/borrowed_values.stderr",
        "three borrows: a `&str` argument, a borrowed result, a `&[u32]` argument",
    ),
    (
        "deployment/fail/autoscaling_config.stderr",
        "one case per autoscaling rule, each its own mistake",
    ),
    (
        "deployment/fail/duplicate_option.stderr",
        "the second headline is the first definition's span: a proc macro cannot attach a note to another span on stable",
    ),
    (
        "deployment/fail/executor_and_health_options.stderr",
        "three separate wrong options",
    ),
    (
        "deployment/fail/hook_signatures.stderr",
        "two hooks, each with its own wrong signature",
    ),
    (
        "deployment/fail/multiplexed_signatures.stderr",
        "two deployments: a loader that takes a `u64` id, and a `Loaded<M>` with no loader",
    ),
    (
        "deployment/fail/not_shareable.stderr",
        "two deployments: one holds a `RefCell`, the other an `Rc`",
    ),
    (
        "deployment/fail/option_types.stderr",
        "three options, each of the wrong type",
    ),
    (
        "deployment/fail/ray_option_names.stderr",
        "five Ray option names, each pointed to ours",
    ),
    (
        "deployment/fail/reconfigure_signatures.stderr",
        "three `reconfigure`s, each wrong in its own way",
    ),
    (
        "graph/fail/binding_options.stderr",
        "four bindings, each with its own wrong option",
    ),
    (
        "graph/fail/duplicate_name.stderr",
        "the second headline is the first definition's span (see duplicate_option)",
    ),
    (
        "graph/fail/other_statements.stderr",
        "two statements a graph cannot run",
    ),
];

#[test]
fn each_mistake_is_one_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut problems = Vec::new();
    let mut seen = 0;
    for kind in ["deployment", "graph"] {
        let dir = root.join(kind).join("fail");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "stderr") {
                continue;
            }
            seen += 1;
            let name = format!(
                "{kind}/fail/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let headlines = text.lines().filter(|l| l.starts_with("error")).count();
            let listed = SEVERAL.iter().any(|(case, _)| *case == name);
            match (headlines, listed) {
                (0, _) => problems.push(format!("{name}: no error at all")),
                (1, true) => problems.push(format!("{name}: now one error; take it off the list")),
                (1, false) | (_, true) => {}
                (n, false) => problems.push(format!("{name}: {n} errors for one mistake")),
            }
            for line in text.lines().filter(|l| l.starts_with("error")) {
                if line.contains("__private") || line.contains("__serve_") {
                    problems.push(format!("{name}: an internal name in `{line}`"));
                }
            }
        }
    }
    assert!(seen > 30, "the cases were found ({seen})");
    for (case, _) in SEVERAL {
        assert!(
            root.join(case).exists(),
            "{case} is listed but does not exist"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Cases whose mistake is an attribute itself (one put where it does not belong), so the
/// error points at it.
const ON_ATTRIBUTE: &[&str] = &["deployment/fail/batch_on_new.stderr"];

/// Rustc's primary span is the user's token: the first `-->` of a case may point at an
/// attribute's `#` only when the attribute is the mistake. An option inside an attribute
/// is a token of its own.
#[test]
fn the_first_span_is_on_the_users_token() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut problems = Vec::new();
    for kind in ["deployment", "graph"] {
        for entry in std::fs::read_dir(root.join(kind).join("fail")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "stderr") {
                continue;
            }
            let name = format!(
                "{kind}/fail/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let Some(first) = text
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("--> "))
            else {
                continue;
            };
            // `tests/graph/fail/case.rs:LINE:COLUMN`
            let mut parts = first.rsplitn(3, ':');
            let column: usize = parts.next().unwrap().parse().unwrap();
            let line: usize = parts.next().unwrap().parse().unwrap();
            let file = parts.next().unwrap();
            let source = std::fs::read_to_string(root.parent().unwrap().join(file)).unwrap();
            let at = source.lines().nth(line - 1).unwrap_or_default();
            let on_hash = at.chars().nth(column - 1) == Some('#');
            if on_hash && !ON_ATTRIBUTE.contains(&name.as_str()) {
                problems.push(format!(
                    "{name}: the first error points at an attribute: `{}`",
                    at.trim()
                ));
            }
        }
    }
    for case in ON_ATTRIBUTE {
        assert!(
            root.join(case).exists(),
            "{case} is listed but does not exist"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
