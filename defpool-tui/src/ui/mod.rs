//! Drawing: one module per screen, all reading [`App`] and nothing else.
//!
//! Every screen fits 80×24 (an SSH session's default): a one-line tab bar with the
//! connection state, the screen, and a one-line status bar with the keys that apply.

mod blocks;
mod dialog;
mod events;
mod help;
mod miners;
mod overview;
mod payouts;
mod profitability;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::app::{App, ConnState, Level, Screen, QUIET_MS, STATUS_MS};
use crate::format;

/// Draws the whole dashboard.
pub fn render(app: &App, frame: &mut Frame) {
    let [header, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_header(app, frame, header);
    match app.screen {
        Screen::Overview => overview::render(app, frame, body),
        Screen::Miners => miners::render(app, frame, body),
        Screen::Blocks => blocks::render(app, frame, body),
        Screen::Payouts => payouts::render(app, frame, body),
        Screen::Profitability => profitability::render(app, frame, body),
        Screen::Events => events::render(app, frame, body),
    }
    render_status(app, frame, status);
    if app.help {
        help::render(app, frame, body);
    }
    if let Some(d) = &app.dialog {
        dialog::render(d, frame, body);
    }
}

/// The tab bar, and the connection state at its right end.
fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let conn = conn_span(app);
    let [tabs, state] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(conn.width() as u16 + 1),
    ])
    .areas(area);
    let mut spans = Vec::new();
    for (i, s) in Screen::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        let text = format!("{} {}", i + 1, s.title());
        if *s == app.screen {
            spans.push(Span::styled(
                text,
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ));
        } else {
            spans.push(Span::raw(text));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    frame.render_widget(Paragraph::new(Line::from(conn)).right_aligned(), state);
}

fn conn_span(app: &App) -> Span<'static> {
    let quiet = app
        .last_message_at
        .map(|at| app.now - at)
        .filter(|ms| *ms >= QUIET_MS);
    match &app.conn {
        ConnState::Connected if quiet.is_some() => Span::styled(
            format!(
                "● connected, quiet {}",
                format::age(app.now, app.last_message_at)
            ),
            Style::new().fg(Color::Yellow),
        ),
        ConnState::Connecting => Span::styled("◌ connecting", Style::new().fg(Color::Yellow)),
        ConnState::Connected => Span::styled("● connected", Style::new().fg(Color::Green)),
        ConnState::Reconnecting { retry_in_secs, .. } => Span::styled(
            format!("○ reconnecting in {retry_in_secs}s"),
            Style::new().fg(Color::Red),
        ),
    }
}

/// The bottom line: the filter being typed, the last action's result, or the keys.
fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled("/", Style::new().fg(Color::Yellow)),
            Span::raw(app.filters[app.screen.index()].clone()),
            Span::styled("█", Style::new().fg(Color::Yellow)),
            Span::styled("  Enter keep · Esc clear", Style::new().fg(Color::DarkGray)),
        ])
    } else if let Some(why) = &app.incompatible {
        Line::styled(why.clone(), Style::new().fg(Color::Red))
    } else if let Some(s) = app.status.as_ref().filter(|s| app.now - s.at < STATUS_MS) {
        // The whole text is on the Events screen.
        Line::styled(
            format::ellipsize(&s.text, area.width as usize),
            level_style(s.level),
        )
    } else if let ConnState::Reconnecting { attempt, error, .. } = &app.conn {
        Line::styled(
            format!("attempt {attempt}: {error}"),
            Style::new().fg(Color::Red),
        )
    } else {
        Line::styled(key_hints(app), Style::new().fg(Color::DarkGray))
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn key_hints(app: &App) -> &'static str {
    match app.screen {
        Screen::Overview => "Tab/1-6 screens  ? help  q quit",
        Screen::Miners if app.detail.is_some() => {
            "Esc back  Enter refresh  p payout  e settings  ? help  q quit"
        }
        Screen::Miners => "Enter open  s/r sort  p payout  e settings  / filter  ? help  q quit",
        Screen::Payouts => "j/k move  p payout  e settings  / filter  ? help  q quit",
        Screen::Events => "j/k move  l level  / filter  ? help  q quit",
        Screen::Blocks | Screen::Profitability => "j/k move  / filter  ? help  q quit",
    }
}

/// Colour of a log level or status.
pub(crate) fn level_style(level: Level) -> Style {
    match level {
        Level::Info => Style::new(),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Error => Style::new().fg(Color::Red),
    }
}

/// Colour of a component's health status.
pub(crate) fn health_style(status: &str) -> Style {
    match status {
        "ok" => Style::new().fg(Color::Green),
        "not_configured" => Style::new().fg(Color::DarkGray),
        _ => Style::new().fg(Color::Red),
    }
}

/// A bordered block with a title.
pub(crate) fn panel(title: impl Into<Line<'static>>) -> Block<'static> {
    Block::bordered().title(title.into())
}

/// Style of the selected row.
pub(crate) fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Style of table headers.
pub(crate) fn header_style() -> Style {
    Style::new().add_modifier(Modifier::BOLD).fg(Color::Cyan)
}

/// ` filter: xyz` for a panel title, or nothing.
pub(crate) fn filter_suffix(app: &App, screen: Screen) -> String {
    let f = &app.filters[screen.index()];
    if f.is_empty() {
        String::new()
    } else {
        format!(" filter: {f} ")
    }
}

/// A `width`×`height` rectangle centred in `area` (clamped to it).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
