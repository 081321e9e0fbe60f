//! Profitability (proxy mode): every coin's expected revenue per hashrate, which one
//! the switcher mines now and why, and the latest switches.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{header_style, panel, selected_style};
use crate::app::{App, Screen};
use crate::format;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    if app.profitability.is_empty() {
        let text = "No profitability data: the node is not in proxy mode, so it mines the \
                    coins of its configuration and never switches.";
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(panel(" Profitability ")),
            area,
        );
        return;
    }
    let switches = (app.switches.len() as u16).clamp(1, 6) + 2;
    let [table_area, switches_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(switches)]).areas(area);
    let chosen = app.profitability.iter().find(|p| p.chosen);
    let title = match chosen {
        Some(c) => format!(" Profitability: mining {} ", c.coin),
        None => " Profitability: no coin chosen ".to_string(),
    };
    let best = app
        .profitability
        .iter()
        .map(|p| p.revenue_per_hash_day)
        .fold(0.0, f64::max);
    let rows: Vec<Row> = app
        .profitability
        .iter()
        .map(|p| {
            let relative = if best > 0.0 {
                format!("{:>5.1}%", p.revenue_per_hash_day / best * 100.0)
            } else {
                "-".into()
            };
            let style = if p.chosen {
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(if p.chosen { "▶" } else { " " }),
                Cell::from(p.coin.clone()),
                Cell::from(format!("{:>12}", format_revenue(p.revenue_per_hash_day))),
                Cell::from(relative),
                Cell::from(p.reason.clone().unwrap_or_default()),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(["", "COIN", "  sat/H/day", "  BEST", "WHY"]).style(header_style());
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(5),
            Constraint::Length(12),
            Constraint::Length(6),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .block(panel(title))
    .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.selection(Screen::Profitability)));
    frame.render_stateful_widget(table, table_area, &mut state);

    let lines: Vec<Line> = if app.switches.is_empty() {
        vec![Line::styled(
            "no switch since the dashboard started",
            Style::new().fg(Color::DarkGray),
        )]
    } else {
        app.switches
            .iter()
            .map(|(at, scope, from, to, reason)| {
                Line::raw(format!(
                    "{} {scope} {} → {to}: {reason}",
                    format::clock(*at),
                    from.as_deref().unwrap_or("none")
                ))
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(panel(" Switches ")),
        switches_area,
    );
}

/// Revenue in satoshi per hash per day: tiny numbers, so scientific past 3 decimals.
fn format_revenue(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 0.001 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}
