//! Tables, JSON and terminal detection.

use std::io::IsTerminal;

use anyhow::Result;
use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

/// Renders a borderless table: columns separated by at least two spaces, no
/// leading or trailing blanks, so `head -1 | tr -s ' '` yields the header
/// words separated by single spaces.
pub fn render_table<H, R, C>(header: H, rows: R) -> String
where
    H: IntoIterator,
    H::Item: Into<String>,
    R: IntoIterator<Item = C>,
    C: IntoIterator,
    C::Item: Into<String>,
{
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.into_iter().map(Into::into).collect::<Vec<String>>());
    for row in rows {
        table.add_row(row.into_iter().map(Into::into).collect::<Vec<String>>());
    }
    let rendered = table.to_string();
    let lines: Vec<&str> = rendered.lines().map(str::trim_end).collect();
    // The preset draws its (blank) left border: strip the indentation all
    // lines share.
    let indent = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in lines {
        out.push_str(line.get(indent..).unwrap_or(""));
        out.push('\n');
    }
    out
}

pub fn print_table<H, R, C>(header: H, rows: R)
where
    H: IntoIterator,
    H::Item: Into<String>,
    R: IntoIterator<Item = C>,
    C: IntoIterator,
    C::Item: Into<String>,
{
    print!("{}", render_table(header, rows));
}

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a JSON array one element at a time, exactly as [`print_json`]
/// prints the whole array, so a long list streams without being held.
#[derive(Debug, Default)]
pub struct JsonArrayPrinter {
    started: bool,
}

impl JsonArrayPrinter {
    pub fn print<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        use std::io::Write;
        let text = serde_json::to_string_pretty(value)?;
        let mut out = std::io::stdout().lock();
        out.write_all(if self.started { b",\n" } else { b"[\n" })?;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            write!(out, "  {line}")?;
        }
        out.flush()?;
        self.started = true;
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        println!("{}", if self.started { "\n]" } else { "[]" });
        Ok(())
    }
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Colour only on a terminal and never when `NO_COLOR` is set (non-empty).
pub fn color_enabled() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && stderr_is_terminal()
}

/// Writes `error: <message>` to stderr (red on a colour terminal).
pub fn print_error(message: &str) {
    if color_enabled() {
        eprintln!("\x1b[1;31merror:\x1b[0m {message}");
    } else {
        eprintln!("error: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borderless_table_with_clean_header() {
        let text = render_table(
            ["WORKSPACE", "TEMPLATE", "LAST BUILT"],
            vec![
                vec!["alice/dev", "echo", "5m ago"],
                vec!["bob/x", "script-long", ""],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let squeezed: String = lines[0]
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(squeezed, "WORKSPACE TEMPLATE LAST BUILT");
        assert!(lines[0].starts_with("WORKSPACE"), "{text}");
        assert!(lines[1].starts_with("alice/dev"), "{text}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{text}");
        // Columns line up.
        let col = lines[0].find("TEMPLATE").unwrap();
        assert_eq!(lines[1].find("echo"), Some(col));
        assert_eq!(lines[2].find("script-long"), Some(col));
    }

    #[test]
    fn empty_table_is_a_header() {
        let text = render_table(["A", "B"], Vec::<Vec<String>>::new());
        assert_eq!(text.lines().count(), 1);
    }
}
