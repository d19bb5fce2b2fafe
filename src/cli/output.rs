//! Human-readable reports.

use crate::migrate::Report;

pub fn human(report: &Report, quiet: bool) {
    for p in &report.problems {
        eprintln!("{p}");
    }
    if report.more_problems > 0 {
        eprintln!("… and {} more problems", report.more_problems);
    }
    if quiet {
        return;
    }
    if !report.collections.is_empty() {
        let rows: Vec<[String; 5]> = report
            .collections
            .iter()
            .map(|c| {
                let children: Vec<String> = c
                    .child_rows
                    .iter()
                    .map(|(t, n)| format!("{t} {n}"))
                    .collect();
                [
                    if c.name.is_empty() {
                        "-".into()
                    } else {
                        c.name.clone()
                    },
                    c.source.clone(),
                    c.records.to_string(),
                    if children.is_empty() {
                        "-".into()
                    } else {
                        children.join(", ")
                    },
                    if c.seconds > 0.0 {
                        format!("{:.2}s", c.seconds)
                    } else {
                        "-".into()
                    },
                ]
            })
            .collect();
        let head = ["collection", "source", "records", "child rows", "time"];
        let mut w = head.map(str::len);
        for r in &rows {
            for (i, cell) in r.iter().enumerate() {
                w[i] = w[i].max(cell.chars().count());
            }
        }
        let line = |r: [&str; 5]| {
            format!(
                "{:<a$}  {:<b$}  {:>c$}  {:<d$}  {:>e$}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                a = w[0],
                b = w[1],
                c = w[2],
                d = w[3],
                e = w[4]
            )
        };
        println!("{}", line(head).trim_end());
        for r in &rows {
            println!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]).trim_end());
        }
    }
    let mut last = format!(
        "{}: {} ({:.2}s)",
        report.command, report.status, report.seconds
    );
    if report.command == "migrate" && report.ok {
        last.push_str(&format!("\ndatabase: {}", report.database.display()));
    }
    if !report.upgraded.is_empty() {
        last.push_str(&format!(
            "\ntable definitions made by an earlier jsonlift, rewritten in the current form (rows unchanged): {}",
            report.upgraded.join(", ")
        ));
    }
    for e in &report.evolved {
        last.push_str(&format!("\nevolved: {e}"));
    }
    for f in &report.sql_applied {
        last.push_str(&format!("\napplied: {f}"));
    }
    if let Some(b) = &report.backup {
        last.push_str(&format!("\nbackup of the sources: {}", b.display()));
    }
    if !report.ok {
        let n = report.problems.len() as u64 + report.more_problems;
        last.push_str(&format!("\n{n} problem(s); nothing was written"));
        if report.command == "verify" || report.command == "export" {
            last = last.replace("; nothing was written", "");
        }
    }
    println!("{last}");
}
