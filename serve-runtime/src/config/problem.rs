//! Why a config was refused: every problem found, each at its line and column with the
//! line quoted, so the whole list can be fixed in one edit.

use std::fmt;

use serde_saphyr::Location;

/// One thing wrong with a config, where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line; 0 when the problem is not at one place (a missing application).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is a likely fix.
    pub help: Option<String>,
}

impl Problem {
    pub(crate) fn at(location: &Location, message: impl Into<String>) -> Self {
        Self {
            line: location.line() as u32,
            column: location.column() as u32,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

/// A refused config: the problems found, in file order, and the text they point into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    source_name: String,
    text: String,
    problems: Vec<Problem>,
}

impl ConfigError {
    pub(crate) fn new(source_name: &str, text: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| (p.line, p.column));
        Self {
            source_name: source_name.to_owned(),
            text: text.to_owned(),
            problems,
        }
    }

    /// Every problem found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "{} was refused ({count} problem{}):",
            self.source_name,
            if count == 1 { "" } else { "s" }
        )?;
        let lines: Vec<&str> = self.text.lines().collect();
        for p in &self.problems {
            writeln!(f)?;
            if p.line == 0 {
                write!(f, "  {}", p.message)?;
            } else {
                write!(f, "  line {}, column {}: {}", p.line, p.column, p.message)?;
                if let Some(text) = lines.get(p.line as usize - 1) {
                    let caret = " ".repeat(p.column.saturating_sub(1) as usize);
                    write!(f, "\n    | {text}\n    | {caret}^")?;
                }
            }
            if let Some(help) = &p.help {
                write!(f, "\n    help: {help}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The known name closest to `name`, if one is close enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        let score = strsim::jaro_winkler(&name.to_lowercase(), &candidate.to_lowercase());
        // Ties go to the first candidate, in the order the caller lists them.
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" for a name that is not one of `known`, else the list of choices.
pub(crate) fn suggest(name: &str, known: &[&str]) -> String {
    match closest(name, known.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None if known.is_empty() => "there is none to choose from".to_owned(),
        None => format!(
            "expected one of {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_closest_name_and_a_stranger_gets_the_list() {
        let known = ["num_replicas", "max_ongoing_requests", "num_cpus"];
        assert_eq!(closest("num_replica", known), Some("num_replicas"));
        assert_eq!(closest("nm_cpus", known), Some("num_cpus"));
        assert_eq!(closest("colour", known), None);
        assert_eq!(
            suggest("colour", &known),
            "expected one of `num_replicas`, `max_ongoing_requests`, `num_cpus`"
        );
    }
}
