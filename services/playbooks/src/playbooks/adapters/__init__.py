"""One module per outside system the actions act on."""
