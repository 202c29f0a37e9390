//! The bench's plots: PNG files drawn with `plotters` into `perf/` beside
//! the Markdown report, each with the baselines measured in the same run.
//! Text is drawn with a TTF loaded at run time (no system font library).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::register_font;

/// The font the plots are drawn with: Debian's `fonts-dejavu-core`.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Records per second against record size.
pub const BY_SIZE: &str = "throughput-by-record-size.png";
/// Appends per second against records per commit.
pub const BY_BATCH: &str = "throughput-by-batch-size.png";
/// The daemon's append latency against clients.
pub const LATENCY: &str = "latency.png";

/// One measured curve: its legend and its (x, y) points.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// The legend.
    pub name: String,
    /// The points, in the order drawn.
    pub points: Vec<(f64, f64)>,
}

/// A figure of the same run that does not depend on the x axis, drawn as
/// a dashed horizontal line.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The legend.
    pub name: String,
    /// Its value, in the plot's y unit.
    pub value: f64,
}

/// The daemon's append latency percentiles at one load, milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    /// Concurrent clients.
    pub clients: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// The numbers the plots show, collected as the rows are measured; a
/// plot whose numbers were not measured in this run is not drawn.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Records per second against record size (bytes), one series each.
    pub by_size: Vec<Series>,
    /// Appends per second against records per commit.
    pub by_batch: Vec<Series>,
    /// Records per second of the unbatched baselines, beside `by_batch`.
    pub batch_baselines: Vec<Baseline>,
    /// The daemon's append latency, by clients.
    pub latency: Vec<Latency>,
    /// One raw write+fsync, milliseconds: the latency plot's baseline.
    pub fsync_ms: Option<f64>,
}

impl Figures {
    /// Adds the point (`x`, `y`) to the record-size series `name`; a NaN
    /// (not measured) is left out.
    pub fn by_size(&mut self, name: &str, x: f64, y: f64) {
        if y.is_finite() {
            series(&mut self.by_size, name).points.push((x, y));
        }
    }
}

/// The series `name` of `all`, added empty if missing.
fn series<'a>(all: &'a mut Vec<Series>, name: &str) -> &'a mut Series {
    match all.iter().position(|s| s.name == name) {
        Some(i) => &mut all[i],
        None => {
            all.push(Series { name: name.into(), points: Vec::new() });
            all.last_mut().unwrap_or_else(|| unreachable!())
        }
    }
}

/// The plots' directory for a report written to `doc`: `perf/` beside it.
pub fn perf_dir(doc: &Path) -> PathBuf {
    doc.parent().unwrap_or(Path::new("")).join("perf")
}

/// Loads [`FONT`] for the plots' text, once; fails naming the setup step
/// that installs it.
pub fn load_font() -> Result<()> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| {
            format!(
                "the plots' font {FONT}: {e}; `scripts/setup.sh bench` (which `make bench` \
                 runs) installs it (Debian's fonts-dejavu-core)"
            )
        })?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{FONT} is not a font plotters can read"))
    });
    loaded.clone().map_err(anyhow::Error::msg)
}

/// Draws every plot `f` has numbers for into `dir` (created if missing);
/// returns the file names written.
pub fn write(dir: &Path, f: &Figures) -> Result<Vec<&'static str>> {
    load_font()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    if !f.by_size.is_empty() {
        draw(&dir.join(BY_SIZE), &by_size_chart(f))?;
        written.push(BY_SIZE);
    }
    if !f.by_batch.is_empty() {
        draw(&dir.join(BY_BATCH), &by_batch_chart(f))?;
        written.push(BY_BATCH);
    }
    if !f.latency.is_empty() {
        draw(&dir.join(LATENCY), &latency_chart(f))?;
        written.push(LATENCY);
    }
    Ok(written)
}

/// What one plot shows.
struct Chart {
    title: String,
    x_label: &'static str,
    y_label: &'static str,
    y_format: fn(f64) -> String,
    x_ticks: Vec<f64>,
    lines: Vec<Series>,
    baselines: Vec<Baseline>,
    legend: SeriesLabelPosition,
}

