//! Output: a two-column human-readable table, then the run as one JSON line, the
//! last line of stdout (scripts read it with `tail -1`), like load.js.

use serde_json::Value;

pub struct Report {
    rows: Vec<(String, String)>,
    pub json: Value,
    /// Why the run failed its integrity checks (loss, duplicates, reordering,
    /// protocol errors); empty when it passed. Decides the exit status.
    pub failures: Vec<String>,
}

impl Report {
    pub fn new(json: Value) -> Self {
        Self {
            rows: Vec::new(),
            json,
            failures: Vec::new(),
        }
    }

    pub fn row(&mut self, key: impl Into<String>, value: impl ToString) {
        self.rows.push((key.into(), value.to_string()));
    }

    pub fn rows_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.rows
    }

    pub fn fail_if(&mut self, bad: bool, why: impl Into<String>) {
        if bad {
            self.failures.push(why.into());
        }
    }

    /// Fails the run when a watched server vanished.
    pub fn check_servers(&mut self, usage: &crate::procwatch::Usage) {
        let gone = &usage.servers_gone;
        self.fail_if(
            !gone.is_empty(),
            format!("server pids {gone:?} disappeared during the run"),
        );
    }

    pub fn table(&self) -> String {
        let w = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in &self.rows {
            out.push_str(&format!("{k:<w$} | {v}\n"));
        }
        out
    }

    /// Prints the table and the JSON line; returns the process exit status.
    pub fn emit(mut self) -> i32 {
        if let Value::Object(m) = &mut self.json {
            m.insert("ok".into(), Value::Bool(self.failures.is_empty()));
            m.insert("failures".into(), self.failures.clone().into());
        }
        if !self.failures.is_empty() {
            self.row("FAILED", self.failures.join("; "));
        }
        print!("{}", self.table());
        println!("{}", self.json);
        for f in &self.failures {
            eprintln!("FAILED: {f}");
        }
        i32::from(!self.failures.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_keys() {
        let mut r = Report::new(serde_json::json!({}));
        r.row("a", 1);
        r.row("longer", "x");
        assert_eq!(r.table(), "a      | 1\nlonger | x\n");
    }

    #[test]
    fn failures_decide_the_exit_status() {
        let mut r = Report::new(serde_json::json!({}));
        r.fail_if(false, "fine");
        assert!(r.failures.is_empty());
        r.fail_if(true, "lost 3");
        assert_eq!(r.failures, vec!["lost 3".to_owned()]);
    }
}
