//! The chart, written by hand: for every cell of the main tables, the median ratio ours /
//! same work as a bar, and the spread of the per-round ratios as a whisker.

use std::fmt::Write;

use crate::bench::{Ratio, Results};
use crate::fixture::{Workload, BATCH};
use crate::report::size;
use crate::subject::Family;

const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 20.0;
const GAP: f64 = 20.0;
const HEADER: f64 = 64.0;
const PANEL_TITLE: f64 = 24.0;
const ROW: f64 = 16.0;
const BAR: f64 = 10.0;
const LABEL: f64 = 170.0;
const VALUE_ROOM: f64 = 110.0;
const PANEL_BOTTOM: f64 = 24.0;
const BAR_COLOR: &str = "#2563eb";
const WHISKER_COLOR: &str = "#111827";
const PARITY_COLOR: &str = "#dc2626";
/// The axis ends at this ratio (longer bars are clipped, their figure still printed).
const AXIS_MAX: f64 = 1.5;

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
    let rows = (Workload::ALL.len() * plan.sizes.len()) as f64;
    let panel_height = PANEL_TITLE + rows * ROW + PANEL_BOTTOM;
    let height = HEADER + Family::ALL.len() as f64 * panel_height + MARGIN;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(&format!(
            "cache-bench: ours / the raw crate doing the same work ({} mode, {}, {} cores, load {:.1}–{:.1})",
            plan.mode,
            results.machine.date,
            results.machine.cores,
            results.load_range.0,
            results.load_range.1
        ))
    );
    let _ = writeln!(
        svg,
        r##"<text x="{MARGIN}" y="44" fill="#555555">{}</text>"##,
        escape(
            "bar: median of the per-round ratios; whisker: lowest to highest round; red line: parity (1.0×)"
        )
    );
    let mut y = HEADER;
    for family in Family::ALL {
        for (column, &tasks) in plan.concurrency.iter().enumerate() {
            let x = MARGIN + column as f64 * (panel_width + GAP);
            panel(&mut svg, results, family, tasks, (x, y), panel_width);
        }
        y += panel_height;
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

fn panel(
    svg: &mut String,
    results: &Results,
    family: Family,
    tasks: usize,
    (x, y): (f64, f64),
    width: f64,
) {
    let title = format!(
        "{}, {tasks} task{}",
        family.title().replace(" against ", " vs "),
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
    let scale = |r: f64| (r.clamp(0.0, AXIS_MAX) / AXIS_MAX) * bars_width;
    let mut row = 0.0;
    for &value in &results.plan.sizes {
        for workload in Workload::ALL {
            let row_y = top + row * ROW;
            row += 1.0;
            let label = format!("{} {}", workload.label(), size(value));
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                bars_x - 6.0,
                row_y + BAR,
                escape(&label)
            );
            let ratio: Option<Ratio> = results
                .cell(family, workload, value, tasks, BATCH)
                .and_then(|c| c.ratio(family.same_work()));
            let Some(r) = ratio else { continue };
            let _ = writeln!(
                svg,
                r#"<rect x="{bars_x}" y="{}" width="{:.1}" height="{BAR}" fill="{BAR_COLOR}"><title>{}</title></rect>"#,
                row_y + 1.0,
                scale(r.median).max(0.5),
                escape(&format!(
                    "{label}: {:.2}× ({:.2}–{:.2})",
                    r.median, r.min, r.max
                ))
            );
            let mid = row_y + 1.0 + BAR / 2.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{:.1}" y1="{mid}" x2="{:.1}" y2="{mid}" stroke="{WHISKER_COLOR}" stroke-width="1.5"/>"#,
                bars_x + scale(r.min),
                bars_x + scale(r.max)
            );
            for end in [r.min, r.max] {
                let ex = bars_x + scale(end);
                let _ = writeln!(
                    svg,
                    r#"<line x1="{ex:.1}" y1="{}" x2="{ex:.1}" y2="{}" stroke="{WHISKER_COLOR}" stroke-width="1.5"/>"#,
                    mid - 3.0,
                    mid + 3.0
                );
            }
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" font-size="9">{}</text>"#,
                bars_x + scale(r.max.max(r.median)) + 4.0,
                row_y + BAR,
                escape(&format!("{:.2}× ({:.2}–{:.2})", r.median, r.min, r.max))
            );
        }
    }
    let bottom = top + row * ROW;
    let px = bars_x + scale(1.0);
    let _ = writeln!(
        svg,
        r#"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{bottom}" stroke="{PARITY_COLOR}" stroke-dasharray="3,2"/>"#
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{bars_x}" y1="{top}" x2="{bars_x}" y2="{bottom}" stroke="#333333"/>"##
    );
    for tick in [0.0, 0.5, 1.0, 1.5] {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555555">{tick:.1}×</text>"##,
            bars_x + scale(tick),
            bottom + 12.0
        );
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