fn by_size_chart(f: &Figures) -> Chart {
    Chart {
        title: "Append throughput against record size (higher is better)".into(),
        x_label: "record size (bytes, log scale)",
        y_label: "records per second (log scale)",
        y_format: si,
        x_ticks: vec![64.0, 256.0, 1024.0],
        lines: f.by_size.clone(),
        baselines: Vec::new(),
        legend: SeriesLabelPosition::LowerLeft,
    }
}

fn by_batch_chart(f: &Figures) -> Chart {
    Chart {
        title: "Engine + in-memory store, 64-byte records, by batch (higher is better)".into(),
        x_label: "records per commit (one signed checkpoint each; log scale)",
        y_label: "appends per second (log scale)",
        y_format: si,
        x_ticks: ticks_of(&f.by_batch),
        lines: f.by_batch.clone(),
        baselines: f.batch_baselines.clone(),
        legend: SeriesLabelPosition::LowerRight,
    }
}

fn latency_chart(f: &Figures) -> Chart {
    let curve = |name: &str, pick: fn(&Latency) -> f64| Series {
        name: format!("service-fsd append, {name}"),
        points: f.latency.iter().map(|l| (l.clients, pick(l))).collect(),
    };
    Chart {
        title: "service-fsd durable 64-byte appends over HTTP: latency (lower is better)".into(),
        x_label: "concurrent clients (log scale)",
        y_label: "latency (ms, log scale)",
        y_format: plain,
        x_ticks: f.latency.iter().map(|l| l.clients).collect(),
        lines: vec![
            curve("p50", |l| l.p50),
            curve("p90", |l| l.p90),
            curve("p99", |l| l.p99),
            curve("p99.9", |l| l.p999),
        ],
        baselines: f
            .fsync_ms
            .map(|v| Baseline { name: "raw write+fsync of a new file (1 / rate)".into(), value: v })
            .into_iter()
            .collect(),
        legend: SeriesLabelPosition::UpperLeft,
    }
}

/// Every x of `series`, sorted, once each.
fn ticks_of(series: &[Series]) -> Vec<f64> {
    let mut x: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    x.sort_by(f64::total_cmp);
    x.dedup();
    x
}

/// `v` with a k/M/G suffix.
fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{}G", plain(v / 1e9)),
        v if v >= 1e6 => format!("{}M", plain(v / 1e6)),
        v if v >= 1e3 => format!("{}k", plain(v / 1e3)),
        v => plain(v),
    }
}

/// `v` with no more digits than a 1-2-5 tick needs.
fn plain(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The 1-2-5 steps from below `lo` to above `hi`.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (first..=last)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|t| (lo..=hi).contains(t))
        .collect()
}

/// The y range: every value, with room above and below on a log scale.
fn y_range(c: &Chart) -> (f64, f64) {
    let ys = c.lines.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let ys = ys.chain(c.baselines.iter().map(|b| b.value)).filter(|y| *y > 0.0);
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if lo > hi { (1.0, 10.0) } else { (lo / 2.5, hi * 2.5) }
}

type Coord = WithKeyPoints<LogCoord<f64>>;

/// Eight of Tableau's colours, distinguishable on white.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The colour of the series `name` (the `i`th of its plot): the same
/// implementation has the same colour in every plot.
fn colour(name: &str, i: usize) -> RGBColor {
    const KNOWN: [&str; 6] =
        ["engine core", "engine + in-memory", "Go 1.23", "Go 1.19", "tlog_tiles", "raw SHA-256"];
    let known = KNOWN.iter().position(|k| name.starts_with(k));
    COLOURS[known.unwrap_or(i) % COLOURS.len()]
}

