//! JSON values written as block-style YAML: the Kubernetes manifests, what `status`
//! prints, and the scalars of the config file `build` writes.
//!
//! A multi-line string (a ConfigMap carries a whole config file as one) is written as a
//! literal block (`|`), so it stays a file an operator can read and diff, not one quoted
//! line of `\n`s. And kubectl (go-yaml) and most checkers (PyYAML) read YAML 1.1, where
//! plain `0x1f`, `1_000`, `2024-01-01` or `on` are not strings, and all of these are valid
//! Kubernetes names or label values; so a string is left plain only when it starts with a
//! letter or `/` and uses the few characters a name, path or label key needs.

#[cfg(test)]
mod tests;

use std::fmt::Write;

use serde_json::Value;

/// `value` as YAML, ending in a newline. Objects keep their keys' order (the crate's
/// serde_json preserves insertion order), so `apiVersion` and `kind` come first.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    block(&mut out, value, 0);
    out
}

fn block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let _ = write!(out, "{:indent$}{}:", "", scalar(key));
                nested(out, v, indent + 2);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for v in items {
                item(out, v, indent);
            }
        }
        other => {
            let _ = writeln!(out, "{:indent$}{}", "", inline(other));
        }
    }
}

/// One item of a sequence whose dashes are at `indent`. A mapping or sequence starts on
/// the dash's line (`- name: x`), as people write it: its first line is written indented
/// by two, and those two spaces become the dash.
fn item(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(m) if !m.is_empty() => compact(out, value, indent),
        Value::Array(a) if !a.is_empty() => compact(out, value, indent),
        other => {
            let _ = write!(out, "{:indent$}-", "");
            nested(out, other, indent + 2);
        }
    }
}

fn compact(out: &mut String, value: &Value, indent: usize) {
    let mut lines = String::new();
    block(&mut lines, value, indent + 2);
    let _ = write!(out, "{:indent$}- {}", "", &lines[indent + 2..]);
}

/// What follows a key's colon or a sequence's dash; `indent` is where its lines start.
fn nested(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(out, value, indent);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(out, value, indent);
        }
        Value::String(s) if literal_block_fits(s) => literal(out, s, indent),
        other => {
            let _ = writeln!(out, " {}", inline(other));
        }
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::String(s) => scalar(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        // Integers, booleans and null read back the same in every YAML. (A float such as
        // 1e300 would not in YAML 1.1; manifests hold none.)
        other => other.to_string(),
    }
}

/// A multi-line string as `|`, `|-` or `|+` (the chomping indicator keeps the string's
/// trailing newlines exact), its lines at `indent`. Empty lines are written without
/// spaces, so no line ends in spaces that were not in the string.
fn literal(out: &mut String, s: &str, indent: usize) {
    let chomp = match s.strip_suffix('\n') {
        None => "-",
        Some(rest) if rest.ends_with('\n') => "+",
        Some(_) => "",
    };
    let _ = writeln!(out, " |{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{:indent$}{line}", "");
        }
    }
}

/// Whether a literal block reads back as `s`: it must span lines; its first character
/// must not be white space, which would be taken for indentation; and it may hold no
/// carriage return or other line break (read as `\n`) and nothing YAML cannot print.
fn literal_block_fits(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars()
            .all(|c| c == '\n' || c == '\t' || !needs_escape(c))
}

/// `s` as a YAML scalar that every reader takes back as the same string: plain when that
/// is safe, else double-quoted.
pub(crate) fn scalar(s: &str) -> String {
    if is_plain(s) {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

/// Strings every YAML reader, 1.1 or 1.2, takes as the same string when left unquoted.
fn is_plain(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        )
}

/// A double-quoted YAML string. Not JSON's quoting: JSON leaves DEL, C1 controls and the
/// Unicode line separators raw, which YAML rejects or folds into spaces.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that cannot stand raw in a YAML scalar: outside YAML's printable set, or
/// read as a line break (NEL, LS, PS), or a byte-order mark.
fn needs_escape(c: char) -> bool {
    c < ' '
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}
