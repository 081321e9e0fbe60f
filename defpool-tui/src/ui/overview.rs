//! Overview: the pool in one screen. Per-coin state, a hashrate chart per coin, shares
//! per second accepted against rejected, the health of every daemon, wallet and
//! upstream, and the newest blocks.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;

use super::{header_style, health_style, panel};
use crate::app::App;
use crate::format;

/// Rows a per-coin chart needs to be read (border, two value rows, border); below
/// that the coins share one block of sparklines.
const MIN_CHART_HEIGHT: u16 = 5;
/// Seconds of history the charts show.
const CHART_SECS: f64 = 300.0;
/// Colours of the coins' lines, in coin order.
const COIN_COLORS: [Color; 4] = [Color::Yellow, Color::Cyan, Color::Magenta, Color::Blue];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let coins = app.coins.len().max(1) as u16;
    let bottom = (app.health.len().max(app.blocks.len().min(5)) as u16).clamp(3, 6) + 2;
    let [summary, charts, lower] = Layout::vertical([
        Constraint::Length(2 + coins),
        Constraint::Fill(1),
        Constraint::Length(bottom),
    ])
    .areas(area);
    render_summary(app, frame, summary);
    let [hashrate, shares] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(charts);
    render_hashrate(app, frame, hashrate);
    render_shares(app, frame, shares);
    let [health, blocks] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(lower);
    render_health(app, frame, health);
    render_blocks(app, frame, blocks);
}

fn render_summary(app: &App, frame: &mut Frame, area: Rect) {
    let [line, table] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let s = &app.summary;
    let capacity = if s.capacity > 0 {
        format!("/{}", s.capacity)
    } else {
        String::new()
    };
    let mut spans = vec![
        Span::raw(format!("sessions {}{capacity}", s.sessions)),
        Span::raw("  shares "),
        Span::styled(
            format!("{} ok", format::compact(s.shares_accepted as f64)),
            Style::new().fg(Color::Green),
        ),
        Span::raw(" "),
        Span::styled(
            format!("{} rej", format::compact(s.shares_rejected as f64)),
            Style::new().fg(Color::Red),
        ),
        Span::raw(format!("  blocks found {}", s.blocks_found)),
    ];
    if app.missed > 0 {
        spans.push(Span::styled(
            format!("  missed {}", app.missed),
            Style::new().fg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), line);

    let header = Row::new([
        "COIN",
        "HEIGHT",
        "NET DIFF",
        "HASHRATE",
        "MINERS",
        "MODE",
        "BLOCKS p/c/o",
    ])
    .style(header_style());
    let rows: Vec<Row> = app
        .coins
        .values()
        .map(|c| {
            let stats = app
                .stats
                .as_ref()
                .and_then(|p| p.coins.iter().find(|s| s.coin == c.coin));
            let (mode, blocks) = match stats {
                Some(s) => (
                    format!("{}/{}", s.mode, s.scheme),
                    format!(
                        "{}/{}/{}",
                        s.blocks_pending, s.blocks_confirmed, s.blocks_orphaned
                    ),
                ),
                None => ("-".into(), "-".into()),
            };
            Row::new(vec![
                Cell::from(c.coin.clone()),
                Cell::from(c.job_height.map_or("-".into(), |h| h.to_string())),
                Cell::from(c.network_difficulty.map_or("-".into(), format::compact)),
                Cell::from(format::hashrate(c.hashrate)),
                Cell::from(format!("{}/{}", c.miners, c.workers)),
                Cell::from(mode),
                Cell::from(blocks),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), table);
}

/// `(seconds before now, value)` points of a history, within the chart's span.
fn points<'a>(app: &App, samples: impl Iterator<Item = &'a (i64, f64)>) -> Vec<(f64, f64)> {
    samples
        .map(|(at, v)| ((*at - app.now) as f64 / 1000.0, *v))
        .filter(|(x, _)| *x >= -CHART_SECS)
        .collect()
}

/// Seconds the charts span: the history there is, between a minute and
/// [`CHART_SECS`], so a fresh dashboard does not squeeze its first samples into the
/// right edge.
fn span(app: &App) -> f64 {
    let oldest = app
        .hashrate
        .values()
        .filter_map(|r| r.iter().next().map(|(at, _)| *at))
        .chain(app.share_rate.iter().next().map(|(at, _)| *at))
        .min();
    oldest.map_or(60.0, |at| {
        ((app.now - at) as f64 / 1000.0).clamp(60.0, CHART_SECS)
    })
}

fn render_hashrate(app: &App, frame: &mut Frame, area: Rect) {
    if app.hashrate.is_empty() {
        frame.render_widget(
            Paragraph::new("waiting for the first snapshot…").block(panel(" Hashrate ")),
            area,
        );
        return;
    }
    let n = app.hashrate.len() as u16;
    if area.height / n < MIN_CHART_HEIGHT {
        render_hashrate_sparklines(app, frame, area);
        return;
    }
    let areas = Layout::vertical((0..n).map(|_| Constraint::Fill(1))).split(area);
    for (i, (coin, ring)) in app.hashrate.iter().enumerate() {
        let data = points(app, ring.iter());
        let now = ring.last().map_or(0.0, |(_, v)| *v);
        let max = data.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0);
        let color = COIN_COLORS[i % COIN_COLORS.len()];
        let dataset = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(color))
            .data(&data);
        let chart = Chart::new(vec![dataset])
            .block(panel(format!(
                " {coin} hashrate {} ",
                format::hashrate(now)
            )))
            .x_axis(
                Axis::default()
                    .bounds([-span(app), 0.0])
                    .style(Style::new().fg(Color::DarkGray)),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, max * 1.1])
                    .labels(["0".to_string(), format::compact(max)])
                    .style(Style::new().fg(Color::DarkGray)),
            );
        frame.render_widget(chart, areas[i]);
    }
}

