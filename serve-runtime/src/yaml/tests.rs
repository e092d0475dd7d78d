//! Strings written by the YAML emitter read back as the same strings.

use serde_json::{Value, json};

use super::to_yaml;

/// Strings YAML 1.1 readers (kubectl's go-yaml, PyYAML) take for numbers, booleans, null
/// or dates when unquoted, though each is a valid name or label value.
const NOT_STRINGS_IN_YAML_1_1: &[&str] = &[
    "0x1f",
    "0o17",
    "0b101",
    "1_000",
    "017",
    "8000",
    "1e3",
    "2024-01-01",
    "12:30",
    "on",
    "Off",
    "y",
    "N",
    "yes",
    "true",
    "null",
    "~",
    ".inf",
    "-.5",
    "+1",
    "",
];

/// Strings that need quoting or care for other reasons.
const AWKWARD: &[&str] = &[
    "a: b",
    "- x",
    "#c",
    "x #c",
    "&anchor",
    "*alias",
    "!tag",
    "%d",
    "@at",
    "`tick`",
    "'q'",
    "\"dq\"",
    "back\\slash",
    "{}",
    "[]",
    "?",
    "|",
    ">",
    " lead",
    "trail ",
    "\t",
    "é ünï 😀",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{ffff}",
    "\x00\x1b",
];

/// Multi-line strings: literal blocks where they read back exactly, quoted where not.
const MULTI_LINE: &[&str] = &[
    "a\nb",
    "a\nb\n",
    "a\nb\n\n",
    "a\n\nb\n",
    "a\n  \n b\n",
    "#a\n---\n...\n",
    "a\n\tb\n",
    " a\nb\n",
    "\na\n",
    "\n",
    "\n\n",
    "a\r\nb\n",
    "a\u{2028}b\n",
    "a \nb  \n",
];

fn read(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn strings_read_back_unchanged_as_values_items_and_keys() {
    let all = NOT_STRINGS_IN_YAML_1_1
        .iter()
        .chain(AWKWARD)
        .chain(MULTI_LINE);
    for s in all {
        let value = json!({ "value": s, "nested": { "items": [s, { "key": s }] }, *s: 1 });
        let text = to_yaml(&value);
        assert_eq!(read(&text), value, "{s:?} written as\n{text}");
    }
}

#[test]
fn strings_yaml_1_1_would_misread_are_quoted() {
    for s in NOT_STRINGS_IN_YAML_1_1 {
        let text = to_yaml(&json!({ "k": s }));
        assert!(text.starts_with("k: \""), "{s:?} written as {text}");
    }
    let names = json!({ "app.kubernetes.io/name": "content-understanding", "path": "/-/healthz" });
    let text = to_yaml(&names);
    assert_eq!(
        text,
        "app.kubernetes.io/name: content-understanding\npath: /-/healthz\n"
    );
}

#[test]
fn multi_line_strings_are_literal_blocks_with_their_trailing_newlines() {
    let text = to_yaml(&json!({ "data": { "clip": "a\nb\n", "strip": "a\nb", "keep": "a\n\n" } }));
    let expected =
        "data:\n  clip: |\n    a\n    b\n  strip: |-\n    a\n    b\n  keep: |+\n    a\n\n";
    assert_eq!(text, expected);
    assert_eq!(to_yaml(&json!(["x\ny\n"])), "- |\n  x\n  y\n");
    assert_eq!(to_yaml(&json!({ "k": " a\nb" })), "k: \" a\\nb\"\n");
}

#[test]
fn mappings_and_sequences_in_a_sequence_start_on_the_dash_line() {
    let value = json!({ "c": [{ "name": "a", "x": [1] }, [1, [2]], "s", { "l": "a\nb\n" }] });
    let text = to_yaml(&value);
    let expected = "c:\n  - name: a\n    x:\n      - 1\n  - - 1\n    - - 2\n  - s\n  - l: |\n      a\n      b\n";
    assert_eq!(text, expected);
    assert_eq!(read(&text), value);
}

#[test]
fn numbers_booleans_null_and_empty_collections_read_back() {
    let value = json!({ "n": 8000, "neg": -1, "t": true, "f": false, "z": null, "o": {}, "a": [] });
    let text = to_yaml(&value);
    assert_eq!(read(&text), value, "{text}");
}
