"""The bottom layer: errors, labels, feature keys and configuration types.

Nothing here imports anything else of petseg's, so every other layer may use it.
"""
