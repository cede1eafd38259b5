//! `connector.yaml`: the typed connector configuration with the setup guide's defaults.
