"""The petseg pipeline definition and its runners."""