/// Several coins on a small terminal: one block, a sparkline per coin (each scaled to
/// its own peak, since coins' hashrates differ by orders of magnitude).
fn render_hashrate_sparklines(app: &App, frame: &mut Frame, area: Rect) {
    let block = panel(" Hashrate ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = app.hashrate.len() as u16;
    let rows = Layout::vertical((0..n).map(|_| Constraint::Fill(1))).split(inner);
    for (i, (coin, ring)) in app.hashrate.iter().enumerate() {
        let [label, line] =
            Layout::horizontal([Constraint::Length(15), Constraint::Fill(1)]).areas(rows[i]);
        let now = ring.last().map_or(0.0, |(_, v)| *v);
        let color = COIN_COLORS[i % COIN_COLORS.len()];
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!("{coin} "), Style::new().fg(color)),
                Span::raw(format::hashrate(now)),
            ])),
            label,
        );
        let values: Vec<f64> = ring.iter().map(|(_, v)| *v).collect();
        let tail = &values[values.len().saturating_sub(line.width as usize)..];
        let max = tail
            .iter()
            .copied()
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let bars: Vec<u64> = tail.iter().map(|v| (v / max * 100.0) as u64).collect();
        frame.render_widget(
            Sparkline::default()
                .data(bars)
                .max(100)
                .style(Style::new().fg(color)),
            line,
        );
    }
}

fn render_shares(app: &App, frame: &mut Frame, area: Rect) {
    let accepted: Vec<(i64, f64)> = app
        .share_rate
        .iter()
        .map(|(t, r)| (*t, r.accepted))
        .collect();
    let rejected: Vec<(i64, f64)> = app
        .share_rate
        .iter()
        .map(|(t, r)| (*t, r.rejected))
        .collect();
    let acc = points(app, accepted.iter());
    let rej = points(app, rejected.iter());
    let (last_acc, last_rej) = app
        .share_rate
        .last()
        .map_or((0.0, 0.0), |(_, r)| (r.accepted, r.rejected));
    let max = acc
        .iter()
        .chain(rej.iter())
        .map(|(_, v)| *v)
        .fold(0.0, f64::max)
        .max(1.0);
    let title = Line::from(vec![
        Span::raw(" shares/s "),
        Span::styled(format!("ok {last_acc:.1}"), Style::new().fg(Color::Green)),
        Span::raw(" "),
        Span::styled(format!("rej {last_rej:.1} "), Style::new().fg(Color::Red)),
    ]);
    let chart = Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Green))
            .data(&acc),
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Red))
            .data(&rej),
    ])
    .block(panel(title))
    .x_axis(
        Axis::default()
            .bounds([-span(app), 0.0])
            .style(Style::new().fg(Color::DarkGray)),
    )
    .y_axis(
        Axis::default()
            .bounds([0.0, max * 1.1])
            .labels(["0".to_string(), format::compact(max)])
            .style(Style::new().fg(Color::DarkGray)),
    );
    frame.render_widget(chart, area);
}

fn render_health(app: &App, frame: &mut Frame, area: Rect) {
    let bad = app
        .health
        .iter()
        .filter(|c| c.status != "ok" && c.status != "not_configured")
        .count();
    let title = if bad == 0 {
        " Health: all ok ".to_string()
    } else {
        format!(" Health: {bad} not ok ")
    };
    let width = area.width.saturating_sub(2) as usize;
    // Problems first: an operator looks here for what is down.
    let mut components: Vec<_> = app.health.iter().collect();
    components.sort_by_key(|c| (c.status == "ok", c.status == "not_configured"));
    let lines: Vec<Line> = components
        .iter()
        .map(|c| {
            let status = format!(
                "{:<4}",
                if c.status == "not_configured" {
                    "n/a"
                } else {
                    &c.status
                }
            );
            // `daemon:XMR:http://host:port`: the scheme says nothing an operator needs.
            let mut text = c.name.replacen("http://", "", 1);
            if let Some(d) = c.detail.as_ref().filter(|_| c.status != "ok") {
                text.push_str(": ");
                text.push_str(d);
            }
            Line::from(vec![
                Span::styled(status, health_style(&c.status)),
                Span::raw(" "),
                Span::raw(format::ellipsize(&text, width.saturating_sub(5))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(panel(title)), area);
}

fn render_blocks(app: &App, frame: &mut Frame, area: Rect) {
    let width = area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = app
        .blocks
        .iter()
        .take(area.height.saturating_sub(2) as usize)
        .map(|b| {
            let state = match b.status {
                defpool_core::api::BlockStatus::Pending => {
                    format!("{}/{}", b.confirmations, b.maturity)
                }
                other => other.as_str().to_string(),
            };
            let text = format!(
                "{} {:>8} {:<9} {:>3}",
                b.coin,
                b.height,
                state,
                format::age(app.now, Some(b.found_at))
            );
            Line::styled(
                format::ellipsize(&text, width),
                super::blocks::status_style(b.status),
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(panel(" Recent blocks ")), area);
}
