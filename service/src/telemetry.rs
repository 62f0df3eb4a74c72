//! Log setup (tracing-subscriber): text or JSON lines on standard error. Colour
//! codes only when standard error is a terminal: a log file, journald or a container
//! log collector gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber once; `RUST_LOG` overrides the configured level.
/// Calling it again (tests) is harmless.
pub fn init(log: &LogConfig) {
    let ansi = std::io::stderr().is_terminal();
    let _already_set = subscriber(log, std::io::stderr, ansi).try_init();
}

/// The subscriber [`init`] installs, writing to `writer`; `ansi` says whether the
/// writer is a terminal (colour codes) or not (plain text).
pub fn subscriber<W>(
    log: &LogConfig,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match log.format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().finish()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(ansi: bool) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let log = LogConfig {
            format: LogFormat::Text,
            level: "info".to_owned(),
        };
        let subscriber = subscriber(&log, move || writer.clone(), ansi);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(tenant = "acme", "something happened");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_text_when_not_a_terminal() {
        // A file, like a redirected stderr, is not a terminal.
        let file = tempfile::tempfile().unwrap();
        let plain = lines(file.is_terminal());
        assert!(plain.contains("something happened"), "{plain}");
        assert!(!plain.contains('\u{1b}'), "colour codes in {plain:?}");
        assert!(lines(true).contains('\u{1b}'), "a terminal gets colour");
    }
}
