//! Logging: human-readable or one JSON object per line, filtered by RUST_LOG.

use std::io::IsTerminal;

use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::{LogFormat, LogSettings};

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// The server's output is its log.
    Stdout,
    /// A command whose stdout is its result (a report, an id) logs beside it, so the result
    /// can be read by a script.
    Stderr,
}

pub fn init(settings: LogSettings, output: LogOutput) {
    let (writer, is_terminal) = match output {
        LogOutput::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
        LogOutput::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(settings.filter)
        .with_writer(writer);
    match settings.format {
        LogFormat::Pretty => builder.with_ansi(is_terminal).init(),
        // The current span's fields ride along, so every line of a request carries its
        // request_id.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    // A panic is logged through tracing, inside the span of the request that panicked, rather
    // than printed bare to stderr.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
}
