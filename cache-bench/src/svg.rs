//! The chart, written by hand: horizontal bars of ops/s, one panel per comparison, value size
//! and concurrency.

use std::fmt::Write;

use crate::bench::Results;
use crate::fixture::Workload;
use crate::report::{rate, size, Pair, PAIRS};
use crate::subject::SubjectId;

const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 20.0;
const GAP: f64 = 20.0;
const HEADER: f64 = 72.0;
const PANEL_TITLE: f64 = 24.0;
const ROW: f64 = 26.0;
const BAR: f64 = 10.0;
const LABEL: f64 = 128.0;
const VALUE_ROOM: f64 = 96.0;
const PANEL_BOTTOM: f64 = 18.0;
const OURS_COLOR: &str = "#2563eb";
const RAW_COLOR: &str = "#9ca3af";
const CEILING_COLOR: &str = "#dc2626";

/// Escapes text for XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart of a run.
pub(crate) fn chart(results: &Results) -> String {
    let plan = &results.plan;
    let columns = plan.concurrency.len().max(1);
    let panel_width = (WIDTH - 2.0 * MARGIN - GAP * (columns as f64 - 1.0)) / columns as f64;
    let rows_per_panel = Workload::ALL.len() as f64;
    let panel_height = PANEL_TITLE + rows_per_panel * ROW + PANEL_BOTTOM;
    let panel_rows = PAIRS.len() * plan.sizes.len();
    let height = HEADER + panel_rows as f64 * panel_height + MARGIN;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN}" y="26" font-size="16" font-weight="bold">{}</text>"#,
        escape(&format!(
            "cache-bench: operations per second ({} mode, {}, {} cores, Redis {})",
            plan.mode, results.machine.date, results.machine.cores, results.machine.redis
        ))
    );
    legend(&mut svg, 48.0);

    let mut y = HEADER;
    for pair in PAIRS {
        for &value in &plan.sizes {
            for (column, &tasks) in plan.concurrency.iter().enumerate() {
                let x = MARGIN + column as f64 * (panel_width + GAP);
                panel(&mut svg, results, pair, value, tasks, x, y, panel_width);
            }
            y += panel_height;
        }
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

fn legend(svg: &mut String, y: f64) {
    let mut x = MARGIN;
    for (color, label) in [
        (OURS_COLOR, "ours (Cache on the backend)"),
        (RAW_COLOR, "raw (moka / redis crate)"),
    ] {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="{BAR}" fill="{color}"/>"#,
            y - BAR + 1.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{y}">{}</text>"#,
            x + 16.0,
            escape(label)
        );
        x += 210.0;
    }
    let _ = writeln!(
        svg,
        r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{CEILING_COLOR}" stroke-width="2" stroke-dasharray="3,2"/>"#,
        y - BAR,
        y + 2.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{y}">{}</text>"#,
        x + 6.0,
        escape("redis-benchmark (GET, SET)")
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{y}" fill="#555555">{}</text>"##,
        x + 170.0,
        escape("rows scaled to their largest figure; (×) = ours / raw")
    );
}

/// The ceiling `redis-benchmark` measured for a workload, if it has one.
fn ceiling(
    results: &Results,
    pair: Pair,
    workload: Workload,
    value: usize,
    tasks: usize,
) -> Option<f64> {
    if pair.ours != SubjectId::OursRedis {
        return None;
    }
    let test = match workload {
        Workload::GetHit => "GET",
        Workload::Set => "SET",
        _ => return None,
    };
    results
        .redis_benchmark_row(test, value, tasks)
        .map(|row| row.rps)
}

#[allow(clippy::too_many_arguments)] // reason: one panel's place and contents, drawn once
fn panel(
    svg: &mut String,
    results: &Results,
    pair: Pair,
    value: usize,
    tasks: usize,
    x: f64,
    y: f64,
    width: f64,
) {
    let title = format!(
        "{}: {}, {tasks} task{}",
        pair.title.replace(" against ", " vs "),
        size(value),
        if tasks == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-size="12" font-weight="bold">{}</text>"#,
        y + 14.0,
        escape(&title)
    );
    let bars_x = x + LABEL;
    let bars_width = (width - LABEL - VALUE_ROOM).max(10.0);
    let top = y + PANEL_TITLE;
    let _ = writeln!(
        svg,
        r##"<line x1="{bars_x}" y1="{top}" x2="{bars_x}" y2="{}" stroke="#333333"/>"##,
        top + Workload::ALL.len() as f64 * ROW
    );
    for (row, workload) in Workload::ALL.into_iter().enumerate() {
        let row_y = top + row as f64 * ROW;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            bars_x - 6.0,
            row_y + BAR + 4.0,
            escape(workload.label())
        );
        let ours = results.summary(workload, value, tasks, pair.ours);
        let raw = results.summary(workload, value, tasks, pair.raw);
        let top_speed = [
            ours.map(|s| s.ops_per_sec),
            raw.map(|s| s.ops_per_sec),
            ceiling(results, pair, workload, value, tasks),
        ]
        .into_iter()
        .flatten()
        .fold(0.0_f64, f64::max);
        // Each row has its own scale: its largest figure spans the width.
        let scale = |ops: f64| {
            if top_speed > 0.0 {
                ops / top_speed * bars_width
            } else {
                0.0
            }
        };
        for (i, (subject, summary)) in [(pair.ours, ours), (pair.raw, raw)].into_iter().enumerate()
        {
            let Some(summary) = summary else { continue };
            let bar_y = row_y + 2.0 + i as f64 * (BAR + 1.0);
            let w = scale(summary.ops_per_sec).max(0.5);
            let color = if i == 0 { OURS_COLOR } else { RAW_COLOR };
            let mut label = format!("{}/s", rate(summary.ops_per_sec));
            if i == 0 {
                if let Some(r) = raw.filter(|r| r.ops_per_sec > 0.0) {
                    label.push_str(&format!(" ({:.2}×)", summary.ops_per_sec / r.ops_per_sec));
                }
            }
            let _ = writeln!(
                svg,
                r#"<rect x="{bars_x}" y="{bar_y}" width="{w:.1}" height="{BAR}" fill="{color}"><title>{}</title></rect>"#,
                escape(&format!(
                    "{} {}: {} ops/s, p50 {} ns, p99 {} ns",
                    subject.label(),
                    workload.label(),
                    rate(summary.ops_per_sec),
                    summary.p50_ns,
                    summary.p99_ns
                ))
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" font-size="9">{}</text>"#,
                bars_x + w + 4.0,
                bar_y + BAR - 1.0,
                escape(&label)
            );
        }
        if let Some(c) = ceiling(results, pair, workload, value, tasks) {
            let cx = bars_x + scale(c);
            let _ = writeln!(
                svg,
                r#"<line x1="{cx:.1}" y1="{}" x2="{cx:.1}" y2="{}" stroke="{CEILING_COLOR}" stroke-width="2" stroke-dasharray="3,2"><title>{}</title></line>"#,
                row_y,
                row_y + 2.0 * BAR + 4.0,
                escape(&format!("redis-benchmark: {}/s", rate(c)))
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
