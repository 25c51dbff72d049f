//! The report: Markdown printed as it is measured, kept whole for `target/bench/report.md`, and
//! the figures the target check at the end reads.

use std::{collections::HashMap, fmt::Write as _, io::Write as _};

#[derive(Default)]
pub struct Report {
    text: String,
    figures: HashMap<String, f64>,
    errors: Vec<String>,
}

impl Report {
    pub fn line(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        println!("{line}");
        let _ = std::io::stdout().flush();
        let _ = writeln!(self.text, "{line}");
    }

    pub fn section(&mut self, title: &str) {
        self.line("");
        self.line(format!("## {title}"));
        self.line("");
    }

    pub fn header(&mut self, columns: &[&str]) {
        self.line(format!("| {} |", columns.join(" | ")));
        self.line(format!("|{}", "---|".repeat(columns.len())));
    }

    pub fn row(&mut self, cells: &[String]) {
        self.line(format!("| {} |", cells.join(" | ")));
    }

    pub fn set(&mut self, key: impl Into<String>, value: f64) {
        self.figures.insert(key.into(), value);
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures.get(key).copied().filter(|v| v.is_finite())
    }

    /// Notes a measurement that failed; the cell shows the error.
    pub fn failed(&mut self, error: &anyhow::Error) -> String {
        let cell = format!("error: {error:#}");
        self.errors.push(cell.clone());
        cell
    }

    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A rate with thousands separators: 12,345.
pub fn rate(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds with two decimals under 10 ms, one above.
pub fn ms(value: f64) -> String {
    if !value.is_finite() {
        "—".into()
    } else if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

pub fn mib(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1} MiB")
    } else {
        "—".into()
    }
}
