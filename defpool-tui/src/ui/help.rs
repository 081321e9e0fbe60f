//! The `?` overlay: every key, on one screen at 80×24.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{centered, header_style, panel};
use crate::app::App;

const KEYS: &[(&str, &str)] = &[
    ("Tab / S-Tab", "next / previous screen"),
    ("1 … 6", "Overview Miners Blocks Payouts Profit Events"),
    ("j k ↑ ↓", "move; PgUp PgDn g G jump"),
    ("/", "filter this screen (Enter keeps, Esc clears)"),
    ("Enter", "Miners: open the miner (workers, shares)"),
    ("Esc", "back from a miner; clear the filter"),
    ("s / r", "Miners: sort column / reverse"),
    ("p", "Miners, Payouts: request a payout"),
    ("e", "Miners, Payouts: edit payout settings"),
    ("l", "Events: minimum level info/warn/error"),
    ("?", "this help (any key closes)"),
    ("q  Ctrl-C", "quit"),
];

pub fn render(_app: &App, frame: &mut Frame, area: Rect) {
    let mut lines = vec![Line::styled("Keys", header_style())];
    for (key, what) in KEYS {
        lines.push(Line::raw(format!("{key:<12} {what}")));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Dialogs: Tab moves, Enter checks, y sends, n goes back",
        Style::new(),
    ));
    let rect = centered(area, 62, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(panel(" Help ")), rect);
}