/// Renders `c` to the PNG `path`.
fn draw(path: &Path, c: &Chart) -> Result<()> {
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = axes(&root, c)?;
    let (x0, x1) = (chart.x_range().start, chart.x_range().end);
    for (i, s) in c.lines.iter().enumerate() {
        let style = colour(&s.name, i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.clone(), style).point_size(4))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    for (i, b) in c.baselines.iter().enumerate() {
        let style = colour(&b.name, c.lines.len() + i).stroke_width(2);
        let line = vec![(x0, b.value), (x1, b.value)];
        chart
            .draw_series(DashedLineSeries::new(line, 10, 6, style))?
            .label(format!("{} (same-run baseline)", b.name))
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, style));
    }
    chart
        .configure_series_labels()
        .position(c.legend.clone())
        .margin(12)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present().with_context(|| format!("writing {}", path.display()))
}

/// The titled, labelled, log-log axes of `c`.
fn axes<'a, 'b: 'a>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    c: &Chart,
) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Coord, Coord>>> {
    let (first, last) = (c.x_ticks[0], c.x_ticks[c.x_ticks.len() - 1]);
    let (x0, x1) = (first / 1.6, last * 1.6);
    let (y0, y1) = y_range(c);
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(c.x_ticks.clone()),
            (y0..y1).log_scale().with_key_points(log_ticks(y0, y1)),
        )?;
    let y_format = c.y_format;
    chart
        .configure_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label)
        .x_label_formatter(&|v| plain(*v))
        .y_label_formatter(&|v| y_format(*v))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Figures {
        let mut f = Figures::default();
        for (name, at64) in [("engine core", 2.9e6), ("Go 1.23", 1.5e6), ("SHA-256", 8e6)] {
            for (i, size) in [64.0, 256.0, 1024.0].into_iter().enumerate() {
                f.by_size(name, size, at64 / (1 << (2 * i)) as f64);
            }
        }
        f.by_size("not measured", 64.0, f64::NAN);
        f.by_batch.push(Series {
            name: "engine + in-memory store".into(),
            points: vec![(1.0, 2.5e4), (16.0, 3e5), (256.0, 1.8e6), (4096.0, 2.4e6)],
        });
        f.batch_baselines.push(Baseline { name: "Go 1.23 StoredHashes".into(), value: 1.5e6 });
        f.latency = [(1.0, 0.3), (16.0, 1.1), (256.0, 6.0)]
            .map(|(clients, p50)| Latency {
                clients,
                p50,
                p90: p50 * 1.5,
                p99: p50 * 2.0,
                p999: p50 * 4.0,
            })
            .to_vec();
        f.fsync_ms = Some(0.9);
        f
    }

    /// Whether the plots can be drawn here: without the font, a skip
    /// (CI installs nothing for the tests), unless `FONT_REQUIRED` is set.
    fn font_present() -> bool {
        if Path::new(FONT).exists() {
            return true;
        }
        assert!(
            std::env::var_os("FONT_REQUIRED").is_none(),
            "FONT_REQUIRED is set and {FONT} is missing: run scripts/setup.sh bench"
        );
        eprintln!("skipped: {FONT} is missing (scripts/setup.sh bench installs it)");
        false
    }

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
        assert!(bytes.len() > 10_000, "{}: only {} bytes", path.display(), bytes.len());
    }

    #[test]
    fn draws_every_plot_as_png() {
        if !font_present() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let written = write(&dir.path().join("perf"), &figures()).unwrap();
        assert_eq!(written, [BY_SIZE, BY_BATCH, LATENCY]);
        for name in written {
            assert_png(&dir.path().join("perf").join(name));
        }
    }

    #[test]
    fn draws_only_what_was_measured() {
        if !font_present() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = Figures { latency: figures().latency, ..Figures::default() };
        assert_eq!(write(dir.path(), &f).unwrap(), [LATENCY]);
        assert!(!dir.path().join(BY_SIZE).exists());
    }

    #[test]
    fn perf_dir_is_beside_the_report() {
        assert_eq!(perf_dir(Path::new("docs/performance.md")), Path::new("docs/perf"));
        assert_eq!(perf_dir(Path::new("performance.md")), Path::new("perf"));
    }

    #[test]
    fn ticks_are_one_two_five() {
        assert_eq!(log_ticks(0.15, 30.0), [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(si(2_500_000.0), "2.5M");
        assert_eq!(si(20_000.0), "20k");
        assert_eq!(plain(0.5), "0.5");
    }
}
