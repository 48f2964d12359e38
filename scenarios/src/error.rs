//! Errors in user input, pointing at file:line:col (architecture invariant 10: typed here, turned
//! into text and exit code 2 only by the binary).

use std::fmt;
use std::ops::Range;

/// A problem with a scenario (or other input) file.
#[derive(Debug)]
pub enum InputError {
    /// The file could not be read at all.
    Read { path: String, message: String },
    /// A problem at a place in the file.
    At(Located),
    /// A problem with a command-line value.
    Usage(String),
}

#[derive(Debug)]
pub struct Located {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The offending line of the file, for display.
    pub source_line: String,
    /// Width of the marker under the offending text.
    pub width: usize,
}

impl std::error::Error for InputError {}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Read { path, message } => write!(f, "{path}: {message}"),
            InputError::Usage(m) => f.write_str(m),
            InputError::At(l) => {
                writeln!(f, "{}:{}:{}: {}", l.path, l.line, l.col, l.message)?;
                if !l.source_line.is_empty() {
                    let num = l.line.to_string();
                    let pad = " ".repeat(num.len());
                    writeln!(f, "{pad} |")?;
                    writeln!(f, "{num} | {}", l.source_line)?;
                    let lead: String = l
                        .source_line
                        .chars()
                        .take(l.col.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    write!(f, "{pad} | {lead}{}", "^".repeat(l.width.max(1)))?;
                }
                if let Some(h) = &l.hint {
                    write!(f, "\nhint: {h}")?;
                }
                Ok(())
            }
        }
    }
}

/// A file's text with a name, able to turn byte spans into line:col errors.
pub struct Source<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    pub fn error(&self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) -> InputError {
        let (line, col) = self.line_col(span.start);
        let source_line = self
            .text
            .lines()
            .nth(line - 1)
            .unwrap_or("")
            .trim_end()
            .to_string();
        let (end_line, end_col) = self.line_col(span.end);
        let width = if end_line == line && end_col > col {
            end_col - col
        } else {
            1
        };
        InputError::At(Located {
            path: self.path.to_string(),
            line,
            col,
            message: message.into(),
            hint,
            source_line,
            width,
        })
    }

    /// An error about the file as a whole (reported at 1:1).
    pub fn whole(&self, message: impl Into<String>, hint: Option<String>) -> InputError {
        self.error(0..0, message, hint)
    }

    /// Converts a `toml` parse/deserialize error.
    pub fn toml(&self, e: &toml::de::Error) -> InputError {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let hint = hint_for(&message);
        self.error(span, message, hint)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Extra advice for common serde/toml messages.
fn hint_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("check the spelling; docs/scenario-format.md lists every key".into())
    } else if message.starts_with("missing field") {
        Some("docs/scenario-format.md shows a minimal scenario".into())
    } else if message.contains("invalid type") && message.contains("expected a string") {
        Some("wrap the value in quotes".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = Source {
            path: "x.toml",
            text: "a = 1\nbé = 2\n",
        };
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        assert_eq!(s.line_col(10), (2, 4));
        let e = s.error(6..8, "bad", Some("fix it".into())).to_string();
        assert!(e.starts_with("x.toml:2:1: bad"), "{e}");
        assert!(e.contains("hint: fix it"));
    }
}
