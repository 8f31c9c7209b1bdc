"""Studies the analysis tools run (``tools/analysis_tools/``): kept out of
the package's import so that ``import mmdet_parnet`` stays light."""
