"""The watcher: turns eval, budget, canary and gate signals into detections."""
