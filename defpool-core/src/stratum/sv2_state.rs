//! The life of one Stratum V2 mining connection, as a pure state machine.
//!
//! `connected → set up → channel open → mining → closing`: a connection must be set up
//! (`SetupConnection`) before it opens channels, must have a channel before it submits
//! or updates one, and a channel has nothing to submit on until a job was sent. The
//! session asks [`Connection::on_client`] about every message the miner sends and gets
//! either a go-ahead or a [`Rejection`] that says which protocol error answers it and
//! whether the connection ends; it reports its own steps (setup accepted, channel
//! opened, job sent, channel closed, closing) so the state follows what was really
//! sent. Keeping this apart from sockets and Noise lets every legal and illegal
//! transition be tested directly.

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Noise is up; nothing but `SetupConnection` is allowed.
    Connected,
    /// `SetupConnection.Success` was sent; no channel is open.
    SetUp,
    /// At least one channel is open but no job was sent yet.
    ChannelOpen,
    /// At least one channel is open and has work.
    Mining,
    /// The connection is ending: nothing more is handled.
    Closing,
}

/// What the miner sent, by what it asks of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    SetupConnection,
    /// `OpenStandardMiningChannel` or `OpenExtendedMiningChannel`.
    OpenChannel,
    UpdateChannel,
    /// `SubmitSharesStandard` or `SubmitSharesExtended`.
    SubmitShares,
    CloseChannel,
    /// A message only a server sends (`NewMiningJob`, `SetTarget`, …) or one of another
    /// subprotocol: a peer that sends it does not speak the mining protocol to us.
    Unexpected,
}

/// The error message of the SV2 protocol that answers a refused client message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReply {
    SetupConnectionError,
    OpenMiningChannelError,
    UpdateChannelError,
    SubmitSharesError,
}

impl ClientMessage {
    /// The protocol's error message for this request; `None` when the protocol has
    /// none (`CloseChannel`, unexpected messages).
    pub fn error_reply(self) -> Option<ErrorReply> {
        match self {
            ClientMessage::SetupConnection => Some(ErrorReply::SetupConnectionError),
            ClientMessage::OpenChannel => Some(ErrorReply::OpenMiningChannelError),
            ClientMessage::UpdateChannel => Some(ErrorReply::UpdateChannelError),
            ClientMessage::SubmitShares => Some(ErrorReply::SubmitSharesError),
            ClientMessage::CloseChannel | ClientMessage::Unexpected => None,
        }
    }
}

/// Why a client message is refused in the current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the connection is not set up (SetupConnection must come first)")]
    NotSetUp,
    #[error("the connection is already set up")]
    AlreadySetUp,
    #[error("no channel is open")]
    NoOpenChannel,
    #[error("no job was sent on this connection yet")]
    NoJobYet,
    #[error("too many channels on one connection")]
    TooManyChannels,
    #[error("a message the mining protocol does not let a client send")]
    Unexpected,
    #[error("the connection is closing")]
    Closing,
}

impl Rejection {
    /// The error code sent in the reply. Codes the SV2 spec names are used where one
    /// fits (`invalid-channel-id`, `invalid-job-id`); the others are ours, in its style.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::NotSetUp => "connection-not-set-up",
            Rejection::AlreadySetUp => "connection-already-set-up",
            Rejection::NoOpenChannel => "invalid-channel-id",
            Rejection::NoJobYet => "invalid-job-id",
            Rejection::TooManyChannels => "too-many-channels",
            Rejection::Unexpected => "unexpected-message",
            Rejection::Closing => "closing",
        }
    }

    /// Whether the connection ends after the reply. A peer that skips the setup or
    /// sends server messages is not an SV2 miner; a miner that only got the order of
    /// its requests wrong keeps its connection.
    pub fn closes(self) -> bool {
        matches!(self, Rejection::NotSetUp | Rejection::Unexpected)
    }

    /// Whether the reply is sent at all: nothing is answered once closing.
    pub fn answered(self) -> bool {
        !matches!(self, Rejection::Closing)
    }
}

/// A step the server reported that its state does not allow: a bug in the session,
/// never the miner's doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("illegal step {step} in state {from:?}")]
pub struct IllegalStep {
    pub from: State,
    pub step: &'static str,
}

/// One connection's state and how many channels it has open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    state: State,
    channels: usize,
    max_channels: usize,
}

