"""Pusher: the blessed model and its record as the registry's next version."""
