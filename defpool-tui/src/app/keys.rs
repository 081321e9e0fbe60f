//! What each key does, by mode: a dialog, the help, the filter line, a miner's
//! drill-in, then the screens.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{Action, App, Dialog, DialogStage, Level, MinerDetail, Screen};

impl App {
    /// Handles one key; returns the work it asks of the I/O layer.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Some(Action::Quit);
        }
        if self.dialog.is_some() {
            return self.dialog_key(key);
        }
        if self.help {
            // Any key closes the help; q still quits.
            self.help = false;
            if key.code == KeyCode::Char('q') {
                self.quit = true;
                return Some(Action::Quit);
            }
            return None;
        }
        if self.editing_filter {
            self.filter_key(key);
            return None;
        }
        if self.detail.is_some() {
            match key.code {
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                    self.detail = None;
                    return None;
                }
                KeyCode::Enter => {
                    let wallet = self.detail.as_ref().map(|d| d.wallet.clone())?;
                    return Some(Action::FetchMiner { wallet });
                }
                _ => {}
            }
        }
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Action::Quit);
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => self.switch(Screen::ALL[(self.screen.index() + 1) % 6]),
            KeyCode::BackTab => self.switch(Screen::ALL[(self.screen.index() + 5) % 6]),
            KeyCode::Char(c @ '1'..='6') => {
                self.switch(Screen::ALL[(c as u8 - b'1') as usize]);
            }
            KeyCode::Char('j') | KeyCode::Down => self.move_selection(1),
            KeyCode::Char('k') | KeyCode::Up => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Home | KeyCode::Char('g') => self.selected[self.screen.index()] = 0,
            KeyCode::End | KeyCode::Char('G') => {
                let n = self.row_count(self.screen);
                self.selected[self.screen.index()] = n.saturating_sub(1);
            }
            KeyCode::Char('/') if self.screen != Screen::Overview => {
                self.editing_filter = true;
            }
            KeyCode::Esc => {
                self.filters[self.screen.index()].clear();
                self.status = None;
            }
            KeyCode::Char('s') if self.screen == Screen::Miners => {
                self.miner_sort = self.miner_sort.next();
            }
            KeyCode::Char('r') if self.screen == Screen::Miners => {
                self.sort_reversed = !self.sort_reversed;
            }
            KeyCode::Char('l') if self.screen == Screen::Events => {
                self.min_level = match self.min_level {
                    Level::Info => Level::Warn,
                    Level::Warn => Level::Error,
                    Level::Error => Level::Info,
                };
                self.selected[Screen::Events.index()] = 0;
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l')
                if self.screen == Screen::Miners && self.detail.is_none() =>
            {
                let rows = self.miner_rows();
                let wallet = rows.get(self.selection(Screen::Miners))?.miner.clone();
                self.detail = Some(MinerDetail {
                    wallet: wallet.clone(),
                    view: None,
                    error: None,
                });
                return Some(Action::FetchMiner { wallet });
            }
            KeyCode::Char('p') if matches!(self.screen, Screen::Miners | Screen::Payouts) => {
                let (wallet, coin) = self.pointed_miner();
                self.dialog = Some(Dialog::payout(&wallet, &coin));
            }
            KeyCode::Char('e') if matches!(self.screen, Screen::Miners | Screen::Payouts) => {
                let (wallet, coin) = self.pointed_miner();
                self.dialog = Some(Dialog::settings(&wallet, &coin));
                if !wallet.is_empty() {
                    return Some(Action::LoadSettings { wallet, coin });
                }
            }
            _ => {}
        }
        None
    }

    fn switch(&mut self, screen: Screen) {
        if screen != self.screen {
            self.detail = None;
        }
        self.screen = screen;
    }

    fn move_selection(&mut self, delta: i64) {
        let n = self.row_count(self.screen);
        let i = self.screen.index();
        let current = self.selected[i].min(n.saturating_sub(1)) as i64;
        self.selected[i] = (current + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
    }

    fn filter_key(&mut self, key: KeyEvent) {
        let i = self.screen.index();
        match key.code {
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.filters[i].clear();
                self.editing_filter = false;
            }
            KeyCode::Backspace => {
                self.filters[i].pop();
            }
            KeyCode::Char(c) => {
                self.filters[i].push(c);
                self.selected[i] = 0;
            }
            _ => {}
        }
    }

    fn dialog_key(&mut self, key: KeyEvent) -> Option<Action> {
        let dialog = self.dialog.as_mut()?;
        match dialog.stage {
            DialogStage::Sending => {
                if key.code == KeyCode::Esc {
                    // The request is out; closing only hides the wait.
                    self.dialog = None;
                }
                None
            }
            DialogStage::Confirm => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    let action = dialog.action();
                    match action {
                        Ok(action) => {
                            dialog.stage = DialogStage::Sending;
                            Some(action)
                        }
                        Err(e) => {
                            dialog.error = Some(e);
                            dialog.stage = DialogStage::Editing;
                            None
                        }
                    }
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    dialog.stage = DialogStage::Editing;
                    None
                }
                _ => None,
            },
            DialogStage::Editing => {
                match key.code {
                    KeyCode::Esc => {
                        self.dialog = None;
                    }
                    KeyCode::Tab | KeyCode::Down => {
                        dialog.focus = (dialog.focus + 1) % dialog.fields.len();
                    }
                    KeyCode::BackTab | KeyCode::Up => {
                        dialog.focus =
                            (dialog.focus + dialog.fields.len() - 1) % dialog.fields.len();
                    }
                    KeyCode::Enter => match dialog.action() {
                        Ok(_) => {
                            dialog.error = None;
                            dialog.stage = DialogStage::Confirm;
                        }
                        Err(e) => dialog.error = Some(e),
                    },
                    KeyCode::Backspace => {
                        dialog.fields[dialog.focus].value.pop();
                    }
                    KeyCode::Char(c) => {
                        dialog.fields[dialog.focus].value.push(c);
                    }
                    _ => {}
                }
                None
            }
        }
    }
}
