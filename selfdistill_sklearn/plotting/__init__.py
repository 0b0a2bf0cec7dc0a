"""Display objects in scikit-learn's style (``Display.from_estimator(...)``,
``.plot(ax=...)``) for the paper's figures. Needs matplotlib."""
