"""Market clearing, pricing, settlement, forecasting and the no-trading baseline.

Only ``optimizer.clearing`` imports CVXPY; the rest is plain numpy so that household nodes stay light.
"""
