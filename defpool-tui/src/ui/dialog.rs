//! The payout and settings dialog: a small form, then a yes/no confirmation, then a
//! wait for the node's answer (shown in the status line when it comes).

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, panel};
use crate::app::{Dialog, DialogStage};
use crate::format;

pub fn render(d: &Dialog, frame: &mut Frame, area: Rect) {
    let rect = centered(area, 76, 10);
    let inner_width = rect.width.saturating_sub(2) as usize;
    let value_width = inner_width.saturating_sub(12);
    let mut lines = Vec::new();
    for (i, f) in d.fields.iter().enumerate() {
        let focused = i == d.focus && d.stage == DialogStage::Editing;
        let label = Span::styled(
            format!("{:<10} ", f.label),
            if focused {
                Style::new().add_modifier(Modifier::BOLD).fg(Color::Yellow)
            } else {
                Style::new()
            },
        );
        let value = if f.value.is_empty() && !focused {
            Span::styled(f.hint, Style::new().fg(Color::DarkGray))
        } else if !focused {
            Span::raw(format::short_address(&f.value, value_width))
        } else {
            // Keep the end of a long wallet visible while typing it.
            let shown = if f.value.chars().count() >= value_width {
                let skip = f.value.chars().count() + 2 - value_width;
                format!("…{}", f.value.chars().skip(skip).collect::<String>())
            } else {
                f.value.clone()
            };
            Span::raw(shown)
        };
        let mut spans = vec![label, value];
        if focused {
            spans.push(Span::styled("█", Style::new().fg(Color::Yellow)));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::raw(""));
    match d.stage {
        DialogStage::Editing => {
            if let Some(e) = &d.error {
                lines.push(Line::styled(
                    format::ellipsize(e, inner_width),
                    Style::new().fg(Color::Red),
                ));
            } else {
                lines.push(Line::raw(""));
            }
            lines.push(Line::styled(
                "Tab next field · Enter review · Esc cancel",
                Style::new().fg(Color::DarkGray),
            ));
        }
        DialogStage::Confirm => {
            lines.push(Line::styled(
                d.confirmation(),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            lines.push(Line::from(vec![
                Span::styled("[y]", Style::new().fg(Color::Green)),
                Span::raw(" yes, send   "),
                Span::styled("[n]", Style::new().fg(Color::Red)),
                Span::raw(" no, back to the form"),
            ]));
        }
        DialogStage::Sending => {
            lines.push(Line::raw("Sending to the node…"));
            lines.push(Line::styled(
                "Esc hides this; the answer shows in the status line",
                Style::new().fg(Color::DarkGray),
            ));
        }
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(panel(format!(" {} ", d.title()))),
        rect,
    );
}
