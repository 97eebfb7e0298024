"""TFX components of the petseg pipeline and the data readers behind the ExampleGen."""
