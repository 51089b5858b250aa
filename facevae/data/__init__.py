"""Data: raw datasets -> prepared cache -> LightningDataModule."""
