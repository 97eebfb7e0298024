"""ValidationGate: fails the run on any of ExampleValidator's anomalies."""
