//! The payout and settings form: its fields, what it asks before sending, and the
//! request it turns into.

use defpool_core::api::{PayoutRequest, PayoutSettingsUpdate};
use defpool_core::{Amount, CoinSpec};

use super::Action;
use crate::format;

/// What a dialog does once confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogKind {
    /// `POST /miners/{wallet}/payout`.
    Payout,
    /// `PUT /miners/{wallet}/payout-settings`.
    Settings,
}

/// Where a dialog is: being filled in, asking "are you sure", or waiting for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogStage {
    Editing,
    Confirm,
    Sending,
}

/// One text field of a dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
    /// What an empty value means, shown greyed.
    pub hint: &'static str,
}

/// A form for a payout request or a settings change, then its confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub kind: DialogKind,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub stage: DialogStage,
    /// Why the form cannot be sent yet.
    pub error: Option<String>,
}

impl Dialog {
    pub(super) const WALLET: usize = 0;
    pub(super) const COIN: usize = 1;
    pub(super) const AMOUNT: usize = 2;

    pub(super) fn payout(wallet: &str, coin: &str) -> Dialog {
        Dialog {
            kind: DialogKind::Payout,
            fields: vec![
                field("Wallet", wallet, "miner's payout address"),
                field("Coin", coin, "XMR, LTC or BTC"),
                field("Amount", "", "empty = whole balance"),
            ],
            focus: if wallet.is_empty() { 0 } else { 2 },
            stage: DialogStage::Editing,
            error: None,
        }
    }

    pub(super) fn settings(wallet: &str, coin: &str) -> Dialog {
        Dialog {
            kind: DialogKind::Settings,
            fields: vec![
                field("Wallet", wallet, "miner's payout address"),
                field("Coin", coin, "XMR, LTC or BTC"),
                field("Threshold", "", "automatic payout at, in coins"),
            ],
            focus: if wallet.is_empty() { 0 } else { 2 },
            stage: DialogStage::Editing,
            error: None,
        }
    }

    pub fn title(&self) -> &'static str {
        match self.kind {
            DialogKind::Payout => "Request a payout",
            DialogKind::Settings => "Edit payout settings",
        }
    }

    pub fn wallet(&self) -> &str {
        self.fields[Self::WALLET].value.trim()
    }

    pub fn coin(&self) -> String {
        self.fields[Self::COIN].value.trim().to_ascii_uppercase()
    }

    /// The question asked before sending.
    pub fn confirmation(&self) -> String {
        let wallet = format::short_address(self.wallet(), 25);
        let coin = self.coin();
        let amount = self.fields[Self::AMOUNT].value.trim();
        match self.kind {
            DialogKind::Payout if amount.is_empty() => {
                format!("Pay the whole {coin} balance of {wallet} now?")
            }
            DialogKind::Payout => format!("Pay {amount} {coin} to {wallet} now?"),
            DialogKind::Settings => {
                format!("Set the {coin} payout threshold of {wallet} to {amount} {coin}?")
            }
        }
    }

    /// The request this form describes, or why it does not describe one.
    pub(super) fn action(&self) -> Result<Action, String> {
        let wallet = self.wallet().to_string();
        if wallet.is_empty() {
            return Err("the wallet is empty".into());
        }
        let coin = self.coin();
        let spec = CoinSpec::lookup(&coin).ok_or_else(|| format!("unknown coin {coin:?}"))?;
        let amount = self.fields[Self::AMOUNT].value.trim();
        let atomic = if amount.is_empty() {
            None
        } else {
            let a = Amount::from_decimal(amount, spec.decimals)
                .map_err(|e| format!("amount {amount:?}: {e}"))?;
            Some(a.atomic().to_string())
        };
        match self.kind {
            DialogKind::Payout => Ok(Action::RequestPayout {
                wallet,
                request: PayoutRequest { coin, atomic },
            }),
            DialogKind::Settings => {
                let threshold = atomic.ok_or("the threshold is empty")?;
                Ok(Action::SaveSettings {
                    wallet,
                    update: PayoutSettingsUpdate {
                        coin,
                        threshold: Some(threshold),
                        ..Default::default()
                    },
                })
            }
        }
    }
}

fn field(label: &'static str, value: &str, hint: &'static str) -> Field {
    Field {
        label,
        value: value.to_string(),
        hint,
    }
}
