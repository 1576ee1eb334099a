//! vpcd adapter (being written).
