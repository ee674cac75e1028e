//! Encoders shared by sinks.

use crate::event::Event;

/// One event per line, as the JSON shape documented in `docs/events.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl JsonLines {
    /// Appends the event and a newline to `out`; on error `out` is left as it was.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let start = out.len();
        match serde_json::to_writer(&mut *out, event) {
            Ok(()) => {
                out.push(b'\n');
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}
