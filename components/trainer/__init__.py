"""Training: TFX's Trainer with the training runtime parameters folded into its config.
The model code it runs is models/module_file.py's run_fn."""
