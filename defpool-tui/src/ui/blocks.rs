//! Blocks: three stacked sections, pending (with confirmations toward maturity),
//! confirmed and orphaned. The selection runs through all three in that order.

use defpool_core::api::{BlockStatus, BlockView};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{filter_suffix, header_style, selected_style};
use crate::app::{App, Screen};
use crate::format;

/// Width of every column but the finder's, with the spacing between them.
const FIXED: u16 = 8 + 4 + 7 + 18 + 4 + 5;

pub(crate) fn status_style(status: BlockStatus) -> Style {
    match status {
        BlockStatus::Pending => Style::new().fg(Color::Yellow),
        BlockStatus::Confirmed => Style::new().fg(Color::Green),
        BlockStatus::Orphaned => Style::new().fg(Color::Red),
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let rows = app.block_rows();
    let of = |s: BlockStatus| -> Vec<&BlockView> {
        rows.iter().copied().filter(|b| b.status == s).collect()
    };
    let (pending, confirmed, orphaned) = (
        of(BlockStatus::Pending),
        of(BlockStatus::Confirmed),
        of(BlockStatus::Orphaned),
    );
    // Pending and orphaned blocks are few and need attention; confirmed ones take
    // the rest of the screen.
    let height = |n: usize, cap: usize| n.clamp(1, cap) as u16 + 3;
    let [p_area, c_area, o_area] = Layout::vertical([
        Constraint::Length(height(pending.len(), 6)),
        Constraint::Fill(1),
        Constraint::Length(height(orphaned.len(), 4)),
    ])
    .areas(area);
    let selected = app.selection(Screen::Blocks);
    let filter = filter_suffix(app, Screen::Blocks);
    let sections = [
        (BlockStatus::Pending, "Pending", pending, p_area, 0),
        (
            BlockStatus::Confirmed,
            "Confirmed",
            confirmed,
            c_area,
            rows.iter()
                .filter(|b| b.status == BlockStatus::Pending)
                .count(),
        ),
        (
            BlockStatus::Orphaned,
            "Orphaned",
            orphaned,
            o_area,
            rows.iter()
                .filter(|b| b.status != BlockStatus::Orphaned)
                .count(),
        ),
    ];
    for (status, name, blocks, area, offset) in sections {
        let title = Line::from(vec![
            Span::styled(
                format!(" {name} ({}) ", blocks.len()),
                status_style(status).add_modifier(Modifier::BOLD),
            ),
            Span::raw(if status == BlockStatus::Pending {
                filter.clone()
            } else {
                String::new()
            }),
        ]);
        let block = Block::bordered().title(title);
        if blocks.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled("none", Style::new().fg(Color::DarkGray))).block(block),
                area,
            );
            continue;
        }
        let finder_width = area.width.saturating_sub(2 + FIXED).max(9) as usize;
        let table_rows: Vec<Row> = blocks
            .iter()
            .map(|b| {
                let conf = if b.status == BlockStatus::Pending {
                    format!("{}/{}", b.confirmations, b.maturity)
                } else {
                    b.confirmations.to_string()
                };
                Row::new(vec![
                    Cell::from(format!("{:>8}", b.height)),
                    Cell::from(b.coin.clone()),
                    Cell::from(conf).style(status_style(b.status)),
                    Cell::from(format!("{:>18}", format::amount(&b.reward))),
                    Cell::from(format::short_address(&b.finder, finder_width)),
                    Cell::from(format::age(app.now, Some(b.found_at))),
                ])
            })
            .collect();
        let header = Row::new([
            "  HEIGHT",
            "COIN",
            "CONF",
            "            REWARD",
            "FINDER",
            "AGE",
        ])
        .style(header_style());
        let widths = [
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(18),
            Constraint::Fill(1),
            Constraint::Length(4),
        ];
        let table = Table::new(table_rows, widths)
            .header(header)
            .block(block)
            .row_highlight_style(selected_style());
        let inside = selected.checked_sub(offset).filter(|i| *i < blocks.len());
        let mut state = TableState::default().with_selected(inside);
        frame.render_stateful_widget(table, area, &mut state);
    }
}
