//! Events: the node's events and logged warnings as a scrolling log, newest first,
//! with a level filter (`l`) and a text filter (`/`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{filter_suffix, level_style, panel, selected_style};
use crate::app::{App, LogLine, Screen};
use crate::format;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let rows = app.log_rows();
    let title = format!(
        " Events: {} · level ≥ {}{} ",
        rows.len(),
        app.min_level.as_str(),
        filter_suffix(app, Screen::Events)
    );
    if rows.is_empty() {
        frame.render_widget(Paragraph::new("Nothing yet.").block(panel(title)), area);
        return;
    }
    // A log line rarely fits 80 columns: the selected one is shown whole below.
    let [list_area, full_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(4)]).areas(area);
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|l| {
            Row::new(vec![
                Cell::from(format::clock(l.at)),
                Cell::from(l.level.as_str()),
                Cell::from(shown(l)),
            ])
            .style(level_style(l.level))
        })
        .collect();
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Fill(1),
        ],
    )
    .block(panel(title))
    .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.selection(Screen::Events)));
    frame.render_stateful_widget(table, list_area, &mut state);
    if let Some(line) = rows.get(app.selection(Screen::Events)) {
        let full = Paragraph::new(Line::styled(shown(line), level_style(line.level)))
            .wrap(Wrap { trim: true })
            .block(panel(format!(
                " {} {} ",
                format::clock(line.at),
                line.level.as_str()
            )));
        frame.render_widget(full, full_area);
    }
}

/// The line's text, with `(×N)` when it repeated.
fn shown(line: &LogLine) -> String {
    if line.repeats > 1 {
        format!("(×{}) {}", line.repeats, line.text)
    } else {
        line.text.clone()
    }
}
