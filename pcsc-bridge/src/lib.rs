//! SKS client (being written).
