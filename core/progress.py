"""The progress lines of a run: what petseg's own steps say while they work (training's
epochs, say). petseg/console.py shows them on the terminal; everything else a run logs
goes to its log file only."""
import logging

LOGGER = logging.getLogger('petseg.progress')
