"""facevae's GPU-pool launcher for Hydra (`hydra/launcher=gpus`): joblib, one job per free device."""