impl Connection {
    /// A connection whose Noise handshake just finished; it may open at most
    /// `max_channels` channels at a time.
    pub fn new(max_channels: usize) -> Self {
        Connection {
            state: State::Connected,
            channels: 0,
            max_channels,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Whether the session may handle `message` now.
    pub fn on_client(&self, message: ClientMessage) -> Result<(), Rejection> {
        use ClientMessage as M;
        match (self.state, message) {
            (State::Closing, _) => Err(Rejection::Closing),
            (_, M::Unexpected) => Err(Rejection::Unexpected),
            (State::Connected, M::SetupConnection) => Ok(()),
            (State::Connected, _) => Err(Rejection::NotSetUp),
            (_, M::SetupConnection) => Err(Rejection::AlreadySetUp),
            (_, M::OpenChannel) if self.channels >= self.max_channels => {
                Err(Rejection::TooManyChannels)
            }
            (_, M::OpenChannel) => Ok(()),
            (State::SetUp, M::UpdateChannel | M::SubmitShares | M::CloseChannel) => {
                Err(Rejection::NoOpenChannel)
            }
            (State::ChannelOpen, M::SubmitShares) => Err(Rejection::NoJobYet),
            (State::ChannelOpen | State::Mining, _) => Ok(()),
        }
    }

    fn step(&mut self, step: &'static str, allowed: bool, to: State) -> Result<(), IllegalStep> {
        if !allowed {
            return Err(IllegalStep {
                from: self.state,
                step,
            });
        }
        self.state = to;
        Ok(())
    }

    /// `SetupConnection.Success` was sent.
    pub fn setup_accepted(&mut self) -> Result<(), IllegalStep> {
        let ok = self.state == State::Connected;
        self.step("setup accepted", ok, State::SetUp)
    }

    /// An `Open*MiningChannel.Success` was sent.
    pub fn channel_opened(&mut self) -> Result<(), IllegalStep> {
        let ok = matches!(
            self.state,
            State::SetUp | State::ChannelOpen | State::Mining
        ) && self.channels < self.max_channels;
        let to = match self.state {
            State::Mining => State::Mining,
            _ => State::ChannelOpen,
        };
        self.step("channel opened", ok, to)?;
        self.channels += 1;
        Ok(())
    }

    /// A job (and its previous hash) was sent on an open channel.
    pub fn job_sent(&mut self) -> Result<(), IllegalStep> {
        let ok = matches!(self.state, State::ChannelOpen | State::Mining);
        self.step("job sent", ok, State::Mining)
    }

    /// A channel was closed (`CloseChannel` from the miner). The last one takes the
    /// connection back to set up: it may open another.
    pub fn channel_closed(&mut self) -> Result<(), IllegalStep> {
        let ok = matches!(self.state, State::ChannelOpen | State::Mining) && self.channels > 0;
        let to = if self.channels <= 1 {
            State::SetUp
        } else {
            self.state
        };
        self.step("channel closed", ok, to)?;
        self.channels -= 1;
        Ok(())
    }

    /// The connection ends (refused setup, protocol violation, reconnect, shutdown).
    /// Always allowed; closing twice is a no-op.
    pub fn close(&mut self) {
        self.state = State::Closing;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientMessage as M;

    const ALL: [ClientMessage; 6] = [
        M::SetupConnection,
        M::OpenChannel,
        M::UpdateChannel,
        M::SubmitShares,
        M::CloseChannel,
        M::Unexpected,
    ];

    fn set_up() -> Connection {
        let mut c = Connection::new(2);
        c.setup_accepted().unwrap();
        c
    }

    fn channel_open() -> Connection {
        let mut c = set_up();
        c.channel_opened().unwrap();
        c
    }

    fn mining() -> Connection {
        let mut c = channel_open();
        c.job_sent().unwrap();
        c
    }

    #[test]
    fn only_setup_connection_is_allowed_first_and_anything_else_closes() {
        let c = Connection::new(2);
        assert_eq!(c.state(), State::Connected);
        assert_eq!(c.on_client(M::SetupConnection), Ok(()));
        for m in [
            M::OpenChannel,
            M::UpdateChannel,
            M::SubmitShares,
            M::CloseChannel,
        ] {
            let r = c.on_client(m).unwrap_err();
            assert_eq!(r, Rejection::NotSetUp, "{m:?}");
            assert!(r.closes());
            assert_eq!(r.code(), "connection-not-set-up");
        }
        assert_eq!(c.on_client(M::Unexpected), Err(Rejection::Unexpected));
    }

    #[test]
    fn a_set_up_connection_may_only_open_a_channel() {
        let c = set_up();
        assert_eq!(c.state(), State::SetUp);
        assert_eq!(c.on_client(M::OpenChannel), Ok(()));
        assert_eq!(
            c.on_client(M::SetupConnection),
            Err(Rejection::AlreadySetUp)
        );
        for m in [M::UpdateChannel, M::SubmitShares, M::CloseChannel] {
            let r = c.on_client(m).unwrap_err();
            assert_eq!(r, Rejection::NoOpenChannel, "{m:?}");
            assert_eq!(r.code(), "invalid-channel-id");
            assert!(!r.closes(), "a wrong order keeps the connection");
        }
    }

    #[test]
    fn shares_wait_for_the_first_job() {
        let c = channel_open();
        assert_eq!(c.state(), State::ChannelOpen);
        assert_eq!(c.on_client(M::SubmitShares), Err(Rejection::NoJobYet));
        assert_eq!(Rejection::NoJobYet.code(), "invalid-job-id");
        for m in [M::OpenChannel, M::UpdateChannel, M::CloseChannel] {
            assert_eq!(c.on_client(m), Ok(()), "{m:?}");
        }
        let m = mining();
        assert_eq!(m.state(), State::Mining);
        for msg in [
            M::OpenChannel,
            M::UpdateChannel,
            M::SubmitShares,
            M::CloseChannel,
        ] {
            assert_eq!(m.on_client(msg), Ok(()), "{msg:?}");
        }
        assert_eq!(
            m.on_client(M::SetupConnection),
            Err(Rejection::AlreadySetUp)
        );
    }

    #[test]
    fn server_messages_from_a_client_end_the_connection_in_every_state() {
        for c in [Connection::new(1), set_up(), channel_open(), mining()] {
            let r = c.on_client(M::Unexpected).unwrap_err();
            assert!(r.closes());
            assert_eq!(M::Unexpected.error_reply(), None);
        }
    }

    #[test]
    fn the_channel_limit_is_enforced() {
        let mut c = mining();
        c.channel_opened().unwrap();
        assert_eq!(c.channels(), 2);
        assert_eq!(c.on_client(M::OpenChannel), Err(Rejection::TooManyChannels));
        assert!(c.channel_opened().is_err());
        assert_eq!(
            M::OpenChannel.error_reply(),
            Some(ErrorReply::OpenMiningChannelError)
        );
    }

    #[test]
    fn closing_the_last_channel_goes_back_to_set_up() {
        let mut c = mining();
        c.channel_opened().unwrap();
        c.channel_closed().unwrap();
        assert_eq!(c.state(), State::Mining);
        c.channel_closed().unwrap();
        assert_eq!(c.state(), State::SetUp);
        assert_eq!(c.channels(), 0);
        assert!(c.channel_closed().is_err());
        // A new channel starts over without a job.
        c.channel_opened().unwrap();
        assert_eq!(c.state(), State::ChannelOpen);
    }

    #[test]
    fn server_steps_out_of_order_are_refused() {
        let mut c = Connection::new(2);
        assert!(c.channel_opened().is_err());
        assert!(c.job_sent().is_err());
        assert!(c.channel_closed().is_err());
        assert_eq!(c.state(), State::Connected);
        let mut s = set_up();
        assert_eq!(
            s.setup_accepted(),
            Err(IllegalStep {
                from: State::SetUp,
                step: "setup accepted"
            })
        );
        assert!(s.job_sent().is_err());
    }

    #[test]
    fn nothing_is_handled_or_answered_once_closing() {
        for mut c in [Connection::new(1), set_up(), channel_open(), mining()] {
            c.close();
            assert_eq!(c.state(), State::Closing);
            for m in ALL {
                let r = c.on_client(m).unwrap_err();
                assert_eq!(r, Rejection::Closing);
                assert!(!r.answered());
            }
            assert!(c.setup_accepted().is_err());
            assert!(c.channel_opened().is_err());
            assert!(c.job_sent().is_err());
            c.close();
            assert_eq!(c.state(), State::Closing);
        }
    }

    #[test]
    fn each_request_is_answered_with_its_own_error_message() {
        assert_eq!(
            M::SetupConnection.error_reply(),
            Some(ErrorReply::SetupConnectionError)
        );
        assert_eq!(
            M::SubmitShares.error_reply(),
            Some(ErrorReply::SubmitSharesError)
        );
        assert_eq!(
            M::UpdateChannel.error_reply(),
            Some(ErrorReply::UpdateChannelError)
        );
        assert_eq!(M::CloseChannel.error_reply(), None);
    }
}
