//! What the order handler shares across requests and workers.

use crate::in_flight::InFlight;
use crate::publisher::Publisher;
use crate::settings::IngestSettings;

pub struct IngestState {
    pub publisher: Publisher,
    pub in_flight: InFlight,
    pub limits: IngestSettings,
}
